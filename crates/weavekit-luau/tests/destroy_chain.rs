//! Destroy (and the end of a run) drains chained dispatches.

use std::path::PathBuf;
use std::time::Duration;

use weavekit_luau::Runner;

#[test]
fn destroy_and_run_end_fire_chained_callbacks() {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/luau/destroy_chain.luau");
    let report = Runner::new()
        .capture_output(true)
        .ready_timeout(Duration::from_secs(20))
        .run(script, &[]);
    assert!(
        report.is_success(),
        "{}\n{}",
        report.errors().join("\n"),
        report.stdout()
    );
    let lines: Vec<&str> = report.stdout().lines().collect();
    assert!(lines.contains(&"PASS destroy_chain"), "{lines:?}");
    assert!(lines.contains(&"END CHAIN 5"), "{lines:?}");
}

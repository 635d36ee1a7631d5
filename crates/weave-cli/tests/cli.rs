//! `weave bench` end to end, on tiny sizes (`--smoke`): every output file is
//! written and well formed. No timing is asserted.

use std::path::PathBuf;
use std::process::Command;

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("weave-cli-test-{}-{name}", std::process::id()))
}

#[test]
fn smoke_run_writes_table_json_svg_and_trace() {
    let (json, svg, trace) = (temp("bench.json"), temp("bench.svg"), temp("trace.json"));
    let output = Command::new(env!("CARGO_BIN_EXE_weave"))
        .args(["bench", "--smoke", "--actors", "2", "--json"])
        .arg(&json)
        .arg("--svg")
        .arg(&svg)
        .arg("--trace")
        .arg(&trace)
        .output()
        .expect("weave runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        stdout.contains("sweep") && stdout.contains("targets"),
        "{stdout}"
    );
    assert!(stderr.contains("round 1/3"), "progress on stderr: {stderr}");

    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(report["mode"], "smoke");
    assert_eq!(report["machine"]["actors"], 2);
    assert_eq!(report["workloads"].as_array().unwrap().len(), 4);
    assert_eq!(
        report["frames"].as_array().unwrap().len(),
        3,
        "frame-pattern rows"
    );
    let async_pool = &report["async_pool"];
    assert_eq!(async_pool["items"], 64);
    // Smoke plan: 2 recorded rounds (after 1 warm-up) of 2 awaits per contender.
    assert_eq!(async_pool["samples_ns"][1][1].as_array().unwrap().len(), 4);
    assert!(stdout.contains("async await"), "{stdout}");
    assert_eq!(report["typed_key"]["dispatches"], 4, "2 rounds of 2 pairs");
    assert!(stdout.contains("typed/string"), "{stdout}");
    assert_eq!(
        report["allocations"]["counted"], true,
        "the binary counts allocations"
    );

    let chart = std::fs::read_to_string(&svg).unwrap();
    assert!(chart.contains("<svg") && chart.contains("sweep: weavekit"));
    assert!(chart.contains("frame busy_17ms: weavekit") && chart.contains("core-count limit"));
    assert!(chart.contains("async await: weavekit"));

    let events: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&trace).unwrap()).unwrap();
    let batches = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["name"] == "weave.batch")
        .count();
    assert!(batches > 0, "the trace shows weave.batch spans");

    for path in [json, svg, trace] {
        std::fs::remove_file(path).ok();
    }
}

#[test]
fn bench_help_lists_the_options() {
    let output = Command::new(env!("CARGO_BIN_EXE_weave"))
        .args(["bench", "--help"])
        .output()
        .expect("weave runs");
    let help = String::from_utf8_lossy(&output.stdout);
    for option in [
        "--full", "--actors", "--rounds", "--json", "--svg", "--trace",
    ] {
        assert!(help.contains(option), "{option} missing from:\n{help}");
    }
    assert!(!help.contains("--smoke"), "--smoke is hidden");
}

//! The Luau examples at the repository root run (small sizes) and check
//! themselves: the sensor sweep compares every actor result with a serial
//! sweep, the terrain generator checks every chunk was generated once.

use std::path::PathBuf;

use weavekit_luau::Runner;

fn example(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/luau")
        .join(path)
}

fn run(path: &str, args: &[&str]) -> String {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let report = Runner::new().capture_output(true).run(example(path), &args);
    assert!(
        report.is_success(),
        "{path} failed:\n{}",
        report.errors().join("\n")
    );
    report.stdout().to_owned()
}

#[test]
fn sensor_sweep_matches_the_serial_sweep() {
    let out = run("sensor_sweep/master.luau", &["256", "2"]);
    assert!(out.contains("256 sensors x 8 rays"), "{out}");
    assert!(out.contains("2 actors:"), "{out}");
}

#[test]
fn terrain_generates_every_chunk_once() {
    let out = run("terrain/master.luau", &["12", "2"]);
    assert!(out.contains("144 chunks (36864 columns)"), "{out}");
    // The map: 12 columns wide, one row per two chunk rows.
    let map_rows = out.lines().filter(|line| line.len() == 12).count();
    assert_eq!(map_rows, 6, "{out}");
}

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

#[test]
fn wordcount_on_actors_matches_the_serial_loop() {
    let dir = std::env::temp_dir().join(format!("weave-wordcount-test-{}", std::process::id()));
    let folder = dir.join("corpus");
    std::fs::create_dir_all(&dir).unwrap();
    let folder_arg = folder.to_str().unwrap();
    let json = dir.join("corpus.json");
    let serial = run("wordcount/master.luau", &["0", folder_arg, "12"]);
    assert!(serial.contains("12 files, "), "{serial}");
    let serial_json = std::fs::read_to_string(&json).unwrap();
    let parallel = run("wordcount/master.luau", &["2", folder_arg]);
    assert!(parallel.contains("2 actors: "), "{parallel}");
    let parallel_json = std::fs::read_to_string(&json).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(parallel_json, serial_json);
    assert!(serial_json.contains("\"files\": 12"), "{serial_json}");
}

//! `weave run` end to end: the words after the script reach it as `...`
//! untouched, options of `weave` before the script still work, and failures
//! give a non-zero exit.

use std::path::PathBuf;
use std::process::{Command, Output};

/// Writes a master script that prints its arguments, one per line.
fn echo_script(test: &str) -> PathBuf {
    let name = format!("weave-run-{test}-{}.luau", std::process::id());
    let path = std::env::temp_dir().join(name);
    std::fs::write(
        &path,
        "print(select('#', ...))\nfor _, word in { ... } do print(word) end\n",
    )
    .unwrap();
    path
}

fn weave(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_weave"))
        .args(args)
        .output()
        .expect("weave runs")
}

fn lines(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn words_after_the_script_reach_it_as_they_are() {
    let script = echo_script("words");
    let script = script.to_str().unwrap();
    for words in [
        vec!["a", "b c"],
        vec!["--help"],
        vec!["--ready-timeout", "3"],
        vec!["--", "x"],
        vec![],
    ] {
        let mut args = vec!["run", script];
        args.extend(&words);
        let output = weave(&args);
        assert!(output.status.success(), "{words:?}: {output:?}");
        let mut expected = vec![words.len().to_string()];
        expected.extend(words.iter().map(|w| (*w).to_owned()));
        assert_eq!(lines(&output), expected, "{words:?}");
    }
}

#[test]
fn options_before_the_script_are_weaves() {
    let script = echo_script("options");
    let output = weave(&["run", "--ready-timeout", "5", script.to_str().unwrap(), "w"]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(lines(&output), ["1", "w"]);
}

#[test]
fn a_failing_script_exits_non_zero_with_its_message() {
    let path = std::env::temp_dir().join(format!("weave-run-fail-{}.luau", std::process::id()));
    std::fs::write(&path, "error('broken on purpose')\n").unwrap();
    let output = weave(&["run", path.to_str().unwrap()]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("broken on purpose"));
    let missing = weave(&["run", "/nonexistent/master.luau"]);
    assert!(!missing.status.success());
}

#[test]
fn print_writes_luau_strings_byte_for_byte() {
    let path = std::env::temp_dir().join(format!("weave-run-bytes-{}.luau", std::process::id()));
    std::fs::write(&path, "print(\"\\xff\\x00ab\")\n").unwrap();
    let output = weave(&["run", path.to_str().unwrap()]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(output.stdout, b"\xff\x00ab\n");
}

/// The Luau host's test scripts (workers and libraries live beside them).
fn host_script(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../weavekit-luau/tests/luau")
        .join(name)
        .to_str()
        .unwrap()
        .to_owned()
}

/// Issue 8, item 1: `--job-timeout` stops a runaway handler; the run ends
/// with success when the script handles the job's error.
#[test]
fn job_timeout_stops_a_runaway_handler() {
    let script = host_script("job_timeout_default.luau");
    let output = weave(&["run", "--job-timeout", "0.2", &script]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(lines(&output), ["PASS job_timeout_default"]);
    for bad in ["0", "-1", "nan"] {
        let output = weave(&["run", "--job-timeout", bad, &script]);
        assert!(!output.status.success(), "{bad}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("--job-timeout must be"), "{bad}: {stderr}");
    }
}

/// Issue 8, item 2: with `--memory-limit`, running out of memory in the
/// master is an error `pcall` catches (exit 0), and uncaught it is an error
/// of the run (exit 1), never an abort.
#[test]
fn memory_limit_makes_running_out_of_memory_an_error() {
    let limit = (64u32 << 20).to_string();
    let caught = weave(&[
        "run",
        "--memory-limit",
        &limit,
        &host_script("memory_master.luau"),
    ]);
    assert!(caught.status.success(), "{caught:?}");
    assert_eq!(lines(&caught), ["PASS memory_master"]);

    let path = std::env::temp_dir().join(format!("weave-run-oom-{}.luau", std::process::id()));
    std::fs::write(
        &path,
        "local t = {}\nfor i = 1, 1e9 do t[i] = string.rep('x', 1000) .. i end\n",
    )
    .unwrap();
    let uncaught = weave(&["run", "--memory-limit", &limit, path.to_str().unwrap()]);
    assert_eq!(uncaught.status.code(), Some(1), "{uncaught:?}");
    let stderr = String::from_utf8_lossy(&uncaught.stderr);
    assert!(stderr.contains("not enough memory"), "{stderr}");

    let small = weave(&["run", "--memory-limit", "1000", path.to_str().unwrap()]);
    assert!(!small.status.success());
    let stderr = String::from_utf8_lossy(&small.stderr);
    assert!(
        stderr.contains("--memory-limit must be at least"),
        "{stderr}"
    );
}

/// `weave run tests/luau/exit.luau MODE ARG`.
fn exit_script(mode: &str, arg: &str) -> Output {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/luau/exit.luau");
    weave(&["run", script.to_str().unwrap(), mode, arg])
}

#[test]
fn process_exit_sets_the_exit_status() {
    for code in [0, 3, 255] {
        let output = exit_script("code", &code.to_string());
        assert_eq!(output.status.code(), Some(code), "{output:?}");
    }
    let output = exit_script("default", "");
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    // The script's code stands even after an uncaught error (still printed).
    let output = exit_script("after_error", "");
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("an uncaught error before exit"));
    // A code out of range is an error of the call: status 1, with a message.
    let output = exit_script("out_of_range", "");
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("from 0 to 255, got 256"));
    // A string is refused, and the message says it was one.
    let output = exit_script("string", "0");
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "exit.luau:16: process.exit: expected a whole number from 0 to 255, got string \"0\""
        ),
        "{stderr}"
    );
    // A Luau integer is a whole number.
    assert_eq!(exit_script("integer", "4").status.code(), Some(4));
    // From a task: the sleeping main thread never wakes.
    let output = exit_script("in_task", "");
    assert_eq!(output.status.code(), Some(6), "{output:?}");
    assert!(lines(&output).is_empty(), "{output:?}");
}

#[test]
fn process_exit_drains_dispatched_work_and_runs_no_more_luau() {
    let dir = std::env::temp_dir().join(format!("weave-exit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let output = exit_script("drain", dir.to_str().unwrap());
    let written = (1..=8)
        .filter(|id| dir.join(format!("{id}.txt")).is_file())
        .count();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(output.status.code(), Some(5), "{output:?}");
    assert_eq!(written, 8, "every detached item ran before the exit");
    assert!(
        lines(&output).is_empty(),
        "no Luau ran after exit: {output:?}"
    );
}

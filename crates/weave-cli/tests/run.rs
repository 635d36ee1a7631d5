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

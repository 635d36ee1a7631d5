//! The Luau host's contract at the level of the `weave` binary: exit
//! status, what goes to stdout and stderr, and the options of `weave run`
//! (`--ready-timeout`, `--job-timeout`, `--memory-limit`). The scripts are
//! the contract fixtures of `weavekit-luau` (`tests/contract/`), whose own
//! `tests/contract.rs` checks the rest of the host's promises in-process.

use std::path::PathBuf;
use std::process::{Command, Output};

fn fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../weavekit-luau/tests/contract")
        .join(name)
        .to_str()
        .unwrap()
        .to_owned()
}

fn weave(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_weave"))
        .args(args)
        .output()
        .expect("weave runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn a_script_that_passes_exits_zero() {
    let output = weave(&["run", &fixture("core.luau")]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(text(&output.stdout).lines().last(), Some("PASS core"));
}

#[test]
fn uncaught_errors_go_to_stderr_with_line_and_traceback_and_exit_non_zero() {
    let output = weave(&["run", &fixture("uncaught.luau")]);
    assert!(!output.status.success(), "{output:?}");
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    for needle in [
        "uncaught.luau:6: task failure",
        "uncaught.luau:10: callback failure",
        "uncaught.luau:17: script failure",
        "stack traceback",
    ] {
        assert!(stderr.contains(needle), "{needle:?} missing in:\n{stderr}");
    }
    assert!(text(&output.stdout).contains("delayed task still ran"));
}

#[test]
fn a_detached_handler_error_exits_non_zero() {
    let output = weave(&["run", &fixture("detached.luau")]);
    assert!(!output.status.success(), "{output:?}");
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("detachedFailAt") && stderr.contains("item 3"),
        "{stderr}"
    );
    assert!(text(&output.stdout).contains("next job served"));
}

#[test]
fn process_exit_sets_the_exit_status() {
    for code in ["0", "3", "7"] {
        let output = weave(&["run", &fixture("cli_exit.luau"), code]);
        assert_eq!(
            output.status.code(),
            Some(code.parse().unwrap()),
            "{output:?}"
        );
        assert_eq!(text(&output.stdout), "exiting\n");
    }
}

#[test]
fn job_timeout_and_memory_limit_options_apply_to_every_vm() {
    let output = weave(&[
        "run",
        "--job-timeout",
        "0.2",
        "--memory-limit",
        "33554432",
        &fixture("cli_limits.luau"),
    ]);
    assert!(output.status.success(), "{output:?}");
    let stdout = text(&output.stdout);
    let line = |prefix: &str| {
        stdout
            .lines()
            .find(|line| line.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} line in:\n{stdout}"))
            .to_owned()
    };
    let job = line("job:");
    assert!(
        job.contains("\"spin\"") && job.contains("item 1") && job.contains("timeout"),
        "{job}"
    );
    assert!(
        line("actor memory:").contains("not enough memory"),
        "{stdout}"
    );
    let master = line("master memory:");
    assert!(
        master.contains("false") && master.contains("not enough memory"),
        "{master}"
    );
}

#[test]
fn the_ready_timeout_option_applies_to_dispatchers_without_their_own() {
    let output = weave(&["run", "--ready-timeout", "0.2", &fixture("cli_ready.luau")]);
    assert!(!output.status.success(), "{output:?}");
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("cli_ready.luau:3") && stderr.contains("slow_worker.luau"),
        "{stderr}"
    );
    assert!(!text(&output.stdout).contains("not reached"));
}

//! The Luau host's public contract (`API.md`, "Luau host", its extensions
//! and "Next"), checked from outside: master scripts in `tests/contract/`
//! run through [`Runner`], the code path of `weave run` (the `weave` binary
//! maps a [`Report`] to its exit status; `weave-cli`'s `tests/contract.rs`
//! checks that mapping and the command-line options).
//!
//! Self-checking scripts print `PASS <name>` last; scripts about failures
//! are checked here, through the report's errors, stdout and exit code.
//! One run per scenario keeps the suite short.

use std::path::PathBuf;
use std::time::Duration;

use weavekit_luau::{Report, Runner};

fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("contract")
        .join(name)
}

fn runner() -> Runner {
    Runner::new()
        .capture_output(true)
        .ready_timeout(Duration::from_secs(20))
}

fn run(runner: &Runner, name: &str, args: &[&str]) -> Report {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    runner.run(script(name), &args)
}

/// Panics unless the run succeeded and printed `PASS <stem>`.
fn assert_passed(report: &Report, stem: &str) {
    assert!(
        report.is_success(),
        "{stem} failed:\n{}\n--- stdout:\n{}",
        report.errors().join("\n"),
        report.stdout()
    );
    assert!(
        report
            .stdout()
            .lines()
            .any(|line| line == format!("PASS {stem}")),
        "{stem} did not reach its end; stdout:\n{}",
        report.stdout()
    );
}

/// The one error that contains `needle`.
fn error_with<'r>(report: &'r Report, needle: &str) -> &'r str {
    let found: Vec<&String> = report
        .errors()
        .iter()
        .filter(|e| e.contains(needle))
        .collect();
    match found[..] {
        [one] => one,
        _ => panic!("expected one error with {needle:?}: {:#?}", report.errors()),
    }
}

#[test]
fn dispatcher_methods_ids_callbacks_errors_marshalling_actors_and_destroy() {
    let report = run(&runner(), "core.luau", &[]);
    assert_passed(&report, "core");
}

#[test]
fn task_library_on_master_and_actors_and_run_waits_for_every_task() {
    let report = run(&runner(), "tasks.luau", &[]);
    assert_passed(&report, "tasks");
    // print writes whole lines; the task delayed past the script's end ran
    // before `weave run` returned.
    let lines: Vec<&str> = report.stdout().lines().collect();
    assert_eq!(lines.last(), Some(&"late task done"), "{lines:?}");
}

#[test]
fn lune_standard_library_on_master_and_actors_and_process_exit_sets_the_status() {
    let dir = std::env::temp_dir().join(format!("weave-contract-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::env::set_var("WEAVE_CONTRACT", "yes");
    let report = run(&runner(), "stdlib.luau", &[dir.to_str().unwrap(), "7"]);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        report.stdout().lines().any(|line| line == "PASS stdlib"),
        "{:#?}\n--- stdout:\n{}",
        report.errors(),
        report.stdout()
    );
    assert!(
        report
            .stdout()
            .contains("actor actor|2|true|1970-01-01T00:00:00"),
        "{}",
        report.stdout()
    );
    assert_eq!(report.exit_code(), Some(7), "{:#?}", report.errors());
    assert!(!report.stderr().contains("process.exit returned"));
}

#[test]
fn require_by_string_aliases_self_init_and_built_ins_win() {
    let report = run(&runner(), "req/master.luau", &[]);
    assert_passed(&report, "req");
}

#[test]
fn uncaught_errors_print_message_line_and_traceback_and_fail_the_run() {
    let report = run(&runner(), "uncaught.luau", &[]);
    assert!(!report.is_success());
    assert_eq!(report.exit_code(), None, "no process.exit");
    assert_eq!(report.errors().len(), 3, "{:#?}", report.errors());
    let task = error_with(&report, "task failure");
    assert!(task.contains("uncaught.luau:6"), "{task}");
    let callback = error_with(&report, "callback failure");
    assert!(callback.contains("uncaught.luau:10"), "{callback}");
    let script = error_with(&report, "script failure");
    assert!(script.contains("uncaught.luau:17"), "{script}");
    // Optimisation level 1 keeps every frame: both local functions.
    assert!(script.contains("stack traceback"), "{script}");
    assert!(
        script.contains("'inner'") && script.contains("'outer'"),
        "{script}"
    );
    for error in report.errors() {
        assert!(report.stderr().contains(error.as_str()), "on stderr");
    }
    assert!(report.stdout().contains("delayed task still ran"));
}

#[test]
fn a_detached_handler_error_goes_to_stderr_with_job_and_item_and_fails_the_run() {
    let report = run(&runner(), "detached.luau", &[]);
    assert!(report.stdout().contains("next job served"), "{report:?}");
    assert!(!report.is_success());
    let error = error_with(&report, "detached refuses");
    assert!(error.contains("detachedFailAt"), "{error}");
    assert!(error.contains("item 3"), "{error}");
    assert!(report.stderr().contains(error));
}

#[test]
fn job_timeout_memory_limit_and_integers_crossing() {
    let runner = runner().memory_limit(64 << 20);
    let report = run(&runner, "limits.luau", &[]);
    assert_passed(&report, "limits");
}

#[test]
fn a_byte_order_mark_a_shebang_native_and_optimize_2_scripts_run() {
    let report = run(&runner(), "preamble.luau", &[]);
    assert_passed(&report, "preamble");
}

#[test]
fn a_worker_not_ready_within_ready_timeout_fails_dispatcher_new() {
    let report = run(&runner(), "ready.luau", &[]);
    assert_passed(&report, "ready");
}

#[test]
fn hostile_input_ends_in_clear_errors() {
    let report = run(&runner(), "probes.luau", &[]);
    assert_passed(&report, "probes");
}

#[test]
fn a_stack_overflow_is_reported_in_a_readable_length() {
    let report = run(&runner(), "overflow.luau", &[]);
    assert!(!report.is_success());
    let error = error_with(&report, "stack overflow");
    assert!(error.contains("overflow.luau:3"), "{}", &error[..200]);
    let lines = error.lines().count();
    assert!(lines < 40, "{lines} lines");
    assert!(error.contains("frames left out"), "{error}");
    // The script's entry point is among the frames kept.
    assert!(error.contains("overflow.luau:5"), "{error}");
}

//! Runs the Luau test scripts in `tests/luau/` through the host.
//!
//! Most scripts assert their own behaviour (`tests/luau/lib/check.luau`) and
//! print `PASS <name>` as their last line; the tests here check that the run
//! succeeded and reached that line. Scripts about failures (uncaught errors,
//! detached handler errors) are checked from Rust, through the [`Report`].

use std::path::PathBuf;
use std::time::Duration;

use weavekit_luau::{Report, Runner};

fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("luau")
        .join(name)
}

fn run_with(name: &str, args: &[&str]) -> Report {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    Runner::new()
        .capture_output(true)
        .ready_timeout(Duration::from_secs(20))
        .run(script(name), &args)
}

/// Runs a self-checking script and asserts it passed.
fn passes(name: &str) {
    let report = run_with(name, &[]);
    assert!(
        report.is_success(),
        "{name} failed:\n{}\n--- stdout:\n{}",
        report.errors().join("\n"),
        report.stdout()
    );
    let stem = name.trim_end_matches(".luau");
    assert!(
        report
            .stdout()
            .lines()
            .any(|line| line == format!("PASS {stem}")),
        "{name} did not reach its end; stdout:\n{}",
        report.stdout()
    );
}

#[test]
fn spec_cases_ids_ordering_batch_sizes_and_counts() {
    passes("spec_cases.luau");
}

#[test]
fn overlapping_jobs_two_names_chaining_and_per_actor_state() {
    passes("overlapping.luau");
}

#[test]
fn every_error_at_the_call() {
    passes("errors_at_call.luau");
}

#[test]
fn marshalling_of_every_value_kind() {
    passes("marshalling.luau");
}

#[test]
fn handler_errors_reach_the_callback_and_actors_live_on() {
    passes("handler_errors.luau");
}

#[test]
fn task_scheduler_and_deferred_dispatch() {
    passes("scheduler.luau");
}

#[test]
fn worker_start_failures_and_ready_timeout() {
    passes("ready.luau");
}

#[test]
fn require_by_string() {
    passes("require.luau");
}

#[test]
fn native_scripts_run() {
    passes("native.luau");
}

#[test]
fn script_arguments_are_passed_as_varargs() {
    let report = run_with("args.luau", &["first", "--second"]);
    assert!(report.is_success(), "{:?}", report.errors());
    assert!(report.stdout().contains("PASS args"));
}

#[test]
fn run_waits_for_every_task_and_job() {
    let report = run_with("lifetime.luau", &["x"]);
    assert!(report.is_success(), "{:?}", report.errors());
    let lines: Vec<&str> = report.stdout().lines().collect();
    assert_eq!(lines.first(), Some(&"script returned x"), "{lines:?}");
    for expected in [
        "job finished 2",
        "delayed task finished",
        "waiting task finished",
    ] {
        assert!(
            lines.contains(&expected),
            "missing {expected:?} in {lines:?}"
        );
    }
    // The delayed task was started by the job's callback, so it ends last.
    assert_eq!(lines.last(), Some(&"delayed task finished"), "{lines:?}");
}

#[test]
fn uncaught_error_objects_show_their_fields_and_no_host_frames() {
    let report = run_with("error_object.luau", &[]);
    assert!(!report.is_success());
    let errors = report.errors();
    assert_eq!(errors.len(), 2, "{errors:#?}");
    for (fields, line) in [("where = \"task\"", 6), ("where = \"script\"", 8)] {
        let error = errors
            .iter()
            .find(|e| e.contains(fields))
            .unwrap_or_else(|| panic!("no error shows {fields}: {errors:#?}"));
        assert!(error.starts_with("error object {"), "{error}");
        assert!(
            error.contains(&format!("error_object.luau:{line}:")),
            "{error}"
        );
        assert!(!error.contains("weave/prelude"), "{error}");
    }
}

#[test]
fn uncaught_errors_are_reported_with_tracebacks_and_fail_the_run() {
    let report = run_with("uncaught.luau", &[]);
    assert!(!report.is_success());
    let errors = report.errors();
    assert_eq!(errors.len(), 3, "{errors:#?}");
    let find = |needle: &str| {
        errors
            .iter()
            .find(|e| e.contains(needle))
            .unwrap_or_else(|| panic!("no error mentions {needle:?}: {errors:#?}"))
    };
    let spawned = find("error in a spawned task");
    assert!(spawned.contains("uncaught.luau:6"), "{spawned}");
    let script_error = find("error in the script");
    assert!(script_error.contains("stack traceback"), "{script_error}");
    assert!(
        script_error.contains("in function 'deeper'"),
        "{script_error}"
    );
    let callback = find("error in a callback");
    assert!(callback.contains("uncaught.luau:11"), "{callback}");
    // Every error went to stderr, and the run still finished its tasks.
    for error in errors {
        assert!(report.stderr().contains(error.as_str()));
    }
    assert!(report.stdout().contains("still running after errors"));
}

#[test]
fn detached_handler_errors_go_to_stderr_with_job_and_item() {
    let report = run_with("detached_error.luau", &[]);
    assert!(report.stdout().contains("next job served"), "{report:?}");
    assert_eq!(report.errors().len(), 1, "{:#?}", report.errors());
    let error = &report.errors()[0];
    assert!(
        error.contains("detached job \"detachedFailAt\"") && error.contains("failed on item 4"),
        "{error}"
    );
    assert!(error.contains("detached boom"), "{error}");
    assert!(report.stderr().contains(error.as_str()));
}

#[test]
fn a_missing_or_broken_master_script_is_an_error_not_a_panic() {
    let report = run_with("does_not_exist.luau", &[]);
    assert!(!report.is_success());
    assert!(
        report.errors()[0].contains("cannot read the script"),
        "{:?}",
        report.errors()
    );
    let report = run_with("workers/syntax.luau", &[]);
    assert!(!report.is_success());
    assert!(
        report.errors()[0].contains("syntax.luau:1"),
        "{:?}",
        report.errors()
    );
}

#[test]
fn a_worker_script_run_as_master_returns_early() {
    // `script:GetActor()` is nil on the master: the worker returns at once.
    let report = run_with("workers/basic.luau", &[]);
    assert!(report.is_success(), "{:?}", report.errors());
}

#[test]
fn print_and_warn_write_whole_lines_from_master_and_actors() {
    let report = run_with("output.luau", &[]);
    assert!(report.is_success(), "{:?}", report.errors());
    let out: Vec<&str> = report.stdout().lines().collect();
    assert_eq!(&out[..2], ["1 nil a true 2.5", ""], "{out:?}");
    for id in 1..=3 {
        assert!(
            out.iter().any(|line| line.starts_with("hello from actor ")
                && line.ends_with(&format!(" item {id}"))),
            "{out:?}"
        );
    }
    let err: Vec<&str> = report.stderr().lines().collect();
    assert_eq!(err[0], "careful 42");
    assert_eq!(err.len(), 4, "{err:?}");
    assert!(err.contains(&"warning from item 2"), "{err:?}");
}

#[test]
fn the_runners_ready_timeout_is_the_default() {
    let report = Runner::new()
        .capture_output(true)
        .ready_timeout(Duration::from_millis(200))
        .run(script("ready_default.luau"), &[]);
    assert!(report.is_success(), "{:?}", report.errors());
    assert!(report.stdout().contains("PASS ready_default"));
}

#[test]
fn many_tasks_dispatching_at_once() {
    passes("stress.luau");
}

#[test]
fn the_ready_timeout_applies_until_the_worker_script_ends() {
    passes("ready_timeouts.luau");
}

#[test]
fn disagreeing_workers_are_described_in_luau_terms() {
    passes("worker_disagreement.luau");
}

#[test]
fn a_detached_dispatch_of_a_tracked_handler_drops_its_results() {
    passes("detached_tracked.luau");
}

#[test]
fn errors_in_tasks_spawned_on_an_actor_are_uncaught_errors_of_the_item() {
    let report = run_with("spawn_errors.luau", &[]);
    assert!(
        report.stdout().contains("spawn errors done"),
        "{:#?}\n{}",
        report.errors(),
        report.stdout()
    );
    // Only the detached one is an uncaught error of the run; the tracked
    // one reached its callback.
    assert_eq!(report.errors().len(), 1, "{:#?}", report.errors());
    let error = &report.errors()[0];
    for needle in [
        "detached job \"detachedSpawnFailsAt\"",
        "failed on item 4: a task spawned by the handler raised an error",
        "spawns.luau:12: task boom 4",
        "stack traceback",
    ] {
        assert!(error.contains(needle), "{needle:?} missing in {error}");
    }
    assert!(report.stderr().contains(error.as_str()));
    assert!(!report.is_success());
}

/// Issue 8, item 1: a runaway handler is stopped by the job timeout; a
/// detached one is reported as an uncaught error of the run.
#[test]
fn a_runaway_handler_is_stopped_by_the_job_timeout() {
    let report = run_with("job_timeout.luau", &[]);
    assert!(
        report
            .stdout()
            .lines()
            .any(|line| line == "PASS job_timeout"),
        "errors: {:?}\nstdout:\n{}",
        report.errors(),
        report.stdout()
    );
    match report.errors() {
        [only] => {
            assert!(
                only.contains("detached job \"spinDetached\"") && only.contains("job timeout"),
                "{only}"
            );
        }
        other => panic!("expected one uncaught error, got {other:?}"),
    }
}

/// The runner's job timeout applies to dispatchers without the option.
#[test]
fn the_runners_job_timeout_is_the_default() {
    let report = Runner::new()
        .capture_output(true)
        .job_timeout(Some(Duration::from_millis(200)))
        .run(script("job_timeout_default.luau"), &[]);
    assert!(report.is_success(), "{:?}", report.errors());
    assert!(report.stdout().contains("PASS job_timeout_default"));
}

/// Issue 8, item 2: running out of memory is a catchable error, in the
/// master, in a handler, and for results too big for the master.
#[test]
fn running_out_of_memory_is_an_error_not_an_abort() {
    let report = Runner::new()
        .capture_output(true)
        .memory_limit(64 << 20)
        .run(script("memory.luau"), &[]);
    assert!(
        report.is_success(),
        "{}\n--- stdout:\n{}",
        report.errors().join("\n"),
        report.stdout()
    );
    assert!(report.stdout().contains("PASS memory"));
}

/// Issue 8, item 2, in the master: `pcall` catches running out of memory.
#[test]
fn the_master_catches_running_out_of_memory() {
    let report = Runner::new()
        .capture_output(true)
        .memory_limit(64 << 20)
        .run(script("memory_master.luau"), &[]);
    assert!(report.is_success(), "{}", report.errors().join("\n"));
    assert!(report.stdout().contains("PASS memory_master"));
}

/// Issue 8, item 3.
#[test]
fn counts_a_luau_table_cannot_hold_are_refused() {
    passes("counts.luau");
}

/// Issue 8, item 5.
#[test]
fn a_byte_order_mark_and_a_shebang_line_are_skipped() {
    passes("preamble.luau");
}

/// Issue 8, item 7.
#[test]
fn diagnostics_name_the_problem_and_the_scripts_line() {
    passes("diagnostics.luau");
}

/// Issue 8, item 6: what a callback suspended across `Destroy` sees.
#[test]
fn a_callback_suspended_across_destroy_gets_a_clear_error() {
    passes("destroy_suspended.luau");
}

/// Luau `integer` values cross as integers at every magnitude, numbers as
/// numbers: arguments and results, top level and nested, keys and values,
/// tracked, deferred and detached.
#[test]
fn luau_integers_cross_as_integers_and_numbers_as_numbers() {
    passes("integers.luau");
}

#[test]
fn every_standard_library_module_on_master_and_actors() {
    let dir = std::env::temp_dir().join(format!("weave-stdlib-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::env::set_var("WEAVE_STDLIB_TEST", "set");
    let report = run_with("stdlib.luau", &[dir.to_str().unwrap(), "Foo"]);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        report.is_success(),
        "{}\n--- stdout:\n{}",
        report.errors().join("\n"),
        report.stdout()
    );
    assert!(report.stdout().lines().any(|line| line == "PASS stdlib"));
}

/// `process.create` on the master and on actors; a child awaited on the
/// master does not block its scheduler.
#[test]
fn child_processes_on_master_and_actors() {
    passes("process_create.luau");
}

#[test]
fn require_aliases_from_a_config_luau_file() {
    passes("config_luau/require_config.luau");
}

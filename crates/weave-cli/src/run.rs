//! `weave run`: runs a Luau master script on the Luau host
//! (`weavekit-luau`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Arguments of `weave run`.
#[derive(Debug, clap::Args)]
pub(crate) struct RunArgs {
    /// Seconds each actor's worker script has to call `kernel:Ready()`.
    #[arg(long, value_name = "SECONDS", default_value_t = weavekit_luau::DEFAULT_READY_TIMEOUT.as_secs_f64())]
    ready_timeout: f64,
    /// The master script to run.
    script: PathBuf,
    /// Extra words passed to the script as `...`.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

/// Runs `weave run`: success when the script, its tasks and its jobs ended
/// without an uncaught error (each one is printed to stderr as it happens).
pub(crate) fn main(args: RunArgs) -> ExitCode {
    let Ok(ready_timeout) = Duration::try_from_secs_f64(args.ready_timeout) else {
        eprintln!(
            "weave run: --ready-timeout must be a number of seconds >= 0, got {}",
            args.ready_timeout
        );
        return ExitCode::FAILURE;
    };
    let report = weavekit_luau::Runner::new()
        .ready_timeout(ready_timeout)
        .run(&args.script, &args.args);
    if report.is_success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

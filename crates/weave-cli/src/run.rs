//! `weave run`: runs a Luau master script on the Luau host
//! (`weavekit-luau`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Arguments of `weave run`.
#[derive(Debug, clap::Args)]
pub(crate) struct RunArgs {
    /// Seconds each actor's worker script has to call `kernel:Ready()` and
    /// end (> 0; values above a year count as a year).
    #[arg(long, value_name = "SECONDS", default_value_t = weavekit_luau::DEFAULT_READY_TIMEOUT.as_secs_f64())]
    ready_timeout: f64,
    /// Seconds one handler item may run before it is stopped and fails its
    /// job (> 0; values above a year count as a year). Default: no limit.
    #[arg(long, value_name = "SECONDS")]
    job_timeout: Option<f64>,
    /// The most memory each Luau VM (the master's and every actor's) may
    /// hold, in bytes; past it an allocation is Luau's catchable "not enough
    /// memory" error. Default: a quarter of the machine's memory.
    #[arg(long, value_name = "BYTES")]
    memory_limit: Option<u64>,
    /// The master script to run, then the extra words passed to it as `...`
    /// (taken as they are, even when they look like options of `weave`).
    #[arg(
        value_name = "SCRIPT [ARGS]",
        required = true,
        num_args = 1..,
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    command: Vec<String>,
}

/// The longest `--ready-timeout`: longer ones (up to `inf`) count as a year,
/// which is as good as none.
const MAX_READY_TIMEOUT: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// `--ready-timeout SECONDS`: a number > 0 (0 would fail every worker at
/// once, so it is refused); anything over a year counts as a year.
fn parse_ready_timeout(seconds: f64) -> Result<Duration, String> {
    if seconds.is_nan() || seconds <= 0.0 {
        return Err(format!(
            "--ready-timeout must be a number of seconds > 0, got {seconds}"
        ));
    }
    Ok(Duration::try_from_secs_f64(seconds)
        .unwrap_or(MAX_READY_TIMEOUT)
        .min(MAX_READY_TIMEOUT))
}

/// `--job-timeout SECONDS`: a number > 0; anything over a year counts as a
/// year.
fn parse_job_timeout(seconds: f64) -> Result<Duration, String> {
    parse_ready_timeout(seconds)
        .map_err(|_| format!("--job-timeout must be a number of seconds > 0, got {seconds}"))
}

/// `--memory-limit BYTES`: at least 1 MiB (a VM needs that much to start).
fn parse_memory_limit(bytes: u64) -> Result<usize, String> {
    const MIN: u64 = 1 << 20;
    if bytes < MIN {
        return Err(format!(
            "--memory-limit must be at least {MIN} bytes (1 MiB), got {bytes}"
        ));
    }
    // Beyond what this machine can address: as good as no limit.
    Ok(usize::try_from(bytes).unwrap_or(usize::MAX))
}

/// Runs `weave run`: the code the script gave `process.exit`, if it called
/// it; else success when the script, its tasks and its jobs ended without an
/// uncaught error (each one is printed to stderr as it happens).
pub(crate) fn main(args: RunArgs) -> ExitCode {
    let ready_timeout = match parse_ready_timeout(args.ready_timeout) {
        Ok(timeout) => timeout,
        Err(message) => {
            eprintln!("weave run: {message}");
            return ExitCode::FAILURE;
        }
    };
    let job_timeout = match args.job_timeout.map(parse_job_timeout).transpose() {
        Ok(timeout) => timeout,
        Err(message) => {
            eprintln!("weave run: {message}");
            return ExitCode::FAILURE;
        }
    };
    let memory_limit = match args.memory_limit.map(parse_memory_limit).transpose() {
        Ok(limit) => limit.unwrap_or_else(weavekit_luau::default_memory_limit),
        Err(message) => {
            eprintln!("weave run: {message}");
            return ExitCode::FAILURE;
        }
    };
    let Some((script, words)) = args.command.split_first() else {
        eprintln!("weave run: no script given");
        return ExitCode::FAILURE;
    };
    let report = weavekit_luau::Runner::new()
        .ready_timeout(ready_timeout)
        .job_timeout(job_timeout)
        .memory_limit(memory_limit)
        .run(PathBuf::from(script), words);
    match report.exit_code() {
        // `process.exit(code)`: the script's own status.
        Some(code) => ExitCode::from(code),
        None if report.is_success() => ExitCode::SUCCESS,
        None => ExitCode::FAILURE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_timeout_must_be_positive_and_is_clamped_to_a_year() {
        assert_eq!(parse_ready_timeout(1.5), Ok(Duration::from_millis(1500)));
        for bad in [0.0, -0.0, -1.0, f64::NAN, f64::NEG_INFINITY] {
            let message = parse_ready_timeout(bad).unwrap_err();
            assert!(
                message.contains("must be a number of seconds > 0"),
                "{message}"
            );
        }
        for huge in [1e30, 1e300, f64::INFINITY, 365.0 * 24.0 * 3600.0 + 1.0] {
            assert_eq!(parse_ready_timeout(huge), Ok(MAX_READY_TIMEOUT));
        }
    }

    #[test]
    fn job_timeout_and_memory_limit_are_checked() {
        assert_eq!(parse_job_timeout(0.2), Ok(Duration::from_millis(200)));
        let message = parse_job_timeout(0.0).unwrap_err();
        assert!(message.starts_with("--job-timeout must be"), "{message}");
        assert_eq!(parse_memory_limit(1 << 20), Ok(1 << 20));
        let message = parse_memory_limit(1000).unwrap_err();
        assert!(message.contains("at least 1048576 bytes"), "{message}");
    }
}

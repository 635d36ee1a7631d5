//! `weave run`: runs a Luau master script on the Luau host.

use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `weave run`.
#[derive(Debug, clap::Args)]
pub(crate) struct RunArgs {
    /// The master script to run.
    script: PathBuf,
    /// Extra words passed to the script as `...`.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

/// Runs `weave run`.
pub(crate) fn main(args: RunArgs) -> ExitCode {
    eprintln!("weave run: not implemented yet ({})", args.script.display());
    let _ = args.args;
    ExitCode::FAILURE
}

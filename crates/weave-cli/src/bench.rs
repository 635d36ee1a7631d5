//! `weave bench`: weavekit against serial code and rayon.

use std::process::ExitCode;

/// Arguments of `weave bench`.
#[derive(Debug, clap::Args)]
pub(crate) struct BenchArgs {
    /// Run the long version.
    #[arg(long)]
    full: bool,
}

/// Runs `weave bench`.
pub(crate) fn main(args: BenchArgs) -> ExitCode {
    eprintln!("weave bench: not implemented yet (full: {})", args.full);
    ExitCode::FAILURE
}

//! The `weave` command: `weave run` runs Weave Luau scripts, `weave bench`
//! compares weavekit with serial code and rayon.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use weave_cli::alloc_count::CountingAllocator;
use weave_cli::bench;

mod run;

/// Counts allocations for `weave bench` (idle, one relaxed load, otherwise).
#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Weave for Rust: run Weave Luau scripts with real parallel actors, or
/// benchmark the dispatcher.
#[derive(Debug, Parser)]
#[command(name = "weave", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a Luau master script (`weave run master.luau [args...]`).
    Run(run::RunArgs),
    /// Compare weavekit with serial code and rayon on the same workloads.
    Bench(bench::BenchArgs),
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Run(args) => run::main(args),
        Command::Bench(args) => bench::main(args),
    }
}

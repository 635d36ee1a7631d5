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
    /// Write type definitions of `@weave`, the globals and `@lune/*` for
    /// luau-lsp into a folder (default `.weave-types`).
    Typedefs {
        /// The folder to write into (created if needed).
        #[arg(default_value = ".weave-types")]
        dir: std::path::PathBuf,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Run(args) => run::main(args),
        Command::Bench(args) => bench::main(args),
        Command::Typedefs { dir } => typedefs(&dir),
    }
}

/// `weave typedefs DIR`: writes the files and says how to use them.
fn typedefs(dir: &std::path::Path) -> ExitCode {
    match weavekit_luau::write_typedefs(dir) {
        Ok(files) => {
            for file in files {
                println!("wrote {}", file.display());
            }
            let dir = dir.display();
            println!(
                "add to .luaurc: \"aliases\": {{ \"weave\": \"{dir}/weave\", \"lune\": \"{dir}/lune/\" }}"
            );
            println!("and give luau-lsp the definitions file {dir}/globals.d.luau");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!(
                "weave typedefs: cannot write into {}: {error}",
                dir.display()
            );
            ExitCode::FAILURE
        }
    }
}

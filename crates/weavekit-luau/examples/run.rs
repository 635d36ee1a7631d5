//! Runs a Luau master script, like `weave run` but without the CLI:
//! `cargo run -p weavekit-luau --example run -- master.luau [args...]`.

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(script) = args.next() else {
        eprintln!("usage: run <master.luau> [args...]");
        return ExitCode::FAILURE;
    };
    let rest: Vec<String> = args.collect();
    if weavekit_luau::run(script, &rest).is_success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

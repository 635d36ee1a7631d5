//! `weave bench`: weavekit against serial code and rayon on the same
//! workloads, with the targets of issue 3.
//!
//! The pieces, in the order data flows through them: [`contenders`] times
//! one job on one contender and checks its results; [`runner`] interleaves
//! contenders over rounds; [`report`] turns samples into medians, ratios,
//! target checks, a table and JSON; [`frames`], [`async_pool`] and
//! [`typed_key`] run the frame pattern, the async-pool row and typed key
//! against string dispatch; [`chart`] draws the ratios; [`trace`]
//! writes a timeline of a short run; [`profile`] loops one workload for
//! `perf` or callgrind.

pub mod async_pool;
pub mod chart;
pub mod contenders;
pub mod error;
pub mod frames;
pub mod profile;
pub mod report;
pub mod runner;
pub mod trace;
pub mod typed_key;
pub mod wake_floor;

use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::builder::RangedU64ValueParser;

pub use error::BenchError;
use report::{Machine, Report};
use runner::{Plan, Progress, Stages};

/// Arguments of `weave bench`.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct BenchArgs {
    /// Run the long version: 31 rounds and more repetitions, for numbers
    /// to quote (about half a minute on two idle cores).
    #[arg(long)]
    pub full: bool,
    /// Actors of the dispatcher and threads of the rayon pool
    /// [default: available parallelism].
    #[arg(long, value_name = "N", value_parser = RangedU64ValueParser::<usize>::new().range(1..=1024))]
    pub actors: Option<usize>,
    /// Recorded rounds [default: 9, or 31 with --full].
    #[arg(long, value_name = "N", value_parser = RangedU64ValueParser::<usize>::new().range(1..))]
    pub rounds: Option<usize>,
    /// Measure only these, comma-separated: sweep, fine, uneven,
    /// round_trip, master_blocked, allocations, frames, async_pool,
    /// typed_key [default: all].
    #[arg(long, value_name = "LIST", value_parser = Stages::parse)]
    pub only: Option<Stages>,
    /// Write the numbers as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Draw a bar chart of the ratios as SVG to FILE.
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
    /// Write a Chrome/Perfetto trace of a short weavekit run to FILE.
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
    /// Tiny sizes and two rounds: checks that everything runs (for tests).
    #[arg(long, hide = true, conflicts_with = "full")]
    pub smoke: bool,
    /// Run only WORKLOAD/CONTENDER in a loop, for perf or callgrind.
    #[arg(long, hide = true, value_name = "WORKLOAD/CONTENDER", value_parser = profile::Target::parse)]
    pub profile: Option<profile::Target>,
    /// Iterations of --profile.
    #[arg(long, hide = true, default_value_t = 1000)]
    pub iters: usize,
}

impl BenchArgs {
    /// Actors to use: `--actors`, else the available parallelism.
    pub fn actor_count(&self) -> usize {
        self.actors
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
    }

    /// What to measure: the short, full or smoke plan, with `--rounds`
    /// and `--only` applied.
    pub fn plan(&self) -> Plan {
        let mut plan = match (self.full, self.smoke) {
            (true, _) => Plan::full(),
            (_, true) => Plan::smoke(),
            _ => Plan::short(),
        };
        if let Some(rounds) = self.rounds {
            plan.rounds = rounds;
        }
        if let Some(stages) = self.only {
            plan.stages = stages;
        }
        plan
    }

    /// `"full"`, `"smoke"` or `"short"`.
    pub fn mode(&self) -> &'static str {
        match (self.full, self.smoke) {
            (true, _) => "full",
            (_, true) => "smoke",
            _ => "short",
        }
    }
}

/// Runs `weave bench`: prints the table on stdout, progress on stderr.
pub fn main(args: BenchArgs) -> ExitCode {
    let result = match args.profile {
        Some(target) => profile::profile(target, args.iters, args.actor_count()),
        None => bench(&args).map(drop),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("weave bench: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Measures, reports, and writes the requested files.
pub fn bench(args: &BenchArgs) -> Result<Report, BenchError> {
    let (actors, plan) = (args.actor_count(), args.plan());
    let machine = Machine::this(actors);
    eprintln!(
        "weave bench: {actors} actors, {} rounds ({} run)",
        plan.rounds,
        args.mode()
    );
    let mut contenders = contenders::Contenders::new(actors, plan.sizes)?;
    let mut measurements = runner::run(&mut contenders, &plan, &mut show_progress)?;
    drop(contenders);
    (measurements.frames, measurements.idle_cpu_ns) =
        runner::run_frames(actors, &plan, &mut show_progress)?;
    measurements.async_pool = runner::run_async_pool(actors, &plan, &mut show_progress)?;
    measurements.typed_key = runner::run_typed_key(actors, &plan, &mut show_progress)?;
    if std::io::stderr().is_terminal() {
        eprintln!();
    }
    let report = Report::new(machine, args.mode(), plan, &measurements);
    print!("{}", report.table());
    write_outputs(args, &report)?;
    Ok(report)
}

fn write_outputs(args: &BenchArgs, report: &Report) -> Result<(), BenchError> {
    if let Some(path) = &args.json {
        report.write_json(path)?;
        eprintln!("wrote {}", path.display());
    }
    if let Some(path) = &args.svg {
        chart::write_svg(report, path)?;
        eprintln!("wrote {}", path.display());
    }
    if let Some(path) = &args.trace {
        trace::write_trace(path, report.machine.actors)?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

/// Progress on stderr: one line rewritten in place on a terminal, else one
/// line per round.
fn show_progress(p: Progress) {
    let mut err = std::io::stderr().lock();
    if err.is_terminal() {
        let _ = write!(err, "\r\x1b[2Kround {}/{}: {}", p.round, p.rounds, p.stage);
        let _ = err.flush();
    } else if p.first_in_round {
        let _ = writeln!(err, "round {}/{}", p.round, p.rounds);
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        bench: BenchArgs,
    }

    fn parse(args: &[&str]) -> Result<BenchArgs, clap::Error> {
        let argv = std::iter::once("weave-bench").chain(args.iter().copied());
        Cli::try_parse_from(argv).map(|cli| cli.bench)
    }

    #[test]
    fn defaults_are_a_short_run() {
        let args = parse(&[]).unwrap();
        assert!(!args.full);
        assert_eq!(args.plan(), Plan::short());
        assert_eq!(args.mode(), "short");
        assert!(args.actor_count() >= 1);
        assert_eq!((args.json, args.svg, args.trace), (None, None, None));
    }

    #[test]
    fn every_option_parses() {
        let args = parse(&[
            "--full", "--actors", "3", "--rounds", "4", "--json", "a.json", "--svg", "b.svg",
            "--trace", "c.json", "--only", "fine",
        ])
        .unwrap();
        assert!(args.full);
        assert_eq!(args.actor_count(), 3);
        assert_eq!(
            args.plan(),
            Plan {
                rounds: 4,
                stages: Stages::parse("fine").unwrap(),
                ..Plan::full()
            }
        );
        assert_eq!(args.json, Some(PathBuf::from("a.json")));
        assert_eq!(args.svg, Some(PathBuf::from("b.svg")));
        assert_eq!(args.trace, Some(PathBuf::from("c.json")));
    }

    #[test]
    fn zero_or_garbage_counts_are_refused() {
        assert!(parse(&["--actors", "0"]).is_err());
        assert!(parse(&["--rounds", "0"]).is_err());
        assert!(parse(&["--actors", "two"]).is_err());
        assert!(parse(&["--json"]).is_err());
        assert!(parse(&["--full", "--smoke"]).is_err());
        assert!(parse(&["--only", "sweep,bogus"]).is_err());
    }

    #[test]
    fn smoke_runs_tiny_sizes() {
        let args = parse(&["--smoke", "--rounds", "3"]).unwrap();
        assert_eq!(
            args.plan(),
            Plan {
                rounds: 3,
                ..Plan::smoke()
            }
        );
        assert_eq!(args.mode(), "smoke");
    }
}

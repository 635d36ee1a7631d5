//! The library behind the `weave` binary's `bench` subcommand, shared with
//! its criterion benches and examples.
//!
//! - [`workloads`]: the benchmark items (sensor sweep, fine, uneven) and the
//!   weavekit worker entry that registers them.
//! - [`bench`](mod@bench): `weave bench`, which times them on serial code, rayon and
//!   weavekit and checks the targets of issue 3.
//! - [`stats`]: medians and per-round ratios.
//! - [`alloc_count`]: the counting allocator behind "allocations per
//!   dispatch".
//!
//! # Reproducing the numbers
//!
//! ```text
//! cargo run --release --bin weave -- bench                  # short run, well under a minute
//! cargo run --release --bin weave -- bench --full --json bench.json --svg bench.svg
//! cargo run --release --bin weave -- bench --only fine,round_trip --rounds 31
//! cargo run --release --bin weave -- bench --trace trace.json   # open in ui.perfetto.dev
//! cargo bench -p weave-cli                                  # criterion, for change tracking
//! cargo run --release --example sensor_sweep                # the original Weave scenario
//! cargo run --release --example trace_timeline -- trace.json
//! ```
//!
//! On a shared machine, quote the ratios (medians of per-round ratios of
//! interleaved contenders) rather than the absolute times, and check the
//! `serial/rayon` column: well below the core count, the machine was busy.

#![deny(
    missing_docs,
    unsafe_op_in_unsafe_fn,
    clippy::undocumented_unsafe_blocks
)]

pub mod alloc_count;
pub mod bench;
pub mod stats;
pub mod workloads;

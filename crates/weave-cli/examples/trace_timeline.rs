//! Writes a Chrome/Perfetto trace of a few weavekit jobs, so you can see
//! every actor's batches on a timeline.
//!
//! ```text
//! cargo run --release --example trace_timeline -- weave-trace.json
//! ```
//!
//! Then open the file in <https://ui.perfetto.dev> (or `chrome://tracing`).
//! Each actor thread is a row of `weave.batch` spans: the item ranges that
//! actor claimed, with the job name and range as arguments. (The enclosing
//! `weave.job` span, alive from dispatch to the job's end, is never entered
//! on a thread, so this threaded-style trace shows it only as the batches'
//! parent.) The uneven job
//! is run twice: with weavekit's default batching both actors stay busy to
//! the end; with the original Weave's static split (one range per actor)
//! the first actor idles while the second one finishes the expensive half.
//!
//! The spans come from weavekit's `tracing` feature (on in this package);
//! without a subscriber, or without the feature, they cost nothing.

use std::cell::Cell;
use std::rc::Rc;

use tracing_chrome::ChromeLayerBuilder;
use tracing_subscriber::prelude::*;
use weave_cli::workloads::kernels::{fine, uneven};
use weavekit::{Dispatcher, Kernel};

const UNEVEN_ITEMS: usize = 4_000;

fn worker(kernel: &mut Kernel) {
    kernel.on("uneven", |id: usize, _: &()| uneven(id));
    kernel.on("fine", |id: usize, _: &()| fine(id));
}

/// Dispatches `job` and counts its callback in `done`.
fn run(
    dispatcher: &mut Dispatcher,
    job: &str,
    items: usize,
    batch: Option<usize>,
    done: &Rc<Cell<usize>>,
) -> Result<weavekit::JobId, weavekit::Error> {
    let done = Rc::clone(done);
    let callback = move |buf: Result<Vec<u64>, weavekit::Error>| {
        buf.expect("the job succeeds");
        done.set(done.get() + 1);
    };
    dispatcher.dispatch(job, items, callback, batch, ())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "weave-trace.json".into());
    let file = std::io::BufWriter::new(std::fs::File::create(&path)?);
    let (layer, guard) = ChromeLayerBuilder::new()
        .writer(file)
        .include_args(true)
        .build();
    // A global subscriber, so that spans on the actor threads are recorded.
    tracing_subscriber::registry().with(layer).init();

    let actors = std::thread::available_parallelism()?.get();
    let mut dispatcher = Dispatcher::new(actors, worker)?;
    let done = Rc::new(Cell::new(0));
    run(&mut dispatcher, "uneven", UNEVEN_ITEMS, None, &done)?;
    dispatcher.wait();
    let static_split = Some(UNEVEN_ITEMS.div_ceil(actors));
    run(&mut dispatcher, "uneven", UNEVEN_ITEMS, static_split, &done)?;
    dispatcher.wait();
    for _ in 0..5 {
        run(&mut dispatcher, "fine", 64, None, &done)?;
        dispatcher.wait();
    }
    dispatcher.destroy();
    drop(guard); // flushes the trace
    println!(
        "wrote {path} ({} jobs on {actors} actors): open it in https://ui.perfetto.dev",
        done.get()
    );
    Ok(())
}

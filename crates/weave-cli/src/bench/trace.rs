//! `--trace FILE`: a Chrome/Perfetto trace of a short weavekit run.
//!
//! weavekit's `tracing` feature emits a `weave.job` span per job and a
//! `weave.batch` span per batch on the actor that ran it; tracing-chrome
//! turns them into one timeline row per thread, so every actor's batches
//! (and the idle gaps between them) are visible in `ui.perfetto.dev` or
//! `chrome://tracing`. The traced run happens after the timed rounds, so the
//! subscriber never slows a measurement down.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use tracing_chrome::ChromeLayerBuilder;
use tracing_subscriber::prelude::*;
use weavekit::Dispatcher;

use super::error::BenchError;
use crate::workloads::sweep::SweepParams;
use crate::workloads::worker::{jobs, worker};
use crate::workloads::{FINE_ITEMS, ROUND_TRIP_ITEMS, SWEEP_ITEMS, UNEVEN_ITEMS};

/// Installs a tracing-chrome subscriber for the whole process, runs
/// [`traced_jobs`] on a fresh dispatcher of `actors` actors and writes the
/// trace to `path`. Can be called once per process (the subscriber is
/// global, so spans on actor threads are recorded too).
pub fn write_trace(path: &Path, actors: usize) -> Result<(), BenchError> {
    let file = File::create(path).map_err(|e| BenchError::output(path, e))?;
    let (layer, guard) = ChromeLayerBuilder::new()
        .writer(BufWriter::new(file))
        .include_args(true)
        .build();
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer))
        .map_err(|e| BenchError::Trace(e.to_string()))?;
    let result = Dispatcher::new(actors, worker)
        .map_err(BenchError::from)
        .and_then(|mut dispatcher| traced_jobs(&mut dispatcher));
    drop(guard);
    result
}

/// A few jobs worth looking at on a timeline: the sweep, the uneven job
/// with the default batching and with the static split, a fine job and a
/// burst of round trips.
pub fn traced_jobs(dispatcher: &mut Dispatcher) -> Result<(), BenchError> {
    let static_batch = UNEVEN_ITEMS.div_ceil(dispatcher.actor_count());
    let errors = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let keep = |errors: &std::rc::Rc<std::cell::RefCell<Vec<weavekit::Error>>>| {
        let errors = errors.clone();
        move |result: Result<Vec<u64>, weavekit::Error>| {
            if let Err(e) = result {
                errors.borrow_mut().push(e);
            }
        }
    };
    let sweep_errors = errors.clone();
    dispatcher.dispatch(
        jobs::SWEEP,
        SWEEP_ITEMS,
        move |result: Result<Vec<u32>, weavekit::Error>| {
            if let Err(e) = result {
                sweep_errors.borrow_mut().push(e);
            }
        },
        None,
        SweepParams::default(),
    )?;
    dispatcher.wait();
    dispatcher.dispatch(jobs::UNEVEN, UNEVEN_ITEMS, keep(&errors), None, ())?;
    dispatcher.wait();
    dispatcher.dispatch(
        jobs::UNEVEN,
        UNEVEN_ITEMS,
        keep(&errors),
        Some(static_batch),
        (),
    )?;
    dispatcher.wait();
    dispatcher.dispatch(jobs::FINE, FINE_ITEMS, keep(&errors), None, ())?;
    dispatcher.wait();
    for _ in 0..20 {
        dispatcher.dispatch(jobs::FINE, ROUND_TRIP_ITEMS, keep(&errors), None, ())?;
        dispatcher.wait();
    }
    let first_error = errors.borrow_mut().drain(..).next();
    first_error.map_or(Ok(()), |e| Err(e.into()))
}

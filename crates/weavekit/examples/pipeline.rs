//! A job pipeline with no master round trips: typed keys, `after`, and a
//! `then` closure that turns one job's results into the next job's
//! arguments on the actor that finished it.
//!
//! Each frame: `heights` samples a terrain (one item per column), the
//! `then` closure on the finishing actor finds the highest column and
//! dispatches `erode` around it through a `Remote`; `shade` waits for the
//! samples with `after` and reuses last frame's buffer.
//!
//! Run with `cargo run -p weavekit --example pipeline`.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use weavekit::{Dispatcher, Error, Job, Kernel};

/// Samples column `id` of the terrain at time `t`.
const HEIGHTS: Job<f32, f32> = Job::new("heights");
/// Lowers the columns around a peak (detached: side effects only).
const ERODE: Job<Erosion> = Job::new("erode");
/// A colour per column, computed once the heights are known.
const SHADE: Job<Arc<Vec<AtomicU32>>, u8> = Job::new("shade");

const COLUMNS: usize = 4_096;

/// Where the follow-up job erodes, decided on an actor.
struct Erosion {
    peak: usize,
    wear: Arc<Vec<AtomicU32>>,
}

fn worker(kernel: &mut Kernel) {
    kernel.on(HEIGHTS, |id, t| {
        let x = id as f32 / COLUMNS as f32;
        (x * 40.0 + t).sin() * 0.5 + (x * 7.0 - t).cos() * 0.5
    });
    kernel.on_detached(ERODE, |id, erosion| {
        // Items 0..64 touch the 64 columns centred on the peak.
        let column = (erosion.peak + id).saturating_sub(32).min(COLUMNS - 1);
        erosion.wear[column].fetch_add(1, Ordering::Relaxed);
    });
    kernel.on(SHADE, |id, wear| {
        let worn = wear[id].load(Ordering::Relaxed);
        255_u8.saturating_sub(worn.min(255) as u8)
    });
}

fn main() -> Result<(), Error> {
    let mut dispatcher = Dispatcher::new(4, worker)?;
    let remote = dispatcher.remote();
    let wear: Arc<Vec<AtomicU32>> = Arc::new((0..COLUMNS).map(|_| AtomicU32::new(0)).collect());
    let mut shades: Vec<u8> = Vec::with_capacity(COLUMNS);
    for frame in 0..10 {
        let t = frame as f32 * 0.1;
        let follow_up = remote.clone();
        let worn = Arc::clone(&wear);
        // Results go to the closure, on the actor that finishes the job.
        let heights = dispatcher.job(HEIGHTS, COLUMNS).then(t, move |heights| {
            let heights = heights.expect("sampling never panics");
            let peak = (0..COLUMNS)
                .max_by(|&a, &b| heights[a].total_cmp(&heights[b]))
                .unwrap_or(0);
            follow_up
                .job(ERODE, 64)
                .detached(Erosion { peak, wear: worn })
                .expect("the dispatcher outlives the frame");
        })?;
        // Starts on the actors as soon as `heights` is done; the results
        // land in last frame's buffer.
        let (tx, rx) = std::sync::mpsc::channel();
        dispatcher
            .job(SHADE, COLUMNS)
            .after(&[heights])
            .reuse(std::mem::take(&mut shades))
            .tracked(Arc::clone(&wear), move |buf| {
                tx.send(buf).expect("the frame loop waits for it");
            })?;
        dispatcher.wait();
        shades = rx.recv().expect("the callback fired")?;
        let worn = shades.iter().filter(|&&s| s < 255).count();
        println!("frame {frame}: {worn} columns worn");
    }
    Ok(())
}

//! The original Weave benchmark, in Rust: 10,000 sensors, each casting 8
//! rays against a generated scene of 100 spheres and counting its hits.
//!
//! Prints the speed-up over serial code a game would see, frame by frame:
//! back to back (the master dispatches with no work of its own), then in
//! the frame pattern (the master busy 4 or 17 ms, then the sweep; and the
//! sweep overlapped with 8 ms of master work), with how long `dispatch`
//! held the master. Medians over every frame, no pause between frames.
//!
//! ```text
//! cargo run --release --example sensor_sweep            # one actor per CPU
//! cargo run --release --example sensor_sweep -- 4       # four actors
//! ```

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use weave_cli::bench::frames::master_work;
use weave_cli::workloads::sweep::{Scene, SweepParams};
use weavekit::{Dispatcher, Kernel};

const ITEMS: usize = 10_000;
const RUNS: usize = 15;

/// The worker entry, run once on every actor: like a Weave worker script,
/// it builds the actor's own state (its copy of the scene) and registers
/// the handler.
fn worker(kernel: &mut Kernel) {
    let scene = Scene::benchmark();
    kernel.on("sweep", move |id: usize, params: &SweepParams| {
        scene.hits(id, params)
    });
}

/// One job's timings on the master.
struct JobTimes {
    /// How long `dispatch` held the master.
    held: Duration,
    /// From `dispatch` to the callback (the whole frame, if the master
    /// worked in between).
    total: Duration,
    /// Hits summed over all items.
    hits: u64,
}

/// When the callback fired, and what it got.
type Finished = (Instant, Result<Vec<u32>, weavekit::Error>);

/// Dispatches one sweep, works `during` on the master, and waits for the
/// callback.
fn dispatch_sweep(
    dispatcher: &mut Dispatcher,
    params: SweepParams,
    during: Duration,
) -> Result<JobTimes, weavekit::Error> {
    let done: Rc<RefCell<Option<Finished>>> = Rc::default();
    let slot = Rc::clone(&done);
    let start = Instant::now();
    dispatcher.dispatch(
        "sweep",
        ITEMS,
        move |buf: Result<Vec<u32>, weavekit::Error>| {
            *slot.borrow_mut() = Some((Instant::now(), buf))
        },
        None,
        params,
    )?;
    let held = start.elapsed();
    master_work(during);
    dispatcher.wait();
    let (finished, buf) = done.borrow_mut().take().expect("wait fires every callback");
    let hits = buf?.iter().map(|&h| u64::from(h)).sum();
    Ok(JobTimes {
        held,
        total: finished - start,
        hits,
    })
}

/// The same sweep on the calling thread: (time, hits).
fn serial_sweep(scene: &Scene, params: SweepParams) -> (Duration, u64) {
    let start = Instant::now();
    let buf: Vec<u32> = (0..ITEMS).map(|id| scene.hits(id, &params)).collect();
    let elapsed = start.elapsed();
    (elapsed, buf.iter().map(|&h| u64::from(h)).sum())
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// Medians over `RUNS` frames (after one warm-up frame) of: serial time,
/// dispatcher time, dispatch held. Each frame: `before` of master work,
/// then the sweep (timed), with `during` of master work overlapped (after
/// the serial sweep; between `dispatch` and `wait` for the dispatcher).
fn frames(
    dispatcher: &mut Dispatcher,
    scene: &Scene,
    params: SweepParams,
    before: Duration,
    during: Duration,
) -> Result<(Duration, Duration, Duration), weavekit::Error> {
    let (mut serial, mut total, mut held) = (Vec::new(), Vec::new(), Vec::new());
    // Serial frames first, then the dispatcher's: back to back means no
    // other work between one dispatch and the next.
    let mut expected = 0;
    for run in 0..=RUNS {
        master_work(before);
        let start = Instant::now();
        let (_, hits) = serial_sweep(scene, params);
        master_work(during);
        if run > 0 {
            serial.push(start.elapsed());
        }
        expected = hits;
    }
    for run in 0..=RUNS {
        master_work(before);
        let job = dispatch_sweep(dispatcher, params, during)?;
        assert_eq!(job.hits, expected, "the actors must find the same hits");
        if run > 0 {
            total.push(job.total);
            held.push(job.held);
        }
    }
    Ok((median(serial), median(total), median(held)))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let actors = match std::env::args().nth(1) {
        Some(n) => n.parse()?,
        None => std::thread::available_parallelism()?.get(),
    };
    let params = SweepParams::default();
    let scene = Scene::benchmark();
    let mut dispatcher = Dispatcher::new(actors, worker)?;
    println!(
        "sensor sweep: {ITEMS} items x {} rays against {} spheres, {actors} actors, \
         medians of {RUNS} frames",
        params.rays,
        scene.spheres().len()
    );
    println!(
        "{:<34}{:>11}{:>13}{:>10}{:>15}",
        "frame", "serial", "dispatcher", "speed-up", "dispatch held"
    );
    let ms = Duration::from_millis;
    let shapes = [
        ("back to back", Duration::ZERO, Duration::ZERO),
        ("master busy 4 ms, then the sweep", ms(4), Duration::ZERO),
        ("master busy 17 ms, then the sweep", ms(17), Duration::ZERO),
        ("sweep overlapping 8 ms of master", Duration::ZERO, ms(8)),
    ];
    for (name, before, during) in shapes {
        let (serial, total, held) = frames(&mut dispatcher, &scene, params, before, during)?;
        println!(
            "{name:<34}{serial:>11.2?}{total:>13.2?}{:>9.2}x{held:>15.2?}",
            serial.as_secs_f64() / total.as_secs_f64()
        );
    }
    println!(
        "(busy rows time the sweep only; the overlap row times the whole frame, \
         serial doing the sweep then the 8 ms)"
    );
    dispatcher.destroy();
    Ok(())
}

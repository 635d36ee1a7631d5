//! The original Weave benchmark, in Rust: 10,000 sensors, each casting 8
//! rays against a generated scene of 100 spheres and counting its hits.
//!
//! Prints the serial time, the dispatcher's total job time (dispatch to
//! callback) and how long `dispatch` held the master thread: medians over a
//! few runs after a warm-up.
//!
//! ```text
//! cargo run --release --example sensor_sweep            # one actor per CPU
//! cargo run --release --example sensor_sweep -- 4       # four actors
//! ```

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use weave_cli::workloads::sweep::{Scene, SweepParams};
use weavekit::{Dispatcher, Kernel};

const ITEMS: usize = 10_000;
const RUNS: usize = 7;

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
    /// From `dispatch` to the callback.
    total: Duration,
    /// Hits summed over all items.
    hits: u64,
}

/// When the callback fired, and what it got.
type Finished = (Instant, Result<Vec<u32>, weavekit::Error>);

/// Dispatches one sweep and waits for its callback.
fn dispatch_sweep(
    dispatcher: &mut Dispatcher,
    params: SweepParams,
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

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let actors = match std::env::args().nth(1) {
        Some(n) => n.parse()?,
        None => std::thread::available_parallelism()?.get(),
    };
    let params = SweepParams::default();
    let scene = Scene::benchmark();
    let mut dispatcher = Dispatcher::new(actors, worker)?;
    println!(
        "sensor sweep: {ITEMS} items x {} rays against {} spheres, {actors} actors",
        params.rays,
        scene.spheres().len()
    );

    let (mut serial, mut total, mut held) = (Vec::new(), Vec::new(), Vec::new());
    for run in 0..=RUNS {
        let (serial_time, serial_hits) = serial_sweep(&scene, params);
        let job = dispatch_sweep(&mut dispatcher, params)?;
        assert_eq!(job.hits, serial_hits, "the actors must find the same hits");
        if run > 0 {
            // Run 0 warms caches and wakes the actors up.
            serial.push(serial_time);
            total.push(job.total);
            held.push(job.held);
        }
    }
    let (serial, total, held) = (median(serial), median(total), median(held));
    println!("serial:                 {serial:>10.2?}");
    println!("dispatcher, whole job:  {total:>10.2?}  (dispatch to callback)");
    println!("dispatch held master:   {held:>10.2?}");
    println!(
        "speed-up over serial:   {:>9.2}x  (medians of {RUNS} runs)",
        serial.as_secs_f64() / total.as_secs_f64()
    );
    dispatcher.destroy();
    Ok(())
}

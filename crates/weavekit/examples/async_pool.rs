//! weavekit as the CPU pool of an async server: tokio tasks dispatch
//! through a `Remote` and await `JobFuture`s, resolved by the actor that
//! finishes each job; every actor keeps its own state (here a cache of
//! parsed lines) with no locks. A remote job can also wait for another
//! (`.after(&[id])`), released by the actor that finishes the first.
//!
//! The `Dispatcher` itself stays on one owner thread, which only reclaims
//! finished jobs now and then (`wait_timeout`); nothing waits on it.
//!
//! Run with `cargo run -p weavekit --example async_pool`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use weavekit::{Dispatcher, Error, Job, Kernel, Remote};

/// A request: lines of `key=value` pairs to parse and score.
struct Request {
    lines: Vec<String>,
}

/// One item per line: the line's score.
const SCORE: Job<Arc<Request>, u64> = Job::new("score");

/// Parses a line (the "expensive" part the per-actor cache saves).
fn parse(line: &str) -> u64 {
    line.split(',')
        .filter_map(|pair| pair.split_once('='))
        .map(|(key, value)| key.len() as u64 * value.parse::<u64>().unwrap_or(0))
        .sum()
}

fn worker(kernel: &mut Kernel) {
    // Per-actor state: this actor's cache, never shared, never locked.
    let mut cache: HashMap<String, u64> = HashMap::new();
    kernel.on(SCORE, move |id, request| {
        let line = &request.lines[id];
        if let Some(&score) = cache.get(line) {
            return score;
        }
        let score = parse(line);
        cache.insert(line.clone(), score);
        score
    });
}

/// Starts the pool on its owner thread and hands back a `Remote`.
fn start_pool(actors: usize) -> Result<(Remote, Arc<AtomicBool>, thread::JoinHandle<()>), Error> {
    let (tx, rx) = mpsc::channel();
    let stop = Arc::new(AtomicBool::new(false));
    let stopping = Arc::clone(&stop);
    let owner = thread::spawn(move || {
        let mut dispatcher = match Dispatcher::new(actors, worker) {
            Ok(dispatcher) => dispatcher,
            Err(error) => return tx.send(Err(error)).unwrap_or(()),
        };
        tx.send(Ok(dispatcher.remote())).unwrap_or(());
        // Reclaim finished jobs until asked to stop; drop runs the rest.
        while !stopping.load(Ordering::Relaxed) {
            dispatcher.wait_timeout(Duration::from_millis(10));
        }
    });
    let remote = rx.recv().expect("the owner thread reports")?;
    Ok((remote, stop, owner))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let (remote, stop, owner) = start_pool(4)?;
    let mut tasks = tokio::task::JoinSet::new();
    for client in 0..32_u64 {
        let remote = remote.clone();
        tasks.spawn(async move {
            let lines = (0..64)
                .map(|i| format!("a={},bb={},ccc={}", i % 8, client % 4, i % 3))
                .collect();
            let request = Arc::new(Request { lines });
            // 64 items on the actors; this task sleeps until the last one.
            let scores = remote.job(SCORE, 64).future(request)?.await?;
            Ok::<u64, Error>(scores.iter().sum())
        });
    }
    let mut total = 0;
    while let Some(joined) = tasks.join_next().await {
        total += joined.expect("no task panicked")?;
    }
    println!("32 requests of 64 lines scored: total {total}");
    // A dependency between remote jobs: the second request starts on the
    // actors once the first has finished (its lines then hit the caches
    // the first filled), with no master step and no await in between.
    let lines: Vec<String> = (0..64).map(|i| format!("a={i},bb=1")).collect();
    let first = Arc::new(Request {
        lines: lines.clone(),
    });
    let warm = remote.job(SCORE, 64).future(first)?;
    let again = remote
        .job(SCORE, 64)
        .after(&[warm.id()])
        .future(Arc::new(Request { lines }))?;
    let (warm, again) = (warm.await?, again.await?);
    assert_eq!(warm, again);
    println!("a request after another: same {} scores", again.len());
    stop.store(true, Ordering::Relaxed);
    owner.join().expect("the owner thread exits");
    // The dispatcher is gone: remotes are refused, not hung.
    assert!(matches!(
        remote
            .job(SCORE, 1)
            .future(Arc::new(Request { lines: vec![] })),
        Err(Error::Closed)
    ));
    Ok(())
}

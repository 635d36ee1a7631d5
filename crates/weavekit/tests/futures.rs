//! `JobFuture` and `Remote`: futures resolved by the actor that finishes
//! the job (no master poll), drop cancels, dispatch from any thread, and
//! `Error::Closed` once the dispatcher is gone.

mod common;

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread;

use common::{Gate, OpenOnDrop};
use weavekit::{Dispatcher, Error, Job, JobFuture, Kernel, Remote};

const SQUARE: Job<u64, u64> = Job::new("square");
const HELD: Job<Arc<Gate>, usize> = Job::new("held");
const COUNT: Job<Arc<AtomicUsize>> = Job::new("count");
const BOOM: Job<(), u8> = Job::new("boom");

fn worker(kernel: &mut Kernel) {
    kernel.on(SQUARE, |id, offset| id as u64 * id as u64 + offset);
    kernel.on(HELD, |id, gate| {
        if id == 0 {
            gate.pass();
        }
        id
    });
    kernel.on_detached(COUNT, |_, n| {
        n.fetch_add(1, Ordering::SeqCst);
    });
    kernel.on(BOOM, |id, _| {
        assert!(id != 3, "item three");
        1
    });
}

/// Wakes by unparking the thread that blocks, and counts its wakes.
struct Unpark {
    thread: thread::Thread,
    wakes: AtomicUsize,
}

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
        self.thread.unpark();
    }
}

/// A minimal executor: poll, park until woken, repeat.
fn block_on<F: Future>(future: F) -> F::Output {
    let waker = Waker::from(Arc::new(Unpark {
        thread: thread::current(),
        wakes: AtomicUsize::new(0),
    }));
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(value) = future.as_mut().poll(&mut Context::from_waker(&waker)) {
            return value;
        }
        thread::park();
    }
}

fn assert_send_sync_clone<T: Send + Sync + Clone + 'static>() {}
fn assert_send_static<T: Send + 'static>() {}

#[test]
fn the_types_cross_threads() {
    assert_send_sync_clone::<Remote>();
    assert_send_static::<JobFuture<u64>>();
    assert_send_static::<JobFuture<String>>();
}

#[test]
fn a_future_resolves_with_no_master_poll() {
    let d = Dispatcher::new(2, worker).unwrap();
    let future = d.job(SQUARE, 1_000).future(5).unwrap();
    // The master neither polls nor waits while another thread awaits.
    let buf = thread::spawn(move || block_on(future))
        .join()
        .unwrap()
        .unwrap();
    assert_eq!(buf.len(), 1_000);
    assert!(buf
        .iter()
        .enumerate()
        .all(|(i, &v)| v == (i * i) as u64 + 5));
    drop(d);
}

#[test]
fn the_finishing_actor_wakes_the_task() {
    let mut d = Dispatcher::new(1, worker).unwrap();
    let gate = Gate::new();
    let _open = OpenOnDrop(Arc::clone(&gate));
    let mut future = Box::pin(d.job(HELD, 3).future(Arc::clone(&gate)).unwrap());
    let unpark = Arc::new(Unpark {
        thread: thread::current(),
        wakes: AtomicUsize::new(0),
    });
    let waker = Waker::from(Arc::clone(&unpark));
    let mut cx = Context::from_waker(&waker);
    assert!(future.as_mut().poll(&mut cx).is_pending());
    gate.await_arrivals(1);
    gate.open();
    while unpark.wakes.load(Ordering::SeqCst) == 0 {
        thread::park();
    }
    assert_eq!(
        future.as_mut().poll(&mut cx),
        Poll::Ready(Ok(vec![0, 1, 2]))
    );
    assert_eq!(unpark.wakes.load(Ordering::SeqCst), 1);
    d.wait();
    assert_eq!(d.in_flight(), 0);
}

#[test]
fn dropping_a_future_cancels_its_job() {
    let mut d = Dispatcher::new(1, worker).unwrap();
    let gate = Gate::new();
    let _open = OpenOnDrop(Arc::clone(&gate));
    let future = d.job(HELD, 100).batch(1).future(Arc::clone(&gate)).unwrap();
    let id = future.id();
    gate.await_arrivals(1);
    drop(future);
    assert_eq!(d.progress(id).map(|p| p.done), Some(99), "skipped at once");
    gate.open();
    d.wait();
    assert_eq!(gate.arrived.load(Ordering::SeqCst), 1);
    assert_eq!(d.progress(id), None);
    assert!(!d.cancel(id));
}

#[test]
fn a_future_gets_the_jobs_error() {
    let d = Dispatcher::new(2, worker).unwrap();
    let failing = d.job(BOOM, 10).batch(1).future(()).unwrap();
    let dependent = d.job(SQUARE, 4).after(&[failing.id()]).future(0).unwrap();
    assert!(matches!(
        block_on(failing),
        Err(Error::HandlerPanicked { item: 3, .. })
    ));
    assert!(matches!(
        block_on(dependent),
        Err(Error::DependencyFailed { .. })
    ));
    let cancelled = d.job(SQUARE, 4).deferred().future(0).unwrap();
    assert!(d.cancel(cancelled.id()));
    assert!(matches!(block_on(cancelled), Err(Error::Cancelled { .. })));
    let empty = d.job(SQUARE, 0).future(0).unwrap();
    assert_eq!(block_on(empty), Ok(vec![]));
}

#[test]
fn remotes_dispatch_from_many_threads_and_wait_counts_them() {
    let mut d = Dispatcher::new(2, worker).unwrap();
    let remote = d.remote();
    let count = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..4_u64)
        .map(|t| {
            let remote = remote.clone();
            let count = Arc::clone(&count);
            thread::spawn(move || {
                for round in 0..if cfg!(miri) { 2 } else { 50 } {
                    remote
                        .job(COUNT, 10)
                        .batch(3)
                        .detached(Arc::clone(&count))
                        .unwrap();
                    let buf = block_on(remote.job(SQUARE, 8).future(t + round).unwrap()).unwrap();
                    assert_eq!(buf[2], 4 + t + round);
                    let by_name = remote.job("square", 2).future::<u64, u64>(t).unwrap();
                    assert_eq!(block_on(by_name), Ok(vec![t, 1 + t]));
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    d.wait();
    assert_eq!(d.in_flight(), 0);
    let rounds = if cfg!(miri) { 2 } else { 50 };
    assert_eq!(count.load(Ordering::SeqCst), 4 * rounds * 10);
}

#[test]
fn remote_errors_are_returned_at_the_call() {
    let d = Dispatcher::new(1, worker).unwrap();
    let remote = d.remote();
    assert!(matches!(
        remote.job("nope", 1).detached(()),
        Err(Error::UnknownJob { .. })
    ));
    assert!(matches!(
        remote.job(SQUARE, 1).batch(0).future(0),
        Err(Error::ZeroBatchSize { .. })
    ));
    assert!(matches!(
        remote.job("square", 1).future::<u64, u8>(0),
        Err(Error::ResultType { .. })
    ));
    assert_eq!(
        d.in_flight(),
        0,
        "refused remote dispatches are not counted"
    );
}

#[test]
fn remote_use_after_the_dispatcher_is_gone_is_closed() {
    let d = Dispatcher::new(1, worker).unwrap();
    let remote = d.remote();
    let count = Arc::new(AtomicUsize::new(0));
    // In flight at drop: run to the end, not lost.
    remote.job(COUNT, 100).detached(Arc::clone(&count)).unwrap();
    let pending = remote.job(SQUARE, 100).future(1).unwrap();
    drop(d);
    assert_eq!(count.load(Ordering::SeqCst), 100);
    assert_eq!(block_on(pending).map(|buf| buf[2]), Ok(5));
    assert!(remote.is_closed());
    assert_eq!(remote.job(COUNT, 1).detached(count), Err(Error::Closed));
    assert!(matches!(
        remote.job(SQUARE, 1).future(0),
        Err(Error::Closed)
    ));
    // From another thread too.
    let clone = remote.clone();
    let closed = thread::spawn(move || clone.job(SQUARE, 1).future(0).err())
        .join()
        .unwrap();
    assert_eq!(closed, Some(Error::Closed));
}

#[test]
fn remote_dispatch_racing_shutdown_is_run_or_refused() {
    for _ in 0..if cfg!(miri) { 2 } else { 50 } {
        let d = Dispatcher::new(2, worker).unwrap();
        let remote = d.remote();
        let count = Arc::new(AtomicUsize::new(0));
        let n = Arc::clone(&count);
        let sender = thread::spawn(move || {
            // Bounded: the shutdown's first drain still accepts remotes.
            let mut sent = 0;
            for _ in 0..if cfg!(miri) { 20 } else { 2_000 } {
                if remote.job(COUNT, 1).detached(Arc::clone(&n)).is_err() {
                    break;
                }
                sent += 1;
            }
            sent
        });
        thread::yield_now();
        drop(d);
        let sent = sender.join().unwrap();
        // Every accepted dispatch ran before the drop returned.
        assert_eq!(count.load(Ordering::SeqCst), sent);
    }
}

/// Awaited from tokio tasks on a multi-threaded runtime, through a remote.
#[cfg(not(miri))]
#[test]
fn futures_work_under_tokio() {
    let mut d = Dispatcher::new(2, worker).unwrap();
    let remote = d.remote();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let local = d.job(SQUARE, 64).future(1).unwrap();
    let sums = runtime.block_on(async move {
        let mut tasks = tokio::task::JoinSet::new();
        for t in 0..16_u64 {
            let remote = remote.clone();
            tasks.spawn(async move {
                let buf = remote.job(SQUARE, 64).future(t).unwrap().await.unwrap();
                buf.iter().sum::<u64>()
            });
        }
        let mut sums = vec![local.await.unwrap().iter().sum::<u64>()];
        while let Some(sum) = tasks.join_next().await {
            sums.push(sum.unwrap());
        }
        sums
    });
    let squares: u64 = (0..64_u64).map(|i| i * i).sum();
    assert_eq!(sums[0], squares + 64);
    let mut rest: Vec<u64> = sums[1..].to_vec();
    rest.sort_unstable();
    assert_eq!(rest, (0..16).map(|t| squares + 64 * t).collect::<Vec<_>>());
    d.wait();
    assert_eq!(d.in_flight(), 0);
}

/// After `destroy_timeout` gives up on a stuck handler, remotes are
/// refused rather than queueing jobs no actor will run.
#[cfg(not(miri))]
#[test]
fn remote_after_destroy_timeout_is_closed() {
    const BLOCK: Job<Arc<std::sync::Barrier>> = Job::new("block");
    let d = Dispatcher::new(1, |k: &mut Kernel| {
        k.on_detached(BLOCK, |_, gate| {
            gate.wait();
        });
        k.on(SQUARE, |id, offset| id as u64 + offset);
    })
    .unwrap();
    let remote = d.remote();
    let gate = Arc::new(std::sync::Barrier::new(2));
    d.job(BLOCK, 1).detached(Arc::clone(&gate)).unwrap();
    let stuck = d.destroy_timeout(std::time::Duration::from_millis(20));
    assert!(matches!(stuck, Err(Error::Stuck { .. })), "{stuck:?}");
    assert!(remote.is_closed());
    assert!(matches!(
        remote.job(SQUARE, 1).future(0),
        Err(Error::Closed)
    ));
    gate.wait(); // the handler returns; its actor exits on its own
}

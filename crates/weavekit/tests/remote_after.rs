//! Dependencies of remote jobs (`RemoteSpec::after`): a remote job starts
//! when the jobs it names have finished, whether the master or a remote
//! dispatched them, with no master step; a failed or cancelled dependency
//! means it never runs.

mod common;

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread;

use common::{Gate, OpenOnDrop};
use weavekit::{Dispatcher, Error, Job, Kernel};

/// Item 0 waits at the gate (and panics if told to); every item then bumps
/// the counter.
const SLOW_BUMP: Job<(Arc<Gate>, Arc<AtomicUsize>, bool), usize> = Job::new("slow_bump");
/// Counts its items into the counter.
const BUMP: Job<Arc<AtomicUsize>, usize> = Job::new("bump");
/// Returns the counter's value as each item sees it.
const READ: Job<Arc<AtomicUsize>, usize> = Job::new("read");

fn worker(kernel: &mut Kernel) {
    kernel.on(SLOW_BUMP, |id, (gate, counter, fail)| {
        if id == 0 {
            gate.pass();
            assert!(!fail, "item zero fails");
        }
        counter.fetch_add(1, Ordering::SeqCst)
    });
    kernel.on(BUMP, |_, counter| counter.fetch_add(1, Ordering::SeqCst));
    kernel.on(READ, |_, counter| counter.load(Ordering::SeqCst));
}

fn dispatcher() -> Dispatcher {
    Dispatcher::builder()
        .actor_count(2)
        .quiet_panics(true)
        .build(worker)
        .unwrap()
}

const N: usize = if cfg!(miri) { 8 } else { 300 };

struct Unpark(thread::Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

fn block_on<F: Future>(future: F) -> F::Output {
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(value) = future.as_mut().poll(&mut Context::from_waker(&waker)) {
            return value;
        }
        thread::park();
    }
}

#[test]
fn a_remote_job_after_a_running_master_job_starts_without_the_master() {
    let mut d = dispatcher();
    let remote = d.remote();
    let gate = Gate::new();
    let _open = OpenOnDrop(Arc::clone(&gate));
    let counter = Arc::new(AtomicUsize::new(0));
    let master_job = d
        .job(SLOW_BUMP, N)
        .detached((Arc::clone(&gate), Arc::clone(&counter), false))
        .unwrap();
    gate.await_arrivals(1); // the dependency is running, not finished
    let (gate2, counter2) = (Arc::clone(&gate), Arc::clone(&counter));
    // The master does not poll until the remote thread has its results.
    let results = thread::spawn(move || {
        let future = remote
            .job(READ, N)
            .batch(16)
            .after(&[master_job])
            .future(counter2)
            .unwrap();
        gate2.open();
        block_on(future)
    })
    .join()
    .unwrap();
    assert_eq!(results, Ok(vec![N; N]));
    d.wait();
    assert_eq!(d.in_flight(), 0);
}

#[test]
fn a_remote_job_after_a_deferred_master_job_waits_for_its_start() {
    let mut d = dispatcher();
    let remote = d.remote();
    let counter = Arc::new(AtomicUsize::new(0));
    let deferred = d
        .job(BUMP, N)
        .deferred()
        .detached(Arc::clone(&counter))
        .unwrap();
    let future = remote
        .job(READ, 4)
        .after(&[deferred])
        .future(Arc::clone(&counter))
        .unwrap();
    d.wait(); // starts the deferred job; the remote one follows
    assert_eq!(block_on(future), Ok(vec![N; 4]));
}

#[test]
fn a_remote_job_after_another_remote_future() {
    let mut d = dispatcher();
    let remote = d.remote();
    let gate = Gate::new();
    let _open = OpenOnDrop(Arc::clone(&gate));
    let counter = Arc::new(AtomicUsize::new(0));
    let (gate2, counter2) = (Arc::clone(&gate), Arc::clone(&counter));
    let (first, second) = thread::spawn(move || {
        let first = remote
            .job(SLOW_BUMP, N)
            .future((Arc::clone(&gate2), Arc::clone(&counter2), false))
            .unwrap();
        gate2.await_arrivals(1);
        let second = remote
            .job(READ, N)
            .after(&[first.id()])
            .future(counter2)
            .unwrap();
        gate2.open();
        (block_on(first), block_on(second))
    })
    .join()
    .unwrap();
    assert_eq!(first.map(|buf| buf.len()), Ok(N));
    assert_eq!(second, Ok(vec![N; N]));
    d.wait();
    assert_eq!(d.in_flight(), 0);
}

#[test]
fn a_failed_dependency_fails_the_remote_job_which_never_runs() {
    let mut d = dispatcher();
    let remote = d.remote();
    let gate = Gate::new();
    let _open = OpenOnDrop(Arc::clone(&gate));
    let counter = Arc::new(AtomicUsize::new(0));
    let failing = d
        .job(SLOW_BUMP, N)
        .detached((Arc::clone(&gate), Arc::clone(&counter), true))
        .unwrap();
    gate.await_arrivals(1);
    let ran = Arc::new(AtomicUsize::new(0));
    let dependent = remote
        .job(READ, N)
        .after(&[failing])
        .future(Arc::clone(&ran))
        .unwrap();
    let detached_dependent = remote
        .job(BUMP, N)
        .after(&[failing])
        .detached(Arc::clone(&ran))
        .unwrap();
    gate.open();
    assert!(matches!(
        block_on(dependent),
        Err(Error::DependencyFailed { job }) if job == "read"
    ));
    d.wait();
    assert_eq!(d.progress(detached_dependent), None);
    // The panic of `failing` is reported; the dependents never ran.
    let errors = d.take_detached_errors();
    assert!(
        errors
            .iter()
            .any(|e| matches!(e, Error::HandlerPanicked { job, .. } if job == "slow_bump")),
        "{errors:?}"
    );
    assert_eq!(ran.load(Ordering::SeqCst), 0);
}

#[test]
fn a_cancelled_remote_dependency_fails_the_remote_job() {
    let mut d = dispatcher();
    let remote = d.remote();
    let gate = Gate::new();
    let _open = OpenOnDrop(Arc::clone(&gate));
    // Hold both actors so the dependency cannot start before it is dropped.
    let counter = Arc::new(AtomicUsize::new(0));
    d.job(SLOW_BUMP, 2)
        .batch(1)
        .detached((Arc::clone(&gate), Arc::clone(&counter), false))
        .unwrap();
    let held = Gate::new();
    let _held_open = OpenOnDrop(Arc::clone(&held));
    d.job(SLOW_BUMP, 1)
        .detached((Arc::clone(&held), Arc::clone(&counter), false))
        .unwrap();
    gate.await_arrivals(1);
    held.await_arrivals(1);
    let ran = Arc::new(AtomicUsize::new(0));
    let dependency = remote.job(BUMP, N).future(Arc::clone(&ran)).unwrap();
    let dependent = remote
        .job(READ, 3)
        .after(&[dependency.id()])
        .future(Arc::clone(&ran))
        .unwrap();
    drop(dependency); // cancels it
    assert!(matches!(
        block_on(dependent),
        Err(Error::DependencyFailed { .. })
    ));
    gate.open();
    held.open();
    d.wait();
    assert_eq!(ran.load(Ordering::SeqCst), 0);
}

#[test]
fn reported_and_unknown_ids_count_as_finished() {
    let mut d = dispatcher();
    let remote = d.remote();
    let counter = Arc::new(AtomicUsize::new(0));
    let done = d.job(BUMP, N).detached(Arc::clone(&counter)).unwrap();
    d.wait(); // reported: the id is stale now
    let other = dispatcher();
    let foreign = other
        .remote()
        .job(BUMP, 0)
        .detached(Arc::new(AtomicUsize::new(0)))
        .unwrap();
    let future = remote
        .job(READ, 2)
        .after(&[done, foreign, done])
        .future(counter)
        .unwrap();
    assert_eq!(block_on(future), Ok(vec![N; 2]));
    d.wait();
}

#[test]
fn remote_dependency_chains_from_several_threads() {
    let mut d = dispatcher();
    let remote = d.remote();
    let shared = Arc::new(AtomicUsize::new(0));
    let root = d
        .job(BUMP, N)
        .deferred()
        .detached(Arc::clone(&shared))
        .unwrap();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let remote = remote.clone();
            let shared = Arc::clone(&shared);
            thread::spawn(move || {
                let mine = Arc::new(AtomicUsize::new(0));
                let mut last = None;
                let mut futures = Vec::new();
                for step in 0..if cfg!(miri) { 2 } else { 20 } {
                    let after: Vec<_> = last.into_iter().collect();
                    let bumped = remote
                        .job(BUMP, 10)
                        .after(&after)
                        .detached(Arc::clone(&mine))
                        .unwrap();
                    let read = remote
                        .job(READ, 3)
                        .after(&[bumped, root])
                        .future(Arc::clone(&mine))
                        .unwrap();
                    last = Some(read.id());
                    futures.push((step, read));
                }
                for (step, read) in futures {
                    // Each read ran after its bump, which ran after the
                    // previous read: it sees exactly its own bumps.
                    assert_eq!(block_on(read), Ok(vec![10 * (step + 1); 3]));
                }
                // And after the master's root job.
                assert_eq!(shared.load(Ordering::SeqCst), N);
            })
        })
        .collect();
    // The master only starts the root and polls; the chains run themselves.
    while !threads.iter().all(|t| t.is_finished()) {
        d.wait_timeout(std::time::Duration::from_millis(1));
    }
    for t in threads {
        t.join().unwrap();
    }
    d.wait();
    assert_eq!(d.in_flight(), 0);
}

#[test]
fn master_jobs_dispatched_before_the_first_remote_can_be_named() {
    let mut d = dispatcher();
    let gate = Gate::new();
    let _open = OpenOnDrop(Arc::clone(&gate));
    let counter = Arc::new(AtomicUsize::new(0));
    let (calls, callback) = common::sink();
    let earlier = d
        .job(SLOW_BUMP, N)
        .tracked((Arc::clone(&gate), Arc::clone(&counter), false), callback)
        .unwrap();
    gate.await_arrivals(1);
    let remote = d.remote(); // made while `earlier` runs
    let future = remote
        .job(READ, 5)
        .after(&[earlier])
        .future(Arc::clone(&counter))
        .unwrap();
    gate.open();
    assert_eq!(block_on(future), Ok(vec![N; 5]));
    d.wait();
    assert_eq!(common::only(&calls).map(|buf| buf.len()), Ok(N));
    assert_eq!(d.in_flight(), 0);
}

#[test]
fn a_master_job_after_a_failed_remote_job_never_runs() {
    let mut d = dispatcher();
    let remote = d.remote();
    let gate = Gate::new();
    let _open = OpenOnDrop(Arc::clone(&gate));
    let counter = Arc::new(AtomicUsize::new(0));
    let failing = remote
        .job(SLOW_BUMP, 4)
        .batch(1)
        .detached((Arc::clone(&gate), Arc::clone(&counter), true))
        .unwrap();
    gate.await_arrivals(1);
    let outcome = Arc::new(std::sync::Mutex::new(None));
    let seen = Arc::clone(&outcome);
    d.job(BUMP, 4)
        .after(&[failing])
        .tracked(Arc::clone(&counter), move |buf| {
            *seen.lock().unwrap() = Some(buf)
        })
        .unwrap();
    gate.open();
    d.wait();
    let outcome = outcome.lock().unwrap().take().expect("the callback fired");
    assert!(
        matches!(outcome, Err(Error::DependencyFailed { .. })),
        "{outcome:?}"
    );
    // Items 1-3 of the failed job bumped it; item 0 panicked first.
    assert_eq!(counter.load(Ordering::SeqCst), 3, "the dependent never ran");
    let errors = d.take_detached_errors();
    assert!(
        errors
            .iter()
            .any(|e| matches!(e, Error::HandlerPanicked { .. })),
        "{errors:?}"
    );
}

#[test]
fn progress_cancel_and_wait_for_know_a_remote_s_jobs() {
    // One actor, held at item 0: every other item stays unclaimed.
    let mut d = Dispatcher::new(1, worker).unwrap();
    let remote = d.remote();
    let gate = Gate::new();
    let _open = OpenOnDrop(Arc::clone(&gate));
    let counter = Arc::new(AtomicUsize::new(0));
    let running = remote
        .job(SLOW_BUMP, N)
        .batch(1)
        .future((Arc::clone(&gate), Arc::clone(&counter), false))
        .unwrap();
    let id = running.id();
    gate.await_arrivals(1);
    let progress = d.progress(id).expect("a remote's job in flight is known");
    assert_eq!(progress.total, N);
    assert!(progress.done < N, "{progress:?}");
    assert!(d.cancel(id), "unclaimed items were left to cancel");
    gate.open();
    d.wait_for(id);
    assert_eq!(
        d.progress(id),
        None,
        "reported once the master reclaimed it"
    );
    assert!(!d.cancel(id));
    assert!(
        matches!(block_on(running), Err(Error::Cancelled { .. })),
        "a cancelled remote future says so"
    );
}

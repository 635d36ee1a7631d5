//! Dependencies (`JobSpec::after`): a job starts when its dependencies have
//! finished, released by the actor that finished the last one; a failed or
//! cancelled dependency means the job never runs.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::{only, sink, Gate, OpenOnDrop};
use weavekit::{Dispatcher, Error, Job, Kernel, Progress};

/// Counts its items into the counter.
const BUMP: Job<Arc<AtomicUsize>> = Job::new("bump");
/// Returns the counter's value as each item sees it.
const READ: Job<Arc<AtomicUsize>, usize> = Job::new("read");
/// Tracked form of `BUMP`.
const BUMP_TRACKED: Job<Arc<AtomicUsize>, usize> = Job::new("bump_tracked");
/// Panics on item 0.
const FAIL: Job<()> = Job::new("fail");
/// Item 0 waits at the gate.
const HELD: Job<Arc<Gate>> = Job::new("held");

fn worker(kernel: &mut Kernel) {
    kernel.on_detached(BUMP, |_, counter| {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    kernel.on(BUMP_TRACKED, |_, counter| {
        counter.fetch_add(1, Ordering::SeqCst)
    });
    kernel.on(READ, |_, counter| counter.load(Ordering::SeqCst));
    kernel.on_detached(FAIL, |id, _| assert!(id != 0, "item zero fails"));
    kernel.on_detached(HELD, |id, gate| {
        if id == 0 {
            gate.pass();
        }
    });
}

const N: usize = if cfg!(miri) { 8 } else { 500 };

#[test]
fn a_dependent_sees_every_item_of_its_detached_dependency() {
    let mut d = Dispatcher::new(2, worker).unwrap();
    for _ in 0..if cfg!(miri) { 2 } else { 50 } {
        let counter = Arc::new(AtomicUsize::new(0));
        let a = d
            .job(BUMP, N)
            .batch(7)
            .detached(Arc::clone(&counter))
            .unwrap();
        let (calls, cb) = sink();
        d.job(READ, N).after(&[a]).tracked(counter, cb).unwrap();
        d.wait();
        assert_eq!(only(&calls), Ok(vec![N; N]));
    }
}

#[test]
fn several_dependencies_of_both_kinds_all_finish_first() {
    let mut d = Dispatcher::new(2, worker).unwrap();
    let counter = Arc::new(AtomicUsize::new(0));
    let a = d.job(BUMP, N).detached(Arc::clone(&counter)).unwrap();
    let b = d
        .job(BUMP_TRACKED, N)
        .tracked(Arc::clone(&counter), |_| {})
        .unwrap();
    let c = d
        .job(BUMP, N)
        .deferred()
        .detached(Arc::clone(&counter))
        .unwrap();
    let (calls, cb) = sink();
    let last = d
        .job(READ, 4)
        .after(&[a, b, c])
        .tracked(counter, cb)
        .unwrap();
    d.wait_for(last);
    assert_eq!(only(&calls), Ok(vec![3 * N; 4]));
}

#[test]
fn the_release_needs_no_master_step() {
    let mut d = Dispatcher::new(1, worker).unwrap();
    let gate = Gate::new();
    let _open = OpenOnDrop(Arc::clone(&gate));
    let counter = Arc::new(AtomicUsize::new(0));
    let a = d.job(HELD, 1).detached(Arc::clone(&gate)).unwrap();
    let b = d
        .job(BUMP, 10)
        .after(&[a])
        .detached(Arc::clone(&counter))
        .unwrap();
    gate.await_arrivals(1);
    assert_eq!(d.progress(b), Some(Progress { done: 0, total: 10 }));
    gate.open();
    // No poll, wait or callback in between: the actor that finished `a`
    // queued `b` and ran it.
    while counter.load(Ordering::SeqCst) < 10 {
        std::thread::yield_now();
    }
    d.wait();
    assert_eq!(d.progress(b), None);
}

#[test]
fn a_failed_dependency_fails_its_dependents_transitively() {
    let mut d = Dispatcher::new(2, worker).unwrap();
    let counter = Arc::new(AtomicUsize::new(0));
    let failing = d.job(FAIL, 4).batch(1).detached(()).unwrap();
    let (first, cb) = sink();
    let b = d
        .job(READ, 5)
        .after(&[failing])
        .tracked(Arc::clone(&counter), cb)
        .unwrap();
    let (second, cb) = sink();
    let c = d
        .job(BUMP_TRACKED, 5)
        .after(&[b])
        .tracked(Arc::clone(&counter), cb)
        .unwrap();
    let e = d
        .job(BUMP, 5)
        .after(&[c])
        .detached(Arc::clone(&counter))
        .unwrap();
    d.wait();
    assert_eq!(
        only(&first),
        Err(Error::DependencyFailed {
            job: "read".to_owned()
        })
    );
    assert_eq!(
        only(&second),
        Err(Error::DependencyFailed {
            job: "bump_tracked".to_owned()
        })
    );
    assert_eq!(counter.load(Ordering::SeqCst), 0, "no dependent ran");
    assert_eq!(d.progress(e), None);
    let errors = d.take_detached_errors();
    assert_eq!(errors.len(), 1, "only the failing job reports: {errors:?}");
    assert!(matches!(&errors[0], Error::HandlerPanicked { job, .. } if job == "fail"));
}

#[test]
fn a_cancelled_dependency_fails_its_dependent() {
    let mut d = Dispatcher::new(1, worker).unwrap();
    let counter = Arc::new(AtomicUsize::new(0));
    let a = d
        .job(BUMP, 10)
        .deferred()
        .detached(Arc::clone(&counter))
        .unwrap();
    let (calls, cb) = sink();
    d.job(READ, 3)
        .after(&[a])
        .tracked(Arc::clone(&counter), cb)
        .unwrap();
    assert!(d.cancel(a));
    d.wait();
    assert!(matches!(only(&calls), Err(Error::DependencyFailed { .. })));
    assert_eq!(counter.load(Ordering::SeqCst), 0);
}

#[test]
fn cancelling_a_waiting_job_skips_it_and_fails_its_dependents() {
    let mut d = Dispatcher::new(1, worker).unwrap();
    let gate = Gate::new();
    let _open = OpenOnDrop(Arc::clone(&gate));
    let counter = Arc::new(AtomicUsize::new(0));
    let a = d.job(HELD, 1).detached(Arc::clone(&gate)).unwrap();
    let (waiting, cb) = sink();
    let b = d
        .job(READ, 3)
        .after(&[a])
        .tracked(Arc::clone(&counter), cb)
        .unwrap();
    let (next, cb) = sink();
    d.job(READ, 3)
        .after(&[b])
        .tracked(Arc::clone(&counter), cb)
        .unwrap();
    assert!(d.cancel(b), "nothing of a waiting job is claimed");
    gate.open();
    d.wait();
    assert!(matches!(only(&waiting), Err(Error::Cancelled { .. })));
    assert!(matches!(only(&next), Err(Error::DependencyFailed { .. })));
}

#[test]
fn deferred_dependents_and_reported_dependencies() {
    let mut d = Dispatcher::new(2, worker).unwrap();
    let counter = Arc::new(AtomicUsize::new(0));
    let a = d.job(BUMP, N).detached(Arc::clone(&counter)).unwrap();
    d.wait();
    // `a` is reported: its id is stale and counts as finished.
    let (calls, cb) = sink();
    let b = d
        .job(READ, 2)
        .after(&[a])
        .deferred()
        .tracked(Arc::clone(&counter), cb)
        .unwrap();
    assert_eq!(d.progress(b), Some(Progress { done: 0, total: 2 }));
    d.wait();
    assert_eq!(only(&calls), Ok(vec![N; 2]));
    // Zero items after a dependency: fires once the dependency is done.
    let a = d.job(BUMP, N).detached(Arc::clone(&counter)).unwrap();
    let (empty, cb) = sink();
    d.job(READ, 0).after(&[a]).tracked(counter, cb).unwrap();
    d.wait();
    assert_eq!(only(&empty), Ok(vec![]));
}

const SQUARES: Job<(), u64> = Job::new("squares");
const ADD: Job<(u64, Arc<AtomicUsize>)> = Job::new("add");

fn chain_worker(kernel: &mut Kernel) {
    kernel.on(SQUARES, |id, _| (id * id) as u64);
    kernel.on_detached(ADD, |_, (n, sum)| {
        sum.fetch_add(*n as usize, Ordering::SeqCst);
    });
}

#[test]
fn then_hands_results_to_a_follow_up_on_the_actor() {
    let mut d = Dispatcher::new(2, chain_worker).unwrap();
    let remote = d.remote();
    let sum = Arc::new(AtomicUsize::new(0));
    let total = Arc::clone(&sum);
    let master = std::thread::current().id();
    let first = d
        .job(SQUARES, 10)
        .then((), move |squares| {
            assert_ne!(std::thread::current().id(), master, "runs on an actor");
            let n: u64 = squares.unwrap().iter().sum();
            remote.job(ADD, 3).detached((n, total)).unwrap();
        })
        .unwrap();
    assert!(d.progress(first).is_some());
    d.wait();
    assert_eq!(sum.load(Ordering::SeqCst), 3 * 285);
}

#[test]
fn then_follow_ups_run_even_when_the_dispatcher_is_dropped() {
    let d = Dispatcher::new(1, chain_worker).unwrap();
    let remote = d.remote();
    let sum = Arc::new(AtomicUsize::new(0));
    let total = Arc::clone(&sum);
    d.job(SQUARES, 3)
        .then((), move |squares| {
            let n = squares.unwrap().iter().sum();
            remote.job(ADD, 1).detached((n, total)).unwrap();
        })
        .unwrap();
    drop(d);
    assert_eq!(sum.load(Ordering::SeqCst), 5);
}

#[test]
fn a_panicking_then_is_reported_and_its_dependents_still_run() {
    let mut d = Dispatcher::new(1, chain_worker).unwrap();
    let first = d
        .job(SQUARES, 4)
        .then((), |_| panic!("then failed"))
        .unwrap();
    let (calls, cb) = sink();
    d.job(SQUARES, 2).after(&[first]).tracked((), cb).unwrap();
    d.wait();
    assert_eq!(only(&calls), Ok(vec![0, 1]), "the job itself succeeded");
    let errors = d.take_detached_errors();
    assert!(
        matches!(&errors[..], [Error::HandlerPanicked { job, item: 4, message }]
            if job == "squares" && message.contains("then failed")),
        "{errors:?}"
    );
}

#[test]
fn then_gets_the_failure_of_its_job() {
    let mut d = Dispatcher::new(1, worker).unwrap();
    let failing = d.job(FAIL, 2).detached(()).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    d.job(READ, 2)
        .after(&[failing])
        .then(Arc::new(AtomicUsize::new(0)), move |buf| {
            tx.send(buf).unwrap()
        })
        .unwrap();
    d.wait();
    assert!(matches!(
        rx.recv().unwrap(),
        Err(Error::DependencyFailed { .. })
    ));
}

//! Jobs as values (API.md, "Rust, next"): typed keys, `JobSpec`, `JobId`,
//! `progress`, `cancel`, `wait_for`, `reuse`.

mod common;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::{only, sink, Gate, OpenOnDrop};
use weavekit::{Dispatcher, Error, Job, JobId, Kernel, Progress};

const SQUARE: Job<u64, u64> = Job::new("square");
const HELD: Job<Arc<Gate>, usize> = Job::new("held");
const COUNT: Job<Arc<AtomicUsize>> = Job::new("count");
const HELD_DETACHED: Job<(Arc<Gate>, Arc<AtomicUsize>)> = Job::new("held_detached");

fn worker(kernel: &mut Kernel) {
    kernel.on(SQUARE, |id, offset| id as u64 * id as u64 + offset);
    // Item 0 waits at the gate; every item returns its id.
    kernel.on(HELD, |id, gate| {
        if id == 0 {
            gate.pass();
        }
        id
    });
    kernel.on_detached(COUNT, |_, ran| {
        ran.fetch_add(1, Ordering::SeqCst);
    });
    kernel.on_detached(HELD_DETACHED, |id, (gate, ran)| {
        if id == 0 {
            gate.pass();
        }
        ran.fetch_add(1, Ordering::SeqCst);
    });
    kernel.on("legacy", |id: usize, by: &u8| id * usize::from(*by));
}

fn dispatcher(actors: usize) -> Dispatcher {
    Dispatcher::new(actors, worker).unwrap()
}

#[test]
fn a_key_and_its_name_address_the_same_handler() {
    let mut d = dispatcher(2);
    let (by_key, cb) = sink();
    d.job(SQUARE, 4).tracked(1, cb).unwrap();
    let (by_name, cb) = sink();
    d.job("square", 4).tracked(1_u64, cb).unwrap();
    let (seed, cb) = sink();
    d.dispatch("square", 4, cb, None, 1_u64).unwrap();
    // A string-registered handler through a typed key.
    const LEGACY: Job<u8, usize> = Job::new("legacy");
    let (legacy, cb) = sink();
    d.job(LEGACY, 3).tracked(2, cb).unwrap();
    d.wait();
    assert_eq!(only(&by_key), Ok(vec![1, 2, 5, 10]));
    assert_eq!(only(&by_name), only(&by_key));
    assert_eq!(only(&seed), only(&by_key));
    assert_eq!(only(&legacy), Ok(vec![0, 2, 4]));
}

#[test]
fn a_key_with_the_wrong_types_for_its_handler_is_refused_at_the_call() {
    // The key's types are checked against the handler's registration.
    const WRONG: Job<u32, u64> = Job::new("square");
    let d = dispatcher(1);
    let err = d.job(WRONG, 4).tracked(1, |_| {}).unwrap_err();
    assert!(matches!(err, Error::ArgumentType { .. }), "{err:?}");
    assert_eq!(d.in_flight(), 0);
}

#[test]
fn every_dispatch_returns_a_distinct_id_that_goes_stale_when_reported() {
    let mut d = dispatcher(2);
    let ran = Arc::new(AtomicUsize::new(0));
    let ids: Vec<JobId> = vec![
        d.job(SQUARE, 10).tracked(0, |_| {}).unwrap(),
        d.job(SQUARE, 10).deferred().tracked(0, |_| {}).unwrap(),
        d.job(COUNT, 10).detached(Arc::clone(&ran)).unwrap(),
        d.job(COUNT, 10)
            .deferred()
            .detached(Arc::clone(&ran))
            .unwrap(),
        d.dispatch("square", 10, |_: Result<Vec<u64>, Error>| {}, None, 0_u64)
            .unwrap(),
        d.dispatch_detached("count", 10, None, Arc::clone(&ran))
            .unwrap(),
    ];
    for (i, a) in ids.iter().enumerate() {
        for b in &ids[i + 1..] {
            assert_ne!(a, b);
        }
    }
    assert_eq!(d.in_flight(), ids.len(), "one count for every kind of job");
    d.wait();
    assert_eq!(ran.load(Ordering::SeqCst), 30);
    for id in ids {
        assert_eq!(d.progress(id), None);
        assert!(!d.cancel(id));
        d.wait_for(id); // returns at once
    }
    assert_eq!(d.in_flight(), 0);
}

#[test]
fn progress_counts_finished_items() {
    let mut d = dispatcher(1);
    let gate = Gate::new();
    let _open = OpenOnDrop(Arc::clone(&gate));
    let id = d
        .job(HELD, 5)
        .batch(1)
        .tracked(Arc::clone(&gate), |_| {})
        .unwrap();
    gate.await_arrivals(1);
    // Item 0 is running, nothing has finished.
    assert_eq!(d.progress(id), Some(Progress { done: 0, total: 5 }));
    gate.open();
    d.wait_for(id);
    assert_eq!(d.progress(id), None);
}

#[test]
fn cancel_skips_unclaimed_items_and_lets_running_ones_finish() {
    let mut d = dispatcher(1);
    let gate = Gate::new();
    let _open = OpenOnDrop(Arc::clone(&gate));
    let (calls, cb) = sink::<usize>();
    let id = d
        .job(HELD, 100)
        .batch(1)
        .tracked(Arc::clone(&gate), cb)
        .unwrap();
    gate.await_arrivals(1); // item 0 is running; 1..100 are unclaimed
    assert!(d.cancel(id));
    assert_eq!(
        d.progress(id),
        Some(Progress {
            done: 99,
            total: 100
        }),
        "the skipped items count as done at once"
    );
    assert!(!d.cancel(id), "a second cancel has nothing left to skip");
    gate.open();
    d.wait_for(id);
    assert_eq!(
        only(&calls),
        Err(Error::Cancelled {
            job: "held".to_owned()
        })
    );
    assert_eq!(gate.arrived.load(Ordering::SeqCst), 1);
}

#[test]
fn a_cancelled_deferred_job_never_runs() {
    let mut d = dispatcher(2);
    let ran = Arc::new(AtomicUsize::new(0));
    let tracked_ran = Rc::new(RefCell::new(None));
    let slot = Rc::clone(&tracked_ran);
    let a = d
        .job(SQUARE, 50)
        .deferred()
        .tracked(0, move |buf| *slot.borrow_mut() = Some(buf))
        .unwrap();
    let b = d
        .job(COUNT, 50)
        .deferred()
        .detached(Arc::clone(&ran))
        .unwrap();
    assert!(d.cancel(a) && d.cancel(b));
    d.wait();
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    assert!(d.take_detached_errors().is_empty(), "a cancel is no error");
    assert!(matches!(
        tracked_ran.borrow_mut().take(),
        Some(Err(Error::Cancelled { .. }))
    ));
    assert_eq!(d.in_flight(), 0);
}

#[test]
fn cancelling_a_running_detached_job_skips_the_rest() {
    let mut d = dispatcher(1);
    let gate = Gate::new();
    let _open = OpenOnDrop(Arc::clone(&gate));
    let ran = Arc::new(AtomicUsize::new(0));
    let id = d
        .job(HELD_DETACHED, 40)
        .batch(1)
        .detached((Arc::clone(&gate), Arc::clone(&ran)))
        .unwrap();
    gate.await_arrivals(1);
    assert!(d.cancel(id));
    gate.open();
    d.wait_for(id);
    assert_eq!(ran.load(Ordering::SeqCst), 1, "only the running item ran");
    assert_eq!(d.progress(id), None);
}

/// Cancel races the actors: whichever way it goes, the callback fires once
/// and agrees with what `cancel` returned.
#[test]
fn cancel_racing_completion_is_consistent() {
    let mut d = dispatcher(2);
    let rounds = if cfg!(miri) { 10 } else { 2_000 };
    for round in 0..rounds {
        let items = 1 + round % 64;
        let (calls, cb) = sink::<u64>();
        let id = d.job(SQUARE, items).batch(1).tracked(0, cb).unwrap();
        // Let the actors get a varying head start.
        for _ in 0..round % 7 {
            std::thread::yield_now();
        }
        let cancelled = d.cancel(id);
        d.wait_for(id);
        match only(&calls) {
            Ok(buf) => {
                assert!(!cancelled, "round {round}: cancelled but Ok");
                assert_eq!(buf.len(), items);
            }
            Err(Error::Cancelled { .. }) => assert!(cancelled, "round {round}"),
            Err(other) => panic!("round {round}: {other:?}"),
        }
    }
    assert_eq!(d.in_flight(), 0);
}

#[test]
fn a_panic_before_cancel_wins_and_cancel_reports_false() {
    const BOOM: Job<(), u8> = Job::new("boom");
    let mut d = Dispatcher::new(1, |k: &mut Kernel| {
        k.on(BOOM, |id, _| {
            assert!(id != 0, "item zero");
            1
        });
    })
    .unwrap();
    let (calls, cb) = sink();
    let id = d.job(BOOM, 1).tracked((), cb).unwrap();
    d.wait();
    assert!(!d.cancel(id));
    assert!(matches!(
        only(&calls),
        Err(Error::HandlerPanicked { item: 0, .. })
    ));
}

#[test]
fn wait_for_returns_while_other_jobs_still_run() {
    let mut d = dispatcher(2);
    let gate = Gate::new();
    let _open = OpenOnDrop(Arc::clone(&gate));
    let held = d.job(HELD, 1).tracked(Arc::clone(&gate), |_| {}).unwrap();
    gate.await_arrivals(1);
    let (calls, cb) = sink();
    let quick = d.job(SQUARE, 1_000).tracked(3, cb).unwrap();
    d.wait_for(quick);
    assert_eq!(only(&calls).map(|buf| buf[10]), Ok(103));
    assert!(
        d.progress(held).is_some(),
        "the held job is still in flight"
    );
    gate.open();
    d.wait_for(held);
    assert_eq!(d.in_flight(), 0);
}

#[test]
fn reuse_writes_results_into_the_given_storage() {
    let mut d = dispatcher(2);
    let spare: Rc<RefCell<Vec<u64>>> = Rc::new(RefCell::new(Vec::with_capacity(256)));
    let storage = spare.borrow().as_ptr();
    for frame in 0..20_u64 {
        let back = Rc::clone(&spare);
        let buffer = spare.take();
        d.job(SQUARE, 256)
            .reuse(buffer)
            .tracked(frame, move |buf| *back.borrow_mut() = buf.unwrap())
            .unwrap();
        d.wait();
        let buf = spare.borrow();
        assert_eq!(buf.len(), 256);
        assert_eq!(buf[9], 81 + frame);
        assert_eq!(buf.as_ptr(), storage, "frame {frame} reused the storage");
    }
    // A buffer too small grows; old contents are dropped first.
    let (calls, cb) = sink();
    d.job(SQUARE, 3)
        .reuse(vec![7, 7, 7, 7, 7])
        .tracked(0, cb)
        .unwrap();
    d.job(SQUARE, 600)
        .reuse(spare.take())
        .tracked(0, |buf| assert_eq!(buf.unwrap().len(), 600))
        .unwrap();
    d.wait();
    assert_eq!(only(&calls), Ok(vec![0, 1, 4]));
}

#[test]
fn a_handle_cancels_from_a_callback() {
    let mut d = dispatcher(1);
    let handle = d.handle();
    let cancelled = Rc::new(RefCell::new(None));
    let seen = Rc::clone(&cancelled);
    let (late, cb) = sink::<u64>();
    let victim = d.job(SQUARE, 10).deferred().tracked(0, cb).unwrap();
    d.job(SQUARE, 1)
        .tracked(0, move |_| *seen.borrow_mut() = Some(handle.cancel(victim)))
        .unwrap();
    d.wait();
    // The victim may have been fully claimed by then: the outcome agrees
    // with what `cancel` said either way.
    let said = cancelled.borrow_mut().take();
    match (said, only(&late)) {
        (Some(false), Ok(buf)) => assert_eq!(buf.len(), 10),
        (Some(true), Err(Error::Cancelled { .. })) => {}
        other => panic!("{other:?}"),
    }
}

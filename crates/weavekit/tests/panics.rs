//! Handler panics: the tracked callback gets `Err(HandlerPanicked)` exactly
//! once naming the lowest failing item, produced results are dropped exactly
//! once, detached panics are collected by `take_detached_errors`, and the
//! actors serve the next job.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::{check_probe, probe_worker, scaled, sink, Calls, DropCounter, Tracked, XorShift};
use weavekit::{Dispatcher, Error, Kernel};

/// Arguments of the `"risky"` jobs: which items panic, and the drop counter
/// of the results.
struct Plan {
    fail: Vec<bool>,
    counter: Arc<DropCounter>,
}

impl Plan {
    fn new(items: usize, failing: &[usize]) -> Arc<Plan> {
        let mut fail = vec![false; items];
        for &i in failing {
            fail[i] = true;
        }
        Arc::new(Plan {
            fail,
            counter: Arc::default(),
        })
    }
}

fn risky_worker(k: &mut Kernel) {
    probe_worker(k);
    k.on("risky", |id: usize, plan: &Arc<Plan>| {
        if plan.fail[id] {
            panic!("risky item {id} failed");
        }
        Tracked::new(id, &plan.counter)
    });
    k.on("plain", |id: usize, plan: &Arc<Plan>| {
        if plan.fail[id] {
            panic!("plain item {id} failed");
        }
        id
    });
    k.on_detached("risky_detached", |id: usize, plan: &Arc<Plan>| {
        if plan.fail[id] {
            panic!("detached item {id} failed");
        }
        drop(Tracked::new(id, &plan.counter));
    });
    k.on("odd_payload", |id: usize, _: &()| -> u8 {
        if id == 2 {
            std::panic::panic_any(id);
        }
        0
    });
}

fn risky(actors: usize) -> Dispatcher {
    Dispatcher::new(actors, risky_worker).unwrap()
}

/// Dispatches `"risky"` (results with a drop counter) over `items` with
/// `failing` items and waits; returns the plan and the callback record.
fn run_risky(
    d: &mut Dispatcher,
    items: usize,
    failing: &[usize],
    batch: Option<usize>,
) -> (Arc<Plan>, Calls<Tracked>) {
    run_job(d, "risky", items, failing, batch)
}

/// As [`run_risky`], for `"plain"` (results without `Drop`).
fn run_plain(
    d: &mut Dispatcher,
    items: usize,
    failing: &[usize],
    batch: Option<usize>,
) -> Calls<usize> {
    run_job(d, "plain", items, failing, batch).1
}

fn run_job<R: Send + 'static>(
    d: &mut Dispatcher,
    job: &str,
    items: usize,
    failing: &[usize],
    batch: Option<usize>,
) -> (Arc<Plan>, Calls<R>) {
    let plan = Plan::new(items, failing);
    let (calls, callback) = sink::<R>();
    d.dispatch(job, items, callback, batch, Arc::clone(&plan))
        .unwrap();
    d.wait();
    assert_eq!(d.in_flight(), 0);
    (plan, calls)
}

/// Panics unless the callback fired exactly once, with the panic of `job`
/// on `item`.
fn expect_panicked<R>(calls: &Calls<R>, job: &str, item: usize) {
    let calls = calls.borrow();
    assert_eq!(calls.len(), 1, "the callback fires exactly once");
    match &calls[0] {
        Err(err) => assert_eq!(
            *err,
            Error::HandlerPanicked {
                job: job.to_owned(),
                item,
                message: format!("{job} item {item} failed"),
            }
        ),
        Ok(buf) => panic!("expected a panic on item {item}, got {} results", buf.len()),
    }
}

// Regression: a failed tracked job once dropped its failed batch's slots a
// second time (`first_failure` removed the failure record before
// `written_ranges` read it), crashing with results that have a `Drop`. The
// `Tracked` drop counter and the `String` test below catch that.

#[test]
fn handler_panic_reaches_the_callback_once() {
    let mut d = risky(4);
    for batch in [None, Some(1), Some(5), Some(1000)] {
        let calls = run_plain(&mut d, 100, &[37], batch);
        expect_panicked(&calls, "plain", 37);
        let text = calls.borrow()[0].as_ref().unwrap_err().to_string();
        assert!(text.contains("plain") && text.contains("37"), "{text}");
    }
    d.wait();
    assert_eq!(
        d.take_detached_errors(),
        vec![],
        "tracked panics are not detached errors"
    );
}

#[test]
fn handler_panic_with_drop_results_drops_each_produced_result_once() {
    let mut d = risky(4);
    for batch in [None, Some(1), Some(5), Some(1000)] {
        let (plan, calls) = run_risky(&mut d, 100, &[37], batch);
        expect_panicked(&calls, "risky", 37);
        // Only the results that were produced exist, and all are dropped.
        assert_eq!(
            plan.counter.made(),
            plan.counter.dropped(),
            "batch {batch:?}"
        );
    }
}

#[test]
fn handler_panic_with_string_results_does_not_crash() {
    // The smallest reproduction of that bug, with an ordinary `String`.
    let mut d = Dispatcher::new(1, |k: &mut Kernel| {
        k.on("s", |id: usize, _: &()| {
            assert!(id != 5, "five");
            id.to_string()
        });
    })
    .unwrap();
    let (calls, callback) = sink::<String>();
    d.dispatch("s", 10, callback, Some(1), ()).unwrap();
    d.wait();
    assert!(matches!(
        calls.borrow()[0],
        Err(Error::HandlerPanicked { item: 5, .. })
    ));
}

#[test]
fn panic_on_the_first_and_last_items() {
    let mut d = risky(3);
    for batch in [None, Some(1), Some(4)] {
        let calls = run_plain(&mut d, 50, &[0], batch);
        expect_panicked(&calls, "plain", 0);
        let calls = run_plain(&mut d, 50, &[49], batch);
        expect_panicked(&calls, "plain", 49);
        let calls = run_plain(&mut d, 1, &[0], batch);
        expect_panicked(&calls, "plain", 0);
    }
}

#[test]
fn the_actor_serves_the_next_job_after_a_panic() {
    // With one actor, the actor that panicked is the one that must go on.
    for actors in [1, 4] {
        let mut d = risky(actors);
        for round in 0..scaled(5, 2) {
            let all: Vec<usize> = (0..20).collect();
            let calls = run_plain(&mut d, 20, &all, Some(1));
            expect_panicked(&calls, "plain", 0);
            check_probe(&mut d, 200, None, round as u64);
            let (plan, calls) = run_risky(&mut d, 30, &[], Some(2));
            let calls = calls.borrow();
            let buf = calls[0].as_ref().unwrap();
            assert_eq!(buf.len(), 30);
            assert!(buf.iter().enumerate().all(|(i, t)| t.id == i));
            assert_eq!(plan.counter.made(), 30);
        }
    }
}

/// Random jobs with several failing items: (items, failing, batch).
fn random_failures(seed: u64, rounds: usize) -> Vec<(usize, Vec<usize>, Option<usize>)> {
    let mut rng = XorShift::new(seed);
    (0..rounds)
        .map(|round| {
            let items = rng.range(1, 400);
            let failing: Vec<usize> = (0..rng.range(1, 6)).map(|_| rng.below(items)).collect();
            let batch = match round % 3 {
                0 => None,
                1 => Some(1),
                _ => Some(rng.range(1, 50)),
            };
            (items, failing, batch)
        })
        .collect()
}

#[test]
fn several_panics_report_the_lowest_failing_item() {
    // Items are claimed in increasing order, so the batch holding the lowest
    // failing item is always claimed and run before the job is cancelled:
    // the reported item is exactly the lowest failing one.
    let mut d = risky(4);
    for (items, failing, batch) in random_failures(0xBAD5_EED5, scaled(60, 4)) {
        let lowest = *failing.iter().min().unwrap();
        let calls = run_plain(&mut d, items, &failing, batch);
        expect_panicked(&calls, "plain", lowest);
    }
}

#[test]
fn results_are_dropped_exactly_once_on_failure() {
    let mut d = risky(4);
    for (items, failing, batch) in random_failures(0xD0D0, scaled(60, 4)) {
        let lowest = *failing.iter().min().unwrap();
        let (plan, calls) = run_risky(&mut d, items, &failing, batch);
        expect_panicked(&calls, "risky", lowest);
        assert_eq!(plan.counter.made(), plan.counter.dropped());
        assert!(plan.counter.made() < items);
    }
}

#[test]
fn results_are_dropped_exactly_once_on_success() {
    let mut d = risky(4);
    for batch in [None, Some(1), Some(7)] {
        let items = scaled(1000, 30);
        let (plan, calls) = run_risky(&mut d, items, &[], batch);
        assert_eq!(plan.counter.made(), items, "one result per item");
        assert_eq!(plan.counter.dropped(), 0, "the user owns the results");
        {
            let calls = calls.borrow();
            let buf = calls[0].as_ref().unwrap();
            assert_eq!(buf.len(), items);
            assert!(buf.iter().enumerate().all(|(i, t)| t.id == i));
        }
        calls.borrow_mut().clear();
        assert_eq!(
            plan.counter.dropped(),
            items,
            "each dropped once with the Vec"
        );
    }
}

#[test]
fn detached_dispatch_of_tracked_handler_drops_every_result() {
    let mut d = risky(4);
    let plan = Plan::new(500, &[]);
    d.dispatch_detached("risky", 500, Some(3), Arc::clone(&plan))
        .unwrap();
    d.wait();
    assert_eq!(plan.counter.made(), 500);
    assert_eq!(plan.counter.dropped(), 500);
    assert!(d.take_detached_errors().is_empty());
}

#[test]
fn detached_panics_are_collected_with_job_and_item() {
    let mut d = risky(4);
    let plan = Plan::new(100, &[42]);
    d.dispatch_detached("risky_detached", 100, Some(1), Arc::clone(&plan))
        .unwrap();
    d.wait(); // never panics
    assert_eq!(d.poll(), 0); // never panics
    assert_eq!(
        d.take_detached_errors(),
        vec![Error::HandlerPanicked {
            job: "risky_detached".to_owned(),
            item: 42,
            message: "detached item 42 failed".to_owned(),
        }]
    );
    assert!(d.take_detached_errors().is_empty(), "taken errors are gone");
    check_probe(&mut d, 100, Some(1), 0);
}

#[test]
fn detached_panics_of_several_jobs_and_items() {
    let mut d = risky(4);
    // A tracked handler dispatched detached, an on_detached handler, and a
    // deferred one; every error names its job and a failing item.
    let a = Plan::new(50, &[10, 30]);
    let b = Plan::new(50, &[5]);
    let c = Plan::new(50, &[0, 1, 2]);
    d.dispatch_detached("risky", 50, Some(1), Arc::clone(&a))
        .unwrap();
    d.dispatch_detached("risky_detached", 50, None, Arc::clone(&b))
        .unwrap();
    d.dispatch_detached_deferred("risky_detached", 50, Some(2), Arc::clone(&c))
        .unwrap();
    d.wait();
    let errors = d.take_detached_errors();
    let mut by_job: Vec<(String, usize)> = Vec::new();
    for err in &errors {
        match err {
            Error::HandlerPanicked { job, item, message } => {
                assert!(
                    message.contains(&format!("item {item} failed")),
                    "{message}"
                );
                by_job.push((job.clone(), *item));
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    let items_of = |plan: &Arc<Plan>, job: &str| -> Vec<usize> {
        let _ = plan;
        by_job
            .iter()
            .filter(|(j, _)| j == job)
            .map(|(_, i)| *i)
            .collect()
    };
    // Job `a`: item 10 always fails (lowest); item 30 may have been claimed
    // before the cancel.
    let risky_items = items_of(&a, "risky");
    assert_eq!(risky_items.first(), Some(&10), "{errors:?}");
    assert!(
        risky_items.iter().all(|i| [10, 30].contains(i)),
        "{errors:?}"
    );
    let detached_items = items_of(&b, "risky_detached");
    assert!(detached_items.contains(&5), "{errors:?}");
    assert!(detached_items.contains(&0), "{errors:?}");
    assert!(
        detached_items.iter().all(|i| [5, 0, 1, 2].contains(i)),
        "{errors:?}"
    );
    // Results produced before the cancel were dropped.
    assert_eq!(a.counter.made(), a.counter.dropped());
}

#[test]
fn undrained_detached_panics_never_panic_in_drop() {
    for _ in 0..scaled(5, 1) {
        let mut d = risky(2);
        let plan = Plan::new(20, &[3, 4, 5]);
        d.dispatch_detached("risky_detached", 20, Some(1), Arc::clone(&plan))
            .unwrap();
        d.dispatch_detached_deferred("risky_detached", 20, Some(1), plan)
            .unwrap();
        drop(d); // reports on stderr, must not panic
    }
}

#[test]
fn non_string_panic_payload_is_still_reported() {
    let mut d = risky(2);
    let (calls, callback) = sink::<u8>();
    d.dispatch("odd_payload", 10, callback, Some(1), ())
        .unwrap();
    d.wait();
    let calls = calls.borrow();
    assert_eq!(calls.len(), 1);
    match &calls[0] {
        Err(Error::HandlerPanicked { job, item, message }) => {
            assert_eq!((job.as_str(), *item), ("odd_payload", 2));
            // The payload's value and where it was raised are kept.
            assert!(
                message.starts_with("2 (a non-string panic payload, raised at "),
                "{message}"
            );
            assert!(message.contains("panics.rs:"), "{message}");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn panicking_jobs_interleaved_with_good_ones() {
    let mut d = risky(4);
    let jobs = scaled(100, 6);
    let ok_fired = Arc::new(AtomicUsize::new(0));
    let mut failing = Vec::new();
    for job in 0..jobs {
        if job % 3 == 0 {
            let (calls, callback) = sink::<usize>();
            d.dispatch("plain", 64, callback, Some(4), Plan::new(64, &[job % 64]))
                .unwrap();
            failing.push((job % 64, calls));
        } else {
            let fired = Arc::clone(&ok_fired);
            d.dispatch(
                "risky",
                64,
                move |r: Result<Vec<Tracked>, Error>| {
                    assert_eq!(r.unwrap().len(), 64);
                    fired.fetch_add(1, Ordering::Relaxed);
                },
                None,
                Plan::new(64, &[]),
            )
            .unwrap();
        }
    }
    d.wait();
    assert_eq!(ok_fired.load(Ordering::Relaxed), jobs - failing.len());
    for (item, calls) in &failing {
        expect_panicked(calls, "plain", *item);
    }
}

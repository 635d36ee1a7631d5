//! When things happen: callbacks fire only inside poll / wait / destroy /
//! drop, on the master; poll never blocks; deferred jobs start at the next
//! poll, in FIFO order; callbacks chain follow-up jobs through a handle;
//! wait, destroy and drop run everything to the end.

mod common;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{
    assert_probe_buffer, check_probe, only, panic_message, probe_worker, scaled, sink, Gate,
    OpenOnDrop, Probe,
};
use weavekit::{DispatchHandle, Dispatcher, Error, Kernel};

/// A shared log of (tag, item) pairs, written by the `"log"` handlers.
type Log = Arc<Mutex<Vec<(u32, usize)>>>;

/// Probe handlers plus:
/// - `"log"` (tracked, `(Log, u32)` -> `usize`) and `"log_detached"`
///   (detached): append `(tag, id)` to the log;
/// - `"gate"` (tracked, `Arc<Gate>` -> `usize`): blocks until the gate opens;
/// - `"count"` (detached, `Arc<AtomicUsize>`): counts calls.
fn worker(k: &mut Kernel) {
    probe_worker(k);
    k.on("log", |id: usize, (log, tag): &(Log, u32)| {
        log.lock().unwrap().push((*tag, id));
        id
    });
    k.on_detached("log_detached", |id: usize, (log, tag): &(Log, u32)| {
        log.lock().unwrap().push((*tag, id));
    });
    k.on("gate", |id: usize, gate: &Arc<Gate>| {
        gate.pass();
        id
    });
    k.on_detached("count", |_: usize, n: &Arc<AtomicUsize>| {
        n.fetch_add(1, Ordering::SeqCst);
    });
}

fn dispatcher(actors: usize) -> Dispatcher {
    Dispatcher::new(actors, worker).unwrap()
}

fn tags(log: &Log) -> Vec<u32> {
    log.lock().unwrap().iter().map(|(tag, _)| *tag).collect()
}

/// A tracked callback that counts its calls, checking the result is `Ok`.
fn counting<R: 'static>(fired: &Rc<Cell<usize>>) -> impl FnOnce(Result<Vec<R>, Error>) + 'static {
    let fired = Rc::clone(fired);
    move |result| {
        result.expect("job failed");
        fired.set(fired.get() + 1);
    }
}

#[test]
fn zero_items_fire_an_empty_buffer_at_the_next_poll_exactly_once() {
    let mut d = dispatcher(2);
    let (calls, callback) = sink::<u64>();
    d.dispatch("probe", 0, callback, None, Probe::new(0, 0))
        .unwrap();
    assert!(calls.borrow().is_empty(), "not inside dispatch");
    assert_eq!(d.in_flight(), 1);
    assert_eq!(d.poll(), 1);
    assert_eq!(only(&calls), Ok(vec![]));
    assert_eq!(d.poll(), 0);
    d.wait();
    assert_eq!(calls.borrow().len(), 1, "exactly once");
    assert_eq!(d.in_flight(), 0);

    // Through wait, with a batch size, and deferred.
    let (calls, callback) = sink::<u64>();
    d.dispatch("probe", 0, callback, Some(3), Probe::new(0, 0))
        .unwrap();
    let (deferred, callback) = sink::<u64>();
    d.dispatch_deferred("probe", 0, callback, None, Probe::new(0, 0))
        .unwrap();
    assert!(calls.borrow().is_empty() && deferred.borrow().is_empty());
    d.wait();
    assert_eq!(only(&calls), Ok(vec![]));
    assert_eq!(only(&deferred), Ok(vec![]));
}

#[test]
fn zero_item_detached_jobs_are_no_ops() {
    let mut d = dispatcher(2);
    let n = Arc::new(AtomicUsize::new(0));
    d.dispatch_detached("count", 0, None, Arc::clone(&n))
        .unwrap();
    assert_eq!(d.in_flight(), 0);
    d.dispatch_detached("count", 0, Some(4), Arc::clone(&n))
        .unwrap();
    d.dispatch_detached_deferred("count", 0, None, Arc::clone(&n))
        .unwrap();
    assert_eq!(d.poll(), 0, "detached jobs fire no callback");
    d.wait();
    assert_eq!(d.in_flight(), 0);
    assert_eq!(n.load(Ordering::SeqCst), 0);
    assert!(d.take_detached_errors().is_empty());
}

#[test]
fn callbacks_fire_only_inside_poll_or_wait_on_the_master() {
    let mut d = dispatcher(2);
    let master = std::thread::current().id();
    let fired = Rc::new(Cell::new(0));
    let probe = Probe::new(50, 1);
    let record = Rc::clone(&fired);
    d.dispatch(
        "probe",
        50,
        move |buf: Result<Vec<u64>, Error>| {
            assert_eq!(std::thread::current().id(), master);
            assert_probe_buffer(&buf.unwrap(), 50, 1, "first");
            record.set(record.get() + 1);
        },
        Some(1),
        Arc::clone(&probe),
    )
    .unwrap();
    // Let every item run; the job is then (about to be) finished, but its
    // callback must still wait for poll.
    while probe
        .hits
        .iter()
        .any(|hits| hits.load(Ordering::Relaxed) == 0)
    {
        std::thread::yield_now();
    }
    assert_eq!(fired.get(), 0);
    // Further dispatches of every kind do not fire it either.
    d.dispatch("probe", 5, counting::<u64>(&fired), None, Probe::new(5, 2))
        .unwrap();
    assert_eq!(fired.get(), 0);
    d.dispatch_deferred("probe", 0, counting::<u64>(&fired), None, Probe::new(0, 2))
        .unwrap();
    d.dispatch_detached("probe_detached", 5, None, Probe::new(5, 2))
        .unwrap();
    d.dispatch_detached_deferred("probe_detached", 5, None, Probe::new(5, 2))
        .unwrap();
    d.handle()
        .dispatch("probe", 0, counting::<u64>(&fired), None, Probe::new(0, 2))
        .unwrap();
    assert_eq!(fired.get(), 0, "no callback fires inside a dispatch call");
    // poll fires them (possibly over several calls).
    let mut polled = 0;
    while polled < 4 {
        polled += d.poll();
        std::thread::yield_now();
    }
    assert_eq!(polled, 4, "poll returns how many callbacks fired");
    assert_eq!(fired.get(), 4);
    d.wait();
    assert_eq!(d.in_flight(), 0);
}

#[test]
fn poll_never_blocks_and_wait_timeout_gives_up() {
    let mut d = dispatcher(2);
    let gate = Gate::new();
    let _guard = OpenOnDrop(Arc::clone(&gate));
    let (calls, callback) = sink::<usize>();
    d.dispatch("gate", 1, callback, None, Arc::clone(&gate))
        .unwrap();
    gate.await_arrivals(1);
    // The only item is held at the gate: poll must return anyway.
    for _ in 0..100 {
        assert_eq!(d.poll(), 0);
    }
    assert_eq!(d.in_flight(), 1);
    assert_eq!(d.wait_timeout(Duration::from_millis(1)), 0);
    assert_eq!(d.wait_timeout(Duration::ZERO), 0);
    assert!(calls.borrow().is_empty());
    // The other actor still serves other jobs meanwhile; poll fires their
    // callbacks while the gated job is in flight.
    let probe = Probe::new(40, 3);
    let (other, callback) = sink::<u64>();
    d.dispatch("probe", 40, callback, None, Arc::clone(&probe))
        .unwrap();
    while other.borrow().is_empty() {
        d.poll();
        std::thread::yield_now();
    }
    assert_probe_buffer(&only(&other).unwrap(), 40, 3, "beside the gate");
    assert_eq!(d.in_flight(), 1);
    assert!(calls.borrow().is_empty());
    gate.open();
    d.wait();
    assert_eq!(only(&calls), Ok(vec![0]));
}

#[test]
fn wait_timeout_returns_at_once_when_nothing_is_in_flight() {
    let mut d = dispatcher(2);
    // If this blocked for the timeout, the test would take an hour.
    assert_eq!(d.wait_timeout(Duration::from_secs(3600)), 0);
    // Detached work only: returns once it is done, with no callback fired.
    let n = Arc::new(AtomicUsize::new(0));
    d.dispatch_detached("count", 100, None, Arc::clone(&n))
        .unwrap();
    while d.in_flight() > 0 {
        assert_eq!(d.wait_timeout(Duration::from_secs(3600)), 0);
    }
    assert_eq!(n.load(Ordering::SeqCst), 100);
    assert_eq!(d.wait_timeout(Duration::from_secs(3600)), 0);
}

#[test]
fn wait_timeout_fires_callbacks() {
    let mut d = dispatcher(2);
    let fired = Rc::new(Cell::new(0));
    let jobs = scaled(50, 5);
    for job in 0..jobs {
        d.dispatch(
            "probe",
            10,
            counting::<u64>(&fired),
            None,
            Probe::new(10, job as u64),
        )
        .unwrap();
    }
    d.dispatch_deferred(
        "probe",
        10,
        counting::<u64>(&fired),
        None,
        Probe::new(10, 0),
    )
    .unwrap();
    let mut total = 0;
    while d.in_flight() > 0 {
        // With tracked work in flight, a long timeout returns as soon as at
        // least one callback fired.
        let n = d.wait_timeout(Duration::from_secs(3600));
        assert!(n >= 1 || d.in_flight() == 0);
        total += n;
    }
    assert_eq!(total, jobs + 1);
    assert_eq!(fired.get(), jobs + 1);
}

#[test]
fn wait_returns_with_nothing_in_flight() {
    let mut d = dispatcher(3);
    d.wait(); // nothing dispatched: returns at once
    let fired = Rc::new(Cell::new(0));
    let n = Arc::new(AtomicUsize::new(0));
    for round in 0..scaled(20, 3) {
        d.dispatch(
            "probe",
            round,
            counting::<u64>(&fired),
            None,
            Probe::new(round, 0),
        )
        .unwrap();
        d.dispatch_deferred(
            "probe",
            round,
            counting::<u64>(&fired),
            Some(2),
            Probe::new(round, 0),
        )
        .unwrap();
        d.dispatch_detached("count", round, None, Arc::clone(&n))
            .unwrap();
        d.dispatch_detached_deferred("count", round, Some(1), Arc::clone(&n))
            .unwrap();
        assert!(d.in_flight() >= 2, "deferred jobs count as in flight");
        d.wait();
        assert_eq!(d.in_flight(), 0);
        assert_eq!(fired.get(), 2 * (round + 1));
        assert_eq!(n.load(Ordering::SeqCst), round * (round + 1));
    }
    d.wait();
    assert_eq!(d.poll(), 0);
}

#[test]
fn deferred_jobs_do_not_start_before_poll() {
    // One actor runs queued jobs in the order they started. A deferred job
    // dispatched *before* an immediate one must run *after* it: it was not
    // started by its dispatch call.
    let mut d = dispatcher(1);
    let log: Log = Arc::default();
    let (deferred, callback) = sink::<usize>();
    d.dispatch_deferred("log", 3, callback, Some(3), (Arc::clone(&log), 1_u32))
        .unwrap();
    d.dispatch_detached_deferred("log_detached", 1, None, (Arc::clone(&log), 2_u32))
        .unwrap();
    assert_eq!(d.in_flight(), 2, "deferred jobs are in flight");
    d.dispatch_detached("log_detached", 2, Some(2), (Arc::clone(&log), 3_u32))
        .unwrap();
    // Wait (without polling) until the immediate job has run.
    while log.lock().unwrap().len() < 2 {
        std::thread::yield_now();
    }
    assert_eq!(tags(&log), vec![3, 3], "no deferred job ran before poll");
    assert!(deferred.borrow().is_empty());
    d.poll();
    d.wait();
    assert_eq!(tags(&log), vec![3, 3, 1, 1, 1, 2]);
    assert_eq!(only(&deferred), Ok(vec![0, 1, 2]));
}

#[test]
fn deferred_dispatches_start_in_fifo_order() {
    let mut d = dispatcher(1);
    let log: Log = Arc::default();
    let h = d.handle();
    let jobs = scaled(40, 8) as u32;
    let fired = Rc::new(Cell::new(0));
    for tag in 0..jobs {
        let items = 1 + tag as usize % 5;
        let args = (Arc::clone(&log), tag);
        // Mix every deferred variant, on the dispatcher and on a handle;
        // each job is one batch.
        match tag % 4 {
            0 => d.dispatch_deferred("log", items, counting::<usize>(&fired), Some(items), args),
            1 => d.dispatch_detached_deferred("log_detached", items, Some(items), args),
            2 => h.dispatch_deferred("log", items, counting::<usize>(&fired), Some(items), args),
            _ => h.dispatch_detached_deferred("log", items, Some(items), args),
        }
        .unwrap();
    }
    assert_eq!(d.in_flight(), jobs as usize);
    d.wait();
    let log = log.lock().unwrap();
    let order: Vec<u32> = log.iter().map(|(tag, _)| *tag).collect();
    let mut sorted = order.clone();
    sorted.sort_unstable();
    assert_eq!(order, sorted, "deferred jobs ran in dispatch order");
    let expected_items: usize = (0..jobs).map(|tag| 1 + tag as usize % 5).sum();
    assert_eq!(log.len(), expected_items);
    assert_eq!(fired.get(), (0..jobs).filter(|t| t % 2 == 0).count());
}

#[test]
fn callbacks_chain_immediate_and_deferred_jobs() {
    let mut d = dispatcher(3);
    let h = d.handle();
    let results: Rc<RefCell<Vec<(&'static str, usize)>>> = Rc::default();
    let r = Rc::clone(&results);
    d.dispatch(
        "probe",
        10,
        move |buf: Result<Vec<u64>, Error>| {
            let n = buf.unwrap().len();
            r.borrow_mut().push(("first", n));
            let r2 = Rc::clone(&r);
            h.dispatch(
                "probe",
                n * 2,
                move |buf: Result<Vec<u64>, Error>| {
                    assert_probe_buffer(&buf.unwrap(), 20, 5, "immediate");
                    r2.borrow_mut().push(("immediate", 20));
                },
                None,
                Probe::new(n * 2, 5),
            )
            .unwrap();
            let r3 = Rc::clone(&r);
            h.dispatch_deferred(
                "probe",
                n * 3,
                move |buf: Result<Vec<u64>, Error>| {
                    assert_probe_buffer(&buf.unwrap(), 30, 6, "deferred");
                    r3.borrow_mut().push(("deferred", 30));
                },
                Some(4),
                Probe::new(n * 3, 6),
            )
            .unwrap();
            h.dispatch_detached("probe_detached", n, None, Probe::new(n, 0))
                .unwrap();
            h.dispatch_detached_deferred("probe_detached", n, None, Probe::new(n, 0))
                .unwrap();
        },
        None,
        Probe::new(10, 0),
    )
    .unwrap();
    d.wait();
    assert_eq!(d.in_flight(), 0);
    let mut results = results.borrow().clone();
    assert_eq!(results.remove(0), ("first", 10));
    results.sort_unstable();
    assert_eq!(results, vec![("deferred", 30), ("immediate", 20)]);
}

/// Dispatches level `level` of a chain whose every callback dispatches the
/// next level, cycling through the dispatch variants, until `depth`.
fn chain(h: &DispatchHandle, level: usize, depth: usize, seen: &Rc<RefCell<Vec<usize>>>) {
    let next = {
        let h = h.clone();
        let seen = Rc::clone(seen);
        move |buf: Result<Vec<u64>, Error>| {
            assert_probe_buffer(&buf.unwrap(), level + 1, level as u64, "chain");
            seen.borrow_mut().push(level);
            if level + 1 < depth {
                chain(&h, level + 1, depth, &seen);
            }
        }
    };
    let probe = Probe::new(level + 1, level as u64);
    if level % 2 == 0 {
        h.dispatch("probe", level + 1, next, None, probe).unwrap();
    } else {
        h.dispatch_deferred("probe", level + 1, next, Some(2), probe)
            .unwrap();
    }
}

#[test]
fn multi_level_chains_run_to_the_end_in_wait() {
    let mut d = dispatcher(2);
    let depth = scaled(30, 6);
    let seen: Rc<RefCell<Vec<usize>>> = Rc::default();
    chain(&d.handle(), 0, depth, &seen);
    // A second, independent chain interleaved with the first.
    let other: Rc<RefCell<Vec<usize>>> = Rc::default();
    chain(&d.handle(), 0, depth / 2, &other);
    d.wait();
    assert_eq!(*seen.borrow(), (0..depth).collect::<Vec<_>>());
    assert_eq!(*other.borrow(), (0..depth / 2).collect::<Vec<_>>());
    assert_eq!(d.in_flight(), 0);
}

#[test]
fn multi_level_chains_advance_through_poll() {
    let mut d = dispatcher(2);
    let depth = scaled(10, 4);
    let seen: Rc<RefCell<Vec<usize>>> = Rc::default();
    chain(&d.handle(), 0, depth, &seen);
    let mut fired = 0;
    while d.in_flight() > 0 {
        fired += d.poll();
        std::thread::yield_now();
    }
    assert_eq!(fired, depth);
    assert_eq!(*seen.borrow(), (0..depth).collect::<Vec<_>>());
}

/// Dispatches a mix of everything, some of it chained, without waiting;
/// returns the expected callback count and the probes that must each run
/// every item once.
fn dispatch_everything(
    d: &mut Dispatcher,
    fired: &Rc<Cell<usize>>,
    chained: &Rc<RefCell<Vec<usize>>>,
) -> (usize, Vec<Arc<Probe>>) {
    let mut callbacks = 0;
    let mut probes = Vec::new();
    for job in 0..scaled(30, 4) {
        let items = job * 3;
        let probe = Probe::new(items, job as u64);
        probes.push(Arc::clone(&probe));
        d.dispatch("probe", items, counting::<u64>(fired), None, probe)
            .unwrap();
        let probe = Probe::new(items, job as u64);
        probes.push(Arc::clone(&probe));
        d.dispatch_deferred("probe", items, counting::<u64>(fired), Some(2), probe)
            .unwrap();
        let probe = Probe::new(items, 0);
        probes.push(Arc::clone(&probe));
        d.dispatch_detached("probe_detached", items, Some(1), probe)
            .unwrap();
        let probe = Probe::new(items, 0);
        probes.push(Arc::clone(&probe));
        d.dispatch_detached_deferred("probe", items, None, probe)
            .unwrap();
        callbacks += 2;
    }
    let depth = scaled(8, 3);
    chain(&d.handle(), 0, depth, chained);
    (callbacks, probes)
}

#[test]
fn drop_drains_every_job_and_fires_every_callback() {
    let fired = Rc::new(Cell::new(0));
    let chained: Rc<RefCell<Vec<usize>>> = Rc::default();
    let mut d = dispatcher(3);
    let (callbacks, probes) = dispatch_everything(&mut d, &fired, &chained);
    drop(d);
    assert_eq!(fired.get(), callbacks);
    assert_eq!(
        chained.borrow().len(),
        scaled(8, 3),
        "chains run to the end"
    );
    for probe in &probes {
        probe.assert_each_ran(1, "drained by drop");
    }
    assert_eq!(Rc::strong_count(&fired), 1, "every callback was consumed");
}

#[test]
fn destroy_drains_every_job_and_fires_every_callback() {
    let fired = Rc::new(Cell::new(0));
    let chained: Rc<RefCell<Vec<usize>>> = Rc::default();
    let mut d = dispatcher(2);
    let (callbacks, probes) = dispatch_everything(&mut d, &fired, &chained);
    let h = d.handle();
    d.destroy();
    assert_eq!(fired.get(), callbacks);
    assert_eq!(chained.borrow().len(), scaled(8, 3));
    for probe in &probes {
        probe.assert_each_ran(1, "drained by destroy");
    }
    assert!(h.is_closed());
}

#[test]
fn destroy_with_a_job_still_running_waits_for_it() {
    let mut d = dispatcher(2);
    let gate = Gate::new();
    let _guard = OpenOnDrop(Arc::clone(&gate));
    let (calls, callback) = sink::<usize>();
    d.dispatch("gate", 4, callback, Some(1), Arc::clone(&gate))
        .unwrap();
    gate.await_arrivals(1);
    // Open the gate from another thread; destroy must wait for the job
    // whatever the interleaving.
    let opener = {
        let gate = Arc::clone(&gate);
        std::thread::spawn(move || gate.open())
    };
    d.destroy();
    opener.join().unwrap();
    assert_eq!(only(&calls), Ok(vec![0, 1, 2, 3]));
}

#[test]
fn everything_is_released_after_destroy() {
    let args_alive = Arc::new(());
    let state_alive = Arc::new(());
    let state = Arc::clone(&state_alive);
    let mut d = Dispatcher::new(3, move |k: &mut Kernel| {
        let mine = Arc::clone(&state);
        k.on("hold", move |id: usize, _: &Arc<()>| {
            let _ = &mine;
            id
        });
    })
    .unwrap();
    let callback_alive = Rc::new(());
    for _ in 0..10 {
        let c = Rc::clone(&callback_alive);
        d.dispatch(
            "hold",
            100,
            move |_: Result<Vec<usize>, Error>| drop(c),
            Some(7),
            Arc::clone(&args_alive),
        )
        .unwrap();
        d.dispatch_detached("hold", 100, None, Arc::clone(&args_alive))
            .unwrap();
    }
    let c = Rc::clone(&callback_alive);
    d.dispatch_deferred(
        "hold",
        5,
        move |_: Result<Vec<usize>, Error>| drop(c),
        None,
        Arc::clone(&args_alive),
    )
    .unwrap();
    d.destroy();
    assert_eq!(Rc::strong_count(&callback_alive), 1, "callbacks dropped");
    assert_eq!(Arc::strong_count(&args_alive), 1, "job arguments dropped");
    assert_eq!(Arc::strong_count(&state_alive), 1, "actor state dropped");
}

#[test]
fn a_callback_panic_in_wait_propagates_and_loses_nothing() {
    let mut d = dispatcher(2);
    let fired = Rc::new(Cell::new(0));
    let jobs = 6;
    for job in 0..jobs {
        let fired = Rc::clone(&fired);
        d.dispatch(
            "probe",
            20,
            move |buf: Result<Vec<u64>, Error>| {
                fired.set(fired.get() + 1);
                assert_eq!(buf.unwrap().len(), 20);
                if job == 2 || job == 4 {
                    panic!("callback {job} panicked");
                }
            },
            None,
            Probe::new(20, 0),
        )
        .unwrap();
    }
    let first = panic_message(|| d.wait());
    assert!(first.starts_with("callback "), "{first}");
    // The remaining callbacks fire in later calls; the second panicking one
    // propagates too (from wait or poll), then everything is done.
    let mut panics = 1;
    loop {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| d.wait())) {
            Ok(()) => break,
            Err(_) => panics += 1,
        }
    }
    assert_eq!(panics, 2);
    assert_eq!(fired.get(), jobs, "every callback fired exactly once");
    assert_eq!(d.in_flight(), 0);
    // The dispatcher still works.
    check_probe(&mut d, 30, None, 9);
}

#[test]
fn a_callback_panic_in_poll_propagates_and_loses_nothing() {
    let mut d = dispatcher(2);
    let fired = Rc::new(Cell::new(0));
    for job in 0..4 {
        let fired = Rc::clone(&fired);
        d.dispatch(
            "probe",
            5,
            move |_: Result<Vec<u64>, Error>| {
                fired.set(fired.get() + 1);
                assert!(job != 1, "callback {job} panicked");
            },
            None,
            Probe::new(5, 0),
        )
        .unwrap();
    }
    let mut panics = 0;
    while d.in_flight() > 0 {
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| d.poll())).is_err() {
            panics += 1;
        }
    }
    assert_eq!(panics, 1);
    assert_eq!(fired.get(), 4);
}

#[test]
fn a_callback_panic_during_drop_does_not_panic_and_the_rest_fire() {
    let fired = Rc::new(Cell::new(0));
    {
        let mut d = dispatcher(2);
        for job in 0..5 {
            let fired = Rc::clone(&fired);
            d.dispatch(
                "probe",
                5,
                move |_: Result<Vec<u64>, Error>| {
                    fired.set(fired.get() + 1);
                    assert!(job % 2 == 0, "callback {job} panicked in drop");
                },
                None,
                Probe::new(5, 0),
            )
            .unwrap();
        }
    } // drop: reports the panics on stderr, fires the rest
    assert_eq!(fired.get(), 5);
}

#[test]
fn the_master_is_the_thread_that_created_the_dispatcher() {
    // Completion wake-ups go to the creating thread, wherever that is.
    let handles: Vec<_> = (0..2)
        .map(|t| {
            std::thread::spawn(move || {
                let mut d = dispatcher(2);
                for round in 0..scaled(20, 2) {
                    check_probe(&mut d, 40, Some(3), (t * 100 + round) as u64);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

#[test]
fn several_dispatchers_on_one_master() {
    let mut a = dispatcher(2);
    let mut b = dispatcher(1);
    let hb = b.handle();
    let fired = Rc::new(Cell::new(0));
    let f = Rc::clone(&fired);
    // A callback of `a` chains a job onto `b`.
    a.dispatch(
        "probe",
        10,
        move |buf: Result<Vec<u64>, Error>| {
            let n = buf.unwrap().len();
            hb.dispatch("probe", n, counting::<u64>(&f), None, Probe::new(n, 0))
                .unwrap();
        },
        None,
        Probe::new(10, 0),
    )
    .unwrap();
    b.dispatch(
        "probe",
        10,
        counting::<u64>(&fired),
        None,
        Probe::new(10, 0),
    )
    .unwrap();
    a.wait();
    b.wait();
    assert_eq!(fired.get(), 2);
    assert!(format!("{a:?}").contains("Dispatcher"));
    assert!(format!("{:?}", b.handle()).contains("DispatchHandle"));
}

#[test]
fn dispatch_never_waits_for_busy_actors() {
    let mut d = dispatcher(2);
    let gate = Gate::new();
    let _guard = OpenOnDrop(Arc::clone(&gate));
    let (held, callback) = sink::<usize>();
    d.dispatch("gate", 2, callback, Some(1), Arc::clone(&gate))
        .unwrap();
    // Both actors are now held inside the handler.
    gate.await_arrivals(2);
    let fired = Rc::new(Cell::new(0));
    let n = Arc::new(AtomicUsize::new(0));
    let jobs = scaled(200, 5);
    for job in 0..jobs {
        // Every kind of dispatch returns although no actor is free.
        d.dispatch(
            "probe",
            job,
            counting::<u64>(&fired),
            None,
            Probe::new(job, 0),
        )
        .unwrap();
        d.dispatch_detached("count", job, Some(2), Arc::clone(&n))
            .unwrap();
        d.handle()
            .dispatch_deferred("probe", 3, counting::<u64>(&fired), None, Probe::new(3, 0))
            .unwrap();
    }
    assert_eq!(d.poll(), 1, "only the zero-item job can fire");
    assert_eq!(
        n.load(Ordering::SeqCst),
        0,
        "no actor was free to run anything"
    );
    assert!(held.borrow().is_empty());
    gate.open();
    d.wait();
    assert_eq!(only(&held), Ok(vec![0, 1]));
    assert_eq!(fired.get(), 2 * jobs);
    assert_eq!(n.load(Ordering::SeqCst), (0..jobs).sum::<usize>());
}

#[test]
fn zero_item_jobs_chained_from_a_callback_fire_later() {
    let mut d = dispatcher(2);
    let h = d.handle();
    let inner = Rc::new(Cell::new(0));
    let outer = Rc::new(Cell::new(false));
    let (i, o) = (Rc::clone(&inner), Rc::clone(&outer));
    d.dispatch(
        "probe",
        4,
        move |buf: Result<Vec<u64>, Error>| {
            buf.unwrap();
            h.dispatch("probe", 0, counting::<u64>(&i), None, Probe::new(0, 0))
                .unwrap();
            h.dispatch_deferred("probe", 0, counting::<u64>(&i), None, Probe::new(0, 0))
                .unwrap();
            assert_eq!(i.get(), 0, "not inside the dispatch calls");
            o.set(true);
        },
        None,
        Probe::new(4, 0),
    )
    .unwrap();
    d.wait();
    assert!(outer.get());
    assert_eq!(inner.get(), 2);
    assert_eq!(d.in_flight(), 0);
}

/// Arguments that record when they are dropped.
struct DropFlag(Arc<AtomicUsize>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn destroy_releases_job_arguments_even_while_a_handle_lives() {
    let dropped = Arc::new(AtomicUsize::new(0));
    let dispatcher = Dispatcher::new(2, |k: &mut Kernel| {
        k.on_detached("hold", |_: usize, _: &DropFlag| {});
    })
    .unwrap();
    let handle = dispatcher.handle();
    handle
        .dispatch_detached("hold", 1_000, Some(10), DropFlag(Arc::clone(&dropped)))
        .unwrap();
    dispatcher.destroy();
    assert_eq!(dropped.load(Ordering::SeqCst), 1);
    assert!(handle.is_closed());
}

#[test]
fn a_handle_sees_what_is_in_flight() {
    let mut dispatcher = Dispatcher::new(1, |k: &mut Kernel| {
        k.on("id", |id: usize, _: &()| id);
    })
    .unwrap();
    let handle = dispatcher.handle();
    handle
        .dispatch_deferred("id", 4, |_: Result<Vec<usize>, Error>| {}, None, ())
        .unwrap();
    assert_eq!(handle.in_flight(), 1);
    assert_eq!(dispatcher.in_flight(), 1);
    dispatcher.wait();
    assert_eq!(handle.in_flight(), 0);
}

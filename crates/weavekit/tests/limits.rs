//! The dispatcher's limits and how each failure looks: the builder's
//! options, the actor cap, thread start failures, the actors' stack size,
//! `destroy_timeout` on handlers that never return, and item counts no run
//! can finish.

mod common;

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{only, sink, Gate, OpenOnDrop};
use weavekit::{Dispatcher, Error, Kernel, RunningBatch};

/// Waits until `done` holds, failing the test after a minute (a bound for
/// a broken build, not a speed check).
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < Duration::from_secs(60), "never: {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn new_is_the_builder_with_an_actor_count() {
    for count in [1, 3] {
        let d = Dispatcher::builder()
            .actor_count(count)
            .build(|_: &mut Kernel| {})
            .unwrap();
        assert_eq!(d.actor_count(), count);
        assert_eq!(
            Dispatcher::new(count, |_: &mut Kernel| {})
                .unwrap()
                .actor_count(),
            count
        );
    }
    assert_eq!(
        Dispatcher::builder()
            .actor_count(0)
            .build(|_: &mut Kernel| {})
            .err(),
        Some(Error::NoActors)
    );
}

#[test]
fn the_default_actor_count_is_the_machine_s_parallelism() {
    let machine = std::thread::available_parallelism().map_or(1, |n| n.get());
    let d = Dispatcher::builder().build(|_: &mut Kernel| {}).unwrap();
    assert_eq!(d.actor_count(), machine.min(Dispatcher::MAX_ACTORS));
}

/// Each actor's handler reports its thread's name.
fn name_reporter(kernel: &mut Kernel) {
    let name = std::thread::current().name().map(str::to_owned);
    kernel.on("name", move |_: usize, _: &()| name.clone());
}

/// The thread names of every actor (one item per actor, held at a gate so
/// each actor takes exactly one).
fn actor_names(d: &mut Dispatcher) -> Vec<String> {
    let (calls, callback) = sink::<Option<String>>();
    d.dispatch("name", 64, callback, Some(1), ()).unwrap();
    d.wait();
    let mut names: Vec<String> = only(&calls).unwrap().into_iter().flatten().collect();
    names.sort();
    names.dedup();
    names
}

#[test]
fn actor_threads_are_named() {
    let mut d = Dispatcher::builder()
        .actor_count(2)
        .build(name_reporter)
        .unwrap();
    for name in actor_names(&mut d) {
        assert!(
            ["weave-actor-0", "weave-actor-1"].contains(&name.as_str()),
            "{name}"
        );
    }
    let mut d = Dispatcher::builder()
        .actor_count(2)
        .thread_name(|i| format!("sim/{i}"))
        .build(name_reporter)
        .unwrap();
    for name in actor_names(&mut d) {
        assert!(["sim/0", "sim/1"].contains(&name.as_str()), "{name}");
    }
}

#[test]
fn actor_counts_above_the_cap_are_refused_before_any_thread_starts() {
    let entries = Arc::new(AtomicUsize::new(0));
    for count in [Dispatcher::MAX_ACTORS + 1, 10_000, 100_000, usize::MAX] {
        let seen = Arc::clone(&entries);
        let refused = Dispatcher::builder()
            .actor_count(count)
            .build(move |_: &mut Kernel| {
                seen.fetch_add(1, Ordering::SeqCst);
            });
        assert_eq!(
            refused.err(),
            Some(Error::TooManyActors {
                requested: count,
                max: Dispatcher::MAX_ACTORS
            })
        );
    }
    assert_eq!(entries.load(Ordering::SeqCst), 0, "no entry may have run");
    let message = Error::TooManyActors {
        requested: 100_000,
        max: 1024,
    }
    .to_string();
    assert!(
        message.contains("100000") && message.contains("1024"),
        "{message}"
    );
}

#[test]
fn a_stack_the_system_cannot_map_is_a_spawn_error() {
    let worker = Arc::new(());
    let held = Arc::clone(&worker);
    let refused = Dispatcher::builder()
        .actor_count(2)
        .stack_size(1 << 62)
        .build(move |_: &mut Kernel| {
            let _ = &held;
        });
    match refused {
        Err(Error::Spawn { actor: 0, message }) => assert!(!message.is_empty()),
        other => panic!("expected a spawn error, got {other:?}"),
    }
    // The worker entry (and its captures) is gone: nothing was leaked.
    assert_eq!(Arc::strong_count(&worker), 1);
}

#[test]
fn a_thread_name_with_a_nul_byte_is_a_spawn_error_of_that_actor() {
    let started = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = Arc::clone(&started);
    let refused = Dispatcher::builder()
        .actor_count(3)
        .thread_name(|index| match index {
            1 => "bad\0name".to_string(),
            _ => format!("fine-{index}"),
        })
        .build(move |_: &mut Kernel| {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        });
    match refused {
        Err(Error::Spawn { actor: 1, message }) => {
            assert!(message.contains("NUL"), "{message}")
        }
        other => panic!("expected a spawn error of actor 1, got {other:?}"),
    }
    // Actor 0 may have run its entry before the refusal; it was joined.
    assert!(started.load(std::sync::atomic::Ordering::SeqCst) <= 1);
    assert_eq!(Arc::strong_count(&started), 1, "every started actor joined");
}

#[test]
fn a_large_stack_runs_a_handler_the_default_stack_cannot() {
    // A 4 MiB array returned by value needs several copies of itself on the
    // actor's stack in a debug build (the default stack is 2 MiB).
    const BIG: usize = 4 << 20;
    let mut d = Dispatcher::builder()
        .actor_count(2)
        .stack_size(64 << 20)
        .build(|kernel: &mut Kernel| {
            kernel.on("big", |id: usize, _: &()| -> Box<[u8; BIG]> {
                let value = [id as u8 + 1; BIG];
                Box::new(std::hint::black_box(value))
            });
            kernel.on("big_by_value", |id: usize, _: &()| [id as u8 + 1; BIG]);
        })
        .unwrap();
    let (boxed, callback) = sink::<Box<[u8; BIG]>>();
    d.dispatch("big", 3, callback, Some(1), ()).unwrap();
    let (by_value, callback) = sink::<[u8; BIG]>();
    d.dispatch("big_by_value", 2, callback, Some(1), ())
        .unwrap();
    d.wait();
    let boxed = boxed.borrow_mut().pop().unwrap().unwrap();
    assert!(boxed
        .iter()
        .enumerate()
        .all(|(i, b)| b[0] == i as u8 + 1 && b[BIG - 1] == i as u8 + 1));
    let by_value = by_value.borrow_mut().pop().unwrap().unwrap();
    assert_eq!(by_value.len(), 2);
    assert!(by_value[1].iter().all(|&b| b == 2));
}

#[test]
fn a_tiny_stack_size_is_rounded_up_to_the_system_minimum() {
    let mut d = Dispatcher::builder()
        .actor_count(1)
        .stack_size(0)
        .build(|kernel: &mut Kernel| kernel.on("id", |id: usize, _: &()| id))
        .unwrap();
    let (calls, callback) = sink::<usize>();
    d.dispatch("id", 4, callback, None, ()).unwrap();
    d.wait();
    assert_eq!(only(&calls).unwrap(), [0, 1, 2, 3]);
}

/// Registers `"block"` (held at the gate), `"id"` and `"ids"` (detached).
fn gated_worker(kernel: &mut Kernel) {
    kernel.on("block", |id: usize, gate: &Arc<Gate>| {
        gate.pass();
        id
    });
    kernel.on("id", |id: usize, _: &()| id);
    kernel.on_detached("count", |_: usize, calls: &Arc<AtomicUsize>| {
        calls.fetch_add(1, Ordering::SeqCst);
    });
}

#[test]
fn destroy_timeout_drains_like_destroy_when_there_is_time() {
    let mut d = Dispatcher::new(2, gated_worker).unwrap();
    let fired = Rc::new(Cell::new(0));
    for _ in 0..3 {
        let fired = Rc::clone(&fired);
        d.dispatch_deferred(
            "id",
            1_000,
            move |buf: Result<Vec<usize>, Error>| {
                assert_eq!(buf.unwrap().len(), 1_000);
                fired.set(fired.get() + 1);
            },
            None,
            (),
        )
        .unwrap();
    }
    let calls = Arc::new(AtomicUsize::new(0));
    d.dispatch_detached("count", 500, Some(7), Arc::clone(&calls))
        .unwrap();
    assert_eq!(d.destroy_timeout(Duration::from_secs(60)), Ok(()));
    assert_eq!(fired.get(), 3);
    assert_eq!(calls.load(Ordering::SeqCst), 500);
}

#[test]
fn destroy_timeout_names_what_still_runs_and_leaves_it() {
    let gate = Gate::new();
    let _open = OpenOnDrop(Arc::clone(&gate));
    let mut d = Dispatcher::new(2, gated_worker).unwrap();
    // Both actors are held inside "block" items 0 and 1; item 2 and the
    // "id" job behind it cannot start.
    let (blocked, callback) = sink::<usize>();
    d.dispatch("block", 3, callback, Some(1), Arc::clone(&gate))
        .unwrap();
    gate.await_arrivals(2);
    let (queued, callback) = sink::<usize>();
    d.dispatch("id", 5, callback, None, ()).unwrap();

    let error = d.destroy_timeout(Duration::from_millis(20)).unwrap_err();
    let Error::Stuck {
        timeout,
        running,
        unfinished,
    } = &error
    else {
        panic!("expected Stuck, got {error:?}");
    };
    assert_eq!(*timeout, Duration::from_millis(20));
    let mut items: Vec<(String, std::ops::Range<usize>)> = running
        .iter()
        .map(|batch| (batch.job.clone(), batch.items.clone()))
        .collect();
    items.sort_by_key(|(_, items)| items.start);
    assert_eq!(
        items,
        [("block".to_owned(), 0..1), ("block".to_owned(), 1..2)]
    );
    let mut actors: Vec<usize> = running.iter().map(|batch| batch.actor).collect();
    actors.sort_unstable();
    assert_eq!(actors, [0, 1]);
    assert_eq!(unfinished, &["block", "id"]);
    let message = error.to_string();
    assert!(
        message.contains("job `block` items 0..1 on actor"),
        "{message}"
    );
    assert!(message.contains("`id`"), "{message}");
    // The callbacks of unfinished jobs never fire.
    assert!(blocked.borrow().is_empty() && queued.borrow().is_empty());

    // Released, the handlers return and their actors exit: nothing claims
    // item 2 any more, and the job's arguments (holding the gate) are
    // dropped on the last actor's way out.
    gate.open();
    eventually("the stuck actors release the job", || {
        Arc::strong_count(&gate) == 2
    });
    assert_eq!(gate.arrived.load(Ordering::SeqCst), 2);
    assert!(blocked.borrow().is_empty() && queued.borrow().is_empty());
}

#[test]
fn destroy_timeout_fires_the_callbacks_of_what_could_finish() {
    let gate = Gate::new();
    let _open = OpenOnDrop(Arc::clone(&gate));
    let mut d = Dispatcher::new(2, gated_worker).unwrap();
    let (blocked, callback) = sink::<usize>();
    d.dispatch("block", 1, callback, None, Arc::clone(&gate))
        .unwrap();
    gate.await_arrivals(1);
    // The other actor is free: these finish before the deadline.
    let (done, callback) = sink::<usize>();
    d.dispatch("id", 100, callback, None, ()).unwrap();
    let chained = Rc::new(Cell::new(false));
    let flag = Rc::clone(&chained);
    let handle = d.handle();
    d.dispatch(
        "id",
        10,
        move |first: Result<Vec<usize>, Error>| {
            assert_eq!(first.unwrap().len(), 10);
            handle
                .dispatch_deferred(
                    "id",
                    3,
                    move |second: Result<Vec<usize>, Error>| flag.set(second.is_ok()),
                    None,
                    (),
                )
                .unwrap();
        },
        None,
        (),
    )
    .unwrap();
    let error = d.destroy_timeout(Duration::from_secs(1)).unwrap_err();
    assert!(
        matches!(&error, Error::Stuck { running, unfinished, .. }
            if running == &[RunningBatch { actor: running[0].actor, job: "block".into(), items: 0..1 }]
                && unfinished == &["block"]),
        "{error:?}"
    );
    assert_eq!(only(&done).unwrap().len(), 100);
    assert!(chained.get(), "the chained job finished and fired");
    assert!(blocked.borrow().is_empty());
    gate.open();
}

#[test]
fn destroy_timeout_with_nothing_in_flight_is_ok_at_once() {
    let d = Dispatcher::new(2, gated_worker).unwrap();
    assert_eq!(d.destroy_timeout(Duration::ZERO), Ok(()));
    let d = Dispatcher::new(1, gated_worker).unwrap();
    assert_eq!(d.destroy_timeout(Duration::MAX), Ok(()));
}

#[test]
fn a_job_no_run_can_finish_is_accepted_and_left_by_destroy_timeout() {
    // usize::MAX items: accepted (the count is the caller's to size), and
    // `destroy_timeout` stops the actors at their next batch boundary.
    let calls = Arc::new(AtomicUsize::new(0));
    let mut d = Dispatcher::new(2, gated_worker).unwrap();
    d.dispatch_detached("count", usize::MAX, None, Arc::clone(&calls))
        .unwrap();
    eventually("the job runs", || calls.load(Ordering::SeqCst) > 0);
    let error = d.destroy_timeout(Duration::from_millis(10)).unwrap_err();
    assert!(
        matches!(&error, Error::Stuck { unfinished, .. } if unfinished == &["count"]),
        "{error:?}"
    );
    // The actors stop at their next batch boundary (guided claims are
    // capped) and release the job, arguments included.
    eventually("the actors stop", || Arc::strong_count(&calls) == 1);
}

#[test]
fn a_zero_sized_result_over_usize_max_items_is_accepted() {
    let mut d = Dispatcher::new(1, |kernel: &mut Kernel| {
        kernel.on("unit", |_: usize, stop: &Arc<AtomicUsize>| {
            stop.fetch_add(1, Ordering::Relaxed);
        });
    })
    .unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    let (calls, callback) = sink::<()>();
    d.dispatch("unit", usize::MAX, callback, Some(1_000), Arc::clone(&ran))
        .unwrap();
    eventually("items run", || ran.load(Ordering::Relaxed) >= 1_000);
    assert!(matches!(
        d.destroy_timeout(Duration::ZERO),
        Err(Error::Stuck { .. })
    ));
    assert!(calls.borrow().is_empty());
    eventually("the actor stops", || Arc::strong_count(&ran) == 1);
}

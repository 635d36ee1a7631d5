//! User code that misbehaves in the places the crate cannot stop it from:
//! `Drop` impls that panic, panic payloads that panic when dropped, handler
//! tables registered in different orders, absurd sizes. None of it may hang
//! the dispatcher, kill an actor, abort the process, or panic in the API.

use std::cell::RefCell;
use std::panic::panic_any;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use weavekit::{Dispatcher, Error, Kernel};

/// Panics when dropped (once per value).
struct PanicOnDrop;

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("PanicOnDrop dropped");
        }
    }
}

/// A result that counts drops, and panics in `Drop` when `loud`.
struct Loud {
    loud: bool,
    drops: Arc<AtomicUsize>,
}

impl Drop for Loud {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
        if self.loud && !std::thread::panicking() {
            panic!("loud result dropped");
        }
    }
}

fn sum_job(dispatcher: &mut Dispatcher) -> usize {
    let total = Rc::new(RefCell::new(None));
    let slot = Rc::clone(&total);
    dispatcher
        .dispatch(
            "id",
            100,
            move |buf: Result<Vec<usize>, Error>| {
                *slot.borrow_mut() = Some(buf.unwrap().iter().sum())
            },
            None,
            (),
        )
        .unwrap();
    dispatcher.wait();
    let sum = total.borrow_mut().take();
    sum.expect("callback fired")
}

#[test]
fn arguments_with_a_panicking_drop_kill_no_actor() {
    let mut dispatcher = Dispatcher::new(2, |k: &mut Kernel| {
        k.on("id", |id: usize, _: &()| id);
        k.on_detached("noisy", |_: usize, _: &PanicOnDrop| {});
    })
    .unwrap();
    for _ in 0..4 {
        dispatcher
            .dispatch_detached("noisy", 50, Some(5), PanicOnDrop)
            .unwrap();
        dispatcher.wait();
    }
    assert_eq!(sum_job(&mut dispatcher), 4_950);
}

#[test]
fn a_panic_payload_that_panics_on_drop_still_fails_the_job() {
    let mut dispatcher = Dispatcher::new(2, |k: &mut Kernel| {
        k.on("id", |id: usize, _: &()| id);
        k.on("bad", |id: usize, _: &()| -> u8 {
            if id == 3 {
                panic_any(PanicOnDrop);
            }
            0
        });
    })
    .unwrap();
    let outcome = Rc::new(RefCell::new(None));
    let slot = Rc::clone(&outcome);
    dispatcher
        .dispatch(
            "bad",
            10,
            move |buf: Result<Vec<u8>, Error>| *slot.borrow_mut() = Some(buf),
            Some(1),
            (),
        )
        .unwrap();
    dispatcher.wait();
    let error = outcome.borrow_mut().take().unwrap().unwrap_err();
    assert!(
        matches!(error, Error::HandlerPanicked { item: 3, .. }),
        "{error}"
    );
    assert_eq!(sum_job(&mut dispatcher), 4_950);
}

#[test]
fn an_entry_panic_payload_that_panics_on_drop_fails_new() {
    let result = Dispatcher::new(2, |k: &mut Kernel| {
        if k.actor_index() == 1 {
            panic_any(PanicOnDrop);
        }
    });
    assert!(matches!(
        result,
        Err(Error::WorkerPanicked { actor: 1, .. })
    ));
}

#[test]
fn a_failed_job_with_loud_results_drops_the_rest_and_goes_on() {
    let drops = Arc::new(AtomicUsize::new(0));
    let made = Arc::new(AtomicUsize::new(0));
    let (d, m) = (Arc::clone(&drops), Arc::clone(&made));
    let mut dispatcher = Dispatcher::new(2, move |k: &mut Kernel| {
        let (drops, made) = (Arc::clone(&d), Arc::clone(&m));
        k.on("loud", move |id: usize, _: &()| {
            if id == 40 {
                panic!("item 40");
            }
            made.fetch_add(1, Ordering::SeqCst);
            Loud {
                loud: true,
                drops: Arc::clone(&drops),
            }
        });
        k.on("id", |id: usize, _: &()| id);
    })
    .unwrap();
    let failed = Rc::new(RefCell::new(false));
    let flag = Rc::clone(&failed);
    dispatcher
        .dispatch(
            "loud",
            80,
            move |buf: Result<Vec<Loud>, Error>| *flag.borrow_mut() = buf.is_err(),
            Some(8),
            (),
        )
        .unwrap();
    dispatcher.wait();
    assert!(*failed.borrow());
    assert_eq!(drops.load(Ordering::SeqCst), made.load(Ordering::SeqCst));
    assert_eq!(sum_job(&mut dispatcher), 4_950);
}

#[test]
fn handlers_registered_in_different_orders_agree() {
    let mut dispatcher = Dispatcher::new(3, |k: &mut Kernel| {
        let mut names = vec!["a", "b", "c", "id"];
        names.rotate_left(k.actor_index());
        for name in names {
            if name == "id" {
                k.on("id", |id: usize, _: &()| id);
            } else {
                k.on(name, |_: usize, _: &()| 0_usize);
            }
        }
    })
    .unwrap();
    assert_eq!(sum_job(&mut dispatcher), 4_950);
}

#[test]
fn absurd_actor_counts_are_errors_not_panics() {
    for count in [usize::MAX, 1 << 40, 100_000, Dispatcher::MAX_ACTORS + 1] {
        let result = Dispatcher::new(count, |_: &mut Kernel| {});
        assert_eq!(
            result.err(),
            Some(Error::TooManyActors {
                requested: count,
                max: Dispatcher::MAX_ACTORS
            }),
            "{count}"
        );
    }
}

#[test]
fn an_unbounded_wait_timeout_does_not_overflow() {
    let mut dispatcher = Dispatcher::new(1, |k: &mut Kernel| {
        k.on("id", |id: usize, _: &()| id);
    })
    .unwrap();
    assert_eq!(dispatcher.wait_timeout(Duration::MAX), 0);
    dispatcher
        .dispatch("id", 3, |_: Result<Vec<usize>, Error>| {}, None, ())
        .unwrap();
    assert_eq!(dispatcher.wait_timeout(Duration::MAX), 1);
}

/// Waits until `done` holds, failing the test after a minute (a bound for
/// a broken build, not a speed check).
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !done() {
        assert!(start.elapsed() < Duration::from_secs(60), "never: {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Before the fix, the panic in `Drop` of a tracked job's arguments escaped
/// `wait` whenever the master dropped the last reference (17 runs of 20).
/// Now it never escapes `wait`, `poll` or drop, on whichever thread it
/// happens, and each one is reported once through `take_detached_errors`.
#[test]
fn a_panicking_drop_of_job_arguments_never_escapes_and_is_reported() {
    for round in 0..40 {
        let mut dispatcher = Dispatcher::builder()
            .actor_count(2)
            .quiet_panics(round % 2 == 0)
            .build(|k: &mut Kernel| {
                k.on("echo", |id: usize, _: &PanicOnDrop| id);
                k.on_detached("noisy", |_: usize, _: &PanicOnDrop| {});
            })
            .unwrap();
        let sum = Rc::new(RefCell::new(0));
        let slot = Rc::clone(&sum);
        dispatcher
            .dispatch(
                "echo",
                64,
                move |buf: Result<Vec<usize>, Error>| {
                    *slot.borrow_mut() = buf.unwrap().iter().sum::<usize>()
                },
                Some(1),
                PanicOnDrop,
            )
            .unwrap();
        dispatcher.wait();
        assert_eq!(*sum.borrow(), 2_016, "round {round}");
        dispatcher
            .dispatch_detached("noisy", 64, Some(1), PanicOnDrop)
            .unwrap();
        // No items: the master drops the arguments at once.
        dispatcher
            .dispatch_detached("noisy", 0, None, PanicOnDrop)
            .unwrap();
        dispatcher.poll();
        dispatcher.wait();
        let mut errors = Vec::new();
        eventually("three drop panics are reported", || {
            errors.extend(dispatcher.take_detached_errors());
            errors.len() >= 3
        });
        let mut jobs: Vec<&str> = errors
            .iter()
            .map(|error| match error {
                Error::DropPanicked { job, message } => {
                    assert_eq!(message, "PanicOnDrop dropped", "round {round}");
                    job.as_str()
                }
                other => panic!("round {round}: unexpected {other:?}"),
            })
            .collect();
        jobs.sort_unstable();
        assert_eq!(jobs, ["echo", "noisy", "noisy"], "round {round}");
        dispatcher.destroy();
    }
}

#[test]
fn a_panicking_drop_of_results_the_library_drops_is_reported() {
    let drops = Arc::new(AtomicUsize::new(0));
    let d2 = Arc::clone(&drops);
    let mut dispatcher = Dispatcher::builder()
        .actor_count(2)
        .quiet_panics(true)
        .build(move |k: &mut Kernel| {
            let drops = Arc::clone(&d2);
            k.on("loud", move |id: usize, _: &()| {
                if id == 5 {
                    panic!("item 5");
                }
                Loud {
                    loud: true,
                    drops: Arc::clone(&drops),
                }
            });
        })
        .unwrap();
    let outcome = Rc::new(RefCell::new(None));
    let slot = Rc::clone(&outcome);
    // One batch: items 0..5 are made, then dropped again by the actor.
    dispatcher
        .dispatch(
            "loud",
            10,
            move |buf: Result<Vec<Loud>, Error>| *slot.borrow_mut() = buf.err(),
            Some(10),
            (),
        )
        .unwrap();
    dispatcher.wait();
    let error = outcome.borrow_mut().take().unwrap();
    match error {
        Error::HandlerPanicked {
            item: 5, message, ..
        } => {
            assert!(message.starts_with("item 5"), "{message}");
            assert!(message.contains("loud result dropped"), "{message}");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(drops.load(Ordering::SeqCst), 5);
}

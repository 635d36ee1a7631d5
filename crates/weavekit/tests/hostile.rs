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
    for count in [usize::MAX, 1 << 40] {
        let result = Dispatcher::new(count, |_: &mut Kernel| {});
        assert!(matches!(result, Err(Error::Spawn { .. })), "{count}");
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

//! `quiet_panics`: panics the library catches skip the process's panic hook
//! on a quiet dispatcher and reach it otherwise; the library's own hook
//! chains to the one installed before it. One test in its own process,
//! because the panic hook is global.

use std::panic;
use std::sync::atomic::{AtomicUsize, Ordering};

use weavekit::{Dispatcher, Error, Kernel};

/// Calls of the hook installed before any dispatcher.
static HOOK_CALLS: AtomicUsize = AtomicUsize::new(0);

fn hook_calls() -> usize {
    HOOK_CALLS.load(Ordering::SeqCst)
}

/// Panics in `Drop`, so the library catches it wherever it drops a job.
struct PanicOnDrop;

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        panic!("dropped");
    }
}

fn worker(kernel: &mut Kernel) {
    kernel.on("fail", |_: usize, _: &()| -> u8 {
        panic!("handler failed")
    });
    kernel.on_detached("noop", |_: usize, _: &PanicOnDrop| {});
    kernel.on("opaque", |_: usize, _: &()| -> u8 {
        panic::panic_any(7_u32);
    });
}

/// One failing tracked job, one entry-less drop panic on the master, and a
/// non-string payload; returns the errors.
fn provoke(quiet: bool) -> Vec<Error> {
    let mut d = Dispatcher::builder()
        .actor_count(2)
        .quiet_panics(quiet)
        .build(worker)
        .unwrap();
    let errors = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    for job in ["fail", "opaque"] {
        let sink = std::rc::Rc::clone(&errors);
        d.dispatch(
            job,
            1,
            move |buf: Result<Vec<u8>, Error>| sink.borrow_mut().push(buf.unwrap_err()),
            None,
            (),
        )
        .unwrap();
    }
    d.dispatch_detached("noop", 0, None, PanicOnDrop).unwrap();
    d.wait();
    let mut errors = errors.take();
    errors.extend(d.take_detached_errors());
    errors
}

#[test]
fn quiet_panics_skip_the_hook_and_loud_ones_reach_it() {
    let previous = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        HOOK_CALLS.fetch_add(1, Ordering::SeqCst);
        previous(info);
    }));

    let errors = provoke(true);
    assert_eq!(hook_calls(), 0, "a quiet dispatcher reached the hook");
    assert_eq!(errors.len(), 3, "{errors:?}");
    let by_job = |name: &str| {
        errors
            .iter()
            .find(|error| matches!(error, Error::HandlerPanicked { job, .. } if job == name))
            .cloned()
    };
    assert!(
        matches!(by_job("fail"), Some(Error::HandlerPanicked { message, .. }) if message == "handler failed")
    );
    // The library's hook saw the non-string payload: value and location.
    match &by_job("opaque") {
        Some(Error::HandlerPanicked { message, .. }) => {
            assert!(
                message.starts_with("7 (a non-string panic payload, raised at "),
                "{message}"
            );
            assert!(message.contains("quiet.rs:"), "{message}");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(matches!(&errors[2], Error::DropPanicked { job, .. } if job == "noop"));

    // A quiet worker entry panic is quiet too.
    let refused = Dispatcher::builder()
        .actor_count(1)
        .quiet_panics(true)
        .build(|_: &mut Kernel| panic!("entry failed"));
    assert!(matches!(
        refused,
        Err(Error::WorkerPanicked { actor: 0, .. })
    ));
    assert_eq!(hook_calls(), 0);

    // A loud dispatcher: every caught panic goes through the chained hook.
    let errors = provoke(false);
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert_eq!(hook_calls(), 3);

    // Panics outside the library reach the hook whatever was built.
    let _ = panic::catch_unwind(|| panic!("outside"));
    assert_eq!(hook_calls(), 4);
}

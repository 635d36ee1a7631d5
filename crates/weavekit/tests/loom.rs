//! Loom models of the completion and shutdown protocols, run through the
//! public API: `RUSTFLAGS="--cfg loom" cargo test -p weavekit --test loom --release`.
//!
//! Under loom every lock, atomic, park and spawn of the crate is loom's, so
//! these explore every interleaving of master and actors (bounded by
//! `LOOM_MAX_PREEMPTIONS`) and fail on a deadlock (a lost wake-up), a leak
//! or a callback that fires twice or never.
#![cfg(loom)]

use std::cell::Cell;
use std::rc::Rc;

use weavekit::{Dispatcher, Error, Kernel};

fn worker(kernel: &mut Kernel) {
    kernel.on("id", |id: usize, _: &()| id);
    kernel.on_detached("touch", |_: usize, _: &Tracked| {});
}

/// Job arguments that count their drops, to show nothing is leaked.
struct Tracked(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl Drop for Tracked {
    fn drop(&mut self) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Dispatches `items` items of `id` (batch `batch`), deferred or not; the
/// returned counter counts the callback's firings, which check the buffer.
fn counted(dispatcher: &mut Dispatcher, items: usize, deferred: bool) -> Rc<Cell<usize>> {
    let fired = Rc::new(Cell::new(0));
    let seen = Rc::clone(&fired);
    let callback = move |buf: Result<Vec<usize>, Error>| {
        assert_eq!(buf.unwrap(), (0..items).collect::<Vec<_>>());
        seen.set(seen.get() + 1);
    };
    let dispatched = if deferred {
        dispatcher.dispatch_deferred("id", items, callback, Some(1), ())
    } else {
        dispatcher.dispatch("id", items, callback, Some(1), ())
    };
    dispatched.unwrap();
    fired
}

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(2);
    }
    builder.check(f);
}

/// A tracked job completes on the actor and its callback fires on the
/// master, exactly once, with every result.
#[test]
fn tracked_job_completes_once() {
    model(|| {
        let mut dispatcher = Dispatcher::new(1, worker).unwrap();
        let fired = counted(&mut dispatcher, 2, false);
        dispatcher.wait();
        assert_eq!(fired.get(), 1);
        assert_eq!(dispatcher.in_flight(), 0);
    });
}

/// Two actors race for the batches of one job; whichever finishes last
/// hands it back, and the master sees all results.
#[test]
fn two_actors_share_a_job() {
    model(|| {
        let mut dispatcher = Dispatcher::new(2, worker).unwrap();
        let fired = counted(&mut dispatcher, 2, false);
        drop(dispatcher);
        assert_eq!(fired.get(), 1);
    });
}

/// Dropping the dispatcher with a running detached job and a deferred
/// tracked job runs both to the end, fires the callback, joins the actor,
/// and releases every job (the arguments are dropped exactly once).
#[test]
fn drop_drains_detached_and_deferred() {
    model(|| {
        let mut dispatcher = Dispatcher::new(1, worker).unwrap();
        let dropped = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let args = Tracked(std::sync::Arc::clone(&dropped));
        dispatcher
            .dispatch_detached("touch", 1, None, args)
            .unwrap();
        let fired = counted(&mut dispatcher, 1, true);
        drop(dispatcher);
        // Every job is released once the actors are joined: nothing leaked.
        assert_eq!(dropped.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert_eq!(fired.get(), 1);
    });
}

/// A worker entry that panics: `new` reports it and joins the actor.
#[test]
fn entry_panic_shuts_down() {
    model(|| {
        let result = Dispatcher::new(1, |_: &mut Kernel| panic!("no"));
        assert!(matches!(
            result,
            Err(Error::WorkerPanicked { actor: 0, .. })
        ));
    });
}

/// The master cancels while the actor claims and runs: the callback fires
/// exactly once, `Cancelled` exactly when `cancel` said it skipped items,
/// and otherwise with every result; the job is released either way.
#[test]
fn cancel_races_claim() {
    model(|| {
        let mut dispatcher = Dispatcher::new(1, worker).unwrap();
        let outcome = Rc::new(Cell::new(None));
        let seen = Rc::clone(&outcome);
        let id = dispatcher
            .job("id", 2)
            .batch(1)
            .tracked((), move |buf: Result<Vec<usize>, Error>| {
                let got = match buf {
                    Ok(buf) => {
                        assert_eq!(buf, [0, 1]);
                        false
                    }
                    Err(Error::Cancelled { .. }) => true,
                    Err(other) => panic!("{other:?}"),
                };
                assert!(seen.replace(Some(got)).is_none(), "fired twice");
            })
            .unwrap();
        let cancelled = dispatcher.cancel(id);
        dispatcher.wait_for(id);
        assert_eq!(outcome.get(), Some(cancelled));
        assert_eq!(dispatcher.progress(id), None);
        assert_eq!(dispatcher.in_flight(), 0);
    });
}

/// A dependent registers while the actor may be finishing its dependency:
/// either the master finds the dependency closed or the actor finds the
/// dependent in its list; the dependent runs exactly once, after it.
#[test]
fn dependency_release_races_registration() {
    model(|| {
        let mut dispatcher = Dispatcher::new(1, worker).unwrap();
        let dropped = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let first = dispatcher
            .job("touch", 1)
            .detached(Tracked(std::sync::Arc::clone(&dropped)))
            .unwrap();
        let fired = Rc::new(Cell::new(0));
        let seen = Rc::clone(&fired);
        let second = dispatcher
            .job("id", 1)
            .after(&[first])
            .tracked((), move |buf: Result<Vec<usize>, Error>| {
                assert_eq!(buf.unwrap(), [0]);
                seen.set(seen.get() + 1);
            })
            .unwrap();
        dispatcher.wait_for(second);
        assert_eq!(fired.get(), 1);
        assert_eq!(dispatcher.progress(first), None, "reported before");
        drop(dispatcher);
        assert_eq!(dropped.load(std::sync::atomic::Ordering::SeqCst), 1);
    });
}

//! Every error of the contract's table (and the extensions), returned at
//! once by the call that caused it, deferred variants and handles included,
//! with nothing queued.

mod common;

use std::any::type_name;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::{check_probe, probe_worker, sink, Probe};
use weavekit::{DispatchHandle, Dispatcher, Error, JobId, JobSpec, Kernel};

/// Handlers with distinct, easily named types.
fn typed_worker(k: &mut Kernel) {
    probe_worker(k);
    k.on("typed", |id: usize, add: &u32| id as u64 + u64::from(*add));
    k.on_detached("side", |_: usize, _: &String| {});
}

fn typed_dispatcher() -> Dispatcher {
    Dispatcher::new(2, typed_worker).unwrap()
}

/// The four dispatch variants of a dispatcher or a handle, each as a
/// closure from (name, items, batch) to the call's result, for a tracked
/// result type `R` and argument `A` (cloned per call).
fn all_variants_dispatcher<A, R>(
    d: &mut Dispatcher,
    name: &str,
    items: usize,
    batch: Option<usize>,
    args: A,
) -> Vec<(&'static str, Result<JobId, Error>)>
where
    A: Clone + Send + Sync + 'static,
    R: Send + 'static,
{
    let fired = Rc::new(AtomicUsize::new(0));
    let callback = || {
        let fired = Rc::clone(&fired);
        move |_: Result<Vec<R>, Error>| {
            fired.fetch_add(1, Ordering::Relaxed);
        }
    };
    let out = vec![
        (
            "dispatch",
            d.dispatch(name, items, callback(), batch, args.clone()),
        ),
        (
            "dispatch_deferred",
            d.dispatch_deferred(name, items, callback(), batch, args.clone()),
        ),
        (
            "dispatch_detached",
            d.dispatch_detached(name, items, batch, args.clone()),
        ),
        (
            "dispatch_detached_deferred",
            d.dispatch_detached_deferred(name, items, batch, args.clone()),
        ),
        (
            "job.tracked",
            sized(d.job(name, items), batch).tracked(args.clone(), callback()),
        ),
        (
            "job.deferred.tracked",
            sized(d.job(name, items), batch)
                .deferred()
                .tracked(args.clone(), callback()),
        ),
        (
            "job.detached",
            sized(d.job(name, items), batch).detached(args.clone()),
        ),
        (
            "job.deferred.detached",
            sized(d.job(name, items), batch).deferred().detached(args),
        ),
    ];
    d.wait();
    if out.iter().all(|(_, r)| r.is_err()) {
        assert_eq!(
            fired.load(Ordering::Relaxed),
            0,
            "no callback of a refused dispatch fires"
        );
        assert_eq!(Rc::strong_count(&fired), 1, "refused callbacks are dropped");
    }
    out
}

/// `spec` with the seed's optional batch size.
fn sized<'a>(spec: JobSpec<'a, &'a str>, batch: Option<usize>) -> JobSpec<'a, &'a str> {
    match batch {
        Some(size) => spec.batch(size),
        None => spec,
    }
}

fn all_variants_handle<A, R>(
    h: &DispatchHandle,
    name: &str,
    items: usize,
    batch: Option<usize>,
    args: A,
) -> Vec<(&'static str, Result<JobId, Error>)>
where
    A: Clone + Send + Sync + 'static,
    R: Send + 'static,
{
    let cb = |_: Result<Vec<R>, Error>| panic!("a refused dispatch's callback fired");
    vec![
        (
            "handle.dispatch",
            h.dispatch(name, items, cb, batch, args.clone()),
        ),
        (
            "handle.dispatch_deferred",
            h.dispatch_deferred(name, items, cb, batch, args.clone()),
        ),
        (
            "handle.dispatch_detached",
            h.dispatch_detached(name, items, batch, args.clone()),
        ),
        (
            "handle.dispatch_detached_deferred",
            h.dispatch_detached_deferred(name, items, batch, args.clone()),
        ),
        (
            "handle.job.tracked",
            sized(h.job(name, items), batch).tracked(args.clone(), cb),
        ),
        (
            "handle.job.deferred.tracked",
            sized(h.job(name, items), batch)
                .deferred()
                .tracked(args.clone(), cb),
        ),
        (
            "handle.job.detached",
            sized(h.job(name, items), batch).detached(args.clone()),
        ),
        (
            "handle.job.deferred.detached",
            sized(h.job(name, items), batch).deferred().detached(args),
        ),
    ]
}

/// Checks every result is `want`, and that nothing was queued.
fn assert_all(results: Vec<(&'static str, Result<JobId, Error>)>, want: &Error, d: &Dispatcher) {
    assert_eq!(
        results.len(),
        8,
        "the seed's four methods and four job specs"
    );
    for (variant, result) in results {
        assert_eq!(result.as_ref(), Err(want), "{variant}");
    }
    assert_eq!(d.in_flight(), 0, "a refused dispatch queues nothing");
}

#[test]
fn zero_actors_is_no_actors() {
    let entries = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&entries);
    let err = Dispatcher::new(0, move |_: &mut Kernel| {
        seen.fetch_add(1, Ordering::SeqCst);
    })
    .unwrap_err();
    assert_eq!(err, Error::NoActors);
    assert!(!err.to_string().is_empty());
    assert_eq!(entries.load(Ordering::SeqCst), 0);
}

#[test]
fn entry_panic_on_one_actor_fails_new_naming_it() {
    const ACTORS: usize = 4;
    for round in 0..12 {
        let bad = round % ACTORS;
        // Every actor's state holds a clone of `alive`: once `new` returns,
        // all actors must have stopped and dropped their state.
        let alive = Arc::new(());
        let state = Arc::clone(&alive);
        let err = Dispatcher::new(ACTORS, move |k: &mut Kernel| {
            let mine = Arc::clone(&state);
            k.on("x", move |_: usize, _: &()| Arc::strong_count(&mine));
            if k.actor_index() == bad {
                panic!("entry failed in round {round}");
            }
        })
        .unwrap_err();
        assert_eq!(
            err,
            Error::WorkerPanicked {
                actor: bad,
                message: format!("entry failed in round {round}"),
            }
        );
        let text = err.to_string();
        assert!(text.contains(&format!("actor {bad}")), "{text}");
        assert!(
            text.contains(&format!("entry failed in round {round}")),
            "{text}"
        );
        assert_eq!(
            Arc::strong_count(&alive),
            1,
            "every actor was stopped and joined"
        );
    }
}

#[test]
fn entry_panic_on_every_actor_names_the_first() {
    let err = Dispatcher::new(3, |k: &mut Kernel| {
        panic!("actor {} refuses", k.actor_index());
    })
    .unwrap_err();
    assert_eq!(
        err,
        Error::WorkerPanicked {
            actor: 0,
            message: "actor 0 refuses".to_owned()
        }
    );
}

#[test]
fn entry_panic_with_non_string_payload_still_fails_new() {
    let err = Dispatcher::new(2, |k: &mut Kernel| {
        if k.actor_index() == 1 {
            std::panic::panic_any(42_u32);
        }
    })
    .unwrap_err();
    assert!(
        matches!(err, Error::WorkerPanicked { actor: 1, .. }),
        "{err:?}"
    );
}

#[test]
fn workers_registering_different_handlers_disagree() {
    let err = Dispatcher::new(3, |k: &mut Kernel| {
        k.on("common", |id: usize, _: &()| id);
        if k.actor_index() == 2 {
            k.on("only_on_two", |id: usize, _: &()| id);
        }
    })
    .unwrap_err();
    match &err {
        Error::WorkersDisagree { actor, detail } => {
            assert_eq!(*actor, 2);
            assert!(detail.contains("only_on_two"), "{detail}");
        }
        other => panic!("expected WorkersDisagree, got {other:?}"),
    }
    assert!(err.to_string().contains("actor 2"), "{err}");

    let err = Dispatcher::new(2, |k: &mut Kernel| {
        if k.actor_index() == 0 {
            k.on("f", |id: usize, _: &u32| id);
        } else {
            k.on("f", |id: usize, _: &u64| id);
        }
    })
    .unwrap_err();
    assert!(
        matches!(err, Error::WorkersDisagree { actor: 1, .. }),
        "{err:?}"
    );
}

#[test]
fn unknown_job_all_variants() {
    let mut d = typed_dispatcher();
    let want = Error::UnknownJob {
        job: "nope".to_owned(),
    };
    assert!(want.to_string().contains("nope"));
    let results = all_variants_dispatcher::<(), u64>(&mut d, "nope", 10, None, ());
    assert_all(results, &want, &d);
    let h = d.handle();
    let results = all_variants_handle::<(), u64>(&h, "nope", 10, None, ());
    assert_all(results, &want, &d);
    // Names are exact: no prefix or case folding.
    let results = all_variants_dispatcher::<u32, u64>(&mut d, "Typed", 1, None, 1);
    assert_all(
        results,
        &Error::UnknownJob {
            job: "Typed".to_owned(),
        },
        &d,
    );
    check_probe(&mut d, 50, None, 1);
}

#[test]
fn unknown_job_with_zero_items_is_still_an_error() {
    let mut d = typed_dispatcher();
    let results = all_variants_dispatcher::<(), u64>(&mut d, "nope", 0, None, ());
    assert_all(
        results,
        &Error::UnknownJob {
            job: "nope".to_owned(),
        },
        &d,
    );
}

#[test]
fn argument_type_all_variants_names_both_types() {
    let mut d = typed_dispatcher();
    let want = Error::ArgumentType {
        job: "typed".to_owned(),
        expected: type_name::<u32>(),
        found: type_name::<i8>(),
    };
    let results = all_variants_dispatcher::<i8, u64>(&mut d, "typed", 10, None, 7);
    assert_all(results, &want, &d);
    let results = all_variants_handle::<i8, u64>(&d.handle(), "typed", 10, None, 7);
    assert_all(results, &want, &d);
    let text = want.to_string();
    assert!(text.contains("typed"), "{text}");
    assert!(text.contains(type_name::<u32>()), "{text}");
    assert!(text.contains(type_name::<i8>()), "{text}");

    // Detached handlers check their arguments too.
    let err = d
        .dispatch_detached("side", 3, None, "not a String")
        .unwrap_err();
    assert_eq!(
        err,
        Error::ArgumentType {
            job: "side".to_owned(),
            expected: type_name::<String>(),
            found: type_name::<&str>(),
        }
    );
    let text = err.to_string();
    assert!(text.contains("String") && text.contains("&str"), "{text}");
    assert_eq!(d.in_flight(), 0);
}

#[test]
fn result_type_tracked_variants_names_both_types() {
    let mut d = typed_dispatcher();
    let want = Error::ResultType {
        job: "typed".to_owned(),
        expected: type_name::<u64>(),
        found: type_name::<String>(),
    };
    let text = want.to_string();
    assert!(text.contains("typed"), "{text}");
    assert!(text.contains("u64") && text.contains("String"), "{text}");
    let cb = |_: Result<Vec<String>, Error>| panic!("fired");
    assert_eq!(d.dispatch("typed", 5, cb, None, 1_u32), Err(want.clone()));
    assert_eq!(
        d.dispatch_deferred("typed", 5, cb, None, 1_u32),
        Err(want.clone())
    );
    let h = d.handle();
    assert_eq!(h.dispatch("typed", 5, cb, None, 1_u32), Err(want.clone()));
    assert_eq!(h.dispatch_deferred("typed", 5, cb, None, 1_u32), Err(want));
    assert_eq!(d.in_flight(), 0);
    d.wait();
    // The detached variants have no result type: they run and drop results.
    d.dispatch_detached("typed", 5, None, 1_u32).unwrap();
    d.dispatch_detached_deferred("typed", 5, None, 1_u32)
        .unwrap();
    d.wait();
}

#[test]
fn tracked_dispatch_of_detached_handler() {
    let mut d = typed_dispatcher();
    let want = Error::DetachedHandler {
        job: "side".to_owned(),
    };
    assert!(want.to_string().contains("side"));
    let cb = |_: Result<Vec<()>, Error>| panic!("fired");
    let args = || String::from("x");
    assert_eq!(d.dispatch("side", 5, cb, None, args()), Err(want.clone()));
    assert_eq!(
        d.dispatch_deferred("side", 5, cb, None, args()),
        Err(want.clone())
    );
    let h = d.handle();
    assert_eq!(h.dispatch("side", 5, cb, None, args()), Err(want.clone()));
    assert_eq!(h.dispatch_deferred("side", 5, cb, None, args()), Err(want));
    assert_eq!(d.in_flight(), 0);
    // The same handler dispatched detached is fine.
    d.dispatch_detached("side", 5, None, args()).unwrap();
    d.wait();
}

#[test]
fn zero_batch_size_all_variants() {
    let mut d = typed_dispatcher();
    let want = Error::ZeroBatchSize {
        job: "typed".to_owned(),
    };
    assert!(want.to_string().contains("typed"));
    for items in [0, 1, 100] {
        let results = all_variants_dispatcher::<u32, u64>(&mut d, "typed", items, Some(0), 1);
        assert_all(results, &want, &d);
        let results = all_variants_handle::<u32, u64>(&d.handle(), "typed", items, Some(0), 1);
        assert_all(results, &want, &d);
    }
    check_probe(&mut d, 20, Some(1), 2);
}

#[test]
fn deferred_errors_are_returned_at_the_call_and_queue_nothing() {
    let mut d = typed_dispatcher();
    let (calls, callback) = sink::<u64>();
    let err = d
        .dispatch_deferred("nope", 10, callback, None, 1_u32)
        .unwrap_err();
    assert!(matches!(err, Error::UnknownJob { .. }));
    assert_eq!(d.in_flight(), 0);
    let (calls2, callback) = sink::<u64>();
    let err = d
        .dispatch_deferred("typed", 10, callback, Some(0), 1_u32)
        .unwrap_err();
    assert!(matches!(err, Error::ZeroBatchSize { .. }));
    assert_eq!(d.in_flight(), 0);
    let err = d
        .dispatch_detached_deferred("typed", 10, None, 1_u64)
        .unwrap_err();
    assert!(matches!(err, Error::ArgumentType { .. }));
    assert_eq!(d.in_flight(), 0);
    assert_eq!(d.poll(), 0);
    d.wait();
    assert!(calls.borrow().is_empty());
    assert!(calls2.borrow().is_empty());
    assert_eq!(
        Rc::strong_count(&calls),
        1,
        "the refused callback was dropped"
    );
    assert_eq!(
        Rc::strong_count(&calls2),
        1,
        "the refused callback was dropped"
    );
}

#[test]
fn too_many_items_is_an_error_not_an_abort() {
    let mut d = typed_dispatcher();
    let items = usize::MAX / 2;
    let want = Error::TooManyItems {
        job: "typed".to_owned(),
        items,
    };
    let (calls, callback) = sink::<u64>();
    assert_eq!(
        d.dispatch("typed", items, callback, None, 1_u32),
        Err(want.clone())
    );
    let (calls2, callback) = sink::<u64>();
    assert_eq!(
        d.dispatch_deferred("typed", items, callback, Some(1), 1_u32),
        Err(want.clone())
    );
    let cb = |_: Result<Vec<u64>, Error>| panic!("fired");
    assert_eq!(
        d.handle().dispatch("typed", items, cb, None, 1_u32),
        Err(want.clone())
    );
    assert_eq!(d.in_flight(), 0);
    d.wait();
    assert!(calls.borrow().is_empty() && calls2.borrow().is_empty());
    let text = want.to_string();
    assert!(
        text.contains("typed") && text.contains(&items.to_string()),
        "{text}"
    );
    check_probe(&mut d, 10, None, 3);
}

#[test]
fn error_implements_std_error() {
    fn assert_error<E: std::error::Error + Send + Sync + Clone + PartialEq + 'static>() {}
    assert_error::<Error>();

    let err = Error::HandlerPanicked {
        job: "j".to_owned(),
        item: 3,
        message: "m".to_owned(),
    };
    let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(err.clone());
    assert_eq!(boxed.to_string(), err.to_string());
    assert!(boxed.source().is_none());
    assert_eq!(boxed.downcast_ref::<Error>(), Some(&err));

    fn uses_question_mark() -> Result<(), Box<dyn std::error::Error>> {
        Dispatcher::new(0, |_: &mut Kernel| {})?;
        Ok(())
    }
    assert_eq!(
        uses_question_mark().unwrap_err().to_string(),
        Error::NoActors.to_string()
    );
}

#[test]
fn every_error_displays_its_details() {
    let cases = [
        (Error::NoActors, vec![]),
        (
            Error::WorkerPanicked {
                actor: 7,
                message: "msg-a".into(),
            },
            vec!["7", "msg-a"],
        ),
        (
            Error::WorkersDisagree {
                actor: 5,
                detail: "detail-b".into(),
            },
            vec!["5", "detail-b"],
        ),
        (
            Error::Spawn {
                actor: 9,
                message: "os-c".into(),
            },
            vec!["9", "os-c"],
        ),
        (
            Error::UnknownJob {
                job: "job-d".into(),
            },
            vec!["job-d"],
        ),
        (
            Error::ArgumentType {
                job: "job-e".into(),
                expected: "TypeE1",
                found: "TypeE2",
            },
            vec!["job-e", "TypeE1", "TypeE2"],
        ),
        (
            Error::ResultType {
                job: "job-f".into(),
                expected: "TypeF1",
                found: "TypeF2",
            },
            vec!["job-f", "TypeF1", "TypeF2"],
        ),
        (
            Error::DetachedHandler {
                job: "job-g".into(),
            },
            vec!["job-g"],
        ),
        (
            Error::ZeroBatchSize {
                job: "job-h".into(),
            },
            vec!["job-h"],
        ),
        (
            Error::TooManyItems {
                job: "job-i".into(),
                items: 123_456,
            },
            vec!["job-i", "123456"],
        ),
        (
            Error::HandlerPanicked {
                job: "job-j".into(),
                item: 4242,
                message: "msg-j".into(),
            },
            vec!["job-j", "4242", "msg-j"],
        ),
        (Error::Closed, vec![]),
    ];
    for (err, needles) in cases {
        let text = err.to_string();
        assert!(!text.is_empty(), "{err:?}");
        for needle in needles {
            assert!(text.contains(needle), "{err:?} displays as {text:?}");
        }
    }
}

#[test]
fn handle_after_destroy_is_closed() {
    let d = typed_dispatcher();
    let h = d.handle();
    let h2 = h.clone();
    assert!(!h.is_closed());
    d.destroy();
    assert!(h.is_closed() && h2.is_closed());
    let results = all_variants_handle::<u32, u64>(&h, "typed", 10, None, 1);
    for (variant, result) in results {
        assert_eq!(result, Err(Error::Closed), "{variant}");
    }
    // Checked before anything else: an unknown job is still `Closed`.
    let results = all_variants_handle::<(), u64>(&h2, "nope", 10, Some(0), ());
    for (variant, result) in results {
        assert_eq!(result, Err(Error::Closed), "{variant}");
    }
}

#[test]
fn handle_after_drop_is_closed() {
    let h = {
        let d = typed_dispatcher();
        d.handle()
    };
    assert!(h.is_closed());
    assert_eq!(
        h.dispatch_detached("probe_detached", 3, None, Probe::new(3, 0)),
        Err(Error::Closed)
    );
}

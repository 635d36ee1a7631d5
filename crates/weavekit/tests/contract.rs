//! The public contract (`API.md`, both Rust sections), checked from outside
//! through the public API only: one thin test per promise, named after it.
//!
//! Other test files go deep on each mechanism; this one walks the contract
//! line by line so that a promise with no test shows up as a missing
//! function here. Jobs are small and gated (never timed): a test that needs
//! a job to be "still running" holds its actor in a [`Gate`].

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use weavekit::{Dispatcher, Error, Job, JobId, Kernel, Progress};

/// Long enough that only a broken promise reaches it.
const PATIENCE: Duration = Duration::from_secs(20);

/// Holds actors inside a handler until opened (or until [`PATIENCE`] runs
/// out, so a broken test fails instead of hanging).
#[derive(Default)]
struct Gate {
    open: Mutex<bool>,
    opened: Condvar,
    entered: AtomicUsize,
}

impl Gate {
    fn pass(&self) {
        self.entered.fetch_add(1, Ordering::SeqCst);
        let open = self.open.lock().unwrap();
        let (open, _) = self
            .opened
            .wait_timeout_while(open, PATIENCE, |open| !*open)
            .unwrap();
        assert!(*open, "the test never opened the gate");
    }

    fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.opened.notify_all();
    }

    /// Blocks until `n` handler calls are inside the gate.
    fn await_entered(&self, n: usize) {
        eventually("actors entered the gate", || {
            self.entered.load(Ordering::SeqCst) >= n
        });
    }
}

/// Polls `condition` until it holds, failing after [`PATIENCE`].
fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(start.elapsed() < PATIENCE, "never happened: {what}");
        thread::sleep(Duration::from_millis(1));
    }
}

/// A result or argument that counts its drops.
struct Loud(Arc<AtomicUsize>);

impl Drop for Loud {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A value whose `Drop` panics.
struct Bomb;

impl Drop for Bomb {
    fn drop(&mut self) {
        panic!("bomb went off");
    }
}

const SQUARE: Job<u64, u64> = Job::new("square");
const COUNT: Job<Arc<AtomicUsize>> = Job::new("count");
const GATED: Job<Arc<Gate>, usize> = Job::new("gated");
const GATED_DETACHED: Job<Arc<Gate>> = Job::new("gated_detached");
const BOOM: Job<usize, usize> = Job::new("boom");
const BOOM_DETACHED: Job<usize> = Job::new("boom_detached");
const WHO: Job<(), usize> = Job::new("who");
const LOUD: Job<Arc<AtomicUsize>, Loud> = Job::new("loud");
const BOMBS: Job<(), Bomb> = Job::new("bombs");
const SEEN: Job<Arc<AtomicBool>, bool> = Job::new("seen");
const SEND: Job<Mutex<mpsc::Sender<usize>>> = Job::new("send");

/// Every handler the tests use, registered the same way on every actor.
fn worker(kernel: &mut Kernel) {
    // Per-actor state that is neither Send nor Sync: handlers need neither.
    let calls = Rc::new(Cell::new(0_u64));
    let mut seen = 0_u64; // handlers are FnMut
    let index = kernel.actor_index();
    kernel.on(SQUARE, move |id, add| {
        seen += 1;
        calls.set(seen);
        id as u64 * id as u64 + add
    });
    kernel.on_detached(COUNT, |_, hits| {
        hits.fetch_add(1, Ordering::SeqCst);
    });
    kernel.on(GATED, |id, gate| {
        gate.pass();
        id
    });
    kernel.on_detached(GATED_DETACHED, |_, gate| gate.pass());
    kernel.on(BOOM, |id, bad| {
        assert!(id != *bad, "boom on {id}");
        id
    });
    kernel.on_detached(BOOM_DETACHED, |id, bad| assert!(id != *bad, "boom on {id}"));
    kernel.on(WHO, move |_, _| index);
    kernel.on(LOUD, |_, drops| Loud(Arc::clone(drops)));
    kernel.on(BOMBS, |_, _| Bomb);
    kernel.on(SEEN, |_, flag| flag.load(Ordering::SeqCst));
    kernel.on_detached(SEND, |id, tx| {
        let _ = tx.lock().unwrap().send(id);
    });
    // The seed's string form, next to the typed keys.
    kernel.on("legacy", |id: usize, a: &u8| id + usize::from(*a));
}

fn dispatcher(actors: usize) -> Dispatcher {
    Dispatcher::new(actors, worker).expect("the dispatcher starts")
}

/// A callback sink: every firing, in order.
type Fired<R> = Rc<RefCell<Vec<Result<Vec<R>, Error>>>>;

/// A boxed callback that records into a [`Fired`].
type Callback<R> = Box<dyn FnOnce(Result<Vec<R>, Error>)>;

fn sink<R: 'static>() -> (Fired<R>, impl Fn() -> Callback<R>) {
    let fired: Fired<R> = Rc::default();
    let into = Rc::clone(&fired);
    let make = move || {
        let into = Rc::clone(&into);
        Box::new(move |buf| into.borrow_mut().push(buf)) as Callback<R>
    };
    (fired, make)
}

/// `T: !Send`, checked at compile time: the call is ambiguous (and the
/// file does not compile) when `T: Send`.
trait AmbiguousIfSend<Marker> {
    fn check() {}
}
impl<T: ?Sized> AmbiguousIfSend<()> for T {}
struct IsSend;
impl<T: ?Sized + Send> AmbiguousIfSend<IsSend> for T {}

fn assert_send_sync_clone<T: Send + Sync + Clone + 'static>() {}
fn assert_send_static<T: Send + 'static>(_: &T) {}
fn assert_error_traits<T: std::error::Error + Clone + PartialEq + Eq + std::fmt::Display>() {}

// ---------------------------------------------------------------- Rust seed

#[test]
fn new_takes_a_send_sync_static_fn_and_blocks_until_every_entry_returned() {
    let returned = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&returned);
    let d = Dispatcher::new(3, move |kernel: &mut Kernel| {
        if kernel.actor_index() == 2 {
            // A slow entry: `new` must still wait for it.
            thread::sleep(Duration::from_millis(30));
        }
        counter.fetch_add(1, Ordering::SeqCst);
    })
    .unwrap();
    assert_eq!(returned.load(Ordering::SeqCst), 3);
    assert_eq!(d.actor_count(), 3);
}

#[test]
fn kernel_knows_its_actor_index_and_count() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let into = Arc::clone(&seen);
    let d = Dispatcher::new(3, move |kernel: &mut Kernel| {
        into.lock()
            .unwrap()
            .push((kernel.actor_index(), kernel.actor_count()));
    })
    .unwrap();
    let mut seen = seen.lock().unwrap().clone();
    seen.sort_unstable();
    assert_eq!(seen, [(0, 3), (1, 3), (2, 3)]);
    drop(d);
}

#[test]
fn items_are_zero_based_and_buf_i_is_item_i() {
    let mut d = dispatcher(2);
    let (fired, cb) = sink::<u64>();
    d.dispatch("square", 1000, cb(), None, 7_u64).unwrap();
    d.wait();
    let fired = fired.borrow();
    assert_eq!(fired.len(), 1);
    let buf = fired[0].as_ref().unwrap();
    assert_eq!(buf.len(), 1000);
    for (i, v) in buf.iter().enumerate() {
        assert_eq!(*v, (i * i) as u64 + 7);
    }
}

#[test]
fn batch_size_some_n_hands_out_runs_of_n_contiguous_ids() {
    // One actor per run: all ids of a run report the same actor.
    let mut d = dispatcher(3);
    let (fired, cb) = sink::<usize>();
    d.dispatch("who", 300, cb(), Some(25), ()).unwrap();
    d.wait();
    let buf = fired.borrow()[0].clone().unwrap();
    for run in buf.chunks(25) {
        assert!(run.iter().all(|a| *a == run[0]), "a run was split: {run:?}");
    }
}

#[test]
fn batch_size_none_picks_a_default_that_runs_every_item_once() {
    let mut d = dispatcher(2);
    let hits = Arc::new(AtomicUsize::new(0));
    d.dispatch_detached("count", 5000, None, Arc::clone(&hits))
        .unwrap();
    let (fired, cb) = sink::<u64>();
    d.dispatch("square", 5000, cb(), None, 0_u64).unwrap();
    d.wait();
    assert_eq!(hits.load(Ordering::SeqCst), 5000);
    assert_eq!(fired.borrow()[0].as_ref().unwrap().len(), 5000);
}

#[test]
fn zero_items_fire_ok_empty_exactly_once() {
    let mut d = dispatcher(1);
    let (fired, cb) = sink::<u64>();
    d.dispatch("square", 0, cb(), None, 0_u64).unwrap();
    d.dispatch_deferred("square", 0, cb(), Some(3), 0_u64)
        .unwrap();
    d.wait();
    d.wait();
    assert_eq!(d.poll(), 0);
    let fired = fired.borrow();
    assert_eq!(fired.len(), 2);
    assert!(fired.iter().all(|f| f.as_ref().unwrap().is_empty()));
}

#[test]
fn callbacks_need_not_be_send_and_run_on_the_master_only_in_poll_wait_or_destroy() {
    let master = thread::current().id();
    let mut d = dispatcher(2);
    let ran_on = Rc::new(RefCell::new(Vec::new()));
    let into = Rc::clone(&ran_on);
    let id = d
        .job(SQUARE, 100)
        .tracked(1, move |buf| {
            assert!(buf.is_ok());
            into.borrow_mut().push(thread::current().id());
        })
        .unwrap();
    // The job finishes on the actors; its callback still waits for `poll`.
    eventually("the job's items are done", || {
        d.progress(id).is_some_and(|p| p.done == p.total)
    });
    assert!(ran_on.borrow().is_empty(), "fired outside poll/wait");
    eventually("poll fires the callback", || d.poll() == 1);
    assert_eq!(*ran_on.borrow(), [master]);

    // ... and inside destroy.
    let into = Rc::clone(&ran_on);
    d.job(SQUARE, 10)
        .tracked(1, move |_| into.borrow_mut().push(thread::current().id()))
        .unwrap();
    d.destroy();
    assert_eq!(*ran_on.borrow(), [master, master]);
}

#[test]
fn dispatch_deferred_starts_at_the_next_poll_or_wait() {
    let mut d = dispatcher(2);
    let hits = Arc::new(AtomicUsize::new(0));
    let first = d
        .job(COUNT, 10)
        .deferred()
        .detached(Arc::clone(&hits))
        .unwrap();
    d.dispatch_detached_deferred("count", 10, Some(2), Arc::clone(&hits))
        .unwrap();
    // Not started: no item of either job is done or claimed.
    assert_eq!(d.progress(first), Some(Progress { done: 0, total: 10 }));
    assert_eq!(hits.load(Ordering::SeqCst), 0);
    d.poll();
    d.wait();
    assert_eq!(hits.load(Ordering::SeqCst), 20);

    let (fired, cb) = sink::<u64>();
    d.dispatch_deferred("square", 5, cb(), None, 0_u64).unwrap();
    d.wait();
    assert_eq!(fired.borrow()[0].as_ref().unwrap(), &[0, 1, 4, 9, 16]);
}

#[test]
fn poll_never_blocks_and_counts_the_callbacks_it_fired() {
    let mut d = dispatcher(1);
    let gate = Arc::new(Gate::default());
    let (fired, cb) = sink::<usize>();
    d.dispatch("gated", 1, cb(), None, Arc::clone(&gate))
        .unwrap();
    gate.await_entered(1);
    assert_eq!(d.poll(), 0, "the job is held in the gate");
    gate.open();
    let (more, cb2) = sink::<u64>();
    d.dispatch("square", 3, cb2(), None, 0_u64).unwrap();
    let mut total = 0;
    eventually("poll fires both callbacks", || {
        total += d.poll();
        total == 2
    });
    assert_eq!(fired.borrow().len(), 1);
    assert_eq!(more.borrow().len(), 1);
}

#[test]
fn wait_timeout_and_in_flight() {
    let mut d = dispatcher(1);
    let gate = Arc::new(Gate::default());
    let (fired, cb) = sink::<usize>();
    d.dispatch("gated", 1, cb(), None, Arc::clone(&gate))
        .unwrap();
    assert_eq!(d.in_flight(), 1);
    assert_eq!(d.handle().in_flight(), 1);
    assert_eq!(d.wait_timeout(Duration::from_millis(5)), 0);
    gate.open();
    assert_eq!(d.wait_timeout(PATIENCE), 1);
    assert_eq!(d.in_flight(), 0);
    assert_eq!(fired.borrow().len(), 1);
}

#[test]
fn a_callback_chains_immediate_and_deferred_dispatches_through_a_handle() {
    let mut d = dispatcher(2);
    let handle = d.handle();
    let results = Rc::new(RefCell::new(Vec::new()));
    let into = Rc::clone(&results);
    d.dispatch(
        "square",
        3,
        move |buf: Result<Vec<u64>, Error>| {
            let sum: u64 = buf.unwrap().iter().sum(); // 0 + 1 + 4
            let again = handle.clone();
            let into2 = Rc::clone(&into);
            handle
                .dispatch(
                    "square",
                    2,
                    move |buf: Result<Vec<u64>, Error>| {
                        into2.borrow_mut().push(("immediate", buf.unwrap()));
                        let into3 = Rc::clone(&into2);
                        again
                            .dispatch_deferred(
                                "square",
                                1,
                                move |buf: Result<Vec<u64>, Error>| {
                                    into3.borrow_mut().push(("deferred", buf.unwrap()));
                                },
                                None,
                                100_u64,
                            )
                            .unwrap();
                    },
                    None,
                    sum,
                )
                .unwrap();
        },
        None,
        0_u64,
    )
    .unwrap();
    d.wait(); // runs the whole chain
    assert_eq!(
        *results.borrow(),
        [("immediate", vec![5, 6]), ("deferred", vec![100])]
    );
}

#[test]
fn drop_and_destroy_run_every_dispatched_and_deferred_job_and_fire_every_callback() {
    for destroy in [false, true] {
        let mut d = dispatcher(2);
        let hits = Arc::new(AtomicUsize::new(0));
        let (fired, cb) = sink::<u64>();
        d.dispatch("square", 100, cb(), Some(1), 0_u64).unwrap();
        d.dispatch_deferred("square", 100, cb(), None, 0_u64)
            .unwrap();
        d.dispatch_detached("count", 100, None, Arc::clone(&hits))
            .unwrap();
        d.dispatch_detached_deferred("count", 100, None, Arc::clone(&hits))
            .unwrap();
        if destroy {
            d.destroy();
        } else {
            drop(d);
        }
        assert_eq!(hits.load(Ordering::SeqCst), 200, "destroy: {destroy}");
        let fired = fired.borrow();
        assert_eq!(fired.len(), 2, "destroy: {destroy}");
        assert!(fired.iter().all(|f| f.as_ref().unwrap().len() == 100));
    }
}

#[test]
fn a_detached_dispatch_of_a_tracked_handler_runs_it_and_drops_the_results() {
    let mut d = dispatcher(2);
    let drops = Arc::new(AtomicUsize::new(0));
    d.dispatch_detached("loud", 50, Some(7), Arc::clone(&drops))
        .unwrap();
    d.wait();
    eventually("every result dropped", || {
        drops.load(Ordering::SeqCst) == 50
    });
    assert!(d.take_detached_errors().is_empty());
}

// ---------------------------------------------------------- the error table

#[test]
fn error_zero_actors_at_new() {
    let err = Dispatcher::new(0, worker).unwrap_err();
    assert_eq!(err, Error::NoActors);
    assert!(!err.to_string().is_empty());
}

#[test]
fn error_worker_entry_panic_at_new_names_the_actor_and_carries_the_message() {
    let err = Dispatcher::new(3, |kernel: &mut Kernel| {
        assert!(kernel.actor_index() != 1, "entry refuses actor one");
    })
    .unwrap_err();
    match &err {
        Error::WorkerPanicked { actor, message } => {
            assert_eq!(*actor, 1);
            assert!(message.contains("entry refuses actor one"), "{message}");
        }
        other => panic!("expected WorkerPanicked, got {other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.contains('1') && text.contains("entry refuses actor one"),
        "{text}"
    );
}

/// Every `dispatch*` form, seed and builder, deferred and not; each result
/// is what that call returned.
fn all_forms(d: &mut Dispatcher, name: &str, batch: Option<usize>) -> Vec<Result<JobId, Error>> {
    let mut out = vec![
        d.dispatch(name, 4, |_: Result<Vec<u64>, Error>| {}, batch, 1_u64),
        d.dispatch_deferred(name, 4, |_: Result<Vec<u64>, Error>| {}, batch, 1_u64),
        d.dispatch_detached(name, 4, batch, 1_u64),
        d.dispatch_detached_deferred(name, 4, batch, 1_u64),
    ];
    let spec = |deferred: bool| {
        let s = d.job(name, 4);
        let s = if deferred { s.deferred() } else { s };
        match batch {
            Some(n) => s.batch(n),
            None => s,
        }
    };
    for deferred in [false, true] {
        out.push(spec(deferred).tracked(1_u64, |_: Result<Vec<u64>, Error>| {}));
        out.push(spec(deferred).detached(1_u64));
        out.push(spec(deferred).future::<u64, u64>(1_u64).map(|f| f.id()));
    }
    out
}

#[test]
fn error_unknown_job_at_every_dispatch_names_the_job() {
    let mut d = dispatcher(1);
    for result in all_forms(&mut d, "no_such_job", None) {
        let err = result.unwrap_err();
        assert_eq!(
            err,
            Error::UnknownJob {
                job: "no_such_job".into()
            }
        );
        assert!(err.to_string().contains("no_such_job"), "{err}");
    }
    let remote = d.remote();
    assert!(matches!(
        remote.job("no_such_job", 1).detached(0_u8),
        Err(Error::UnknownJob { .. })
    ));
    assert_eq!(d.in_flight(), 0, "nothing was queued");
}

#[test]
fn error_argument_or_result_type_names_both_types() {
    let mut d = dispatcher(1);
    // `square` takes u64 and returns u64.
    let wrong_arg = [
        d.dispatch("square", 1, |_: Result<Vec<u64>, Error>| {}, None, 1_i8),
        d.dispatch_deferred("square", 1, |_: Result<Vec<u64>, Error>| {}, None, 1_i8),
        d.dispatch_detached("square", 1, None, 1_i8),
        d.dispatch_detached_deferred("square", 1, None, 1_i8),
        d.job(Job::<i8, u64>::new("square"), 1).detached(1),
    ];
    for result in wrong_arg {
        let err = result.unwrap_err();
        assert!(matches!(err, Error::ArgumentType { .. }), "{err:?}");
        let text = err.to_string();
        assert!(text.contains("u64") && text.contains("i8"), "{text}");
    }
    let wrong_result = [
        d.dispatch("square", 1, |_: Result<Vec<u16>, Error>| {}, None, 1_u64),
        d.dispatch_deferred("square", 1, |_: Result<Vec<u16>, Error>| {}, None, 1_u64),
        d.job(Job::<u64, u16>::new("square"), 1).tracked(1, |_| {}),
    ];
    for result in wrong_result {
        let err = result.unwrap_err();
        assert!(matches!(err, Error::ResultType { .. }), "{err:?}");
        let text = err.to_string();
        assert!(text.contains("u64") && text.contains("u16"), "{text}");
    }
    assert_eq!(d.in_flight(), 0);
}

#[test]
fn error_tracked_dispatch_of_a_detached_handler() {
    let mut d = dispatcher(1);
    let hits = Arc::new(AtomicUsize::new(0));
    let results = [
        d.dispatch(
            "count",
            1,
            |_: Result<Vec<()>, Error>| {},
            None,
            Arc::clone(&hits),
        ),
        d.dispatch_deferred(
            "count",
            1,
            |_: Result<Vec<()>, Error>| {},
            None,
            Arc::clone(&hits),
        ),
        d.job(COUNT, 1).tracked(Arc::clone(&hits), |_| {}),
        d.job(COUNT, 1).future(Arc::clone(&hits)).map(|f| f.id()),
    ];
    for result in results {
        assert_eq!(
            result.unwrap_err(),
            Error::DetachedHandler {
                job: "count".into()
            }
        );
    }
    d.wait();
    assert_eq!(hits.load(Ordering::SeqCst), 0);
}

#[test]
fn error_zero_batch_size_at_every_dispatch() {
    let mut d = dispatcher(1);
    for result in all_forms(&mut d, "square", Some(0)) {
        assert_eq!(
            result.unwrap_err(),
            Error::ZeroBatchSize {
                job: "square".into()
            }
        );
    }
    let remote = d.remote();
    assert!(matches!(
        remote.job(SQUARE, 1).batch(0).detached(1),
        Err(Error::ZeroBatchSize { .. })
    ));
}

#[test]
fn error_handler_panic_reaches_the_callback_with_job_item_and_message() {
    let mut d = dispatcher(2);
    let (fired, cb) = sink::<usize>();
    d.dispatch("boom", 64, cb(), Some(1), 17_usize).unwrap();
    d.wait();
    let fired = fired.borrow();
    assert_eq!(fired.len(), 1, "exactly once");
    let err = fired[0].as_ref().unwrap_err();
    match err {
        Error::HandlerPanicked { job, item, message } => {
            assert_eq!(job, "boom");
            assert_eq!(*item, 17);
            assert!(message.contains("boom on 17"), "{message}");
        }
        other => panic!("expected HandlerPanicked, got {other:?}"),
    }
    let text = err.to_string();
    assert!(text.contains("boom") && text.contains("17"), "{text}");
}

#[test]
fn after_a_handler_panic_every_actor_serves_the_next_job() {
    let mut d = dispatcher(2);
    // Eight jobs, each panicking on one item.
    let (fired, cb) = sink::<usize>();
    for bad in 0..8_usize {
        d.dispatch("boom", 8, cb(), Some(1), bad).unwrap();
    }
    let (next, cb2) = sink::<u64>();
    d.dispatch("square", 100, cb2(), Some(1), 0_u64).unwrap();
    d.wait();
    assert!(fired.borrow().iter().all(Result::is_err));
    assert_eq!(next.borrow()[0].as_ref().unwrap().len(), 100);
}

#[test]
fn detached_panics_are_taken_from_the_dispatcher_never_raised_in_poll_wait_or_drop() {
    let mut d = dispatcher(2);
    d.dispatch_detached("boom_detached", 10, Some(1), 3_usize)
        .unwrap();
    d.poll();
    d.wait();
    let errors = d.take_detached_errors();
    assert!(
        matches!(&errors[..], [Error::HandlerPanicked { job, item: 3, .. }] if job == "boom_detached"),
        "{errors:?}"
    );
    assert!(d.take_detached_errors().is_empty(), "taken once");
    // A panic nobody takes does not escape drop either.
    d.job(BOOM_DETACHED, 4).detached(0).unwrap();
    d.wait();
    drop(d);
}

#[test]
fn extension_errors_workers_disagree_spawn_too_many_items_closed() {
    let err = Dispatcher::new(2, |kernel: &mut Kernel| {
        if kernel.actor_index() == 1 {
            kernel.on("only_on_one", |_: usize, _: &()| ());
        }
    })
    .unwrap_err();
    assert!(
        matches!(err, Error::WorkersDisagree { actor: 1, .. }),
        "{err:?}"
    );

    let err = Dispatcher::builder()
        .actor_count(1)
        .stack_size(usize::MAX / 2)
        .build(worker)
        .unwrap_err();
    assert!(matches!(err, Error::Spawn { actor: 0, .. }), "{err:?}");

    let mut d = dispatcher(1);
    let err = d
        .dispatch(
            "square",
            usize::MAX,
            |_: Result<Vec<u64>, Error>| {},
            None,
            0_u64,
        )
        .unwrap_err();
    assert!(matches!(err, Error::TooManyItems { .. }), "{err:?}");

    let handle = d.handle();
    assert!(!handle.is_closed());
    d.destroy();
    assert!(handle.is_closed());
    assert_eq!(
        handle.dispatch_detached("count", 1, None, Arc::new(AtomicUsize::new(0))),
        Err(Error::Closed)
    );
}

#[test]
fn error_is_non_exhaustive_std_error_display_clone_eq() {
    assert_error_traits::<Error>();
    let err = Error::UnknownJob { job: "x".into() };
    assert_eq!(err.clone(), err);
    let _: &dyn std::error::Error = &err;
}

#[test]
fn dispatcher_and_handle_stay_on_the_master() {
    // Compile-time: both are !Send (see `AmbiguousIfSend`).
    <Dispatcher as AmbiguousIfSend<_>>::check();
    <weavekit::DispatchHandle as AmbiguousIfSend<_>>::check();
}

// ------------------------------------------------------------- Rust, next

#[test]
fn job_keys_are_const_copy_named_and_default_to_unit_results() {
    const TOUCH: Job<f32> = Job::new("touch");
    let copy = TOUCH;
    let _: Job<f32, ()> = copy;
    assert_eq!(TOUCH.name(), "touch");
    assert_eq!(copy.name(), TOUCH.name());
}

#[test]
fn a_key_and_a_str_name_the_same_handler_table() {
    let mut d = dispatcher(2);
    // Registered by string, dispatched by key ...
    const LEGACY: Job<u8, usize> = Job::new("legacy");
    let (fired, cb) = sink::<usize>();
    d.job(LEGACY, 3).tracked(10, cb()).unwrap();
    // ... registered by key, dispatched by string.
    let (squares, cb2) = sink::<u64>();
    d.job("square", 3).tracked(1_u64, cb2()).unwrap();
    d.wait();
    assert_eq!(fired.borrow()[0].as_ref().unwrap(), &[10, 11, 12]);
    assert_eq!(squares.borrow()[0].as_ref().unwrap(), &[1, 2, 5]);
}

#[test]
fn job_spec_chains_batch_after_deferred_reuse_and_ends_in_a_terminal() {
    let mut d = dispatcher(2);
    let first = d.job(SQUARE, 64).batch(8).tracked(0, |_| {}).unwrap();
    let storage = Vec::with_capacity(256);
    let ptr = storage.as_ptr();
    let got = Rc::new(Cell::new(None));
    let into = Rc::clone(&got);
    let second = d
        .job(SQUARE, 64)
        .batch(4)
        .after(&[first])
        .deferred()
        .reuse(storage)
        .tracked(1, move |buf| {
            let buf = buf.unwrap();
            into.set(Some((buf.as_ptr(), buf.len(), buf[63])));
        })
        .unwrap();
    assert_ne!(first, second);
    d.wait_for(second);
    assert_eq!(got.get(), Some((ptr, 64, 63 * 63 + 1)), "reused storage");
}

#[test]
fn after_starts_the_dependent_with_no_master_step() {
    let d = dispatcher(2);
    let gate = Arc::new(Gate::default());
    let first = d.job(GATED, 1).tracked(Arc::clone(&gate), |_| {}).unwrap();
    let (tx, rx) = mpsc::channel();
    d.job(SEND, 3)
        .after(&[first])
        .detached(Mutex::new(tx))
        .unwrap();
    gate.await_entered(1);
    assert!(rx.try_recv().is_err(), "the dependent started early");
    gate.open();
    // No poll, wait or wait_for on the master from here.
    let mut ids: Vec<usize> = (0..3).map(|_| rx.recv_timeout(PATIENCE).unwrap()).collect();
    ids.sort_unstable();
    assert_eq!(ids, [0, 1, 2]);
    drop(d);
}

#[test]
fn a_dependent_of_a_failed_or_cancelled_job_gets_dependency_failed() {
    let mut d = dispatcher(1);
    let failed = d.job(BOOM, 4).tracked(0, |_| {}).unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let (fired, cb) = sink::<u64>();
    d.job(SQUARE, 4).after(&[failed]).tracked(0, cb()).unwrap();
    let detached = d
        .job(COUNT, 4)
        .after(&[failed])
        .detached(Arc::clone(&hits))
        .unwrap();

    let gate = Arc::new(Gate::default());
    let cancelled = d
        .job(GATED, 8)
        .batch(1)
        .tracked(Arc::clone(&gate), cb_ignore)
        .unwrap();
    let future = d.job(SQUARE, 4).after(&[cancelled]).future(0).unwrap();
    gate.await_entered(1);
    assert!(d.cancel(cancelled));
    gate.open();
    d.wait();
    d.wait_for(detached);
    assert_eq!(hits.load(Ordering::SeqCst), 0, "the dependent did not run");
    assert_eq!(
        fired.borrow()[0],
        Err(Error::DependencyFailed {
            job: "square".into()
        })
    );
    assert_eq!(
        futures_lite::future::block_on(future),
        Err(Error::DependencyFailed {
            job: "square".into()
        })
    );
}

fn cb_ignore(_: Result<Vec<usize>, Error>) {}

#[test]
fn a_future_is_send_and_resolves_with_no_master_step() {
    let d = dispatcher(2);
    let future = d.job(SQUARE, 100).batch(3).future(2).unwrap();
    assert_send_static(&future);
    // Awaited on another thread while the master does nothing.
    let buf = thread::spawn(move || futures_lite::future::block_on(future))
        .join()
        .unwrap()
        .unwrap();
    assert_eq!(buf.len(), 100);
    assert_eq!(buf[99], 99 * 99 + 2);
    let err = futures_lite::future::block_on(d.job(BOOM, 3).future(1).unwrap()).unwrap_err();
    assert!(
        matches!(err, Error::HandlerPanicked { item: 1, .. }),
        "{err:?}"
    );
    drop(d);
}

#[test]
fn a_future_works_under_tokio_and_smol_executors() {
    let d = dispatcher(2);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let a = d.job(SQUARE, 10).future(0).unwrap();
    assert_eq!(runtime.block_on(a).unwrap()[3], 9);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .unwrap();
    let b = d.job(SQUARE, 10).future(1).unwrap();
    assert_eq!(runtime.block_on(runtime.spawn(b)).unwrap().unwrap()[3], 10);

    // smol's executor.
    let executor = async_executor::Executor::new();
    let task = executor.spawn(d.job(SQUARE, 10).future(2).unwrap());
    let buf = futures_lite::future::block_on(executor.run(task)).unwrap();
    assert_eq!(buf[3], 11);
    drop(d);
}

#[test]
fn dropping_an_unfinished_future_cancels_its_job() {
    let mut d = dispatcher(1);
    let gate = Arc::new(Gate::default());
    let hits = Arc::new(AtomicUsize::new(0));
    let held = d
        .job(GATED_DETACHED, 1)
        .detached(Arc::clone(&gate))
        .unwrap();
    let future = d.job(LOUD, 100).batch(1).future(Arc::clone(&hits)).unwrap();
    gate.await_entered(1);
    drop(future); // before any item of it was claimed
    gate.open();
    d.wait_for(held);
    d.wait();
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "no item of the dropped future ran"
    );
}

#[test]
fn remote_is_send_sync_clone_and_dispatches_from_any_thread() {
    assert_send_sync_clone::<weavekit::Remote>();
    let mut d = dispatcher(2);
    let gate = Arc::new(Gate::default());
    let first = d.job(GATED, 1).tracked(Arc::clone(&gate), |_| {}).unwrap();
    let flag = Arc::new(AtomicBool::new(false));
    let remote = d.remote();
    let hits = Arc::new(AtomicUsize::new(0));
    let (r2, h2, f2) = (remote.clone(), Arc::clone(&hits), Arc::clone(&flag));
    let other = thread::spawn(move || {
        r2.job(COUNT, 100).batch(7).detached(h2).unwrap();
        let dependent = r2.job(SEEN, 5).after(&[first]).future(f2).unwrap();
        futures_lite::future::block_on(dependent)
    });
    gate.await_entered(1);
    flag.store(true, Ordering::SeqCst);
    gate.open();
    let seen = other.join().unwrap().unwrap();
    assert_eq!(seen, [true; 5], "the remote job ran after its dependency");
    d.wait();
    assert_eq!(hits.load(Ordering::SeqCst), 100);
    drop(d);
    assert!(remote.is_closed());
    assert_eq!(
        remote.job(COUNT, 1).detached(Arc::clone(&hits)),
        Err(Error::Closed)
    );
    assert!(matches!(
        remote.job(SQUARE, 1).future(0),
        Err(Error::Closed)
    ));
}

#[test]
fn progress_cancel_and_wait_for_on_either_kind_of_job() {
    let mut d = dispatcher(1);
    let gate = Arc::new(Gate::default());
    let detached = d
        .job(GATED_DETACHED, 4)
        .batch(1)
        .detached(Arc::clone(&gate))
        .unwrap();
    let (fired, cb) = sink::<u64>();
    let tracked = d.job(SQUARE, 6).batch(1).tracked(0, cb()).unwrap();
    gate.await_entered(1);
    assert_eq!(d.progress(detached), Some(Progress { done: 0, total: 4 }));
    assert_eq!(d.progress(tracked), Some(Progress { done: 0, total: 6 }));
    assert!(d.cancel(tracked));
    gate.open();
    d.wait_for(detached);
    d.wait_for(tracked);
    assert_eq!(
        fired.borrow()[0],
        Err(Error::Cancelled {
            job: "square".into()
        })
    );
    // Finished and reported: None, false, and at once.
    for id in [detached, tracked] {
        assert_eq!(d.progress(id), None);
        assert!(!d.cancel(id));
        d.wait_for(id);
    }
    // An id this dispatcher never issued.
    let mut other = dispatcher(1);
    assert_eq!(other.progress(tracked), None);
    assert!(!other.cancel(detached));
    other.wait_for(tracked);
}

#[test]
fn builder_sets_count_stack_and_thread_names_and_new_is_the_builder() {
    let names = Arc::new(Mutex::new(Vec::new()));
    let into = Arc::clone(&names);
    let d = Dispatcher::builder()
        .actor_count(2)
        .stack_size(4 << 20)
        .thread_name(|i| format!("contract-{i}"))
        .build(move |kernel: &mut Kernel| {
            // A 2 MiB frame needs the larger stack.
            let big = [1_u8; 2 << 20];
            let sum: usize = std::hint::black_box(&big)
                .iter()
                .map(|b| usize::from(*b))
                .sum();
            assert_eq!(sum, 2 << 20);
            let name = thread::current().name().map(str::to_owned);
            into.lock().unwrap().push((kernel.actor_index(), name));
        })
        .unwrap();
    assert_eq!(d.actor_count(), 2);
    let mut names = names.lock().unwrap().clone();
    names.sort();
    assert_eq!(
        names,
        [
            (0, Some("contract-0".to_owned())),
            (1, Some("contract-1".to_owned()))
        ]
    );
    let err = Dispatcher::builder()
        .actor_count(0)
        .build(worker)
        .unwrap_err();
    assert_eq!(err, Dispatcher::new(0, worker).unwrap_err());
}

#[test]
fn an_actor_count_the_machine_cannot_start_is_an_err() {
    for count in [usize::MAX, 1 << 40] {
        let result = Dispatcher::new(count, worker);
        assert!(
            matches!(
                result,
                Err(Error::TooManyActors { .. } | Error::Spawn { .. })
            ),
            "{result:?}"
        );
    }
}

#[test]
fn destroy_timeout_drains_in_time_or_names_what_is_stuck() {
    let d = dispatcher(2);
    let (fired, cb) = sink::<u64>();
    d.job(SQUARE, 100).tracked(0, cb()).unwrap();
    assert_eq!(d.destroy_timeout(PATIENCE), Ok(()));
    assert_eq!(fired.borrow().len(), 1);

    let d = dispatcher(1);
    let gate = Arc::new(Gate::default());
    d.job(GATED_DETACHED, 1)
        .detached(Arc::clone(&gate))
        .unwrap();
    gate.await_entered(1);
    let err = d.destroy_timeout(Duration::from_millis(20)).unwrap_err();
    match &err {
        Error::Stuck { running, .. } => {
            assert_eq!(running.len(), 1, "{err}");
            assert_eq!(running[0].job, "gated_detached");
        }
        other => panic!("expected Stuck, got {other:?}"),
    }
    assert!(err.to_string().contains("gated_detached"), "{err}");
    gate.open(); // the actor finishes on its own
}

#[test]
fn a_panicking_drop_of_arguments_or_dropped_results_never_escapes() {
    const BOMB_ARGS: Job<Bomb> = Job::new("bomb_args");
    let mut d = Dispatcher::new(2, |kernel: &mut Kernel| {
        worker(kernel);
        kernel.on_detached(BOMB_ARGS, |_, _| {});
    })
    .unwrap();
    d.job(BOMB_ARGS, 10).detached(Bomb).unwrap();
    // Results the library drops: a detached run of a tracked handler.
    d.job(BOMBS, 3).batch(1).detached(()).unwrap();
    d.poll();
    d.wait();
    let mut errors = Vec::new();
    eventually("both drops reported", || {
        errors.extend(d.take_detached_errors());
        let args = errors.iter().any(|e| {
            matches!(e, Error::DropPanicked { job, message }
                if job == "bomb_args" && message.contains("bomb went off"))
        });
        // Reported like a handler panic: either form names the job and
        // carries the message.
        let results = errors.iter().any(|e| match e {
            Error::DropPanicked { job, message } | Error::HandlerPanicked { job, message, .. } => {
                job == "bombs" && message.contains("bomb went off")
            }
            _ => false,
        });
        args && results
    });
    d.job(BOMB_ARGS, 1).deferred().detached(Bomb).unwrap();
    drop(d); // the deferred job's arguments drop during shutdown
}

#[test]
fn a_master_job_after_a_remote_job_waits_for_it() {
    const SLOW_SET: Job<Arc<AtomicBool>> = Job::new("slow_set");
    let mut d = Dispatcher::new(2, |kernel: &mut Kernel| {
        worker(kernel);
        kernel.on_detached(SLOW_SET, |_, flag| {
            thread::sleep(Duration::from_millis(50));
            flag.store(true, Ordering::SeqCst);
        });
    })
    .unwrap();
    let remote = d.remote();
    let flag = Arc::new(AtomicBool::new(false));
    let first = remote.job(SLOW_SET, 1).detached(Arc::clone(&flag)).unwrap();
    let (fired, cb) = sink::<bool>();
    d.job(SEEN, 2)
        .after(&[first])
        .tracked(Arc::clone(&flag), cb())
        .unwrap();
    d.wait();
    assert_eq!(
        fired.borrow()[0],
        Ok(vec![true, true]),
        "ran before its dependency"
    );
}

#[test]
fn a_future_left_unfinished_by_destroy_timeout_still_resolves() {
    let d = dispatcher(1);
    let gate = Arc::new(Gate::default());
    let future = d.job(GATED, 3).batch(1).future(Arc::clone(&gate)).unwrap();
    let queued = d.remote().job(SQUARE, 2).future(0).unwrap();
    gate.await_entered(1);
    let err = d.destroy_timeout(Duration::from_millis(10)).unwrap_err();
    assert!(matches!(err, Error::Stuck { .. }), "{err:?}");
    gate.open();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(futures_lite::future::block_on(future).map(|buf| buf.len()));
        let _ = tx.send(futures_lite::future::block_on(queued).map(|buf| buf.len()));
    });
    // Any outcome will do (Ok, or an error such as Closed); never none.
    for which in ["the running job's future", "the queued job's future"] {
        let outcome = rx.recv_timeout(Duration::from_secs(5));
        assert!(outcome.is_ok(), "{which} never resolved");
    }
}

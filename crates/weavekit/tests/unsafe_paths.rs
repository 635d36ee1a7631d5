//! The paths through the crate's `unsafe` code (result slots written by
//! actors, taken by the master, dropped after a failure), with results that
//! count their drops. Run under Miri by `.ci/run`; loops shrink there.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use weavekit::{Dispatcher, Error, Job, Kernel};

const ITEMS: usize = if cfg!(miri) { 24 } else { 2_000 };

/// A result that counts how many of its kind are alive.
struct Counted {
    id: usize,
    live: Arc<AtomicUsize>,
}

impl Counted {
    fn new(id: usize, live: &Arc<AtomicUsize>) -> Counted {
        live.fetch_add(1, Ordering::SeqCst);
        Counted {
            id,
            live: Arc::clone(live),
        }
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.live.fetch_sub(1, Ordering::SeqCst);
    }
}

fn dispatcher(live: &Arc<AtomicUsize>, fail_at: usize) -> Dispatcher {
    let live = Arc::clone(live);
    Dispatcher::new(2, move |kernel: &mut Kernel| {
        let live = Arc::clone(&live);
        kernel.on("count", move |id: usize, _: &()| {
            if id == fail_at {
                panic!("item {id} fails");
            }
            Counted::new(id, &live)
        });
        kernel.on("unit", |_: usize, _: &()| ());
    })
    .unwrap()
}

type Outcome = Rc<RefCell<Option<Result<Vec<Counted>, Error>>>>;

fn run(dispatcher: &mut Dispatcher, batch: Option<usize>) -> Result<Vec<Counted>, Error> {
    let outcome: Outcome = Rc::default();
    let slot = Rc::clone(&outcome);
    dispatcher
        .dispatch(
            "count",
            ITEMS,
            move |buf| *slot.borrow_mut() = Some(buf),
            batch,
            (),
        )
        .unwrap();
    dispatcher.wait();
    let result = outcome.borrow_mut().take();
    result.expect("callback fired")
}

#[test]
fn results_land_in_order_and_drop_once() {
    let live = Arc::new(AtomicUsize::new(0));
    let mut dispatcher = dispatcher(&live, usize::MAX);
    for batch in [None, Some(1), Some(7)] {
        let buf = run(&mut dispatcher, batch).unwrap();
        assert!(buf.iter().enumerate().all(|(i, c)| c.id == i));
        assert_eq!(live.load(Ordering::SeqCst), ITEMS);
        drop(buf);
        assert_eq!(live.load(Ordering::SeqCst), 0);
    }
}

#[test]
fn a_failed_job_drops_every_result_it_made() {
    let live = Arc::new(AtomicUsize::new(0));
    let mut dispatcher = dispatcher(&live, ITEMS / 2);
    for batch in [None, Some(1), Some(5)] {
        let error = run(&mut dispatcher, batch).err().expect("the job fails");
        assert!(matches!(error, Error::HandlerPanicked { item, .. } if item == ITEMS / 2));
        assert_eq!(live.load(Ordering::SeqCst), 0);
    }
}

#[test]
fn detached_runs_of_tracked_handlers_drop_their_results() {
    let live = Arc::new(AtomicUsize::new(0));
    let mut dispatcher = dispatcher(&live, usize::MAX);
    dispatcher
        .dispatch_detached("count", ITEMS, Some(3), ())
        .unwrap();
    dispatcher.wait();
    assert_eq!(live.load(Ordering::SeqCst), 0);
}

#[test]
fn zero_sized_results_and_zero_items() {
    let live = Arc::new(AtomicUsize::new(0));
    let mut dispatcher = dispatcher(&live, usize::MAX);
    let lens: Rc<RefCell<Vec<usize>>> = Rc::default();
    for items in [0, 1, ITEMS] {
        let lens = Rc::clone(&lens);
        dispatcher
            .dispatch(
                "unit",
                items,
                move |buf: Result<Vec<()>, Error>| lens.borrow_mut().push(buf.unwrap().len()),
                None,
                (),
            )
            .unwrap();
    }
    dispatcher.wait();
    assert_eq!(*lens.borrow(), [0, 1, ITEMS]);
}

#[test]
fn dropping_the_dispatcher_drains_pending_results() {
    let live = Arc::new(AtomicUsize::new(0));
    let mut dispatcher = dispatcher(&live, usize::MAX);
    let fired = Rc::new(RefCell::new(0));
    for _ in 0..3 {
        let fired = Rc::clone(&fired);
        dispatcher
            .dispatch(
                "count",
                ITEMS,
                move |buf: Result<Vec<Counted>, Error>| {
                    assert_eq!(buf.unwrap().len(), ITEMS);
                    *fired.borrow_mut() += 1;
                },
                None,
                (),
            )
            .unwrap();
    }
    drop(dispatcher);
    assert_eq!(*fired.borrow(), 3);
    assert_eq!(live.load(Ordering::SeqCst), 0);
}

/// A cancel lands while items have been written: the written slots (and
/// only those) are dropped, once, and the callback gets `Cancelled`.
#[test]
fn a_cancelled_job_drops_the_results_it_made() {
    const HELD: Job<Arc<(AtomicUsize, AtomicUsize)>, Counted> = Job::new("held");
    let live = Arc::new(AtomicUsize::new(0));
    let made = Arc::clone(&live);
    let mut dispatcher = Dispatcher::new(1, move |kernel: &mut Kernel| {
        let live = Arc::clone(&made);
        // `(arrived, open)`: item 3 announces itself and spins until the
        // test opens the way.
        kernel.on(HELD, move |id, flags| {
            if id == 3 {
                flags.0.store(1, Ordering::SeqCst);
                while flags.1.load(Ordering::SeqCst) == 0 {
                    std::thread::yield_now();
                }
            }
            Counted::new(id, &live)
        });
    })
    .unwrap();
    let flags = Arc::new((AtomicUsize::new(0), AtomicUsize::new(0)));
    let outcome: Outcome = Rc::default();
    let slot = Rc::clone(&outcome);
    let id = dispatcher
        .job(HELD, ITEMS)
        .batch(1)
        .tracked(Arc::clone(&flags), move |buf| {
            *slot.borrow_mut() = Some(buf)
        })
        .unwrap();
    while flags.0.load(Ordering::SeqCst) == 0 {
        std::thread::yield_now();
    }
    assert!(dispatcher.cancel(id));
    flags.1.store(1, Ordering::SeqCst);
    dispatcher.wait_for(id);
    let result = outcome.borrow_mut().take().expect("callback fired");
    assert!(matches!(result, Err(Error::Cancelled { .. })));
    assert_eq!(live.load(Ordering::SeqCst), 0, "items 0..=3 were dropped");
}

/// A reused buffer's old elements are dropped and its storage written.
#[test]
fn a_reused_buffer_drops_its_old_contents() {
    let live = Arc::new(AtomicUsize::new(0));
    let mut dispatcher = dispatcher(&live, usize::MAX);
    const COUNT: Job<(), Counted> = Job::new("count");
    let outcome: Outcome = Rc::default();
    for _ in 0..3 {
        let old = outcome
            .borrow_mut()
            .take()
            .map_or_else(Vec::new, Result::unwrap);
        let slot = Rc::clone(&outcome);
        dispatcher
            .job(COUNT, ITEMS)
            .reuse(old)
            .tracked((), move |buf| *slot.borrow_mut() = Some(buf))
            .unwrap();
        dispatcher.wait();
        assert_eq!(live.load(Ordering::SeqCst), ITEMS);
    }
    drop(outcome.borrow_mut().take());
    assert_eq!(live.load(Ordering::SeqCst), 0);
}

/// Polls `future` to the end on this thread (a minimal executor).
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    use std::task::{Context, Poll, Wake, Waker};
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut future = std::pin::pin!(future);
    loop {
        if let Poll::Ready(value) = future.as_mut().poll(&mut Context::from_waker(&waker)) {
            return value;
        }
        std::thread::park();
    }
}

/// A future's results are written by the actors and handed over by the
/// one that finishes; a failed or dropped future's results are dropped.
#[test]
fn futures_hand_over_or_drop_their_results() {
    const COUNT: Job<(), Counted> = Job::new("count");
    let live = Arc::new(AtomicUsize::new(0));
    let mut dispatcher = dispatcher(&live, ITEMS / 2);
    let buf = block_on(
        dispatcher
            .job(COUNT, ITEMS / 2)
            .batch(3)
            .future(())
            .unwrap(),
    )
    .unwrap();
    assert!(buf.iter().enumerate().all(|(i, c)| c.id == i));
    assert_eq!(live.load(Ordering::SeqCst), ITEMS / 2);
    drop(buf);
    let failed = block_on(dispatcher.job(COUNT, ITEMS).batch(1).future(()).unwrap());
    assert!(matches!(failed, Err(Error::HandlerPanicked { .. })));
    // Dropped unawaited: cancelled, whatever ran is dropped.
    drop(dispatcher.job(COUNT, ITEMS / 2).future(()).unwrap());
    let remote = dispatcher.remote();
    let from_remote = remote.job(COUNT, 4).future(()).unwrap();
    dispatcher.wait();
    assert_eq!(live.load(Ordering::SeqCst), 4, "only the remote's results");
    drop(from_remote);
    assert_eq!(live.load(Ordering::SeqCst), 0);
}

//! Helpers shared by the integration tests: a probe job that counts how often
//! each item ran, callback sinks that record every firing, a drop counter, a
//! gate to hold an actor inside a handler, and a fixed-seed PRNG.
//!
//! Every test file includes this module but uses only part of it.
#![allow(dead_code)]

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use weavekit::{Dispatcher, Error, Kernel};

/// `n` in normal runs, `miri` under Miri (whose interpreter is ~1000x slower).
pub const fn scaled(n: usize, miri: usize) -> usize {
    if cfg!(miri) {
        miri
    } else {
        n
    }
}

/// The result the probe handler computes for item `id`.
pub fn expected(id: usize, salt: u64) -> u64 {
    (id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ salt
}

/// Arguments of the probe jobs: a salt mixed into each result, and one hit
/// counter per item, so a test can check each item ran exactly once.
pub struct Probe {
    pub salt: u64,
    pub hits: Vec<AtomicUsize>,
}

impl Probe {
    pub fn new(items: usize, salt: u64) -> Arc<Probe> {
        Arc::new(Probe {
            salt,
            hits: (0..items).map(|_| AtomicUsize::new(0)).collect(),
        })
    }

    /// Panics unless every item ran exactly `times` times.
    pub fn assert_each_ran(&self, times: usize, context: &str) {
        for (id, hits) in self.hits.iter().enumerate() {
            let hits = hits.load(Ordering::Relaxed);
            assert_eq!(hits, times, "{context}: item {id} ran {hits} times");
        }
    }
}

/// Registers the probe handlers:
/// - `"probe"` (tracked, `&Arc<Probe>` -> `u64`): counts the item, returns
///   [`expected`];
/// - `"probe_detached"` (detached, `&Arc<Probe>`): counts the item.
pub fn probe_worker(kernel: &mut Kernel) {
    kernel.on("probe", |id: usize, probe: &Arc<Probe>| {
        probe.hits[id].fetch_add(1, Ordering::Relaxed);
        expected(id, probe.salt)
    });
    kernel.on_detached("probe_detached", |id: usize, probe: &Arc<Probe>| {
        probe.hits[id].fetch_add(1, Ordering::Relaxed);
    });
}

/// Every value a callback was called with, in firing order.
pub type Calls<R> = Rc<RefCell<Vec<Result<Vec<R>, Error>>>>;

/// A callback that records its argument, and the record it writes to.
#[allow(clippy::type_complexity)]
pub fn sink<R: 'static>() -> (Calls<R>, impl FnOnce(Result<Vec<R>, Error>) + 'static) {
    let calls: Calls<R> = Rc::new(RefCell::new(Vec::new()));
    let record = Rc::clone(&calls);
    (calls, move |result| record.borrow_mut().push(result))
}

/// The single result recorded in `calls`; panics unless the callback fired
/// exactly once.
pub fn only<R: Clone>(calls: &Calls<R>) -> Result<Vec<R>, Error> {
    let calls = calls.borrow();
    assert_eq!(calls.len(), 1, "the callback must fire exactly once");
    calls[0].clone()
}

/// Runs a tracked probe job of `items` items and a detached one, waits, and
/// checks the results, the buffer length and that each item ran exactly
/// once in each job.
pub fn check_probe(dispatcher: &mut Dispatcher, items: usize, batch: Option<usize>, salt: u64) {
    let context = format!("{items} items, batch {batch:?}, salt {salt}");
    let probe = Probe::new(items, salt);
    let (calls, callback) = sink::<u64>();
    dispatcher
        .dispatch("probe", items, callback, batch, Arc::clone(&probe))
        .unwrap();
    dispatcher.wait();
    let buf = only(&calls).unwrap_or_else(|e| panic!("{context}: {e}"));
    assert_probe_buffer(&buf, items, salt, &context);
    probe.assert_each_ran(1, &context);

    let probe = Probe::new(items, salt);
    dispatcher
        .dispatch_detached("probe_detached", items, batch, Arc::clone(&probe))
        .unwrap();
    dispatcher.wait();
    probe.assert_each_ran(1, &format!("detached, {context}"));
    assert_eq!(dispatcher.in_flight(), 0, "{context}");
}

/// Panics unless `buf` is the probe job's result for `items` items.
pub fn assert_probe_buffer(buf: &[u64], items: usize, salt: u64, context: &str) {
    assert_eq!(buf.len(), items, "{context}: buffer length");
    for (id, value) in buf.iter().enumerate() {
        assert_eq!(*value, expected(id, salt), "{context}: buf[{id}]");
    }
}

/// A small xorshift64* PRNG: deterministic test data without dependencies.
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> XorShift {
        XorShift(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform-enough in `range` (`range.start < range.end`).
    pub fn below(&mut self, end: usize) -> usize {
        (self.next_u64() % end as u64) as usize
    }

    pub fn range(&mut self, start: usize, end: usize) -> usize {
        start + self.below(end - start)
    }
}

/// A value that counts how often it was constructed and dropped.
#[derive(Debug)]
pub struct Tracked {
    pub id: usize,
    counter: Arc<DropCounter>,
}

/// Construction and drop counts of [`Tracked`] values.
#[derive(Debug, Default)]
pub struct DropCounter {
    pub made: AtomicUsize,
    pub dropped: AtomicUsize,
}

impl DropCounter {
    pub fn made(&self) -> usize {
        self.made.load(Ordering::SeqCst)
    }

    pub fn dropped(&self) -> usize {
        self.dropped.load(Ordering::SeqCst)
    }
}

impl Tracked {
    pub fn new(id: usize, counter: &Arc<DropCounter>) -> Tracked {
        counter.made.fetch_add(1, Ordering::SeqCst);
        Tracked {
            id,
            counter: Arc::clone(counter),
        }
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.counter.dropped.fetch_add(1, Ordering::SeqCst);
    }
}

/// A gate an actor can be held at inside a handler until the test opens it.
#[derive(Default)]
pub struct Gate {
    open: Mutex<bool>,
    opened: Condvar,
    /// How many handlers have reached the gate.
    pub arrived: AtomicUsize,
}

impl Gate {
    pub fn new() -> Arc<Gate> {
        Arc::new(Gate::default())
    }

    /// Actor side: blocks until the gate is opened.
    pub fn pass(&self) {
        self.arrived.fetch_add(1, Ordering::SeqCst);
        let mut open = self.open.lock().unwrap();
        while !*open {
            open = self.opened.wait(open).unwrap();
        }
    }

    pub fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.opened.notify_all();
    }

    /// Test side: spins until `n` handlers are held at the gate.
    pub fn await_arrivals(&self, n: usize) {
        while self.arrived.load(Ordering::SeqCst) < n {
            std::thread::yield_now();
        }
    }
}

/// Opens the gate when dropped, so a failing assertion never leaves an actor
/// blocked (which would hang the dispatcher's drop).
pub struct OpenOnDrop(pub Arc<Gate>);

impl Drop for OpenOnDrop {
    fn drop(&mut self) {
        self.0.open();
    }
}

/// Runs `f`, expecting it to panic; returns the panic message.
pub fn panic_message(f: impl FnOnce()) -> String {
    let payload =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).expect_err("expected a panic");
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        String::from("<non-string panic payload>")
    }
}

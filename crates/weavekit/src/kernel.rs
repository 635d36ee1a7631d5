//! The actor side: a [`Kernel`] holds one actor's named handlers and runs
//! batches of items through them.
//!
//! Handlers are registered with their concrete types and stored type-erased
//! behind [`ErasedHandler`]. The erasure is per *batch*, not per item: one
//! virtual call and one argument downcast run a whole contiguous range, and
//! the loop inside is monomorphised for the handler, so a handler of a few
//! nanoseconds costs a few nanoseconds per item.
//!
//! Handlers live on their actor's thread and never leave it, so they need be
//! neither `Send` nor `Sync`: per-actor state is plain captured data.

use std::any::{type_name, Any, TypeId};
use std::collections::HashMap;
use std::marker::PhantomData;
use std::ops::Range;
use std::ptr;

use crate::key::JobKey;
use crate::unwind;

/// An actor's handler table, filled in by the worker entry.
///
/// Each actor runs the worker entry once, on its own thread, with its own
/// `Kernel`; whatever the entry creates and moves into its handlers is that
/// actor's private state (Weave's per-actor Luau VM state).
///
/// # Examples
///
/// ```
/// use weavekit::Kernel;
///
/// fn worker(kernel: &mut Kernel) {
///     let mut calls = 0_u64; // private to this actor
///     kernel.on("square", move |id: usize, _: &()| {
///         calls += 1;
///         id * id
///     });
///     kernel.on_detached("log", |id: usize, prefix: &String| {
///         let _ = (id, prefix);
///     });
/// }
/// # let mut d = weavekit::Dispatcher::new(1, worker).unwrap();
/// # d.dispatch("square", 3, |r: Result<Vec<usize>, _>| assert_eq!(r.unwrap(), [0, 1, 4]), None, ()).unwrap();
/// # d.wait();
/// ```
pub struct Kernel {
    actor_index: usize,
    actor_count: usize,
    handlers: Vec<Box<dyn ErasedHandler>>,
    signatures: Vec<Signature>,
    index_by_name: HashMap<String, usize>,
}

impl Kernel {
    pub(crate) fn new(actor_index: usize, actor_count: usize) -> Kernel {
        Kernel {
            actor_index,
            actor_count,
            handlers: Vec::new(),
            signatures: Vec::new(),
            index_by_name: HashMap::new(),
        }
    }

    /// Registers a *tracked* handler: `handler(id, args)` computes item
    /// `id`'s result, which lands in the job's buffer at index `id`.
    ///
    /// `key` is a typed [`Job<A, R>`](crate::Job) (the closure's types then
    /// come from it) or a plain `&str` name; both name the same handler.
    /// Registering a name again replaces the earlier handler.
    ///
    /// # Examples
    ///
    /// ```
    /// use weavekit::{Dispatcher, Error, Job, Kernel};
    ///
    /// const CUBE: Job<(), u64> = Job::new("cube");
    ///
    /// let mut d = Dispatcher::new(1, |kernel: &mut Kernel| {
    ///     kernel.on(CUBE, |id, _| (id as u64).pow(3)); // types from the key
    ///     kernel.on("half", |id: usize, _: &()| id / 2); // or annotated
    /// })?;
    /// d.job(CUBE, 3).tracked((), |buf| assert_eq!(buf.unwrap(), [0, 1, 8]))?;
    /// d.job("half", 3).tracked((), |buf: Result<Vec<usize>, Error>| {
    ///     assert_eq!(buf.unwrap(), [0, 0, 1]);
    /// })?;
    /// d.wait();
    /// # Ok::<(), Error>(())
    /// ```
    pub fn on<'k, A, R, F, K>(&mut self, key: K, handler: F)
    where
        K: JobKey<'k, A, R>,
        F: FnMut(usize, &A) -> R + 'static,
        A: 'static,
        R: Send + 'static,
    {
        let signature = Signature {
            name: key.name().to_owned(),
            kind: HandlerKind::Tracked,
            args: TypeTag::of::<A>(),
            result: TypeTag::of::<R>(),
        };
        self.insert(signature, Box::new(Tracked::new(handler)));
    }

    /// Registers a *detached* handler: `handler(id, args)` runs for its side
    /// effects; nothing is sent back.
    ///
    /// `key` is a typed [`Job<A>`](crate::Job) or a plain `&str` name.
    /// Registering a name again replaces the earlier handler.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use weavekit::{Dispatcher, Error, Job, Kernel};
    ///
    /// static TOUCHED: AtomicUsize = AtomicUsize::new(0);
    /// const TOUCH: Job<usize> = Job::new("touch");
    ///
    /// let mut d = Dispatcher::new(2, |kernel: &mut Kernel| {
    ///     kernel.on_detached(TOUCH, |_, step| {
    ///         TOUCHED.fetch_add(*step, Ordering::Relaxed);
    ///     });
    /// })?;
    /// d.job(TOUCH, 10).detached(3)?;
    /// d.wait();
    /// assert_eq!(TOUCHED.load(Ordering::Relaxed), 30);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn on_detached<'k, A, F, K>(&mut self, key: K, handler: F)
    where
        K: JobKey<'k, A, ()>,
        F: FnMut(usize, &A) + 'static,
        A: 'static,
    {
        let signature = Signature {
            name: key.name().to_owned(),
            kind: HandlerKind::Detached,
            args: TypeTag::of::<A>(),
            result: TypeTag::of::<()>(),
        };
        self.insert(signature, Box::new(Detached::new(handler)));
    }

    /// This actor's index, in `0..actor_count`.
    pub fn actor_index(&self) -> usize {
        self.actor_index
    }

    /// How many actors the dispatcher runs.
    pub fn actor_count(&self) -> usize {
        self.actor_count
    }

    fn insert(&mut self, signature: Signature, handler: Box<dyn ErasedHandler>) {
        match self.index_by_name.get(&signature.name) {
            Some(&index) => {
                self.handlers[index] = handler;
                self.signatures[index] = signature;
            }
            None => {
                self.index_by_name
                    .insert(signature.name.clone(), self.handlers.len());
                self.handlers.push(handler);
                self.signatures.push(signature);
            }
        }
    }

    /// Orders the handler table by name, once the worker entry has
    /// returned, so actors that registered the same handlers in different
    /// orders (say, from a `HashMap`) end up with the same table indices.
    pub(crate) fn seal(&mut self) {
        let mut table: Vec<(Signature, Box<dyn ErasedHandler>)> = self
            .signatures
            .drain(..)
            .zip(self.handlers.drain(..))
            .collect();
        table.sort_by(|(a, _), (b, _)| a.name.cmp(&b.name));
        self.index_by_name.clear();
        for (index, (signature, handler)) in table.into_iter().enumerate() {
            self.index_by_name.insert(signature.name.clone(), index);
            self.signatures.push(signature);
            self.handlers.push(handler);
        }
    }

    /// The registered handlers' signatures, indexed like the handlers.
    pub(crate) fn signatures(&self) -> &[Signature] {
        &self.signatures
    }

    /// The handler at `index`, as resolved by the master's registry.
    pub(crate) fn handler(&mut self, index: usize) -> &mut dyn ErasedHandler {
        &mut *self.handlers[index]
    }
}

/// Whether a handler returns results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HandlerKind {
    /// Registered with [`Kernel::on`].
    Tracked,
    /// Registered with [`Kernel::on_detached`].
    Detached,
}

/// A type's identity and its name for error messages.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TypeTag {
    pub(crate) id: TypeId,
    pub(crate) name: &'static str,
}

impl TypeTag {
    pub(crate) fn of<T: 'static>() -> TypeTag {
        TypeTag {
            id: TypeId::of::<T>(),
            name: type_name::<T>(),
        }
    }
}

impl PartialEq for TypeTag {
    fn eq(&self, other: &TypeTag) -> bool {
        self.id == other.id
    }
}

impl Eq for TypeTag {}

/// What the master needs to check a dispatch against a handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Signature {
    pub(crate) name: String,
    pub(crate) kind: HandlerKind,
    pub(crate) args: TypeTag,
    pub(crate) result: TypeTag,
}

/// A panic on one item of a batch.
#[derive(Debug)]
pub(crate) struct ItemPanic {
    pub(crate) item: usize,
    pub(crate) message: String,
}

/// Where a batch's results go.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Output {
    /// Drop each result (a detached dispatch of a tracked handler).
    Discard,
    /// Write item `i`'s result to `base.add(i)`; `base` points to the job's
    /// buffer of the handler's result type.
    Slots(*mut ()),
}

/// A handler with its types erased, called once per batch.
pub(crate) trait ErasedHandler {
    /// Runs items `range` with `args`, stopping at the first panic.
    ///
    /// On a panic, results already written for this batch are dropped again,
    /// so a batch's slots are either all initialised (`Ok`) or all
    /// uninitialised (`Err`).
    ///
    /// # Safety
    ///
    /// With [`Output::Slots`], `base` must point to an allocation of the
    /// handler's result type with room for at least `range.end` values, whose
    /// slots in `range` are uninitialised and written by no other thread
    /// during this call.
    unsafe fn run(
        &mut self,
        args: &(dyn Any + Send + Sync),
        range: Range<usize>,
        output: Output,
    ) -> Result<(), ItemPanic>;
}

/// A handler registered with [`Kernel::on`].
struct Tracked<A, R, F> {
    handler: F,
    _types: PhantomData<fn(&A) -> R>,
}

impl<A, R, F> Tracked<A, R, F> {
    fn new(handler: F) -> Self {
        Tracked {
            handler,
            _types: PhantomData,
        }
    }
}

impl<A, R, F> ErasedHandler for Tracked<A, R, F>
where
    F: FnMut(usize, &A) -> R,
    A: 'static,
{
    unsafe fn run(
        &mut self,
        args: &(dyn Any + Send + Sync),
        range: Range<usize>,
        output: Output,
    ) -> Result<(), ItemPanic> {
        let mut next = range.start;
        let outcome = unwind::catch(|| {
            let args = downcast::<A>(args);
            match output {
                Output::Discard => for_each_item(range.clone(), &mut next, |id| {
                    drop((self.handler)(id, args));
                }),
                Output::Slots(base) => {
                    let base = base.cast::<R>();
                    for_each_item(range.clone(), &mut next, |id| {
                        let value = (self.handler)(id, args);
                        // SAFETY: the caller guarantees `base` has room for
                        // `range.end` values of `R` and that slot `id`
                        // (inside `range`) is uninitialised and ours alone.
                        unsafe { base.add(id).write(value) };
                    });
                }
            }
        });
        outcome.map_err(|mut message| {
            if let Output::Slots(base) = output {
                // SAFETY: slots `range.start..next` were written above and
                // nobody else touches them (the caller's guarantee).
                let dropped = unsafe { drop_slots(base.cast::<R>(), range.start..next) };
                if let Some(panic) = dropped {
                    note_drop_panic(&mut message, &panic);
                }
            }
            ItemPanic {
                item: next,
                message,
            }
        })
    }
}

/// Drops slots `range` of `base`: the results of a failed batch, or of a
/// failed job. A panicking `Drop` never unwinds into an actor or the
/// master's poll: each slot is dropped in its own catch, and the first
/// panic's message is returned (for the job's error).
///
/// # Safety
///
/// The slots must be initialised and owned by the caller; afterwards they
/// count as uninitialised.
pub(crate) unsafe fn drop_slots<R>(base: *mut R, range: Range<usize>) -> Option<String> {
    let mut first = None;
    for index in range {
        // SAFETY: the caller guarantees slot `index` is initialised and
        // ours; each slot is dropped once, each in its own catch, so one
        // panicking `Drop` neither skips nor aborts the others.
        let slot = unsafe { base.add(index) };
        // SAFETY: as above.
        if let Err(message) = unwind::catch(|| unsafe { ptr::drop_in_place(slot) }) {
            first.get_or_insert(message);
        }
    }
    first
}

/// Adds to a job's panic message that dropping its results panicked too.
pub(crate) fn note_drop_panic(message: &mut String, panic: &str) {
    message.push_str(" (dropping the results made before it also panicked: ");
    message.push_str(panic);
    message.push(')');
}

/// A handler registered with [`Kernel::on_detached`].
struct Detached<A, F> {
    handler: F,
    _types: PhantomData<fn(&A)>,
}

impl<A, F> Detached<A, F> {
    fn new(handler: F) -> Self {
        Detached {
            handler,
            _types: PhantomData,
        }
    }
}

impl<A, F> ErasedHandler for Detached<A, F>
where
    F: FnMut(usize, &A),
    A: 'static,
{
    unsafe fn run(
        &mut self,
        args: &(dyn Any + Send + Sync),
        range: Range<usize>,
        _output: Output,
    ) -> Result<(), ItemPanic> {
        let mut next = range.start;
        unwind::catch(|| {
            let args = downcast::<A>(args);
            for_each_item(range, &mut next, |id| (self.handler)(id, args));
        })
        .map_err(|message| ItemPanic {
            item: next,
            message,
        })
    }
}

/// Calls `body(id)` for each item of `range` in order, leaving in `*reached`
/// the item it stopped at: `range.end` when done, the item whose call
/// panicked on unwinding.
///
/// The position lives in a guard local to this function and is written out
/// only when the guard drops. Updating `*reached` on every item instead
/// would keep the loop counter in memory (its address escapes into the
/// panic catch), which costs about a third of the time of a small handler.
#[inline(always)]
fn for_each_item(range: Range<usize>, reached: &mut usize, mut body: impl FnMut(usize)) {
    /// Reports the position when dropped, normally or while unwinding.
    struct Position<'a> {
        at: usize,
        out: &'a mut usize,
    }
    impl Drop for Position<'_> {
        fn drop(&mut self) {
            *self.out = self.at;
        }
    }
    let end = range.end;
    let mut position = Position {
        at: range.start,
        out: reached,
    };
    while position.at < end {
        body(position.at);
        position.at += 1;
    }
}

/// The job's arguments as the handler's type. The dispatcher checked the
/// type before queueing the job, so a mismatch is a bug in this crate; it
/// panics inside the batch's catch and so still reaches the job as an error.
fn downcast<A: 'static>(args: &(dyn Any + Send + Sync)) -> &A {
    args.downcast_ref::<A>()
        .expect("weavekit bug: argument type was checked at dispatch")
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn run_into<R>(
        kernel: &mut Kernel,
        name: &str,
        range: Range<usize>,
        out: &mut Vec<R>,
    ) -> Result<(), ItemPanic> {
        let index = kernel.index_by_name[name];
        out.reserve(range.end);
        let base = out.as_mut_ptr().cast::<()>();
        // SAFETY: `out` has room for `range.end` values of the handler's
        // result type `R`, its slots are uninitialised, and nothing else
        // touches them during the call.
        unsafe { kernel.handler(index).run(&(), range, Output::Slots(base)) }
    }

    #[test]
    fn a_batch_writes_its_slots_in_place() {
        let mut kernel = Kernel::new(0, 1);
        kernel.on("square", |id: usize, _: &()| id * id);
        let mut out: Vec<usize> = Vec::new();
        run_into(&mut kernel, "square", 0..5, &mut out).unwrap();
        // SAFETY: the batch above initialised slots 0..5.
        unsafe { out.set_len(5) };
        assert_eq!(out, [0, 1, 4, 9, 16]);
    }

    #[test]
    fn a_panic_reports_its_item_and_unwrites_the_batch() {
        let mut kernel = Kernel::new(0, 1);
        kernel.on("boom", |id: usize, _: &()| {
            assert!(id != 3, "item three");
            String::from("made")
        });
        let mut out: Vec<String> = Vec::new();
        let panic = run_into(&mut kernel, "boom", 1..6, &mut out).unwrap_err();
        assert_eq!(panic.item, 3);
        assert!(panic.message.contains("item three"), "{}", panic.message);
        // Slots 1 and 2 were dropped again; `out` stays empty (Miri checks
        // that nothing leaks or is dropped twice).
        assert!(out.is_empty());
    }

    #[test]
    fn registering_a_name_again_replaces_the_handler() {
        let mut kernel = Kernel::new(0, 1);
        kernel.on("f", |_: usize, _: &()| 1_u8);
        kernel.on("f", |_: usize, _: &()| 2_u8);
        assert_eq!(kernel.signatures().len(), 1);
        let mut out: Vec<u8> = Vec::new();
        run_into(&mut kernel, "f", 0..1, &mut out).unwrap();
        // SAFETY: the batch above initialised slot 0.
        unsafe { out.set_len(1) };
        assert_eq!(out, [2]);
    }

    #[test]
    fn sealing_orders_handlers_by_name() {
        let mut kernel = Kernel::new(0, 1);
        kernel.on("b", |id: usize, _: &()| id);
        kernel.on_detached("a", |_: usize, _: &()| {});
        kernel.seal();
        let names: Vec<&str> = kernel
            .signatures()
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(kernel.index_by_name["b"], 1);
        let mut out: Vec<usize> = Vec::new();
        run_into(&mut kernel, "b", 0..2, &mut out).unwrap();
        // SAFETY: the batch above initialised slots 0..2.
        unsafe { out.set_len(2) };
        assert_eq!(out, [0, 1]);
    }
}

//! The master: runs the master script in its VM and drives the task
//! scheduler until the script, every task and every job it started have
//! finished.
//!
//! # The scheduler step
//!
//! Roblox resumes threads at points of its frame; here a *step* runs as soon
//! as there is something to do, in this order:
//!
//! 1. every dispatcher is polled: deferred dispatches start (so
//!    `DispatchDeferred` never starts inside its call), finished jobs queue
//!    their callbacks, detached handler errors are reported;
//! 2. queued callbacks run, each as a new thread, with `(buf, err)`;
//! 3. the timers due now (`task.wait(t)`, `task.delay`) resume, earliest
//!    first, then the threads that yielded (`task.wait()`) before this step;
//!    anything scheduled during the step waits for the next one, so
//!    `task.wait()` always resumes at the *next* step, after the callbacks
//!    of every job that had finished by then.
//!
//! After every resumption the deferred queue (`task.defer`) is drained, as
//! Roblox does at the end of a resumption cycle.
//!
//! A step with nothing to do but yields does not start the next one at once:
//! the master sleeps until the next timer, or a yield's
//! [`FRAME`](crate::scheduler::FRAME) runs out, or a job finishes. While one
//! dispatcher has work in flight it sleeps in that dispatcher's
//! `wait_timeout` (which returns when a job's callback is ready); otherwise
//! in `park_timeout`, and the actors unpark the master thread whenever a job
//! finishes. Park's token makes a wake-up that lands before the park return
//! at once, so none is lost; the sleep is capped anyway, so a missed wake-up
//! could only cost latency, never a hang. This keeps a
//! `while not done do task.wait() end` loop from spinning a core the actors
//! need.
//!
//! The Rust side never holds a `RefCell` borrow while Luau code runs: queues
//! are borrowed only to push or pop an entry.
//!
//! # Async functions (the standard library)
//!
//! A thread is resumed plainly; if it stops at mlua's poll marker it is
//! inside an async Rust function (`fs.readFile`, `process.exec`, ...), and
//! from then on it is polled as mlua's `AsyncThread` (as a stream) with a
//! waker of the master's ([`Wakeup`]). While its future is pending it is
//! kept in [`Master::pending`] and polled again at the next step after its
//! waker fired (which also unparks the master), until the function returns
//! and the thread runs on to its next own yield (`task.wait`), which ends
//! the polling. While a
//! thread is pending the run does not end, and the master sleeps in
//! `park_timeout`, which the waker ends.
//!
//! # Background tasks (`process.create`, `stdio.prompt`)
//!
//! Two of Lune's functions also spawn a future that outlives the call
//! (`process.create`: a task that waits for the child or its `kill()` and
//! sends the exit status to `child:status()`; `stdio.prompt`: the prompt
//! itself, as a blocking task). Lune's scheduler would run them on its
//! executor, ticked by the thread that runs Luau. Here they run on one
//! process-wide executor with a thread of its own (`background.rs`),
//! started at the first such call. The master only polls the Luau thread
//! that awaits the result, as for any async function, so a child awaited
//! by one thread never stops the step: other threads, timers and job
//! callbacks go on. Why not tick those tasks in the step instead: an actor
//! blocked on `child:status()` needs the status task to run while the
//! master is busy in Luau code or in `Destroy`, which only a thread of its
//! own guarantees; and the hop costs nothing measurable (a `process.create`
//! round trip costs what `process.exec`'s does, `bench/children.luau`;
//! numbers in the README).
//!
//! # `process.exit`
//!
//! `process.exit(code)` records the code (the first call's counts) and
//! yields the calling thread for good. From then on no Luau code of the
//! master runs again: the rest of the step is skipped, and timers, waits,
//! deferred threads, pending async calls and the callbacks of jobs are
//! dropped. Then the run ends as every run does, by draining like
//! `Destroy`: each dispatcher not destroyed yet finishes its dispatched and
//! deferred jobs on the actors (so detached work is never cut short), then
//! its actors stop. `weave run` then exits with `code`.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::path::Path;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use futures_core::Stream;
use mlua::thread::{AsyncThread, ThreadStatus};
use mlua::{
    FromLuaMulti, Function, IntoLuaMulti, Lua, MultiValue, Table, Thread, Value as LuaValue,
};

use crate::dispatcher::{self, describe_job_error, Completion, Completions, Slot};
use crate::limits::Relief;
use crate::primitive::{primitive, Answer, HostError};
use crate::scheduler::{Queues, Resume};
use crate::vm::{self, describe_error, Config, Source};

/// The master role's Luau library.
const MASTER_LIBRARY: &str = include_str!("luau/master.luau");

/// Roblox's limit on `task.defer` re-entrancy: a deferred thread deferring
/// itself forever is an error, not a hang.
const MAX_DEFER_DEPTH: usize = 80;

/// The longest the master sleeps before looking again.
const MAX_SLEEP: Duration = Duration::from_millis(100);

/// How a run ended.
pub(crate) struct Ended {
    /// The uncaught errors (already written to the output).
    pub(crate) errors: Vec<String>,
    /// The code given to `process.exit`, if the script called it.
    pub(crate) exit_code: Option<u8>,
}

/// Runs the master script at `script` with the run's arguments as `...`.
pub(crate) fn run(config: Config, script: &Path) -> Ended {
    let relief = Relief::new(config.memory_limit);
    let wakeup = Arc::new(Wakeup {
        woken: AtomicBool::new(false),
        master: std::thread::current(),
    });
    let master = Rc::new(Master {
        config,
        queues: RefCell::new(Queues::default()),
        completions: Rc::new(RefCell::new(VecDeque::new())),
        dispatchers: RefCell::new(Vec::new()),
        errors: RefCell::new(Vec::new()),
        defer_depth: Cell::new(0),
        step: Cell::new(0),
        relief,
        waker: Waker::from(Arc::clone(&wakeup)),
        wakeup,
        pending: RefCell::new(Vec::new()),
        exit_code: Cell::new(None),
        error_object: Rc::default(),
    });
    master.run(script);
    master.config.output.flush();
    Ended {
        errors: master.errors.take(),
        exit_code: master.exit_code.get(),
    }
}

/// The waker of the master's pending threads: flags that one may go on and
/// unparks the master.
struct Wakeup {
    woken: AtomicBool,
    master: std::thread::Thread,
}

impl Wake for Wakeup {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // ORDERING: Release pairs with the Acquire swap in
        // `Master::poll_pending`: what the woken future wrote before waking
        // is visible to the master when it polls again.
        self.woken.store(true, Ordering::Release);
        self.master.unpark();
    }
}

/// A thread inside an async Rust function, waiting for its waker.
type Pending = Pin<Box<AsyncThread<()>>>;

/// The master's state, shared by its Luau primitives.
struct Master {
    config: Config,
    queues: RefCell<Queues>,
    completions: Completions,
    dispatchers: RefCell<Vec<Rc<Slot>>>,
    errors: RefCell<Vec<String>>,
    /// How deep in `task.defer` the running thread is.
    defer_depth: Cell<usize>,
    /// The current scheduler step (for yields).
    step: Cell<u64>,
    /// Collects the VM's garbage near its memory limit, between steps.
    relief: Relief,
    /// The waker every resumption is polled with ([`Wakeup`]).
    waker: Waker,
    wakeup: Arc<Wakeup>,
    /// Threads inside an async Rust function.
    pending: RefCell<Vec<Pending>>,
    /// The code `process.exit` gave; once set, no thread is resumed.
    exit_code: Cell<Option<u8>>,
    /// The last error object raised (see [`vm::ErrorObject`]).
    error_object: Rc<vm::ErrorObject>,
}

impl Master {
    fn run(self: &Rc<Self>, script: &Path) {
        let lua = match vm::create(&self.config, "master", MASTER_LIBRARY, |lua, host| {
            self.install(lua, host)
        }) {
            Ok(lua) => lua,
            Err(error) => {
                return self.report(format!(
                    "could not set up the Luau VM: {}",
                    describe_error(&error)
                ))
            }
        };
        // Past the limit, an allocation raises "not enough memory" (which
        // `pcall` catches) instead of aborting the process.
        if let Err(error) = lua.set_memory_limit(self.config.memory_limit) {
            return self.report(format!("could not set the memory limit: {error}"));
        }
        if let Err(message) = self.start(&lua, script) {
            self.report(message);
        }
        self.event_loop(&lua);

        // Nothing is in flight any more: stop the actors, then let go of
        // every Luau value before the VM goes.
        let slots = self.dispatchers.take();
        for slot in &slots {
            self.destroy_slot(&lua, slot, true);
        }
        self.queues.borrow_mut().clear();
        self.completions.borrow_mut().clear();
        self.pending.borrow_mut().clear();
    }

    /// Loads the master script and runs it up to its first yield.
    fn start(&self, lua: &Lua, script: &Path) -> Result<(), String> {
        let source = Source::read(script)?;
        let main = vm::load(lua, &source).map_err(|e| describe_error(&e))?;
        let thread = lua.create_thread(main).map_err(|e| describe_error(&e))?;
        let args = self
            .config
            .args
            .iter()
            .map(|arg| lua.create_string(arg).map(LuaValue::String))
            .collect::<mlua::Result<Vec<_>>>()
            .map_err(|e| describe_error(&e))?;
        self.resume(&thread, MultiValue::from_vec(args));
        self.drain_deferred();
        Ok(())
    }

    /// Steps until the script, its tasks and its jobs are all done.
    fn event_loop(&self, lua: &Lua) {
        loop {
            if self.exiting() {
                break;
            }
            let step = self.step.get() + 1;
            self.step.set(step);
            // A script that caught "not enough memory" gets its garbage
            // back before it runs again (a failure here shows up as the
            // script's own next allocation failing).
            let _ = self.relief.relieve(lua);

            let mut busy = self.poll_dispatchers() > 0;
            busy |= self.run_completions(lua, true);
            busy |= self.poll_pending();

            let now = Instant::now();
            let due = self.queues.borrow_mut().pop_due(now);
            busy |= !due.is_empty();
            let yields = self.queues.borrow_mut().pop_yields(step, now, busy);
            let resumed = !yields.is_empty();
            for entry in due.into_iter().chain(yields) {
                self.resume(&entry.thread, entry.resume.into_values(Instant::now()));
                self.drain_deferred();
            }
            // Threads that only yielded may have dispatched: start those
            // jobs now (deferred ones start at a poll) before sleeping.
            if busy || (resumed && self.poll_dispatchers() > 0) {
                continue;
            }

            // Nothing happened but yields: finish, or sleep until there is
            // work (a job finishing unparks this thread) or a deadline.
            let next = self.queues.borrow_mut().next_deadline();
            let busy_slots: Vec<Rc<Slot>> = self
                .dispatchers
                .borrow()
                .iter()
                .filter(|slot| slot.in_flight() > 0)
                .cloned()
                .collect();
            let waiting = !self.pending.borrow().is_empty();
            if next.is_none() && busy_slots.is_empty() && !resumed && !waiting {
                break;
            }
            let sleep = next
                .map_or(MAX_SLEEP, |at| at.saturating_duration_since(Instant::now()))
                .min(MAX_SLEEP);
            if sleep.is_zero() {
                continue;
            }
            if let ([only], false) = (busy_slots.as_slice(), waiting) {
                // One dispatcher at work: its own wait wakes on its jobs
                // with less latency than a park (callbacks only queue).
                let (_, errors) = only.wait_timeout(sleep);
                for error in errors {
                    self.report_detached(only, &error);
                }
            } else {
                std::thread::park_timeout(sleep);
            }
        }
    }

    /// Polls every dispatcher; returns the number of callbacks queued.
    fn poll_dispatchers(&self) -> usize {
        let slots: Vec<Rc<Slot>> = self.dispatchers.borrow().clone();
        let mut fired = 0;
        for slot in &slots {
            let (count, errors) = slot.poll();
            fired += count;
            for error in errors {
                self.report_detached(slot, &error);
            }
        }
        fired
    }

    /// Whether `process.exit` was called: no thread resumes any more.
    fn exiting(&self) -> bool {
        self.exit_code.get().is_some()
    }

    /// Resumes `thread` if it can be; an error it raises is reported. A
    /// thread that enters an async Rust function is kept until its waker
    /// fires (see the module docs).
    fn resume(&self, thread: &Thread, args: MultiValue) {
        if thread.status() != ThreadStatus::Resumable || self.exiting() {
            return;
        }
        // A plain resumption first (the common case, and the cheapest); a
        // thread that stopped at mlua's poll marker is inside an async
        // function: from then on it is polled as a future with our waker.
        match thread.resume::<MultiValue>(args) {
            Ok(values)
                if thread.status() == ThreadStatus::Resumable && is_poll_pending(&values) =>
            {
                match thread.clone().into_async::<()>(()) {
                    Ok(running) => self.poll_thread(Box::pin(running)),
                    Err(error) => self.report_uncaught(&error),
                }
            }
            Ok(_) => {}
            Err(error) => self.report_uncaught(&error),
        }
    }

    /// Runs `thread` to its next yield, or keeps it if it is pending.
    fn poll_thread(&self, mut thread: Pending) {
        let mut context = Context::from_waker(&self.waker);
        match thread.as_mut().poll_next(&mut context) {
            // Yielded by itself (its resumption is scheduled, or it is done
            // for), finished, or dead: nothing to keep.
            Poll::Ready(Some(Ok(()))) | Poll::Ready(None) => {}
            Poll::Ready(Some(Err(error))) => self.report_uncaught(&error),
            Poll::Pending => self.pending.borrow_mut().push(thread),
        }
    }

    /// Polls the pending threads again if a waker fired; whether any was.
    fn poll_pending(&self) -> bool {
        // ORDERING: Acquire pairs with the Release store in `Wakeup`.
        if !self.wakeup.woken.swap(false, Ordering::Acquire) {
            return false;
        }
        let waiting = self.pending.take();
        let any = !waiting.is_empty();
        for thread in waiting {
            if self.exiting() {
                break;
            }
            self.poll_thread(thread);
            self.drain_deferred();
        }
        any
    }

    /// Runs deferred threads until none is left (including those deferred
    /// meanwhile).
    fn drain_deferred(&self) {
        loop {
            let next = self.queues.borrow_mut().pop_deferred();
            let Some(entry) = next else { break };
            let outer = self.defer_depth.replace(entry.depth);
            self.resume(&entry.thread, entry.resume.into_values(Instant::now()));
            self.defer_depth.set(outer);
        }
    }

    /// Finishes `slot`'s work and fires its callbacks until none is left,
    /// since a callback may chain another dispatch on the same dispatcher
    /// (Weave's pipelines do), then stops its actors. `top_level` is as for
    /// [`Master::run_completions`].
    fn destroy_slot(&self, lua: &Lua, slot: &Rc<Slot>, top_level: bool) {
        loop {
            for error in slot.drain() {
                self.report_detached(slot, &error);
            }
            let fired = self.run_completions(lua, top_level);
            if !fired && slot.in_flight() == 0 {
                break;
            }
        }
        for error in slot.shut_down() {
            self.report_detached(slot, &error);
        }
        self.run_completions(lua, top_level);
    }

    /// Fires queued callbacks; `top_level` drains deferred threads after
    /// each (not when called from inside a script, by `Destroy`).
    fn run_completions(&self, lua: &Lua, top_level: bool) -> bool {
        let mut any = false;
        loop {
            let next = self.completions.borrow_mut().pop_front();
            let Some(completion) = next else { break };
            any = true;
            if let Err(error) = self.fire(lua, completion) {
                self.report_uncaught(&error);
            }
            if top_level {
                self.drain_deferred();
            }
        }
        any
    }

    /// Runs one callback as a new thread with `(buf, err)`.
    fn fire(&self, lua: &Lua, completion: Completion) -> mlua::Result<()> {
        let Completion {
            callback,
            job,
            result,
        } = completion;
        let outcome = match result {
            Ok(results) => dispatcher::results_table(lua, &results).map_err(|error| {
                // Results that do not fit in the master's VM fail the job.
                format!(
                    "job \"{job}\" failed: its results could not be copied into the master \
                     (memory limit {} bytes): {}",
                    self.config.memory_limit,
                    describe_error(&error)
                )
            }),
            Err(error) => Err(describe_job_error(&job, &error)),
        };
        let (buf, err) = match outcome {
            Ok(table) => (LuaValue::Table(table), LuaValue::Nil),
            Err(message) => (LuaValue::Nil, LuaValue::String(lua.create_string(message)?)),
        };
        let thread = lua.create_thread(callback)?;
        self.resume(&thread, MultiValue::from_vec(vec![buf, err]));
        Ok(())
    }

    /// An uncaught error of a thread: an error object shows its fields.
    fn report_uncaught(&self, error: &mlua::Error) {
        let mut message = describe_error(error);
        self.error_object.render_into(&mut message);
        self.report(message);
    }

    /// An uncaught error: written at once, remembered for the exit status.
    fn report(&self, message: String) {
        self.config.output.err(&message);
        self.errors.borrow_mut().push(message);
    }

    /// An error in a detached handler (nobody else will see it).
    fn report_detached(&self, slot: &Slot, error: &weavekit::Error) {
        let message = match error {
            weavekit::Error::HandlerPanicked { job, item, message } => format!(
                "detached job \"{job}\" (worker {}) failed on item {}: {message}",
                slot.worker(),
                item + 1
            ),
            other => format!("detached job failed (worker {}): {other}", slot.worker()),
        };
        self.report(message);
    }

    /// The master's primitives (see `luau/master.luau`): the scheduler's,
    /// then the dispatchers'.
    fn install(self: &Rc<Self>, lua: &Lua, host: &Table) -> mlua::Result<()> {
        host.set(
            "note_error",
            vm::ErrorObject::primitive(Rc::clone(&self.error_object), lua)?,
        )?;
        self.install_scheduler(lua, host)?;
        self.install_dispatchers(lua, host)
    }

    /// `task.*` and `process.exit`.
    fn install_scheduler(self: &Rc<Self>, lua: &Lua, host: &Table) -> mlua::Result<()> {
        host.set("spawn", self.primitive(lua, Master::spawn)?)?;
        host.set("defer", self.primitive(lua, Master::defer)?)?;
        host.set("delay", self.primitive(lua, Master::delay)?)?;
        host.set("wait", self.primitive(lua, Master::wait)?)?;
        host.set("cancel", self.primitive(lua, Master::cancel)?)?;
        host.set("exit", self.primitive(lua, Master::exit)?)
    }

    /// `weave.dispatcher.new`, the dispatch methods and `Destroy`.
    fn install_dispatchers(self: &Rc<Self>, lua: &Lua, host: &Table) -> mlua::Result<()> {
        host.set(
            "dispatcher_new",
            self.primitive(lua, Master::dispatcher_new)?,
        )?;
        host.set(
            "dispatch",
            primitive(lua, |lua, args: MultiValue| dispatcher::dispatch(lua, args))?,
        )?;
        host.set("destroy", self.primitive(lua, Master::destroy)?)
    }

    /// A primitive of `method` on this master.
    fn primitive<A: FromLuaMulti + 'static, R: IntoLuaMulti + 'static>(
        self: &Rc<Self>,
        lua: &Lua,
        method: fn(&Master, &Lua, A) -> Answer<R>,
    ) -> mlua::Result<Function> {
        let master = Rc::clone(self);
        primitive(lua, move |lua, args| method(&master, lua, args))
    }

    /// `task.spawn`: resumes `thread` now.
    fn spawn(&self, _: &Lua, (thread, args): (Thread, MultiValue)) -> Answer<()> {
        match thread.status() {
            ThreadStatus::Resumable => {}
            ThreadStatus::Running | ThreadStatus::Normal => {
                return Err(HostError::refused(
                    "task.spawn: cannot resume a running thread",
                ))
            }
            ThreadStatus::Finished | ThreadStatus::Error => {
                return Err(HostError::refused(
                    "task.spawn: cannot resume a dead thread",
                ))
            }
        }
        // Resumed now: any pending resumption is void.
        self.queues.borrow_mut().withdraw(&thread);
        self.resume(&thread, args);
        Ok(())
    }

    /// `task.defer`: resumes `thread` at the end of this resumption.
    fn defer(&self, _: &Lua, (thread, args): (Thread, MultiValue)) -> Answer<()> {
        let depth = self.defer_depth.get() + 1;
        if depth > MAX_DEFER_DEPTH {
            return Err(HostError::refused(format!(
                "task.defer: maximum re-entrancy depth ({MAX_DEFER_DEPTH}) exceeded"
            )));
        }
        self.queues.borrow_mut().defer(thread, args, depth);
        Ok(())
    }

    /// `task.delay`: resumes `thread` with `args` after `seconds`.
    fn delay(&self, _: &Lua, (seconds, thread, args): (f64, Thread, MultiValue)) -> Answer<()> {
        if let Some(at) = deadline(seconds) {
            self.queues
                .borrow_mut()
                .schedule(thread, at, Resume::Args(args));
        }
        Ok(())
    }

    /// `task.wait`: `thread` (which then yields) resumes at the next step,
    /// or after `seconds`.
    fn wait(&self, _: &Lua, (thread, seconds): (Thread, f64)) -> Answer<()> {
        let now = Instant::now();
        if seconds.is_nan() || seconds <= 0.0 {
            let step = self.step.get();
            self.queues.borrow_mut().yield_until_next_step(thread, step);
        } else if let Some(at) = deadline(seconds) {
            self.queues
                .borrow_mut()
                .schedule(thread, at, Resume::Elapsed(now));
        }
        Ok(())
    }

    /// `task.cancel`: `thread` is never resumed by the scheduler again.
    fn cancel(&self, _: &Lua, thread: Thread) -> Answer<()> {
        self.queues.borrow_mut().withdraw(&thread);
        Ok(())
    }

    /// `process.exit(code)` (the code already checked): the first call's
    /// code counts, and nothing is resumed any more.
    fn exit(&self, _: &Lua, code: u8) -> Answer<()> {
        if self.exit_code.get().is_none() {
            self.exit_code.set(Some(code));
            self.queues.borrow_mut().clear();
        }
        Ok(())
    }

    /// `weave.dispatcher.new(count, script, options)`: the new dispatcher's
    /// handle.
    fn dispatcher_new(
        &self,
        lua: &Lua,
        (count, script, options): (LuaValue, LuaValue, LuaValue),
    ) -> Answer<LuaValue> {
        let from = vm::calling_script(lua);
        let args = (count, script, from, options);
        let slot = dispatcher::create(&self.config, &self.completions, args)
            .map_err(HostError::Refused)?;
        self.dispatchers.borrow_mut().push(Rc::clone(&slot));
        Ok(dispatcher::to_lua(lua, slot)?)
    }

    /// `dispatcher:Destroy()`: finishes the dispatcher's work and fires its
    /// pending callbacks before it returns, then stops its actors.
    fn destroy(&self, lua: &Lua, handle: LuaValue) -> Answer<()> {
        let slot = dispatcher::slot_of(&handle)?;
        self.dispatchers
            .borrow_mut()
            .retain(|other| !Rc::ptr_eq(other, &slot));
        self.destroy_slot(lua, &slot, false);
        Ok(())
    }
}

/// Whether a thread's yielded values are mlua's marker for "inside an async
/// function whose future is pending".
pub(crate) fn is_poll_pending(values: &MultiValue) -> bool {
    values.len() == 1
        && matches!(values.front(), Some(LuaValue::LightUserData(marker)) if *marker == Lua::poll_pending())
}

/// `now + seconds`; `None` for a wait too long to represent (never due).
fn deadline(seconds: f64) -> Option<Instant> {
    let seconds = if seconds.is_nan() {
        0.0
    } else {
        seconds.max(0.0)
    };
    Duration::try_from_secs_f64(seconds)
        .ok()
        .and_then(|duration| Instant::now().checked_add(duration))
}

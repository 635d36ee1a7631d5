//! The actor side: the worker entry that gives each actor its own Luau VM,
//! runs the worker script in it, and registers the script's handlers on the
//! actor's [`Kernel`].
//!
//! The worker script runs to its end inside the entry; `kernel:On` and
//! `kernel:OnDetached` only record handlers, which are registered on the
//! `Kernel` once the script has ended, and returning from the entry is what
//! tells the master the actor is ready. A script that raises an error, ends
//! without calling `kernel:Ready()`, or has not ended when the ready timeout
//! runs out (whether or not it called `kernel:Ready()`: the actor is only
//! ready once the script has ended) makes the entry fail; the core turns
//! that into an error of `Dispatcher::new`, naming the actor.
//!
//! `task.spawn` on an actor runs the function at once; an error it does not
//! catch is an error of whatever spawned it: the worker script (so the
//! actor fails to start) or the item whose handler spawned it (the handler
//! still runs to its end, then the item fails as if the handler had raised
//! the error: the job's callback gets it, or, for a detached dispatch, it
//! is reported as an uncaught error of the run).
//!
//! The worker script and every handler call run as async calls blocked on
//! by the actor's thread: a standard-library function that yields in Lune
//! (`fs.readFile`, `process.exec`, `child:status()`, ...) blocks the actor
//! until it returns, or until the ready timeout (worker script) or the job
//! timeout (handler item) runs out, which stops the wait as it stops Luau
//! code.
//!
//! Extra arguments arrive as one shared [`Args`] per job. Decoding them into
//! the VM is the only per-job cost on the actor, so it is done once per job
//! (cached by the job's sequence number), not once per item.

use std::cell::{Cell, RefCell};
use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::sync::{Mutex, PoisonError};
use std::task::Poll;
use std::time::{Duration, Instant};

use mlua::chunk::ChunkMode;
use mlua::thread::ThreadStatus;
use mlua::{Function, Lua, MultiValue, Table, Thread, Value as LuaValue, VmState};
use weavekit::Kernel;

use crate::limits::{JobClock, Relief, ResultBudget};
use crate::primitive::{primitive, Answer, HostError};
use crate::value::{Arguments, Callee, Value};
use crate::vm::{self, describe_error, Config};

/// The actor role's Luau library.
const ACTOR_LIBRARY: &str = include_str!("luau/actor.luau");

/// Decoded argument lists kept per actor: enough for a few overlapping jobs.
const CACHED_ARGUMENT_LISTS: usize = 4;

/// The extra arguments of one dispatch, encoded once on the master.
#[derive(Debug)]
pub(crate) struct Args {
    /// Unique per dispatch: the key of the actors' decode cache.
    pub(crate) seq: u64,
    /// Whether the dispatch is detached, so its results are dropped: a
    /// tracked handler then does not encode its result (which therefore
    /// need not be one that can cross back to the master).
    pub(crate) discard: bool,
    /// The values, in order.
    pub(crate) values: Vec<Value>,
    /// What the job's results may take, together.
    pub(crate) results: ResultBudget,
}

/// Everything an actor needs to start: shared by all actors of a dispatcher.
#[derive(Debug)]
pub(crate) struct WorkerSpec {
    /// The worker script's path as shown in messages.
    pub(crate) display: String,
    /// The worker script, compiled once on the master.
    pub(crate) bytecode: Vec<u8>,
    /// Whether the script asked for native code (`--!native`).
    pub(crate) native: bool,
    /// Output and settings of the run.
    pub(crate) config: Config,
    /// How long the script may take to call `kernel:Ready()` and end.
    pub(crate) ready_timeout: Duration,
    /// How long one handler item may run (`None`: for ever).
    pub(crate) job_timeout: Option<Duration>,
    /// The most memory the actor's VM may hold, in bytes.
    pub(crate) memory_limit: usize,
    /// The handlers each actor registered, by 0-based actor index, for
    /// messages: (name, detached), in registration order.
    pub(crate) handlers: Mutex<Vec<Vec<(String, bool)>>>,
}

impl WorkerSpec {
    /// The handlers actor `index` (0-based) registered: (name, detached).
    pub(crate) fn handlers_of(&self, index: usize) -> Vec<(String, bool)> {
        self.handlers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(index)
            .cloned()
            .unwrap_or_default()
    }

    /// The registered handler names, for messages (`"a", "b" (detached)`).
    pub(crate) fn describe_handlers(&self) -> String {
        let handlers = self.handlers_of(0);
        if handlers.is_empty() {
            return "none".to_owned();
        }
        let names: Vec<String> = handlers
            .iter()
            .map(|(name, detached)| {
                if *detached {
                    format!("\"{name}\" (detached)")
                } else {
                    format!("\"{name}\"")
                }
            })
            .collect();
        names.join(", ")
    }
}

/// The worker entry: runs on each actor's thread.
///
/// A failure unwinds with the message as payload (without invoking the
/// panic hook, so nothing is printed twice); the core reports it from
/// `Dispatcher::new` as the failure of this actor.
pub(crate) fn entry(spec: &WorkerSpec, kernel: &mut Kernel) {
    if let Err(message) = start(spec, kernel) {
        std::panic::resume_unwind(Box::new(message));
    }
}

/// One handler the worker script registered.
struct Registration {
    name: String,
    handler: Function,
    detached: bool,
}

/// The state the actor's primitives share: while the worker script runs,
/// and (for errors in spawned tasks) while handlers run.
struct Startup {
    registrations: RefCell<Vec<Registration>>,
    /// Whether the script called `kernel:Ready()`.
    ready: Cell<bool>,
    /// Whether the script has ended: the ready timeout no longer applies.
    ended: Cell<bool>,
    /// Whether the ready timeout stopped the script.
    expired: Cell<bool>,
    /// When the ready timeout runs out (`None`: too far to represent).
    deadline: Option<Instant>,
    /// The ready timeout, for messages.
    timeout: Duration,
    /// The worker script's path, for messages.
    display: String,
    /// Errors of spawned tasks (with tracebacks) since the last check.
    task_errors: RefCell<Vec<String>>,
    /// The job timeout's clock of the handler item running.
    job: JobClock,
    /// The last error object of a handler (see [`vm::ErrorObject`]).
    error_object: Rc<vm::ErrorObject>,
}

impl Startup {
    /// Whether the script is out of time: still running at `now`, past the
    /// deadline. Calling `kernel:Ready()` does not stop the clock: the actor
    /// is ready only once the script has ended.
    fn timed_out(&self, now: Instant) -> bool {
        !self.ended.get() && self.deadline.is_some_and(|deadline| now >= deadline)
    }

    /// Blocks the actor's thread on `future` (an async standard-library
    /// call), but not past the time it has: the ready timeout while the
    /// worker script runs, the job timeout while a handler item runs. Luau's
    /// interrupt cannot stop a wait that runs no Luau code (a child process
    /// that never ends, a read that never comes), so the wait races a timer
    /// and, out of time, is dropped and fails as the interrupt would.
    fn block_on<T>(&self, future: impl Future<Output = mlua::Result<T>>) -> mlua::Result<T> {
        let (deadline, ready) = if self.ended.get() {
            (self.job.deadline(), false)
        } else {
            (self.deadline, true)
        };
        let Some(deadline) = deadline else {
            return async_io::block_on(future);
        };
        let mut future = pin!(future);
        let mut timer = async_io::Timer::at(deadline);
        let outcome = async_io::block_on(poll_fn(|context| {
            if let Poll::Ready(outcome) = future.as_mut().poll(context) {
                return Poll::Ready(Some(outcome));
            }
            Pin::new(&mut timer).poll(context).map(|_| None)
        }));
        outcome.unwrap_or_else(|| {
            Err(if ready {
                self.expire()
            } else {
                self.job.expire()
            })
        })
    }

    /// The error that stops a script out of time (and remembers that it did).
    fn expire(&self) -> mlua::Error {
        self.expired.set(true);
        mlua::Error::runtime(self.timeout_message())
    }

    /// Why the ready timeout stopped the script: one sentence.
    fn timeout_message(&self) -> String {
        let timeout = describe_seconds(self.timeout);
        if self.ready.get() {
            format!(
                "the worker script {} called kernel:Ready() but did not end within the ready \
                 timeout ({timeout})",
                self.display
            )
        } else {
            format!(
                "the worker script {} did not call kernel:Ready() within the ready timeout \
                 ({timeout})",
                self.display
            )
        }
    }

    /// The errors of the tasks spawned since the last call, as one message.
    fn take_task_errors(&self) -> Option<String> {
        let errors = self.task_errors.take();
        let first = errors.first()?;
        Some(match errors.len() {
            1 => first.clone(),
            n => format!("{first}\n(and {} more errors in spawned tasks)", n - 1),
        })
    }
}

/// A duration for messages: `1s`, `250ms`.
fn describe_seconds(duration: Duration) -> String {
    format!("{duration:?}")
}

/// Starts the actor: its VM, the worker script run to its end, then the
/// handlers the script recorded registered on the kernel.
fn start(spec: &WorkerSpec, kernel: &mut Kernel) -> Result<(), String> {
    let startup = Rc::new(Startup::new(spec));
    let lua = create_vm(spec, kernel, &startup)?;
    let outcome = run_worker_script(&lua, spec, &startup);
    watch_items(&lua, &startup);
    check_started(spec, &startup, outcome)?;
    let registrations = startup.registrations.take();
    record_handlers(spec, kernel, &registrations);
    let actor = Rc::new(ActorVm::new(lua, spec, &startup)?);
    register_handlers(kernel, &actor, registrations)
}

impl Startup {
    /// The state of an actor about to run `spec`'s worker script.
    fn new(spec: &WorkerSpec) -> Startup {
        Startup {
            registrations: RefCell::new(Vec::new()),
            ready: Cell::new(false),
            ended: Cell::new(false),
            expired: Cell::new(false),
            deadline: Instant::now().checked_add(spec.ready_timeout),
            timeout: spec.ready_timeout,
            display: spec.display.clone(),
            task_errors: RefCell::new(Vec::new()),
            job: JobClock::new(spec.job_timeout),
            error_object: Rc::default(),
        }
    }
}

/// The actor's VM, with its primitives and its memory limit.
fn create_vm(spec: &WorkerSpec, kernel: &Kernel, startup: &Rc<Startup>) -> Result<Lua, String> {
    let lua = vm::create(&spec.config, "actor", ACTOR_LIBRARY, |lua, host| {
        install(lua, host, kernel, startup)
    })
    .map_err(|e| {
        format!(
            "could not set up the actor's Luau VM: {}",
            describe_error(&e)
        )
    })?;
    set_memory_limit(&lua, spec.memory_limit)?;
    Ok(lua)
}

/// Runs the worker script to its end under the ready timeout.
fn run_worker_script(lua: &Lua, spec: &WorkerSpec, startup: &Rc<Startup>) -> mlua::Result<()> {
    // The ready timeout, until the script ends (also after `kernel:Ready()`):
    // Luau calls the interrupt at function calls and loop back-edges, so
    // even a script stuck in a loop is stopped.
    let watch = Rc::clone(startup);
    lua.set_interrupt(move |_| {
        if watch.timed_out(Instant::now()) {
            return Err(watch.expire());
        }
        Ok(VmState::Continue)
    });
    let outcome = vm::load_chunk(
        lua,
        &spec.bytecode,
        ChunkMode::Binary,
        &format!("@{}", spec.display),
        spec.native,
    )
    // Async standard-library functions block the actor's thread.
    .and_then(|script| startup.block_on(script.call_async::<()>(())));
    lua.remove_interrupt();
    startup.ended.set(true);
    outcome
}

/// The four ways a worker script fails to start, in the order they are
/// reported: out of time, an error, an error in a task it spawned, no
/// `kernel:Ready()`.
fn check_started(
    spec: &WorkerSpec,
    startup: &Startup,
    outcome: mlua::Result<()>,
) -> Result<(), String> {
    if startup.expired.get() {
        // Whatever error the timeout caused (the script may even have caught
        // it), the cause to report is the timeout.
        return Err(startup.timeout_message());
    }
    if let Err(error) = outcome {
        return Err(format!(
            "the worker script {} raised an error: {}",
            spec.display,
            describe_error(&error)
        ));
    }
    if let Some(error) = startup.take_task_errors() {
        return Err(format!(
            "a task spawned by the worker script {} raised an error: {error}",
            spec.display
        ));
    }
    if !startup.ready.get() {
        return Err(format!(
            "the worker script {} ended without calling kernel:Ready()",
            spec.display
        ));
    }
    Ok(())
}

/// Notes which handlers this actor registered (for the master's messages).
fn record_handlers(spec: &WorkerSpec, kernel: &Kernel, registrations: &[Registration]) {
    let names: Vec<(String, bool)> = registrations
        .iter()
        .map(|r| (r.name.clone(), r.detached))
        .collect();
    let mut handlers = spec.handlers.lock().unwrap_or_else(PoisonError::into_inner);
    let index = kernel.actor_index();
    if handlers.len() <= index {
        handlers.resize_with(index + 1, Vec::new);
    }
    handlers[index] = names;
}

/// Registers the script's handlers on the kernel; a handler's failure
/// unwinds with its message, which the core reports as the item's.
fn register_handlers(
    kernel: &mut Kernel,
    actor: &Rc<ActorVm>,
    registrations: Vec<Registration>,
) -> Result<(), String> {
    let wrapper = Callee::wrapper(&actor.lua).map_err(|e| describe_error(&e))?;
    for Registration {
        name,
        handler,
        detached,
    } in registrations
    {
        let callee = Callee::new(&wrapper, handler).map_err(|e| describe_error(&e))?;
        let actor = Rc::clone(actor);
        if detached {
            kernel.on_detached(&name, move |index: usize, args: &Args| {
                if let Err(message) = actor.call(&callee, index, args, false) {
                    std::panic::resume_unwind(Box::new(message));
                }
            });
        } else {
            kernel.on(&name, move |index: usize, args: &Args| -> Value {
                match actor.call_tracked(&callee, index, args) {
                    Ok(value) => value,
                    Err(message) => std::panic::resume_unwind(Box::new(message)),
                }
            });
        }
    }
    Ok(())
}

/// The VM's memory limit: past it an allocation raises Luau's "not enough
/// memory" error instead of aborting the process.
fn set_memory_limit(lua: &Lua, bytes: usize) -> Result<(), String> {
    lua.set_memory_limit(bytes)
        .map(drop)
        .map_err(|e| format!("could not set the actor's memory limit: {e}"))
}

/// With a job timeout, the interrupt that stops a handler item out of time
/// (Luau calls it at function calls and loop back-edges).
fn watch_items(lua: &Lua, state: &Rc<Startup>) {
    if state.job.is_limited() {
        let watch = Rc::clone(state);
        lua.set_interrupt(move |_| {
            watch.job.check()?;
            Ok(VmState::Continue)
        });
    }
}

/// The actor's primitives: registration, readiness, blocking sleep.
fn install(lua: &Lua, host: &Table, kernel: &Kernel, startup: &Rc<Startup>) -> mlua::Result<()> {
    host.set("actor_index", kernel.actor_index() + 1)?;
    host.set("actor_count", kernel.actor_count())?;

    let state = Rc::clone(startup);
    host.set(
        "on",
        primitive(
            lua,
            move |_, (name, handler, detached): (String, Function, bool)| -> Answer<()> {
                if state.ready.get() {
                    return Err(HostError::refused(format!(
                        "handler \"{name}\" registered after kernel:Ready(); register every \
                         handler before calling Ready"
                    )));
                }
                let mut registrations = state.registrations.borrow_mut();
                // A second registration under a name replaces the first.
                registrations.retain(|r| r.name != name);
                registrations.push(Registration {
                    name,
                    handler,
                    detached,
                });
                Ok(())
            },
        )?,
    )?;

    let state = Rc::clone(startup);
    host.set(
        "ready",
        lua.create_function(move |_, ()| {
            state.ready.set(true);
            Ok(())
        })?,
    )?;

    let state = Rc::clone(startup);
    host.set(
        "task_error",
        lua.create_function(
            move |_, (message, traceback): (mlua::LuaString, mlua::LuaString)| {
                // Luau's `debug.traceback` lines, laid out like the other
                // tracebacks the host prints.
                let traceback = traceback.to_string_lossy();
                let mut text = message.to_string_lossy();
                text.push_str("\nstack traceback:");
                for line in traceback.lines().filter(|line| !line.trim().is_empty()) {
                    text.push_str("\n\t");
                    text.push_str(line.trim());
                }
                state
                    .task_errors
                    .borrow_mut()
                    .push(vm::shorten_traceback(&text));
                Ok(())
            },
        )?,
    )?;

    host.set(
        "note_error",
        vm::ErrorObject::primitive(Rc::clone(&startup.error_object), lua)?,
    )?;

    let state = Rc::clone(startup);
    host.set(
        "sleep",
        lua.create_function(move |_, seconds: f64| {
            let start = Instant::now();
            let duration = Duration::try_from_secs_f64(seconds.max(0.0)).unwrap_or(Duration::MAX);
            // While the worker script runs (before and after Ready), a sleep
            // may not outlast the ready timeout.
            if let (false, Some(deadline)) = (state.ended.get(), state.deadline) {
                if start.checked_add(duration).is_none_or(|end| end > deadline) {
                    std::thread::sleep(deadline.saturating_duration_since(start));
                    return Err(state.expire());
                }
            }
            // While a handler item runs, a sleep may not outlast its time.
            if let Err(left) = state.job.sleep_limit(start, duration) {
                std::thread::sleep(left);
                return Err(state.job.expire());
            }
            std::thread::sleep(duration);
            Ok(start.elapsed().as_secs_f64())
        })?,
    )?;
    Ok(())
}

/// An actor's VM once the worker script has ended: what handlers need.
struct ActorVm {
    lua: Lua,
    /// The thread every handler call runs on, reset for each item.
    runner: Thread,
    /// Collects garbage between items when the VM nears its memory limit.
    relief: Relief,
    /// The VM's memory limit, for messages.
    memory_limit: usize,
    /// Recently decoded argument lists, by dispatch sequence number.
    cache: RefCell<Vec<(u64, Rc<Arguments>)>>,
    /// Where `task.spawn` records the errors of the tasks it ran.
    state: Rc<Startup>,
}

impl ActorVm {
    /// The VM of an actor whose worker script has ended.
    fn new(lua: Lua, spec: &WorkerSpec, startup: &Rc<Startup>) -> Result<ActorVm, String> {
        Ok(ActorVm {
            runner: lua
                .create_function(|_, ()| Ok(()))
                .and_then(|placeholder| lua.create_thread(placeholder))
                .map_err(|e| describe_error(&e))?,
            relief: Relief::new(spec.memory_limit),
            lua,
            memory_limit: spec.memory_limit,
            cache: RefCell::new(Vec::new()),
            state: Rc::clone(startup),
        })
    }

    /// Calls a tracked handler: its result encoded for the master (nothing
    /// for a detached dispatch, which drops it), within the job's budget.
    fn call_tracked(&self, callee: &Callee, index: usize, args: &Args) -> Result<Value, String> {
        let (value, integer) = self.call(callee, index, args, !args.discard)?;
        if args.discard {
            // A detached dispatch: the core drops the result.
            return Ok(Value::Nil);
        }
        let value = Value::encode(&self.lua, &value, integer)
            .map_err(|refusal| refusal.describe("the result", "sent back to the master"))?;
        args.results.take(value.size())?;
        Ok(value)
    }

    /// Calls `handler(id, ...)` for 0-based item `index`: its result, and
    /// whether that is a Luau `integer` (when `wanted`); the error message
    /// (with its traceback) on failure, which includes an error in a task
    /// the handler spawned (the handler itself still ran to its end).
    fn call(
        &self,
        callee: &Callee,
        index: usize,
        args: &Args,
        wanted: bool,
    ) -> Result<(LuaValue, bool), String> {
        // Garbage left by an earlier item that ran out of memory would make
        // this one (from copying its arguments on) fail too.
        self.relief
            .relieve(&self.lua)
            .map_err(|e| self.describe_handler_error(&e))?;
        let arguments = self.arguments(args).map_err(|e| {
            format!(
                "the arguments could not be copied into the actor: {}",
                describe_error(&e)
            )
        })?;
        self.state.job.start();
        self.state.error_object.clear();
        let result = arguments.call(&self.lua, callee, index + 1, wanted, |f, args| {
            self.run(f, args)
        });
        if self.state.job.stop() {
            // Whatever error the timeout caused (the handler may even have
            // caught it), the cause to report is the timeout.
            self.state.task_errors.take();
            return Err(self.state.job.message());
        }
        let result = result.map_err(|e| self.describe_handler_error(&e));
        match self.state.take_task_errors() {
            Some(error) if result.is_ok() => Err(format!(
                "a task spawned by the handler raised an error: {error}"
            )),
            _ => result,
        }
    }

    /// A handler's error as the callback shows it; running out of memory
    /// also names the limit.
    fn describe_handler_error(&self, error: &mlua::Error) -> String {
        let mut message = describe_error(error);
        self.state.error_object.render_into(&mut message);
        match error {
            mlua::Error::MemoryError(_) => format!(
                "{message} (the actor's Luau VM reached its memory limit of {} bytes)",
                self.memory_limit
            ),
            _ => message,
        }
    }

    /// Runs `handler(args)` to its end on the actor's handler thread; what
    /// it returned.
    ///
    /// Resumed plainly first (as cheap as a call); if the handler enters an
    /// async standard-library function (`fs.readFile`, ...), the thread
    /// yields mlua's poll marker, and the actor's thread then blocks on it
    /// as a future (with a real waker) until the handler returns, as
    /// `task.wait` blocks here. A plain `coroutine.yield` in a handler
    /// resumes it at once.
    fn run(&self, handler: &Function, args: MultiValue) -> mlua::Result<MultiValue> {
        let thread = &self.runner;
        thread.reset(handler.clone())?;
        let mut yielded: MultiValue = thread.resume(args)?;
        while thread.status() == ThreadStatus::Resumable {
            if crate::master::is_poll_pending(&yielded) {
                return self
                    .state
                    .block_on(thread.clone().into_async::<MultiValue>(())?);
            }
            yielded = thread.resume(())?;
        }
        Ok(yielded)
    }

    /// The job's extra arguments in this VM, decoded once per job.
    fn arguments(&self, args: &Args) -> mlua::Result<Rc<Arguments>> {
        let cached = self
            .cache
            .borrow()
            .iter()
            .find(|(seq, _)| *seq == args.seq)
            .map(|(_, values)| Rc::clone(values));
        if let Some(values) = cached {
            return Ok(values);
        }
        let values = Rc::new(Arguments::decode(&self.lua, &args.values)?);
        let mut cache = self.cache.borrow_mut();
        if cache.len() == CACHED_ARGUMENT_LISTS {
            cache.remove(0);
        }
        cache.push((args.seq, Rc::clone(&values)));
        Ok(values)
    }
}

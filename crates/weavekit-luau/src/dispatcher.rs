//! `weave.dispatcher` on the master: creating a core [`Dispatcher`] whose
//! actors run a worker script, and the four dispatch methods and `Destroy`.
//!
//! Luau code may dispatch from anywhere, including a callback, so every
//! dispatch goes through the core's [`DispatchHandle`] (whose methods take
//! `&self`); the [`Dispatcher`] itself sits in a `RefCell` that is borrowed
//! only for `poll`, `in_flight` and shutdown, never while Luau code runs.
//! Callbacks never run inside `poll` either: the core's callback only queues
//! a [`Completion`], which the master's scheduler fires as a new thread.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mlua::{Function, Lua, MultiValue, Table, UserData, Value as LuaValue};
use weavekit::{DispatchHandle, Dispatcher, Error};

use crate::actor::{self, Args, WorkerSpec};
use crate::limits::{self, ResultBudget};
use crate::primitive::{Answer, HostError};
use crate::value::{Refusal, Value};
use crate::vm::{self, describe_error, type_name, Config, Source};

/// The most actors one dispatcher may have: each is an OS thread with its
/// own VM, so more than a few per core only costs memory.
const MAX_ACTORS: usize = 1024;

/// The longest ready timeout: longer ones (up to `math.huge`) count as this
/// long, which is as good as none.
pub(crate) const MAX_READY_TIMEOUT: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// Sequence numbers of dispatches: the key of the actors' decode caches.
static NEXT_DISPATCH: AtomicU64 = AtomicU64::new(1);

/// A finished tracked job, waiting for its callback to run on the master.
pub(crate) struct Completion {
    /// The Luau callback.
    pub(crate) callback: Function,
    /// The job's name, for the error message.
    pub(crate) job: String,
    /// The results, in item order, or why the job failed.
    pub(crate) result: Result<Vec<Value>, Error>,
}

/// The queue of finished jobs, shared by every dispatcher of a run.
pub(crate) type Completions = Rc<RefCell<VecDeque<Completion>>>;

/// One `weave.dispatcher.new` result.
pub(crate) struct Slot {
    /// `None` once destroyed.
    dispatcher: RefCell<Option<Dispatcher>>,
    handle: DispatchHandle,
    spec: Arc<WorkerSpec>,
    completions: Completions,
}

/// The userdata Luau holds for a [`Slot`] (in the dispatcher object's
/// `_handle` field).
struct SlotRef(Rc<Slot>);

impl UserData for SlotRef {}

impl Slot {
    /// Starts deferred dispatches and collects finished jobs; returns the
    /// number of callbacks fired (queued) and the detached jobs' errors.
    pub(crate) fn poll(&self) -> (usize, Vec<Error>) {
        match self.dispatcher.borrow_mut().as_mut() {
            Some(dispatcher) => (dispatcher.poll(), dispatcher.take_detached_errors()),
            None => (0, Vec::new()),
        }
    }

    /// Blocks until a callback fired (was queued), nothing is in flight, or
    /// `timeout` passed; returns like [`Slot::poll`].
    pub(crate) fn wait_timeout(&self, timeout: Duration) -> (usize, Vec<Error>) {
        match self.dispatcher.borrow_mut().as_mut() {
            Some(dispatcher) => (
                dispatcher.wait_timeout(timeout),
                dispatcher.take_detached_errors(),
            ),
            None => (0, Vec::new()),
        }
    }

    /// Jobs dispatched whose work or callback is not done yet.
    pub(crate) fn in_flight(&self) -> usize {
        self.dispatcher
            .borrow()
            .as_ref()
            .map_or(0, Dispatcher::in_flight)
    }

    /// Runs all dispatched work to its end (queueing the callbacks) without
    /// stopping the actors, and returns the errors of detached jobs. The
    /// queued callbacks may dispatch again: see `Master::destroy_slot`.
    pub(crate) fn drain(&self) -> Vec<Error> {
        match self.dispatcher.borrow_mut().as_mut() {
            Some(dispatcher) => {
                dispatcher.wait();
                dispatcher.take_detached_errors()
            }
            None => Vec::new(),
        }
    }

    /// Runs all dispatched work to its end (queueing the callbacks), stops
    /// the actors, and returns the errors of detached jobs.
    pub(crate) fn shut_down(&self) -> Vec<Error> {
        let taken = self.dispatcher.borrow_mut().take();
        match taken {
            Some(mut dispatcher) => {
                dispatcher.wait();
                let errors = dispatcher.take_detached_errors();
                dispatcher.destroy();
                errors
            }
            None => Vec::new(),
        }
    }

    /// The worker script's path, for messages.
    pub(crate) fn worker(&self) -> &str {
        &self.spec.display
    }
}

/// The dispatcher held in the userdata `value`.
pub(crate) fn slot_of(value: &LuaValue) -> mlua::Result<Rc<Slot>> {
    match value {
        LuaValue::UserData(data) => Ok(Rc::clone(&data.borrow::<SlotRef>()?.0)),
        _ => Err(mlua::Error::runtime("expected a dispatcher handle")),
    }
}

/// A whole number, if `value` is one.
fn whole(value: &LuaValue) -> Option<f64> {
    match value {
        LuaValue::Integer(i) => Some(*i as f64),
        LuaValue::Number(n) if n.is_finite() && n.fract() == 0.0 => Some(*n),
        _ => None,
    }
}

/// How a value is shown in "got ..." messages.
fn shown(value: &LuaValue) -> String {
    match value {
        LuaValue::Integer(i) => i.to_string(),
        LuaValue::Number(n) => n.to_string(),
        other => type_name(other).to_owned(),
    }
}

/// `weave.dispatcher.new(actorCount, workerScript, options?)`, called from
/// the chunk `from`. The new dispatcher's slot, or a message.
pub(crate) fn create(
    config: &Config,
    completions: &Completions,
    args: (LuaValue, LuaValue, String, LuaValue),
) -> Result<Rc<Slot>, String> {
    let (count, script, from, options) = args;
    const NEW: &str = "weave.dispatcher.new";
    let actor_count = match whole(&count) {
        Some(n) if (1.0..=MAX_ACTORS as f64).contains(&n) => n as usize,
        _ => {
            return Err(format!(
                "{NEW}: argument #1 (actorCount) must be a whole number from 1 to {MAX_ACTORS}, \
                 got {}",
                shown(&count)
            ))
        }
    };
    let script = match &script {
        LuaValue::String(s) => s.to_string_lossy(),
        other => {
            return Err(format!(
                "{NEW}: argument #2 (workerScript) must be a path string, got {}",
                type_name(other)
            ))
        }
    };
    let ready_timeout = ready_timeout(&options, config.ready_timeout)?;
    let (job_timeout, memory_limit) = limit_options(&options, config)?;

    // Read and compile the worker script once, here: a missing file or a
    // syntax error is reported before any actor starts.
    let path = vm::resolve_worker(&script, &from).map_err(|message| format!("{NEW}: {message}"))?;
    let source = Source::read(&path).map_err(|message| format!("{NEW}: {message}"))?;
    let bytecode = vm::compiler().compile(&source.text).map_err(|e| {
        // The compiler's message starts at the line number.
        let message = describe_error(&e);
        format!("{NEW}: syntax error in {}:{message}", source.display)
    })?;
    let spec = Arc::new(WorkerSpec {
        display: source.display,
        bytecode,
        native: source.native,
        config: config.clone(),
        ready_timeout,
        job_timeout,
        memory_limit,
        handlers: Mutex::new(vec![Vec::new(); actor_count]),
    });

    let entry_spec = Arc::clone(&spec);
    let dispatcher = Dispatcher::new(actor_count, move |kernel| {
        actor::entry(&entry_spec, kernel);
    })
    .map_err(|error| describe_start_error(&spec, actor_count, &error))?;
    Ok(Rc::new(Slot {
        handle: dispatcher.handle(),
        dispatcher: RefCell::new(Some(dispatcher)),
        spec,
        completions: Rc::clone(completions),
    }))
}

/// The `jobTimeout` and `memoryLimit` options, or the run's defaults; a
/// key that is no option is refused.
fn limit_options(options: &LuaValue, config: &Config) -> Result<(Option<Duration>, usize), String> {
    let LuaValue::Table(table) = options else {
        // Nil, or refused by `ready_timeout` already.
        return Ok((config.job_timeout, config.memory_limit));
    };
    limits::check_option_keys(table)?;
    Ok((
        limits::job_timeout_option(table, config.job_timeout)?,
        limits::memory_limit_option(table, config.memory_limit)?,
    ))
}

/// The `readyTimeout` option (seconds), or the run's default.
fn ready_timeout(options: &LuaValue, default: Duration) -> Result<Duration, String> {
    let table = match options {
        LuaValue::Nil => return Ok(default),
        LuaValue::Table(table) => table,
        other => {
            return Err(format!(
                "weave.dispatcher.new: argument #3 (options) must be a table or nil, got {}",
                type_name(other)
            ))
        }
    };
    match table.raw_get::<LuaValue>("readyTimeout") {
        Ok(LuaValue::Nil) => Ok(default),
        Ok(LuaValue::Integer(i)) if i > 0 => {
            Ok(Duration::from_secs(i.unsigned_abs()).min(MAX_READY_TIMEOUT))
        }
        // Anything over a year (even `math.huge`) counts as a year.
        Ok(LuaValue::Number(n)) if n > 0.0 => Ok(Duration::try_from_secs_f64(n)
            .unwrap_or(MAX_READY_TIMEOUT)
            .min(MAX_READY_TIMEOUT)),
        Ok(other) => Err(format!(
            "weave.dispatcher.new: options.readyTimeout must be a number of seconds > 0, got {}",
            shown(&other)
        )),
        Err(e) => Err(describe_error(&e)),
    }
}

/// A failure of `Dispatcher::new`, as the script author should read it.
fn describe_start_error(spec: &WorkerSpec, actor_count: usize, error: &Error) -> String {
    let worker = &spec.display;
    match error {
        Error::WorkerPanicked { actor, message } => format!(
            "weave.dispatcher.new: actor {} of {actor_count} could not start: {message}",
            actor + 1
        ),
        Error::WorkersDisagree { actor, .. } => {
            let differences =
                handler_differences(&spec.handlers_of(0), &spec.handlers_of(*actor), *actor);
            format!(
                "weave.dispatcher.new: actor {} registered different handlers than actor 1 \
                 (the worker script {worker} must register the same ones on every actor){}",
                actor + 1,
                if differences.is_empty() {
                    String::new()
                } else {
                    format!(": {}", differences.join("; "))
                }
            )
        }
        other => format!("weave.dispatcher.new: {other}"),
    }
}

/// How actor `actor`'s (0-based) handlers differ from actor 0's `first`, in
/// Luau terms: which name is missing on which actor, or tracked on one and
/// detached on the other.
fn handler_differences(
    first: &[(String, bool)],
    other: &[(String, bool)],
    actor: usize,
) -> Vec<String> {
    let kind = |detached: bool| {
        if detached {
            "detached (kernel:OnDetached)"
        } else {
            "tracked (kernel:On)"
        }
    };
    let find = |handlers: &[(String, bool)], name: &str| {
        handlers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, detached)| *detached)
    };
    let actor = actor + 1;
    let mut differences = Vec::new();
    let short = |detached: bool| if detached { "detached" } else { "tracked" };
    for (name, detached) in first {
        match find(other, name) {
            None => differences.push(format!(
                "{} handler \"{name}\" is registered on actor 1 but not on actor {actor}",
                short(*detached)
            )),
            Some(theirs) if theirs != *detached => differences.push(format!(
                "\"{name}\" is {} on actor 1 but {} on actor {actor}",
                kind(*detached),
                kind(theirs)
            )),
            Some(_) => {}
        }
    }
    for (name, detached) in other {
        if find(first, name).is_none() {
            differences.push(format!(
                "{} handler \"{name}\" is registered on actor {actor} but not on actor 1",
                short(*detached)
            ));
        }
    }
    differences
}

/// The four dispatch methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Tracked,
    Deferred,
    Detached,
    DetachedDeferred,
}

impl Mode {
    fn from_code(value: &LuaValue) -> Mode {
        match whole(value) {
            Some(1.0) => Mode::Deferred,
            Some(2.0) => Mode::Detached,
            Some(3.0) => Mode::DetachedDeferred,
            _ => Mode::Tracked,
        }
    }

    fn method(self) -> &'static str {
        match self {
            Mode::Tracked => "dispatcher:Dispatch",
            Mode::Deferred => "dispatcher:DispatchDeferred",
            Mode::Detached => "dispatcher:DispatchDetached",
            Mode::DetachedDeferred => "dispatcher:DispatchDetachedDeferred",
        }
    }

    fn tracked(self) -> bool {
        matches!(self, Mode::Tracked | Mode::Deferred)
    }
}

/// `H.dispatch(handle, mode, name, threadCount, callback, batchSize,
/// packed, ...)`: checks the arguments, encodes the extra ones once,
/// and dispatches; a refusal names the method and the argument.
pub(crate) fn dispatch(lua: &Lua, args: MultiValue) -> Answer<()> {
    let mut args = args.into_iter();
    let mut next = || args.next().unwrap_or(LuaValue::Nil);
    let slot = slot_of(&next())?;
    let mode = Mode::from_code(&next());
    let (name, count, callback, batch) = (next(), next(), next(), next());
    let packed = next();
    let extras = Extras {
        lua,
        packed,
        values: args.collect(),
    };
    Request::check(&slot, mode, name, count, callback, batch, &extras)
        .and_then(|request| request.submit(&slot))
        .map_err(|message| HostError::Refused(format!("{}: {message}", mode.method())))
}

/// A dispatch whose arguments passed the checks, ready for the core.
struct Request {
    mode: Mode,
    name: String,
    thread_count: usize,
    callback: Option<Function>,
    batch_size: Option<usize>,
    args: Args,
}

impl Request {
    /// Checks every argument in the script's order (the first wrong one is
    /// the one named) and encodes the extra arguments once.
    fn check(
        slot: &Slot,
        mode: Mode,
        name: LuaValue,
        count: LuaValue,
        callback: LuaValue,
        batch: LuaValue,
        extras: &Extras<'_>,
    ) -> Result<Request, String> {
        // Argument positions as the script wrote them (callback only if tracked).
        let batch_position = if mode.tracked() { 4 } else { 3 };
        let name = job_name(&name)?;
        let thread_count = limits::item_count(&count, mode.tracked())?;
        let callback = tracked_callback(mode, callback)?;
        let batch_size = batch_size(&batch, batch_position)?;
        let values = extras.encode(batch_position + 1)?;
        let args = Args {
            // ORDERING: only uniqueness matters; no other memory is published.
            seq: NEXT_DISPATCH.fetch_add(1, Ordering::Relaxed),
            discard: !mode.tracked(),
            values,
            results: ResultBudget::new(slot.spec.config.memory_limit),
        };
        Ok(Request {
            mode,
            name,
            thread_count,
            callback,
            batch_size,
            args,
        })
    }

    /// Hands the job to the core, by the method the script called.
    fn submit(self, slot: &Slot) -> Result<(), String> {
        let Request {
            mode,
            name,
            thread_count,
            callback,
            batch_size,
            args,
        } = self;
        let handle = &slot.handle;
        let result = match (mode, callback) {
            (Mode::Tracked, Some(callback)) => handle.dispatch(
                &name,
                thread_count,
                completion(slot, &name, callback),
                batch_size,
                args,
            ),
            (Mode::Deferred, Some(callback)) => handle.dispatch_deferred(
                &name,
                thread_count,
                completion(slot, &name, callback),
                batch_size,
                args,
            ),
            (Mode::DetachedDeferred, _) => {
                handle.dispatch_detached_deferred(&name, thread_count, batch_size, args)
            }
            _ => handle.dispatch_detached(&name, thread_count, batch_size, args),
        };
        result
            .map(drop)
            .map_err(|error| describe_dispatch_error(slot, &name, &error))
    }
}

/// Argument #1: the job's name.
fn job_name(name: &LuaValue) -> Result<String, String> {
    match name {
        LuaValue::String(s) => Ok(s.to_string_lossy()),
        other => Err(format!(
            "argument #1 (name) must be a string, got {}",
            type_name(other)
        )),
    }
}

/// Argument #3 of the tracked methods: the callback (none when detached).
fn tracked_callback(mode: Mode, callback: LuaValue) -> Result<Option<Function>, String> {
    match (mode.tracked(), callback) {
        (false, _) => Ok(None),
        (true, LuaValue::Function(f)) => Ok(Some(f)),
        (true, other) => Err(format!(
            "argument #3 (callback) must be a function, got {}",
            type_name(&other)
        )),
    }
}

/// The batch size at argument `position`: `nil` or a whole number >= 1.
fn batch_size(batch: &LuaValue, position: usize) -> Result<Option<usize>, String> {
    match batch {
        LuaValue::Nil => Ok(None),
        value => match whole(value) {
            Some(n) if n >= 1.0 => Ok(Some(n as usize)),
            _ => Err(format!(
                "argument #{position} (batchSize) must be a whole number >= 1 or nil, got {}",
                shown(value)
            )),
        },
    }
}

/// The extra arguments of a dispatch: as mlua passed them, and packed by
/// the Luau library (`table.pack(...)`) when one of them is a Luau
/// `integer`, which only the packed table tells from a whole number.
struct Extras<'a> {
    lua: &'a Lua,
    /// The packed table, or `nil`.
    packed: LuaValue,
    values: Vec<LuaValue>,
}

impl Extras<'_> {
    /// The extra arguments, from argument `first` on, encoded once: every
    /// actor decodes this one copy.
    fn encode(&self, first: usize) -> Result<Vec<Value>, String> {
        let describe = |(offset, refusal): (usize, Refusal)| {
            refusal.describe(&format!("argument #{}", first + offset), "sent to an actor")
        };
        if let LuaValue::Table(packed) = &self.packed {
            let count: usize = packed.raw_get("n").map_err(|e| e.to_string())?;
            return Value::encode_list(self.lua, packed, count).map_err(describe);
        }
        // No integer among them: a whole number mlua shows is a number.
        self.values
            .iter()
            .enumerate()
            .map(|(offset, value)| {
                Value::encode(self.lua, value, false).map_err(|refusal| describe((offset, refusal)))
            })
            .collect()
    }
}

/// The core callback of a tracked job: queues the completion.
fn completion(
    slot: &Slot,
    name: &str,
    callback: Function,
) -> impl FnOnce(Result<Vec<Value>, Error>) + 'static {
    let completions = Rc::clone(&slot.completions);
    let job = name.to_owned();
    move |result| {
        completions.borrow_mut().push_back(Completion {
            callback,
            job,
            result,
        });
    }
}

/// A dispatch refused by the core, as the script author should read it.
fn describe_dispatch_error(slot: &Slot, name: &str, error: &Error) -> String {
    match error {
        Error::UnknownJob { .. } => format!(
            "no handler named \"{name}\": the worker script {} registers {}",
            slot.spec.display,
            slot.spec.describe_handlers()
        ),
        Error::DetachedHandler { .. } => format!(
            "\"{name}\" is a detached handler (kernel:OnDetached), which returns no results; \
             use DispatchDetached, or register it with kernel:On"
        ),
        Error::ZeroBatchSize { .. } => "batchSize must be at least 1".to_owned(),
        Error::Closed => "the dispatcher has been destroyed".to_owned(),
        other => other.to_string(),
    }
}

/// The `err` a callback gets for a failed job: job, 1-based item, error.
pub(crate) fn describe_job_error(job: &str, error: &Error) -> String {
    match error {
        Error::HandlerPanicked { item, message, .. } => {
            format!("job \"{job}\" failed on item {}: {message}", item + 1)
        }
        other => format!("job \"{job}\" failed: {other}"),
    }
}

/// The `buf` a callback gets: `buf[id]` is item `id`'s result.
pub(crate) fn results_table(lua: &Lua, results: &[Value]) -> mlua::Result<Table> {
    Value::decode_list(lua, results)
}

/// Wraps a slot for Luau.
pub(crate) fn to_lua(lua: &Lua, slot: Rc<Slot>) -> mlua::Result<LuaValue> {
    Ok(LuaValue::UserData(lua.create_userdata(SlotRef(slot))?))
}

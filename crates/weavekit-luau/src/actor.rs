//! The actor side: the worker entry that gives each actor its own Luau VM,
//! runs the worker script in it, and registers the script's handlers on the
//! actor's [`Kernel`].
//!
//! The worker script runs to its end inside the entry; `kernel:On` and
//! `kernel:OnDetached` only record handlers, which are registered on the
//! `Kernel` once the script has ended, and returning from the entry is what
//! tells the master the actor is ready. A script that raises an error, ends
//! without calling `kernel:Ready()`, or takes longer than the ready timeout
//! makes the entry fail; the core turns that into an error of
//! `Dispatcher::new`, naming the actor.
//!
//! Extra arguments arrive as one shared [`Args`] per job. Decoding them into
//! the VM is the only per-job cost on the actor, so it is done once per job
//! (cached by the job's sequence number), not once per item.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use mlua::chunk::ChunkMode;
use mlua::{Function, Lua, MultiValue, Table, Value as LuaValue, VmState};
use weavekit::Kernel;

use crate::value::Value;
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
    /// The values, in order.
    pub(crate) values: Vec<Value>,
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
    /// How long the script may take to call `kernel:Ready()`.
    pub(crate) ready_timeout: Duration,
    /// The handlers actor 0 registered, for messages: (name, detached).
    pub(crate) handlers: Mutex<Vec<(String, bool)>>,
}

impl WorkerSpec {
    /// The registered handler names, for messages (`"a", "b" (detached)`).
    pub(crate) fn describe_handlers(&self) -> String {
        let handlers = self.handlers.lock().unwrap_or_else(PoisonError::into_inner);
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

/// The state the actor's primitives share while the worker script runs.
struct Startup {
    registrations: RefCell<Vec<Registration>>,
    ready: Cell<bool>,
    /// When the ready timeout runs out (`None`: too far to represent).
    deadline: Option<Instant>,
    timeout_message: String,
}

impl Startup {
    /// Whether the script is out of time: not ready at `now`, past the deadline.
    fn timed_out(&self, now: Instant) -> bool {
        !self.ready.get() && self.deadline.is_some_and(|deadline| now >= deadline)
    }
}

fn start(spec: &WorkerSpec, kernel: &mut Kernel) -> Result<(), String> {
    let startup = Rc::new(Startup {
        registrations: RefCell::new(Vec::new()),
        ready: Cell::new(false),
        deadline: Instant::now().checked_add(spec.ready_timeout),
        timeout_message: format!(
            "the worker script {} did not call kernel:Ready() within {:?} (the ready timeout)",
            spec.display, spec.ready_timeout
        ),
    });
    let lua = vm::create(&spec.config, "actor", ACTOR_LIBRARY, |lua, host| {
        install(lua, host, kernel, &startup)
    })
    .map_err(|e| {
        format!(
            "could not set up the actor's Luau VM: {}",
            describe_error(&e)
        )
    })?;

    // The ready timeout: Luau calls the interrupt at function calls and loop
    // back-edges, so even a script stuck in a loop is stopped.
    let watch = Rc::clone(&startup);
    lua.set_interrupt(move |_| {
        if watch.timed_out(Instant::now()) {
            return Err(mlua::Error::runtime(watch.timeout_message.clone()));
        }
        Ok(VmState::Continue)
    });
    let outcome = vm::load_chunk(
        &lua,
        &spec.bytecode,
        ChunkMode::Binary,
        &format!("@{}", spec.display),
        spec.native,
    )
    .and_then(|script| script.call::<()>(()));
    lua.remove_interrupt();
    if let Err(error) = outcome {
        return Err(format!(
            "the worker script {} raised an error: {}",
            spec.display,
            describe_error(&error)
        ));
    }
    if !startup.ready.get() {
        return Err(format!(
            "the worker script {} ended without calling kernel:Ready()",
            spec.display
        ));
    }

    // Register what the script recorded, now that it has ended.
    let registrations = startup.registrations.take();
    if kernel.actor_index() == 0 {
        let names = registrations
            .iter()
            .map(|r| (r.name.clone(), r.detached))
            .collect();
        *spec.handlers.lock().unwrap_or_else(PoisonError::into_inner) = names;
    }
    let actor = Rc::new(ActorVm {
        lua,
        cache: RefCell::new(Vec::new()),
    });
    for Registration {
        name,
        handler,
        detached,
    } in registrations
    {
        let actor = Rc::clone(&actor);
        if detached {
            kernel.on_detached(&name, move |index: usize, args: &Args| {
                if let Err(message) = actor.call(&handler, index, args) {
                    std::panic::resume_unwind(Box::new(message));
                }
            });
        } else {
            kernel.on(&name, move |index: usize, args: &Args| -> Value {
                let result = actor.call(&handler, index, args).and_then(|value| {
                    Value::encode(&value).map_err(|refusal| {
                        refusal.describe("the result", "sent back to the master")
                    })
                });
                match result {
                    Ok(value) => value,
                    Err(message) => std::panic::resume_unwind(Box::new(message)),
                }
            });
        }
    }
    Ok(())
}

/// The actor's primitives: registration, readiness, blocking sleep.
fn install(lua: &Lua, host: &Table, kernel: &Kernel, startup: &Rc<Startup>) -> mlua::Result<()> {
    host.set("actor_index", kernel.actor_index() + 1)?;
    host.set("actor_count", kernel.actor_count())?;

    let state = Rc::clone(startup);
    host.set(
        "on",
        lua.create_function(
            move |_, (name, handler, detached): (String, Function, bool)| {
                if state.ready.get() {
                    return Ok(Some(format!(
                    "handler \"{name}\" registered after kernel:Ready(); register every handler \
                     before calling Ready"
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
                Ok(None)
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
        "sleep",
        lua.create_function(move |_, seconds: f64| {
            let start = Instant::now();
            let duration = Duration::try_from_secs_f64(seconds.max(0.0)).unwrap_or(Duration::MAX);
            // Before Ready, a sleep may not outlast the ready timeout.
            if let (false, Some(deadline)) = (state.ready.get(), state.deadline) {
                if start
                    .checked_add(duration)
                    .map_or(true, |end| end > deadline)
                {
                    std::thread::sleep(deadline.saturating_duration_since(start));
                    return Err(mlua::Error::runtime(state.timeout_message.clone()));
                }
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
    /// Recently decoded argument lists, by dispatch sequence number.
    cache: RefCell<Vec<(u64, Rc<MultiValue>)>>,
}

impl ActorVm {
    /// Calls `handler(id, ...)` for 0-based item `index`; the error message
    /// (with its traceback) on failure.
    fn call(&self, handler: &Function, index: usize, args: &Args) -> Result<LuaValue, String> {
        let arguments = self.arguments(args).map_err(|e| {
            format!(
                "the arguments could not be copied into the actor: {}",
                describe_error(&e)
            )
        })?;
        handler
            .call::<LuaValue>((index + 1, &*arguments))
            .map_err(|e| describe_error(&e))
    }

    /// The job's extra arguments in this VM, decoded once per job.
    fn arguments(&self, args: &Args) -> mlua::Result<Rc<MultiValue>> {
        let cached = self
            .cache
            .borrow()
            .iter()
            .find(|(seq, _)| *seq == args.seq)
            .map(|(_, values)| Rc::clone(values));
        if let Some(values) = cached {
            return Ok(values);
        }
        let values = args
            .values
            .iter()
            .map(|value| value.decode(&self.lua))
            .collect::<mlua::Result<Vec<_>>>()?;
        let values = Rc::new(MultiValue::from_vec(values));
        let mut cache = self.cache.borrow_mut();
        if cache.len() == CACHED_ARGUMENT_LISTS {
            cache.remove(0);
        }
        cache.push((args.seq, Rc::clone(&values)));
        Ok(values)
    }
}

//! The background executor: where Lune's standard library runs the futures
//! it spawns, shared by every VM of the process, master and actors.
//!
//! Two of Lune's functions start work that outlives their call:
//! `process.create` spawns a task that waits for the child (or for
//! `child:kill()`) and hands its exit status to `child:status()`;
//! `stdio.prompt` runs the interactive prompt as a blocking task and awaits
//! it. Both reach the executor through `mlua_luau_scheduler::LuaSpawnExt`,
//! which looks for a `Weak<async_executor::Executor>` in the VM's app data
//! (Lune's scheduler stores one while it runs) and panics without one.
//!
//! The host does not run Lune's scheduler (see `master.rs`), so it provides
//! that executor itself: one process-wide `Executor`, attached to every VM,
//! driven by one thread of its own (`weave-lune-tasks`) that is started the
//! first time a script calls one of those functions, so runs that never do
//! pay nothing. The tasks are `Send` and touch no VM: they only move a
//! child's status or a prompt's answer into a channel or a task handle that
//! the calling Luau thread awaits (polled by the master's scheduler, or
//! blocked on by an actor). A thread of their own keeps them going while the
//! master runs Luau code, sleeps, or waits in `Destroy`, and while an actor
//! is blocked; driving them from the master's step could not serve a child
//! awaited on an actor while the master is busy.
//!
//! As in Lune, nothing waits for these tasks at the end of a run: a child
//! that is still running when `weave run` ends is left running.

use std::sync::{Arc, LazyLock, OnceLock};

use async_executor::Executor;
use mlua::Lua;

/// The executor every VM's spawned futures run on.
static EXECUTOR: LazyLock<Arc<Executor<'static>>> = LazyLock::new(|| Arc::new(Executor::new()));

/// Whether the driving thread started (set once, by the first [`start`]).
static DRIVER: OnceLock<Result<(), String>> = OnceLock::new();

/// Makes the executor reachable from `lua` (as Lune's scheduler does while
/// it runs). The executor lives for the whole process, so the weak handle
/// always upgrades.
pub(crate) fn attach(lua: &Lua) {
    lua.set_app_data(Arc::downgrade(&EXECUTOR));
}

/// Starts the thread that drives the executor, once per process.
///
/// # Errors
///
/// The operating system refused to start the thread (the message says so);
/// the first failure is the answer for the rest of the process.
pub(crate) fn start() -> Result<(), String> {
    DRIVER
        .get_or_init(|| {
            std::thread::Builder::new()
                .name("weave-lune-tasks".to_owned())
                .spawn(|| async_io::block_on(EXECUTOR.run(std::future::pending::<()>())))
                .map(drop)
                .map_err(|error| {
                    format!("could not start the thread that runs background tasks: {error}")
                })
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;
    use mlua_luau_scheduler::LuaSpawnExt;

    #[test]
    fn a_future_spawned_through_a_vm_runs_on_the_driver() {
        let lua = Lua::new();
        attach(&lua);
        start().unwrap();
        let task = lua.spawn(async { std::thread::current().name().map(str::to_owned) });
        let ran_on = async_io::block_on(task);
        assert_eq!(ran_on.as_deref(), Some("weave-lune-tasks"));
        // Starting again is a no-op that reports the same success.
        assert_eq!(start(), Ok(()));
    }
}

//! The standard library: Lune's modules (`@lune/fs`, `@lune/process`,
//! `@lune/serde`, `@lune/stdio`, `@lune/datetime`, `@lune/regex`,
//! `@lune/luau`, `@lune/task`), registered in every VM, master and actors
//! alike, so `require("@lune/fs")` returns them.
//!
//! Each module comes from its own crate (`lune-std-fs`, ...) with a one-call
//! entry point, `module(lua)`; this file is the one place that calls them
//! and the one place where Weave's runtime differs from Lune's:
//!
//! - `@lune/task` is the host's own `task` library (the master's scheduler,
//!   or the actor's blocking one), not Lune's: Weave's scheduling rules hold
//!   whichever way a script reaches `task`.
//! - `process.exit(code)` is the host's (see [`Exit`]): on the master it
//!   ends the run with `code`, on an actor it raises an error.
//! - `process.args` are the script's arguments (`weave run script a b`
//!   gives `{"a", "b"}`), the same on every actor.
//! - `process.create` and `stdio.prompt` spawn background futures on the
//!   executor Lune's scheduler would provide; here that is the host's
//!   process-wide one (`background.rs`), attached to every VM and started by
//!   the first call of either (a thin wrapper does that, then calls Lune's).
//!   Without a terminal, `stdio.prompt` raises the host's message at the
//!   caller's line where Lune's prompt would fail with "IO error: not a
//!   terminal".
//!
//! Functions Lune implements as `async` Rust (`fs.*`, `process.exec`,
//! `serde.compress`, `stdio.write`, ...) yield the calling Luau thread while
//! their future runs; the master's scheduler polls such threads with a
//! waker that wakes the master (`master.rs`), an actor blocks its thread on
//! them (`actor.rs`).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use crate::background;
use crate::primitive::{primitive, HostError};
use lune_utils::process::{ProcessArgs, ProcessEnv, ProcessJitEnablement};
use mlua::{Function, Lua, Table, Value as LuaValue};

/// The modules, by the name `require` takes (after `@lune/`).
pub(crate) const MODULES: [&str; 8] = [
    "datetime", "fs", "luau", "process", "regex", "serde", "stdio", "task",
];

/// What `process.exit(code)` does in this VM.
pub(crate) enum Exit {
    /// On the master: records the exit code (the host's primitive gets the
    /// code, already checked to be 0..=255, and ends the run).
    Master(Function),
    /// On an actor: `process.exit` raises an error.
    Actor,
}

/// Registers every module as `@lune/<name>` in `lua`.
///
/// `task` is the role's own task library; `args` are `process.args`.
pub(crate) fn register(lua: &Lua, task: Table, args: &[String], exit: Exit) -> mlua::Result<()> {
    // `process` asks the scheduler crate for its functions (it panics
    // without one attached); the scheduler is attached only while the
    // modules are built, since the host never runs it.
    lua.set_app_data(ProcessArgs::from_iter(args.iter().cloned()));
    lua.set_app_data(ProcessEnv::current());
    // `luau.load` restores this after compiling: the host compiles natively
    // only for `--!native` chunks, so it is off between loads.
    lua.set_app_data(ProcessJitEnablement::new(false));
    // What `process.create` and `stdio.prompt` spawn their futures on.
    background::attach(lua);
    let modules = {
        let _scheduler = mlua_luau_scheduler::Scheduler::new(lua.clone());
        [
            lune_std_datetime::module(lua.clone())?,
            lune_std_fs::module(lua.clone())?,
            lune_std_luau::module(lua.clone())?,
            process(lua, lune_std_process::module(lua.clone())?, exit)?,
            lune_std_regex::module(lua.clone())?,
            lune_std_serde::module(lua.clone())?,
            stdio(lua, lune_std_stdio::module(lua.clone())?)?,
            task,
        ]
    };
    for (name, module) in MODULES.iter().zip(modules) {
        lua.register_module(&format!("@lune/{name}"), module)?;
    }
    Ok(())
}

/// Lune's `process`, with the host's `exit`.
fn process(lua: &Lua, lune: Table, exit: Exit) -> mlua::Result<Table> {
    let exit = match exit {
        Exit::Master(record) => lua
            .load(EXIT_LUAU)
            .set_name("=weave/process.exit")
            .call::<Function>(record)?,
        Exit::Actor => unsupported(
            lua,
            "process.exit is only available on the master script; an actor's handler \
             reports failure by raising an error",
        )?,
    };
    let create = starting_background(lua, lune.get("create")?, || Ok(()))?;
    replace(lua, lune, &[("exit", exit), ("create", create)])
}

/// Lune's `stdio`, whose `prompt` first checks for a terminal.
fn stdio(lua: &Lua, lune: Table) -> mlua::Result<Table> {
    let prompt = starting_background(lua, lune.get("prompt")?, terminal)?;
    replace(lua, lune, &[("prompt", prompt)])
}

/// Whether `stdio.prompt` has a terminal to prompt on. Lune's prompts
/// (dialoguer's) draw on stderr and fail with "IO error: not a terminal"
/// unless it is one; the same test here names the function and the
/// script's line instead.
fn terminal() -> Result<(), String> {
    if std::io::stderr().is_terminal() {
        Ok(())
    } else {
        Err(
            "stdio.prompt needs a terminal to prompt on, and stderr is not one; \
             read piped input with stdio.readLine or stdio.readToEnd"
                .to_owned(),
        )
    }
}

/// `function` (Lune's), preceded by `check` and by starting the background
/// executor; a failure of either is raised at the caller's line.
fn starting_background(
    lua: &Lua,
    function: Function,
    check: fn() -> Result<(), String>,
) -> mlua::Result<Function> {
    let start = primitive(lua, move |_, ()| {
        check()
            .and_then(|()| background::start())
            .map_err(HostError::Refused)
    })?;
    lua.load(STARTING_LUAU)
        .set_name("=weave/stdlib")
        .call::<Function>((start, function))
}

/// Calls the host's `start` primitive (which answers a refusal's message or
/// `nil`), then Lune's function, with the caller's arguments and results.
const STARTING_LUAU: &str = r#"
local start, lune = ...
local error = error
return function(...)
	local problem = start()
	if problem then
		error(problem, 2)
	end
	return lune(...)
end
"#;

/// `process.exit(code?)` on the master: checks the code, hands it to the
/// host, then yields for good (the host never resumes the thread).
const EXIT_LUAU: &str = r#"
local record = ...
local yield, isyieldable, type, typeof, error, floor, format =
	coroutine.yield, coroutine.isyieldable, type, typeof, error, math.floor, string.format
local integerToNumber = if integer then integer.tonumber else nil
return function(code)
	if code == nil then
		code = 0
	elseif type(code) == "boolean" then
		code = if code then 0 else 1
	elseif typeof(code) == "integer" and integerToNumber then
		code = integerToNumber(code)
	end
	if type(code) ~= "number" or code ~= floor(code) or code < 0 or code > 255 then
		local shown = if type(code) == "string"
			then format("string %q", code)
			elseif type(code) == "number" then tostring(code)
			else typeof(code)
		error(`process.exit: expected a whole number from 0 to 255, got {shown}`, 2)
	end
	record(code)
	if isyieldable() then
		yield()
	end
	error("process.exit: the run is exiting", 0)
end
"#;

/// A function that raises `message` (as a string, with the caller's line).
fn unsupported(lua: &Lua, message: &'static str) -> mlua::Result<Function> {
    lua.load("local message = ...\nreturn function() error(message, 2) end")
        .set_name("=weave/stdlib")
        .call::<Function>(message)
}

/// A read-only copy of `module` with some fields replaced.
fn replace(lua: &Lua, module: Table, fields: &[(&str, Function)]) -> mlua::Result<Table> {
    let copy = lua.create_table()?;
    for pair in module.pairs::<LuaValue, LuaValue>() {
        let (key, value) = pair?;
        copy.raw_set(key, value)?;
    }
    for (name, function) in fields {
        copy.raw_set(*name, function.clone())?;
    }
    copy.set_readonly(true);
    Ok(copy)
}

/// The type definitions of `@weave`, a module for luau-lsp.
const WEAVE_TYPES: &str = include_str!("../types/weave.luau");

/// The globals of `weave run` (`script`, `task`, `warn`), a definitions file.
const GLOBAL_TYPES: &str = include_str!("../types/globals.d.luau");

/// Lune's own type definitions of a module, shipped in its crate.
fn lune_types(name: &str) -> Option<String> {
    Some(match name {
        "datetime" => lune_std_datetime::typedefs(),
        "fs" => lune_std_fs::typedefs(),
        "luau" => lune_std_luau::typedefs(),
        "process" => lune_std_process::typedefs(),
        "regex" => lune_std_regex::typedefs(),
        "serde" => lune_std_serde::typedefs(),
        "stdio" => lune_std_stdio::typedefs(),
        "task" => lune_std_task::typedefs(),
        _ => return None,
    })
}

/// Writes `weave.luau`, `globals.d.luau` and `lune/<module>.luau` into
/// `dir`; returns the files written.
pub(crate) fn write_typedefs(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let lune = dir.join("lune");
    std::fs::create_dir_all(&lune)?;
    let mut files = vec![
        (dir.join("weave.luau"), WEAVE_TYPES.to_owned()),
        (dir.join("globals.d.luau"), GLOBAL_TYPES.to_owned()),
    ];
    for name in MODULES {
        if let Some(text) = lune_types(name) {
            files.push((lune.join(format!("{name}.luau")), text));
        }
    }
    for (path, text) in &files {
        std::fs::write(path, text)?;
    }
    Ok(files.into_iter().map(|(path, _)| path).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typedefs_cover_weave_the_globals_and_every_module() {
        let dir = std::env::temp_dir().join(format!("weave-types-{}", std::process::id()));
        let files = write_typedefs(&dir).unwrap();
        assert_eq!(files.len(), 2 + MODULES.len());
        let weave = std::fs::read_to_string(dir.join("weave.luau")).unwrap();
        assert!(weave.contains("export type Dispatcher"));
        let fs = std::fs::read_to_string(dir.join("lune/fs.luau")).unwrap();
        assert!(fs.contains("readFile"), "{fs}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

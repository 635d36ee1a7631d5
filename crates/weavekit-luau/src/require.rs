//! `require`: Luau's standard require-by-string, from mlua
//! (`Lua::create_require_function`), navigated by mlua's [`FsRequirer`]
//! with three additions of the host's:
//!
//! - clear messages: a module that does not exist names the path and the
//!   files tried; `@weave/...` and an unknown `@lune/...` say what the
//!   built-in modules are (built-in names win over `.luaurc` aliases, since
//!   mlua looks registered modules up first and the host refuses those two
//!   alias names before any configuration file is read);
//! - a module that requires itself (directly or through others) is an
//!   error naming it, not a stack overflow;
//! - modules compile like scripts: `--!native` asks for native code, and
//!   an error a module raises while loading names the module.
//!
//! What mlua and Luau give as they are: `./` and `../` relative to the
//! requiring script, `@self` (the requiring module's own folder for an
//! `init.luau`), `init.luau` / `init.lua` for folders, `.luaurc` and
//! `.config.luau` aliases searched upwards from the requiring script, one
//! run of each module per VM (cached by its file), and registered modules
//! (`@weave`, `@lune/*`, matched case-insensitively).

use std::path::{Path, PathBuf};

use mlua::luau::{FsRequirer, NavigateError, Require};
use mlua::{Function, Lua};

use crate::stdlib;
use crate::vm::{self, Source};

/// The registry name of the Luau function that wraps a module's chunk (see
/// [`GUARD_LUAU`]).
const GUARD: &str = "weave.require.guard";

/// Wraps a module's chunk: cycle detection, errors naming the module, and
/// one load at a time. A thread that requires a module another thread is
/// still loading (its top level waits on an async function) waits for it
/// with `wait` (the master's `task.wait`) and gets the same value, as in
/// Lune; on an actor (no `wait`) that is an error. Level 3 is the script
/// that called `require` (1 is this wrapper, 2 is mlua's `require`).
const GUARD_LUAU: &str = r#"
local wait = ...
local xpcall, traceback, error, type, running = xpcall, debug.traceback, error, type, coroutine.running
local loading, loaded = {}, {}
local function withTraceback(message)
	if type(message) == "string" then
		return traceback(message, 2)
	end
	return message
end
return function(key, display, chunk)
	return function()
		local holder = loading[key]
		if holder == running() then
			error(`require: {display} requires itself (a require cycle)`, 3)
		elseif holder then
			if not wait then
				error(`require: {display} is still being loaded by another thread`, 3)
			end
			while loading[key] do
				wait()
			end
			if loaded[key] then
				return loaded[key][1]
			end
		end
		loading[key] = running()
		local ok, result = xpcall(chunk, withTraceback)
		loading[key] = nil
		if not ok then
			if type(result) == "string" then
				error(`require: module {display} raised an error: {result}`, 3)
			end
			error(result, 3)
		end
		loaded[key] = { result }
		return result
	end
end
"#;

/// Installs the global `require` in `lua`; `wait` is the master's
/// `task.wait` (`None` on actors).
pub(crate) fn install(lua: &Lua, wait: Option<Function>) -> mlua::Result<()> {
    let guard: Function = lua.load(GUARD_LUAU).set_name("=weave/require").call(wait)?;
    lua.set_named_registry_value(GUARD, guard)?;
    let require = lua.create_require_function(Requirer::default())?;
    lua.globals().set("require", require)
}

/// mlua's file-system navigation, with the host's messages and loader.
#[derive(Debug, Default)]
struct Requirer {
    fs: FsRequirer,
    /// Where navigation stands, as the script wrote it (for messages).
    here: PathBuf,
}

impl Require for Requirer {
    fn is_require_allowed(&self, chunk_name: &str) -> bool {
        self.fs.is_require_allowed(chunk_name)
    }

    fn reset(&mut self, chunk_name: &str) -> Result<(), NavigateError> {
        self.here = PathBuf::from(chunk_name.strip_prefix('@').unwrap_or(chunk_name));
        self.fs.reset(chunk_name)
    }

    fn jump_to_alias(&mut self, path: &str) -> Result<(), NavigateError> {
        self.here = PathBuf::from(path);
        self.fs.jump_to_alias(path)
    }

    fn to_alias_override(&mut self, alias: &str) -> Result<(), NavigateError> {
        // Registered modules were looked up before: what reaches here under
        // a built-in name is a module that does not exist.
        if alias.eq_ignore_ascii_case("weave") {
            return Err(refuse(
                "require: \"@weave\" is built in and has no submodules".to_owned(),
            ));
        }
        if alias.eq_ignore_ascii_case("lune") {
            let names: Vec<String> = stdlib::MODULES
                .iter()
                .map(|name| format!("@lune/{name}"))
                .collect();
            return Err(refuse(format!(
                "require: unknown standard library module (the built-in ones are {})",
                names.join(", ")
            )));
        }
        Err(NavigateError::NotFound)
    }

    fn to_parent(&mut self) -> Result<(), NavigateError> {
        self.fs.to_parent()?;
        self.here.pop();
        Ok(())
    }

    fn to_child(&mut self, name: &str) -> Result<(), NavigateError> {
        let wanted = self.here.join(name);
        match self.fs.to_child(name) {
            Ok(()) => {
                self.here = wanted;
                Ok(())
            }
            Err(NavigateError::NotFound) => {
                let shown = wanted.display();
                Err(refuse(format!(
                    "require: cannot find module \"{shown}\" (tried {shown}.luau, {shown}.lua, \
                     {shown}/init.luau, {shown}/init.lua)"
                )))
            }
            Err(other) => Err(other),
        }
    }

    fn has_module(&self) -> bool {
        self.fs.has_module()
    }

    fn cache_key(&self) -> String {
        self.fs.cache_key()
    }

    fn has_config(&self) -> bool {
        self.fs.has_config()
    }

    fn config(&self) -> std::io::Result<Vec<u8>> {
        self.fs.config()
    }

    fn loader(&self, lua: &Lua) -> mlua::Result<Function> {
        let key = self.fs.cache_key();
        let file = Path::new(&key);
        let mut source = Source::read(file).map_err(mlua::Error::runtime)?;
        source.display = chunk_path(file);
        let chunk = vm::load(lua, &source).map_err(|error| {
            mlua::Error::runtime(format!(
                "require: module {} could not be compiled: {}",
                source.display,
                vm::describe_error(&error)
            ))
        })?;
        let guard: Function = lua.named_registry_value(GUARD)?;
        guard.call((key, source.display, chunk))
    }
}

/// A navigation error with the host's message.
fn refuse(message: String) -> NavigateError {
    NavigateError::Other(mlua::Error::runtime(message))
}

/// The chunk name (without `@`) of the module in `file`: its path relative
/// to the working directory where it is under it, and for an `init.luau`
/// the folder's path, so that Luau resolves `./` and `@self` in it as it
/// does for a folder module.
fn chunk_path(file: &Path) -> String {
    let is_init = file
        .file_stem()
        .is_some_and(|stem| stem.eq_ignore_ascii_case("init"));
    let path = match (is_init, file.parent()) {
        (true, Some(folder)) => folder,
        _ => file,
    };
    let relative = std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(Path::to_path_buf));
    relative
        .unwrap_or_else(|| path.to_path_buf())
        .display()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_modules_are_named_by_their_folder() {
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(chunk_path(&cwd.join("lib/init.luau")), "lib");
        assert_eq!(chunk_path(&cwd.join("lib/util.luau")), "lib/util.luau");
        assert_eq!(
            chunk_path(Path::new("/elsewhere/m.lua")),
            "/elsewhere/m.lua"
        );
    }
}

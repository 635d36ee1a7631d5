//! One Luau VM as the host sets it up, for the master and for every actor:
//! the shared globals (`print`, `warn`, `require`, `script`, `task`), the
//! built-in modules (`@weave`, and the standard library of `stdlib.rs`),
//! script loading (with `--!native` detection) and the worker path rule of
//! `weave.dispatcher.new`.
//!
//! The globals are written partly in Luau (`luau/prelude.luau` and the
//! role's own `luau/master.luau` or `luau/actor.luau`) over a table of Rust
//! primitives, the *host table* `H`. Luau code raises the errors (with
//! `error(message, 2)`), so scripts see plain string messages that point at
//! their own line; Rust primitives report problems by returning a message.
//! Once everything is installed the VM is sandboxed (`Lua::sandbox`), which
//! freezes the libraries and lets Luau use its fast paths for built-ins.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use mlua::chunk::{ChunkMode, Compiler};
use mlua::{Function, Lua, Table, Value as LuaValue};

use crate::output::Output;
use crate::value::Value;
use crate::{require, stdlib};

/// The common prelude: `print`, `warn`, `script`, `task`.
const PRELUDE: &str = include_str!("luau/prelude.luau");

/// Settings shared by the master and every actor of one run.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    /// Where `print`, `warn` and error reports go.
    pub(crate) output: Output,
    /// How long a worker script may take to call `kernel:Ready()`.
    pub(crate) ready_timeout: Duration,
    /// How long one handler item may run (`None`: for ever).
    pub(crate) job_timeout: Option<Duration>,
    /// The most memory one VM may hold, in bytes.
    pub(crate) memory_limit: usize,
    /// The script's arguments: `...` of the master, `process.args` everywhere.
    pub(crate) args: Arc<[String]>,
}

/// A script read from disk, ready to compile.
#[derive(Debug)]
pub(crate) struct Source {
    /// The path as shown in messages and tracebacks.
    pub(crate) display: String,
    /// The text.
    pub(crate) text: Vec<u8>,
    /// Whether the script starts with the `--!native` directive.
    pub(crate) native: bool,
}

impl Source {
    /// Reads the script at `path`.
    pub(crate) fn read(path: &Path) -> Result<Source, String> {
        let mut text = std::fs::read(path)
            .map_err(|e| format!("cannot read the script {}: {e}", path.display()))?;
        skip_preamble(&mut text);
        Ok(Source {
            display: path.display().to_string(),
            native: has_native_directive(&text),
            text,
        })
    }

    /// The chunk name Luau shows in messages: `@path`.
    pub(crate) fn chunk_name(&self) -> String {
        format!("@{}", self.display)
    }
}

/// Removes what Luau's compiler would reject at the very start of a script
/// file but its CLI accepts: a UTF-8 byte-order mark, then a `#!` line
/// (whose text goes, its line break stays, so line numbers do not move).
pub(crate) fn skip_preamble(text: &mut Vec<u8>) {
    if text.starts_with(b"\xEF\xBB\xBF") {
        text.drain(..3);
    }
    if text.starts_with(b"#!") {
        let end = text.iter().position(|&b| b == b'\n').unwrap_or(text.len());
        text.drain(..end);
    }
}

/// Whether the hot comments at the top of `text` include `--!native`.
///
/// Luau reads directives (`--!strict`, `--!native`, ...) only before the
/// first line of code; blank lines and other comments may come between them.
pub(crate) fn has_native_directive(text: &[u8]) -> bool {
    let text = String::from_utf8_lossy(text);
    for line in text.lines() {
        let line = line.trim();
        if let Some(directive) = line.strip_prefix("--!") {
            if directive.split_whitespace().next() == Some("native") {
                return true;
            }
        } else if !(line.is_empty() || line.starts_with("--")) {
            return false;
        }
    }
    false
}

/// The compiler every chunk goes through: Luau's default optimisation
/// level 1, which keeps every function in tracebacks (a script may ask for
/// level 2, with inlining, by its own `--!optimize 2` directive), with line
/// info and names for tracebacks.
pub(crate) fn compiler() -> Compiler {
    Compiler::new().set_optimization_level(1).set_debug_level(1)
}

/// Creates a VM for one role.
///
/// `role_source` is the role's Luau library (`master.luau` or `actor.luau`);
/// it gets the host table and returns `{ task = ..., weave = ..., actor = ... }`.
/// `install` adds the role's Rust primitives to the host table first; a
/// primitive `exit` there is what `process.exit` calls (without one,
/// `process.exit` raises an error: actors).
pub(crate) fn create(
    config: &Config,
    role_name: &str,
    role_source: &str,
    install: impl FnOnce(&Lua, &Table) -> mlua::Result<()>,
) -> mlua::Result<Lua> {
    let lua = Lua::new();
    // Native code only for `--!native` chunks; see `load`.
    lua.enable_jit(false);
    lua.set_compiler(compiler());

    let host = lua.create_table()?;
    install_common(&lua, &host, config)?;
    install(&lua, &host)?;
    let role: Table = lua
        .load(role_source)
        .set_name(format!("=weave/{role_name}"))
        .call(&host)?;
    let (exit, wait) = match host.get::<Option<Function>>("exit")? {
        Some(record) => {
            let task: Table = role.get("task")?;
            (stdlib::Exit::Master(record), Some(task.get("wait")?))
        }
        None => (stdlib::Exit::Actor, None),
    };
    require::install(&lua, wait)?;
    lua.register_module("@weave", role.get::<Table>("weave")?)?;
    stdlib::register(&lua, role.get::<Table>("task")?, &config.args, exit)?;
    lua.load(PRELUDE)
        .set_name("=weave/prelude")
        .call::<()>((&host, role))?;
    lua.sandbox(true)?;
    Ok(lua)
}

/// Compiles a script into a function of `lua`, with native code generation
/// when it asks for it.
pub(crate) fn load(lua: &Lua, source: &Source) -> mlua::Result<Function> {
    load_chunk(
        lua,
        &source.text,
        ChunkMode::Text,
        &source.chunk_name(),
        source.native,
    )
}

/// Loads text or bytecode under `name`, natively compiled if `native`.
pub(crate) fn load_chunk(
    lua: &Lua,
    chunk: &[u8],
    mode: ChunkMode,
    name: &str,
    native: bool,
) -> mlua::Result<Function> {
    // Native compilation happens at load time, for the chunk being loaded.
    lua.enable_jit(native);
    let function = lua
        .load(chunk)
        .set_mode(mode)
        .set_name(name)
        .into_function();
    lua.enable_jit(false);
    function
}

/// Primitives every VM has: output.
fn install_common(lua: &Lua, host: &Table, config: &Config) -> mlua::Result<()> {
    let output = config.output.clone();
    host.set(
        "write",
        lua.create_function(move |_, line: mlua::LuaString| {
            output.out(&*line.as_bytes());
            Ok(())
        })?,
    )?;
    let output = config.output.clone();
    host.set(
        "warn",
        lua.create_function(move |_, line: mlua::LuaString| {
            output.err(&*line.as_bytes());
            Ok(())
        })?,
    )?;
    Ok(())
}

/// The chunk name (`@path`) of the innermost script file on the calling
/// thread's stack, skipping C functions (`pcall`) and the host's own Luau
/// code; empty when there is none.
pub(crate) fn calling_script(lua: &Lua) -> String {
    for level in 1..256 {
        let source = lua.inspect_stack(level, |frame| {
            let source = frame.source();
            (source.what, source.source.map(|s| s.into_owned()))
        });
        match source {
            None => break,
            Some((_, Some(name))) if name.starts_with('@') => return name,
            Some(_) => {}
        }
    }
    String::new()
}

/// The directory that paths in the chunk `from` are relative to: the
/// chunk's own directory for a file (`@path`), the working directory else.
fn base_dir(from: &str) -> PathBuf {
    match from.strip_prefix('@') {
        Some(file) => Path::new(file)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default(),
        None => PathBuf::new(),
    }
}

/// Resolves a worker script path given to `weave.dispatcher.new` from the
/// chunk `from`: relative paths are relative to that script; the `.luau` or
/// `.lua` extension may be left out.
pub(crate) fn resolve_worker(spec: &str, from: &str) -> Result<PathBuf, String> {
    let path = Path::new(spec);
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        base_dir(from).join(path)
    };
    find_script(&joined).map_err(|tried| {
        format!(
            "cannot find the worker script \"{spec}\" (tried {})",
            tried.join(", ")
        )
    })
}

/// Finds the file a module path names, or lists the candidates tried.
fn find_script(path: &Path) -> Result<PathBuf, Vec<String>> {
    let path = normalize(path);
    let mut candidates: Vec<PathBuf> = Vec::new();
    let has_script_extension = matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("luau" | "lua")
    );
    if has_script_extension {
        candidates.push(path.clone());
    }
    let text = path.as_os_str().to_string_lossy();
    for suffix in [".luau", ".lua"] {
        candidates.push(PathBuf::from(format!("{text}{suffix}")));
    }
    for init in ["init.luau", "init.lua"] {
        candidates.push(path.join(init));
    }
    match candidates.iter().find(|candidate| candidate.is_file()) {
        Some(found) => Ok(found.clone()),
        None => Err(candidates.iter().map(|c| c.display().to_string()).collect()),
    }
}

/// Removes `.` components and folds `dir/..` pairs, without touching the
/// file system (so that messages show the path the script wrote).
fn normalize(path: &Path) -> PathBuf {
    let mut parts: Vec<Component<'_>> = Vec::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => match parts.last() {
                Some(Component::Normal(_)) => {
                    parts.pop();
                }
                Some(Component::RootDir | Component::Prefix(_)) => {}
                _ => parts.push(component),
            },
            other => parts.push(other),
        }
    }
    if parts.is_empty() {
        return PathBuf::from(".");
    }
    parts.iter().collect()
}

/// A Luau error as a script author wants to read it: the message, then the
/// traceback when there is one (its middle left out when it is very long,
/// see [`shorten_traceback`]), without mlua's "runtime error:" prefixes.
/// The last value that is not a string given to `error` in a VM, with its
/// `tostring` (noted by the prelude's `error`, see `luau/prelude.luau`):
/// lets a message show `error({ code = 42 })` with its fields instead of
/// as `table: 0x...`.
#[derive(Default)]
pub(crate) struct ErrorObject(std::cell::RefCell<Option<(String, LuaValue, mlua::WeakLua)>>);

impl ErrorObject {
    /// Records `value` (shown by Luau as `text`) of the VM `lua` (weakly:
    /// the record lives in that VM).
    pub(crate) fn note(&self, value: LuaValue, text: String, lua: &Lua) {
        *self.0.borrow_mut() = Some((text, value, lua.weak()));
    }

    /// Forgets what was noted (before running code whose errors count).
    pub(crate) fn clear(&self) {
        self.0.borrow_mut().take();
    }

    /// `message` with its first line, if it is the `tostring` of the noted
    /// object, replaced by the object's fields (`error object {code =
    /// 42}`), when the object can be copied. Forgets the object.
    pub(crate) fn render_into(&self, message: &mut String) {
        let Some((text, value, lua)) = self.0.borrow_mut().take() else {
            return;
        };
        let Some(lua) = lua.try_upgrade() else {
            return;
        };
        let shown = message.split('\n').next().unwrap_or_default();
        if same_object(&text, shown) {
            if let Ok(object) = Value::encode(&lua, &value, false) {
                let rendered = format!("error object {}", object.render());
                message.replace_range(..shown.len(), &rendered);
            }
        }
    }

    /// The prelude's `note_error` primitive over `this`.
    pub(crate) fn primitive(this: std::rc::Rc<ErrorObject>, lua: &Lua) -> mlua::Result<Function> {
        lua.create_function(move |lua, (value, text): (LuaValue, String)| {
            this.note(value, text, lua);
            Ok(())
        })
    }
}

/// Whether two `tostring`s name the same object (`table: 0x...`): Luau
/// pads the address to 16 digits, mlua does not.
fn same_object(a: &str, b: &str) -> bool {
    let parse = |text: &str| -> Option<(String, u64)> {
        let (kind, address) = text.trim().split_once(": 0x")?;
        Some((kind.to_owned(), u64::from_str_radix(address, 16).ok()?))
    };
    matches!((parse(a), parse(b)), (Some(x), Some(y)) if x == y)
}

pub(crate) fn describe_error(error: &mlua::Error) -> String {
    shorten_traceback(&without_prelude_frames(&describe_error_in_full(error)))
}

/// The traceback lines of the host's own Luau glue, not the script's: the
/// prelude's functions (its `error` wrapper, see `luau/prelude.luau`) and
/// the closures handlers are called through (`value::Callee`).
const HOST_FRAMES: [&str; 2] = ["\tweave/prelude:", "\tweave/call:"];

/// `text` without the traceback lines of the host's glue ([`HOST_FRAMES`]).
fn without_prelude_frames(text: &str) -> String {
    if !HOST_FRAMES.iter().any(|frame| text.contains(frame)) {
        return text.to_owned();
    }
    let kept: Vec<&str> = text
        .split('\n')
        .filter(|line| !HOST_FRAMES.iter().any(|frame| line.starts_with(frame)))
        .collect();
    kept.join("\n")
}

/// How many frames of a long traceback are kept from its top...
const TRACEBACK_HEAD: usize = 10;
/// ... and from its bottom, where the script's own entry point is.
const TRACEBACK_TAIL: usize = 11;

/// `text` with the middle of its traceback left out when that has more
/// than `TRACEBACK_HEAD + TRACEBACK_TAIL` frames, as Lua's own
/// `debug.traceback` does: Luau's keeps every frame, and a stack overflow
/// would otherwise be a message of some 20,000 lines (1.7 MB).
pub(crate) fn shorten_traceback(text: &str) -> String {
    let Some(start) = text.rfind("stack traceback:") else {
        return text.to_owned();
    };
    let (head, frames) = text.split_at(start + "stack traceback:".len());
    let lines: Vec<&str> = frames.lines().filter(|line| !line.is_empty()).collect();
    if lines.len() <= TRACEBACK_HEAD + TRACEBACK_TAIL {
        return text.to_owned();
    }
    let skipped = lines.len() - TRACEBACK_HEAD - TRACEBACK_TAIL;
    let mut short = head.to_owned();
    for line in &lines[..TRACEBACK_HEAD] {
        short.push('\n');
        short.push_str(line);
    }
    short.push_str(&format!("\n\t... ({skipped} frames left out)"));
    for line in &lines[lines.len() - TRACEBACK_TAIL..] {
        short.push('\n');
        short.push_str(line);
    }
    short
}

/// [`describe_error`] with every traceback frame.
fn describe_error_in_full(error: &mlua::Error) -> String {
    match error {
        // mlua's message handler adds a frame for itself: drop it.
        mlua::Error::RuntimeError(message) => message.replacen("\n\t[C]: in ?", "", 1),
        mlua::Error::MemoryError(message) => message.clone(),
        mlua::Error::SyntaxError { message, .. } => message.clone(),
        mlua::Error::CallbackError { traceback, cause } => {
            let cause = describe_error_in_full(cause);
            if cause.contains("stack traceback:") {
                cause
            } else {
                format!("{cause}\n{traceback}")
            }
        }
        mlua::Error::WithContext { context, cause } => {
            format!("{context}: {}", describe_error_in_full(cause))
        }
        other => other.to_string(),
    }
}

/// The type name Luau's `typeof` would give, for messages.
pub(crate) fn type_name(value: &LuaValue) -> &'static str {
    match value {
        LuaValue::Integer(_) | LuaValue::Number(_) => "number",
        LuaValue::Error(_) => "userdata",
        other => other.type_name(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_names_match_whatever_the_padding() {
        assert!(same_object(
            "table: 0x000055930369c2d0",
            "table: 0x55930369c2d0"
        ));
        assert!(!same_object(
            "table: 0x000055930369c2d0",
            "table: 0x55930369c2d1"
        ));
        assert!(!same_object("table: 0x1", "userdata: 0x1"));
        assert!(!same_object("7", "7"));
    }

    #[test]
    fn the_preludes_frames_are_left_out_of_tracebacks() {
        let text = "x.luau:3: boom\nstack traceback:\n\t[C]: in function 'error'\n\
                    \tweave/prelude:46: in function 'error'\n\tx.luau:3: in function <x.luau:1>";
        let kept = without_prelude_frames(text);
        assert!(!kept.contains("prelude"), "{kept}");
        assert!(
            kept.ends_with("\tx.luau:3: in function <x.luau:1>"),
            "{kept}"
        );
        assert_eq!(without_prelude_frames("plain"), "plain");
        let text = "x.luau:3: boom\nstack traceback:\n\tx.luau:3: in function <x.luau:2>\n\
                    \tweave/call: in function <weave/call:2>";
        assert_eq!(
            without_prelude_frames(text),
            "x.luau:3: boom\nstack traceback:\n\tx.luau:3: in function <x.luau:2>"
        );
    }

    #[test]
    fn long_tracebacks_keep_their_first_and_last_frames() {
        let frames: Vec<String> = (1..=100).map(|n| format!("\tframe {n}")).collect();
        let text = format!("boom\nstack traceback:\n{}", frames.join("\n"));
        let short = shorten_traceback(&text);
        let lines: Vec<&str> = short.lines().collect();
        assert_eq!(lines.len(), 2 + TRACEBACK_HEAD + 1 + TRACEBACK_TAIL);
        assert_eq!(lines[..3], ["boom", "stack traceback:", "\tframe 1"]);
        assert_eq!(lines[2 + TRACEBACK_HEAD], "\t... (79 frames left out)");
        assert_eq!(lines.last(), Some(&"\tframe 100"));
        // Short ones, and messages with no traceback, stay as they are.
        let few = format!("boom\nstack traceback:\n{}", frames[..21].join("\n"));
        assert_eq!(shorten_traceback(&few), few);
        assert_eq!(shorten_traceback("just a message"), "just a message");
    }

    #[test]
    fn native_directive_is_read_from_the_header_only() {
        assert!(has_native_directive(b"--!native\nlocal x = 1"));
        assert!(has_native_directive(
            b"--!strict\n\n-- a comment\n--!native\n"
        ));
        assert!(!has_native_directive(b"local x = 1\n--!native\n"));
        assert!(!has_native_directive(b"--!nativeish\n"));
    }

    #[test]
    fn a_byte_order_mark_and_a_shebang_line_are_skipped() {
        let cases: [(&[u8], &[u8]); 5] = [
            (b"\xEF\xBB\xBFprint(1)", b"print(1)"),
            (b"#!/usr/bin/env weave run\nprint(1)", b"\nprint(1)"),
            (b"\xEF\xBB\xBF#!weave\r\n--!native\n", b"\n--!native\n"),
            (b"#!only", b""),
            (b"print('#!')", b"print('#!')"),
        ];
        for (input, expected) in cases {
            let mut text = input.to_vec();
            skip_preamble(&mut text);
            assert_eq!(text, expected, "{:?}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn paths_are_normalized_lexically() {
        assert_eq!(normalize(Path::new("a/./b/../c")), PathBuf::from("a/c"));
        assert_eq!(normalize(Path::new("../x")), PathBuf::from("../x"));
        assert_eq!(base_dir("@dir/sub/main.luau"), PathBuf::from("dir/sub"));
        assert_eq!(base_dir("=stdin"), PathBuf::new());
    }
}

//! Tables read and built straight on a Luau stack, through Luau's C API.
//!
//! mlua 0.12 shows a Luau `integer` and a whole number alike
//! (`mlua::Value::Integer`) and pushes both as numbers, so a value that
//! went through mlua no longer says which it was. Here the host walks a
//! table itself: `lua_type` tells `LUA_TINTEGER` from `LUA_TNUMBER`, and
//! `lua_pushinteger64` builds an integer. One pass per table, with no Luau
//! call and no mlua reference per entry, so the common case (tables of
//! numbers and strings) costs no more than through mlua's own API.
//!
//! Everything here runs inside [`Lua::exec_raw`]: a protected call on the
//! VM's running stack, which catches a Luau error (out of memory) raised
//! while a table is built. Such an error is a C++ exception that unwinds
//! through the builder's Rust frames (allowed: mlua declares Luau's API
//! `extern "C-unwind"`), which own nothing. Reading raises none: it only
//! looks at values, pops what it pushes, and grows the stack with
//! `lua_checkstack`, which answers 0 instead of raising. Neither panics
//! (no indexing that can fail; a failed allocation aborts), so no Rust
//! panic meets Luau's C++ frames either.
//!
//! Miri cannot run these functions (they call into the Luau C library), so
//! they are covered by ordinary tests: the unit tests and the fixed-seed
//! marshalling fuzz test of `value.rs`, and the Luau scripts of `tests/`.

use std::ffi::{c_int, c_void, CStr};
use std::ptr;

use mlua::ffi::{self, lua_State};
use mlua::{Lua, Table as LuaTable};

use super::{Refusal, Table, Value, MAX_DEPTH};

/// Stack slots one level of nesting takes while a table is read or built
/// (the table, a key, a value), with room for a metatable check. Each
/// level reserves its own, so a flat value grows no stack.
const SLOTS_PER_LEVEL: c_int = 4;

/// Copies `table` out of its VM: keys and values with their exact Luau
/// types.
pub(super) fn encode_table(lua: &Lua, table: &LuaTable) -> Result<Table, Refusal> {
    let mut copied = None;
    let read = |state: *mut lua_State| {
        copied = Some(Reader::new(state).and_then(|mut reader| {
            // SAFETY: exec_raw pushed the table on top of the stack (index
            // -1) and `Reader::new` reserved the room a walk needs.
            unsafe { reader.read_table(ffi::lua_absindex(state, -1)) }
        }));
    };
    // SAFETY: `exec_raw` pushes `table` on top of the VM's stack and calls
    // `read` in a protected call with the stack of that VM; the reader keeps
    // to its contract (see `Reader::read_table`): it reads the value at the
    // top, pops everything it pushes, and raises no Luau error.
    let run = unsafe { lua.exec_raw::<()>(table, read) };
    match (run, copied) {
        (Ok(()), Some(copied)) => copied,
        (Err(error), _) => Err(unreadable(&error)),
        (Ok(()), None) => Err(Refusal::new("a table that could not be read")),
    }
}

/// Copies entries `1..=count` of `list` (the extra arguments of a
/// dispatch, packed by `table.pack`); a refusal comes with the 0-based
/// position of the entry that was refused.
pub(super) fn encode_list(
    lua: &Lua,
    list: &LuaTable,
    count: usize,
) -> Result<Vec<Value>, (usize, Refusal)> {
    if count == 0 {
        return Ok(Vec::new());
    }
    let mut copied = None;
    let read = |state: *mut lua_State| {
        copied = Some(match Reader::new(state) {
            // SAFETY: exec_raw pushed the list on top of the stack, and
            // `Reader::new` reserved the room a walk needs.
            Ok(mut reader) => unsafe { reader.read_list(count) },
            Err(refusal) => Err((0, refusal)),
        });
    };
    // SAFETY: as in `encode_table`: the list is at the top of the stack and
    // the reader pops everything it pushes.
    let run = unsafe { lua.exec_raw::<()>(list, read) };
    match (run, copied) {
        (Ok(()), Some(copied)) => copied,
        (Err(error), _) => Err((0, unreadable(&error))),
        (Ok(()), None) => Err((0, Refusal::new("a value that could not be read"))),
    }
}

/// The refusal for a walk that Luau stopped (it could not grow the stack).
fn unreadable(error: &mlua::Error) -> Refusal {
    Refusal::new(format!("a table that could not be read ({error})"))
}

/// Builds `values` in `lua` as a table: `values[i]` at key `i + 1`, `nil`
/// left out; with `count`, also `n = values.len()` (as `table.pack`).
///
/// # Errors
///
/// Luau's error when the VM runs out of memory (or stack) while building.
pub(super) fn decode_list(lua: &Lua, values: &[Value], count: bool) -> mlua::Result<LuaTable> {
    let build = |state: *mut lua_State| {
        // SAFETY: exec_raw hands out the VM's running stack, in a protected
        // call.
        unsafe { push_list(state, values, count) }
    };
    // SAFETY: `exec_raw` calls `build` in a protected call on the VM's
    // stack; `build` leaves exactly one table on top, which exec_raw
    // returns. A Luau error raised while building (out of memory) unwinds
    // through `push` (which owns nothing, so nothing leaks or is left half
    // done on the Rust side) to the protected call, which returns it.
    unsafe { lua.exec_raw::<LuaTable>((), build) }
}

/// Pushes the table [`decode_list`] describes.
///
/// # Safety
///
/// `state` is a Luau stack inside a protected call (a Luau error may be
/// raised).
unsafe fn push_list(state: *mut lua_State, values: &[Value], count: bool) {
    // SAFETY: the caller's contract; luaL_checkstack raises (a Luau error,
    // caught by the protected call) if the stack cannot grow.
    unsafe {
        ffi::luaL_checkstack(state, SLOTS_PER_LEVEL, c"copying a value".as_ptr());
        ffi::lua_createtable(state, size_hint(values.len()), c_int::from(count));
        for (index, value) in values.iter().enumerate() {
            if !matches!(value, Value::Nil) {
                push(state, value);
                set_index(state, index + 1);
            }
        }
        if count {
            ffi::lua_pushnumber(state, values.len() as f64);
            ffi::lua_rawsetfield(state, -2, c"n".as_ptr());
        }
    }
}

/// A table size hint for `lua_createtable`.
fn size_hint(len: usize) -> c_int {
    c_int::try_from(len).unwrap_or(c_int::MAX)
}

/// Pushes `value`, building tables entry by entry.
///
/// # Safety
///
/// `state` is a Luau stack inside a protected call, with room for one more
/// value.
unsafe fn push(state: *mut lua_State, value: &Value) {
    // SAFETY: every call pushes one value on a stack with room for it (the
    // caller's contract; a table reserves room for its entries itself);
    // strings and buffers are copied from slices whose pointers and lengths
    // come from the same slice.
    unsafe {
        match value {
            Value::Nil => ffi::lua_pushnil(state),
            Value::Boolean(b) => ffi::lua_pushboolean(state, c_int::from(*b)),
            Value::Number(n) => ffi::lua_pushnumber(state, *n),
            Value::Integer(i) => ffi::lua_pushinteger64(state, *i),
            Value::String(bytes) => {
                // (The wrapper pushes "" for an empty slice, whose pointer
                // is dangling.)
                ffi::lua_pushlstring(state, bytes.as_ptr().cast(), bytes.len());
            }
            Value::Vector([x, y, z]) => ffi::lua_pushvector(state, *x, *y, *z),
            Value::Buffer(bytes) => {
                let data = ffi::lua_newbuffer(state, bytes.len());
                if !bytes.is_empty() {
                    ptr::copy_nonoverlapping(bytes.as_ptr(), data.cast::<u8>(), bytes.len());
                }
            }
            Value::Table(table) => push_table(state, table),
        }
    }
}

/// Pushes a new table holding `table`'s entries.
///
/// # Safety
///
/// As [`push`].
unsafe fn push_table(state: *mut lua_State, table: &Table) {
    // SAFETY: luaL_checkstack reserves this level's slots (or raises, which
    // the protected call catches); the new table stays at -1 between
    // entries; each entry pushes a key and a value (2 slots, within the
    // level's room) that the raw set pops. Raw sets call no metamethod.
    unsafe {
        ffi::luaL_checkstack(state, SLOTS_PER_LEVEL, c"copying a table".as_ptr());
        ffi::lua_createtable(
            state,
            size_hint(table.array.len()),
            size_hint(table.map.len()),
        );
        for (index, value) in table.array.iter().enumerate() {
            if !matches!(value, Value::Nil) {
                push(state, value);
                set_index(state, index + 1);
            }
        }
        for (key, value) in &table.map {
            push(state, key);
            push(state, value);
            ffi::lua_rawset(state, -3);
        }
    }
}

/// Pops the value at the top into key `index` (a number) of the table
/// below it.
///
/// # Safety
///
/// `state` is a Luau stack inside a protected call, with a table at -2 and
/// the value at -1, and room for one more slot.
unsafe fn set_index(state: *mut lua_State, index: usize) {
    // SAFETY: the caller's contract; the raw sets pop the value (and the
    // key) they store.
    unsafe {
        match c_int::try_from(index) {
            Ok(index) => ffi::lua_rawseti_(state, -2, index),
            Err(_) => {
                ffi::lua_pushnumber(state, index as f64);
                ffi::lua_insert(state, -2);
                ffi::lua_rawset(state, -3);
            }
        }
    }
}

/// Reads values off a Luau stack into [`Value`]s.
struct Reader {
    state: *mut lua_State,
    /// The tables being read, outermost first: a table met again is a cycle.
    ancestors: Vec<*const c_void>,
}

impl Reader {
    /// A reader of `state`, with the stack room of one level reserved.
    fn new(state: *mut lua_State) -> Result<Reader, Refusal> {
        let reader = Reader {
            state,
            ancestors: Vec::new(),
        };
        reader.reserve()?;
        Ok(reader)
    }

    /// Reserves the stack slots of one level of nesting. lua_checkstack
    /// raises no error: it answers 0 when the stack cannot grow (out of
    /// memory, or past Luau's limit).
    fn reserve(&self) -> Result<(), Refusal> {
        // SAFETY: `state` is the stack exec_raw handed out; lua_checkstack
        // only grows it.
        if unsafe { ffi::lua_checkstack(self.state, SLOTS_PER_LEVEL) } == 0 {
            return Err(Refusal::new(
                "a table the VM had no memory left to read (its stack could not grow)",
            ));
        }
        Ok(())
    }

    /// Entries `1..=count` of the list at the top of the stack.
    ///
    /// # Safety
    ///
    /// The top of the stack holds a table, and [`SLOTS_PER_LEVEL`] slots
    /// are free.
    unsafe fn read_list(&mut self, count: usize) -> Result<Vec<Value>, (usize, Refusal)> {
        let state = self.state;
        // SAFETY: the caller's contract; each entry is pushed by a raw get
        // (1 slot), read, then popped.
        unsafe {
            let list = ffi::lua_absindex(state, -1);
            let mut values = Vec::with_capacity(count);
            for position in 0..count {
                let Ok(key) = c_int::try_from(position + 1) else {
                    return Err((position, Refusal::new("one argument too many")));
                };
                ffi::lua_rawgeti_(state, list, key);
                let value = self.read(ffi::lua_absindex(state, -1));
                ffi::lua_pop(state, 1);
                values.push(value.map_err(|refusal| (position, refusal))?);
            }
            Ok(values)
        }
    }

    /// The value at absolute stack index `index`.
    ///
    /// # Safety
    ///
    /// `index` is a valid absolute index of the stack, and the stack has
    /// room for [`SLOTS_PER_LEVEL`] slots (a table reserves room for its
    /// entries itself).
    unsafe fn read(&mut self, index: c_int) -> Result<Value, Refusal> {
        let state = self.state;
        // SAFETY: each accessor is called on a value of the type it reads
        // (checked by lua_type just before): the pointers it returns point
        // into that value, which stays on the stack (alive) while copied.
        unsafe {
            Ok(match ffi::lua_type(state, index) {
                ffi::LUA_TNIL => Value::Nil,
                ffi::LUA_TBOOLEAN => Value::Boolean(ffi::lua_toboolean(state, index) != 0),
                ffi::LUA_TNUMBER => Value::Number(ffi::lua_tonumber(state, index)),
                ffi::LUA_TINTEGER => {
                    Value::Integer(ffi::lua_tointeger64(state, index, ptr::null_mut()))
                }
                ffi::LUA_TVECTOR => {
                    let v = ffi::lua_tovector(state, index);
                    Value::Vector([*v, *v.add(1), *v.add(2)])
                }
                ffi::LUA_TSTRING => {
                    let mut len = 0;
                    let text = ffi::lua_tolstring(state, index, &mut len);
                    Value::String(bytes(text.cast(), len))
                }
                ffi::LUA_TBUFFER => {
                    let mut len = 0;
                    let data = ffi::lua_tobuffer(state, index, &mut len);
                    Value::Buffer(bytes(data.cast(), len))
                }
                ffi::LUA_TTABLE => Value::Table(Box::new(self.read_table(index)?)),
                kind => return Err(Refusal::new(refused_kind(kind))),
            })
        }
    }

    /// The table at absolute stack index `index`: refused when it has a
    /// metatable, contains itself, or nests too deep.
    ///
    /// # Safety
    ///
    /// As [`Reader::read`], and `index` holds a table.
    unsafe fn read_table(&mut self, index: c_int) -> Result<Table, Refusal> {
        let state = self.state;
        // SAFETY: lua_getmetatable pushes the metatable only when there is
        // one (popped at once); lua_topointer reads the table's address.
        let pointer = unsafe {
            if ffi::lua_getmetatable(state, index) != 0 {
                ffi::lua_pop(state, 1);
                return Err(Refusal::new("a table with a metatable"));
            }
            ffi::lua_topointer(state, index)
        };
        if self.ancestors.contains(&pointer) {
            return Err(Refusal::new("a table that contains itself (a cycle)"));
        }
        if self.ancestors.len() >= MAX_DEPTH {
            return Err(Refusal::new(format!(
                "a table nested more than {MAX_DEPTH} levels deep"
            )));
        }
        self.reserve()?;
        self.ancestors.push(pointer);
        // SAFETY: the caller's contract, with this level's slots reserved.
        let copied = unsafe { self.read_entries(index) };
        self.ancestors.pop();
        copied
    }

    /// One traversal of the table at `index`: keys `1..=border` go to the
    /// array part, every other key (a Luau `integer` 1 included: Luau keeps
    /// it apart from the number 1) to the map.
    ///
    /// # Safety
    ///
    /// As [`Reader::read_table`].
    unsafe fn read_entries(&mut self, index: c_int) -> Result<Table, Refusal> {
        let state = self.state;
        // SAFETY: lua_next pushes a key and its value (2 slots of this
        // level) while entries remain; the value is popped after each entry
        // and the key too when the walk stops early, so the stack is as it
        // was on return. The table is not changed while it is traversed, so
        // every key given back to lua_next is valid.
        unsafe {
            let border = ffi::lua_objlen(state, index);
            let mut copy = Table {
                array: vec![Value::Nil; border],
                map: Vec::new(),
            };
            ffi::lua_pushnil(state);
            while ffi::lua_next(state, index) != 0 {
                let key = ffi::lua_absindex(state, -2);
                let entry = self.read_entry(key, border, &mut copy);
                ffi::lua_pop(state, 1);
                if let Err(refusal) = entry {
                    ffi::lua_pop(state, 1);
                    return Err(refusal);
                }
            }
            Ok(copy)
        }
    }

    /// Copies the entry whose key is at `key` and value at `key + 1`.
    ///
    /// # Safety
    ///
    /// As [`Reader::read`], for both indices.
    unsafe fn read_entry(
        &mut self,
        key: c_int,
        border: usize,
        copy: &mut Table,
    ) -> Result<(), Refusal> {
        // SAFETY: the caller's contract.
        unsafe {
            let slot = array_slot(self.state, key, border);
            let value = self
                .read(key + 1)
                .map_err(|refusal| refusal.under(describe_key(self.state, key)))?;
            match slot.and_then(|slot| copy.array.get_mut(slot)) {
                Some(place) => *place = value,
                None => {
                    let key = self.read(key).map_err(|refusal| {
                        Refusal::new(format!("a key that is {}", refusal.what))
                    })?;
                    copy.map.push((key, value));
                }
            }
            Ok(())
        }
    }
}

/// The 0-based array slot of the key at `key`: a number `1..=border`.
///
/// # Safety
///
/// `key` is a valid index of `state`.
unsafe fn array_slot(state: *mut lua_State, key: c_int, border: usize) -> Option<usize> {
    // SAFETY: the caller's contract; lua_tonumber is only called on a number.
    let n = unsafe {
        if ffi::lua_type(state, key) != ffi::LUA_TNUMBER {
            return None;
        }
        ffi::lua_tonumber(state, key)
    };
    // (A whole number in range: `as` saturates, NaN is never a key.)
    let slot = n as usize;
    (n >= 1.0 && slot as f64 == n && slot <= border).then(|| slot - 1)
}

/// How a key is shown in a path: `.name` for identifiers, `[key]` otherwise.
///
/// # Safety
///
/// `key` is a valid index of `state`.
unsafe fn describe_key(state: *mut lua_State, key: c_int) -> String {
    // SAFETY: each accessor is called on a value of the type it reads; the
    // type name is a static C string of Luau's.
    unsafe {
        match ffi::lua_type(state, key) {
            ffi::LUA_TSTRING => {
                let mut len = 0;
                let text = ffi::lua_tolstring(state, key, &mut len);
                let text = bytes(text.cast(), len);
                let text = String::from_utf8_lossy(&text);
                if super::is_identifier(text.as_bytes()) {
                    format!(".{text}")
                } else {
                    format!("[{text:?}]")
                }
            }
            ffi::LUA_TNUMBER => format!("[{}]", ffi::lua_tonumber(state, key)),
            ffi::LUA_TINTEGER => {
                format!("[{}]", ffi::lua_tointeger64(state, key, ptr::null_mut()))
            }
            ffi::LUA_TBOOLEAN => format!("[{}]", ffi::lua_toboolean(state, key) != 0),
            kind => {
                let name = CStr::from_ptr(ffi::lua_typename(state, kind));
                format!("[{}]", name.to_string_lossy())
            }
        }
    }
}

/// A copy of `len` bytes at `data`.
///
/// # Safety
///
/// `data` points to `len` readable bytes (or `len` is 0).
unsafe fn bytes(data: *const u8, len: usize) -> Box<[u8]> {
    if len == 0 || data.is_null() {
        return Box::default();
    }
    // SAFETY: the caller's contract.
    unsafe { std::slice::from_raw_parts(data, len) }.into()
}

/// The article-and-noun description of a kind of value that cannot cross.
fn refused_kind(kind: c_int) -> &'static str {
    match kind {
        ffi::LUA_TFUNCTION => "a function",
        ffi::LUA_TTHREAD => "a thread (coroutine)",
        ffi::LUA_TUSERDATA | ffi::LUA_TLIGHTUSERDATA => "a userdata",
        _ => "a value of an unsupported type",
    }
}

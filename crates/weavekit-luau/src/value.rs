//! Values that cross from one Luau VM to another.
//!
//! Every actor has its own VM, so nothing can be shared by reference: the
//! extra arguments of a dispatch are *encoded* once, on the master, into an
//! owned [`Value`] tree that is `Send + Sync`, and *decoded* into each actor's
//! VM (once per job on that actor, see `actor.rs`). Results travel back the
//! same way, one [`Value`] per item.
//!
//! What may cross is what a Roblox actor message may carry, minus Instances:
//! `nil`, booleans, numbers, strings, vectors, buffers and tables of those
//! (tables are deep-copied; keys and values follow the same rules). Functions,
//! userdata, threads, tables with a metatable and cyclic tables are refused
//! with a [`Refusal`] that names where in the value the culprit sits.
//!
//! Every Luau `integer` crosses as an integer and every number as a number
//! (a whole number too). mlua 0.12 shows both as `mlua::Value::Integer` and
//! pushes both as numbers, so the exact type is read where mlua is not in
//! the way: tables are read and built through Luau's C API (`raw.rs`), the
//! master's Luau library packs a dispatch's extra arguments when one is an
//! integer, and handlers are called through Luau closures ([`Callee`]) that
//! say whether the result is one.

use std::fmt;

use mlua::{Function, IntoLuaMulti, Lua, MultiValue, Table as LuaTable, Value as LuaValue};

mod raw;

/// Tables nested deeper than this are refused (they would overflow the
/// stack while being copied, and no real data set needs them).
const MAX_DEPTH: usize = 100;

/// An owned copy of a Luau value that may cross between VMs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    /// `nil`.
    Nil,
    /// `true` or `false`.
    Boolean(bool),
    /// A Luau `number` (a double), whole or not.
    Number(f64),
    /// A Luau `integer` (`typeof(x) == "integer"`), whatever its magnitude.
    Integer(i64),
    /// A string: bytes, not necessarily UTF-8.
    String(Box<[u8]>),
    /// A Luau `vector` (three components).
    Vector([f32; 3]),
    /// A Luau `buffer`: its bytes.
    Buffer(Box<[u8]>),
    /// A table, deep-copied.
    Table(Box<Table>),
}

/// The contents of a copied table.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Table {
    /// Values of the number keys `1..=array.len()` (`Nil` where the table
    /// had a hole).
    array: Vec<Value>,
    /// Every other key and its value (a Luau `integer` key among them: Luau
    /// keeps the integer 1 and the number 1 apart).
    map: Vec<(Value, Value)>,
}

/// Why a value cannot cross, and where in it the culprit sits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    /// What was found ("a function", "a table with a metatable", ...).
    what: String,
    /// Keys from the outer value down to the culprit, innermost first.
    path: Vec<String>,
}

impl Refusal {
    fn new(what: impl Into<String>) -> Refusal {
        Refusal {
            what: what.into(),
            path: Vec::new(),
        }
    }

    /// Records that the culprit sits under `key` (`.name`, `[3]`), called
    /// on the way out.
    fn under(mut self, key: String) -> Refusal {
        self.path.push(key);
        self
    }

    /// Says what is wrong and where, starting from `root` (e.g.
    /// "argument #5"); `destination` ends the sentence ("sent to an actor").
    pub(crate) fn describe(&self, root: &str, destination: &str) -> String {
        if self.path.is_empty() {
            return format!("{root} is {}, which cannot be {destination}", self.what);
        }
        let location: String = self.path.iter().rev().map(String::as_str).collect();
        format!(
            "{root} holds {} at {location}, which cannot be {destination}",
            self.what
        )
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe("the value", "copied to another VM"))
    }
}

/// Whether a string key is shown as `.name` (an identifier) in paths.
fn is_identifier(bytes: &[u8]) -> bool {
    !bytes.is_empty()
        && !bytes[0].is_ascii_digit()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'_')
}

/// The article-and-noun description of a value kind that cannot cross.
fn refused_kind(value: &LuaValue) -> &'static str {
    match value {
        LuaValue::Function(_) => "a function",
        LuaValue::Thread(_) => "a thread (coroutine)",
        LuaValue::UserData(_) | LuaValue::LightUserData(_) => "a userdata",
        LuaValue::Error(_) => "an error object (userdata)",
        _ => "a value of an unsupported type",
    }
}

impl Value {
    /// Copies a Luau value out of its VM. mlua shows a whole number and a
    /// Luau `integer` alike (`LuaValue::Integer`): `integer` says which it
    /// is (the caller asked Luau). Inside tables, types are read exactly.
    pub(crate) fn encode(lua: &Lua, value: &LuaValue, integer: bool) -> Result<Value, Refusal> {
        Ok(match value {
            LuaValue::Nil => Value::Nil,
            LuaValue::Boolean(b) => Value::Boolean(*b),
            LuaValue::Integer(i) if integer => Value::Integer(*i),
            // A double mlua saw was whole: it holds `i` exactly.
            LuaValue::Integer(i) => Value::Number(*i as f64),
            LuaValue::Number(n) => Value::Number(*n),
            LuaValue::String(s) => Value::String(s.as_bytes().to_vec().into_boxed_slice()),
            LuaValue::Vector(v) => Value::Vector([v.x(), v.y(), v.z()]),
            LuaValue::Buffer(b) => Value::Buffer(b.to_vec().into_boxed_slice()),
            LuaValue::Table(t) => Value::Table(Box::new(raw::encode_table(lua, t)?)),
            other => return Err(Refusal::new(refused_kind(other))),
        })
    }

    /// Copies entries `1..=count` of `list` (a `table.pack` of a dispatch's
    /// extra arguments) out of its VM, each with its exact Luau type; a
    /// refusal comes with the 0-based position of the refused entry.
    pub(crate) fn encode_list(
        lua: &Lua,
        list: &LuaTable,
        count: usize,
    ) -> Result<Vec<Value>, (usize, Refusal)> {
        raw::encode_list(lua, list, count)
    }

    /// Builds `values` in `lua` as a list: `values[i]` at `i + 1` (`nil`
    /// left out), each with its Luau type (a job's `buf`).
    pub(crate) fn decode_list(lua: &Lua, values: &[Value]) -> mlua::Result<LuaTable> {
        raw::decode_list(lua, values, false)
    }
}

/// A handler as an actor calls it. mlua cannot tell whether a handler's
/// result is a Luau `integer`, nor pass one as an argument, so besides the
/// handler itself there are Luau closures around it, made once per
/// handler: `bare(id)`, `spread(id, ...)` and `packed(id, list)`
/// (arguments packed by [`Arguments::decode`]), which return the handler's
/// result, followed by `true` when it is a Luau `integer`. They are
/// compiled without line information, so an `error(message, 2)` in a
/// handler gets no position (as when Rust calls the handler itself), and
/// named `weave/call`, whose lines `vm::describe_error` leaves out of
/// tracebacks.
#[derive(Debug)]
pub(crate) struct Callee {
    /// The handler, called directly when its result is not wanted.
    direct: Function,
    /// `bare(id)`: no extra arguments (no vararg call).
    bare: Function,
    /// `spread(id, ...)`.
    spread: Function,
    /// `packed(id, list)`.
    packed: Function,
}

impl Callee {
    /// The Luau function that wraps a handler, loaded once per VM.
    pub(crate) fn wrapper(lua: &Lua) -> mlua::Result<Function> {
        lua.load(
            // (`typeof` and `table.unpack` as globals: Luau's fast built-in
            // calls, the VM being sandboxed.)
            "return function(handler)
                 local function bare(id)
                     local result = handler(id)
                     if typeof(result) == \"integer\" then return result, true end
                     return result
                 end
                 local function spread(id, ...)
                     local result = handler(id, ...)
                     if typeof(result) == \"integer\" then return result, true end
                     return result
                 end
                 local function packed(id, list)
                     local result = handler(id, table.unpack(list, 1, list.n))
                     if typeof(result) == \"integer\" then return result, true end
                     return result
                 end
                 return bare, spread, packed
             end",
        )
        .set_name("=weave/call")
        .set_compiler(
            mlua::chunk::Compiler::new()
                .set_optimization_level(1)
                .set_debug_level(0),
        )
        .eval()
    }

    /// Wraps `handler` with `wrapper` (made by [`Callee::wrapper`]).
    pub(crate) fn new(wrapper: &Function, handler: Function) -> mlua::Result<Callee> {
        let (bare, spread, packed) = wrapper.call(&handler)?;
        Ok(Callee {
            direct: handler,
            bare,
            spread,
            packed,
        })
    }
}

/// The extra arguments of a job, decoded into an actor's VM: as values, or
/// packed in a table when one of them is a Luau `integer` (which mlua
/// cannot pass as an argument; the callee's `packed` closure unpacks it).
#[derive(Debug)]
pub(crate) enum Arguments {
    /// Ready to pass.
    Values(MultiValue),
    /// `{n = count, ...}`.
    Packed(LuaTable),
}

impl Arguments {
    /// Decodes `values` into `lua`.
    pub(crate) fn decode(lua: &Lua, values: &[Value]) -> mlua::Result<Arguments> {
        let packed = raw::decode_list(lua, values, true)?;
        if values.iter().any(Value::is_integer) {
            return Ok(Arguments::Packed(packed));
        }
        // No integer at the top: mlua passes each value as it is.
        let values = (1..=values.len())
            .map(|index| packed.raw_get::<LuaValue>(index))
            .collect::<mlua::Result<Vec<_>>>()?;
        Ok(Arguments::Values(MultiValue::from_vec(values)))
    }

    /// Calls `callee(id, ...)` with these arguments, through `run` (which
    /// gets the function to call and its arguments, and returns what that
    /// returned): the handler's result, and whether it is a Luau `integer`
    /// (when `wanted`; else the result may be anything).
    pub(crate) fn call(
        &self,
        lua: &Lua,
        callee: &Callee,
        id: usize,
        wanted: bool,
        run: impl FnOnce(&Function, MultiValue) -> mlua::Result<MultiValue>,
    ) -> mlua::Result<(LuaValue, bool)> {
        let returned = match self {
            Arguments::Values(values) if !wanted => {
                run(&callee.direct, (id, values).into_lua_multi(lua)?)?
            }
            Arguments::Values(values) if values.is_empty() => {
                run(&callee.bare, id.into_lua_multi(lua)?)?
            }
            Arguments::Values(values) => run(&callee.spread, (id, values).into_lua_multi(lua)?)?,
            Arguments::Packed(packed) => run(&callee.packed, (id, packed).into_lua_multi(lua)?)?,
        };
        let mut returned = returned.into_iter();
        let result = returned.next().unwrap_or(LuaValue::Nil);
        let integer = matches!(returned.next(), Some(LuaValue::Boolean(true)));
        Ok((result, integer))
    }
}

impl Value {
    /// Whether the value is a Luau `integer`.
    pub(crate) fn is_integer(&self) -> bool {
        matches!(self, Value::Integer(_))
    }

    /// The value as a Luau-like literal, for messages (`{code = 42,
    /// detail = {"a", "b"}}`); long texts are cut at about 1000 bytes.
    pub(crate) fn render(&self) -> String {
        const LONG: usize = 1000;
        let mut text = String::new();
        self.render_into(&mut text, LONG);
        if text.len() > LONG {
            let mut end = LONG;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
            text.push_str("...");
        }
        text
    }

    fn render_into(&self, out: &mut String, budget: usize) {
        use std::fmt::Write as _;
        if out.len() > budget {
            return;
        }
        match self {
            Value::Nil => out.push_str("nil"),
            Value::Boolean(b) => write!(out, "{b}").unwrap_or(()),
            Value::Number(n) => write!(out, "{n}").unwrap_or(()),
            Value::Integer(i) => write!(out, "{i}").unwrap_or(()),
            Value::String(bytes) => {
                write!(out, "{:?}", String::from_utf8_lossy(bytes)).unwrap_or(())
            }
            Value::Vector([x, y, z]) => write!(out, "vector({x}, {y}, {z})").unwrap_or(()),
            Value::Buffer(bytes) => write!(out, "buffer({} bytes)", bytes.len()).unwrap_or(()),
            Value::Table(table) => {
                out.push('{');
                let mut first = true;
                let mut separate = |out: &mut String| {
                    if !first {
                        out.push_str(", ");
                    }
                    first = false;
                };
                for value in &table.array {
                    separate(out);
                    value.render_into(out, budget);
                }
                for (key, value) in &table.map {
                    separate(out);
                    match key {
                        Value::String(bytes) if is_identifier(bytes) => {
                            out.push_str(&String::from_utf8_lossy(bytes));
                        }
                        other => {
                            out.push('[');
                            other.render_into(out, budget);
                            out.push(']');
                        }
                    }
                    out.push_str(" = ");
                    value.render_into(out, budget);
                }
                out.push('}');
            }
        }
    }

    /// About how many bytes the value takes once decoded in a VM: what a
    /// job's results are counted by against the master's memory limit.
    pub(crate) fn size(&self) -> usize {
        const SLOT: usize = 16;
        match self {
            Value::String(bytes) | Value::Buffer(bytes) => SLOT + bytes.len(),
            Value::Table(table) => {
                let array: usize = table.array.iter().map(Value::size).sum();
                let map: usize = table.map.iter().map(|(k, v)| k.size() + v.size()).sum();
                SLOT + array + map
            }
            _ => SLOT,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Luau function giving a canonical text of a list (with `n`) with
    /// the Luau type of every part (`i5`, `n5`, tables with their entries
    /// sorted), so that equal values in two VMs give equal texts whatever
    /// the iteration order; and how many integers it holds.
    fn canon(lua: &Lua) -> Function {
        lua.load(
            r#"
            local integers = 0
            local function canon(v)
                local kind = typeof(v)
                if kind == "number" then
                    return "n" .. string.format("%.17g", v)
                elseif kind == "integer" then
                    integers += 1
                    return "i" .. tostring(v)
                elseif kind == "string" then
                    return "s" .. string.format("%q", v)
                elseif kind == "buffer" then
                    return "b" .. string.format("%q", buffer.tostring(v))
                elseif kind == "table" then
                    local parts = {}
                    for key, value in v do
                        table.insert(parts, canon(key) .. "=" .. canon(value))
                    end
                    table.sort(parts)
                    return "{" .. table.concat(parts, ",") .. "}"
                end
                return kind .. tostring(v)
            end
            return function(list)
                integers = 0
                local parts = {}
                for i = 1, list.n do
                    parts[i] = canon(list[i])
                end
                return table.concat(parts, " "), integers
            end
            "#,
        )
        .eval()
        .unwrap()
    }

    /// Copies the list `source` holds (with `n`) into `destination` as the
    /// host copies a dispatch's arguments; the copy has `n` too.
    fn cross(source: &Lua, list: &LuaTable, destination: &Lua) -> LuaTable {
        let n: usize = list.raw_get("n").unwrap();
        let values = Value::encode_list(source, list, n).unwrap();
        raw::decode_list(destination, &values, true).unwrap()
    }

    /// Crosses `table.pack(<code>)` and returns its canonical texts before
    /// and after.
    fn texts(code: &str) -> (String, String) {
        let (source, destination) = (Lua::new(), Lua::new());
        let list: LuaTable = source
            .load(format!("return table.pack({code})"))
            .eval()
            .unwrap();
        let copy = cross(&source, &list, &destination);
        let (before, _): (String, usize) = canon(&source).call(&list).unwrap();
        let (after, _): (String, usize) = canon(&destination).call(&copy).unwrap();
        (before, after)
    }

    #[test]
    fn integers_cross_as_integers_and_numbers_as_numbers() {
        let (before, after) = texts(
            "integer.create(5), 5, integer.create(0), -0.0, integer.create(-7), \
             integer.fromstring('9007199254740991'), integer.fromstring('9007199254740993'), \
             integer.fromstring('-9223372036854775808'), integer.fromstring('9223372036854775807'), \
             2^53, math.huge, -math.huge, 1.5, 0/0",
        );
        assert_eq!(before, after);
        let (known, nan) = after.rsplit_once(' ').unwrap();
        assert_eq!(
            known,
            "i5 n5 i0 n-0 i-7 i9007199254740991 i9007199254740993 i-9223372036854775808 \
             i9223372036854775807 n9007199254740992 ninf n-inf n1.5"
        );
        assert!(nan.starts_with('n') && nan.ends_with("nan"), "{nan}");
    }

    #[test]
    fn integer_keys_and_values_nested_in_tables_keep_their_types() {
        let (before, after) = texts(
            "{ 'number one', [integer.create(1)] = 'integer one', \
               [integer.create(2)] = integer.create(20), x = { 1, integer.create(2), 3 }, \
               [integer.fromstring('9007199254740993')] = 2^53 }, nil, {}",
        );
        assert_eq!(before, after);
        assert_eq!(
            after,
            "{i1=s\"integer one\",i2=i20,i9007199254740993=n9007199254740992,\
             n1=s\"number one\",s\"x\"={n1=n1,n2=i2,n3=n3}} nilnil {}"
        );
    }

    #[test]
    fn scalars_and_nested_tables_round_trip() {
        let (before, after) = texts(
            "nil, true, 2.5, 'a\\0b', vector.create(1, 2, 3), buffer.fromstring('xy'), \
             {1, 2, nil, 4, x = {y = 'z'}, [true] = 1.5}",
        );
        assert_eq!(before, after);
        assert!(after.contains("s\"a\\000b\""), "{after}");
    }

    #[test]
    fn whole_numbers_from_mlua_are_numbers_unless_luau_said_integer() {
        let lua = Lua::new();
        let five = LuaValue::Integer(5);
        assert_eq!(Value::encode(&lua, &five, false), Ok(Value::Number(5.0)));
        assert_eq!(Value::encode(&lua, &five, true), Ok(Value::Integer(5)));
    }

    #[test]
    fn refusals_name_the_path() {
        let lua = Lua::new();
        let encode = |code: &str| {
            let value: LuaValue = lua.load(code).eval().unwrap();
            Value::encode(&lua, &value, false).unwrap_err()
        };
        let refusal = encode("return {config = {steps = {1, 2, function() end}}}");
        assert_eq!(
            refusal.describe("argument #5", "sent to an actor"),
            "argument #5 holds a function at .config.steps[3], which cannot be sent to an actor"
        );
        let refusal = encode("return {[integer.create(3)] = {['a b'] = coroutine.create(print)}}");
        assert_eq!(
            refusal.to_string(),
            "the value holds a thread (coroutine) at [3][\"a b\"], which cannot be copied to \
             another VM"
        );
        let refusal = encode("local t = {}; t.self = t; return t");
        assert!(refusal.to_string().contains("cycle"), "{refusal}");
        let refusal = encode("return {setmetatable({}, {})}");
        assert_eq!(
            refusal.describe("r", "sent"),
            "r holds a table with a metatable at [1], which cannot be sent"
        );
        let refusal = encode("return {[print] = 1}");
        assert_eq!(
            refusal.describe("r", "sent"),
            "r is a key that is a function, which cannot be sent"
        );
    }

    /// Building a copy that does not fit the VM's memory limit is Luau's
    /// memory error (raised inside the C API, through the builder), and
    /// the VM works on.
    #[test]
    fn a_copy_too_big_for_the_vm_is_a_memory_error() {
        let (source, destination) = (Lua::new(), Lua::new());
        let list: LuaTable = source
            .load("local t = {} for i = 1, 200000 do t[i] = {i, integer.create(i)} end return table.pack(t)")
            .eval()
            .unwrap();
        let values = Value::encode_list(&source, &list, 1).unwrap();
        destination.set_memory_limit(4 << 20).unwrap();
        let error = Value::decode_list(&destination, &values).unwrap_err();
        assert!(matches!(error, mlua::Error::MemoryError(_)), "{error:?}");
        destination.set_memory_limit(0).unwrap();
        let copy = Value::decode_list(&destination, &values).unwrap();
        let last: String = destination
            .load("local copy = ... return typeof(copy[1][200000][2]) .. ' ' .. #copy[1]")
            .call(copy)
            .unwrap();
        assert_eq!(last, "integer 200000");
    }

    /// A small deterministic generator (xorshift64*), so the fuzz cases
    /// below are the same on every run and need no dependency.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// A generated value: one mlua can hold, or a Luau `integer` (which
    /// mlua cannot push: the Luau setter below builds it from its text).
    enum Generated {
        Plain(LuaValue),
        Integer(i64),
    }

    /// Builds generated values into tables of a VM.
    struct Generator<'a> {
        lua: &'a Lua,
        rng: Rng,
        /// `set(t, k, v, kInteger, vInteger)`: a raw set, integers given
        /// as their decimal text; nil and NaN keys are skipped.
        set: Function,
    }

    impl Generator<'_> {
        fn new(lua: &Lua, seed: u64) -> Generator<'_> {
            let set = lua
                .load(
                    "return function(t, k, v, kInteger, vInteger)
                         if kInteger then k = integer.fromstring(k) end
                         if vInteger then v = integer.fromstring(v) end
                         if k ~= nil and k == k then rawset(t, k, v) end
                     end",
                )
                .eval()
                .unwrap();
            Generator {
                lua,
                rng: Rng(seed),
                set,
            }
        }

        /// Stores `value` at `key` of `table`.
        fn store(&self, table: &LuaTable, key: Generated, value: Generated) {
            let split = |generated: Generated| match generated {
                Generated::Plain(value) => (value, false),
                Generated::Integer(i) => (
                    LuaValue::String(self.lua.create_string(i.to_string()).unwrap()),
                    true,
                ),
            };
            let ((k, k_integer), (v, v_integer)) = (split(key), split(value));
            self.set
                .call::<()>((table, k, v, k_integer, v_integer))
                .unwrap();
        }

        fn integer(&mut self) -> Generated {
            let specials = [
                0,
                1,
                -1,
                5,
                (1 << 53) - 1,
                1 << 53,
                (1 << 53) + 1,
                i64::MIN,
                i64::MAX,
            ];
            Generated::Integer(match self.rng.below(3) {
                0 => specials[self.rng.below(specials.len() as u64) as usize],
                1 => self.rng.below(10) as i64,
                _ => self.rng.next() as i64,
            })
        }

        fn number(&mut self) -> LuaValue {
            let specials = [
                0.0,
                -0.0,
                5.0,
                f64::NAN,
                f64::INFINITY,
                -1e300,
                2f64.powi(53),
                2f64.powi(53) + 2.0,
            ];
            match self.rng.below(4) {
                0 => LuaValue::Number(specials[self.rng.below(specials.len() as u64) as usize]),
                // What mlua shows for a whole number.
                1 => LuaValue::Integer(self.rng.below(1000) as i64),
                _ => LuaValue::Number(f64::from_bits(self.rng.next())),
            }
        }

        /// A key: numbers and integers 1..8 (the same values, distinct
        /// keys), or any value.
        fn key(&mut self) -> Generated {
            match self.rng.below(4) {
                0 => Generated::Plain(LuaValue::Integer(1 + self.rng.below(8) as i64)),
                1 => Generated::Integer(1 + self.rng.below(8) as i64),
                _ => self.value(0, false),
            }
        }

        /// A value of every kind that may cross, nested up to `depth`; with
        /// `hostile`, also kinds that are refused, cycles and deep nests.
        fn value(&mut self, depth: usize, hostile: bool) -> Generated {
            let lua = self.lua;
            let kinds = if hostile { 13 } else { 9 };
            Generated::Plain(match self.rng.below(kinds) {
                0 => LuaValue::Nil,
                1 => LuaValue::Boolean(self.rng.below(2) == 1),
                2 => self.number(),
                3 => return self.integer(),
                4 => {
                    let bytes: Vec<u8> = (0..self.rng.below(12))
                        .map(|_| self.rng.next() as u8)
                        .collect();
                    LuaValue::String(lua.create_string(bytes).unwrap())
                }
                5 => LuaValue::Vector(mlua::Vector::new(
                    self.rng.next() as f32,
                    -1.5,
                    f32::from_bits(self.rng.next() as u32),
                )),
                6 => {
                    let bytes: Vec<u8> = (0..self.rng.below(8))
                        .map(|_| self.rng.next() as u8)
                        .collect();
                    LuaValue::Buffer(lua.create_buffer(bytes).unwrap())
                }
                9 => LuaValue::Function(lua.create_function(|_, ()| Ok(())).unwrap()),
                10 => {
                    let t = lua.create_table().unwrap();
                    t.set_metatable(Some(lua.create_table().unwrap())).unwrap();
                    LuaValue::Table(t)
                }
                11 => {
                    let t = lua.create_table().unwrap();
                    t.raw_set("self", &t).unwrap();
                    LuaValue::Table(t)
                }
                12 => {
                    // Deeper than MAX_DEPTH.
                    let mut value = LuaValue::Boolean(true);
                    for _ in 0..=MAX_DEPTH + self.rng.below(5) as usize {
                        let t = lua.create_table().unwrap();
                        t.raw_seti(1, value).unwrap();
                        value = LuaValue::Table(t);
                    }
                    value
                }
                _ if depth == 0 => return self.integer(),
                _ => {
                    let t = lua.create_table().unwrap();
                    // A sequence first (the array part), then any keys.
                    for index in 1..=self.rng.below(4) as i64 {
                        let value = self.value(depth - 1, hostile);
                        self.store(&t, Generated::Plain(LuaValue::Integer(index)), value);
                    }
                    for _ in 0..self.rng.below(6) {
                        let key = self.key();
                        let value = self.value(depth - 1, hostile);
                        self.store(&t, key, value);
                    }
                    LuaValue::Table(t)
                }
            })
        }

        /// A list of 0 to 3 values, with `n`, as `table.pack` makes it.
        fn list(&mut self, hostile: bool) -> (LuaTable, usize) {
            let list = self.lua.create_table().unwrap();
            let n = self.rng.below(4) as usize;
            for index in 1..=n {
                let value = self.value(4, hostile);
                self.store(
                    &list,
                    Generated::Plain(LuaValue::Integer(index as i64)),
                    value,
                );
            }
            list.raw_set("n", n).unwrap();
            (list, n)
        }
    }

    /// Lists of arbitrary nested values (small and huge integers, integer
    /// keys beside number keys, mixed tables) cross to a second VM with
    /// every part's Luau type and value; refusals never panic. A fixed
    /// number of cases (a bounded fuzz run in every `cargo test`).
    #[test]
    fn arbitrary_values_round_trip_and_refusals_never_panic() {
        let (source, destination) = (Lua::new(), Lua::new());
        let (canon_before, canon_after) = (canon(&source), canon(&destination));
        let mut generator = Generator::new(&source, 0x9E37_79B9_7F4A_7C15);
        let (mut crossed, mut refused, mut integers) = (0, 0, 0);
        for case in 0..2000 {
            let hostile = case % 2 == 1;
            let (list, n) = generator.list(hostile);
            match Value::encode_list(&source, &list, n) {
                Ok(values) => {
                    let copy = raw::decode_list(&destination, &values, true).unwrap();
                    let (before, _): (mlua::BString, usize) = canon_before.call(&list).unwrap();
                    let (after, found): (mlua::BString, usize) = canon_after.call(&copy).unwrap();
                    assert_eq!(before, after, "case {case}");
                    integers += usize::from(found > 0);
                    crossed += 1;
                }
                Err((position, refusal)) => {
                    assert!(position < n, "case {case}: position {position} of {n}");
                    let message = refusal.describe("argument #5", "sent to an actor");
                    assert!(
                        message.starts_with("argument #5 "),
                        "case {case}: {message}"
                    );
                    refused += 1;
                }
            }
        }
        assert!(
            crossed > 500 && refused > 200 && integers > 200,
            "{crossed} crossed ({integers} with integers), {refused} refused"
        );
    }

    #[test]
    fn values_render_as_luau_literals() {
        let lua = Lua::new();
        let value: LuaValue = lua
            .load(
                "return {1, 'two', {x = true}, vector.create(1, 2, 3), [false] = 0.5, \
                 [integer.create(1)] = integer.create(7)}",
            )
            .eval()
            .unwrap();
        let rendered = Value::encode(&lua, &value, false).unwrap().render();
        assert!(
            rendered.starts_with("{1, \"two\", {x = true}, vector(1, 2, 3), ")
                && rendered.contains("[false] = 0.5")
                && rendered.contains("[1] = 7"),
            "{rendered}"
        );
        let long: LuaValue = lua.load("return string.rep('x', 5000)").eval().unwrap();
        let rendered = Value::encode(&lua, &long, false).unwrap().render();
        assert!(
            rendered.len() <= 1003 && rendered.ends_with("..."),
            "{}",
            rendered.len()
        );
    }
}

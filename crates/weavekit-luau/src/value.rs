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

use std::ffi::c_void;
use std::fmt;

use mlua::{IntoLuaMulti, Lua, Table as LuaTable, Value as LuaValue};

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
    /// A number (a double).
    Number(f64),
    /// A Luau `integer` whose value no double holds exactly. mlua shows a
    /// Luau `integer` and a whole double alike (`LuaValue::Integer`), and
    /// pushes both as doubles: so integers a double holds exactly cross as
    /// numbers (same value), and these are built in Luau ([`Value::store`]).
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
    /// Values of keys `1..=array.len()` (`Nil` where the table had a hole).
    array: Vec<Value>,
    /// Every other key and its value.
    map: Vec<(Value, Value)>,
}

/// Why a value cannot cross, and where in it the culprit sits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    /// What was found ("a function", "a table with a metatable", ...).
    what: String,
    /// Keys from the outer value down to the culprit, innermost last.
    path: Vec<String>,
}

impl Refusal {
    fn new(what: impl Into<String>) -> Refusal {
        Refusal {
            what: what.into(),
            path: Vec::new(),
        }
    }

    /// Records that the culprit sits under `key` (called on the way out).
    fn under(mut self, key: &LuaValue) -> Refusal {
        self.path.push(describe_key(key));
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

/// How a key is shown in a path: `.name` for identifiers, `[key]` otherwise.
fn describe_key(key: &LuaValue) -> String {
    match key {
        LuaValue::String(s) => {
            let bytes = s.as_bytes();
            let identifier = !bytes.is_empty()
                && !bytes[0].is_ascii_digit()
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || *b == b'_');
            if identifier {
                format!(".{}", s.to_string_lossy())
            } else {
                format!("[{:?}]", s.to_string_lossy())
            }
        }
        LuaValue::Integer(i) => format!("[{i}]"),
        LuaValue::Number(n) => format!("[{n}]"),
        LuaValue::Boolean(b) => format!("[{b}]"),
        other => format!("[{}]", other.type_name()),
    }
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
    /// Copies a Luau value out of its VM.
    pub(crate) fn encode(value: &LuaValue) -> Result<Value, Refusal> {
        let mut ancestors = Vec::new();
        encode(value, &mut ancestors)
    }

    /// Builds the value inside `lua`.
    pub(crate) fn decode(&self, lua: &Lua) -> mlua::Result<LuaValue> {
        Ok(match self {
            Value::Nil => LuaValue::Nil,
            Value::Boolean(b) => LuaValue::Boolean(*b),
            Value::Number(n) => LuaValue::Number(*n),
            // Only as a last resort: callers store integers with `store`.
            Value::Integer(i) => LuaValue::Number(*i as f64),
            Value::String(bytes) => LuaValue::String(lua.create_string(bytes)?),
            Value::Vector([x, y, z]) => LuaValue::Vector(mlua::Vector::new(*x, *y, *z)),
            Value::Buffer(bytes) => LuaValue::Buffer(lua.create_buffer(bytes)?),
            Value::Table(table) => LuaValue::Table(table.decode(lua)?),
        })
    }
}

/// A number as mlua shows it: a double holding `i` exactly crosses as a
/// number (nothing is lost); any other can only be a Luau `integer`.
fn encode_integer(i: i64) -> Value {
    let double = i as f64;
    // `double as i64` saturates, so i64::MAX (whose double is 2^63) is
    // told apart by the second comparison.
    if double as i64 == i && double < 9_223_372_036_854_775_808.0 {
        Value::Number(double)
    } else {
        Value::Integer(i)
    }
}

/// The Luau function that stores `v` at `k` of `t`, turning either from its
/// decimal text into a Luau `integer` first: mlua cannot push one.
fn integer_store(lua: &Lua) -> mlua::Result<mlua::Function> {
    const NAME: &str = "weave.value.store";
    if let Some(store) = lua.named_registry_value::<Option<mlua::Function>>(NAME)? {
        return Ok(store);
    }
    let store: mlua::Function = lua
        .load(
            "local fromstring = integer.fromstring
             return function(t, k, v, kInteger, vInteger)
                 if kInteger then k = fromstring(k) end
                 if vInteger then v = fromstring(v) end
                 rawset(t, k, v)
             end",
        )
        .set_name("=weave/value")
        .eval()?;
    lua.set_named_registry_value(NAME, &store)?;
    Ok(store)
}

/// The extra arguments of a job, decoded into an actor's VM: as values, or
/// packed in a table when one of them is a Luau `integer` (which mlua
/// cannot pass as an argument; Luau unpacks the table, see [`Arguments::call`]).
#[derive(Debug)]
pub(crate) enum Arguments {
    /// Ready to pass.
    Values(mlua::MultiValue),
    /// `{n = count, ...}`, built in Luau.
    Packed(LuaTable),
}

impl Arguments {
    /// Decodes `values` into `lua`.
    pub(crate) fn decode(lua: &Lua, values: &[Value]) -> mlua::Result<Arguments> {
        if !values.iter().any(Value::is_integer) {
            let values = values
                .iter()
                .map(|value| value.decode(lua))
                .collect::<mlua::Result<Vec<_>>>()?;
            return Ok(Arguments::Values(mlua::MultiValue::from_vec(values)));
        }
        let packed = lua.create_table_with_capacity(values.len(), 1)?;
        packed.raw_set("n", values.len())?;
        for (index, value) in values.iter().enumerate() {
            value.store(lua, &packed, &Value::Number((index + 1) as f64))?;
        }
        Ok(Arguments::Packed(packed))
    }

    /// Calls `handler(id, ...)` with these arguments, through `run` (which
    /// gets the function to call and its arguments).
    pub(crate) fn call(
        &self,
        lua: &Lua,
        handler: &mlua::Function,
        id: usize,
        run: impl FnOnce(&mlua::Function, mlua::MultiValue) -> mlua::Result<LuaValue>,
    ) -> mlua::Result<LuaValue> {
        match self {
            Arguments::Values(values) => run(handler, (id, values).into_lua_multi(lua)?),
            Arguments::Packed(packed) => {
                const NAME: &str = "weave.value.unpack";
                let unpack = match lua.named_registry_value::<Option<mlua::Function>>(NAME)? {
                    Some(unpack) => unpack,
                    None => {
                        let unpack: mlua::Function = lua
                            .load(
                                "local unpack = table.unpack
                                 return function(handler, id, packed)
                                     return handler(id, unpack(packed, 1, packed.n))
                                 end",
                            )
                            .set_name("=weave/value")
                            .eval()?;
                        lua.set_named_registry_value(NAME, &unpack)?;
                        unpack
                    }
                };
                run(&unpack, (handler, id, packed).into_lua_multi(lua)?)
            }
        }
    }
}

impl Value {
    /// Whether the value is a Luau `integer`, which only [`Value::store`]
    /// can build.
    pub(crate) fn is_integer(&self) -> bool {
        matches!(self, Value::Integer(_))
    }

    /// Stores the value at `key` of `table` (a raw set; `Nil` stores
    /// nothing): the way to build a Luau `integer`.
    pub(crate) fn store(&self, lua: &Lua, table: &LuaTable, key: &Value) -> mlua::Result<()> {
        match (key, self) {
            (_, Value::Nil) => Ok(()),
            (Value::Integer(_), _) | (_, Value::Integer(_)) => {
                let text = |value: &Value| -> mlua::Result<LuaValue> {
                    match value {
                        Value::Integer(i) => {
                            Ok(LuaValue::String(lua.create_string(i.to_string())?))
                        }
                        other => other.decode(lua),
                    }
                };
                integer_store(lua)?.call::<()>((
                    table,
                    text(key)?,
                    text(self)?,
                    key.is_integer(),
                    self.is_integer(),
                ))
            }
            _ => table.raw_set(key.decode(lua)?, self.decode(lua)?),
        }
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
                        Value::String(bytes)
                            if !bytes.is_empty()
                                && !bytes[0].is_ascii_digit()
                                && bytes
                                    .iter()
                                    .all(|b| b.is_ascii_alphanumeric() || *b == b'_') =>
                        {
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

impl Table {
    fn decode(&self, lua: &Lua) -> mlua::Result<LuaTable> {
        let table = lua.create_table_with_capacity(self.array.len(), self.map.len())?;
        for (index, value) in self.array.iter().enumerate() {
            match value {
                Value::Nil => {}
                Value::Integer(_) => {
                    value.store(lua, &table, &Value::Number((index + 1) as f64))?
                }
                _ => table.raw_seti(index + 1, value.decode(lua)?)?,
            }
        }
        for (key, value) in &self.map {
            value.store(lua, &table, key)?;
        }
        Ok(table)
    }
}

fn encode(value: &LuaValue, ancestors: &mut Vec<*const c_void>) -> Result<Value, Refusal> {
    Ok(match value {
        LuaValue::Nil => Value::Nil,
        LuaValue::Boolean(b) => Value::Boolean(*b),
        LuaValue::Integer(i) => encode_integer(*i),
        LuaValue::Number(n) => Value::Number(*n),
        LuaValue::String(s) => Value::String(s.as_bytes().to_vec().into_boxed_slice()),
        LuaValue::Vector(v) => Value::Vector([v.x(), v.y(), v.z()]),
        LuaValue::Buffer(b) => Value::Buffer(b.to_vec().into_boxed_slice()),
        LuaValue::Table(t) => Value::Table(Box::new(encode_table(t, ancestors)?)),
        other => return Err(Refusal::new(refused_kind(other))),
    })
}

fn encode_table(table: &LuaTable, ancestors: &mut Vec<*const c_void>) -> Result<Table, Refusal> {
    // Refuse what a copy would silently change: behaviour (metatables),
    // identity (cycles), or what would exhaust the stack (depth).
    if table.has_metatable() {
        return Err(Refusal::new("a table with a metatable"));
    }
    let pointer = table.to_pointer();
    if ancestors.contains(&pointer) {
        return Err(Refusal::new("a table that contains itself (a cycle)"));
    }
    if ancestors.len() >= MAX_DEPTH {
        return Err(Refusal::new(format!(
            "a table nested more than {MAX_DEPTH} levels deep"
        )));
    }
    ancestors.push(pointer);

    // One traversal: keys 1..=border go to the array part, the rest to the map.
    let border = table.raw_len();
    let mut copy = Table {
        array: vec![Value::Nil; border],
        map: Vec::new(),
    };
    let mut refusal = None;
    let traversal = table.for_each(|key: LuaValue, value: LuaValue| {
        let slot = match key {
            LuaValue::Integer(i) if i >= 1 && (i as u64) <= border as u64 => Some(i as usize - 1),
            _ => None,
        };
        let encoded_value = match encode(&value, ancestors) {
            Ok(v) => v,
            Err(e) => {
                refusal = Some(e.under(&key));
                return Err(mlua::Error::runtime("refused"));
            }
        };
        match slot {
            Some(index) => copy.array[index] = encoded_value,
            None => {
                let encoded_key = match encode(&key, ancestors) {
                    Ok(k) => k,
                    Err(e) => {
                        refusal = Some(Refusal::new(format!("a key that is {}", e.what)));
                        return Err(mlua::Error::runtime("refused"));
                    }
                };
                copy.map.push((encoded_key, encoded_value));
            }
        }
        Ok(())
    });
    ancestors.pop();
    match (refusal, traversal) {
        (Some(refusal), _) => Err(refusal),
        (None, Err(e)) => Err(Refusal::new(format!(
            "a table that could not be read ({e})"
        ))),
        (None, Ok(())) => Ok(copy),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(lua: &Lua, source: &str) -> LuaValue {
        let value: LuaValue = lua.load(source).eval().unwrap();
        let encoded = Value::encode(&value).unwrap();
        encoded.decode(lua).unwrap()
    }

    #[test]
    fn scalars_round_trip() {
        let lua = Lua::new();
        assert!(matches!(round_trip(&lua, "return nil"), LuaValue::Nil));
        assert!(matches!(
            round_trip(&lua, "return true"),
            LuaValue::Boolean(true)
        ));
        let n = round_trip(&lua, "return 2.5");
        assert_eq!(n.as_f64(), Some(2.5));
        let s = round_trip(&lua, "return 'a\\0b'");
        assert_eq!(s.as_string().unwrap().as_bytes().as_ref(), b"a\0b");
        let v = round_trip(&lua, "return vector.create(1, 2, 3)");
        assert_eq!(v, LuaValue::Vector(mlua::Vector::new(1.0, 2.0, 3.0)));
    }

    #[test]
    fn nested_tables_round_trip() {
        let lua = Lua::new();
        let t = round_trip(&lua, "return {1, 2, nil, 4, x = {y = 'z'}, [true] = 1.5}");
        let t = t.as_table().unwrap();
        assert_eq!(t.raw_get::<f64>(1).unwrap(), 1.0);
        assert_eq!(t.raw_get::<Option<f64>>(3).unwrap(), None);
        assert_eq!(t.raw_get::<f64>(4).unwrap(), 4.0);
        let x: LuaTable = t.raw_get("x").unwrap();
        assert_eq!(x.raw_get::<String>("y").unwrap(), "z");
        assert_eq!(t.raw_get::<f64>(true).unwrap(), 1.5);
    }

    #[test]
    fn refusals_name_the_path() {
        let lua = Lua::new();
        let value: LuaValue = lua
            .load("return {config = {steps = {1, 2, function() end}}}")
            .eval()
            .unwrap();
        let refusal = Value::encode(&value).unwrap_err();
        assert_eq!(
            refusal.describe("argument #5", "sent to an actor"),
            "argument #5 holds a function at .config.steps[3], which cannot be sent to an actor"
        );
        let cyclic: LuaValue = lua
            .load("local t = {}; t.self = t; return t")
            .eval()
            .unwrap();
        let refusal = Value::encode(&cyclic).unwrap_err();
        assert!(refusal.to_string().contains("cycle"), "{refusal}");
        let meta: LuaValue = lua.load("return {setmetatable({}, {})}").eval().unwrap();
        let refusal = Value::encode(&meta).unwrap_err();
        assert_eq!(
            refusal.describe("r", "sent"),
            "r holds a table with a metatable at [1], which cannot be sent"
        );
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

    /// A random value of every kind that may cross, nested up to `depth`;
    /// with `hostile`, also kinds that are refused, cycles and deep nests.
    fn arbitrary(lua: &Lua, rng: &mut Rng, depth: usize, hostile: bool) -> LuaValue {
        let kinds = if hostile { 12 } else { 8 };
        match rng.below(kinds) {
            0 => LuaValue::Nil,
            1 => LuaValue::Boolean(rng.below(2) == 1),
            2 => {
                let specials = [
                    0.0,
                    -0.0,
                    f64::NAN,
                    f64::INFINITY,
                    -1e300,
                    2f64.powi(53) + 2.0,
                ];
                match rng.below(4) {
                    0 => LuaValue::Number(specials[rng.below(specials.len() as u64) as usize]),
                    // What mlua shows for a Luau `integer` (or a whole double).
                    1 => LuaValue::Integer(rng.next() as i64),
                    _ => LuaValue::Number(f64::from_bits(rng.next())),
                }
            }
            3 => {
                let bytes: Vec<u8> = (0..rng.below(12)).map(|_| rng.next() as u8).collect();
                LuaValue::String(lua.create_string(bytes).unwrap())
            }
            4 => LuaValue::Vector(mlua::Vector::new(
                rng.next() as f32,
                -1.5,
                f32::from_bits(rng.next() as u32),
            )),
            5 => {
                let bytes: Vec<u8> = (0..rng.below(8)).map(|_| rng.next() as u8).collect();
                LuaValue::Buffer(lua.create_buffer(bytes).unwrap())
            }
            8 => LuaValue::Function(lua.create_function(|_, ()| Ok(())).unwrap()),
            9 => {
                let t = lua.create_table().unwrap();
                t.set_metatable(Some(lua.create_table().unwrap())).unwrap();
                LuaValue::Table(t)
            }
            10 => {
                let t = lua.create_table().unwrap();
                t.raw_set("self", &t).unwrap();
                LuaValue::Table(t)
            }
            11 => {
                // Deeper than MAX_DEPTH.
                let mut value = LuaValue::Boolean(true);
                for _ in 0..=MAX_DEPTH + rng.below(5) as usize {
                    let t = lua.create_table().unwrap();
                    t.raw_seti(1, value).unwrap();
                    value = LuaValue::Table(t);
                }
                value
            }
            _ if depth == 0 => LuaValue::Integer(rng.below(1000) as i64),
            _ => {
                let t = lua.create_table().unwrap();
                for _ in 0..rng.below(6) {
                    let key = match rng.below(3) {
                        0 => LuaValue::Integer(1 + rng.below(8) as i64),
                        _ => arbitrary(lua, rng, 0, false),
                    };
                    let value = arbitrary(lua, rng, depth - 1, hostile);
                    // NaN and nil keys cannot be set: skip them.
                    let _ = t.raw_set(key, value);
                }
                LuaValue::Table(t)
            }
        }
    }

    /// A canonical text of a value: map entries sorted, NaN by its bits, so
    /// that equal values (whatever Luau's iteration order) give equal texts.
    fn canonical(value: &Value) -> String {
        match value {
            Value::Number(n) => format!("n{:x}", n.to_bits()),
            Value::Table(table) => {
                let array: Vec<String> = table.array.iter().map(canonical).collect();
                let mut map: Vec<String> = table
                    .map
                    .iter()
                    .map(|(k, v)| format!("{}={}", canonical(k), canonical(v)))
                    .collect();
                map.sort();
                format!("{{[{}] {}}}", array.join(","), map.join(","))
            }
            other => format!("{other:?}"),
        }
    }

    /// Encode/decode round trips of arbitrary nested values in a second VM
    /// give the same value; refusals never panic. A fixed number of cases
    /// (a bounded fuzz run in every `cargo test`).
    #[test]
    fn arbitrary_values_round_trip_and_refusals_never_panic() {
        let (source, destination) = (Lua::new(), Lua::new());
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let (mut crossed, mut refused) = (0, 0);
        for case in 0..2000 {
            let hostile = case % 2 == 1;
            let value = arbitrary(&source, &mut rng, 4, hostile);
            match Value::encode(&value) {
                Ok(encoded) => {
                    // Stored, as the host does, so that integers are built.
                    let holder = destination.create_table().unwrap();
                    encoded
                        .store(&destination, &holder, &Value::Number(1.0))
                        .unwrap();
                    let decoded: LuaValue = holder.raw_get(1).unwrap();
                    let again = Value::encode(&decoded).unwrap();
                    assert_eq!(canonical(&encoded), canonical(&again), "case {case}");
                    crossed += 1;
                }
                Err(refusal) => {
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
            crossed > 500 && refused > 200,
            "{crossed} crossed, {refused} refused"
        );
    }

    #[test]
    fn values_render_as_luau_literals() {
        let lua = Lua::new();
        let value: LuaValue = lua
            .load("return {1, 'two', {x = true}, vector.create(1, 2, 3), [false] = 0.5}")
            .eval()
            .unwrap();
        assert_eq!(
            Value::encode(&value).unwrap().render(),
            "{1, \"two\", {x = true}, vector(1, 2, 3), [false] = 0.5}"
        );
        let long: LuaValue = lua.load("return string.rep('x', 5000)").eval().unwrap();
        let rendered = Value::encode(&long).unwrap().render();
        assert!(
            rendered.len() <= 1003 && rendered.ends_with("..."),
            "{}",
            rendered.len()
        );
    }
}

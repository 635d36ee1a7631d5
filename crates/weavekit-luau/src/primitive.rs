//! The host's primitives (the Rust functions in the host table `H`) and
//! their error type.
//!
//! A primitive either fails as Luau fails (an `mlua::Error`: out of memory,
//! a bad conversion), or *refuses* its call: the script asked for something
//! wrong (a bad argument, a destroyed dispatcher). A refusal is a
//! [`HostError::Refused`] with the message the script should read; the
//! primitive returns it to the host's Luau library, which raises it with
//! `error(problem, 2)` so the message is a plain string pointing at the
//! script's own line, not at the host.
//!
//! Every primitive made with [`primitive`] answers Luau the same way: first
//! the refusal's message or `nil`, then its results.

use mlua::{FromLuaMulti, Function, IntoLuaMulti, Lua, MultiValue, Value as LuaValue};

/// Why a primitive did not do what it was asked.
#[derive(Debug)]
pub(crate) enum HostError {
    /// The script's call was wrong: the message to raise at its line.
    Refused(String),
    /// Luau itself failed; raised as it is.
    Lua(mlua::Error),
}

impl HostError {
    /// A refusal with `message`.
    pub(crate) fn refused(message: impl Into<String>) -> HostError {
        HostError::Refused(message.into())
    }
}

impl From<mlua::Error> for HostError {
    fn from(error: mlua::Error) -> HostError {
        HostError::Lua(error)
    }
}

/// What a primitive returns.
pub(crate) type Answer<T> = Result<T, HostError>;

/// Makes a Luau function of `f` that returns `nil, results...` when `f`
/// succeeds and `message` when it refuses (see the module docs).
pub(crate) fn primitive<A, R, F>(lua: &Lua, f: F) -> mlua::Result<Function>
where
    A: FromLuaMulti,
    R: IntoLuaMulti,
    F: Fn(&Lua, A) -> Answer<R> + 'static,
{
    lua.create_function(move |lua, args: A| match f(lua, args) {
        Ok(results) => {
            let mut values = results.into_lua_multi(lua)?;
            values.push_front(LuaValue::Nil);
            Ok(values)
        }
        Err(HostError::Refused(message)) => Ok(MultiValue::from_vec(vec![LuaValue::String(
            lua.create_string(message)?,
        )])),
        Err(HostError::Lua(error)) => Err(error),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_come_first_and_results_after_nil() {
        let lua = Lua::new();
        let halve = primitive(&lua, |_, n: i64| {
            if n % 2 == 0 {
                Ok(n / 2)
            } else {
                Err(HostError::refused(format!("{n} is odd")))
            }
        })
        .unwrap();
        let (problem, half): (Option<String>, Option<i64>) = halve.call(8).unwrap();
        assert_eq!((problem, half), (None, Some(4)));
        let (problem, half): (Option<String>, Option<i64>) = halve.call(7).unwrap();
        assert_eq!((problem.as_deref(), half), (Some("7 is odd"), None));
        let failing = primitive(&lua, |_, ()| -> Answer<()> {
            Err(mlua::Error::runtime("broken").into())
        })
        .unwrap();
        assert!(failing.call::<()>(()).is_err());
    }
}

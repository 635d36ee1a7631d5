//! The master's copy of the handler table: checks every dispatch against
//! the handlers' names, kinds and types before anything is queued, so a bad
//! dispatch is an error at the call instead of a job that can never finish.

use std::collections::HashMap;

use crate::error::Error;
use crate::job::Route;
use crate::kernel::{HandlerKind, Signature, TypeTag};
use crate::sync::Arc;

/// Handler names resolved to table indices and signatures.
pub(crate) struct Registry {
    entries: HashMap<String, Entry>,
}

struct Entry {
    index: usize,
    name: Arc<str>,
    signature: Signature,
}

impl Registry {
    /// The registry for actors that all registered `signatures`.
    pub(crate) fn new(signatures: &[Signature]) -> Registry {
        let entries = signatures
            .iter()
            .enumerate()
            .map(|(index, signature)| {
                let entry = Entry {
                    index,
                    name: Arc::from(signature.name.as_str()),
                    signature: signature.clone(),
                };
                (signature.name.clone(), entry)
            })
            .collect();
        Registry { entries }
    }

    /// Checks that every actor registered what actor 0 did.
    pub(crate) fn check_agreement(tables: &[Vec<Signature>]) -> Result<(), Error> {
        let Some((first, rest)) = tables.split_first() else {
            return Ok(());
        };
        for (offset, table) in rest.iter().enumerate() {
            if let Some(detail) = difference(first, table) {
                return Err(Error::WorkersDisagree {
                    actor: offset + 1,
                    detail,
                });
            }
        }
        Ok(())
    }

    /// The route of a tracked dispatch of `name` with arguments `A` and
    /// results `R`.
    pub(crate) fn tracked<A: 'static, R: 'static>(&self, name: &str) -> Result<Route, Error> {
        let entry = self.entry(name)?;
        if entry.signature.kind == HandlerKind::Detached {
            return Err(Error::DetachedHandler {
                job: name.to_owned(),
            });
        }
        check_args::<A>(name, &entry.signature)?;
        let found = TypeTag::of::<R>();
        if entry.signature.result != found {
            return Err(Error::ResultType {
                job: name.to_owned(),
                expected: entry.signature.result.name,
                found: found.name,
            });
        }
        Ok(entry.route())
    }

    /// The route of a detached dispatch of `name` with arguments `A`. A
    /// tracked handler runs with its results dropped.
    pub(crate) fn detached<A: 'static>(&self, name: &str) -> Result<Route, Error> {
        let entry = self.entry(name)?;
        check_args::<A>(name, &entry.signature)?;
        Ok(entry.route())
    }

    fn entry(&self, name: &str) -> Result<&Entry, Error> {
        self.entries.get(name).ok_or_else(|| Error::UnknownJob {
            job: name.to_owned(),
        })
    }
}

impl Entry {
    fn route(&self) -> Route {
        Route {
            name: Arc::clone(&self.name),
            handler: self.index,
        }
    }
}

fn check_args<A: 'static>(name: &str, signature: &Signature) -> Result<(), Error> {
    let found = TypeTag::of::<A>();
    if signature.args == found {
        Ok(())
    } else {
        Err(Error::ArgumentType {
            job: name.to_owned(),
            expected: signature.args.name,
            found: found.name,
        })
    }
}

/// How `other` differs from `first`, if it does.
fn difference(first: &[Signature], other: &[Signature]) -> Option<String> {
    for (index, expected) in first.iter().enumerate() {
        match other.get(index) {
            Some(actual) if actual == expected => {}
            Some(actual) => {
                return Some(format!(
                    "handler #{index} is {} here but {} on actor 0",
                    describe(actual),
                    describe(expected)
                ))
            }
            None => return Some(format!("{} is missing", describe(expected))),
        }
    }
    other
        .get(first.len())
        .map(|extra| format!("{} is not registered on actor 0", describe(extra)))
}

fn describe(signature: &Signature) -> String {
    match signature.kind {
        HandlerKind::Tracked => format!(
            "`{}` (tracked, {} -> {})",
            signature.name, signature.args.name, signature.result.name
        ),
        HandlerKind::Detached => {
            format!("`{}` (detached, {})", signature.name, signature.args.name)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tracked(name: &str) -> Signature {
        Signature {
            name: name.to_owned(),
            kind: HandlerKind::Tracked,
            args: TypeTag::of::<u32>(),
            result: TypeTag::of::<u64>(),
        }
    }

    #[test]
    fn routes_check_kind_and_types() {
        let mut detached = tracked("touch");
        detached.kind = HandlerKind::Detached;
        let registry = Registry::new(&[tracked("sum"), detached]);
        assert_eq!(registry.tracked::<u32, u64>("sum").unwrap().handler, 0);
        assert!(matches!(
            registry.tracked::<u8, u64>("sum"),
            Err(Error::ArgumentType {
                expected: "u32",
                found: "u8",
                ..
            })
        ));
        assert!(matches!(
            registry.tracked::<u32, u8>("sum"),
            Err(Error::ResultType {
                expected: "u64",
                found: "u8",
                ..
            })
        ));
        assert!(matches!(
            registry.tracked::<u32, ()>("touch"),
            Err(Error::DetachedHandler { .. })
        ));
        assert_eq!(registry.detached::<u32>("sum").unwrap().handler, 0);
        assert!(matches!(
            registry.detached::<u32>("nope"),
            Err(Error::UnknownJob { job }) if job == "nope"
        ));
    }

    #[test]
    fn disagreement_names_the_actor_and_the_handler() {
        let same = vec![tracked("a")];
        let longer = vec![tracked("a"), tracked("b")];
        assert!(Registry::check_agreement(&[same.clone(), same.clone()]).is_ok());
        let err = Registry::check_agreement(&[same.clone(), same, longer]).unwrap_err();
        match err {
            Error::WorkersDisagree { actor, detail } => {
                assert_eq!(actor, 2);
                assert!(detail.contains("`b`"), "{detail}");
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

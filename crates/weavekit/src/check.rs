//! The checks every dispatch makes before it builds a job, whoever
//! dispatches (the master's [`JobSpec`](crate::JobSpec), or a
//! [`Remote`](crate::Remote) from any thread) and whatever the job's kind.
//!
//! Each terminal calls one of two functions here, [`Checks::tracked`] for
//! the kinds that keep results (tracked, future, `then`) and
//! [`Checks::detached`], then wraps the [`JobBase`] they return in its
//! kind. The checks run in the order in which their errors win: the
//! handler (known, of the right kind, with the call's argument and result
//! types), then the batch size, then the item count (the result buffer must
//! fit in memory). Whether the dispatcher is still open is the caller's
//! check, made before these: the master reads its own flag, a remote counts
//! itself in flight first (see `remote.rs`). The job takes its id only
//! once every check has passed.

use crate::error::Error;
use crate::id::JobId;
use crate::job::{Batching, Claims, JobBase};
use crate::registry::Registry;

/// What a dispatch asks for: `count` items of the handler `name`, in
/// batches of `batch` (guided when `None`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Request<'a> {
    pub(crate) name: &'a str,
    pub(crate) count: usize,
    pub(crate) batch: Option<usize>,
}

impl<'a> Request<'a> {
    pub(crate) fn new(name: &'a str, count: usize, batch: Option<usize>) -> Self {
        Request { name, count, batch }
    }
}

/// What a dispatch is checked against: the handler registry and the pool
/// size (which sets the guided batching rule).
#[derive(Clone, Copy)]
pub(crate) struct Checks<'a> {
    pub(crate) registry: &'a Registry,
    pub(crate) actors: usize,
}

impl Checks<'_> {
    /// Checks a dispatch whose handler returns `R` results and builds the
    /// job's base, with the id `id` makes, and its result buffer.
    pub(crate) fn tracked<A, R>(
        self,
        request: Request<'_>,
        reuse: Option<Vec<R>>,
        args: A,
        id: impl FnOnce() -> JobId,
    ) -> Result<(JobBase<A>, Vec<R>), Error>
    where
        A: Send + Sync + 'static,
        R: 'static,
    {
        let route = self.registry.tracked::<A, R>(request.name)?;
        let claims = self.claims(request)?;
        let buffer = result_buffer(request, reuse)?;
        Ok((JobBase::new(id(), route, claims, args), buffer))
    }

    /// Checks a dispatch whose results are dropped and builds the job's
    /// base, with the id `id` makes.
    pub(crate) fn detached<A>(
        self,
        request: Request<'_>,
        args: A,
        id: impl FnOnce() -> JobId,
    ) -> Result<JobBase<A>, Error>
    where
        A: Send + Sync + 'static,
    {
        let route = self.registry.detached::<A>(request.name)?;
        let claims = self.claims(request)?;
        Ok(JobBase::new(id(), route, claims, args))
    }

    /// The claim state of the job, or [`Error::ZeroBatchSize`].
    fn claims(self, request: Request<'_>) -> Result<Claims, Error> {
        if request.batch == Some(0) {
            return Err(Error::ZeroBatchSize {
                job: request.name.to_owned(),
            });
        }
        let batching = Batching::new(request.batch, self.actors);
        Ok(Claims::new(request.count, batching))
    }
}

/// The result buffer of the job: `reuse` emptied (its storage kept), or a
/// new one; [`Error::TooManyItems`] if it cannot hold `count` results.
fn result_buffer<R>(request: Request<'_>, reuse: Option<Vec<R>>) -> Result<Vec<R>, Error> {
    let mut buffer = reuse.unwrap_or_default();
    buffer.clear();
    if buffer.try_reserve_exact(request.count).is_err() {
        return Err(Error::TooManyItems {
            job: request.name.to_owned(),
            items: request.count,
        });
    }
    Ok(buffer)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::cell::Cell;

    use super::*;
    use crate::kernel::{HandlerKind, Signature, TypeTag};

    fn registry() -> Registry {
        Registry::new(&[Signature {
            name: "sum".to_owned(),
            kind: HandlerKind::Tracked,
            args: TypeTag::of::<u32>(),
            result: TypeTag::of::<u64>(),
        }])
    }

    /// Runs the tracked checks of `request`, counting the ids taken.
    fn tracked<R: 'static>(
        request: Request<'_>,
        reuse: Option<Vec<R>>,
        ids: &Cell<usize>,
    ) -> Result<Vec<R>, Error> {
        let registry = registry();
        let checks = Checks {
            registry: &registry,
            actors: 2,
        };
        let id = || {
            ids.set(ids.get() + 1);
            JobId::remote(0)
        };
        let (_base, buffer) = checks.tracked(request, reuse, 1_u32, id)?;
        Ok(buffer)
    }

    #[test]
    fn the_handler_is_checked_first_then_the_batch_then_the_count() {
        let ids = Cell::new(0);
        let everything_wrong = Request::new("sum", usize::MAX, Some(0));
        assert!(matches!(
            tracked::<u8>(everything_wrong, None, &ids),
            Err(Error::ResultType { .. })
        ));
        assert!(matches!(
            tracked::<u64>(everything_wrong, None, &ids),
            Err(Error::ZeroBatchSize { job }) if job == "sum"
        ));
        assert!(matches!(
            tracked::<u64>(Request::new("sum", usize::MAX, None), None, &ids),
            Err(Error::TooManyItems {
                items: usize::MAX,
                ..
            })
        ));
        assert_eq!(ids.get(), 0, "a refused dispatch takes no id");
        assert!(tracked::<u64>(Request::new("sum", 3, Some(2)), None, &ids).is_ok());
        assert_eq!(ids.get(), 1);
    }

    #[test]
    fn a_reused_buffer_is_emptied_and_keeps_its_storage() {
        let ids = Cell::new(0);
        let reuse = Vec::with_capacity(64);
        let start = reuse.as_ptr();
        let mut reuse: Vec<u64> = reuse;
        reuse.extend([1, 2, 3]);
        let buffer = tracked(Request::new("sum", 10, None), Some(reuse), &ids).unwrap();
        assert!(buffer.is_empty());
        assert_eq!(buffer.as_ptr(), start);
        assert!(buffer.capacity() >= 64);
    }

    #[test]
    fn detached_checks_take_the_id_last_too() {
        let registry = registry();
        let checks = Checks {
            registry: &registry,
            actors: 1,
        };
        let taken = Cell::new(false);
        let id = || {
            taken.set(true);
            JobId::remote(7)
        };
        let refused = checks.detached(Request::new("sum", 4, Some(0)), 1_u32, id);
        assert!(matches!(refused, Err(Error::ZeroBatchSize { .. })));
        assert!(!taken.get());
        let base = checks
            .detached(Request::new("sum", 4, None), 1_u32, || JobId::remote(7))
            .unwrap();
        assert_eq!(base.id, JobId::remote(7));
        assert_eq!(base.claims.total(), 4);
    }
}

//! [`Error`]: everything that can go wrong, reported where it happens.

use std::fmt;
use std::ops::Range;
use std::time::Duration;

/// What went wrong in a [`Dispatcher`](crate::Dispatcher) call or in a job.
///
/// Errors about a dispatch itself (unknown job, wrong types, zero batch size)
/// are returned at once by the call, deferred variants included, and nothing
/// is queued. A panic inside a handler reaches the job's callback as
/// [`Error::HandlerPanicked`] (or, for detached jobs,
/// [`Dispatcher::take_detached_errors`](crate::Dispatcher::take_detached_errors)).
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// `Dispatcher::new` was asked for zero actors.
    NoActors,
    /// The worker entry panicked on an actor, so `Dispatcher::new` failed.
    WorkerPanicked {
        /// Index of the first actor whose entry panicked.
        actor: usize,
        /// The panic message.
        message: String,
    },
    /// Actors registered different handlers (names, kinds or types), so a job
    /// could not run on every actor alike.
    WorkersDisagree {
        /// The first actor that differs from actor 0.
        actor: usize,
        /// What differs.
        detail: String,
    },
    /// The operating system refused to start an actor thread.
    Spawn {
        /// Index of the actor that could not start.
        actor: usize,
        /// The OS error.
        message: String,
    },
    /// No handler is registered under this name.
    UnknownJob {
        /// The job name given to the dispatch call.
        job: String,
    },
    /// The dispatch's argument type is not the one the handler takes.
    ArgumentType {
        /// The job name.
        job: String,
        /// The argument type the handler was registered with.
        expected: &'static str,
        /// The argument type given to the dispatch call.
        found: &'static str,
    },
    /// The callback's result type is not the one the handler returns.
    ResultType {
        /// The job name.
        job: String,
        /// The result type the handler returns.
        expected: &'static str,
        /// The result type the callback expects.
        found: &'static str,
    },
    /// A tracked dispatch named a handler registered with `on_detached`,
    /// which returns nothing to collect.
    DetachedHandler {
        /// The job name.
        job: String,
    },
    /// `batch_size` was `Some(0)`.
    ZeroBatchSize {
        /// The job name.
        job: String,
    },
    /// The result buffer for this many items could not be allocated.
    TooManyItems {
        /// The job name.
        job: String,
        /// The requested item count.
        items: usize,
    },
    /// A handler panicked on an item. Items not yet claimed by an actor
    /// were skipped; batches already claimed ran to their end (or their own
    /// panic).
    HandlerPanicked {
        /// The job name.
        job: String,
        /// The id of the item whose call panicked (the lowest, when several
        /// did).
        item: usize,
        /// The panic message.
        message: String,
    },
    /// A [`DispatchHandle`](crate::DispatchHandle) was used after its
    /// dispatcher was destroyed.
    Closed,
    /// More actors were asked for than
    /// [`Dispatcher::MAX_ACTORS`](crate::Dispatcher::MAX_ACTORS); no thread
    /// was started.
    TooManyActors {
        /// The actor count asked for.
        requested: usize,
        /// The cap.
        max: usize,
    },
    /// `Drop` of a job's arguments, or of results the library dropped,
    /// panicked. Reported through
    /// [`Dispatcher::take_detached_errors`](crate::Dispatcher::take_detached_errors)
    /// (a tracked job's callback has already fired by then).
    DropPanicked {
        /// The job name.
        job: String,
        /// The panic message.
        message: String,
    },
    /// [`Dispatcher::destroy_timeout`](crate::Dispatcher::destroy_timeout)
    /// reached its deadline with work unfinished. The actors were not
    /// joined: those in `running` go on until their handler returns, then
    /// exit; the callbacks of the `unfinished` tracked jobs never fire.
    Stuck {
        /// The timeout given to `destroy_timeout`.
        timeout: Duration,
        /// The handlers still running at the deadline, by actor.
        running: Vec<RunningBatch>,
        /// The jobs that had not finished (running or never started), in
        /// queue order, each once.
        unfinished: Vec<String>,
    },
    /// The job was cancelled with
    /// [`Dispatcher::cancel`](crate::Dispatcher::cancel) before all its
    /// items were claimed: the unclaimed ones were skipped, and any results
    /// already made were dropped.
    Cancelled {
        /// The job name.
        job: String,
    },
    /// The job was dispatched [`after`](crate::JobSpec::after) a job that
    /// failed, was cancelled, or itself never ran: it did not run either.
    DependencyFailed {
        /// The name of the job that did not run.
        job: String,
    },
}

/// A batch of items an actor was running when
/// [`Dispatcher::destroy_timeout`](crate::Dispatcher::destroy_timeout)
/// gave up, in [`Error::Stuck`].
///
/// # Examples
///
/// ```
/// use weavekit::RunningBatch;
///
/// let batch = RunningBatch { actor: 1, job: "spin".to_owned(), items: 8..9 };
/// assert_eq!(batch.to_string(), "job `spin` items 8..9 on actor 1");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunningBatch {
    /// The actor running it.
    pub actor: usize,
    /// The job name.
    pub job: String,
    /// The batch's items; the handler is on one of them (the batch is a
    /// single item with `batch_size` `Some(1)`).
    pub items: Range<usize>,
}

impl fmt::Display for RunningBatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "job `{}` items {}..{} on actor {}",
            self.job, self.items.start, self.items.end, self.actor
        )
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NoActors => write!(f, "a dispatcher needs at least one actor"),
            Error::WorkerPanicked { actor, message } => {
                write!(f, "the worker entry panicked on actor {actor}: {message}")
            }
            Error::WorkersDisagree { actor, detail } => write!(
                f,
                "actor {actor} registered different handlers than actor 0: {detail}"
            ),
            Error::Spawn { actor, message } => {
                write!(f, "could not start the thread of actor {actor}: {message}")
            }
            Error::UnknownJob { job } => write!(f, "no handler is registered for job `{job}`"),
            Error::ArgumentType {
                job,
                expected,
                found,
            } => write!(
                f,
                "job `{job}` takes arguments of type `{expected}`, but the dispatch passed `{found}`"
            ),
            Error::ResultType {
                job,
                expected,
                found,
            } => write!(
                f,
                "job `{job}` returns `{expected}`, but the callback expects `{found}`"
            ),
            Error::DetachedHandler { job } => write!(
                f,
                "job `{job}` has a detached handler, which returns no results; use dispatch_detached"
            ),
            Error::ZeroBatchSize { job } => {
                write!(f, "job `{job}` was dispatched with a batch size of 0")
            }
            Error::TooManyItems { job, items } => write!(
                f,
                "job `{job}`: no result buffer can be allocated for {items} items"
            ),
            Error::HandlerPanicked { job, item, message } => {
                write!(f, "job `{job}` panicked on item {item}: {message}")
            }
            Error::Closed => write!(f, "the dispatcher has been destroyed"),
            Error::TooManyActors { requested, max } => write!(
                f,
                "{requested} actors were asked for, more than the {max} a dispatcher may start"
            ),
            Error::DropPanicked { job, message } => write!(
                f,
                "job `{job}`: dropping its arguments or results panicked: {message}"
            ),
            Error::Stuck {
                timeout,
                running,
                unfinished,
            } => {
                write!(f, "work was still unfinished after {timeout:?}")?;
                if !running.is_empty() {
                    write!(f, "; still running: ")?;
                    for (index, batch) in running.iter().enumerate() {
                        let sep = if index == 0 { "" } else { ", " };
                        write!(f, "{sep}{batch}")?;
                    }
                }
                if !unfinished.is_empty() {
                    write!(f, "; unfinished jobs (callbacks will not fire): ")?;
                    for (index, job) in unfinished.iter().enumerate() {
                        let sep = if index == 0 { "" } else { ", " };
                        write!(f, "{sep}`{job}`")?;
                    }
                }
                write!(f, "; their actors were left running, not joined")
            }
            Error::Cancelled { job } => write!(f, "job `{job}` was cancelled"),
            Error::DependencyFailed { job } => write!(
                f,
                "job `{job}` did not run: a job it depends on failed or was cancelled"
            ),
        }
    }
}

impl std::error::Error for Error {}

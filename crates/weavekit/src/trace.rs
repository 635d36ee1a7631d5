//! Timeline spans, with the `tracing` feature: one `weave.job` span per job
//! (job name, item count, batch rule), alive from dispatch until the job is
//! dropped, and one `weave.batch` span per claimed range (actor, item
//! range), a child of its job's span. Without the feature every type here is
//! empty and every call compiles to nothing.

use std::ops::Range;

use crate::job::Batching;

/// A job's span.
pub(crate) struct JobTrace {
    #[cfg(feature = "tracing")]
    span: tracing::Span,
}

impl JobTrace {
    /// Opens the span of a job named `job` over `items` items.
    #[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
    pub(crate) fn new(job: &str, items: usize, batching: Batching) -> JobTrace {
        JobTrace {
            #[cfg(feature = "tracing")]
            span: tracing::info_span!("weave.job", job, items, batch_size = ?batching),
        }
    }

    /// Enters the span of one batch, until the guard is dropped.
    #[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
    pub(crate) fn batch(&self, job: &str, actor: usize, range: &Range<usize>) -> BatchGuard {
        BatchGuard {
            #[cfg(feature = "tracing")]
            _entered: tracing::info_span!(
                parent: &self.span,
                "weave.batch",
                job,
                actor,
                start = range.start,
                end = range.end
            )
            .entered(),
        }
    }
}

/// An entered batch span.
pub(crate) struct BatchGuard {
    #[cfg(feature = "tracing")]
    _entered: tracing::span::EnteredSpan,
}

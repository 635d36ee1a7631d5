//! Panics caught at the crate's boundaries, and their messages.
//!
//! Handlers and worker entries are user code running on actor threads; a
//! panic there must become an [`Error`](crate::Error) the master sees, never
//! a dead actor or a hung job.

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};

/// The message a panic was raised with, or a placeholder when the payload
/// is neither a `&str` nor a `String` (as with `std::panic::panic_any`).
pub(crate) fn message(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "panic payload is not a string".to_owned()
    }
}

/// Runs `f`, turning a panic into its message.
pub(crate) fn catch<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    panic::catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        let text = message(&*payload);
        release(payload);
        text
    })
}

/// Drops `value`, which holds user `Drop` code, where a panic must not
/// escape (an actor loop, a drain): a panic is reported and its payload
/// leaked, so it cannot panic again on drop.
pub(crate) fn release<T>(value: T) {
    if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(move || drop(value))) {
        std::mem::forget(payload);
    }
}

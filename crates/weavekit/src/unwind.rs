//! Panics caught at the crate's boundaries, and their messages.
//!
//! Handlers and worker entries are user code running on actor threads; a
//! panic there must become an [`Error`](crate::Error) the master sees, never
//! a dead actor or a hung job.
//!
//! # The panic hook
//!
//! A caught panic's payload is usually a `&str` or a `String`; anything
//! else (`std::panic::panic_any(7)`) carries no message, and only the panic
//! hook sees where it was raised. So the first dispatcher built installs
//! one process-wide hook (once, chained to the hook installed before it).
//! It records each panic's location in a thread-local slot, for [`catch`]
//! to put in the message of a non-string payload, and, on a thread whose
//! panics are quiet (a quiet dispatcher's actors, [`set_quiet`]; the
//! master inside [`quietly`]), returns without calling the previous hook,
//! so nothing is printed. Every other panic goes to the previous hook.
//!
//! [`catch`] itself touches no thread-local on the way in or out: it runs
//! once per batch, and the hook does the bookkeeping on the panic path
//! only.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    /// Whether panics on this thread skip the previous hook.
    static QUIET: Cell<bool> = const { Cell::new(false) };
    /// Where the last panic on this thread was raised.
    static LOCATION: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Installs the crate's panic hook, once per process, chained to the hook
/// installed before it.
pub(crate) fn install_hook() {
    static INSTALL: Once = Once::new();
    // `set_hook` panics on a panicking thread; building a dispatcher in a
    // `Drop` during unwinding just goes without the hook.
    if std::thread::panicking() {
        return;
    }
    INSTALL.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            // `try_with`: a panic while this thread's locals are being
            // destroyed must still reach the previous hook.
            let location = info.location().map(ToString::to_string);
            let _ = LOCATION.try_with(|slot| *slot.borrow_mut() = location);
            if QUIET.try_with(Cell::get).unwrap_or(false) {
                return;
            }
            previous(info);
        }));
    });
}

/// Makes panics on this thread (an actor's, where the library catches
/// every panic of user code) quiet, or not.
pub(crate) fn set_quiet(quiet: bool) {
    QUIET.with(|flag| flag.set(quiet));
}

/// Runs `f`, turning a panic into its message.
pub(crate) fn catch<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    panic::catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        let location = LOCATION.with(|slot| slot.borrow_mut().take());
        let text = describe(&*payload, location.as_deref());
        discard(payload);
        text
    })
}

/// As [`catch`], with this thread's panics quiet or not for the call (the
/// master's catches, which follow the dispatcher's option).
pub(crate) fn catch_quiet<T>(quiet: bool, f: impl FnOnce() -> T) -> Result<T, String> {
    quietly(quiet, || catch(f))
}

/// Runs `f` (which catches its panics: the master's catches) with this
/// thread's panics quiet or not.
pub(crate) fn quietly<T>(quiet: bool, f: impl FnOnce() -> T) -> T {
    /// Restores the thread's setting, even if `f` unwinds.
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            QUIET.with(|flag| flag.set(self.0));
        }
    }
    let _restore = Restore(QUIET.with(|flag| flag.replace(quiet)));
    f()
}

/// The message of a panic: the payload's text if it is a `&str` or a
/// `String`; otherwise its `Debug` form if it is a common std type, and
/// where it was raised when the hook saw it.
fn describe(payload: &(dyn Any + Send), location: Option<&str>) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        return (*text).to_owned();
    }
    if let Some(text) = payload.downcast_ref::<String>() {
        return text.clone();
    }
    let at = location.map_or_else(String::new, |location| format!(", raised at {location}"));
    match debug_of(payload) {
        Some(value) => format!("{value} (a non-string panic payload{at})"),
        None => format!("a non-string panic payload of an unknown type{at}"),
    }
}

/// The `Debug` form of a payload of a common std type.
fn debug_of(payload: &(dyn Any + Send)) -> Option<String> {
    macro_rules! try_types {
        ($($ty:ty),*) => {
            $(if let Some(value) = payload.downcast_ref::<$ty>() {
                return Some(format!("{value:?}"));
            })*
        };
    }
    try_types!(
        i8,
        i16,
        i32,
        i64,
        i128,
        isize,
        u8,
        u16,
        u32,
        u64,
        u128,
        usize,
        f32,
        f64,
        bool,
        char,
        (),
        Box<str>,
        std::borrow::Cow<'static, str>
    );
    if let Some(error) = payload.downcast_ref::<Box<dyn std::error::Error + Send + Sync>>() {
        return Some(error.to_string());
    }
    if let Some(error) = payload.downcast_ref::<Box<dyn std::error::Error + Send>>() {
        return Some(error.to_string());
    }
    if let Some(error) = payload.downcast_ref::<crate::Error>() {
        return Some(error.to_string());
    }
    None
}

/// Drops `value`, which holds user `Drop` code, where a panic must not
/// escape (an actor loop, a drain): a panic is caught and becomes the
/// returned message.
pub(crate) fn release<T>(value: T) -> Option<String> {
    let outcome = panic::catch_unwind(AssertUnwindSafe(move || drop(value)));
    let payload = outcome.err()?;
    let location = LOCATION.with(|slot| slot.borrow_mut().take());
    let text = describe(&*payload, location.as_deref());
    discard(payload);
    Some(text)
}

/// Drops a caught panic's payload; if that panics too (a payload whose
/// `Drop` panics), the second payload is leaked rather than dropped, so
/// the chain ends here.
fn discard(payload: Box<dyn Any + Send>) {
    let outcome = panic::catch_unwind(AssertUnwindSafe(move || drop(payload)));
    if let Err(inner) = outcome {
        let _ = LOCATION.with(|slot| slot.borrow_mut().take());
        std::mem::forget(inner);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn string_payloads_are_kept_as_they_are() {
        install_hook();
        assert_eq!(catch(|| panic!("plain")), Err::<(), _>("plain".to_owned()));
        let n = 3;
        assert_eq!(
            catch(|| panic!("formatted {n}")),
            Err::<(), _>("formatted 3".to_owned())
        );
    }

    #[test]
    fn std_payloads_keep_their_value_and_location() {
        install_hook();
        let line = line!() + 1;
        let message = catch(|| panic::panic_any(42_u16)).unwrap_err();
        assert!(
            message.starts_with("42 (a non-string panic payload"),
            "{message}"
        );
        assert!(message.contains(&format!("unwind.rs:{line}:")), "{message}");
    }

    #[test]
    fn unknown_payloads_say_where_they_were_raised() {
        struct Opaque;
        install_hook();
        let message = catch(|| panic::panic_any(Opaque)).unwrap_err();
        assert!(message.starts_with("a non-string panic payload of an unknown type, raised at "));
        assert!(message.contains("unwind.rs:"), "{message}");
    }

    /// Panics in `Drop`.
    struct Loud;
    impl Drop for Loud {
        fn drop(&mut self) {
            panic!("loud drop");
        }
    }

    #[test]
    fn a_panicking_drop_becomes_its_message() {
        install_hook();
        assert_eq!(release(Loud).as_deref(), Some("loud drop"));
        assert_eq!(release(5), None);
    }

    #[test]
    #[cfg_attr(miri, ignore = "leaks a payload on purpose")]
    fn a_payload_that_panics_on_drop_is_not_raised_again() {
        install_hook();
        // The payload's own drop panics with a `&str` payload, which is
        // leaked on purpose.
        let message = catch(|| panic::panic_any(Loud)).unwrap_err();
        assert!(
            message.starts_with("a non-string panic payload"),
            "{message}"
        );
    }

    #[test]
    fn quiet_scopes_restore_the_thread_setting() {
        install_hook();
        let message = catch_quiet(true, || panic!("hushed")).unwrap_err();
        assert_eq!(message, "hushed");
        assert!(!QUIET.with(Cell::get));
        let outer = quietly(true, || catch(|| quietly(false, || panic!("inner"))));
        assert_eq!(outer, Err::<(), _>("inner".to_owned()));
        assert!(!QUIET.with(Cell::get), "restored while unwinding");
    }
}

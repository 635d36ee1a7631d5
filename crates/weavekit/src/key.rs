//! Typed job keys: [`Job<A, R>`] names a handler and carries its argument
//! and result types, so the compiler checks every registration and dispatch
//! made with it, and closures need no type annotations.
//!
//! A key is only a name and two phantom types: it costs nothing at run time,
//! and it names the same handler table entry as the plain `&str` name.
//! [`JobKey`] is the one small trait through which [`Kernel::on`],
//! [`Kernel::on_detached`] and [`Dispatcher::job`] accept either.
//!
//! [`Kernel::on`]: crate::Kernel::on
//! [`Kernel::on_detached`]: crate::Kernel::on_detached
//! [`Dispatcher::job`]: crate::Dispatcher::job

use std::fmt;
use std::marker::PhantomData;

/// A typed key for the handler named [`name`](Job::name): arguments `A`,
/// results `R` (`()` for detached handlers).
///
/// Declare keys as constants and use them on both sides: with a key,
/// [`Kernel::on`](crate::Kernel::on) and the terminals of
/// [`Dispatcher::job`](crate::Dispatcher::job) infer every closure type, and
/// passing other arguments or expecting other results is a compile error
/// instead of an [`Error::ArgumentType`](crate::Error::ArgumentType) at run
/// time. A key and its name string address the same handler.
///
/// # Examples
///
/// ```
/// use weavekit::{Dispatcher, Error, Job, Kernel};
///
/// const SQUARE: Job<u64, u64> = Job::new("square");
///
/// fn worker(kernel: &mut Kernel) {
///     kernel.on(SQUARE, |id, offset| id as u64 * id as u64 + offset);
/// }
///
/// let mut d = Dispatcher::new(2, worker)?;
/// d.job(SQUARE, 4).tracked(1, |buf| assert_eq!(buf.unwrap(), [1, 2, 5, 10]))?;
/// d.wait();
/// assert_eq!(SQUARE.name(), "square");
/// # Ok::<(), Error>(())
/// ```
///
/// A key's types are checked by the compiler:
///
/// ```compile_fail
/// use weavekit::{Dispatcher, Job, Kernel};
///
/// const SQUARE: Job<u64, u64> = Job::new("square");
/// let d = Dispatcher::new(1, |k: &mut Kernel| k.on(SQUARE, |id, _| id as u64)).unwrap();
/// // `SQUARE` takes `u64` arguments, not `i32`.
/// d.job(SQUARE, 4).tracked(1_i32, |_| {});
/// ```
pub struct Job<A, R = ()> {
    name: &'static str,
    _types: PhantomData<fn(&A) -> R>,
}

impl<A, R> Job<A, R> {
    /// The key of the handler called `name`.
    ///
    /// # Examples
    ///
    /// ```
    /// use weavekit::Job;
    ///
    /// const TOUCH: Job<f32> = Job::new("touch");
    /// assert_eq!(TOUCH.name(), "touch");
    /// ```
    pub const fn new(name: &'static str) -> Self {
        Job {
            name,
            _types: PhantomData,
        }
    }

    /// The handler's name, as a `&str` dispatch would spell it.
    ///
    /// # Examples
    ///
    /// ```
    /// use weavekit::Job;
    ///
    /// assert_eq!(Job::<u8, u8>::new("double").name(), "double");
    /// ```
    pub const fn name(&self) -> &'static str {
        self.name
    }
}

// Manual impls: derives would require `A: Clone`, `R: Clone`, and so on.
impl<A, R> Clone for Job<A, R> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<A, R> Copy for Job<A, R> {}

impl<A, R> PartialEq for Job<A, R> {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl<A, R> Eq for Job<A, R> {}

impl<A, R> fmt::Debug for Job<A, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Job").field(&self.name).finish()
    }
}

/// What names a handler: a typed [`Job<A, R>`] key, or a plain `&str` (whose
/// types then come from the closures and arguments at the call).
///
/// Implemented for those two (and `&String`, as the seed's `&str` accepted
/// one); it exists so one method accepts both.
///
/// # Examples
///
/// ```
/// use weavekit::{Job, JobKey};
///
/// fn name_of<'k, A, R>(key: impl JobKey<'k, A, R>) -> &'k str {
///     key.name()
/// }
/// assert_eq!(name_of::<u8, u8>("plain"), "plain");
/// assert_eq!(name_of(Job::<u8, u8>::new("typed")), "typed");
/// ```
pub trait JobKey<'k, A, R>: sealed::Sealed {
    /// The handler's name.
    fn name(self) -> &'k str;
}

impl<'k, A, R> JobKey<'k, A, R> for Job<A, R> {
    fn name(self) -> &'k str {
        self.name
    }
}

impl<'k, A, R> JobKey<'k, A, R> for &'k str {
    fn name(self) -> &'k str {
        self
    }
}

/// `&String` keeps working where the seed took `&str`.
impl<'k, A, R> JobKey<'k, A, R> for &'k String {
    fn name(self) -> &'k str {
        self
    }
}

/// What [`Dispatcher::job`](crate::Dispatcher::job) accepts: a typed
/// [`Job<A, R>`] key, whose types then fix the [`JobSpec`](crate::JobSpec)'s
/// terminals, or a plain `&str`, whose terminals take their types from the
/// arguments and callback.
///
/// Implemented for exactly those two.
///
/// # Examples
///
/// ```
/// use weavekit::{DispatchKey, Job};
///
/// fn results_of<K: DispatchKey>(_: K) -> &'static str {
///     std::any::type_name::<K::Results>()
/// }
/// assert_eq!(results_of(Job::<u8, u64>::new("typed")), "u64");
/// assert_eq!(results_of("plain"), "()");
/// ```
pub trait DispatchKey: Copy + sealed::Sealed {
    /// The result type a reused buffer holds: `R` for a `Job<A, R>`, `()`
    /// for a `&str` (which takes no [`reuse`](crate::JobSpec::reuse)).
    type Results;

    /// The handler's name.
    fn key_name(&self) -> &str;
}

impl<A, R> DispatchKey for Job<A, R> {
    type Results = R;

    fn key_name(&self) -> &str {
        self.name
    }
}

impl DispatchKey for &str {
    type Results = ();

    fn key_name(&self) -> &str {
        self
    }
}

mod sealed {
    /// Keeps [`JobKey`](super::JobKey) implemented by this crate's two
    /// key kinds only.
    pub trait Sealed {}
    impl<A, R> Sealed for super::Job<A, R> {}
    impl Sealed for &str {}
    impl Sealed for &String {}
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: Job<u32, u64> = Job::new("k");

    #[test]
    fn keys_are_copy_and_compare_by_name() {
        let copy = KEY;
        assert_eq!(copy, KEY);
        assert_ne!(Job::<u32, u64>::new("other"), KEY);
        assert_eq!(format!("{KEY:?}"), "Job(\"k\")");
        assert_eq!(JobKey::<u32, u64>::name(KEY), "k");
    }
}

//! [`DispatcherBuilder`]: the options of a dispatcher's actor pool, gathered
//! on one value and ended by [`build`](DispatcherBuilder::build), in the
//! manner of `std::thread::Builder`.
//!
//! The options travel to [`Pool::start`](crate::pool::Pool::start) as one
//! plain [`PoolConfig`]; a new knob is a field there, a setter here, and a
//! use in the pool.

use std::fmt;
use std::num::NonZeroUsize;

use crate::dispatcher::Dispatcher;
use crate::error::Error;
use crate::kernel::Kernel;
use crate::placement::{Placement, Tuning, DEFAULT_SPIN_ROUNDS};
use crate::pool::Worker;
use crate::sync::Arc;

/// Names an actor's thread from its index.
pub(crate) type ThreadName = Arc<dyn Fn(usize) -> String + Send + Sync>;

/// Everything the pool needs to start its actors.
#[derive(Clone)]
pub(crate) struct PoolConfig {
    /// How many actors to start (checked: `1..=MAX_ACTORS`).
    pub(crate) actor_count: usize,
    /// Stack size of each actor thread, in bytes; `None` keeps std's.
    pub(crate) stack_size: Option<usize>,
    /// The actor threads' names.
    pub(crate) thread_name: ThreadName,
    /// Keep the default panic hook quiet for panics the library catches on
    /// the actors.
    pub(crate) quiet_panics: bool,
    /// Actor placement and idle spinning (issue 7).
    pub(crate) tuning: Tuning,
    /// Test seam: fail the spawn of this actor as the OS would.
    #[cfg(test)]
    pub(crate) fail_spawn_at: Option<usize>,
}

/// Options for a [`Dispatcher`]: actor count, stack size, thread names,
/// panic output, CPU placement, idle spinning. Made by
/// [`Dispatcher::builder`].
///
/// # Examples
///
/// ```
/// use weavekit::{Dispatcher, Error, Kernel};
///
/// let mut dispatcher = Dispatcher::builder()
///     .actor_count(2)
///     .stack_size(8 << 20)
///     .thread_name(|index| format!("physics-{index}"))
///     .build(|kernel: &mut Kernel| {
///         let name = std::thread::current().name().map(str::to_owned);
///         kernel.on("name", move |_: usize, _: &()| name.clone());
///     })?;
/// dispatcher.dispatch(
///     "name",
///     1,
///     |buf: Result<Vec<Option<String>>, Error>| {
///         assert!(buf.unwrap()[0].as_deref().unwrap().starts_with("physics-"));
///     },
///     None,
///     (),
/// )?;
/// dispatcher.wait();
/// # Ok::<(), Error>(())
/// ```
#[must_use = "a builder does nothing until `build` is called"]
pub struct DispatcherBuilder {
    actor_count: Option<usize>,
    stack_size: Option<usize>,
    thread_name: Option<ThreadName>,
    quiet_panics: bool,
    placement: Placement,
    idle_spin: u32,
}

impl DispatcherBuilder {
    /// The most spin rounds [`idle_spin`](DispatcherBuilder::idle_spin)
    /// keeps; larger values are clamped to it. At this many rounds an idle
    /// actor yields its CPU 65,530 times before it sleeps: tens of
    /// milliseconds of busy CPU on an idle machine, per actor and per idle
    /// spell. More than that is no longer a spin before sleeping.
    pub const MAX_IDLE_SPIN: u32 = 1 << 16;

    pub(crate) fn new() -> DispatcherBuilder {
        DispatcherBuilder {
            actor_count: None,
            stack_size: None,
            thread_name: None,
            quiet_panics: false,
            placement: Placement::default(),
            idle_spin: DEFAULT_SPIN_ROUNDS,
        }
    }

    /// How many actors to start. Default: the machine's available
    /// parallelism ([`std::thread::available_parallelism`], 1 if unknown),
    /// capped at [`Dispatcher::MAX_ACTORS`].
    ///
    /// `0` and counts above [`Dispatcher::MAX_ACTORS`] are refused by
    /// [`build`](DispatcherBuilder::build).
    ///
    /// # Examples
    ///
    /// ```
    /// use weavekit::{Dispatcher, Kernel};
    ///
    /// let dispatcher = Dispatcher::builder().actor_count(3).build(|_: &mut Kernel| {})?;
    /// assert_eq!(dispatcher.actor_count(), 3);
    /// # Ok::<(), weavekit::Error>(())
    /// ```
    pub fn actor_count(mut self, count: usize) -> DispatcherBuilder {
        self.actor_count = Some(count);
        self
    }

    /// The stack size of each actor thread, in bytes. Default: std's for
    /// spawned threads (2 MiB unless the `RUST_MIN_STACK` environment
    /// variable says otherwise). The worker entry and every handler run on
    /// this stack: raise it for deep recursion or large by-value results
    /// (a 4 MiB array returned by value overflows the default stack in a
    /// debug build, which aborts the process). The operating system rounds
    /// the size up to its minimum and to whole pages; a size it cannot
    /// provide makes [`build`](DispatcherBuilder::build) fail with
    /// [`Error::Spawn`].
    ///
    /// # Examples
    ///
    /// ```
    /// use weavekit::{Dispatcher, Kernel};
    ///
    /// let dispatcher = Dispatcher::builder()
    ///     .actor_count(1)
    ///     .stack_size(16 << 20)
    ///     .build(|kernel: &mut Kernel| {
    ///         kernel.on("big", |id: usize, _: &()| [id as u8; 1 << 20]);
    ///     })?;
    /// # Ok::<(), weavekit::Error>(())
    /// ```
    pub fn stack_size(mut self, bytes: usize) -> DispatcherBuilder {
        self.stack_size = Some(bytes);
        self
    }

    /// Names actor `index`'s thread `name(index)` (seen in debuggers,
    /// profilers and panic messages). Default: `weave-actor-{index}`.
    ///
    /// A name containing a NUL byte (which no operating system thread name
    /// can hold) makes [`build`](DispatcherBuilder::build) return
    /// [`Error::Spawn`](crate::Error::Spawn) for that actor.
    ///
    /// # Examples
    ///
    /// ```
    /// use weavekit::{Dispatcher, Kernel};
    ///
    /// let dispatcher = Dispatcher::builder()
    ///     .actor_count(1)
    ///     .thread_name(|index| format!("audio-{index}"))
    ///     .build(|_: &mut Kernel| {
    ///         assert_eq!(std::thread::current().name(), Some("audio-0"));
    ///     })?;
    /// # Ok::<(), weavekit::Error>(())
    /// ```
    pub fn thread_name<F>(mut self, name: F) -> DispatcherBuilder
    where
        F: Fn(usize) -> String + Send + Sync + 'static,
    {
        self.thread_name = Some(Arc::new(name));
        self
    }

    /// Whether panics that the library catches skip the process's panic
    /// hook, so nothing is printed on stderr for them: every panic on the
    /// actors' threads (in handlers, in the worker entry, in `Drop` of a
    /// job's arguments or results; the library catches them all), and, on
    /// the master, panics in `Drop` of job arguments and callback panics
    /// during a shutdown drain.
    /// Default: `false` (the hook runs and, by default, prints the panic as
    /// it happens). The panic still reaches the callback, `new`/`build` or
    /// [`Dispatcher::take_detached_errors`] as an [`Error`] either way.
    ///
    /// The library installs one process-wide panic hook, once, the first
    /// time a dispatcher is built; it chains to the hook that was installed
    /// before it for every panic it does not silence. A hook installed
    /// later by the program replaces it (unless that one chains too), which
    /// turns quiet panics loud again and loses the location of non-string
    /// panic payloads in messages.
    ///
    /// # Examples
    ///
    /// ```
    /// use weavekit::{Dispatcher, Error, Kernel};
    ///
    /// let mut dispatcher = Dispatcher::builder()
    ///     .actor_count(1)
    ///     .quiet_panics(true)
    ///     .build(|kernel: &mut Kernel| {
    ///         kernel.on("fail", |_: usize, _: &()| -> u8 { panic!("expected") });
    ///     })?;
    /// dispatcher.dispatch(
    ///     "fail",
    ///     1,
    ///     |buf: Result<Vec<u8>, Error>| assert!(buf.is_err()),
    ///     None,
    ///     (),
    /// )?; // nothing printed on stderr
    /// dispatcher.wait();
    /// # Ok::<(), Error>(())
    /// ```
    pub fn quiet_panics(mut self, quiet: bool) -> DispatcherBuilder {
        self.quiet_panics = quiet;
        self
    }

    /// Where the actors run: [`Placement::Pinned`] (the default: one actor
    /// per CPU of the process's allowed set, round-robin when there are more
    /// actors than CPUs) or [`Placement::Unpinned`] (the OS scheduler
    /// decides). Pinning pays on machines where every core is given to the
    /// actors, when the master dispatches right after working: Linux then
    /// tends to wake actors on the master's core. With idle cores to spare,
    /// or beside other busy processes, `Unpinned` may do as well or better.
    ///
    /// The environment variable `WEAVEKIT_PLACEMENT` overrides this setting
    /// when [`build`](DispatcherBuilder::build) runs: `unpinned` or `pinned`
    /// (exactly) forces that placement; any other value is ignored.
    /// Pinning never makes `build` fail: where it is not possible (one
    /// actor, one allowed CPU, not Linux, a refused call) actors run
    /// unpinned.
    ///
    /// # Examples
    ///
    /// ```
    /// use weavekit::{Dispatcher, Error, Kernel, Placement};
    ///
    /// let mut dispatcher = Dispatcher::builder()
    ///     .actor_count(2)
    ///     .placement(Placement::Unpinned)
    ///     .build(|kernel: &mut Kernel| {
    ///         kernel.on("double", |id: usize, _: &()| id * 2);
    ///     })?;
    /// dispatcher.dispatch(
    ///     "double",
    ///     4,
    ///     |buf: Result<Vec<usize>, Error>| assert_eq!(buf.unwrap(), [0, 2, 4, 6]),
    ///     None,
    ///     (),
    /// )?;
    /// dispatcher.wait();
    /// # Ok::<(), Error>(())
    /// ```
    pub fn placement(mut self, placement: Placement) -> DispatcherBuilder {
        self.placement = placement;
        self
    }

    /// How long an actor that runs out of work spins before it sleeps, in
    /// rounds of a growing back-off. Default: 64.
    ///
    /// Rounds 0 to 5 issue 1, 2, 4, ..., 32 CPU pause hints (63 in all, a
    /// few microseconds at most); every later round is one
    /// [`std::thread::yield_now`]. Between rounds the actor looks for new
    /// work, so a job dispatched while it spins starts without a wake-up.
    /// The time a round takes is not fixed, which is why this is a count
    /// and not a `Duration`: a yield returns at once on an otherwise idle
    /// core and may take a whole scheduler time slice when other threads
    /// want it. At the default, an idle actor spins for tens of
    /// microseconds on an idle machine. An actor pinned to the CPU on which
    /// a `JobFuture` was last made spins only the pause-hint rounds: the
    /// task awaiting it parks on that CPU, and a yielding actor there would
    /// delay its wake-up.
    ///
    /// `0` sleeps at once (the least CPU burnt while idle; every job then
    /// starts with a wake-up, a few to tens of microseconds). Larger values
    /// catch jobs chained further apart without a wake-up, and burn more CPU
    /// between frames. Values above [`DispatcherBuilder::MAX_IDLE_SPIN`]
    /// are clamped to it. The master's own spin, while it waits for
    /// results, is brief and fixed; this setting does not change it.
    ///
    /// # Examples
    ///
    /// ```
    /// use weavekit::{Dispatcher, Error, Kernel};
    ///
    /// // Actors that sleep as soon as they are idle, for a host whose
    /// // frames are far apart.
    /// let mut dispatcher = Dispatcher::builder()
    ///     .actor_count(2)
    ///     .idle_spin(0)
    ///     .build(|kernel: &mut Kernel| {
    ///         kernel.on("square", |id: usize, _: &()| id * id);
    ///     })?;
    /// dispatcher.dispatch(
    ///     "square",
    ///     3,
    ///     |buf: Result<Vec<usize>, Error>| assert_eq!(buf.unwrap(), [0, 1, 4]),
    ///     None,
    ///     (),
    /// )?;
    /// dispatcher.wait();
    ///
    /// // Absurd values are clamped, never refused.
    /// let spinning = Dispatcher::builder().actor_count(1).idle_spin(u32::MAX);
    /// assert!(spinning.build(|_: &mut Kernel| {}).is_ok());
    /// # Ok::<(), Error>(())
    /// ```
    pub fn idle_spin(mut self, rounds: u32) -> DispatcherBuilder {
        self.idle_spin = rounds.min(DispatcherBuilder::MAX_IDLE_SPIN);
        self
    }

    /// Starts the actors, each running `worker` once on its own thread with
    /// its own [`Kernel`], and returns when every one is ready.
    ///
    /// # Errors
    ///
    /// [`Error::NoActors`] for an actor count of 0;
    /// [`Error::TooManyActors`] above [`Dispatcher::MAX_ACTORS`], before
    /// any thread starts; [`Error::Spawn`] when the operating system refuses
    /// a thread (too many threads, a stack size it cannot map) or a thread
    /// name holds a NUL byte;
    /// [`Error::WorkerPanicked`] (naming the actor, with the panic message)
    /// when the entry panics on any actor; [`Error::WorkersDisagree`] when
    /// actors register different handlers. On error every actor already
    /// started is stopped and joined.
    ///
    /// # Examples
    ///
    /// ```
    /// use weavekit::{Dispatcher, Error, Kernel};
    ///
    /// let refused = Dispatcher::builder()
    ///     .actor_count(Dispatcher::MAX_ACTORS + 1)
    ///     .build(|_: &mut Kernel| {});
    /// assert!(matches!(refused, Err(Error::TooManyActors { .. })));
    /// ```
    pub fn build<W>(self, worker: W) -> Result<Dispatcher, Error>
    where
        W: Fn(&mut Kernel) + Send + Sync + 'static,
    {
        let config = self.config()?;
        let worker: Worker = Arc::new(worker);
        Dispatcher::start(&config, worker)
    }

    /// The checked options.
    pub(crate) fn config(self) -> Result<PoolConfig, Error> {
        let actor_count = self.actor_count.unwrap_or_else(default_actor_count);
        if actor_count == 0 {
            return Err(Error::NoActors);
        }
        if actor_count > Dispatcher::MAX_ACTORS {
            return Err(Error::TooManyActors {
                requested: actor_count,
                max: Dispatcher::MAX_ACTORS,
            });
        }
        Ok(PoolConfig {
            actor_count,
            stack_size: self.stack_size,
            thread_name: self
                .thread_name
                .unwrap_or_else(|| Arc::new(|index| format!("weave-actor-{index}"))),
            quiet_panics: self.quiet_panics,
            tuning: Tuning {
                placement: Placement::with_env_override(self.placement),
                spin_rounds: self.idle_spin,
            },
            #[cfg(test)]
            fail_spawn_at: None,
        })
    }
}

/// The machine's available parallelism, within `1..=MAX_ACTORS`.
fn default_actor_count() -> usize {
    std::thread::available_parallelism()
        .map_or(1, NonZeroUsize::get)
        .min(Dispatcher::MAX_ACTORS)
}

impl fmt::Debug for DispatcherBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DispatcherBuilder")
            .field("actor_count", &self.actor_count)
            .field("stack_size", &self.stack_size)
            .field("thread_name", &self.thread_name.as_ref().map(|_| ".."))
            .field("quiet_panics", &self.quiet_panics)
            .field("placement", &self.placement)
            .field("idle_spin", &self.idle_spin)
            .finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_machine() {
        let config = DispatcherBuilder::new().config().unwrap();
        let machine = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
        assert_eq!(config.actor_count, machine.min(Dispatcher::MAX_ACTORS));
        assert_eq!(config.stack_size, None);
        assert_eq!((config.thread_name)(7), "weave-actor-7");
        assert!(!config.quiet_panics);
        assert_eq!(config.tuning.spin_rounds, 64);
        // The default placement, unless the environment overrides it.
        assert_eq!(
            config.tuning.placement,
            Placement::with_env_override(Placement::Pinned)
        );
    }

    #[test]
    fn idle_spin_is_kept_up_to_the_cap_and_clamped_above() {
        for (asked, kept) in [
            (0, 0),
            (1, 1),
            (
                DispatcherBuilder::MAX_IDLE_SPIN,
                DispatcherBuilder::MAX_IDLE_SPIN,
            ),
            (
                DispatcherBuilder::MAX_IDLE_SPIN + 1,
                DispatcherBuilder::MAX_IDLE_SPIN,
            ),
            (u32::MAX, DispatcherBuilder::MAX_IDLE_SPIN),
        ] {
            let config = DispatcherBuilder::new().idle_spin(asked).config().unwrap();
            assert_eq!(config.tuning.spin_rounds, kept, "asked {asked}");
        }
    }

    #[test]
    fn counts_are_checked_before_anything_starts() {
        assert_eq!(
            DispatcherBuilder::new().actor_count(0).config().err(),
            Some(Error::NoActors)
        );
        let cap = Dispatcher::MAX_ACTORS;
        assert!(DispatcherBuilder::new().actor_count(cap).config().is_ok());
        assert_eq!(
            DispatcherBuilder::new().actor_count(cap + 1).config().err(),
            Some(Error::TooManyActors {
                requested: cap + 1,
                max: cap
            })
        );
    }

    #[test]
    fn options_reach_the_config() {
        let config = DispatcherBuilder::new()
            .actor_count(3)
            .stack_size(1 << 22)
            .thread_name(|i| format!("t{i}"))
            .quiet_panics(true)
            .placement(Placement::Unpinned)
            .idle_spin(5)
            .config()
            .unwrap();
        assert_eq!(config.actor_count, 3);
        assert_eq!(config.stack_size, Some(1 << 22));
        assert_eq!((config.thread_name)(2), "t2");
        assert!(config.quiet_panics);
        assert_eq!(config.tuning.spin_rounds, 5);
        assert_eq!(
            config.tuning.placement,
            Placement::with_env_override(Placement::Unpinned)
        );
    }
}

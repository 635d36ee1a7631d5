//! Where the actors run: one CPU each, spread over the CPUs this process
//! may use.
//!
//! # Why
//!
//! A game's master works for a few milliseconds, then dispatches. At that
//! moment its core has just been busy, and Linux's wake-up placement likes
//! to put a woken thread on (or next to) the waker's CPU: measured on a
//! 2-vCPU guest, one of two woken actors started 1.6-5 ms late and both
//! actors shared one core for much of the job (busy-then-dispatch 1.0-1.4x
//! over serial code, against 1.96x back to back). Two plain threads
//! released by a `Barrier` show the same, so no job code can fix it; where
//! the threads run has to be decided, not left to the wake-up path.
//!
//! With the actors pinned one per CPU, every actor starts on its own core.
//! The actor pinned to the master's current CPU would then preempt the
//! master in `dispatch` (measured: 2-5 ms held in half the frames), so the
//! wake protocol ([`crate::sleep`]) leaves it asleep until the master
//! blocks in `wait` or `wait_timeout`, and wakes it then.
//!
//! # What happens where
//!
//! - The CPUs come from `sched_getaffinity` of the process, so a set
//!   narrowed by `taskset`, a cpuset cgroup or a container is respected;
//!   actor `i` gets the set's `i % len`-th CPU (more actors than CPUs share
//!   them round-robin).
//! - Nothing is pinned with fewer than two actors or fewer than two allowed
//!   CPUs (nothing to spread), on targets other than Linux, or when a call
//!   fails: pinning is an optimisation and never an error. An actor whose
//!   `sched_setaffinity` fails runs unpinned and is woken like any other.
//! - The master is never pinned: it is the caller's thread.
//! - [`Placement::Unpinned`], chosen with the builder's `placement` or the
//!   environment variable `WEAVEKIT_PLACEMENT=unpinned` (which wins over
//!   the builder), pins nothing.
//!
//! Pinning matters on machines where the scheduler's wake-up placement is
//! the bottleneck: few cores, all of them given to the actors. On a machine
//! with idle cores to spare the scheduler already finds one, and pinning
//! only keeps actors from moving away from a core another process is using.

/// Where a dispatcher's actors run, set with
/// [`DispatcherBuilder::placement`](crate::DispatcherBuilder::placement).
///
/// The environment variable `WEAVEKIT_PLACEMENT`, read when a dispatcher is
/// built, overrides this choice: `unpinned` or `pinned` (exactly, in lower
/// case) picks that variant whatever the builder said, so a placement can
/// be compared without rebuilding the program. Any other value, or none,
/// leaves the builder's choice.
///
/// # Examples
///
/// ```
/// use weavekit::{Dispatcher, Kernel, Placement};
///
/// assert_eq!(Placement::default(), Placement::Pinned);
/// let dispatcher = Dispatcher::builder()
///     .actor_count(2)
///     .placement(Placement::Unpinned)
///     .build(|_: &mut Kernel| {})?;
/// assert_eq!(dispatcher.actor_count(), 2);
/// # Ok::<(), weavekit::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Placement {
    /// The default: each actor pins itself to one CPU of the set this
    /// process may use (`sched_getaffinity`, so `taskset`, cpusets and
    /// containers are respected); actor `i` takes the set's `i % len`-th
    /// CPU. Acts as [`Placement::Unpinned`] with fewer than two actors or
    /// two allowed CPUs, on targets other than Linux, and for an actor whose
    /// pinning call fails: pinning is never an error.
    #[default]
    Pinned,
    /// Leave placement to the operating system's scheduler: every actor
    /// keeps the CPU set it inherited from the thread that built the
    /// dispatcher.
    Unpinned,
}

impl Placement {
    /// The variant named by a `WEAVEKIT_PLACEMENT` value, if it names one.
    fn from_env(value: &std::ffi::OsStr) -> Option<Placement> {
        if value == "pinned" {
            Some(Placement::Pinned)
        } else if value == "unpinned" {
            Some(Placement::Unpinned)
        } else {
            None
        }
    }

    /// `chosen`, unless `WEAVEKIT_PLACEMENT` names a placement.
    pub(crate) fn with_env_override(chosen: Placement) -> Placement {
        std::env::var_os("WEAVEKIT_PLACEMENT")
            .as_deref()
            .and_then(Placement::from_env)
            .unwrap_or(chosen)
    }
}

/// The default of [`DispatcherBuilder::idle_spin`](crate::DispatcherBuilder::idle_spin).
pub(crate) const DEFAULT_SPIN_ROUNDS: u32 = 64;

/// The pool's performance settings: the builder's `placement` and
/// `idle_spin`, after the environment override.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tuning {
    /// Where actors run.
    pub(crate) placement: Placement,
    /// Rounds an idle actor spins (pause hints, then yields) before it
    /// sleeps; each round is longer than the last (see
    /// [`crate::sleep::backoff`]). 0 sleeps at once.
    pub(crate) spin_rounds: u32,
}

/// The CPU of each of `actors` actors under `placement`: `None` for an
/// actor left to the scheduler. `None` if the plan does not fit in memory.
pub(crate) fn plan(placement: Placement, actors: usize) -> Option<Vec<Option<usize>>> {
    let cpus = match placement {
        Placement::Pinned if actors >= 2 => allowed_cpus(),
        _ => Vec::new(),
    };
    spread(&cpus, actors)
}

/// Actor `i` on `cpus[i % cpus.len()]`, or every actor unpinned with fewer
/// than two CPUs.
fn spread(cpus: &[usize], actors: usize) -> Option<Vec<Option<usize>>> {
    let mut plan = Vec::new();
    plan.try_reserve_exact(actors).ok()?;
    plan.extend((0..actors).map(|i| (cpus.len() >= 2).then(|| cpus[i % cpus.len()])));
    Some(plan)
}

#[cfg(all(target_os = "linux", not(loom)))]
mod os {
    /// The CPUs this process may run on, in increasing order; empty if the
    /// set cannot be read.
    pub(super) fn allowed_cpus() -> Vec<usize> {
        // SAFETY: `cpu_set_t` is a plain bit array; all zeroes is a valid
        // (empty) set.
        let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        let size = std::mem::size_of::<libc::cpu_set_t>();
        // SAFETY: `set` is a live, writable `cpu_set_t` of `size` bytes; pid
        // 0 is the calling thread, whose mask it inherited from the process.
        if unsafe { libc::sched_getaffinity(0, size, &mut set) } != 0 {
            return Vec::new();
        }
        (0..libc::CPU_SETSIZE as usize)
            // SAFETY: `cpu` is below `CPU_SETSIZE`, the set's capacity.
            .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
            .collect()
    }

    /// Pins the calling thread to `cpu`; false if the OS refused.
    pub(super) fn pin_current(cpu: usize) -> bool {
        if cpu >= libc::CPU_SETSIZE as usize {
            return false;
        }
        // SAFETY: as in `allowed_cpus`.
        let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        // SAFETY: `cpu` was checked to be below `CPU_SETSIZE`.
        unsafe { libc::CPU_SET(cpu, &mut set) };
        let size = std::mem::size_of::<libc::cpu_set_t>();
        // SAFETY: `set` is a live `cpu_set_t` of `size` bytes, only read;
        // pid 0 is the calling thread.
        unsafe { libc::sched_setaffinity(0, size, &set) == 0 }
    }

    /// The CPU the calling thread is running on (it may move right after).
    #[cfg(not(miri))]
    pub(super) fn current_cpu() -> Option<usize> {
        // SAFETY: no arguments, no memory touched; returns -1 on failure.
        // (Miri cannot run this foreign call, hence the variant below.)
        let cpu = unsafe { libc::sched_getcpu() };
        usize::try_from(cpu).ok()
    }

    /// Under Miri, which does not emulate `sched_getcpu`: unknown, so no
    /// actor is held at dispatch.
    #[cfg(miri)]
    pub(super) fn current_cpu() -> Option<usize> {
        None
    }
}

/// Other targets, and loom models: nothing is pinned.
#[cfg(not(all(target_os = "linux", not(loom))))]
mod os {
    pub(super) fn allowed_cpus() -> Vec<usize> {
        Vec::new()
    }

    pub(super) fn pin_current(_cpu: usize) -> bool {
        false
    }

    pub(super) fn current_cpu() -> Option<usize> {
        None
    }
}

/// The CPUs this process may run on; empty if unknown.
pub(crate) fn allowed_cpus() -> Vec<usize> {
    os::allowed_cpus()
}

/// Pins the calling thread to `cpu`; false if that is not possible here.
pub(crate) fn pin_current(cpu: usize) -> bool {
    os::pin_current(cpu)
}

/// The CPU the calling thread runs on, if the platform says.
pub(crate) fn current_cpu() -> Option<usize> {
    os::current_cpu()
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn spread_goes_round_robin_and_needs_two_cpus() {
        assert_eq!(spread(&[3, 5], 3).unwrap(), [Some(3), Some(5), Some(3)]);
        assert_eq!(spread(&[7], 2).unwrap(), [None, None]);
        assert_eq!(spread(&[], 2).unwrap(), [None, None]);
        assert!(spread(&[0, 1], 0).unwrap().is_empty());
        assert!(spread(&[0, 1], usize::MAX).is_none());
    }

    #[test]
    fn plan_leaves_single_actors_and_unpinned_pools_alone() {
        assert_eq!(plan(Placement::Pinned, 1).unwrap(), [None]);
        assert_eq!(plan(Placement::Unpinned, 3).unwrap(), [None, None, None]);
        let planned = plan(Placement::Pinned, 4).unwrap();
        let allowed = allowed_cpus();
        assert_eq!(planned.len(), 4);
        for cpu in planned {
            match cpu {
                Some(cpu) => assert!(allowed.contains(&cpu), "{cpu} not in {allowed:?}"),
                None => assert!(allowed.len() < 2),
            }
        }
    }

    #[test]
    fn a_thread_pinned_to_an_allowed_cpu_runs_there() {
        let allowed = allowed_cpus();
        let Some(&last) = allowed.last() else {
            // Not Linux (or no affinity): nothing to pin, and no CPU known.
            assert!(!pin_current(0));
            return;
        };
        let on = std::thread::spawn(move || (pin_current(last), current_cpu()))
            .join()
            .unwrap();
        // Miri accepts the mask, but cannot say where a thread runs.
        let expected = if cfg!(miri) { None } else { Some(last) };
        assert_eq!(on, (true, expected));
    }

    #[test]
    fn a_cpu_beyond_the_set_size_is_refused() {
        assert!(!pin_current(usize::MAX));
    }

    #[test]
    fn only_exact_env_values_name_a_placement() {
        use std::ffi::OsStr;
        assert_eq!(
            Placement::from_env(OsStr::new("unpinned")),
            Some(Placement::Unpinned)
        );
        assert_eq!(
            Placement::from_env(OsStr::new("pinned")),
            Some(Placement::Pinned)
        );
        for other in ["", "Unpinned", "UNPINNED", " pinned", "off", "spread"] {
            assert_eq!(Placement::from_env(OsStr::new(other)), None, "{other:?}");
        }
    }
}

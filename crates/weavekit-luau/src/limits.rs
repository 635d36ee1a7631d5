//! The host's limits: how long one handler item may run (`jobTimeout`), how
//! much memory one VM may hold (`memoryLimit`), and how many items one
//! dispatch may have.
//!
//! Each limit turns what would be a hang, an abort or a silent overflow into
//! an error that names what hit it:
//!
//! - **Job timeout.** An actor's VM has an interrupt while a handler item
//!   runs (Luau calls it at function calls and loop back-edges, so a
//!   `while true do end` is stopped too); past the item's deadline every
//!   interrupt raises, so a handler cannot `pcall` its way past the limit.
//!   `task.wait` on an actor sleeps at most until the deadline. The item
//!   fails with [`JobClock::message`]; the actor serves the next item.
//! - **Memory limit.** Every VM (the master's and each actor's) gets
//!   `Lua::set_memory_limit`, so growing past it is Luau's catchable
//!   "not enough memory" error instead of an allocation failure that aborts
//!   the process. The results of one tracked job are counted too
//!   ([`ResultBudget`]): they are decoded into the master's VM, so their
//!   sum may not pass the master's limit.
//! - **Counts.** A tracked job's results become one Luau table, which holds
//!   at most 2^26 entries ([`MAX_TRACKED_ITEMS`]); no count may pass 2^53
//!   ([`MAX_ITEMS`]), the largest whole number a Luau number holds exactly.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mlua::{Table, Value as LuaValue};

use crate::vm::type_name;

/// The most items of a tracked dispatch: a Luau table's array part holds at
/// most 2^26 entries (Luau's `MAXSIZE`); more would fail in the callback
/// with "table overflow".
pub(crate) const MAX_TRACKED_ITEMS: usize = 1 << 26;

/// The most items of any dispatch: 2^53, the largest whole number every
/// integer below which a Luau number represents exactly.
pub(crate) const MAX_ITEMS: u64 = 1 << 53;

/// The smallest memory limit: a VM with the host's library needs a few
/// hundred KiB before any script runs.
pub(crate) const MIN_MEMORY_LIMIT: usize = 1 << 20;

/// The longest job timeout: longer ones (up to `math.huge`) count as this
/// long, which is as good as none.
const MAX_JOB_TIMEOUT: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// The default memory limit of each Luau VM of a run (see
/// [`Runner::memory_limit`](crate::Runner::memory_limit)): a quarter of the
/// machine's physical memory (at least 256 MiB), or 4 GiB where it cannot
/// be read.
///
/// # Examples
///
/// ```
/// let limit = weavekit_luau::default_memory_limit();
/// assert!(limit >= 256 << 20);
/// ```
pub fn default_memory_limit() -> usize {
    const FALLBACK: usize = 4 << 30;
    physical_memory().map_or(FALLBACK, |total| (total / 4).max(256 << 20))
}

/// The machine's physical memory in bytes (`MemTotal` of `/proc/meminfo`).
fn physical_memory() -> Option<usize> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|line| line.starts_with("MemTotal:"))?;
    let kib: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// The `threadCount` of a dispatch as a count: a whole number from 0 to
/// [`MAX_ITEMS`], and at most [`MAX_TRACKED_ITEMS`] when `tracked`.
pub(crate) fn item_count(value: &LuaValue, tracked: bool) -> Result<usize, String> {
    let shown = match value {
        LuaValue::Integer(i) => i.to_string(),
        LuaValue::Number(n) => n.to_string(),
        other => type_name(other).to_owned(),
    };
    let count = match value {
        LuaValue::Integer(i) if *i >= 0 => Some(i.unsigned_abs()),
        // Whole and below 2^64, so the cast is exact; larger ones are refused
        // below as more than 2^53.
        LuaValue::Number(n) if *n >= 0.0 && (n.is_infinite() || n.fract() == 0.0) => {
            Some(if *n < 1.8e19 { *n as u64 } else { u64::MAX })
        }
        _ => None,
    };
    let Some(count) = count else {
        return Err(format!(
            "argument #2 (threadCount) must be a whole number >= 0, got {shown}"
        ));
    };
    if count > MAX_ITEMS {
        return Err(format!(
            "argument #2 (threadCount) must be at most 2^53 (9007199254740992), got {shown}"
        ));
    }
    let count = usize::try_from(count).map_err(|_| {
        format!("argument #2 (threadCount) is more than this machine can count, got {shown}")
    })?;
    if tracked && count > MAX_TRACKED_ITEMS {
        return Err(format!(
            "argument #2 (threadCount) must be at most 2^26 (67108864) for a tracked dispatch, \
             whose results fill one Luau table, got {shown}; dispatch fewer items per job"
        ));
    }
    Ok(count)
}

/// The options `weave.dispatcher.new` accepts.
const OPTION_KEYS: [&str; 3] = ["readyTimeout", "jobTimeout", "memoryLimit"];

/// Refuses keys of the options table that are not options (a typo such as
/// `readyTimout` would otherwise be ignored silently).
pub(crate) fn check_option_keys(options: &Table) -> Result<(), String> {
    let mut unknown = None;
    options
        .for_each(|key: LuaValue, _: LuaValue| {
            let known = match &key {
                LuaValue::String(s) => OPTION_KEYS
                    .iter()
                    .any(|k| s.as_bytes().as_ref() == k.as_bytes()),
                _ => false,
            };
            if !known && unknown.is_none() {
                unknown = Some(match &key {
                    LuaValue::String(s) => format!("\"{}\"", s.to_string_lossy()),
                    other => format!("a key of type {}", type_name(other)),
                });
            }
            Ok(())
        })
        .map_err(|e| e.to_string())?;
    match unknown {
        Some(key) => Err(format!(
            "weave.dispatcher.new: unknown option {key} in argument #3 (options); the options \
             are {}",
            OPTION_KEYS.join(", ")
        )),
        None => Ok(()),
    }
}

/// The `jobTimeout` option (seconds > 0), or `default`.
pub(crate) fn job_timeout_option(
    options: &Table,
    default: Option<Duration>,
) -> Result<Option<Duration>, String> {
    match options.raw_get::<LuaValue>("jobTimeout") {
        Ok(LuaValue::Nil) => Ok(default),
        Ok(LuaValue::Integer(i)) if i > 0 => Ok(Some(
            Duration::from_secs(i.unsigned_abs()).min(MAX_JOB_TIMEOUT),
        )),
        Ok(LuaValue::Number(n)) if n > 0.0 => Ok(Some(clamp_seconds(n))),
        Ok(other) => Err(format!(
            "weave.dispatcher.new: options.jobTimeout must be a number of seconds > 0, got {}",
            shown(&other)
        )),
        Err(e) => Err(e.to_string()),
    }
}

/// The `memoryLimit` option (whole bytes, at least [`MIN_MEMORY_LIMIT`]), or
/// `default`.
pub(crate) fn memory_limit_option(options: &Table, default: usize) -> Result<usize, String> {
    let refuse = |got: &LuaValue| {
        format!(
            "weave.dispatcher.new: options.memoryLimit must be a whole number of bytes >= \
             {MIN_MEMORY_LIMIT}, got {}",
            shown(got)
        )
    };
    match options.raw_get::<LuaValue>("memoryLimit") {
        Ok(LuaValue::Nil) => Ok(default),
        Ok(LuaValue::Integer(i)) => match usize::try_from(i) {
            Ok(bytes) if bytes >= MIN_MEMORY_LIMIT => Ok(bytes),
            _ => Err(refuse(&LuaValue::Integer(i))),
        },
        // Beyond what a usize holds: as good as no limit.
        Ok(LuaValue::Number(n)) if n >= MIN_MEMORY_LIMIT as f64 && n.fract() == 0.0 => {
            Ok(usize::MAX)
        }
        Ok(other) => Err(refuse(&other)),
        Err(e) => Err(e.to_string()),
    }
}

/// `seconds` > 0 as a duration; over a year (even infinity) counts as a year.
pub(crate) fn clamp_seconds(seconds: f64) -> Duration {
    Duration::try_from_secs_f64(seconds)
        .unwrap_or(MAX_JOB_TIMEOUT)
        .min(MAX_JOB_TIMEOUT)
}

/// How a value is shown in "got ..." messages.
fn shown(value: &LuaValue) -> String {
    match value {
        LuaValue::Integer(i) => i.to_string(),
        LuaValue::Number(n) => n.to_string(),
        other => type_name(other).to_owned(),
    }
}

/// How often the job timeout's interrupt reads the clock: once in this many
/// interrupts.
const CLOCK_EVERY: u32 = 256;

/// The clock of the handler item running on an actor, for the job timeout.
#[derive(Debug)]
pub(crate) struct JobClock {
    /// The job timeout; `None`: items may run for ever.
    timeout: Option<Duration>,
    /// When the running item's time runs out (`None`: no item runs, or no
    /// timeout, or one too far to represent).
    deadline: Cell<Option<Instant>>,
    /// Whether the running item ran out of time.
    expired: Cell<bool>,
    /// Interrupts since the clock was last read.
    ticks: Cell<u32>,
}

impl JobClock {
    /// A clock for items limited to `timeout` each.
    pub(crate) fn new(timeout: Option<Duration>) -> JobClock {
        JobClock {
            timeout,
            deadline: Cell::new(None),
            expired: Cell::new(false),
            ticks: Cell::new(0),
        }
    }

    /// Whether items are limited at all (else no interrupt is needed).
    pub(crate) fn is_limited(&self) -> bool {
        self.timeout.is_some()
    }

    /// When the running item's time runs out (`None`: no item runs, or it
    /// has no limit).
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.deadline.get()
    }

    /// An item starts now.
    pub(crate) fn start(&self) {
        self.expired.set(false);
        let deadline = self
            .timeout
            .and_then(|timeout| Instant::now().checked_add(timeout));
        self.deadline.set(deadline);
    }

    /// The item ended; whether it ran out of time.
    pub(crate) fn stop(&self) -> bool {
        self.deadline.set(None);
        self.expired.replace(false)
    }

    /// Called by the VM's interrupt (at every call and loop iteration): an
    /// error once the item is past its deadline, and at every later
    /// interrupt until it ends (so `pcall` cannot keep it running). Reading
    /// the clock costs more than a short loop iteration, so it is read at
    /// one interrupt in [`CLOCK_EVERY`]: a stop comes that many interrupts
    /// late at most (microseconds).
    pub(crate) fn check(&self) -> mlua::Result<()> {
        if self.expired.get() {
            return Err(self.expire());
        }
        let ticks = self.ticks.get().wrapping_add(1);
        self.ticks.set(ticks);
        if ticks % CLOCK_EVERY != 0 {
            return Ok(());
        }
        self.check_at(Instant::now())
    }

    /// [`JobClock::check`] at `now`, reading the clock.
    pub(crate) fn check_at(&self, now: Instant) -> mlua::Result<()> {
        match self.deadline.get() {
            Some(deadline) if now >= deadline => Err(self.expire()),
            _ => Ok(()),
        }
    }

    /// How long a `task.wait` of `duration` from `start` may sleep: `Ok` the
    /// whole duration, or `Err` the time left before the deadline (after
    /// which the sleep must raise [`JobClock::expire`]).
    pub(crate) fn sleep_limit(&self, start: Instant, duration: Duration) -> Result<(), Duration> {
        match self.deadline.get() {
            Some(deadline) if start.checked_add(duration).is_none_or(|end| end > deadline) => {
                Err(deadline.saturating_duration_since(start))
            }
            _ => Ok(()),
        }
    }

    /// The error that stops an item out of time (and remembers that it did).
    pub(crate) fn expire(&self) -> mlua::Error {
        self.expired.set(true);
        mlua::Error::runtime(self.message())
    }

    /// Why the item was stopped: one sentence.
    pub(crate) fn message(&self) -> String {
        match self.timeout {
            Some(timeout) => {
                format!("the handler ran past the job timeout ({timeout:?}) and was stopped")
            }
            None => "the handler was stopped".to_owned(),
        }
    }
}

/// Frees a VM's garbage when it nears its memory limit. Luau has no
/// emergency collection: after running out of memory the heap is still
/// full of garbage the incremental collector has not reached (and a full
/// collection needs memory too), so the next allocations would fail as
/// well. Called before each handler item on an actor and at each scheduler
/// step on the master, it runs a full collection
/// once the heap is within 1/8 of the limit and has grown by 1/32 of it
/// since the last one: near the limit, a full collection per 1/32 of the
/// limit allocated; elsewhere, one comparison.
#[derive(Debug)]
pub(crate) struct Relief {
    /// The VM's memory limit.
    limit: usize,
    /// The heap's size after the last full collection (or lower since).
    floor: Cell<usize>,
}

impl Relief {
    /// Relief for a VM limited to `limit` bytes.
    pub(crate) fn new(limit: usize) -> Relief {
        Relief {
            limit,
            floor: Cell::new(0),
        }
    }

    /// Collects `lua`'s garbage if its heap is near the limit.
    pub(crate) fn relieve(&self, lua: &mlua::Lua) -> mlua::Result<()> {
        let used = lua.used_memory();
        if used < self.floor.get() {
            self.floor.set(used);
        }
        let near = used >= self.limit - self.limit / 8;
        if near && used >= self.floor.get().saturating_add(self.limit / 32) {
            // The collector needs a little memory itself, which a heap at
            // its limit does not have: lend it some for the collection.
            let headroom = (self.limit / 8).max(MIN_MEMORY_LIMIT);
            lua.set_memory_limit(self.limit.saturating_add(headroom))?;
            let collected = lua.gc_collect();
            lua.set_memory_limit(self.limit)?;
            collected?;
            self.floor.set(lua.used_memory());
        }
        Ok(())
    }
}

/// How many bytes of results one tracked job may hold: the results are
/// decoded into the master's VM, so together they may not pass its memory
/// limit. Shared by every actor running the job.
#[derive(Debug)]
pub(crate) struct ResultBudget {
    /// The master's memory limit.
    limit: usize,
    /// Bytes of results encoded so far.
    used: AtomicUsize,
}

impl ResultBudget {
    /// A budget of `limit` bytes.
    pub(crate) fn new(limit: usize) -> ResultBudget {
        ResultBudget {
            limit,
            used: AtomicUsize::new(0),
        }
    }

    /// Takes `bytes` from the budget; `Err` with the message for the item if
    /// the job's results would pass the limit.
    pub(crate) fn take(&self, bytes: usize) -> Result<(), String> {
        // ORDERING: a counter only; no other memory is published through it,
        // and the sum is exact whatever the order of the additions.
        let before = self.used.fetch_add(bytes, Ordering::Relaxed);
        if before.saturating_add(bytes) > self.limit {
            // ORDERING: as above. A refused result is not kept: give its
            // bytes back, so that later messages count what is held.
            self.used.fetch_sub(bytes, Ordering::Relaxed);
            return Err(format!(
                "the job's results would take more than the memory limit of the master \
                 ({} bytes): this result is {bytes} bytes and the job's earlier results {before}",
                self.limit
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_checked_against_both_limits() {
        let n = |x: f64| LuaValue::Number(x);
        assert_eq!(item_count(&LuaValue::Integer(0), true), Ok(0));
        assert_eq!(
            item_count(&LuaValue::Integer(1 << 26), true),
            Ok(MAX_TRACKED_ITEMS)
        );
        let message = item_count(&LuaValue::Integer((1 << 26) + 1), true).unwrap_err();
        assert!(message.contains("at most 2^26"), "{message}");
        assert_eq!(
            item_count(&LuaValue::Integer((1 << 26) + 1), false),
            Ok((1 << 26) + 1)
        );
        for huge in [1e300, 2f64.powi(64), 2f64.powi(53) + 2.0, f64::INFINITY] {
            let message = item_count(&n(huge), false).unwrap_err();
            assert!(message.contains("at most 2^53"), "{huge}: {message}");
        }
        for bad in [-1.0, 1.5, f64::NAN, f64::NEG_INFINITY] {
            let message = item_count(&n(bad), false).unwrap_err();
            assert!(message.contains("whole number >= 0"), "{bad}: {message}");
        }
    }

    #[test]
    fn the_clock_expires_only_past_the_deadline_and_stays_expired() {
        let clock = JobClock::new(Some(Duration::from_secs(3600)));
        clock.start();
        assert!(clock.check_at(Instant::now()).is_ok());
        for _ in 0..2 * CLOCK_EVERY {
            assert!(clock.check().is_ok());
        }
        let late = Instant::now() + Duration::from_secs(7200);
        assert!(clock.check_at(late).is_err());
        // Once out of time, every interrupt raises, clock or not.
        assert!(clock.check().is_err());
        assert!(clock.check().is_err());
        assert!(clock.stop());
        // Nothing runs: never out of time.
        assert!(clock.check_at(late).is_ok());
        assert!(clock.check().is_ok());
        assert!(!clock.stop());
        let unlimited = JobClock::new(None);
        unlimited.start();
        assert!(unlimited.check_at(late).is_ok());
        assert!(unlimited.sleep_limit(Instant::now(), Duration::MAX).is_ok());
    }

    #[test]
    fn the_result_budget_refuses_what_passes_the_limit() {
        let budget = ResultBudget::new(100);
        assert!(budget.take(60).is_ok());
        assert!(budget.take(40).is_ok());
        let message = budget.take(1).unwrap_err();
        assert!(
            message.contains("memory limit of the master (100 bytes)"),
            "{message}"
        );
    }

    #[test]
    fn the_default_memory_limit_is_sane() {
        let limit = default_memory_limit();
        assert!(limit >= 256 << 20, "{limit}");
    }
}

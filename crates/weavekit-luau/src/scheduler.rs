//! The master's task queues: timers (`task.wait`, `task.delay`) and the
//! deferred queue (`task.defer`), with the bookkeeping that lets
//! `task.cancel` and an early `task.spawn` withdraw a thread.
//!
//! `task.wait()` with no duration (or 0) is a *yield*: the thread resumes at
//! the next scheduler step. Yields wait in their own FIFO, apart from the
//! timers: they are due at the next step that has something else to do (a
//! callback, a timer), or one [`FRAME`] after they were made, whichever is
//! first. So a `while not done do task.wait() end` loop sleeps until a job
//! finishes instead of spinning a core the actors need, and still runs at
//! least every [`FRAME`].
//!
//! This is data only; `master.rs` drives it. Every scheduled entry carries a
//! *token*; a thread's current token is recorded in `tokens`, so an entry
//! whose token is no longer current (the thread was cancelled, resumed
//! early, or scheduled again) is skipped when it comes due. Entries keep
//! their thread alive, so a thread's address cannot be reused while an
//! entry still names it.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use mlua::{MultiValue, Thread, Value as LuaValue};

/// The longest a yield (`task.wait()`) waits for its step when nothing
/// else happens.
pub(crate) const FRAME: Duration = Duration::from_millis(1);

/// What a due thread is resumed with.
pub(crate) enum Resume {
    /// `task.wait`: the seconds elapsed since this instant.
    Elapsed(Instant),
    /// `task.delay` and `task.defer`: the arguments given.
    Args(MultiValue),
}

impl Resume {
    /// The values to resume with, at `now`.
    pub(crate) fn into_values(self, now: Instant) -> MultiValue {
        match self {
            Resume::Elapsed(since) => MultiValue::from_vec(vec![LuaValue::Number(
                now.saturating_duration_since(since).as_secs_f64(),
            )]),
            Resume::Args(values) => values,
        }
    }
}

/// A thread to resume, taken off a queue.
pub(crate) struct Due {
    /// The thread.
    pub(crate) thread: Thread,
    /// What to resume it with.
    pub(crate) resume: Resume,
    /// How many `task.defer` calls deep this entry is (0 for timers).
    pub(crate) depth: usize,
}

struct Timer {
    at: Instant,
    token: u64,
    thread: Thread,
    resume: Resume,
}

// The heap is a max-heap: order timers so the earliest (then the first
// scheduled) is the greatest.
impl Ord for Timer {
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.token).cmp(&(self.at, self.token))
    }
}
impl PartialOrd for Timer {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl PartialEq for Timer {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Timer {}

struct Yield {
    token: u64,
    thread: Thread,
    since: Instant,
    /// The step during which the thread yielded.
    step: u64,
}

struct Deferred {
    token: u64,
    thread: Thread,
    args: MultiValue,
    depth: usize,
}

/// The timer heap and the deferred queue.
#[derive(Default)]
pub(crate) struct Queues {
    timers: BinaryHeap<Timer>,
    deferred: VecDeque<Deferred>,
    yields: VecDeque<Yield>,
    /// Each scheduled thread's current token, by thread address.
    tokens: HashMap<usize, u64>,
    next_token: u64,
}

fn key(thread: &Thread) -> usize {
    thread.to_pointer() as usize
}

impl Queues {
    /// A fresh token for `thread`, replacing any earlier one.
    fn issue(&mut self, thread: &Thread) -> u64 {
        self.next_token += 1;
        self.tokens.insert(key(thread), self.next_token);
        self.next_token
    }

    /// Takes `token` if it is still `thread`'s current one.
    fn redeem(&mut self, thread: &Thread, token: u64) -> bool {
        let current = self.tokens.get(&key(thread)) == Some(&token);
        if current {
            self.tokens.remove(&key(thread));
        }
        current
    }

    /// Resumes `thread` with `resume` at the first step at or after `at`.
    pub(crate) fn schedule(&mut self, thread: Thread, at: Instant, resume: Resume) {
        let token = self.issue(&thread);
        self.timers.push(Timer {
            at,
            token,
            thread,
            resume,
        });
    }

    /// Resumes `thread` at the next step after `step` (see [`FRAME`]).
    pub(crate) fn yield_until_next_step(&mut self, thread: Thread, step: u64) {
        let token = self.issue(&thread);
        self.yields.push_back(Yield {
            token,
            thread,
            since: Instant::now(),
            step,
        });
    }

    /// Resumes `thread` with `args` at the end of the current resumption.
    pub(crate) fn defer(&mut self, thread: Thread, args: MultiValue, depth: usize) {
        let token = self.issue(&thread);
        self.deferred.push_back(Deferred {
            token,
            thread,
            args,
            depth,
        });
    }

    /// Withdraws every pending resumption of `thread`.
    pub(crate) fn withdraw(&mut self, thread: &Thread) {
        self.tokens.remove(&key(thread));
    }

    /// The next deferred thread still due.
    pub(crate) fn pop_deferred(&mut self) -> Option<Due> {
        while let Some(entry) = self.deferred.pop_front() {
            if self.redeem(&entry.thread, entry.token) {
                return Some(Due {
                    thread: entry.thread,
                    resume: Resume::Args(entry.args),
                    depth: entry.depth,
                });
            }
        }
        None
    }

    /// Every timer due at `now`, earliest first.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Vec<Due> {
        let mut due = Vec::new();
        while self.timers.peek().is_some_and(|timer| timer.at <= now) {
            let Some(timer) = self.timers.pop() else {
                break;
            };
            if self.redeem(&timer.thread, timer.token) {
                due.push(Due {
                    thread: timer.thread,
                    resume: timer.resume,
                    depth: 0,
                });
            }
        }
        due
    }

    /// The yields due in step `step` at `now`: all those made before this
    /// step when the step has other work (`busy`), else those a [`FRAME`] old.
    pub(crate) fn pop_yields(&mut self, step: u64, now: Instant, busy: bool) -> Vec<Due> {
        let mut due = Vec::new();
        while let Some(front) = self.yields.front() {
            let ready = front.step < step && (busy || front.since + FRAME <= now);
            if !ready {
                break;
            }
            let Some(entry) = self.yields.pop_front() else {
                break;
            };
            if self.redeem(&entry.thread, entry.token) {
                due.push(Due {
                    thread: entry.thread,
                    resume: Resume::Elapsed(entry.since),
                    depth: 0,
                });
            }
        }
        due
    }

    /// When the next step must run at the latest, for the earliest live
    /// timer or yield; withdrawn entries are dropped.
    pub(crate) fn next_deadline(&mut self) -> Option<Instant> {
        let mut timer = None;
        while let Some(next) = self.timers.peek() {
            if self.tokens.get(&key(&next.thread)) == Some(&next.token) {
                timer = Some(next.at);
                break;
            }
            self.timers.pop();
        }
        let mut yielded = None;
        while let Some(next) = self.yields.front() {
            if self.tokens.get(&key(&next.thread)) == Some(&next.token) {
                yielded = Some(next.since + FRAME);
                break;
            }
            self.yields.pop_front();
        }
        match (timer, yielded) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Drops every entry (at the end of a run, before the VM goes).
    pub(crate) fn clear(&mut self) {
        self.timers.clear();
        self.deferred.clear();
        self.yields.clear();
        self.tokens.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mlua::Lua;

    fn thread(lua: &Lua) -> Thread {
        let f = lua.create_function(|_, ()| Ok(())).unwrap();
        lua.create_thread(f).unwrap()
    }

    fn arg(due: Due) -> i64 {
        match due.resume {
            Resume::Args(values) => values.into_iter().next().unwrap().as_i64().unwrap(),
            Resume::Elapsed(_) => panic!("expected arguments"),
        }
    }

    #[test]
    fn timers_come_due_in_deadline_then_schedule_order() {
        let lua = Lua::new();
        let mut queues = Queues::default();
        let now = Instant::now();
        let late = now + Duration::from_millis(5);
        for (at, tag) in [(late, 1), (now, 2), (now, 3), (late + FRAME * 100, 4)] {
            let args = MultiValue::from_vec(vec![LuaValue::Integer(tag)]);
            queues.schedule(thread(&lua), at, Resume::Args(args));
        }
        let due: Vec<i64> = queues.pop_due(late).into_iter().map(arg).collect();
        assert_eq!(due, [2, 3, 1]);
        assert_eq!(queues.next_deadline(), Some(late + FRAME * 100));
    }

    #[test]
    fn withdrawn_and_rescheduled_threads_resume_once() {
        let lua = Lua::new();
        let mut queues = Queues::default();
        let now = Instant::now();
        let cancelled = thread(&lua);
        queues.schedule(cancelled.clone(), now, Resume::Elapsed(now));
        queues.withdraw(&cancelled);
        let moved = thread(&lua);
        let args = |tag| MultiValue::from_vec(vec![LuaValue::Integer(tag)]);
        queues.schedule(moved.clone(), now, Resume::Args(args(1)));
        queues.defer(moved.clone(), args(2), 1);
        assert!(queues.pop_due(now).is_empty(), "both timers are void");
        assert_eq!(arg(queues.pop_deferred().unwrap()), 2);
        assert!(queues.pop_deferred().is_none());
        assert_eq!(queues.next_deadline(), None);
    }

    #[test]
    fn yields_wait_for_a_later_step() {
        let lua = Lua::new();
        let mut queues = Queues::default();
        queues.yield_until_next_step(thread(&lua), 7);
        let now = Instant::now();
        // Not in the step it was made in, even a busy one.
        assert!(queues.pop_yields(7, now + FRAME, true).is_empty());
        // In a later step: at once if the step is busy...
        assert_eq!(queues.pop_yields(8, now, true).len(), 1);
        // ...else once a frame has passed.
        queues.yield_until_next_step(thread(&lua), 8);
        assert!(queues.pop_yields(9, now, false).is_empty());
        let deadline = queues.next_deadline().unwrap();
        assert!(deadline >= now && deadline <= Instant::now() + FRAME);
        assert_eq!(queues.pop_yields(9, deadline, false).len(), 1);
    }
}

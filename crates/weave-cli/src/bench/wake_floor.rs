//! The wake-up floor: what waking one thread asleep on another CPU costs
//! the waker on this machine, measured in the same run as `dispatch` with
//! the actors asleep.
//!
//! A dispatch to sleeping actors has to wake one of them (weavekit holds
//! the actor pinned to the master's own CPU until the master waits, and
//! wakes the others), so it can never return faster than that one wake-up.
//! How long a wake-up takes is a property of the machine, not of weavekit:
//! on a KVM guest, waking a thread whose vCPU is halted sends an
//! inter-processor interrupt, which exits to the hypervisor. The floor is
//! that same wake done with bare threads, in the master's situation: the
//! calling thread (unpinned, like the master) sleeps [`SETTLE`], reads
//! which CPU it is on, then times one `Thread::unpark` of a *sleeper*
//! pinned to another CPU and parked since its previous wake. The
//! asleep-dispatch target is stated against it: what weavekit adds to the
//! one wake-up it cannot avoid.
//!
//! Not measured (`None`) with fewer than two allowed CPUs, where affinity
//! is unavailable or pinning fails, or where the current CPU cannot be
//! read (`/proc/thread-self/stat`, Linux).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use core_affinity::CoreId;

use super::runner::SETTLE;

/// Two parked threads, pinned to the first two allowed CPUs.
pub struct WakeFloor {
    sleepers: Vec<(usize, JoinHandle<bool>)>,
    stop: Arc<AtomicBool>,
}

impl WakeFloor {
    /// Starts the sleepers, or `None` where the floor cannot be measured
    /// (see the module docs).
    pub fn start() -> Option<WakeFloor> {
        let cores = core_affinity::get_core_ids()?;
        if cores.len() < 2 || current_cpu().is_none() {
            return None;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let (pinned_tx, pinned_rx) = std::sync::mpsc::channel();
        let sleepers = cores[..2]
            .iter()
            .map(|&core| {
                let handle = spawn_sleeper(core, Arc::clone(&stop), pinned_tx.clone());
                (core.id, handle)
            })
            .collect();
        let floor = WakeFloor { sleepers, stop };
        let all_pinned = (0..2).all(|_| pinned_rx.recv().unwrap_or(false));
        all_pinned.then_some(floor)
    }

    /// `count` samples on the calling thread, in ns: each after [`SETTLE`],
    /// one unpark of the sleeper pinned to a CPU other than the caller's.
    /// `None` if the caller's CPU cannot be read.
    pub fn sample(&self, count: usize) -> Option<Vec<f64>> {
        (0..count)
            .map(|_| {
                thread::sleep(SETTLE);
                let here = current_cpu()?;
                let (_, sleeper) = self.sleepers.iter().find(|(cpu, _)| *cpu != here)?;
                let start = Instant::now();
                sleeper.thread().unpark();
                Some(nanos(start.elapsed()))
            })
            .collect()
    }
}

impl Drop for WakeFloor {
    fn drop(&mut self) {
        // ORDERING: Release pairs with the sleepers' Acquire load; the flag
        // carries no data, any order would do, this one reads plainly.
        self.stop.store(true, Ordering::Release);
        for (_, sleeper) in self.sleepers.drain(..) {
            sleeper.thread().unpark();
            let _ = sleeper.join();
        }
    }
}

/// A thread pinned to `core` that reports whether pinning worked, then
/// parks until `stop`.
fn spawn_sleeper(
    core: CoreId,
    stop: Arc<AtomicBool>,
    pinned: std::sync::mpsc::Sender<bool>,
) -> JoinHandle<bool> {
    thread::spawn(move || {
        let ok = core_affinity::set_for_current(core);
        let _ = pinned.send(ok);
        // ORDERING: see `Drop`.
        while !stop.load(Ordering::Acquire) {
            thread::park();
        }
        ok
    })
}

/// The CPU the calling thread runs on: field 39 of
/// `/proc/thread-self/stat` (read outside any timed region).
fn current_cpu() -> Option<usize> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // The command name (field 2) may hold spaces; fields after its `)`.
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(36)?.parse().ok()
}

fn nanos(d: Duration) -> f64 {
    d.as_secs_f64() * 1e9
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_current_cpu_is_an_allowed_one() {
        if let (Some(cpu), Some(cores)) = (current_cpu(), core_affinity::get_core_ids()) {
            assert!(cores.iter().any(|c| c.id == cpu), "{cpu} not in {cores:?}");
        }
    }

    #[test]
    fn samples_are_counted_and_positive_where_measurable() {
        let two_cpus = core_affinity::get_core_ids().is_some_and(|c| c.len() >= 2);
        match WakeFloor::start() {
            Some(floor) => {
                assert!(two_cpus, "started without two allowed CPUs");
                let samples = floor.sample(5).expect("the CPU was readable at start");
                assert_eq!(samples.len(), 5);
                assert!(
                    samples.iter().all(|&ns| ns > 0.0 && ns < 1e9),
                    "{samples:?}"
                );
                assert_eq!(floor.sample(0), Some(vec![]));
            }
            // Pinning can be refused (seccomp, odd containers): then the
            // floor is reported as not measured, never as a number.
            None => eprintln!("wake-up floor not measurable here (two cpus: {two_cpus})"),
        }
    }
}

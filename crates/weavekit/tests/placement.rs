//! The builder's `placement` knob and its environment override take effect:
//! each actor reads its own CPU affinity mask from `/proc` in its worker
//! entry (which runs after the actor has placed itself) and the test
//! compares it with the process's.
//!
//! Linux only (the masks come from `/proc`), and not under Miri (which
//! cannot read `/proc`). The environment override is checked in a child
//! process, so no test here changes this process's environment.
#![cfg(all(target_os = "linux", not(miri)))]

use std::process::Command;
use std::sync::{Arc, Mutex};

use weavekit::{Dispatcher, Kernel, Placement};

/// The CPUs in a `Cpus_allowed_list` line of `/proc/.../status`, such as
/// `0-3,8,10-11`.
fn parse_cpu_list(list: &str) -> Vec<usize> {
    let mut cpus = Vec::new();
    for part in list.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((first, last)) => {
                let (first, last): (usize, usize) = (first.parse().unwrap(), last.parse().unwrap());
                cpus.extend(first..=last);
            }
            None => cpus.push(part.parse().unwrap()),
        }
    }
    cpus
}

/// The CPU affinity of the thread or process whose status file is `path`.
fn allowed(path: &str) -> Vec<usize> {
    let status = std::fs::read_to_string(path).unwrap();
    let line = status
        .lines()
        .find_map(|line| line.strip_prefix("Cpus_allowed_list:"))
        .expect("a Cpus_allowed_list line");
    parse_cpu_list(line)
}

/// Each actor's mask, read by the actor itself, indexed by actor.
fn actor_masks(actors: usize, placement: Placement) -> Vec<Vec<usize>> {
    let masks = Arc::new(Mutex::new(vec![Vec::new(); actors]));
    let seen = Arc::clone(&masks);
    let dispatcher = Dispatcher::builder()
        .actor_count(actors)
        .placement(placement)
        .build(move |kernel: &mut Kernel| {
            let mask = allowed("/proc/thread-self/status");
            seen.lock().unwrap()[kernel.actor_index()] = mask;
        })
        .unwrap();
    drop(dispatcher);
    let masks = masks.lock().unwrap().clone();
    masks
}

/// The placement `chosen` on the builder turns into, given this process's
/// `WEAVEKIT_PLACEMENT` (a CI run may set it).
fn effective(chosen: Placement) -> Placement {
    match std::env::var("WEAVEKIT_PLACEMENT").as_deref() {
        Ok("pinned") => Placement::Pinned,
        Ok("unpinned") => Placement::Unpinned,
        _ => chosen,
    }
}

/// Asserts that `masks` are what `placement` gives on this machine.
fn check(masks: &[Vec<usize>], placement: Placement) {
    let process = allowed("/proc/self/status");
    let pins = placement == Placement::Pinned && masks.len() >= 2 && process.len() >= 2;
    for (actor, mask) in masks.iter().enumerate() {
        if pins {
            // One CPU each, the set's `actor % len`-th.
            assert_eq!(mask, &[process[actor % process.len()]], "actor {actor}");
        } else {
            assert_eq!(mask, &process, "actor {actor}");
        }
    }
}

#[test]
fn unpinned_actors_keep_the_process_mask() {
    check(
        &actor_masks(3, Placement::Unpinned),
        effective(Placement::Unpinned),
    );
}

#[test]
fn pinned_actors_get_one_allowed_cpu_each() {
    let process = allowed("/proc/self/status");
    // More actors than CPUs, so the round-robin wraps.
    let actors = process.len() + 1;
    check(
        &actor_masks(actors, Placement::Pinned),
        effective(Placement::Pinned),
    );
}

#[test]
fn the_default_is_pinned() {
    let masks = actor_masks(2, Placement::default());
    check(&masks, effective(Placement::Pinned));
}

#[test]
fn a_single_actor_is_never_pinned() {
    check(&actor_masks(1, Placement::Pinned), Placement::Unpinned);
}

/// Runs this test binary's `test` alone in a child process with
/// `WEAVEKIT_PLACEMENT=value`; true if it passed.
fn run_with_env(test: &str, value: &str) -> bool {
    let status = Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--include-ignored", "--test-threads=1"])
        .env("WEAVEKIT_PLACEMENT", value)
        .status()
        .unwrap();
    status.success()
}

/// Only meaningful in the child process started by
/// `the_environment_overrides_the_builder`.
#[test]
#[ignore = "run by the_environment_overrides_the_builder with WEAVEKIT_PLACEMENT set"]
fn env_child_pinned_builder() {
    let masks = actor_masks(2, Placement::Pinned);
    check(&masks, effective(Placement::Pinned));
}

/// As `env_child_pinned_builder`, with an unpinned builder.
#[test]
#[ignore = "run by the_environment_overrides_the_builder with WEAVEKIT_PLACEMENT set"]
fn env_child_unpinned_builder() {
    let masks = actor_masks(2, Placement::Unpinned);
    check(&masks, effective(Placement::Unpinned));
}

#[test]
fn the_environment_overrides_the_builder() {
    // `effective` reads the child's variable, so each child checks that
    // the variable, not the builder, decided (or, for a value that names
    // nothing, that the builder did).
    for value in ["unpinned", "pinned", "bogus", ""] {
        assert!(run_with_env("env_child_pinned_builder", value), "{value:?}");
        assert!(
            run_with_env("env_child_unpinned_builder", value),
            "{value:?}"
        );
    }
}

#[test]
fn cpu_lists_parse() {
    assert_eq!(parse_cpu_list("0-3,8,10-11\n"), [0, 1, 2, 3, 8, 10, 11]);
    assert_eq!(parse_cpu_list("5"), [5]);
}

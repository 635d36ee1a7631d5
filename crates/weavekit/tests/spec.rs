//! The original Weave's spec cases, through the public API: buffer length
//! and order, every item run exactly once, for many item counts and batch
//! sizes; sequential and overlapping jobs; two job names; per-actor state.

mod common;

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use common::{
    assert_probe_buffer, check_probe, expected, only, probe_worker, scaled, sink, Probe, XorShift,
};
use weavekit::{Dispatcher, Error, Kernel};

const ACTORS: usize = 4;

fn probe_dispatcher() -> Dispatcher {
    Dispatcher::new(ACTORS, probe_worker).unwrap()
}

#[test]
fn batch_size_one() {
    let mut d = probe_dispatcher();
    check_probe(&mut d, scaled(500, 20), Some(1), 1);
}

#[test]
fn fewer_items_than_actors() {
    let mut d = probe_dispatcher();
    for batch in [None, Some(1), Some(2), Some(100)] {
        check_probe(&mut d, ACTORS - 1, batch, 2);
    }
}

#[test]
fn as_many_items_as_actors() {
    let mut d = probe_dispatcher();
    for batch in [None, Some(1), Some(2), Some(ACTORS)] {
        check_probe(&mut d, ACTORS, batch, 3);
    }
}

#[test]
fn prime_count_with_batch_one() {
    let mut d = probe_dispatcher();
    check_probe(&mut d, scaled(1009, 13), Some(1), 4);
}

#[test]
fn non_divisible_batches() {
    let mut d = probe_dispatcher();
    for (items, batch) in [(100, 7), (101, 10), (1000, 33), (17, 4)] {
        check_probe(&mut d, scaled(items, 17), Some(batch), 5);
    }
}

#[test]
fn batch_larger_than_count() {
    let mut d = probe_dispatcher();
    for (items, batch) in [(10, 64), (1, 2), (5, usize::MAX)] {
        check_probe(&mut d, items, Some(batch), 6);
    }
}

#[test]
fn counts_one_to_ten_with_several_batch_sizes() {
    let mut d = probe_dispatcher();
    for items in 1..=10 {
        for batch in [None, Some(1), Some(2), Some(3), Some(7), Some(10), Some(11)] {
            check_probe(&mut d, items, batch, 7 + items as u64);
        }
    }
}

#[test]
fn large_job_with_default_batches() {
    let mut d = probe_dispatcher();
    check_probe(&mut d, scaled(100_000, 50), None, 8);
}

#[test]
fn single_actor_runs_everything() {
    let mut d = Dispatcher::new(1, probe_worker).unwrap();
    for batch in [None, Some(1), Some(3)] {
        check_probe(&mut d, scaled(100, 9), batch, 9);
    }
}

#[test]
fn sequential_jobs() {
    let mut d = probe_dispatcher();
    for round in 0..scaled(50, 3) {
        check_probe(&mut d, 1 + round * 7, Some(1 + round % 5), round as u64);
    }
}

#[test]
fn overlapping_jobs() {
    let mut d = probe_dispatcher();
    let jobs = scaled(100, 6);
    let mut pending = Vec::new();
    for job in 0..jobs {
        let items = 1 + (job * 37) % 300;
        let batch = [None, Some(1), Some(4), Some(50)][job % 4];
        let probe = Probe::new(items, job as u64);
        let (calls, callback) = sink::<u64>();
        d.dispatch("probe", items, callback, batch, Arc::clone(&probe))
            .unwrap();
        pending.push((items, probe, calls));
    }
    assert!(d.in_flight() <= jobs);
    d.wait();
    assert_eq!(d.in_flight(), 0);
    for (job, (items, probe, calls)) in pending.iter().enumerate() {
        let context = format!("job {job}");
        let buf = only(calls).unwrap();
        assert_probe_buffer(&buf, *items, job as u64, &context);
        probe.assert_each_ran(1, &context);
    }
}

#[test]
fn two_job_names() {
    let mut d = Dispatcher::new(ACTORS, |k: &mut Kernel| {
        k.on("square", |id: usize, add: &u64| id as u64 * id as u64 + add);
        k.on("label", |id: usize, prefix: &String| {
            format!("{prefix}{id}")
        });
    })
    .unwrap();
    let rounds = scaled(10, 2);
    let mut squares = Vec::new();
    let mut labels = Vec::new();
    for round in 0..rounds {
        let (calls, callback) = sink::<u64>();
        d.dispatch("square", 200 + round, callback, None, round as u64)
            .unwrap();
        squares.push(calls);
        let (calls, callback) = sink::<String>();
        d.dispatch(
            "label",
            100 + round,
            callback,
            Some(3),
            format!("r{round}-"),
        )
        .unwrap();
        labels.push(calls);
    }
    d.wait();
    for round in 0..rounds {
        let buf = only(&squares[round]).unwrap();
        assert_eq!(buf.len(), 200 + round);
        for (id, v) in buf.iter().enumerate() {
            assert_eq!(*v, (id * id + round) as u64);
        }
        let buf = only(&labels[round]).unwrap();
        assert_eq!(buf.len(), 100 + round);
        for (id, v) in buf.iter().enumerate() {
            assert_eq!(*v, format!("r{round}-{id}"));
        }
    }
}

#[test]
fn randomized_counts_and_batch_sizes() {
    let mut rng = XorShift::new(0x5EED_CAFE_F00D_0001);
    let mut d = probe_dispatcher();
    let jobs = scaled(300, 8);
    let max_items = scaled(3000, 40);
    let mut pending = Vec::new();
    for _ in 0..jobs {
        let items = rng.below(max_items + 1);
        let batch = match rng.below(4) {
            0 => None,
            1 => Some(1 + rng.below(4)),
            2 => Some(1 + rng.below(items + 8)),
            _ => Some(1 + rng.below(64)),
        };
        let probe = Probe::new(items, rng.next_u64());
        let (calls, callback) = sink::<u64>();
        d.dispatch("probe", items, callback, batch, Arc::clone(&probe))
            .unwrap();
        pending.push((items, batch, probe, calls));
        // Sometimes let earlier jobs finish, sometimes keep piling up.
        if rng.below(8) == 0 {
            d.wait();
        }
    }
    d.wait();
    for (job, (items, batch, probe, calls)) in pending.iter().enumerate() {
        let context = format!("job {job}: {items} items, batch {batch:?}");
        let buf = only(calls).unwrap_or_else(|e| panic!("{context}: {e}"));
        assert_probe_buffer(&buf, *items, probe.salt, &context);
        probe.assert_each_ran(1, &context);
    }
}

#[test]
fn arguments_reach_every_item() {
    #[derive(Debug)]
    struct Params {
        scale: u64,
        table: Vec<u64>,
    }
    let mut d = Dispatcher::new(ACTORS, |k: &mut Kernel| {
        k.on("apply", |id: usize, p: &Params| {
            p.table[id % p.table.len()] * p.scale
        });
    })
    .unwrap();
    let (calls, callback) = sink::<u64>();
    let params = Params {
        scale: 3,
        table: vec![1, 10, 100],
    };
    d.dispatch("apply", 30, callback, Some(4), params).unwrap();
    d.wait();
    let buf = only(&calls).unwrap();
    for (id, v) in buf.iter().enumerate() {
        assert_eq!(*v, [1, 10, 100][id % 3] * 3);
    }
}

#[test]
fn detached_dispatch_of_tracked_handler_runs_every_item() {
    let mut d = probe_dispatcher();
    let probe = Probe::new(scaled(1000, 20), 0);
    d.dispatch_detached("probe", probe.hits.len(), Some(3), Arc::clone(&probe))
        .unwrap();
    d.wait();
    probe.assert_each_ran(1, "detached dispatch of a tracked handler");
}

#[test]
fn registering_a_name_again_replaces_the_handler() {
    let mut d = Dispatcher::new(2, |k: &mut Kernel| {
        k.on("f", |id: usize, _: &()| id as u64);
        k.on("f", |id: usize, _: &()| id as u64 + 1000);
    })
    .unwrap();
    let (calls, callback) = sink::<u64>();
    d.dispatch("f", 5, callback, None, ()).unwrap();
    d.wait();
    assert_eq!(only(&calls).unwrap(), vec![1000, 1001, 1002, 1003, 1004]);
}

#[test]
fn actor_count_is_reported() {
    for n in [1, 2, 3, 5] {
        let d = Dispatcher::new(n, |_: &mut Kernel| {}).unwrap();
        assert_eq!(d.actor_count(), n);
    }
}

/// What each worker entry saw: (actor_index, actor_count, thread name,
/// thread id).
type EntryLog = Arc<Mutex<Vec<(usize, usize, Option<String>, std::thread::ThreadId)>>>;

#[test]
fn each_actor_entry_runs_once_on_its_own_named_thread() {
    for actors in [1, 3, 4] {
        let log: EntryLog = Arc::default();
        let entry_log = Arc::clone(&log);
        let d = Dispatcher::new(actors, move |k: &mut Kernel| {
            let me = std::thread::current();
            entry_log.lock().unwrap().push((
                k.actor_index(),
                k.actor_count(),
                me.name().map(str::to_owned),
                me.id(),
            ));
        })
        .unwrap();
        // `new` returns when every actor is ready: all entries have run.
        let entries = log.lock().unwrap().clone();
        assert_eq!(entries.len(), actors, "one entry per actor");
        let mut indices: Vec<usize> = entries.iter().map(|e| e.0).collect();
        indices.sort_unstable();
        assert_eq!(indices, (0..actors).collect::<Vec<_>>());
        let threads: HashSet<_> = entries.iter().map(|e| e.3).collect();
        assert_eq!(threads.len(), actors, "each actor has its own thread");
        assert!(!threads.contains(&std::thread::current().id()));
        for (index, count, name, _) in &entries {
            assert_eq!(*count, actors);
            assert_eq!(
                name.as_deref(),
                Some(format!("weave-actor-{index}").as_str())
            );
        }
        d.destroy();
        assert_eq!(log.lock().unwrap().len(), actors, "entries never run again");
    }
}

#[test]
fn handlers_run_on_their_actors_thread() {
    let mut d = Dispatcher::new(ACTORS, |k: &mut Kernel| {
        let index = k.actor_index();
        k.on("where", move |_: usize, _: &()| {
            let name = std::thread::current().name().map(str::to_owned);
            (index, name)
        });
    })
    .unwrap();
    let (calls, callback) = sink::<(usize, Option<String>)>();
    d.dispatch("where", scaled(2000, 30), callback, Some(1), ())
        .unwrap();
    d.wait();
    for (index, name) in only(&calls).unwrap() {
        assert!(index < ACTORS);
        assert_eq!(name, Some(format!("weave-actor-{index}")));
    }
}

#[test]
fn handler_state_is_per_actor() {
    // Each actor's handler counts its own calls; if state were shared, two
    // items would see the same count or the counts would not be 1..=k per
    // actor.
    let mut d = Dispatcher::new(ACTORS, |k: &mut Kernel| {
        let index = k.actor_index();
        let mut calls = 0_usize;
        k.on("count", move |_: usize, _: &()| {
            calls += 1;
            (index, calls)
        });
    })
    .unwrap();
    let items = scaled(4000, 40);
    let mut seen: HashMap<usize, Vec<usize>> = HashMap::new();
    for batch in [Some(1), None] {
        let (calls, callback) = sink::<(usize, usize)>();
        d.dispatch("count", items, callback, batch, ()).unwrap();
        d.wait();
        for (index, count) in only(&calls).unwrap() {
            assert!(index < ACTORS, "actor_index {index} out of range");
            seen.entry(index).or_default().push(count);
        }
    }
    let mut total = 0;
    for (index, mut counts) in seen {
        counts.sort_unstable();
        let k = counts.len();
        assert_eq!(counts, (1..=k).collect::<Vec<_>>(), "actor {index}");
        total += k;
    }
    assert_eq!(total, 2 * items);
}

#[test]
fn non_send_handler_state() {
    // Rc and RefCell inside a handler: legal because handlers never leave
    // their actor's thread.
    let mut d = Dispatcher::new(ACTORS, |k: &mut Kernel| {
        let memo: Rc<RefCell<HashMap<usize, u64>>> = Rc::default();
        let shared = Rc::clone(&memo);
        k.on("memo", move |id: usize, salt: &u64| {
            *shared
                .borrow_mut()
                .entry(id)
                .or_insert_with(|| expected(id, *salt))
        });
        k.on("memo_size", move |_: usize, _: &()| memo.borrow().len());
    })
    .unwrap();
    for _ in 0..2 {
        let (calls, callback) = sink::<u64>();
        d.dispatch("memo", 300, callback, Some(5), 77_u64).unwrap();
        d.wait();
        assert_probe_buffer(&only(&calls).unwrap(), 300, 77, "memo");
    }
    let (calls, callback) = sink::<usize>();
    d.dispatch("memo_size", 1, callback, None, ()).unwrap();
    d.wait();
    assert!(only(&calls).unwrap()[0] <= 300);
}

#[test]
fn non_send_callbacks() {
    let mut d = probe_dispatcher();
    let total = Rc::new(RefCell::new(0_u64));
    let fired = Rc::new(AtomicUsize::new(0));
    for job in 0..10_u64 {
        let total = Rc::clone(&total);
        let fired = Rc::clone(&fired);
        d.dispatch(
            "probe",
            10,
            move |buf: Result<Vec<u64>, Error>| {
                *total.borrow_mut() += buf.unwrap().len() as u64;
                fired.fetch_add(1, Ordering::Relaxed);
            },
            None,
            Probe::new(10, job),
        )
        .unwrap();
    }
    d.wait();
    assert_eq!(*total.borrow(), 100);
    assert_eq!(fired.load(Ordering::Relaxed), 10);
    assert_eq!(Rc::strong_count(&total), 1, "callbacks were dropped");
}

//! Stress: tens of thousands of small jobs in flight, many round trips,
//! many dispatchers created and destroyed. Correctness only, no timing.
//! Loops shrink under Miri.

mod common;

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::{assert_probe_buffer, probe_worker, scaled, Probe, XorShift};
use weavekit::{Dispatcher, Error, Kernel};

fn worker(k: &mut Kernel) {
    probe_worker(k);
    k.on_detached("add", |id: usize, total: &Arc<AtomicUsize>| {
        total.fetch_add(id + 1, Ordering::Relaxed);
    });
    k.on("spin", |id: usize, heavy: &usize| {
        // Uneven item costs: every `heavy`-th item does much more work.
        let rounds = if id % heavy == 0 { 20_000 } else { 10 };
        let mut x = id as u64;
        for _ in 0..rounds {
            x = std::hint::black_box(x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1));
        }
        (id, x)
    });
}

/// Sum of `id + 1` over `0..items`.
fn triangle(items: usize) -> usize {
    items * (items + 1) / 2
}

#[test]
fn tens_of_thousands_of_small_jobs_in_flight() {
    const N: usize = if cfg!(miri) { 20 } else { 20_000 };
    let mut rng = XorShift::new(0x57E5_5000);
    let mut d = Dispatcher::new(4, worker).unwrap();
    let fired = Rc::new(Cell::new(0_usize));
    let detached_total = Arc::new(AtomicUsize::new(0));
    let mut detached_expected = 0;
    let mut peak_in_flight = 0;
    for job in 0..N {
        let items = rng.range(1, 65);
        let batch = match rng.below(4) {
            0 => None,
            1 => Some(1),
            2 => Some(rng.range(1, 9)),
            _ => Some(rng.range(1, 100)),
        };
        let salt = rng.next_u64();
        let probe = Probe::new(items, salt);
        let checked = Arc::clone(&probe);
        let count = Rc::clone(&fired);
        let callback = move |buf: Result<Vec<u64>, Error>| {
            let context = format!("job {job}");
            assert_probe_buffer(&buf.unwrap(), items, salt, &context);
            checked.assert_each_ran(1, &context);
            count.set(count.get() + 1);
        };
        if job % 5 == 4 {
            d.dispatch_deferred("probe", items, callback, batch, probe)
                .unwrap();
        } else {
            d.dispatch("probe", items, callback, batch, probe).unwrap();
        }
        if job % 4 == 0 {
            let total = Arc::clone(&detached_total);
            if job % 8 == 0 {
                d.dispatch_detached("add", items, batch, total).unwrap();
            } else {
                d.dispatch_detached_deferred("add", items, batch, total)
                    .unwrap();
            }
            detached_expected += triangle(items);
        }
        peak_in_flight = peak_in_flight.max(d.in_flight());
        // Now and then fire what is ready, while the rest keeps piling up.
        if job % 1000 == 999 {
            d.poll();
        }
    }
    d.wait();
    assert_eq!(fired.get(), N, "every callback fired exactly once");
    assert_eq!(d.in_flight(), 0);
    assert_eq!(detached_total.load(Ordering::Relaxed), detached_expected);
    assert!(d.take_detached_errors().is_empty());
    assert!(peak_in_flight > 1, "jobs overlapped");
}

#[test]
fn many_detached_jobs() {
    const N: usize = if cfg!(miri) { 20 } else { 20_000 };
    let mut d = Dispatcher::new(3, worker).unwrap();
    let total = Arc::new(AtomicUsize::new(0));
    for job in 0..N {
        let items = 1 + job % 17;
        let batch = [None, Some(1), Some(4)][job % 3];
        d.dispatch_detached("add", items, batch, Arc::clone(&total))
            .unwrap();
    }
    d.wait();
    let expected: usize = (0..N).map(|job| triangle(1 + job % 17)).sum();
    assert_eq!(total.load(Ordering::Relaxed), expected);
    assert_eq!(d.in_flight(), 0);
}

#[test]
fn many_round_trips() {
    // Dispatch one tiny job and wait for it, over and over: a lost wake-up
    // anywhere (actor or master) would hang here.
    let rounds = scaled(5_000, 10);
    for actors in [1, 3] {
        let mut d = Dispatcher::new(actors, worker).unwrap();
        let fired = Rc::new(Cell::new(0));
        for round in 0..rounds {
            let count = Rc::clone(&fired);
            d.dispatch(
                "probe",
                1 + round % 3,
                move |buf: Result<Vec<u64>, Error>| {
                    assert_eq!(buf.unwrap().len(), 1 + round % 3);
                    count.set(count.get() + 1);
                },
                None,
                Probe::new(1 + round % 3, 0),
            )
            .unwrap();
            d.wait();
            assert_eq!(fired.get(), round + 1);
        }
    }
}

#[test]
fn uneven_item_costs_complete_correctly() {
    let mut d = Dispatcher::new(4, worker).unwrap();
    let items = scaled(2_000, 20);
    for batch in [None, Some(1), Some(16)] {
        let got = Rc::new(Cell::new(false));
        let g = Rc::clone(&got);
        d.dispatch(
            "spin",
            items,
            move |buf: Result<Vec<(usize, u64)>, Error>| {
                let buf = buf.unwrap();
                assert_eq!(buf.len(), items);
                assert!(buf.iter().enumerate().all(|(i, (id, _))| i == *id));
                g.set(true);
            },
            batch,
            97_usize,
        )
        .unwrap();
        d.wait();
        assert!(got.get(), "batch {batch:?}");
    }
}

#[test]
fn repeated_create_and_destroy() {
    // Every actor's state holds a clone of `alive`: after each destroy or
    // drop, all of it must be gone (threads ended, nothing leaked).
    let alive = Arc::new(());
    let rounds = scaled(200, 3);
    for round in 0..rounds {
        let actors = 1 + round % 4;
        let state = Arc::clone(&alive);
        let mut d = Dispatcher::new(actors, move |k: &mut Kernel| {
            let mine = Arc::clone(&state);
            k.on("hold", move |id: usize, _: &()| {
                let _ = &mine;
                id
            });
            probe_worker(k);
        })
        .unwrap();
        match round % 4 {
            0 => {} // idle dispatcher
            1 => {
                // Work in flight at destroy.
                for _ in 0..5 {
                    d.dispatch("hold", 50, |_: Result<Vec<usize>, Error>| {}, None, ())
                        .unwrap();
                    d.dispatch_detached("hold", 50, Some(3), ()).unwrap();
                }
            }
            2 => {
                d.dispatch_deferred("hold", 10, |_: Result<Vec<usize>, Error>| {}, None, ())
                    .unwrap();
                d.wait();
            }
            _ => {
                let probe = Probe::new(30, 0);
                d.dispatch_detached("probe_detached", 30, Some(1), Arc::clone(&probe))
                    .unwrap();
                drop(d);
                probe.assert_each_ran(1, "drop drained the detached job");
                assert_eq!(Arc::strong_count(&alive), 1, "round {round}");
                continue;
            }
        }
        if round % 2 == 0 {
            d.destroy();
        } else {
            drop(d);
        }
        assert_eq!(Arc::strong_count(&alive), 1, "round {round}");
    }
}

#[test]
fn several_masters_on_several_threads() {
    let threads: Vec<_> = (0..3_u64)
        .map(|t| {
            std::thread::spawn(move || {
                let mut d = Dispatcher::new(2, worker).unwrap();
                let fired = Rc::new(Cell::new(0));
                let jobs = scaled(2_000, 5);
                for job in 0..jobs {
                    let items = 1 + job % 40;
                    let salt = t * 1_000_000 + job as u64;
                    let count = Rc::clone(&fired);
                    d.dispatch(
                        "probe",
                        items,
                        move |buf: Result<Vec<u64>, Error>| {
                            assert_probe_buffer(&buf.unwrap(), items, salt, "thread");
                            count.set(count.get() + 1);
                        },
                        Some(1 + job % 5),
                        Probe::new(items, salt),
                    )
                    .unwrap();
                    if job % 100 == 0 {
                        d.poll();
                    }
                }
                d.wait();
                assert_eq!(fired.get(), jobs);
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

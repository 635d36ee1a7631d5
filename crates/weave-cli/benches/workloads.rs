//! criterion benches of the `weave bench` workloads, for tracking weavekit's
//! speed from change to change (`cargo bench -p weave-cli`).
//!
//! They reuse `weave bench`'s contenders, so each sample is checked against
//! the serial results exactly as in `weave bench`; `weave bench` stays the
//! place for side-by-side ratios, criterion for "did this change make it
//! slower".

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use weave_cli::bench::contenders::{Contender, Contenders, Workload};
use weave_cli::workloads::Sizes;

/// Actors of the dispatcher and threads of the rayon pool.
fn actors() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Total time of `iters` jobs of `workload` on `contender`.
fn timed(
    contenders: &mut Contenders,
    workload: Workload,
    contender: Contender,
    iters: u64,
) -> Duration {
    (0..iters)
        .map(|_| contenders.sample(workload, contender, 1))
        .sum::<Result<Duration, _>>()
        .unwrap_or_else(|e| panic!("{}/{}: {e}", workload.name(), contender.name()))
}

/// One group per workload, one function per contender.
fn workloads(c: &mut Criterion) {
    let mut contenders = Contenders::new(actors(), Sizes::BENCH).expect("contenders start");
    for workload in Workload::ALL {
        let mut group = c.benchmark_group(workload.name());
        for &contender in workload.contenders() {
            group.bench_function(contender.name(), |b| {
                b.iter_custom(|iters| timed(&mut contenders, workload, contender, iters))
            });
        }
        group.finish();
    }
}

/// How long `dispatch` of a 1M-item job holds the calling thread, with the
/// actors asleep and with them still awake from a previous job.
fn master_blocked(c: &mut Criterion) {
    let mut contenders = Contenders::new(actors(), Sizes::BENCH).expect("contenders start");
    let mut group = c.benchmark_group("master_blocked");
    for (name, awake) in [("actors_asleep", false), ("actors_awake", true)] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| contenders.sample_blocked(awake))
                    .sum::<Result<Duration, _>>()
                    .unwrap_or_else(|e| panic!("master_blocked: {e}"))
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = workloads, master_blocked
}
criterion_main!(benches);

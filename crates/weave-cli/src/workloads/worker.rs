//! The weavekit side of the workloads: one worker entry that registers every
//! benchmark job on every actor.
//!
//! The sweep scene is built here, once per actor, so each actor owns its
//! private copy, as a Weave worker script owns its locals.

use std::hint::black_box;

use weavekit::Kernel;

use super::kernels::{fine, uneven};
use super::sweep::{Scene, SweepParams};

/// Job names registered by [`worker`].
pub mod jobs {
    /// Tracked: [`Scene::hits`](crate::workloads::sweep::Scene::hits), args
    /// [`SweepParams`](crate::workloads::sweep::SweepParams), result `u32`.
    pub const SWEEP: &str = "sweep";
    /// Tracked: [`fine`](crate::workloads::kernels::fine), args `()`, result `u64`.
    pub const FINE: &str = "fine";
    /// Tracked: [`uneven`](crate::workloads::kernels::uneven), args `()`, result `u64`.
    pub const UNEVEN: &str = "uneven";
    /// Detached: computes [`fine`](crate::workloads::kernels::fine) and drops it, args `()`.
    pub const TOUCH: &str = "touch";
    /// [`FINE`] as a typed key.
    pub const FINE_KEY: weavekit::Job<(), u64> = weavekit::Job::new(FINE);
}

/// The worker entry of the benchmark dispatcher: registers [`jobs`].
pub fn worker(kernel: &mut Kernel) {
    let scene = Scene::benchmark();
    kernel.on(jobs::SWEEP, move |id: usize, params: &SweepParams| {
        scene.hits(id, params)
    });
    kernel.on(jobs::FINE, |id: usize, _: &()| fine(id));
    kernel.on(jobs::UNEVEN, |id: usize, _: &()| uneven(id));
    kernel.on_detached(jobs::TOUCH, |id: usize, _: &()| {
        black_box(fine(id));
    });
}

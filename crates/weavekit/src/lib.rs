//! Weave for Rust: a data-parallel job dispatcher with per-actor state.
//!
//! A [`Dispatcher`], owned by one *master* thread, starts a pool of
//! *actors* (OS threads). Each actor runs a *worker entry* once, which
//! registers named handlers on that actor's own [`Kernel`]; whatever the
//! entry creates is private to the actor, so handlers need no locks.
//! [`Dispatcher::dispatch`] splits items `0..n` into batches that the actors
//! claim dynamically; results land in one buffer in item order, and the
//! callback fires once, on the master, in [`Dispatcher::poll`],
//! [`Dispatcher::wait`], [`Dispatcher::wait_timeout`] or when the dispatcher
//! is dropped. Dispatching never waits for the actors.
//!
//! This is a Rust re-implementation of Weave, a Roblox Parallel-Luau
//! library, with what the original lacks: errors at the call for bad
//! dispatches, handler panics reported to the callback instead of hanging
//! the job, load balancing, results written once into their final place.
//!
//! ```
//! use weavekit::{Dispatcher, Error, Kernel};
//!
//! fn worker(kernel: &mut Kernel) {
//!     // Per-actor state, built once on the actor's own thread.
//!     let table: Vec<u32> = (0..256).map(|i| i * i).collect();
//!     kernel.on("lookup", move |id: usize, offset: &u32| table[id % 256] + offset);
//! }
//!
//! let mut dispatcher = Dispatcher::new(2, worker)?;
//! dispatcher.dispatch(
//!     "lookup",
//!     10_000,
//!     |buf: Result<Vec<u32>, Error>| {
//!         let buf = buf.expect("no handler panicked");
//!         assert_eq!(buf.len(), 10_000);
//!         assert_eq!(buf[3], 9 + 1);
//!     },
//!     None,
//!     1_u32,
//! )?;
//! dispatcher.wait(); // fires the callback
//! # Ok::<(), Error>(())
//! ```
//!
//! # Modules, in the order data flows
//!
//! `builder` (the pool's options) → `dispatcher` (master side) → `registry`
//! (checks each dispatch) → `job` (claims, result slots, completion) → `pool`
//! (actor threads, queue), `sleep` (the idle/wake protocol) and `status`
//! (what each actor runs, for `destroy_timeout`) → `kernel` (handlers on the
//! actor) → back through `job` to the dispatcher's callbacks. `unwind`
//! catches user panics at every boundary and words their messages.

#![deny(
    missing_docs,
    unsafe_op_in_unsafe_fn,
    clippy::undocumented_unsafe_blocks
)]
#![warn(unreachable_pub)]

mod after;
mod buffer;
mod builder;
mod check;
mod dispatcher;
mod error;
mod future;
mod id;
mod job;
mod kernel;
mod key;
mod placement;
mod pool;
mod registry;
mod remote;
mod sleep;
mod spec;
mod status;
mod sync;
mod then;
mod trace;
mod unwind;

pub use builder::DispatcherBuilder;
pub use dispatcher::{DispatchHandle, Dispatcher};
pub use error::{Error, RunningBatch};
pub use future::JobFuture;
pub use id::{JobId, Progress};
pub use kernel::Kernel;
pub use key::{DispatchKey, Job, JobKey};
pub use placement::Placement;
pub use remote::{Remote, RemoteSpec};
pub use spec::JobSpec;

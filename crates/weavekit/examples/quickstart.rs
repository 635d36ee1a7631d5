//! The smallest complete program: a worker with per-actor state, a tracked
//! job, a detached job, a deferred job chained from a callback, and a game
//! loop that polls once per "frame" without ever blocking on the actors.
//!
//! `cargo run -p weavekit --example quickstart`

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use weavekit::{Dispatcher, Error, Kernel};

/// Runs once on each actor's own thread.
fn worker(kernel: &mut Kernel) {
    let actor = kernel.actor_index();
    let mut items_here = 0_u64; // this actor's own counter: no lock needed
    kernel.on("square", move |id: usize, offset: &u64| {
        items_here += 1;
        if items_here == 50_000 {
            println!("actor {actor}: 50,000 items so far");
        }
        (id as u64) * (id as u64) + offset
    });
    kernel.on_detached("log", move |id: usize, tag: &&str| {
        if id == 0 {
            println!("actor {actor}: detached job `{tag}` ran item 0");
        }
    });
}

fn main() -> Result<(), Error> {
    let mut dispatcher = Dispatcher::new(2, worker)?;
    let handle = dispatcher.handle();
    let done = Rc::new(Cell::new(false));

    let finished = Rc::clone(&done);
    dispatcher.dispatch(
        "square",
        100_000,
        move |buf: Result<Vec<u64>, Error>| {
            let buf = buf.expect("no handler panicked");
            println!("squares: buf[12] = {}, len = {}", buf[12], buf.len());
            // Chain a follow-up job from inside the callback.
            handle
                .dispatch_deferred(
                    "square",
                    10,
                    move |again: Result<Vec<u64>, Error>| {
                        println!("chained: {:?}", again.expect("no panic"));
                        finished.set(true);
                    },
                    Some(5),
                    1_u64,
                )
                .expect("`square` takes u64 and returns u64");
        },
        None,
        0_u64,
    )?;
    dispatcher.dispatch_detached("log", 1_000, None, "frame")?;

    // A game loop: poll once per frame; it never waits for the actors.
    let mut frames = 0;
    while !done.get() {
        frames += 1;
        dispatcher.poll();
        std::thread::sleep(Duration::from_millis(1));
    }
    println!("done after {frames} frames");
    dispatcher.destroy();
    Ok(())
}

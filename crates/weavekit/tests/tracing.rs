//! With the `tracing` feature, every job opens a `weave.job` span and every
//! claimed range a `weave.batch` span whose parent is its job's span.
#![cfg(feature = "tracing")]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};
use weavekit::{Dispatcher, Error, Kernel};

/// A span as the subscriber saw it created.
#[derive(Debug, Clone)]
struct Seen {
    id: u64,
    name: &'static str,
    parent: Option<u64>,
}

/// Records every span's name and explicit parent.
#[derive(Default)]
struct Recorder {
    next: AtomicU64,
    spans: Mutex<Vec<Seen>>,
}

/// The subscriber installed globally: spans are made on actor threads.
struct Shared(Arc<Recorder>);

impl Subscriber for Shared {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let id = self.0.next.fetch_add(1, Ordering::SeqCst) + 1;
        self.0.spans.lock().unwrap().push(Seen {
            id,
            name: attrs.metadata().name(),
            parent: attrs.parent().map(Id::into_u64),
        });
        Id::from_u64(id)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, _: &Event<'_>) {}
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[test]
fn jobs_and_batches_make_nested_spans() {
    let recorder = Arc::new(Recorder::default());
    tracing::subscriber::set_global_default(Shared(Arc::clone(&recorder))).unwrap();

    let mut dispatcher = Dispatcher::new(2, |kernel: &mut Kernel| {
        kernel.on("id", |id: usize, _: &()| id);
    })
    .unwrap();
    dispatcher
        .dispatch(
            "id",
            10,
            |buf: Result<Vec<usize>, Error>| assert_eq!(buf.unwrap().len(), 10),
            Some(2),
            (),
        )
        .unwrap();
    dispatcher.wait();
    drop(dispatcher);

    let spans = recorder.spans.lock().unwrap().clone();
    let jobs: Vec<&Seen> = spans.iter().filter(|s| s.name == "weave.job").collect();
    let batches: Vec<&Seen> = spans.iter().filter(|s| s.name == "weave.batch").collect();
    assert_eq!(jobs.len(), 1, "{spans:?}");
    assert_eq!(batches.len(), 5, "{spans:?}");
    assert!(
        batches.iter().all(|b| b.parent == Some(jobs[0].id)),
        "{spans:?}"
    );
}

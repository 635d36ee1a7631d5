//! Where `print`, `warn` and error reports go: the process's stdout and
//! stderr, or an in-memory transcript (for tests and embedders).
//!
//! Actors print from their own threads, so the sink is `Send + Sync` and
//! writes whole lines under a lock: lines from different actors never mix.

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

/// A captured transcript: everything printed to each stream, in order.
#[derive(Debug, Default)]
pub(crate) struct Transcript {
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

/// The output sink shared by the master and every actor of one run.
#[derive(Debug, Clone)]
pub(crate) enum Output {
    /// The process's own stdout and stderr.
    Inherit,
    /// An in-memory transcript.
    Capture(Arc<Mutex<Transcript>>),
}

impl Output {
    /// Writes one line to stdout (`print`).
    pub(crate) fn out(&self, line: &str) {
        match self {
            Output::Inherit => {
                let mut stdout = std::io::stdout().lock();
                // A closed stdout (e.g. `weave run x | head`) is not the
                // script's error: drop the line.
                let _ = writeln!(stdout, "{line}");
            }
            Output::Capture(transcript) => {
                let mut transcript = transcript.lock().unwrap_or_else(PoisonError::into_inner);
                transcript.stdout.push_str(line);
                transcript.stdout.push('\n');
            }
        }
    }

    /// Writes one line (possibly several, for tracebacks) to stderr.
    pub(crate) fn err(&self, line: &str) {
        match self {
            Output::Inherit => {
                let mut stderr = std::io::stderr().lock();
                let _ = writeln!(stderr, "{line}");
            }
            Output::Capture(transcript) => {
                let mut transcript = transcript.lock().unwrap_or_else(PoisonError::into_inner);
                transcript.stderr.push_str(line);
                transcript.stderr.push('\n');
            }
        }
    }

    /// Makes sure everything written so far has reached its destination.
    pub(crate) fn flush(&self) {
        if let Output::Inherit = self {
            let _ = std::io::stdout().flush();
            let _ = std::io::stderr().flush();
        }
    }
}

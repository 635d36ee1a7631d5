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
    /// Writes one line to stdout (`print`). The bytes go out as they are:
    /// Luau strings need not be UTF-8.
    pub(crate) fn out(&self, line: impl AsRef<[u8]>) {
        match self {
            // A closed stdout (e.g. `weave run x | head`) is not the
            // script's error: drop the line.
            Output::Inherit => write_line(&mut std::io::stdout().lock(), line.as_ref()),
            Output::Capture(transcript) => {
                let mut transcript = transcript.lock().unwrap_or_else(PoisonError::into_inner);
                push_line(&mut transcript.stdout, line.as_ref());
            }
        }
    }

    /// Writes one line (possibly several, for tracebacks) to stderr.
    pub(crate) fn err(&self, line: impl AsRef<[u8]>) {
        match self {
            Output::Inherit => write_line(&mut std::io::stderr().lock(), line.as_ref()),
            Output::Capture(transcript) => {
                let mut transcript = transcript.lock().unwrap_or_else(PoisonError::into_inner);
                push_line(&mut transcript.stderr, line.as_ref());
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

/// Writes `line` and a newline, ignoring a closed stream.
fn write_line(stream: &mut impl Write, line: &[u8]) {
    let _ = stream
        .write_all(line)
        .and_then(|()| stream.write_all(b"\n"));
}

/// Appends `line` and a newline to a transcript (which is text: bytes that
/// are not UTF-8 show as U+FFFD there, and only there).
fn push_line(transcript: &mut String, line: &[u8]) {
    transcript.push_str(&String::from_utf8_lossy(line));
    transcript.push('\n');
}

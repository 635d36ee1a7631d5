//! Why `weave bench` can fail.

use std::fmt;
use std::path::PathBuf;

/// An error of `weave bench`: a contender failed or cheated, or an output
/// could not be written.
#[derive(Debug)]
#[non_exhaustive]
pub enum BenchError {
    /// The dispatcher refused a call or a job failed.
    Weave(weavekit::Error),
    /// A tracked job finished without its callback firing.
    NoCallback {
        /// The job.
        job: &'static str,
    },
    /// A contender's results differ from the serial run's.
    Checksum {
        /// The workload.
        workload: &'static str,
        /// The contender.
        contender: &'static str,
        /// The serial run's checksum.
        expected: u64,
        /// The contender's checksum.
        found: u64,
    },
    /// The rayon thread pool could not be built.
    Rayon(String),
    /// An output file could not be written.
    Output {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The trace subscriber could not be installed.
    Trace(String),
    /// The async runtime could not be built, or a task or channel of the
    /// async-pool row failed.
    Async(String),
}

impl fmt::Display for BenchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BenchError::Weave(error) => write!(f, "weavekit: {error}"),
            BenchError::NoCallback { job } => {
                write!(f, "job `{job}` finished but its callback never fired")
            }
            BenchError::Checksum {
                workload,
                contender,
                expected,
                found,
            } => write!(
                f,
                "{contender} computed wrong results on `{workload}` \
                 (checksum {found:#018x}, serial gives {expected:#018x})"
            ),
            BenchError::Rayon(message) => write!(f, "rayon thread pool: {message}"),
            BenchError::Output { path, message } => {
                write!(f, "cannot write {}: {message}", path.display())
            }
            BenchError::Trace(message) => write!(f, "trace: {message}"),
            BenchError::Async(message) => write!(f, "async pool: {message}"),
        }
    }
}

impl std::error::Error for BenchError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BenchError::Weave(error) => Some(error),
            _ => None,
        }
    }
}

impl From<weavekit::Error> for BenchError {
    fn from(error: weavekit::Error) -> Self {
        BenchError::Weave(error)
    }
}

impl BenchError {
    /// An [`BenchError::Output`] error for `path`.
    pub fn output(path: &std::path::Path, error: impl fmt::Display) -> Self {
        BenchError::Output {
            path: path.to_path_buf(),
            message: error.to_string(),
        }
    }
}

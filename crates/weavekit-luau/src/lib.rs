//! The Luau host of weavekit: runs Weave's worker and master scripts outside
//! Roblox, with one Luau VM per actor on the core's actor threads.
//!
//! The master script runs on the calling thread, in its own VM, under a
//! Roblox-like task scheduler (`task.wait`, `task.defer`, `task.spawn`,
//! `task.delay`, `task.cancel`). `weave.dispatcher.new(n, "./worker.luau")`
//! starts a [`weavekit::Dispatcher`] with `n` actors; each actor creates its
//! own VM on its own thread and runs the worker script there, which
//! registers handlers with `weave.kernel.new(script:GetActor())`. Dispatches
//! encode their extra arguments once, actors decode them once per job, and
//! callbacks fire on the master between resumptions with `(buf, err)`.
//!
//! ```no_run
//! use weavekit_luau::Runner;
//!
//! let report = Runner::new().run("examples/luau/sensor_sweep/master.luau", &[]);
//! if !report.is_success() {
//!     // Each uncaught error was already printed to stderr, with its traceback.
//!     std::process::exit(1);
//! }
//! ```
//!
//! # Modules
//!
//! - `master`: the master script and its scheduler loop (`scheduler` holds
//!   the queues it drives);
//! - `dispatcher`: `weave.dispatcher` on top of the core `Dispatcher`;
//! - `actor`: the worker entry, one VM per actor, `weave.kernel`;
//! - `value`: what crosses between VMs, encoded once, decoded per job
//!   (`value/raw.rs` reads and builds tables through Luau's C API: the
//!   crate's only `unsafe` code);
//! - `vm`: what every VM has (globals, `--!native`);
//! - `require`: Luau's standard require-by-string, with the host's messages;
//! - `stdlib`: Lune's standard library (`@lune/fs`, ...), in every VM;
//! - `background`: the executor for the futures Lune's functions spawn;
//! - `output`: where `print` and error reports go;
//! - `primitive`: the host's Rust primitives and their error type.

#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]
#![warn(unreachable_pub)]

mod actor;
mod background;
mod dispatcher;
mod limits;
mod master;
mod output;
mod primitive;
mod require;
mod scheduler;
mod stdlib;
mod value;
mod vm;

use std::panic::{self, AssertUnwindSafe};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use output::{Output, Transcript};

pub use limits::default_memory_limit;

/// The default time a worker script has to call `kernel:Ready()` and end.
pub const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs master scripts. Cheap to create; one `Runner` may run many scripts,
/// one after another or from several threads at once.
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
/// use weavekit_luau::Runner;
///
/// let report = Runner::new()
///     .ready_timeout(Duration::from_secs(2))
///     .capture_output(true)
///     .run("master.luau", &["fast".to_owned()]);
/// println!("the script printed: {}", report.stdout());
/// ```
#[derive(Debug, Clone)]
pub struct Runner {
    ready_timeout: Duration,
    job_timeout: Option<Duration>,
    memory_limit: usize,
    capture: bool,
}

impl Default for Runner {
    fn default() -> Runner {
        Runner::new()
    }
}

impl Runner {
    /// A runner that prints to the process's stdout and stderr, with the
    /// default ready timeout ([`DEFAULT_READY_TIMEOUT`]), no job timeout,
    /// and the default memory limit ([`default_memory_limit`]).
    pub fn new() -> Runner {
        Runner {
            ready_timeout: DEFAULT_READY_TIMEOUT,
            job_timeout: None,
            memory_limit: default_memory_limit(),
            capture: false,
        }
    }

    /// How long one handler item may run: past it the item is stopped and
    /// fails its job (the callback's `err` names the job, the item and the
    /// timeout), and the actor serves the next item. `None` (the default)
    /// lets items run for ever. A script may override it per dispatcher
    /// with `weave.dispatcher.new(n, path, { jobTimeout = seconds })`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use weavekit_luau::Runner;
    ///
    /// let runner = Runner::new().job_timeout(Some(Duration::from_secs(30)));
    /// # let _ = runner;
    /// ```
    #[must_use]
    pub fn job_timeout(mut self, timeout: Option<Duration>) -> Runner {
        self.job_timeout = timeout;
        self
    }

    /// The most memory each Luau VM (the master's and every actor's) may
    /// hold, in bytes. Past it an allocation raises Luau's catchable "not
    /// enough memory" error in that VM, and a tracked job whose results
    /// would take more than the master's limit fails. Limits below 1 MiB
    /// count as 1 MiB. A script may override it for a dispatcher's actors
    /// with `weave.dispatcher.new(n, path, { memoryLimit = bytes })`.
    ///
    /// # Examples
    ///
    /// ```
    /// use weavekit_luau::Runner;
    ///
    /// let runner = Runner::new().memory_limit(512 << 20);
    /// # let _ = runner;
    /// ```
    #[must_use]
    pub fn memory_limit(mut self, bytes: usize) -> Runner {
        self.memory_limit = bytes.max(limits::MIN_MEMORY_LIMIT);
        self
    }

    /// How long each actor's worker script may run before it must have
    /// called `kernel:Ready()` (a script may override it per dispatcher with
    /// `weave.dispatcher.new(n, path, { readyTimeout = seconds })`).
    #[must_use]
    pub fn ready_timeout(mut self, timeout: Duration) -> Runner {
        self.ready_timeout = timeout;
        self
    }

    /// With `true`, `print`, `warn` and error reports of the master and the
    /// actors go to the [`Report`] instead of stdout and stderr.
    #[must_use]
    pub fn capture_output(mut self, capture: bool) -> Runner {
        self.capture = capture;
        self
    }

    /// Runs the master script at `script`, with `args` as its `...` (and as
    /// `process.args` on the master and every actor), until the script,
    /// every task and every job it started have finished, or until it calls
    /// `process.exit` (see [`Report::exit_code`]).
    ///
    /// Never panics: a script that cannot be read or compiled, and every
    /// uncaught error (in the script, a task, a callback or a detached
    /// handler), is reported in the returned [`Report`] (and printed as it
    /// happens, unless output is captured).
    pub fn run(&self, script: impl AsRef<Path>, args: &[String]) -> Report {
        let transcript = Arc::new(Mutex::new(Transcript::default()));
        let output = if self.capture {
            Output::Capture(Arc::clone(&transcript))
        } else {
            Output::Inherit
        };
        let config = vm::Config {
            output: output.clone(),
            ready_timeout: self.ready_timeout,
            job_timeout: self.job_timeout,
            memory_limit: self.memory_limit,
            args: args.into(),
        };
        let script = script.as_ref();
        let (errors, exit_code) =
            match panic::catch_unwind(AssertUnwindSafe(|| master::run(config, script))) {
                Ok(ended) => (ended.errors, ended.exit_code),
                Err(payload) => {
                    let message = payload
                        .downcast_ref::<&str>()
                        .map(|s| (*s).to_owned())
                        .or_else(|| payload.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "unknown panic".to_owned());
                    let message = format!("weave: internal error in the Luau host: {message}");
                    output.err(&message);
                    (vec![message], None)
                }
            };
        let transcript =
            std::mem::take(&mut *transcript.lock().unwrap_or_else(PoisonError::into_inner));
        Report {
            errors,
            exit_code,
            stdout: transcript.stdout,
            stderr: transcript.stderr,
        }
    }
}

/// Runs a master script with the default [`Runner`]: output to stdout and
/// stderr. See [`Runner::run`].
pub fn run(script: impl AsRef<Path>, args: &[String]) -> Report {
    Runner::new().run(script, args)
}

/// Writes type definitions for luau-lsp into `dir` (created if needed):
/// `weave.luau` (the `@weave` module), `globals.d.luau` (`script`, `task`,
/// `warn`: a definitions file) and `lune/<module>.luau` (Lune's own
/// definitions of each standard-library module). Returns the files written.
///
/// Point `.luaurc` aliases at them: `"weave": "<dir>/weave"` and
/// `"lune": "<dir>/lune/"`; `weave run` itself ignores those two aliases
/// (its built-in modules win), so the same `.luaurc` serves both.
///
/// # Errors
///
/// Any I/O error creating `dir` or writing a file.
///
/// # Examples
///
/// ```
/// let dir = std::env::temp_dir().join("weave-typedefs-doc");
/// let files = weavekit_luau::write_typedefs(&dir)?;
/// assert!(files.iter().any(|file| file.ends_with("lune/fs.luau")));
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn write_typedefs(dir: impl AsRef<Path>) -> std::io::Result<Vec<std::path::PathBuf>> {
    stdlib::write_typedefs(dir.as_ref())
}

/// What a run left behind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    errors: Vec<String>,
    exit_code: Option<u8>,
    stdout: String,
    stderr: String,
}

impl Report {
    /// Whether the run ended without an uncaught error.
    pub fn is_success(&self) -> bool {
        self.errors.is_empty()
    }

    /// The code the script passed to `process.exit`, if it called it.
    ///
    /// `weave run` exits with this code when there is one (whatever errors
    /// went uncaught before), else with 0 on success and 1 otherwise.
    ///
    /// ```no_run
    /// let report = weavekit_luau::Runner::new().run("master.luau", &[]);
    /// let status = report.exit_code().unwrap_or(if report.is_success() { 0 } else { 1 });
    /// std::process::exit(i32::from(status));
    /// ```
    pub fn exit_code(&self) -> Option<u8> {
        self.exit_code
    }

    /// Every uncaught error, in order: message and traceback.
    pub fn errors(&self) -> &[String] {
        &self.errors
    }

    /// What `print` wrote, when output was captured (else empty).
    pub fn stdout(&self) -> &str {
        &self.stdout
    }

    /// What `warn` and the error reports wrote, when output was captured
    /// (else empty).
    pub fn stderr(&self) -> &str {
        &self.stderr
    }
}

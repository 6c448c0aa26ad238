//! Where `serve`'s log lines go on their way to stdout: gathered for a moment
//! and written together by one thread, so a request does not pay a write of its
//! own (a `write` per line was about a fiftieth of the bot's CPU per request
//! under load). Lines keep their order; none is held past `GATHER` nor lost at
//! an orderly exit, because dropping the `Flushing` guard writes what is left.
//! Without a running writer (other subcommands, unit tests) a line is written
//! at once.

use std::io::Write as _;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long the writer lets lines gather after the first one arrives.
const GATHER: Duration = Duration::from_millis(2);

/// Past this many bytes waiting (stdout blocked, a flood of lines), whoever
/// adds a line writes everything itself: memory stays bounded and the caller
/// feels the back-pressure as it did before.
const MOST_WAITING: usize = 1 << 20;

struct Waiting {
    lines: Vec<u8>,
    /// A writer thread is taking lines.
    running: bool,
    /// The guard is dropped: write what is left and end.
    stop: bool,
}

static WAITING: Mutex<Waiting> = Mutex::new(Waiting {
    lines: Vec::new(),
    running: false,
    stop: false,
});
static ARRIVED: Condvar = Condvar::new();

fn waiting() -> MutexGuard<'static, Waiting> {
    WAITING.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Queues one line (with its newline) for stdout.
pub(super) fn line(bytes: &[u8]) {
    let mut w = waiting();
    if !w.running {
        drop(w);
        let _ = std::io::stdout().lock().write_all(bytes);
        return;
    }
    let was_empty = w.lines.is_empty();
    w.lines.extend_from_slice(bytes);
    if w.lines.len() >= MOST_WAITING {
        // Written under the lock, so no later line overtakes these.
        let _ = std::io::stdout().lock().write_all(&w.lines);
        w.lines.clear();
        return;
    }
    drop(w);
    // Only the first line of a gathering wakes the writer, after the lock is
    // let go so that it does not wake only to wait for it.
    if was_empty {
        ARRIVED.notify_one();
    }
}

/// Writes the lines still waiting and stops the writer when dropped.
#[must_use = "lines are written until this is dropped; dropping it flushes them"]
pub struct Flushing(Option<JoinHandle<()>>);

impl Flushing {
    /// For output that is written line by line: nothing to flush.
    pub(super) fn none() -> Self {
        Self(None)
    }
}

/// Starts the writer thread. A thread that cannot be started leaves lines
/// written one by one, as before.
pub(super) fn start() -> Flushing {
    let mut w = waiting();
    if w.running {
        return Flushing(None);
    }
    let spawned = std::thread::Builder::new()
        .name("log-writer".into())
        .spawn(write_loop);
    match spawned {
        Ok(handle) => {
            w.running = true;
            w.stop = false;
            Flushing(Some(handle))
        }
        Err(_) => Flushing(None),
    }
}

fn write_loop() {
    let mut spare = Vec::new();
    loop {
        let mut w = waiting();
        while w.lines.is_empty() && !w.stop {
            w = ARRIVED.wait(w).unwrap_or_else(PoisonError::into_inner);
        }
        if w.lines.is_empty() {
            w.running = false;
            return;
        }
        if !w.stop {
            drop(w);
            std::thread::sleep(GATHER);
            w = waiting();
        }
        std::mem::swap(&mut w.lines, &mut spare);
        drop(w);
        let _ = std::io::stdout().lock().write_all(&spare);
        spare.clear();
    }
}

impl Drop for Flushing {
    fn drop(&mut self) {
        let Some(handle) = self.0.take() else {
            return;
        };
        waiting().stop = true;
        ARRIVED.notify_one();
        let _ = handle.join();
    }
}

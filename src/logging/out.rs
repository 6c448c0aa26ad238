//! Where `serve`'s log lines go on their way to stdout: gathered for a moment
//! and written together, so a request does not pay a write of its own (a
//! `write` per line was about a fiftieth of the bot's CPU per request under
//! load). A task on the runtime writes them, not a thread of its own: waking a
//! thread for each batch cost about what the batching saved. Every write
//! happens under one lock, so lines keep their order; none waits longer than
//! `GATHER`, and none is lost at an orderly exit, because dropping the
//! `Flushing` guard writes what is left. Without the task (other subcommands,
//! unit tests) a line is written at once.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::sync::Notify;

/// How long lines gather after the first one arrives.
const GATHER: Duration = Duration::from_millis(10);

/// Past this many bytes waiting (a flood of lines, a runtime too busy to run
/// the task), whoever adds a line writes everything itself: memory stays
/// bounded and the caller feels the back-pressure it did before.
const MOST_WAITING: usize = 1 << 20;

struct Waiting {
    lines: Vec<u8>,
    /// The task is taking lines.
    gathering: bool,
}

static WAITING: Mutex<Waiting> = Mutex::new(Waiting {
    lines: Vec::new(),
    gathering: false,
});
static ARRIVED: Notify = Notify::const_new();

fn waiting() -> MutexGuard<'static, Waiting> {
    WAITING.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Writes `bytes` to stdout; the caller holds `WAITING`, which orders writes.
fn write(bytes: &[u8]) {
    if bytes.is_empty() {
        return;
    }
    #[cfg(test)]
    tests::WRITTEN
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .extend_from_slice(bytes);
    #[cfg(not(test))]
    {
        use std::io::Write as _;
        let _ = std::io::stdout().lock().write_all(bytes);
    }
}

/// Queues one line (with its newline) for stdout.
pub(super) fn line(bytes: &[u8]) {
    let mut w = waiting();
    if !w.gathering {
        write(bytes);
        return;
    }
    let was_empty = w.lines.is_empty();
    w.lines.extend_from_slice(bytes);
    if w.lines.len() >= MOST_WAITING {
        write(&w.lines);
        w.lines.clear();
        return;
    }
    drop(w);
    // Only the first line of a gathering wakes the task.
    if was_empty {
        ARRIVED.notify_one();
    }
}

/// Writes the lines still waiting, and writes later ones at once, when dropped.
#[must_use = "lines are gathered until this is dropped; dropping it writes them"]
pub struct Flushing(bool);

impl Flushing {
    /// For output that is written line by line: nothing to flush.
    pub(super) fn none() -> Self {
        Self(false)
    }
}

/// Starts gathering on the current runtime; outside one, lines are written
/// one by one.
pub(super) fn start() -> Flushing {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return Flushing(false);
    };
    {
        let mut w = waiting();
        if w.gathering {
            return Flushing(false);
        }
        w.gathering = true;
    }
    runtime.spawn(async {
        loop {
            ARRIVED.notified().await;
            tokio::time::sleep(GATHER).await;
            let mut w = waiting();
            if !w.gathering {
                return;
            }
            write(&w.lines);
            w.lines.clear();
        }
    });
    Flushing(true)
}

impl Drop for Flushing {
    fn drop(&mut self) {
        if !self.0 {
            return;
        }
        let mut w = waiting();
        w.gathering = false;
        write(&w.lines);
        w.lines = Vec::new();
        drop(w);
        // Ends the task if it waits for a line that will not come.
        ARRIVED.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `write` would have put on stdout, in order.
    pub(super) static WRITTEN: Mutex<Vec<u8>> = Mutex::new(Vec::new());

    fn written() -> String {
        String::from_utf8(WRITTEN.lock().unwrap().clone()).unwrap()
    }

    /// Lines wait for the gathering, come out together and in order once it
    /// has passed, and the guard writes what is still waiting when dropped,
    /// before the task would have: nothing is lost at exit.
    #[tokio::test(start_paused = true)]
    async fn lines_are_written_in_order_after_the_gathering_and_the_guard_writes_the_rest() {
        let guard = start();
        line(b"one\n");
        line(b"two\n");
        tokio::task::yield_now().await;
        assert_eq!(written(), "", "nothing before the gathering has passed");
        tokio::time::sleep(GATHER + Duration::from_millis(1)).await;
        assert_eq!(written(), "one\ntwo\n");

        line(b"three\n");
        tokio::task::yield_now().await;
        assert_eq!(written(), "one\ntwo\n", "three waits for its gathering");
        drop(guard);
        assert_eq!(
            written(),
            "one\ntwo\nthree\n",
            "the guard wrote what waited"
        );
        line(b"four\n");
        assert_eq!(
            written(),
            "one\ntwo\nthree\nfour\n",
            "then lines go at once"
        );
    }
}

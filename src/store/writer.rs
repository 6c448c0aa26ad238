//! The audit writer: one task that takes the rows every request queues and
//! writes them in batches, so a request never waits for the database to
//! record it. `Store::flush` waits for what was queued before it.

use super::{AuditWrite, StoreBackend, StoreError};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::time::Instant;

pub(super) enum WriterMsg {
    Write(Box<AuditWrite>),
    Flush(oneshot::Sender<()>),
}

/// Most rows one transaction takes; larger bursts become several transactions.
const BATCH: usize = 512;

/// Under load, at most one commit this often. Each commit writes every page it
/// touched (the table and its indexes) to the write-ahead log again, so a
/// commit for every row or two made SQLite most of the audit's cost; rows
/// arriving meanwhile wait for the next one. After a quiet spell the first row
/// is written at once, a flush (shutdown, tests) never waits, and a row is
/// durable well within the second the README promises. At 10 ms a saturated
/// bot still spent about 2 % of its CPU committing and checkpointing; 50 ms
/// makes batches of a few hundred rows (under `BATCH`).
const LINGER: Duration = Duration::from_millis(50);

/// Where batches go: the store, or a test's recorder.
#[async_trait::async_trait]
pub(super) trait Batches: Send + Sync {
    async fn write(&self, batch: &[AuditWrite]) -> Result<(), StoreError>;
}

#[async_trait::async_trait]
impl<T: StoreBackend + ?Sized> Batches for T {
    async fn write(&self, batch: &[AuditWrite]) -> Result<(), StoreError> {
        self.write_audit(batch).await
    }
}

pub(super) async fn write_loop<W: Batches + ?Sized>(
    db: Arc<W>,
    mut rx: mpsc::UnboundedReceiver<WriterMsg>,
    flush_wanted: Arc<Notify>,
    backlog: Arc<AtomicUsize>,
) {
    let mut batch: Vec<AuditWrite> = Vec::with_capacity(BATCH);
    let mut acks: Vec<oneshot::Sender<()>> = Vec::new();
    let mut last_commit: Option<Instant> = None;
    while let Some(first) = rx.recv().await {
        take(first, &mut batch, &mut acks);
        let now = Instant::now();
        let deadline = last_commit.map_or(now, |t| (t + LINGER).max(now));
        // Take whatever else is queued, then what comes until the next commit is due.
        loop {
            while batch.len() < BATCH {
                match rx.try_recv() {
                    Ok(msg) => take(msg, &mut batch, &mut acks),
                    Err(_) => break,
                }
            }
            if !acks.is_empty() || batch.len() >= BATCH || Instant::now() >= deadline {
                break;
            }
            // Rows that come meanwhile wait in the channel without waking this
            // task (one wake-up per row was a timer set and cancelled per
            // request); only a flush cuts the wait short. A stale wake-up from a
            // flush already served costs one more pass round this loop.
            tokio::select! {
                () = flush_wanted.notified() => {}
                () = tokio::time::sleep_until(deadline) => {}
            }
        }
        if !batch.is_empty() {
            let mut attempt = 0;
            loop {
                match db.write(&batch).await {
                    Ok(()) => break,
                    Err(e) if attempt < 5 => {
                        attempt += 1;
                        tracing::warn!(error = %e, attempt, "audit write failed; retrying");
                        tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
                    }
                    Err(e) => {
                        // The structured log line of each request still holds the row.
                        tracing::error!(error = %e, rows = batch.len(), "audit rows could not be stored");
                        break;
                    }
                }
            }
            backlog.fetch_sub(batch.len(), Ordering::Relaxed);
            batch.clear();
            last_commit = Some(Instant::now());
        }
        for ack in acks.drain(..) {
            let _ = ack.send(());
        }
    }
}

/// Asks the writer for everything queued so far; the receiver answers once
/// it is written. `None` when the writer has ended.
pub(super) fn ask_flush(
    tx: &mpsc::UnboundedSender<WriterMsg>,
    flush_wanted: &Notify,
) -> Option<oneshot::Receiver<()>> {
    let (ack, done) = oneshot::channel();
    tx.send(WriterMsg::Flush(ack)).ok()?;
    // Cuts short the wait between commits: the writer does not watch the
    // channel while it waits.
    flush_wanted.notify_one();
    Some(done)
}

fn take(msg: WriterMsg, batch: &mut Vec<AuditWrite>, acks: &mut Vec<oneshot::Sender<()>>) {
    match msg {
        WriterMsg::Write(w) => batch.push(*w),
        WriterMsg::Flush(ack) => acks.push(ack),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::OutcomeKind;
    use std::sync::Mutex;

    /// Records each batch's size and when it was written.
    #[derive(Default)]
    struct Recorder(Mutex<Vec<(Instant, usize)>>);

    #[async_trait::async_trait]
    impl Batches for Recorder {
        async fn write(&self, batch: &[AuditWrite]) -> Result<(), StoreError> {
            self.0.lock().unwrap().push((Instant::now(), batch.len()));
            Ok(())
        }
    }

    fn row() -> WriterMsg {
        WriterMsg::Write(Box::new(AuditWrite::Settle {
            request_id: "r".into(),
            outcome: OutcomeKind::Interrupted.into(),
        }))
    }

    /// The paused clock moves only when every task waits, so the times below
    /// are exact: a first row is written at once, a steady stream of rows is
    /// committed at most every `LINGER`, and a flush does not wait for it.
    #[tokio::test(start_paused = true)]
    async fn rows_are_committed_at_most_every_linger_and_a_flush_never_waits() {
        let recorder = Arc::new(Recorder::default());
        let (tx, rx) = mpsc::unbounded_channel();
        let flush_wanted = Arc::new(Notify::new());
        let backlog = Arc::new(AtomicUsize::new(0));
        tokio::spawn(write_loop(
            recorder.clone(),
            rx,
            flush_wanted.clone(),
            backlog.clone(),
        ));
        let start = Instant::now();
        // A row every millisecond for five lingers.
        let rows = 5 * LINGER.as_millis() as usize;
        for _ in 0..rows {
            backlog.fetch_add(1, Ordering::Relaxed);
            tx.send(row()).unwrap();
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        tokio::time::sleep(LINGER).await;
        let written = recorder.0.lock().unwrap().clone();
        assert_eq!(
            written[0],
            (start, 1),
            "the first row after a quiet spell waits for nothing"
        );
        assert_eq!(written.iter().map(|(_, n)| n).sum::<usize>(), rows);
        assert!(
            written.len() <= 7,
            "a commit per linger at most: {written:?}"
        );
        for pair in written.windows(2) {
            assert!(pair[1].0 - pair[0].0 >= LINGER, "{written:?}");
        }
        assert_eq!(backlog.load(Ordering::Relaxed), 0);

        // Right after a commit, a row: the writer takes it and waits for the
        // next commit, not watching the channel. A flush still ends the wait.
        tx.send(row()).unwrap();
        tokio::time::sleep(Duration::from_millis(1)).await;
        let before = recorder.0.lock().unwrap().len();
        tx.send(row()).unwrap();
        tokio::task::yield_now().await;
        assert_eq!(recorder.0.lock().unwrap().len(), before, "the row waits");
        let done = ask_flush(&tx, &flush_wanted).unwrap();
        let asked = Instant::now();
        done.await.unwrap();
        assert_eq!(Instant::now(), asked, "the flush was answered at once");
        let written = recorder.0.lock().unwrap().clone();
        assert_eq!(written.len(), before + 1, "{written:?}");
        assert_eq!(written.last().unwrap(), &(asked, 1));
    }
}

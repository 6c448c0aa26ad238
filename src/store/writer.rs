//! The audit writer: one task that takes the rows every request queues and
//! writes them in batches, so a request never waits for the database to
//! record it. `Store::flush` waits for what was queued before it.

use super::{AuditWrite, StoreBackend};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
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
/// durable well within the second the README promises.
const LINGER: Duration = Duration::from_millis(10);

pub(super) async fn write_loop(
    db: Arc<dyn StoreBackend>,
    mut rx: mpsc::UnboundedReceiver<WriterMsg>,
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
            tokio::select! {
                msg = rx.recv() => match msg {
                    Some(msg) => take(msg, &mut batch, &mut acks),
                    None => break,
                },
                () = tokio::time::sleep_until(deadline) => break,
            }
        }
        if !batch.is_empty() {
            let mut attempt = 0;
            loop {
                match db.write_audit(&batch).await {
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

fn take(msg: WriterMsg, batch: &mut Vec<AuditWrite>, acks: &mut Vec<oneshot::Sender<()>>) {
    match msg {
        WriterMsg::Write(w) => batch.push(*w),
        WriterMsg::Flush(ack) => acks.push(ack),
    }
}

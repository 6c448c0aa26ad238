//! The audit writer: one task that takes the rows every request queues and
//! writes them in batches, so a request never waits for the database to
//! record it. `Store::flush` waits for what was queued before it.

use super::{AuditWrite, StoreBackend};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

pub(super) enum WriterMsg {
    Write(Box<AuditWrite>),
    Flush(oneshot::Sender<()>),
}

/// Most rows one transaction takes; larger bursts become several transactions.
const BATCH: usize = 512;

pub(super) async fn write_loop(
    db: Arc<dyn StoreBackend>,
    mut rx: mpsc::UnboundedReceiver<WriterMsg>,
    backlog: Arc<AtomicUsize>,
) {
    let mut batch: Vec<AuditWrite> = Vec::with_capacity(BATCH);
    let mut acks: Vec<oneshot::Sender<()>> = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        // Take whatever else is already queued: under load rows share a transaction.
        while let Some(msg) = next.take() {
            match msg {
                WriterMsg::Write(w) => batch.push(*w),
                WriterMsg::Flush(ack) => acks.push(ack),
            }
            if batch.len() < BATCH {
                next = rx.try_recv().ok();
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
        }
        for ack in acks.drain(..) {
            let _ = ack.send(());
        }
    }
}

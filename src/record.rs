//! The record step: every request leaves one audit row, one structured log line
//! and one metric, written together so the three never disagree.

use crate::store::{AuditRecord, Store};
use std::time::Duration;

/// Logs, counts and queues the row; never waits for the disk.
pub fn record(store: &Store, row: AuditRecord, elapsed: Duration) {
    tracing::info!(
        target: "audit",
        request_id = %row.request_id,
        team = row.team.as_deref().unwrap_or("-"),
        principal = %row.principal,
        entry_point = %row.entry_point,
        command = %row.command,
        instance = row.instance.as_deref().unwrap_or("-"),
        decision = %row.decision,
        reason = %row.reason,
        backend = row.backend.as_deref().unwrap_or("-"),
        outcome = %row.outcome,
        elapsed_ms = elapsed.as_millis() as u64,
        "request handled"
    );
    crate::metrics::request_handled(row.decision.as_str(), row.entry_point.as_str());
    store.record(row);
}

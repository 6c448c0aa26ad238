//! The record step: every request leaves one audit row, one structured log line
//! and one metric, built from the same values so the three never disagree.
//!
//! The row is on record before the person is told anything: a start or stop is
//! queued as `running` when policy allows it ([`begin`]), and every row is
//! settled with its outcome before the reply goes out ([`before_report`]), so a
//! Slack that hangs or a process that dies never loses the trace of an action.

use crate::store::{AuditRecord, Store};
use std::time::Duration;

/// Queues the row of allowed work that is about to start.
pub fn begin(store: &Store, row: AuditRecord) {
    store.begin(row);
}

/// Puts the outcome on record: completes the begun row, or queues the whole row.
pub fn before_report(store: &Store, row: &AuditRecord, begun: bool) {
    if begun {
        store.settle(&row.request_id, row.outcome.clone());
    } else {
        store.record(row.clone());
    }
}

/// Notes a reply Slack did not take, then logs and counts the request.
pub fn after_report(store: &Store, mut row: AuditRecord, report_failed: bool, elapsed: Duration) {
    if report_failed {
        row.outcome.report_failed = true;
        store.settle(&row.request_id, row.outcome.clone());
    }
    // This line is its HTTP request's one line (see `logging`).
    let _ = crate::logging::AUDITED.try_with(|a| a.set(true));
    tracing::info!(
        target: crate::logging::AUDIT,
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
}

//! Reading rows back into typed values, the same for every database: a text
//! this version does not know is an error, never a guess.

use super::{AuditDecision, AuditOutcome, AuditRecord, InstanceLock, StoreError};
use crate::domain::{EntryPoint, Principal, Verb};
use sqlx::{ColumnIndex, Decode, Row, Type};

/// The audit columns, in the order every SELECT names them.
pub(super) const AUDIT_COLUMNS: &str = "at, request_id, team, principal, entry_point, command, instance, decision, reason, backend, outcome, approved_by";

fn known<T>(
    column: &str,
    text: String,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<T, StoreError> {
    parse(&text).ok_or_else(|| StoreError::Unknown(format!("{column} = \"{text}\"")))
}

pub(super) fn audit_record<R>(r: &R) -> Result<AuditRecord, StoreError>
where
    R: Row,
    for<'c> &'c str: ColumnIndex<R>,
    for<'d> String: Decode<'d, R::Database> + Type<R::Database>,
    for<'d> Option<String>: Decode<'d, R::Database> + Type<R::Database>,
{
    let at: String = r.try_get("at")?;
    Ok(AuditRecord {
        at: chrono::DateTime::parse_from_rfc3339(&at)
            .map(|t| t.to_utc())
            .map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
        request_id: r.try_get("request_id")?,
        team: r.try_get("team")?,
        principal: r.try_get("principal")?,
        entry_point: known(
            "audit.entry_point",
            r.try_get("entry_point")?,
            EntryPoint::parse,
        )?,
        command: r.try_get("command")?,
        instance: r.try_get("instance")?,
        decision: known(
            "audit.decision",
            r.try_get("decision")?,
            AuditDecision::parse,
        )?,
        reason: r.try_get("reason")?,
        backend: r.try_get("backend")?,
        outcome: known("audit.outcome", r.try_get("outcome")?, AuditOutcome::parse)?,
        approved_by: r.try_get("approved_by")?,
    })
}

pub(super) fn change<R>(r: &R) -> Result<super::Change, StoreError>
where
    R: Row,
    for<'c> &'c str: ColumnIndex<R>,
    for<'d> String: Decode<'d, R::Database> + Type<R::Database>,
{
    let at: String = r.try_get("at")?;
    Ok(super::Change {
        instance: r.try_get("instance")?,
        at: chrono::DateTime::parse_from_rfc3339(&at)
            .map(|t| t.to_utc())
            .map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
        principal: r.try_get("principal")?,
        command: r.try_get("command")?,
        decision: known(
            "audit.decision",
            r.try_get("decision")?,
            AuditDecision::parse,
        )?,
        outcome: known("audit.outcome", r.try_get("outcome")?, AuditOutcome::parse)?,
    })
}

pub(super) fn instance_lock<R>(r: &R) -> Result<InstanceLock, StoreError>
where
    R: Row,
    for<'c> &'c str: ColumnIndex<R>,
    for<'d> String: Decode<'d, R::Database> + Type<R::Database>,
    for<'d> i64: Decode<'d, R::Database> + Type<R::Database>,
{
    Ok(InstanceLock {
        instance: r.try_get("instance")?,
        request_id: r.try_get("request_id")?,
        principal: known(
            "instance_claims.principal",
            r.try_get("principal")?,
            Principal::parse,
        )?,
        verb: known("instance_claims.verb", r.try_get("verb")?, Verb::parse)?,
        expires_at: r.try_get("expires_at")?,
    })
}

/// A stored session, named by its row's key; one this version cannot read
/// is an error, never taken for "no session" (which would reset its start).
pub(super) fn session_row(instance: String, payload: String) -> Result<super::Session, StoreError> {
    serde_json::from_str::<super::Session>(&payload)
        .map(|s| super::Session { instance, ..s })
        .map_err(|e| StoreError::Unknown(format!("sessions.payload: {e}")))
}

/// The same, for a listing: an unreadable row is logged and skipped, never
/// acted on (a single read of it still fails).
pub(super) fn session(instance: String, payload: String) -> Option<super::Session> {
    session_row(instance, payload)
        .map_err(|e| tracing::error!(error = %e, "unreadable session left in the store"))
        .ok()
}

/// The audit insert, without its values: the writer appends one tuple per row.
pub(super) const AUDIT_INSERT: &str = "INSERT INTO audit (at, request_id, team, principal, entry_point, command, instance, decision, reason, backend, outcome, approved_by) ";

/// Rows per insert statement: 12 values each stays far under SQLite's
/// (32,766) and PostgreSQL's (65,535) limits on bound values.
pub(super) const INSERT_CHUNK: usize = 256;

/// Now, in ms since the epoch: how leases, locks and claims are stored.
pub(super) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

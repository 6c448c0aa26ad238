//! SQLite, the embedded default for a laptop or a single VM.

use super::{
    AuditDecision, AuditOutcome, AuditRecord, AuditWrite, PendingOperation, StoreBackend,
    StoreError,
};
use crate::domain::EntryPoint;
use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use std::str::FromStr;
use std::time::Duration;

pub(super) struct Sqlite {
    pool: SqlitePool,
}

impl Sqlite {
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let open_err = |source| StoreError::Open {
            url: url.to_owned(),
            source,
        };
        let options = SqliteConnectOptions::from_str(url)
            .map_err(open_err)?
            .create_if_missing(true)
            // WAL lets readiness checks and dedup read while the writer commits; a
            // commit survives a crash of the process, which is what we promise.
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(open_err)?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Self { pool })
    }
}

#[async_trait]
impl StoreBackend for Sqlite {
    async fn write_audit(&self, writes: &[AuditWrite]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for w in writes {
            match w {
                AuditWrite::Insert(r) => {
                    sqlx::query(
                        "INSERT INTO audit (at, request_id, team, principal, entry_point, command, instance, decision, reason, backend, outcome)
                         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    )
                    .bind(r.at.to_rfc3339())
                    .bind(&r.request_id)
                    .bind(&r.team)
                    .bind(&r.principal)
                    .bind(r.entry_point.as_str())
                    .bind(&r.command)
                    .bind(&r.instance)
                    .bind(r.decision.as_str())
                    .bind(&r.reason)
                    .bind(&r.backend)
                    .bind(r.outcome.to_string())
                    .execute(&mut *tx)
                    .await?;
                }
                AuditWrite::Settle {
                    request_id,
                    outcome,
                } => {
                    sqlx::query(
                        "UPDATE audit SET outcome = ? WHERE id = (SELECT MAX(id) FROM audit WHERE request_id = ?)",
                    )
                    .bind(outcome.to_string())
                    .bind(request_id)
                    .execute(&mut *tx)
                    .await?;
                }
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn claim_event(&self, event_id: &str) -> Result<bool, StoreError> {
        let done =
            sqlx::query("INSERT OR IGNORE INTO slack_events (event_id, seen_at) VALUES (?, ?)")
                .bind(event_id)
                .bind(chrono::Utc::now().to_rfc3339())
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn audit_rows(&self) -> Result<Vec<AuditRecord>, StoreError> {
        let rows = sqlx::query("SELECT at, request_id, team, principal, entry_point, command, instance, decision, reason, backend, outcome FROM audit ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(audit_row).collect()
    }

    async fn prune_events(&self, age: Duration) -> Result<(), StoreError> {
        let cutoff = chrono::Utc::now() - chrono::Duration::from_std(age).unwrap_or_default();
        sqlx::query("DELETE FROM slack_events WHERE seen_at < ?")
            .bind(cutoff.to_rfc3339())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn save_pending(
        &self,
        op: &PendingOperation,
        owner: &str,
        lease: Duration,
    ) -> Result<(), StoreError> {
        let payload = serde_json::to_string(op).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
        sqlx::query(
            "INSERT INTO pending_operations (request_id, payload, created_at, claimed_by, claimed_until) VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (request_id) DO UPDATE SET payload = excluded.payload, claimed_by = excluded.claimed_by, claimed_until = excluded.claimed_until",
        )
        .bind(&op.request_id)
        .bind(payload)
        .bind(now_ms())
        .bind(owner)
        .bind(now_ms() + lease.as_millis() as i64)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn claim_pending(
        &self,
        owner: &str,
        lease: Duration,
    ) -> Result<Vec<PendingOperation>, StoreError> {
        let rows = sqlx::query(
            "UPDATE pending_operations SET claimed_by = ?, claimed_until = ? WHERE claimed_until < ? RETURNING payload",
        )
        .bind(owner)
        .bind(now_ms() + lease.as_millis() as i64)
        .bind(now_ms())
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::new();
        for r in rows {
            let payload: String = r.try_get("payload")?;
            match serde_json::from_str(&payload) {
                Ok(op) => out.push(op),
                Err(e) => {
                    tracing::error!(error = %e, "unreadable pending operation left in the store")
                }
            }
        }
        Ok(out)
    }

    async fn renew_pending(
        &self,
        request_id: &str,
        owner: &str,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE pending_operations SET claimed_until = ? WHERE request_id = ? AND claimed_by = ?")
            .bind(now_ms() + lease.as_millis() as i64)
            .bind(request_id)
            .bind(owner)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn release_pending(&self, request_id: &str, owner: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE pending_operations SET claimed_until = 0 WHERE request_id = ? AND claimed_by = ?")
            .bind(request_id)
            .bind(owner)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn finish_pending(&self, request_id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM pending_operations WHERE request_id = ?")
            .bind(request_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn pending_count(&self) -> Result<usize, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pending_operations")
            .fetch_one(&self.pool)
            .await?;
        Ok(n as usize)
    }
}

/// Reads one audit row back into its typed form; a text this version does not
/// know is an error, not a guess.
fn audit_row(r: &sqlx::sqlite::SqliteRow) -> Result<AuditRecord, StoreError> {
    fn known<T>(
        column: &str,
        text: String,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<T, StoreError> {
        parse(&text).ok_or_else(|| StoreError::Unknown(format!("audit.{column} = \"{text}\"")))
    }
    let at: String = r.try_get("at")?;
    Ok(AuditRecord {
        at: chrono::DateTime::parse_from_rfc3339(&at)
            .map(|t| t.to_utc())
            .map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
        request_id: r.try_get("request_id")?,
        team: r.try_get("team")?,
        principal: r.try_get("principal")?,
        entry_point: known("entry_point", r.try_get("entry_point")?, EntryPoint::parse)?,
        command: r.try_get("command")?,
        instance: r.try_get("instance")?,
        decision: known("decision", r.try_get("decision")?, AuditDecision::parse)?,
        reason: r.try_get("reason")?,
        backend: r.try_get("backend")?,
        outcome: known("outcome", r.try_get("outcome")?, AuditOutcome::parse)?,
    })
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

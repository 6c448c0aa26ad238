//! SQLite, the embedded default for a laptop or a single VM.

use super::rows::AUDIT_COLUMNS;
use super::{
    AuditRecord, AuditWrite, InstanceLock, PendingOperation, Session, StoreBackend, StoreError,
    TimerClaim,
};
use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use std::str::FromStr;
use std::time::Duration;

pub(super) struct Sqlite {
    pub(super) pool: SqlitePool,
}

impl Sqlite {
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let open_err = |source| StoreError::Open {
            url: super::redacted(url),
            source,
        };
        let options = SqliteConnectOptions::from_str(url)
            .map_err(open_err)?
            .create_if_missing(true)
            // WAL lets readiness checks and dedup read while the writer commits; a
            // commit survives a crash of the process, which is what we promise.
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            // 1 MiB of page cache per connection rather than SQLite's 2 MiB:
            // the audit is appended to and read by index, never scanned.
            .pragma("cache_size", "-1024");
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(open_err)?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&pool)
            .await
            .map_err(super::migrate_error)?;
        Ok(Self { pool })
    }
}

#[async_trait]
impl StoreBackend for Sqlite {
    async fn write_audit(&self, writes: &[AuditWrite]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        // Runs of inserts go in as one statement each: one row per statement
        // was most of the writer's time under load.
        let mut rest = writes;
        while let Some(first) = rest.first() {
            let inserts = rest
                .iter()
                .take(super::rows::INSERT_CHUNK)
                .take_while(|w| matches!(w, AuditWrite::Insert(_)))
                .count();
            if inserts > 0 {
                let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(super::rows::AUDIT_INSERT);
                q.push_values(&rest[..inserts], |mut b, w| {
                    if let AuditWrite::Insert(r) = w {
                        b.push_bind(r.at.to_rfc3339())
                            .push_bind(r.request_id.clone())
                            .push_bind(r.team.clone())
                            .push_bind(r.principal.clone())
                            .push_bind(r.entry_point.as_str())
                            .push_bind(r.command.clone())
                            .push_bind(r.instance.clone())
                            .push_bind(r.decision.as_str())
                            .push_bind(r.reason.clone())
                            .push_bind(r.backend.clone())
                            .push_bind(r.outcome.to_string())
                            .push_bind(r.approved_by.clone());
                    }
                });
                // Each run length is its own statement text: caching them all
                // grew memory with every new batch size, so none is kept.
                q.build().persistent(false).execute(&mut *tx).await?;
                rest = &rest[inserts..];
                continue;
            }
            if let AuditWrite::Settle {
                request_id,
                outcome,
            } = first
            {
                sqlx::query(
                    "UPDATE audit SET outcome = ? WHERE id = (SELECT MAX(id) FROM audit WHERE request_id = ?)",
                )
                .bind(outcome.to_string())
                .bind(request_id)
                .execute(&mut *tx)
                .await?;
            }
            rest = &rest[1..];
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
        let rows = sqlx::query(&format!("SELECT {AUDIT_COLUMNS} FROM audit ORDER BY id"))
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
        .bind(super::rows::now_ms())
        .bind(owner)
        .bind(super::rows::now_ms() + lease.as_millis() as i64)
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
        .bind(super::rows::now_ms() + lease.as_millis() as i64)
        .bind(super::rows::now_ms())
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
            .bind(super::rows::now_ms() + lease.as_millis() as i64)
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

    async fn lock_instance(&self, lock: &InstanceLock) -> Result<Option<InstanceLock>, StoreError> {
        let taken = sqlx::query(
            "INSERT INTO instance_claims (instance, request_id, principal, verb, expires_at) VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (instance) DO UPDATE SET request_id = excluded.request_id, principal = excluded.principal,
                 verb = excluded.verb, expires_at = excluded.expires_at
             WHERE instance_claims.expires_at < ? OR instance_claims.request_id = excluded.request_id",
        )
        .bind(&lock.instance)
        .bind(&lock.request_id)
        .bind(lock.principal.to_string())
        .bind(lock.verb.as_str())
        .bind(lock.expires_at)
        .bind(super::rows::now_ms())
        .execute(&self.pool)
        .await?;
        if taken.rows_affected() == 1 {
            return Ok(None);
        }
        let row = sqlx::query(
            "SELECT instance, request_id, principal, verb, expires_at FROM instance_claims WHERE instance = ?",
        )
        .bind(&lock.instance)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| lock_row(&r)).transpose()
    }

    async fn renew_lock(
        &self,
        instance: &str,
        request_id: &str,
        until_ms: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE instance_claims SET expires_at = ? WHERE instance = ? AND request_id = ?",
        )
        .bind(until_ms)
        .bind(instance)
        .bind(request_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn unlock_instance(&self, instance: &str, request_id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM instance_claims WHERE instance = ? AND request_id = ?")
            .bind(instance)
            .bind(request_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn history(&self, alias: &str, limit: usize) -> Result<Vec<AuditRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {AUDIT_COLUMNS} FROM audit WHERE instance = ? AND (command LIKE 'start %' OR command LIKE 'stop %') ORDER BY id DESC LIMIT ?"
        ))
        .bind(alias)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(audit_row).collect()
    }

    async fn audit_since(
        &self,
        since: &str,
        instance: Option<&str>,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {AUDIT_COLUMNS} FROM audit WHERE at >= ?1 AND (?2 IS NULL OR instance = ?2) ORDER BY id"
        ))
        .bind(since)
        .bind(instance)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(audit_row).collect()
    }

    async fn prune_audit(&self, before: &str) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM audit WHERE at < ?")
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    async fn put_session(&self, session: &Session) -> Result<(), StoreError> {
        let payload =
            serde_json::to_string(session).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
        sqlx::query(
            "INSERT INTO sessions (instance, ends_at, payload) VALUES (?, ?, ?)
             ON CONFLICT (instance) DO UPDATE SET ends_at = excluded.ends_at, payload = excluded.payload",
        )
        .bind(&session.instance)
        .bind(session.ends_at.map(|t| t.timestamp_millis()))
        .bind(payload)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn add_session(&self, session: &Session) -> Result<bool, StoreError> {
        let payload =
            serde_json::to_string(session).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
        let added = sqlx::query(
            "INSERT INTO sessions (instance, ends_at, payload) VALUES (?, ?, ?) ON CONFLICT (instance) DO NOTHING",
        )
        .bind(&session.instance)
        .bind(session.ends_at.map(|t| t.timestamp_millis()))
        .bind(payload)
        .execute(&self.pool)
        .await?;
        Ok(added.rows_affected() == 1)
    }

    async fn session(&self, instance: &str) -> Result<Option<Session>, StoreError> {
        let row = sqlx::query("SELECT instance, payload FROM sessions WHERE instance = ?")
            .bind(instance)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| super::rows::session_row(r.try_get("instance")?, r.try_get("payload")?))
            .transpose()
    }

    async fn sessions(&self) -> Result<Vec<Session>, StoreError> {
        let rows = sqlx::query("SELECT instance, payload FROM sessions ORDER BY instance")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                super::rows::session(r.try_get("instance").ok()?, r.try_get("payload").ok()?)
            })
            .collect())
    }

    async fn end_session(
        &self,
        instance: &str,
        only_if_ends_at: Option<Option<chrono::DateTime<chrono::Utc>>>,
    ) -> Result<(), StoreError> {
        match only_if_ends_at {
            Some(end) => sqlx::query("DELETE FROM sessions WHERE instance = ? AND ends_at IS ?")
                .bind(instance)
                .bind(end.map(|t| t.timestamp_millis())),
            None => sqlx::query("DELETE FROM sessions WHERE instance = ?").bind(instance),
        }
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn claim_timer(
        &self,
        claim: &TimerClaim<'_>,
        owner: &str,
        hold: Duration,
    ) -> Result<bool, StoreError> {
        let taken = sqlx::query(
            "INSERT INTO timer_work (instance, kind, due_at, owner, held_until, done) VALUES (?, ?, ?, ?, ?, 0)
             ON CONFLICT (instance, kind, due_at) DO UPDATE SET owner = excluded.owner, held_until = excluded.held_until
             WHERE timer_work.done = 0 AND timer_work.held_until < ?",
        )
        .bind(claim.instance)
        .bind(claim.kind)
        .bind(claim.due_ms)
        .bind(owner)
        .bind(super::rows::now_ms() + hold.as_millis() as i64)
        .bind(super::rows::now_ms())
        .execute(&self.pool)
        .await?;
        Ok(taken.rows_affected() == 1)
    }

    async fn finish_timer(&self, claim: &TimerClaim<'_>) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE timer_work SET done = 1 WHERE instance = ? AND kind = ? AND due_at = ?",
        )
        .bind(claim.instance)
        .bind(claim.kind)
        .bind(claim.due_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn prune_timers(&self, before_ms: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM timer_work WHERE done = 1 AND due_at < ?")
            .bind(before_ms)
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

fn audit_row(r: &sqlx::sqlite::SqliteRow) -> Result<AuditRecord, StoreError> {
    super::rows::audit_record(r)
}

fn lock_row(r: &sqlx::sqlite::SqliteRow) -> Result<InstanceLock, StoreError> {
    super::rows::instance_lock(r)
}

//! Every store operation, written once for both databases.
//!
//! The mechanism is the smallest that keeps one text per query: a macro that
//! implements [`StoreBackend`] for each database's pool type, over the same SQL.
//! Both speak `$n` placeholders (sqlx binds SQLite's `$n` by number), `ON
//! CONFLICT … DO UPDATE/NOTHING`, `RETURNING`, `TRUE`/`FALSE` and `IS NOT
//! DISTINCT FROM` (SQLite 3.39 and later; the bundled one is 3.46), so the
//! only difference left is named in [`Dialect`]: whether a claim's subquery
//! locks rows (`FOR UPDATE SKIP LOCKED`, PostgreSQL, where replicas race) or
//! relies on the database's single writer (SQLite). Times are RFC 3339 text
//! and ms since the epoch in both, computed in Rust, so no time function
//! differs. sqlx's `Any` driver would also give one text, but it cannot decode
//! `BOOLEAN` from SQLite and converts every value at run time; a query
//! builder crate such as `sea-query` would add a second language for queries
//! this plain. Typed row readers are in `rows.rs`, also written once.
//!
//! A new table costs one migration per database (`migrations/sqlite`,
//! `migrations/postgres`) and its queries here.

use super::postgres::Postgres;
use super::rows::{self, AUDIT_COLUMNS};
use super::sqlite::Sqlite;
use super::{
    AuditRecord, AuditWrite, Change, InstanceLock, PendingOperation, StoreBackend, StoreError,
};
use sqlx::Row;
use std::ops::ControlFlow;
use std::time::Duration;

/// What differs between the databases, in one place.
struct Dialect {
    /// Appended to a claim's row-picking subquery.
    skip_locked: &'static str,
    /// Run first in a transaction that must read one snapshot throughout
    /// (an export's pages); empty where every transaction already does.
    snapshot: &'static str,
}

impl Sqlite {
    /// One writer at a time: a claim's UPDATE is atomic without row locks.
    /// A WAL reader sees one snapshot from its first read to its end.
    const DIALECT: Dialect = Dialect {
        skip_locked: "",
        snapshot: "",
    };
}

impl Postgres {
    /// Replicas sweep at once: each takes the rows nobody else is taking.
    /// Ids are handed out before commit: without one snapshot, a row
    /// committed late behind a higher id would fall behind the cursor.
    const DIALECT: Dialect = Dialect {
        skip_locked: "FOR UPDATE SKIP LOCKED",
        snapshot: "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY",
    };
}

/// An audit row records a change (a start or a stop asked): the same text as
/// the covering partial index's condition (`audit_changes`), so both
/// databases answer history and costs from that index alone.
pub(super) const CHANGE: &str =
    "(instance IS NOT NULL AND (command LIKE 'start %' OR command LIKE 'stop %'))";

/// `$from, $from+1, …`, `n` of them: an IN list's placeholders.
fn placeholders(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Most rows a person's read may touch, per instance it reads: a week of one
/// instance's changes is a few dozen; this bounds a runaway script's.
pub(super) const READ_BOUND: i64 = 1_000;

macro_rules! sql_store {
    ($db:ty, $sqlx:ty) => {
        #[async_trait::async_trait]
        impl StoreBackend for $db {
            async fn write_audit(&self, writes: &[AuditWrite]) -> Result<(), StoreError> {
                let mut tx = self.audit.begin().await?;
                // Runs of inserts go in as one statement each: one row per
                // statement was most of the writer's time under load.
                let mut rest = writes;
                while let Some(first) = rest.first() {
                    let run = rest
                        .iter()
                        .take(rows::INSERT_CHUNK)
                        .take_while(|w| matches!(w, AuditWrite::Insert(_)))
                        .count();
                    // A power of two at most the run: each statement text is
                    // one of nine, prepared once and reused by every batch.
                    let inserts = if run == 0 { 0 } else { 1 << run.ilog2() };
                    if inserts > 0 {
                        let mut q = sqlx::QueryBuilder::<$sqlx>::new(rows::AUDIT_INSERT);
                        q.push_values(&rest[..inserts], |mut b, w| {
                            if let AuditWrite::Insert(r) = w {
                                // Borrowed, not copied: the rows outlive the statement.
                                b.push_bind(r.at.to_rfc3339())
                                    .push_bind(r.request_id.as_str())
                                    .push_bind(r.team.as_deref())
                                    .push_bind(r.principal.as_str())
                                    .push_bind(r.entry_point.as_str())
                                    .push_bind(r.command.as_str())
                                    .push_bind(r.instance.as_deref())
                                    .push_bind(r.decision.as_str())
                                    .push_bind(r.reason.as_str())
                                    .push_bind(r.backend.as_deref())
                                    .push_bind(r.outcome.to_string())
                                    .push_bind(r.approved_by.as_deref());
                            }
                        });
                        q.build().execute(&mut *tx).await?;
                        rest = &rest[inserts..];
                        continue;
                    }
                    if let AuditWrite::Settle {
                        request_id,
                        outcome,
                    } = first
                    {
                        sqlx::query(
                            "UPDATE audit SET outcome = $1 WHERE id = (SELECT MAX(id) FROM audit WHERE request_id = $2)",
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
                let done = sqlx::query(
                    "INSERT INTO slack_events (event_id, seen_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                )
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
                let found = sqlx::query(&format!("SELECT {AUDIT_COLUMNS} FROM audit ORDER BY id"))
                    .fetch_all(&self.pool)
                    .await?;
                found.iter().map(rows::audit_record).collect()
            }

            async fn prune_events(&self, age: Duration) -> Result<(), StoreError> {
                let cutoff =
                    chrono::Utc::now() - chrono::Duration::from_std(age).unwrap_or_default();
                sqlx::query("DELETE FROM slack_events WHERE seen_at < $1")
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
                let payload =
                    serde_json::to_string(op).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
                sqlx::query(
                    "INSERT INTO pending_operations (request_id, payload, created_at, claimed_by, claimed_until) VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (request_id) DO UPDATE SET payload = excluded.payload, claimed_by = excluded.claimed_by, claimed_until = excluded.claimed_until",
                )
                .bind(&op.request_id)
                .bind(payload)
                .bind(rows::now_ms())
                .bind(owner)
                .bind(rows::now_ms() + lease.as_millis() as i64)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn claim_pending(
                &self,
                owner: &str,
                lease: Duration,
            ) -> Result<Vec<PendingOperation>, StoreError> {
                // Two replicas sweeping at once split the rows, never share one.
                let found = sqlx::query(&format!(
                    "UPDATE pending_operations SET claimed_by = $1, claimed_until = $2
                     WHERE request_id IN (
                         SELECT request_id FROM pending_operations WHERE claimed_until < $3 {})
                     AND claimed_until < $3
                     RETURNING payload",
                    <$db>::DIALECT.skip_locked
                ))
                .bind(owner)
                .bind(rows::now_ms() + lease.as_millis() as i64)
                .bind(rows::now_ms())
                .fetch_all(&self.pool)
                .await?;
                let mut out = Vec::new();
                for r in found {
                    let payload: String = r.try_get("payload")?;
                    match serde_json::from_str(&payload) {
                        Ok(op) => out.push(op),
                        Err(e) => tracing::error!(error = %e, "unreadable pending operation left in the store"),
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
                let done = sqlx::query(
                    "UPDATE pending_operations SET claimed_until = $1 WHERE request_id = $2 AND claimed_by = $3",
                )
                .bind(rows::now_ms() + lease.as_millis() as i64)
                .bind(request_id)
                .bind(owner)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn release_pending(&self, request_id: &str, owner: &str) -> Result<(), StoreError> {
                sqlx::query(
                    "UPDATE pending_operations SET claimed_until = 0 WHERE request_id = $1 AND claimed_by = $2",
                )
                .bind(request_id)
                .bind(owner)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn finish_pending(&self, request_id: &str) -> Result<(), StoreError> {
                sqlx::query("DELETE FROM pending_operations WHERE request_id = $1")
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

            async fn lock_instance(
                &self,
                lock: &InstanceLock,
            ) -> Result<Option<InstanceLock>, StoreError> {
                let taken = sqlx::query(
                    "INSERT INTO instance_claims (instance, request_id, principal, verb, expires_at) VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (instance) DO UPDATE SET request_id = excluded.request_id, principal = excluded.principal,
                         verb = excluded.verb, expires_at = excluded.expires_at
                     WHERE instance_claims.expires_at < $6 OR instance_claims.request_id = excluded.request_id",
                )
                .bind(&lock.instance)
                .bind(&lock.request_id)
                .bind(lock.principal.to_string())
                .bind(lock.verb.as_str())
                .bind(lock.expires_at)
                .bind(rows::now_ms())
                .execute(&self.pool)
                .await?;
                if taken.rows_affected() == 1 {
                    return Ok(None);
                }
                let row = sqlx::query(
                    "SELECT instance, request_id, principal, verb, expires_at FROM instance_claims WHERE instance = $1",
                )
                .bind(&lock.instance)
                .fetch_optional(&self.pool)
                .await?;
                row.map(|r| rows::instance_lock(&r)).transpose()
            }

            async fn renew_lock(
                &self,
                instance: &str,
                request_id: &str,
                until_ms: i64,
            ) -> Result<bool, StoreError> {
                let done = sqlx::query(
                    "UPDATE instance_claims SET expires_at = $1 WHERE instance = $2 AND request_id = $3",
                )
                .bind(until_ms)
                .bind(instance)
                .bind(request_id)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn unlock_instance(&self, instance: &str, request_id: &str) -> Result<(), StoreError> {
                sqlx::query("DELETE FROM instance_claims WHERE instance = $1 AND request_id = $2")
                    .bind(instance)
                    .bind(request_id)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn history(
                &self,
                aliases: &[&str],
                since: Option<&str>,
                limit: usize,
            ) -> Result<Vec<AuditRecord>, StoreError> {
                if aliases.is_empty() {
                    return Ok(Vec::new());
                }
                // Two statement texts, not `($1 IS NULL OR …)`: the planner
                // must see the time bound to seek on it.
                let limit = (limit as i64).min(READ_BOUND);
                let (bound, first) = match since {
                    Some(_) => ("AND at >= $2", 3),
                    None => ("", 2),
                };
                let sql = format!(
                    "SELECT {AUDIT_COLUMNS} FROM audit WHERE instance IN ({}) AND {CHANGE} {bound} ORDER BY at DESC, id DESC LIMIT $1",
                    placeholders(first, aliases.len())
                );
                let mut q = sqlx::query(&sql).bind(limit);
                if let Some(since) = since {
                    q = q.bind(since);
                }
                for alias in aliases {
                    q = q.bind(*alias);
                }
                let found = q.fetch_all(&self.pool).await?;
                found.iter().map(rows::audit_record).collect()
            }

            async fn changes_since(
                &self,
                aliases: &[&str],
                since: &str,
            ) -> Result<Vec<Change>, StoreError> {
                if aliases.is_empty() {
                    return Ok(Vec::new());
                }
                // One range read per instance on the covering index, in one statement.
                let sql = format!(
                    "SELECT instance, at, principal, command, decision, outcome FROM audit WHERE instance IN ({}) AND {CHANGE} AND at >= $1 ORDER BY id LIMIT $2",
                    placeholders(3, aliases.len())
                );
                // One more than the bound: a week that holds more is refused,
                // never counted short.
                let bound = READ_BOUND * aliases.len() as i64;
                let mut q = sqlx::query(&sql).bind(since).bind(bound + 1);
                for alias in aliases {
                    q = q.bind(*alias);
                }
                let found = q.fetch_all(&self.pool).await?;
                if found.len() as i64 > bound {
                    return Err(StoreError::TooMany(bound));
                }
                found.iter().map(rows::change).collect()
            }

            async fn audit_pages(
                &self,
                since: &str,
                page: usize,
                each: &mut (dyn FnMut(Vec<AuditRecord>) -> ControlFlow<()> + Send),
            ) -> Result<(), StoreError> {
                let mut tx = self.pool.begin().await?;
                let snapshot = <$db>::DIALECT.snapshot;
                if !snapshot.is_empty() {
                    sqlx::query(snapshot).execute(&mut *tx).await?;
                }
                let sql = format!(
                    "SELECT id, {AUDIT_COLUMNS} FROM audit WHERE id > $1 AND at >= $2 ORDER BY id LIMIT $3"
                );
                let mut after = 0_i64;
                loop {
                    let found = sqlx::query(&sql)
                        .bind(after)
                        .bind(since)
                        .bind(page as i64)
                        .fetch_all(&mut *tx)
                        .await?;
                    let Some(last) = found.last() else { break };
                    after = last.try_get("id")?;
                    let full = found.len() == page;
                    let records = found
                        .iter()
                        .map(rows::audit_record)
                        .collect::<Result<Vec<_>, _>>()?;
                    if each(records).is_break() || !full {
                        break;
                    }
                }
                // Read only: nothing to commit.
                tx.rollback().await?;
                Ok(())
            }

            async fn prune_audit(&self, before: &str) -> Result<u64, StoreError> {
                let done = sqlx::query("DELETE FROM audit WHERE at < $1")
                    .bind(before)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected())
            }
        }
    };
}

sql_store!(Sqlite, sqlx::Sqlite);
sql_store!(Postgres, sqlx::Postgres);

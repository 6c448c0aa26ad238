//! Sessions and timer work: what the timers keep per running instance, and
//! the occurrences of timer work each claimed and done once. Written once for
//! both databases, like every store query (see `sql.rs`); keyed by the
//! instance's resource path.

use super::postgres::Postgres;
use super::rows;
use super::sqlite::Sqlite;
use super::{Session, StoreError, TimerClaim};
use async_trait::async_trait;
use sqlx::Row;
use std::time::Duration;

/// What the timers need stored.
#[async_trait]
pub trait TimerStore: Send + Sync {
    /// Sets the instance's session, replacing any it had.
    async fn put_session(&self, session: &Session) -> Result<(), StoreError>;
    /// Stores a session only if the instance has none: true when stored. For
    /// sessions the bot merely noticed, which must never replace a start's.
    async fn add_session(&self, session: &Session) -> Result<bool, StoreError>;
    async fn session(&self, instance: &str) -> Result<Option<Session>, StoreError>;
    async fn sessions(&self) -> Result<Vec<Session>, StoreError>;
    /// Removes the instance's session; with `Some(ends_at)`, only if its lease
    /// still ends then (`None`: still has none), so a session another request
    /// wrote since it was read survives.
    async fn end_session(
        &self,
        instance: &str,
        only_if_ends_at: Option<Option<chrono::DateTime<chrono::Utc>>>,
    ) -> Result<(), StoreError>;
    /// True when `owner` may do this work now: nobody claimed it, or a claim
    /// lapsed (its process died) and the work is not done. Held for `hold`.
    async fn claim_timer(
        &self,
        claim: &TimerClaim<'_>,
        owner: &str,
        hold: Duration,
    ) -> Result<bool, StoreError>;
    /// Marks claimed work done: no process does it again.
    async fn finish_timer(&self, claim: &TimerClaim<'_>) -> Result<(), StoreError>;
    /// Forgets finished work due before `before_ms`.
    async fn prune_timers(&self, before_ms: i64) -> Result<(), StoreError>;
}

macro_rules! timer_store {
    ($db:ty) => {
        #[async_trait]
        impl TimerStore for $db {
            async fn put_session(&self, session: &Session) -> Result<(), StoreError> {
                let payload = serde_json::to_string(session)
                    .map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
                sqlx::query(
                    "INSERT INTO sessions (instance, ends_at, payload) VALUES ($1, $2, $3)
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
                let payload = serde_json::to_string(session)
                    .map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
                let added = sqlx::query(
                    "INSERT INTO sessions (instance, ends_at, payload) VALUES ($1, $2, $3) ON CONFLICT (instance) DO NOTHING",
                )
                .bind(&session.instance)
                .bind(session.ends_at.map(|t| t.timestamp_millis()))
                .bind(payload)
                .execute(&self.pool)
                .await?;
                Ok(added.rows_affected() == 1)
            }

            async fn session(&self, instance: &str) -> Result<Option<Session>, StoreError> {
                let row = sqlx::query("SELECT instance, payload FROM sessions WHERE instance = $1")
                    .bind(instance)
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(|r| rows::session_row(r.try_get("instance")?, r.try_get("payload")?))
                    .transpose()
            }

            async fn sessions(&self) -> Result<Vec<Session>, StoreError> {
                let found = sqlx::query("SELECT instance, payload FROM sessions ORDER BY instance")
                    .fetch_all(&self.pool)
                    .await?;
                Ok(found
                    .iter()
                    .filter_map(|r| {
                        rows::session(r.try_get("instance").ok()?, r.try_get("payload").ok()?)
                    })
                    .collect())
            }

            async fn end_session(
                &self,
                instance: &str,
                only_if_ends_at: Option<Option<chrono::DateTime<chrono::Utc>>>,
            ) -> Result<(), StoreError> {
                match only_if_ends_at {
                    Some(end) => sqlx::query(
                        "DELETE FROM sessions WHERE instance = $1 AND ends_at IS NOT DISTINCT FROM $2",
                    )
                    .bind(instance)
                    .bind(end.map(|t| t.timestamp_millis())),
                    None => sqlx::query("DELETE FROM sessions WHERE instance = $1").bind(instance),
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
                    "INSERT INTO timer_work (instance, kind, due_at, owner, held_until, done) VALUES ($1, $2, $3, $4, $5, FALSE)
                     ON CONFLICT (instance, kind, due_at) DO UPDATE SET owner = excluded.owner, held_until = excluded.held_until
                     WHERE timer_work.done = FALSE AND timer_work.held_until < $6",
                )
                .bind(claim.instance)
                .bind(claim.kind)
                .bind(claim.due_ms)
                .bind(owner)
                .bind(rows::now_ms() + hold.as_millis() as i64)
                .bind(rows::now_ms())
                .execute(&self.pool)
                .await?;
                Ok(taken.rows_affected() == 1)
            }

            async fn finish_timer(&self, claim: &TimerClaim<'_>) -> Result<(), StoreError> {
                sqlx::query(
                    "UPDATE timer_work SET done = TRUE WHERE instance = $1 AND kind = $2 AND due_at = $3",
                )
                .bind(claim.instance)
                .bind(claim.kind)
                .bind(claim.due_ms)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn prune_timers(&self, before_ms: i64) -> Result<(), StoreError> {
                sqlx::query("DELETE FROM timer_work WHERE done = TRUE AND due_at < $1")
                    .bind(before_ms)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }
        }
    };
}

timer_store!(Sqlite);
timer_store!(Postgres);

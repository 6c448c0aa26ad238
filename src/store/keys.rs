//! Timer state (sessions, claims, timer work, approval requests) is keyed by
//! the instance's resource path. Older versions kept it by alias in other
//! tables (`leases`, `timer_claims`); a process moves the rows of the aliases
//! its config knows into the new ones, at start-up and at each tick (an older
//! replica of a rolling deploy may still be writing them), and leaves every
//! other row alone: a replica whose config lacks an alias must not decide for
//! the replica that has it. One SQL text serves both databases (`$n`
//! placeholders read the same in each).

use super::StoreError;
use super::postgres::Postgres;
use super::sqlite::Sqlite;
use async_trait::async_trait;

#[async_trait]
pub trait AliasKeys: Send + Sync {
    /// `known` pairs each alias with its resource path; returns the rows
    /// moved or rekeyed (the deletes of moved rows are not counted).
    async fn adopt_alias_keys(&self, known: &[(&str, &str)]) -> Result<u64, StoreError>;
}

/// A row already there under the path wins (this version wrote it); the
/// alias row is then dropped. Instance locks are not moved: they lapse within
/// a lease, and an older replica still holds its own in `instance_locks`.
const MOVE: [&str; 3] = [
    "INSERT INTO sessions (instance, ends_at, payload)
     SELECT $1, ends_at, payload FROM leases WHERE alias = $2
     ON CONFLICT (instance) DO NOTHING",
    "INSERT INTO timer_work (instance, kind, due_at, owner, held_until, done)
     SELECT $1, kind, due_at, owner, held_until, done FROM timer_claims WHERE alias = $2
     ON CONFLICT (instance, kind, due_at) DO NOTHING",
    "UPDATE approvals SET instance = $1 WHERE (instance IS NULL OR instance = '') AND alias = $2",
];

/// Then the moved rows leave the old tables (`$1`: the alias).
const DROP_MOVED: [&str; 2] = [
    "DELETE FROM leases WHERE alias = $1",
    "DELETE FROM timer_claims WHERE alias = $1",
];

macro_rules! alias_keys {
    ($db:ty) => {
        #[async_trait]
        impl AliasKeys for $db {
            async fn adopt_alias_keys(&self, known: &[(&str, &str)]) -> Result<u64, StoreError> {
                let mut tx = self.pool.begin().await?;
                let mut rewritten = 0;
                for (alias, path) in known {
                    for sql in MOVE {
                        rewritten += sqlx::query(sql)
                            .bind(*path)
                            .bind(*alias)
                            .execute(&mut *tx)
                            .await?
                            .rows_affected();
                    }
                    for sql in DROP_MOVED {
                        sqlx::query(sql).bind(*alias).execute(&mut *tx).await?;
                    }
                }
                tx.commit().await?;
                Ok(rewritten)
            }
        }
    };
}

alias_keys!(Sqlite);
alias_keys!(Postgres);

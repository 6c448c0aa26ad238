//! Timer state (sessions, locks, claims, approval requests) is keyed by the
//! instance's resource path. Older versions keyed it by alias; a process
//! rewrites the rows of the aliases its config knows, at start-up and at each
//! tick (an older replica of a rolling deploy may still be writing them), and
//! leaves every other row alone: a replica of a rolling deploy whose config
//! lacks an alias must not decide for the replica that has it. One SQL text
//! serves both databases (`$n` placeholders read the same in each).

use super::StoreError;
use super::postgres::Postgres;
use super::sqlite::Sqlite;
use async_trait::async_trait;

#[async_trait]
pub trait AliasKeys: Send + Sync {
    /// `known` pairs each alias with its resource path; returns the rows
    /// rewritten. A path never contains an alias's characters only (it has
    /// slashes), so a row already keyed by path is never taken for an alias.
    async fn adopt_alias_keys(&self, known: &[(&str, &str)]) -> Result<u64, StoreError>;
}

/// Each statement leaves a row alone when one keyed by the path is already
/// there (an older replica of a rolling deploy wrote the alias row late):
/// the path's row is the one newer processes act on.
const REKEY: [&str; 4] = [
    "UPDATE leases SET instance = $1 WHERE instance = $2
     AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.instance = $1)",
    "UPDATE instance_locks SET instance = $1 WHERE instance = $2
     AND NOT EXISTS (SELECT 1 FROM instance_locks l WHERE l.instance = $1)",
    "UPDATE timer_claims SET instance = $1 WHERE instance = $2
     AND NOT EXISTS (SELECT 1 FROM timer_claims c WHERE c.instance = $1
                     AND c.kind = timer_claims.kind AND c.due_at = timer_claims.due_at)",
    "UPDATE approvals SET instance = $1 WHERE (instance IS NULL OR instance = '') AND alias = $2",
];

macro_rules! alias_keys {
    ($db:ty) => {
        #[async_trait]
        impl AliasKeys for $db {
            async fn adopt_alias_keys(&self, known: &[(&str, &str)]) -> Result<u64, StoreError> {
                let mut tx = self.pool.begin().await?;
                let mut rewritten = 0;
                for (alias, path) in known {
                    for sql in REKEY {
                        rewritten += sqlx::query(sql)
                            .bind(*path)
                            .bind(*alias)
                            .execute(&mut *tx)
                            .await?
                            .rows_affected();
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

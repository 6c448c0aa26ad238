//! Timer state (sessions, locks, claims, approval requests) is keyed by the
//! instance's resource path. Older versions keyed it by alias; a process
//! rewrites the rows of the aliases its config knows, once at start-up, and
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

const REKEY: [&str; 4] = [
    "UPDATE leases SET instance = $1 WHERE instance = $2",
    "UPDATE instance_locks SET instance = $1 WHERE instance = $2",
    "UPDATE timer_claims SET instance = $1 WHERE instance = $2",
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

//! PostgreSQL, for Cloud Run (whose disk vanishes with the instance) and for
//! several replicas, which share through it the audit trail, handled event ids,
//! pending operations and per-instance locks: how it is opened. Its queries,
//! the same text as SQLite's, are in `sql.rs`.
//!
//! Every claim is one statement that either wins or does not (`ON CONFLICT`,
//! `FOR UPDATE SKIP LOCKED`), so two replicas racing for the same event,
//! operation or instance never both win. The password never lives in the
//! config: `store.url` names the database without one and `PGPASSWORD`
//! supplies it, or `DATABASE_URL` replaces `store.url` whole. Cloud SQL's Unix
//! socket works as Cloud Run mounts it: `postgres://USER@/DB?host=/cloudsql/PROJECT:REGION:INSTANCE`.

use super::{Pool, StoreError};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::str::FromStr;

pub(super) struct Postgres {
    pub(super) pool: PgPool,
    /// The audit writer's connections: the same pool (a server keeps no
    /// page cache per connection).
    pub(super) audit: PgPool,
}

impl Postgres {
    pub async fn open(url: &str, pool: &Pool) -> Result<Self, StoreError> {
        let shown = super::redacted(url);
        let open_err = |source| StoreError::Open {
            url: shown.clone(),
            source,
        };
        let mut options = PgConnectOptions::from_str(url).map_err(open_err)?;
        // A URL without a password takes it from the environment, as libpq does.
        if let Ok(password) = std::env::var("PGPASSWORD")
            && url::Url::parse(url).is_ok_and(|u| u.password().is_none())
        {
            options = options.password(&password);
        }
        let pool = PgPoolOptions::new()
            .max_connections(pool.max_connections)
            .acquire_timeout(pool.connect_timeout)
            .connect_with(options)
            .await
            .map_err(|e| StoreError::Connect(super::pg_connect_advice(&shown, &e)))?;
        sqlx::migrate!("./migrations/postgres")
            .run(&pool)
            .await
            .map_err(super::migrate_error)?;
        Ok(Self {
            audit: pool.clone(),
            pool,
        })
    }
}

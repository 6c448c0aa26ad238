//! SQLite, the embedded default for a laptop or a single VM: how it is opened.
//! Its queries are the PostgreSQL ones, in `sql.rs`.

use super::StoreError;
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::str::FromStr;
use std::time::Duration;

pub(super) struct Sqlite {
    pub(super) pool: SqlitePool,
    /// The audit writer's own connection. A connection drops its page cache
    /// whenever another one has written since it last looked, and the pool
    /// hands out its idle connections in turn: through it, each batch began
    /// by reading back the pages the previous batch had written.
    pub(super) audit: SqlitePool,
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
            .pragma("cache_size", "-1024")
            // A multi-row insert keeps a statement journal (its pages before it,
            // to undo it alone). Past 64 KiB SQLite spills that to a temporary
            // file, opened, written and unlinked inside the batch; in memory it
            // is a copy of a few pages.
            .pragma("temp_store", "memory");
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.clone())
            .await
            .map_err(open_err)?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&pool)
            .await
            .map_err(super::migrate_error)?;
        // An in-memory database (no file) is shared through the pool it lives in.
        let file: String =
            sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")
                .fetch_one(&pool)
                .await?;
        let audit = if file.is_empty() {
            pool.clone()
        } else {
            // Opened by the first batch, not here: start-up does not wait
            // for a second connection (a failure to open is a failed batch).
            SqlitePoolOptions::new()
                .max_connections(1)
                .connect_lazy_with(options)
        };
        Ok(Self { pool, audit })
    }
}

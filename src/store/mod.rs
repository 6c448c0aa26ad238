//! The store: audit trail, Slack event ids already handled, and pending operations.
//!
//! [`Store`] is what the rest of the bot holds. Audit rows go through a channel to
//! one writer task that batches them, so the acknowledgement path never waits for
//! a disk; a row is durable within a second, and [`Store::flush`] writes what is
//! queued before the process exits (the writer is in `writer.rs`). The database
//! itself sits behind [`StoreBackend`], implemented once for SQLite and
//! PostgreSQL (Cloud Run, several replicas) over one SQL text in `sql.rs`
//! (sessions and timer work in `timer_store.rs`, approvals in [`approvals`]);
//! `sqlite.rs` and `postgres.rs` only open their pools. Rows are read back into
//! typed values in `rows.rs`. The audit columns' vocabulary is in [`audit`].

pub mod approvals;
pub mod audit;
pub mod export;
pub mod keys;
mod postgres;
mod rows;
mod sessions;
mod sql;
mod sqlite;
mod timer_store;
mod writer;

/// The databases the store can be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sqlite,
    Postgres,
}

impl Kind {
    pub fn of(url: &str) -> Option<Self> {
        if url.starts_with("sqlite:") {
            Some(Kind::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Some(Kind::Postgres)
        } else {
            None
        }
    }
}

/// A URL's scheme alone: what may be quoted back, since a URL can carry a password.
pub fn scheme(url: &str) -> String {
    url.split(':').next().unwrap_or_default().to_owned()
}

/// The URL with any password replaced, for messages and logs.
pub fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

/// Migrations newer than this binary are a clear refusal, not a cryptic one.
fn migrate_error(e: sqlx::migrate::MigrateError) -> StoreError {
    match e {
        sqlx::migrate::MigrateError::VersionMissing(v) => StoreError::TooNew(v.to_string()),
        other => StoreError::Migrate(other),
    }
}

/// Connection pool settings (`store.max_connections`, `store.connect_timeout_seconds`).
#[derive(Debug, Clone, Copy)]
pub struct Pool {
    pub max_connections: u32,
    pub connect_timeout: Duration,
}

impl Default for Pool {
    fn default() -> Self {
        Self {
            max_connections: 10,
            connect_timeout: Duration::from_secs(10),
        }
    }
}

pub use approvals::{Approval, ApprovalState, ApprovalStore, Asked, Asking};
pub use audit::{AuditDecision, AuditOutcome, AuditRecord, AuditWrite, Change, OutcomeKind};
pub use sessions::{IdleWatch, Session, Stopping};
pub use timer_store::TimerStore;

use crate::domain::{EntryPoint, Principal, Verb};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, mpsc};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the store at {url} cannot be opened: {source}")]
    Open { url: String, source: sqlx::Error },
    #[error("the store failed: {0}")]
    Query(#[from] sqlx::Error),
    #[error("the store holds a value this version does not know: {0}")]
    Unknown(String),
    #[error("the store's migrations failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("store.url names a \"{0}\" database; use sqlite://PATH or postgres://…")]
    Unsupported(String),
    #[error(
        "the database has migrations this version of workbench-bot does not know ({0}); run the newer version, or restore the database"
    )]
    TooNew(String),
    #[error("cannot connect to the database: {0}")]
    Connect(String),
    #[error(
        "more than {0} starts and stops to read at once; a count of only some of them would be wrong, so none is given"
    )]
    TooMany(i64),
}

/// An operation being followed, with everything needed to finish the request in
/// another process: where to report and what to record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingOperation {
    pub request_id: String,
    /// The alias when it was asked, for sentences; the instance is `instance`.
    pub alias: String,
    /// The instance's resource path. Empty in rows older versions wrote,
    /// which the alias names instead.
    #[serde(default)]
    pub instance: String,
    pub verb: Verb,
    pub operation: String,
    pub principal: Principal,
    pub team: Option<String>,
    pub entry_point: EntryPoint,
    pub reply_to: crate::report::ReplyTo,
    pub posted: Option<crate::report::Posted>,
    pub started_at: chrono::DateTime<chrono::Utc>,
    /// Who approved the start being followed: its end completes the approved
    /// row, never a new unapproved one.
    #[serde(default)]
    pub approved_by: Option<Principal>,
}

/// One occurrence of timer work, the unit that is claimed and done once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimerClaim<'a> {
    /// The instance's resource path.
    pub instance: &'a str,
    /// `lease-warning`, `schedule-warning`, `reminder`, `approved-start`.
    pub kind: &'static str,
    /// When it is due, ms since the epoch: with the instance and kind, its identity.
    pub due_ms: i64,
}

/// What a database must do for the bot.
#[async_trait]
pub trait StoreBackend: ApprovalStore + keys::AliasKeys + TimerStore + Send + Sync {
    /// Applies the writes in order, in one transaction.
    async fn write_audit(&self, writes: &[AuditWrite]) -> Result<(), StoreError>;
    /// True the first time an event id is claimed, false for every later claim.
    async fn claim_event(&self, event_id: &str) -> Result<bool, StoreError>;
    async fn ping(&self) -> Result<(), StoreError>;
    async fn audit_rows(&self) -> Result<Vec<AuditRecord>, StoreError>;
    /// Drops event ids older than `age`; Slack stops retrying long before.
    async fn prune_events(&self, age: Duration) -> Result<(), StoreError>;
    /// Stores an operation, held by `owner` for `lease`.
    async fn save_pending(
        &self,
        op: &PendingOperation,
        owner: &str,
        lease: Duration,
    ) -> Result<(), StoreError>;
    /// Takes every operation nobody holds (lease ran out or released) for `owner`.
    async fn claim_pending(
        &self,
        owner: &str,
        lease: Duration,
    ) -> Result<Vec<PendingOperation>, StoreError>;
    /// Extends `owner`'s hold on an operation; false when another process took it.
    async fn renew_pending(
        &self,
        request_id: &str,
        owner: &str,
        lease: Duration,
    ) -> Result<bool, StoreError>;
    /// Lets the next process take the operation at once.
    async fn release_pending(&self, request_id: &str, owner: &str) -> Result<(), StoreError>;
    async fn finish_pending(&self, request_id: &str) -> Result<(), StoreError>;
    async fn pending_count(&self) -> Result<usize, StoreError>;
    /// Takes the instance's lock for `lock.request_id` until `lock.expires_at`
    /// (ms since the epoch). `None` when taken (or already held by the same
    /// request); otherwise the live lock that stands in the way.
    async fn lock_instance(&self, lock: &InstanceLock) -> Result<Option<InstanceLock>, StoreError>;
    /// Extends a request's hold on its instance; false when it no longer holds it.
    async fn renew_lock(
        &self,
        instance: &str,
        request_id: &str,
        until_ms: i64,
    ) -> Result<bool, StoreError>;
    async fn unlock_instance(&self, instance: &str, request_id: &str) -> Result<(), StoreError>;
    /// The latest `limit` starts and stops asked of these instances (allowed
    /// or not), newest first, at or after `since` when given: the covering
    /// index of changes keeps it one short read per instance.
    async fn history(
        &self,
        aliases: &[&str],
        since: Option<&str>,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, StoreError>;
    /// The starts and stops asked of these instances at or after `since`
    /// (RFC 3339 text compares in time order), oldest first, at most
    /// `sql::READ_BOUND`: a read for a person touches no row of an instance
    /// they may not see, and none of the status reads that make most of a trail.
    async fn changes_since(&self, aliases: &[&str], since: &str)
    -> Result<Vec<Change>, StoreError>;
    /// Every row at or after `since`, in id order, handed to `each` a page
    /// of `page` rows at a time (a keyset cursor inside one snapshot), until
    /// the rows end or `each` breaks: an export of any size holds one page.
    async fn audit_pages(
        &self,
        since: &str,
        page: usize,
        each: &mut (dyn FnMut(Vec<AuditRecord>) -> std::ops::ControlFlow<()> + Send),
    ) -> Result<(), StoreError>;
    /// Deletes rows older than `before`; returns how many.
    async fn prune_audit(&self, before: &str) -> Result<u64, StoreError>;
}

/// Who is changing an instance right now: one claim per instance for a
/// start, a stop, an automatic stop and every change to its session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceLock {
    /// The instance's resource path.
    pub instance: String,
    pub request_id: String,
    pub principal: Principal,
    pub verb: Verb,
    pub expires_at: i64,
}

#[derive(Clone)]
pub struct Store {
    db: Arc<dyn StoreBackend>,
    tx: mpsc::UnboundedSender<writer::WriterMsg>,
    /// Wakes the writer for a flush while it waits out a commit's interval.
    flush_wanted: Arc<Notify>,
    /// Requests whose row was begun and not yet settled: what a shutdown marks
    /// interrupted. A std mutex, never held across an await.
    unsettled: Arc<Mutex<HashSet<String>>>,
    /// Rows queued and not yet written (or given up on). Past `backlog_limit`
    /// new requests are turned away as busy, so a store that is down bounds
    /// the queue instead of growing it with every request.
    backlog: Arc<AtomicUsize>,
    backlog_limit: usize,
}

/// Rows the writer may hold before new requests are turned away: about 5 MB,
/// and over a minute of a busy team's traffic with the store down.
pub const AUDIT_BACKLOG: usize = 10_000;

impl Store {
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        Self::open_with(url, &Pool::default()).await
    }

    /// Opens the database `url` names: `sqlite:` (the embedded default) or
    /// `postgres:`/`postgresql:` (Cloud Run, several replicas).
    pub async fn open_with(url: &str, pool: &Pool) -> Result<Self, StoreError> {
        let db: Arc<dyn StoreBackend> = match Kind::of(url) {
            Some(Kind::Sqlite) => Arc::new(sqlite::Sqlite::open(url).await?),
            Some(Kind::Postgres) => Arc::new(postgres::Postgres::open(url, pool).await?),
            None => return Err(StoreError::Unsupported(scheme(url))),
        };
        Ok(Self::with_backend(db))
    }

    /// A store that lives only as long as the process: for a GitHub Actions
    /// job, whose container keeps nothing and may not be able to write a file.
    pub async fn in_memory() -> Result<Self, StoreError> {
        Self::open("sqlite::memory:").await
    }

    pub fn with_backend(db: Arc<dyn StoreBackend>) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let backlog = Arc::new(AtomicUsize::new(0));
        let flush_wanted = Arc::new(Notify::new());
        tokio::spawn(writer::write_loop(
            db.clone(),
            rx,
            flush_wanted.clone(),
            backlog.clone(),
        ));
        Self {
            db,
            tx,
            flush_wanted,
            unsettled: Arc::default(),
            backlog,
            backlog_limit: AUDIT_BACKLOG,
        }
    }

    /// A smaller bound on rows waiting for the database (tests).
    pub fn with_backlog_limit(mut self, rows: usize) -> Self {
        self.backlog_limit = rows;
        self
    }

    /// Whether a new request may be taken on: its rows have room in the
    /// writer's queue. The rows of requests already taken are always queued,
    /// so the queue stays within the limit plus the work in flight.
    pub fn has_room(&self) -> bool {
        self.backlog.load(Ordering::Relaxed) < self.backlog_limit
    }

    fn send(&self, write: AuditWrite) {
        self.backlog.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = self.tx.send(writer::WriterMsg::Write(Box::new(write))) {
            self.backlog.fetch_sub(1, Ordering::Relaxed);
            // The writer is gone only when the runtime is: the log line keeps the row.
            if let writer::WriterMsg::Write(w) = e.0 {
                tracing::error!(request_id = %w.request_id(), "audit writer closed; row not stored");
            }
        }
    }

    /// Queues a finished request's row; never waits.
    pub fn record(&self, row: AuditRecord) {
        self.send(AuditWrite::Insert(row));
    }

    /// Queues the row of a request whose work is starting, as `running`, so an
    /// action that happens is on record even if the process dies mid-way.
    pub fn begin(&self, mut row: AuditRecord) {
        row.outcome = OutcomeKind::Running.into();
        self.unsettled
            .lock()
            .expect("unsettled lock")
            .insert(row.request_id.clone());
        self.send(AuditWrite::Insert(row));
    }

    /// Completes the latest row of a request with how it ended.
    pub fn settle(&self, request_id: &str, outcome: AuditOutcome) {
        self.unsettled
            .lock()
            .expect("unsettled lock")
            .remove(request_id);
        self.send(AuditWrite::Settle {
            request_id: request_id.to_owned(),
            outcome,
        });
    }

    /// At shutdown: every row still `running` becomes `interrupted`.
    pub fn interrupt_unsettled(&self) -> usize {
        let ids: Vec<String> = self
            .unsettled
            .lock()
            .expect("unsettled lock")
            .drain()
            .collect();
        for id in &ids {
            self.send(AuditWrite::Settle {
                request_id: id.clone(),
                outcome: OutcomeKind::Interrupted.into(),
            });
        }
        ids.len()
    }

    /// Waits until every row queued so far is written.
    pub async fn flush(&self) {
        if let Some(done) = writer::ask_flush(&self.tx, &self.flush_wanted) {
            let _ = done.await;
        }
    }

    pub async fn claim_event(&self, event_id: &str) -> Result<bool, StoreError> {
        self.db.claim_event(event_id).await
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        self.db.ping().await
    }

    pub async fn audit_rows(&self) -> Result<Vec<AuditRecord>, StoreError> {
        self.db.audit_rows().await
    }

    pub async fn prune_events(&self, age: Duration) -> Result<(), StoreError> {
        self.db.prune_events(age).await
    }

    /// The latest `limit` starts and stops of these instances, newest first:
    /// since `recent` first (a few pages of the index for any number of
    /// instances), then the month, the year, and only then all of it.
    pub async fn history(
        &self,
        aliases: &[&str],
        recent: chrono::DateTime<chrono::Utc>,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        // Wider windows in steps: an instance idle for a month must not make
        // every instance's whole trail be read and sorted.
        for days in [0, 23, 358] {
            let since = (recent - chrono::Duration::days(days)).to_rfc3339();
            let rows = self.db.history(aliases, Some(&since), limit).await?;
            if rows.len() >= limit {
                return Ok(rows);
            }
        }
        self.db.history(aliases, None, limit).await
    }

    pub fn db(&self) -> &Arc<dyn StoreBackend> {
        &self.db
    }
}

/// What to check, by what went wrong, when PostgreSQL cannot be reached.
fn pg_connect_advice(url: &str, e: &sqlx::Error) -> String {
    let hint = match e {
        sqlx::Error::Database(d) if d.code().as_deref() == Some("28P01") => {
            "the password was refused: check PGPASSWORD or DATABASE_URL"
        }
        sqlx::Error::Database(d) if d.code().as_deref() == Some("3D000") => {
            "the database does not exist: create it, or fix the name in store.url"
        }
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut => {
            "nothing answered: is the server running, and is store.url's host and port right?"
        }
        _ => "check store.url, PGPASSWORD and that the server accepts this user",
    };
    format!("{url}: {e} ({hint})")
}

//! Approval requests for guarded instances: waiting for an approver, then
//! approved, denied or expired, exactly once. The one SQL text serves both
//! databases (`$n` placeholders read the same in SQLite and PostgreSQL); the
//! decision is a single conditional UPDATE, so two approvers pressing at once
//! (on two replicas) decide it once.

use super::StoreError;
use super::postgres::Postgres;
use super::sqlite::Sqlite;
use crate::domain::{EntryPoint, Origin, Principal};
use crate::report::{Posted, ReplyTo};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where an approval request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApprovalState {
    Waiting,
    /// Approved, and the grant not yet used: the start has not gone out.
    Approved,
    /// Approved, and the start (or extension) it allowed went out.
    Started,
    Denied,
    Expired,
}

impl ApprovalState {
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalState::Waiting => "waiting",
            ApprovalState::Approved => "approved",
            ApprovalState::Started => "started",
            ApprovalState::Denied => "denied",
            ApprovalState::Expired => "expired",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [
            Self::Waiting,
            Self::Approved,
            Self::Started,
            Self::Denied,
            Self::Expired,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

/// What was asked, by whom, and where they wait: everything needed to run the
/// start on another replica, hours later.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Asked {
    /// What the approval allows: a start, or more time for a running one.
    #[serde(default)]
    pub kind: Asking,
    pub requester: Principal,
    /// `start … for`, in minutes; for an extension, how much more.
    pub lasting_minutes: Option<u32>,
    pub reason: String,
    pub entry: EntryPoint,
    pub team: Option<String>,
    /// Where the requester hears the decision and the start's end.
    pub tell: ReplyTo,
    pub origin: Origin,
    pub requested_at: DateTime<Utc>,
}

/// What an approval request is for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Asking {
    #[default]
    Start,
    /// `extend` or *Keep 1 h* past the length an approver allowed.
    Extend,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    pub id: String,
    /// The alias when it was asked, for sentences.
    pub alias: String,
    /// The instance's resource path; empty in rows older versions wrote
    /// until a replica that knows the alias adopts them.
    pub instance: String,
    pub state: ApprovalState,
    pub expires_at: DateTime<Utc>,
    pub decided_by: Option<Principal>,
    /// Why it was denied.
    pub note: Option<String>,
    /// The request messages approvers see, updated once it is decided.
    pub messages: Vec<Posted>,
    pub asked: Asked,
}

/// What a database must do for approvals.
#[async_trait]
pub trait ApprovalStore: Send + Sync {
    async fn put_approval(&self, a: &Approval) -> Result<(), StoreError>;
    async fn approval(&self, id: &str) -> Result<Option<Approval>, StoreError>;
    /// Every request still waiting, oldest first.
    async fn waiting_approvals(&self) -> Result<Vec<Approval>, StoreError>;
    /// Moves a waiting request to `state`; false when it was no longer waiting
    /// (someone else decided, or it expired). Only the first caller wins. An
    /// approval or denial also needs the request unexpired at the moment of
    /// writing; an expiry does not.
    async fn decide_approval(
        &self,
        id: &str,
        state: ApprovalState,
        by: Option<&Principal>,
        note: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    async fn note_approval_messages(&self, id: &str, messages: &[Posted])
    -> Result<(), StoreError>;
    /// Approved requests whose grant is unused: a crash, a shutdown or a
    /// store error came between the approval and Google.
    async fn approved_unstarted(&self) -> Result<Vec<Approval>, StoreError>;
    /// Marks an approved request's grant used, once: false when it was not
    /// approved and unused.
    async fn consume_approval(&self, id: &str) -> Result<bool, StoreError>;
}

const COLUMNS: &str = "id, alias, state, expires_at, decided_by, note, messages, asked, instance";

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Unknown(format!("approvals.{what}: {e}"))
}

fn encode<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("approval fields serialise")
}

/// The columns, read back; anything this version cannot read is an error.
struct Columns {
    id: String,
    alias: String,
    state: String,
    expires_at: i64,
    decided_by: Option<String>,
    note: Option<String>,
    messages: String,
    asked: String,
    instance: Option<String>,
}

impl Columns {
    fn approval(self) -> Result<Approval, StoreError> {
        Ok(Approval {
            state: ApprovalState::parse(&self.state)
                .ok_or_else(|| corrupt("state", &self.state))?,
            expires_at: DateTime::from_timestamp_millis(self.expires_at)
                .ok_or_else(|| corrupt("expires_at", self.expires_at))?,
            decided_by: match self.decided_by {
                Some(p) => Some(Principal::parse(&p).ok_or_else(|| corrupt("decided_by", &p))?),
                None => None,
            },
            messages: serde_json::from_str(&self.messages).map_err(|e| corrupt("messages", e))?,
            asked: serde_json::from_str(&self.asked).map_err(|e| corrupt("asked", e))?,
            id: self.id,
            instance: self.instance.unwrap_or_default(),
            alias: self.alias,
            note: self.note,
        })
    }
}

/// The same statements for each database's pool.
macro_rules! approval_store {
    ($db:ty) => {
        impl $db {
            /// Every request in `state`, oldest first.
            async fn approvals_in(&self, state: &str) -> Result<Vec<Approval>, StoreError> {
                let rows = sqlx::query_as::<_, Row>(&format!(
                    "SELECT {COLUMNS} FROM approvals WHERE state = $1 ORDER BY expires_at"
                ))
                .bind(state)
                .fetch_all(&self.pool)
                .await?;
                // One unreadable row must not hold up every other request.
                Ok(rows
                    .into_iter()
                    .filter_map(|r| {
                        columns(r)
                            .approval()
                            .map_err(|e| tracing::error!(error = %e, "unreadable approval request left in the store"))
                            .ok()
                    })
                    .collect())
            }
        }

        #[async_trait]
        impl ApprovalStore for $db {
            async fn put_approval(&self, a: &Approval) -> Result<(), StoreError> {
                sqlx::query(&format!(
                    "INSERT INTO approvals ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
                ))
                .bind(&a.id)
                .bind(&a.alias)
                .bind(a.state.as_str())
                .bind(a.expires_at.timestamp_millis())
                .bind(a.decided_by.as_ref().map(|p| p.to_string()))
                .bind(&a.note)
                .bind(encode(&a.messages))
                .bind(encode(&a.asked))
                .bind(Some(a.instance.as_str()).filter(|i| !i.is_empty()))
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn approval(&self, id: &str) -> Result<Option<Approval>, StoreError> {
                let row = sqlx::query_as::<_, Row>(
                    &format!("SELECT {COLUMNS} FROM approvals WHERE id = $1"),
                )
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
                row.map(columns).map(Columns::approval).transpose()
            }

            async fn waiting_approvals(&self) -> Result<Vec<Approval>, StoreError> {
                self.approvals_in("waiting").await
            }

            async fn approved_unstarted(&self) -> Result<Vec<Approval>, StoreError> {
                self.approvals_in("approved").await
            }

            async fn consume_approval(&self, id: &str) -> Result<bool, StoreError> {
                let done = sqlx::query(
                    "UPDATE approvals SET state = 'started' WHERE id = $1 AND state = 'approved'",
                )
                .bind(id)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn decide_approval(
                &self,
                id: &str,
                state: ApprovalState,
                by: Option<&Principal>,
                note: Option<&str>,
                now: DateTime<Utc>,
            ) -> Result<bool, StoreError> {
                let not_after = match state {
                    ApprovalState::Expired => i64::MIN,
                    _ => now.timestamp_millis(),
                };
                let done = sqlx::query(
                    "UPDATE approvals SET state = $1, decided_by = $2, note = $3 WHERE id = $4 AND state = 'waiting' AND expires_at > $5",
                )
                .bind(state.as_str())
                .bind(by.map(|p| p.to_string()))
                .bind(note)
                .bind(id)
                .bind(not_after)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn note_approval_messages(
                &self,
                id: &str,
                messages: &[Posted],
            ) -> Result<(), StoreError> {
                sqlx::query("UPDATE approvals SET messages = $1 WHERE id = $2")
                    .bind(encode(&messages))
                    .bind(id)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }
        }
    };
}

type Row = (
    String,
    String,
    String,
    i64,
    Option<String>,
    Option<String>,
    String,
    String,
    Option<String>,
);

fn columns(r: Row) -> Columns {
    let (id, alias, state, expires_at, decided_by, note, messages, asked, instance) = r;
    Columns {
        instance,
        id,
        alias,
        state,
        expires_at,
        decided_by,
        note,
        messages,
        asked,
    }
}

approval_store!(Sqlite);
approval_store!(Postgres);

//! The session row: a running instance as the bot knows it, and the stop
//! of it that is under way. The rules that open and close it live in
//! `crate::timers`; this is only its stored shape (JSON in `sessions.payload`).

use crate::domain::Principal;
use serde::{Deserialize, Serialize};

/// An instance while it runs, as the bot knows it: since when, for whom, the
/// time limit it runs under (`ends_at`: the bot stops it then unless someone
/// extends it), and an automatic stop under way. Costs so far and per session
/// are measured from `started_at`. Keyed by the instance's resource path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The resource path; read from the row's key, whatever the payload says.
    #[serde(default, alias = "alias")]
    pub instance: String,
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub ends_at: Option<chrono::DateTime<chrono::Utc>>,
    /// `None`: started outside the bot (the console, or before it knew).
    pub started_by: Option<Principal>,
    /// Where warnings and the automatic stop are told: the starter's DMs.
    pub tell: crate::report::ReplyTo,
    /// The latest end an approver allowed (a guarded instance): an
    /// extension past it asks the approvers again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_until: Option<chrono::DateTime<chrono::Utc>>,
    /// A scheduled stop that someone skipped for this session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<chrono::DateTime<chrono::Utc>>,
    /// A stop that went out (or was due) and is not yet confirmed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopping: Option<Stopping>,
    /// What the idle watch knows (instances with `idle_minutes`).
    #[serde(default, skip_serializing_if = "IdleWatch::is_empty")]
    pub idle: IdleWatch,
}

/// The idle watch of a session: its last reading of Cloud Monitoring, the
/// warning out before an idle stop, and a *Keep 1 h* that pauses it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdleWatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read: Option<crate::activity::Reading>,
    /// The idle stop falls due then, unless a reading says otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_due: Option<chrono::DateTime<chrono::Utc>>,
    /// No idle warning or stop before this (*Keep 1 h*).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kept_until: Option<chrono::DateTime<chrono::Utc>>,
}

impl IdleWatch {
    pub fn is_empty(&self) -> bool {
        *self == IdleWatch::default()
    }
}

/// A stop of a session's instance that is not yet confirmed: an automatic
/// one (`reason`) the bot retries until Google reads `STOPPED` or the
/// workflow run succeeds, or a person's handed to GitHub, whose run is
/// looked up so the session closes when it succeeds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stopping {
    /// `None`: a person's stop; it is never sent again.
    pub reason: Option<crate::domain::TimerReason>,
    /// When the stop was due (the time limit, the scheduled time).
    pub due: chrono::DateTime<chrono::Utc>,
    /// The request every attempt is audited and dispatched under.
    pub request_id: String,
    /// 1 for the first; each retried dispatch carries its own number.
    pub attempt: u32,
    /// When the current attempt was handed to GitHub: its run is awaited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handed_off_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Attempts that did not stop it, in the current failure episode.
    #[serde(default)]
    pub failures: u32,
    /// No attempt before this (backoff after a failure).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_try: Option<chrono::DateTime<chrono::Utc>>,
    /// The starter heard of this episode's failure; the operators too.
    #[serde(default)]
    pub told: bool,
    #[serde(default)]
    pub operators_told: bool,
}

//! The act step: carries out an allowed command through a backend.
//!
//! A backend knows Google or GitHub and nothing about Slack: it takes an instance
//! from the config and returns an [`Outcome`] or a [`BackendError`] that says which
//! side failed and what to do. The core picks the backend per instance.

pub mod dry_run;
pub mod github;
pub mod notebooks;

use crate::config::{BackendKind, Instance};
use crate::domain::Principal;
use async_trait::async_trait;
use std::fmt;

/// Instance states as the Notebooks API v2 names them (revision 20261006).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum State {
    Starting,
    Provisioning,
    Active,
    Stopping,
    Stopped,
    Deleted,
    Upgrading,
    Initializing,
    Suspending,
    Suspended,
    Orphaned,
    Unspecified,
    Other(String),
}

impl State {
    pub fn from_api(s: &str) -> Self {
        match s {
            "STARTING" => State::Starting,
            "PROVISIONING" => State::Provisioning,
            "ACTIVE" => State::Active,
            "STOPPING" => State::Stopping,
            "STOPPED" => State::Stopped,
            "DELETED" => State::Deleted,
            "UPGRADING" => State::Upgrading,
            "INITIALIZING" => State::Initializing,
            "SUSPENDING" => State::Suspending,
            "SUSPENDED" => State::Suspended,
            "ORPHANED" => State::Orphaned,
            "STATE_UNSPECIFIED" => State::Unspecified,
            other => State::Other(other.to_owned()),
        }
    }

    pub fn as_api(&self) -> &str {
        match self {
            State::Starting => "STARTING",
            State::Provisioning => "PROVISIONING",
            State::Active => "ACTIVE",
            State::Stopping => "STOPPING",
            State::Stopped => "STOPPED",
            State::Deleted => "DELETED",
            State::Upgrading => "UPGRADING",
            State::Initializing => "INITIALIZING",
            State::Suspending => "SUSPENDING",
            State::Suspended => "SUSPENDED",
            State::Orphaned => "ORPHANED",
            State::Unspecified => "STATE_UNSPECIFIED",
            State::Other(s) => s,
        }
    }

    /// Words a researcher reads: "running", not "ACTIVE".
    pub fn describe(&self) -> &str {
        match self {
            State::Active => "running",
            State::Stopped => "stopped",
            State::Starting | State::Provisioning | State::Initializing => "starting",
            State::Stopping => "stopping",
            State::Deleted => "deleted",
            State::Upgrading => "upgrading",
            State::Suspending => "suspending",
            State::Suspended => "suspended",
            State::Orphaned => "orphaned (its VM is gone)",
            State::Unspecified | State::Other(_) => "in an unknown state",
        }
    }

    pub fn is_running_or_coming_up(&self) -> bool {
        matches!(
            self,
            State::Active | State::Starting | State::Provisioning | State::Initializing
        )
    }

    pub fn is_stopped_or_going_down(&self) -> bool {
        matches!(self, State::Stopped | State::Stopping)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// What a backend can tell about one instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceStatus {
    pub state: State,
    pub machine_type: Option<String>,
    pub accelerators: Vec<String>,
    /// RFC 3339 time of the last change, as Google reports it.
    pub update_time: Option<String>,
    /// The JupyterLab address, when the instance runs.
    pub proxy_uri: Option<String>,
}

impl InstanceStatus {
    pub fn bare(state: State) -> Self {
        Self {
            state,
            machine_type: None,
            accelerators: Vec::new(),
            update_time: None,
            proxy_uri: None,
        }
    }
}

/// Where the requester is waiting, so a backend that hands the work on (GitHub)
/// can tell the next step where to report.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SlackPlace {
    pub channel: Option<String>,
    pub thread_ts: Option<String>,
}

/// Who asked, for a backend that passes it on.
#[derive(Debug, Clone)]
pub struct ActContext {
    pub request_id: String,
    pub requested_by: Principal,
    pub place: SlackPlace,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The action finished; here is the state now.
    Done(InstanceStatus),
    /// Nothing to do: the instance is already where it was asked to go.
    AlreadyThere(InstanceStatus),
    /// The action was accepted and runs on; follow `operation` with [`Backend::wait`].
    Pending { operation: String },
    /// The work was handed to another system (a GitHub workflow) that reports itself.
    HandedOff { detail: String },
}

/// A failure, with the side that failed and what a person can do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    #[error("{alias} is {state}, so it cannot be {verb}ed now{hint}")]
    WrongState {
        alias: String,
        state: State,
        verb: &'static str,
        hint: String,
    },
    #[error("Google Cloud refused: {0}")]
    Google(String),
    #[error("GitHub refused: {0}")]
    Github(String),
    #[error("{0}")]
    Setup(String),
    #[error(
        "{alias} is still {what} after {waited_secs} s; it may yet finish. Check again with `status {alias}` in a few minutes"
    )]
    StillRunning {
        alias: String,
        what: String,
        waited_secs: u64,
    },
}

impl BackendError {
    /// Which side failed, for the reply and the audit row.
    pub fn side(&self) -> &'static str {
        match self {
            BackendError::WrongState { .. } | BackendError::StillRunning { .. } => "instance",
            BackendError::Google(_) => "google",
            BackendError::Github(_) => "github",
            BackendError::Setup(_) => "bot",
        }
    }
}

#[async_trait]
pub trait Backend: Send + Sync {
    fn kind(&self) -> BackendKind;

    async fn status(&self, inst: &Instance) -> Result<InstanceStatus, BackendError>;

    /// Several statuses at once (`list`); backends with a cheaper bulk read override it.
    async fn statuses(&self, insts: &[&Instance]) -> Vec<Result<InstanceStatus, BackendError>> {
        futures::future::join_all(insts.iter().map(|i| self.status(i))).await
    }

    async fn start(&self, inst: &Instance, ctx: &ActContext) -> Result<Outcome, BackendError>;

    async fn stop(&self, inst: &Instance, ctx: &ActContext) -> Result<Outcome, BackendError>;

    /// For work handed to another system: where a person can watch it (a
    /// workflow run's address), found within a bounded wait.
    async fn handoff_link(&self, ctx: &ActContext) -> Option<String> {
        let _ = ctx;
        None
    }

    /// Follows a pending operation to its end. Backends that never return
    /// `Outcome::Pending` keep this default.
    async fn wait(&self, inst: &Instance, operation: &str) -> Result<Outcome, BackendError> {
        let _ = operation;
        Err(BackendError::Setup(format!(
            "the {} backend cannot follow operations on {}",
            self.kind().as_str(),
            inst.alias
        )))
    }
}

//! The act step: carries out an allowed command through a backend.
//!
//! A backend knows Google or GitHub and nothing about Slack: it takes an instance
//! from the config and returns an [`Outcome`] or a [`BackendError`] that says which
//! side failed and what to do. [`Backends`] is the registry the pipeline picks
//! from per instance, and the one place backends are set up.

mod dry_run;
mod github;
mod notebooks;
mod payload;
mod registry;
mod state;

pub use dry_run::DryRun;
pub use github::{Github, GithubAuth, GithubError};
pub use notebooks::{
    ApiAcceleratorConfig, ApiGceSetup, ApiInstance, ApiOperation, ApiStatus, Notebooks,
    NotebooksClient, NotebooksError, Polling, SCOPE, TokenSource,
};
pub(crate) use notebooks::{Refused, google_answer, google_http};
pub use payload::{DispatchPayload, SignatureError, SlackPlace, Workbench};
pub use registry::{Backends, SetupError, github_auth, google_tokens};
pub use state::{Accelerator, InstanceStatus, State, confirms_stop};

use crate::config::{BackendKind, Instance};
use crate::domain::{Origin, Principal};
use async_trait::async_trait;
use std::fmt;
use std::sync::Arc;

/// Who asked, for a backend that passes it on.
#[derive(Debug, Clone)]
pub struct ActContext {
    pub request_id: String,
    pub requested_by: Principal,
    /// Opaque to the backend; handed on so a workflow can report where asked.
    pub origin: Origin,
    /// Who approved a guarded start; the GitHub backend signs it into the dispatch.
    pub approved_by: Option<Principal>,
    /// 1 for a request's first try; an automatic stop sent again counts up,
    /// and a dispatch carries it so each try's workflow run is found apart.
    pub attempt: u32,
}

/// How work handed to another system ended, as far as can be told now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handoff {
    /// Not found (yet), or this backend cannot tell.
    Unknown,
    /// The other system would not say (a permission, an outage): nothing
    /// can be concluded from it, either way.
    Unreadable(String),
    Running,
    Succeeded,
    /// It ended otherwise; the sentence says how, and where to look.
    Failed(String),
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

impl Outcome {
    /// The state it left the instance in, when it says (for the session's cost).
    pub fn status(&self) -> Option<&InstanceStatus> {
        match self {
            Outcome::Done(s) | Outcome::AlreadyThere(s) => Some(s),
            _ => None,
        }
    }
}

/// Which side a failure is on: the reply names it, and the audit records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The instance itself is in a state that forbids the action.
    Instance,
    Google,
    Github,
    /// This bot's own set-up (credentials or config missing).
    Bot,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Instance => "instance",
            Side::Google => "google",
            Side::Github => "github",
            Side::Bot => "bot",
        }
    }

    /// Reads the form [`as_str`](Self::as_str) writes.
    pub fn parse(s: &str) -> Option<Self> {
        [Side::Instance, Side::Google, Side::Github, Side::Bot]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failure, with the side that failed and what a person can do about it. The
/// `advice` is the sentence a person reads; the source is kept for the logs.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BackendError {
    #[error("{alias} is {state}, so it cannot be {verb}ed now{hint}")]
    WrongState {
        alias: String,
        state: State,
        verb: &'static str,
        hint: String,
    },
    #[error("Google Cloud: {advice}")]
    Google {
        advice: String,
        #[source]
        source: Arc<NotebooksError>,
    },
    #[error("GitHub: {advice}")]
    Github {
        advice: String,
        #[source]
        source: Arc<GithubError>,
    },
    #[error(transparent)]
    Setup(Arc<SetupError>),
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
    pub fn side(&self) -> Side {
        match self {
            BackendError::WrongState { .. } | BackendError::StillRunning { .. } => Side::Instance,
            BackendError::Google { .. } => Side::Google,
            BackendError::Github { .. } => Side::Github,
            BackendError::Setup(_) => Side::Bot,
        }
    }
}

impl From<SetupError> for BackendError {
    fn from(e: SetupError) -> Self {
        BackendError::Setup(Arc::new(e))
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

    /// How the handed-off try `attempt` of request `request_id` ended: for
    /// a stop, whose session closes only when its run succeeded.
    async fn handoff_result(&self, request_id: &str, attempt: u32) -> Handoff {
        let _ = (request_id, attempt);
        Handoff::Unknown
    }

    /// Follows a pending operation to its end. Backends that never return
    /// `Outcome::Pending` keep this default.
    async fn wait(&self, inst: &Instance, operation: &str) -> Result<Outcome, BackendError> {
        let _ = operation;
        Err(SetupError::CannotFollow {
            backend: self.kind(),
            alias: inst.alias.to_string(),
        }
        .into())
    }
}

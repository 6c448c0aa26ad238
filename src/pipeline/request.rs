//! What enters the pipeline and what a transport gets back from it.

use crate::act::State;
use crate::domain::{Command, EntryPoint, Origin, Principal, TeamId};
use crate::report::{Reply, ReplyTo};

/// What the person sent: free text, or a command a form already structured.
#[derive(Debug, Clone)]
pub enum Input {
    Text(String),
    Command(Command),
}

/// A verified, transport-neutral request.
#[derive(Debug, Clone)]
pub struct Request {
    pub id: String,
    pub team: Option<TeamId>,
    pub principal: Principal,
    pub entry: EntryPoint,
    pub input: Input,
    pub reply_to: ReplyTo,
    pub grant: Grant,
    pub origin: Origin,
}

/// What a request carries beyond its command: an approval, a workflow
/// step's token, an automatic stop's try.
#[derive(Debug, Clone, Default)]
pub struct Grant {
    /// Who approved it. Only the approval flow and `handle-dispatch` (from a
    /// signed payload) set it, and the core still checks it against the
    /// instance's approvers.
    pub approved_by: Option<Principal>,
    /// A Workflow Builder step's just-in-time token that came with this
    /// request (the step's own event, or a press on a message the step posted).
    pub step_token: Option<crate::settings::Secret>,
    /// An automatic stop's try (1 for the first): a retried dispatch carries
    /// it, so its workflow run is told apart from the first.
    pub attempt: Option<u32>,
    /// The instance's claim its caller already holds for this request (the
    /// timer engine's): the change runs under it and leaves it to the caller.
    pub claim: Option<String>,
}

impl Request {
    /// Time-ordered (UUID v7, 74 random bits): the audit's index on
    /// `request_id` then takes each new row at its end, where a random id
    /// landed on a random page and made it the costliest part of an insert.
    pub fn new_id() -> String {
        uuid::Uuid::now_v7().simple().to_string()
    }
}

/// How a request ended, for transports that must say more than a Slack message
/// (exit codes, `functions.completeError`).
#[derive(Debug, Clone)]
pub struct Handled {
    pub ok: bool,
    /// Why it was refused (`in_progress`: another change holds the instance).
    pub reason: &'static str,
    pub reply: Reply,
    pub state: Option<State>,
    /// The work went to the GitHub workflow, which tells the requester the end.
    pub handed_off: bool,
    /// A guarded start is waiting for an approver; its end comes later.
    pub awaiting_approval: bool,
}

impl Handled {
    /// What a Workflow Builder step completes with.
    pub fn step_end(&self) -> crate::report::StepEnd {
        crate::report::StepEnd {
            ok: self.ok,
            state: self
                .state
                .as_ref()
                .map(|s| s.describe().to_owned())
                .unwrap_or_default(),
            message: self.reply.text.clone(),
        }
    }
}

/// Who holds an instance's claim (the lock starts, stops and timer changes
/// take) when a request asked for it.
pub(crate) enum Held {
    /// Taken for this request.
    Mine,
    /// Another request has it.
    By(crate::store::InstanceLock),
}

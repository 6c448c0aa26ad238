//! [`Verdict`]: what the decide and act steps concluded about one request, before
//! it is reported and recorded. Each constructor makes a complete verdict; none is
//! built empty and filled in later.

use crate::act::{ActContext, Backend, BackendError, State};
use crate::config::{BackendKind, Instance};
use crate::decide::Refusal;
use crate::report::{Card, Reply, messages};
use crate::store::{AuditDecision, OutcomeKind};
use std::sync::Arc;

/// Whether this process tells the person how the request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delivery {
    Report,
    /// This process stopped while following the work; the one that resumes it
    /// reports the end.
    LeftForAnother,
}

pub(crate) struct Verdict {
    pub decision: AuditDecision,
    /// The refusal's code, or why the request was invalid; empty when allowed.
    pub reason: &'static str,
    pub instance: Option<String>,
    /// The backend that acted; none when the request was refused before acting.
    pub backend: Option<BackendKind>,
    pub outcome: OutcomeKind,
    pub reply: Reply,
    pub state: Option<State>,
    pub delivery: Delivery,
    /// Start/stop results that go to `slack.announce_channel` too.
    pub announce: bool,
    /// Work handed to GitHub: look for its run afterwards and post the link.
    pub handoff: Option<(Arc<dyn Backend>, ActContext)>,
}

impl Verdict {
    fn new(decision: AuditDecision, outcome: OutcomeKind, reply: String) -> Self {
        Self {
            decision,
            reason: "",
            instance: None,
            backend: None,
            outcome,
            reply: Reply::text(reply),
            state: None,
            delivery: Delivery::Report,
            announce: false,
            handoff: None,
        }
    }

    /// An allowed request that touched no instance (help, whoami, list).
    pub fn info(reply: String, outcome: OutcomeKind) -> Self {
        Self::new(AuditDecision::Allowed, outcome, reply)
    }

    pub fn refused(refusal: &Refusal, inst: Option<&Instance>) -> Self {
        let mut v = Self::new(
            AuditDecision::Refused,
            OutcomeKind::Nothing,
            messages::refused(refusal),
        );
        v.reason = refusal.code();
        v.instance = inst.map(|i| i.alias.to_string());
        v
    }

    /// Another request is changing the instance right now; nothing was sent.
    pub fn busy(inst: &Instance, reply: String) -> Self {
        let mut v = Self::new(AuditDecision::Refused, OutcomeKind::Nothing, reply);
        v.reason = "in_progress";
        v.instance = Some(inst.alias.to_string());
        v
    }

    /// No room to run the request at all: every slot for work was taken.
    pub fn turned_away() -> Self {
        let mut v = Self::new(
            AuditDecision::Refused,
            OutcomeKind::Nothing,
            messages::busy(),
        );
        v.reason = "busy";
        v
    }

    /// Refused for a reason of its own about one instance (approvals: not an
    /// approver, their own request, already decided).
    pub fn declined_about(reason: &'static str, alias: &str, reply: String) -> Self {
        let mut v = Self::new(AuditDecision::Refused, OutcomeKind::Nothing, reply);
        v.reason = reason;
        v.instance = Some(alias.to_owned());
        v
    }

    pub fn invalid(reason: &'static str, reply: String) -> Self {
        let mut v = Self::new(AuditDecision::Invalid, OutcomeKind::Nothing, reply);
        v.reason = reason;
        v
    }

    /// An allowed request about one instance.
    pub fn about(inst: &Instance, outcome: OutcomeKind, reply: String) -> Self {
        let mut v = Self::new(AuditDecision::Allowed, outcome, reply);
        v.instance = Some(inst.alias.to_string());
        v.backend = Some(inst.backend);
        v
    }

    /// An allowed request that failed on some side.
    pub fn failed(inst: &Instance, e: &BackendError) -> Self {
        Self::about(
            inst,
            OutcomeKind::Failed(e.side()),
            messages::failure(inst, e),
        )
    }

    /// The bot's own store failed, so nothing was changed.
    pub fn store_failed(inst: &Instance, e: &crate::store::StoreError) -> Self {
        Self::about(
            inst,
            OutcomeKind::Failed(crate::act::Side::Bot),
            format!(
                ":x: The bot could not reach its own store ({e}), so nothing about `{}` changed. This is on the bot's side; tell the platform team.",
                inst.alias
            ),
        )
    }

    /// Work this process stopped following; another reports it.
    pub fn left_for_another(inst: &Instance) -> Self {
        let mut v = Self::about(inst, OutcomeKind::LeftForNextProcess, String::new());
        v.delivery = Delivery::LeftForAnother;
        v
    }

    pub fn with_state(mut self, state: State, card: Card) -> Self {
        self.state = Some(state);
        self.reply.card = Some(card);
        self
    }

    /// The same verdict, told in other words.
    pub fn saying(mut self, reply: String) -> Self {
        self.reply = Reply::text(reply);
        self
    }

    pub fn announced(mut self) -> Self {
        self.announce = true;
        self
    }

    /// Whether the person got what they asked for.
    /// Whether what it did may have changed an instance's state, session
    /// or approvals (not a status read, a list, a refusal).
    pub fn changes_instance(&self) -> bool {
        use crate::store::OutcomeKind as O;
        // A failure changed nothing the bot knows of; republishing for it
        // would only read a failing side again for everyone.
        !matches!(
            self.outcome,
            O::Nothing | O::Help | O::Whoami | O::Listed(_) | O::Seen(_) | O::Costs | O::Failed(_)
        )
    }

    pub fn ok(&self) -> bool {
        self.decision == AuditDecision::Allowed && !self.outcome.is_failure()
    }
}

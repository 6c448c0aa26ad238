//! The audit schema: one row per request that reached the pipeline, and the
//! words its columns hold. Dashboards, alerts and exports read these texts, so
//! they are written down here, once, and typed everywhere else.
//!
//! | column | values |
//! | --- | --- |
//! | `decision` | `allowed`; `refused` (policy or rate limit said no); `invalid` (unparsable text, unknown alias) |
//! | `reason` | empty when allowed; a refusal's code when refused (`not_operator`, `not_viewer`, `rate_limited`, …, see `decide::Refusal::code`, `in_progress` when another request was changing the instance, and `busy` when the bot had no room to run it, `limits.max_in_flight`); `unparsed` or `unknown_instance` when invalid |
//! | `entry_point` | `slash_command`, `mention`, `workflow_message`, `workflow_step`, `modal`, `button`, `dispatch` |
//! | `backend` | `notebooks`, `github`, `dry-run`, or empty when no backend was chosen |
//! | `outcome` | see [`OutcomeKind`]; `; report failed` is appended when Slack did not take the reply. A row is written as `running` when an allowed request starts work, and settled with its outcome when the work ends (before the reply is sent) |
//!
//! | `approved_by` | who approved the guarded start the row records (the requester is `principal`); empty otherwise |
//!
//! `principal` is a Slack user id (`U…`) or `workflow:B…`; `team` a workspace id
//! (empty for a dispatch); `command` the normalised command text.

use crate::act::Side;
use crate::domain::EntryPoint;
use serde::{Deserialize, Serialize};
use std::fmt;

/// What policy made of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuditDecision {
    Allowed,
    Refused,
    Invalid,
}

impl AuditDecision {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditDecision::Allowed => "allowed",
            AuditDecision::Refused => "refused",
            AuditDecision::Invalid => "invalid",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Allowed, Self::Refused, Self::Invalid]
            .into_iter()
            .find(|d| d.as_str() == s)
    }
}

impl fmt::Display for AuditDecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for AuditDecision {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// How a request ended. States are the Notebooks API's words (`ACTIVE`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutcomeKind {
    /// `none`: nothing was attempted (refused or invalid).
    Nothing,
    /// `help`
    Help,
    /// `whoami`
    Whoami,
    /// `list:N`: N instances shown.
    Listed(usize),
    /// `STATE`: a status read.
    Seen(String),
    /// `done:STATE`: a start or stop finished.
    Done(String),
    /// `unchanged:STATE`: already where asked to go.
    Unchanged(String),
    /// `handed_off`: sent to the GitHub workflow, which reports itself.
    HandedOff,
    /// `pending`: still running when the bot stopped waiting.
    Pending,
    /// `pending:left for the next process`: this process stopped while following
    /// it; another process reports the end under the same request id.
    LeftForNextProcess,
    /// `error:SIDE`: failed on that side (`instance`, `google`, `github`, `bot`).
    Failed(Side),
    /// `running`: allowed and under way; settled when it ends.
    Running,
    /// `interrupted`: the process stopped before the work ended and could not
    /// hand it on; check the instance's state.
    Interrupted,
    /// `extended`: a lease moved later, or a scheduled stop skipped for one.
    Extended,
    /// `costs`: the cost report was shown.
    Costs,
    /// `awaiting_approval`: a guarded start asked its approvers.
    AwaitingApproval,
    /// `approved`, `denied`, `expired`: what became of an approval request
    /// (the approver's press, the denial, the timeout).
    Approved,
    Denied,
    Expired,
}

const LEFT: &str = "pending:left for the next process";
const REPORT_FAILED: &str = "; report failed";

impl fmt::Display for OutcomeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OutcomeKind::Nothing => f.write_str("none"),
            OutcomeKind::Help => f.write_str("help"),
            OutcomeKind::Whoami => f.write_str("whoami"),
            OutcomeKind::Listed(n) => write!(f, "list:{n}"),
            OutcomeKind::Seen(state) => f.write_str(state),
            OutcomeKind::Done(state) => write!(f, "done:{state}"),
            OutcomeKind::Unchanged(state) => write!(f, "unchanged:{state}"),
            OutcomeKind::HandedOff => f.write_str("handed_off"),
            OutcomeKind::Pending => f.write_str("pending"),
            OutcomeKind::LeftForNextProcess => f.write_str(LEFT),
            OutcomeKind::Failed(side) => write!(f, "error:{side}"),
            OutcomeKind::Running => f.write_str("running"),
            OutcomeKind::Interrupted => f.write_str("interrupted"),
            OutcomeKind::Extended => f.write_str("extended"),
            OutcomeKind::Costs => f.write_str("costs"),
            OutcomeKind::AwaitingApproval => f.write_str("awaiting_approval"),
            OutcomeKind::Approved => f.write_str("approved"),
            OutcomeKind::Denied => f.write_str("denied"),
            OutcomeKind::Expired => f.write_str("expired"),
        }
    }
}

impl OutcomeKind {
    /// Reads the form [`Display`](fmt::Display) writes.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "none" => OutcomeKind::Nothing,
            "help" => OutcomeKind::Help,
            "whoami" => OutcomeKind::Whoami,
            "handed_off" => OutcomeKind::HandedOff,
            "pending" => OutcomeKind::Pending,
            "running" => OutcomeKind::Running,
            "interrupted" => OutcomeKind::Interrupted,
            "extended" => OutcomeKind::Extended,
            "costs" => OutcomeKind::Costs,
            "awaiting_approval" => OutcomeKind::AwaitingApproval,
            "approved" => OutcomeKind::Approved,
            "denied" => OutcomeKind::Denied,
            "expired" => OutcomeKind::Expired,
            LEFT => OutcomeKind::LeftForNextProcess,
            _ => match s.split_once(':') {
                Some(("list", n)) => OutcomeKind::Listed(n.parse().ok()?),
                Some(("done", st)) => OutcomeKind::Done(st.to_owned()),
                Some(("unchanged", st)) => OutcomeKind::Unchanged(st.to_owned()),
                Some(("error", side)) => OutcomeKind::Failed(Side::parse(side)?),
                Some(_) => return None,
                None if !s.is_empty() && s.bytes().all(|b| b.is_ascii_uppercase() || b == b'_') => {
                    OutcomeKind::Seen(s.to_owned())
                }
                None => return None,
            },
        })
    }

    /// Whether the person's request did not get what it asked for.
    pub fn is_failure(&self) -> bool {
        matches!(self, OutcomeKind::Failed(_) | OutcomeKind::Interrupted)
    }
}

/// The `outcome` column: how it ended, and whether Slack took the reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditOutcome {
    pub kind: OutcomeKind,
    pub report_failed: bool,
}

impl From<OutcomeKind> for AuditOutcome {
    fn from(kind: OutcomeKind) -> Self {
        Self {
            kind,
            report_failed: false,
        }
    }
}

impl fmt::Display for AuditOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.kind)?;
        if self.report_failed {
            f.write_str(REPORT_FAILED)?;
        }
        Ok(())
    }
}

impl AuditOutcome {
    pub fn parse(s: &str) -> Option<Self> {
        let (kind, report_failed) = match s.strip_suffix(REPORT_FAILED) {
            Some(k) => (k, true),
            None => (s, false),
        };
        Some(Self {
            kind: OutcomeKind::parse(kind)?,
            report_failed,
        })
    }
}

impl PartialEq<&str> for AuditOutcome {
    fn eq(&self, other: &&str) -> bool {
        AuditOutcome::parse(other).as_ref() == Some(self)
    }
}

/// A start or stop asked of an instance, as much of its audit row as the
/// week's tally reads: fewer columns cross from the database per row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub instance: String,
    pub at: chrono::DateTime<chrono::Utc>,
    pub principal: String,
    pub command: String,
    pub decision: AuditDecision,
    pub outcome: AuditOutcome,
}

/// One audited request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub at: chrono::DateTime<chrono::Utc>,
    pub request_id: String,
    pub team: Option<String>,
    pub principal: String,
    pub entry_point: EntryPoint,
    pub command: String,
    pub instance: Option<String>,
    pub decision: AuditDecision,
    pub reason: String,
    pub backend: Option<String>,
    pub outcome: AuditOutcome,
    /// The approver of a guarded start this row records; the requester is
    /// `principal`.
    pub approved_by: Option<String>,
}

/// One change to the audit trail, applied in the order queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditWrite {
    Insert(AuditRecord),
    /// Sets the outcome of the latest row with this request id.
    Settle {
        request_id: String,
        outcome: AuditOutcome,
    },
}

impl AuditWrite {
    pub fn request_id(&self) -> &str {
        match self {
            AuditWrite::Insert(r) => &r.request_id,
            AuditWrite::Settle { request_id, .. } => request_id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_outcome_reads_back_as_written() {
        let kinds = [
            OutcomeKind::Nothing,
            OutcomeKind::Help,
            OutcomeKind::Whoami,
            OutcomeKind::Listed(3),
            OutcomeKind::Seen("ACTIVE".into()),
            OutcomeKind::Done("STOPPED".into()),
            OutcomeKind::Unchanged("ACTIVE".into()),
            OutcomeKind::HandedOff,
            OutcomeKind::Pending,
            OutcomeKind::LeftForNextProcess,
            OutcomeKind::Failed(Side::Google),
            OutcomeKind::Running,
            OutcomeKind::Interrupted,
        ];
        for kind in kinds {
            for report_failed in [false, true] {
                let o = AuditOutcome {
                    kind: kind.clone(),
                    report_failed,
                };
                assert_eq!(AuditOutcome::parse(&o.to_string()), Some(o.clone()), "{o}");
            }
        }
    }

    #[test]
    fn an_outcome_this_version_does_not_know_is_refused() {
        for s in ["", "error:mars", "list:many", "maybe:ACTIVE", "active"] {
            assert_eq!(AuditOutcome::parse(s), None, "{s}");
        }
    }
}

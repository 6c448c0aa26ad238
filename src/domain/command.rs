//! What a person asked for: the verb and the words after it, before the alias
//! is resolved against the config.

use super::Lasting;
use serde::{Deserialize, Serialize};
use std::fmt;

/// What a person asked for, before the alias is resolved against the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Verb {
    Start,
    Stop,
    Status,
    List,
    Help,
    Whoami,
    History,
    /// Moves the end of a time-boxed start (or the next scheduled stop) later.
    Extend,
    /// What running instances cost, and this week's hours and spend.
    Costs,
    /// Approval requests waiting for the person, as requester or approver.
    Pending,
    /// An approver's yes or no to a guarded start; only buttons and the
    /// deny dialog make these (the target is the request's id), never text.
    Approve,
    Deny,
    /// *Keep 1 h* under an idle warning: no idle stop for an hour. Only its
    /// button makes it; it moves no time limit.
    KeepIdle,
    /// `report now` (admins): the weekly report, posted at once.
    ReportNow,
}

impl Verb {
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Start => "start",
            Verb::Stop => "stop",
            Verb::Status => "status",
            Verb::List => "list",
            Verb::Help => "help",
            Verb::Whoami => "whoami",
            Verb::History => "history",
            Verb::Extend => "extend",
            Verb::Costs => "costs",
            Verb::Pending => "pending",
            Verb::Approve => "approve",
            Verb::Deny => "deny",
            Verb::KeepIdle => "keep-idle",
            Verb::ReportNow => "report-now",
        }
    }

    pub fn from_word(word: &str) -> Option<Self> {
        Some(match word.to_ascii_lowercase().as_str() {
            "start" => Verb::Start,
            "stop" => Verb::Stop,
            "status" => Verb::Status,
            "list" | "ls" => Verb::List,
            "help" => Verb::Help,
            "whoami" => Verb::Whoami,
            "history" => Verb::History,
            "extend" | "keep" => Verb::Extend,
            "costs" | "cost" | "report" => Verb::Costs,
            "pending" => Verb::Pending,
            _ => return None,
        })
    }

    /// Reads the form [`as_str`](Self::as_str) writes (stored verbs), and nothing else.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Verb::Start,
            Verb::Stop,
            Verb::Status,
            Verb::List,
            Verb::Help,
            Verb::Whoami,
            Verb::History,
            Verb::Extend,
            Verb::Costs,
            Verb::Pending,
            Verb::Approve,
            Verb::Deny,
            Verb::KeepIdle,
            Verb::ReportNow,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }

    /// Verbs that change an instance: they need the operator role.
    pub fn mutates(self) -> bool {
        matches!(
            self,
            Verb::Start | Verb::Stop | Verb::Extend | Verb::KeepIdle
        )
    }
}

impl fmt::Display for Verb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A parsed command. `target` is the word the person typed, not yet an [`Alias`]:
/// only the config can turn it into one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub verb: Verb,
    pub target: Option<String>,
    /// `start foo for 3h`: how long it may run; `extend foo 1h`: how much longer.
    pub lasting: Option<Lasting>,
    /// `start gpu because …`: why (a guarded instance's approvers read it);
    /// a denial's reason.
    pub reason: Option<String>,
}

impl Command {
    pub fn new(verb: Verb, target: Option<String>) -> Self {
        Self {
            verb,
            target,
            lasting: None,
            reason: None,
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.target {
            Some(t) => write!(f, "{} {}", self.verb, t)?,
            None => write!(f, "{}", self.verb)?,
        }
        match (self.verb, self.lasting) {
            (Verb::Extend, Some(d)) => write!(f, " {d}")?,
            (_, Some(d)) => write!(f, " for {d}")?,
            (_, None) => {}
        }
        match (self.verb, &self.reason) {
            (Verb::Deny, Some(r)) => write!(f, ": {r}"),
            (_, Some(r)) => write!(f, " because {r}"),
            (_, None) => Ok(()),
        }
    }
}

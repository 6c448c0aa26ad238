//! Domain types that cannot hold a bad value.
//!
//! Everything past the parse step works with these, so no later code re-checks a
//! user id, an instance path or an alias. An [`Alias`] can only be made while the
//! config is loaded; a person never names a Google resource path.

use serde::{Deserialize, Serialize};
use std::fmt;

mod command;
mod time;
pub use command::{Command, Verb};
pub use time::{Lasting, TimerReason};

/// Why a string was not accepted as one of the domain types.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(String);

fn is_lower_alnum_dash(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// A short name for an instance, defined by the platform team in the config.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Alias(String);

impl Alias {
    /// Only the config loader calls this: an alias typed by a person is looked up in
    /// the config, never turned into an `Alias` on its own.
    pub(crate) fn parse(s: &str) -> Result<Self, InvalidValue> {
        let ok = !s.is_empty()
            && s.len() <= 63
            && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidValue(format!(
                "alias \"{s}\" must be 1-63 characters of a-z, 0-9, '-' or '_', starting with a letter or digit"
            )))
        }
    }
}

impl AsRef<str> for Alias {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Alias {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A Workbench instance resource name: `projects/P/locations/L/instances/I`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct InstanceName {
    full: String,
    instance_start: usize,
}

impl InstanceName {
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        let bad = |why: &str| {
            InvalidValue(format!(
                "instance name \"{s}\" {why}; it must look like projects/PROJECT/locations/ZONE/instances/NAME"
            ))
        };
        let parts: Vec<&str> = s.split('/').collect();
        if parts.len() != 6
            || parts[0] != "projects"
            || parts[2] != "locations"
            || parts[4] != "instances"
        {
            return Err(bad("does not have the six path segments"));
        }
        let (project, location, instance) = (parts[1], parts[3], parts[5]);
        // Project ids: 6-30 chars of lowercase, digits and hyphens, starting with a
        // letter (Google's rule). The path is sent to Google, so nothing else gets in.
        let project_ok = (6..=30).contains(&project.len())
            && project.starts_with(|c: char| c.is_ascii_lowercase())
            && is_lower_alnum_dash(project)
            && !project.ends_with('-');
        if !project_ok {
            return Err(bad("has a malformed project id"));
        }
        if location.is_empty() || !is_lower_alnum_dash(location) {
            return Err(bad("has a malformed location"));
        }
        let instance_ok = !instance.is_empty()
            && instance.len() <= 63
            && instance.starts_with(|c: char| c.is_ascii_lowercase())
            && is_lower_alnum_dash(instance)
            && !instance.ends_with('-');
        if !instance_ok {
            return Err(bad("has a malformed instance id"));
        }
        Ok(Self {
            full: s.to_owned(),
            instance_start: s.len() - instance.len(),
        })
    }

    /// `projects/P/locations/L`, the parent used to list instances.
    pub fn parent(&self) -> &str {
        &self.full[..self.instance_start - "/instances/".len()]
    }

    /// `projects/P`: where Cloud Monitoring keeps its VM's figures.
    pub fn project_path(&self) -> &str {
        let project_end = self.full["projects/".len()..]
            .find('/')
            .map_or(self.full.len(), |i| i + "projects/".len());
        &self.full[..project_end]
    }

    /// The last path segment: the instance id Google shows in the console.
    pub fn instance_id(&self) -> &str {
        &self.full[self.instance_start..]
    }
}

impl AsRef<str> for InstanceName {
    fn as_ref(&self) -> &str {
        &self.full
    }
}

impl fmt::Display for InstanceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.full)
    }
}

macro_rules! slack_id {
    ($(#[$doc:meta])* $name:ident, $prefixes:expr, $what:expr, $example:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub fn parse(s: &str) -> Result<Self, InvalidValue> {
                let ok = s.len() >= 3
                    && s.len() <= 32
                    && s.starts_with(|c: char| $prefixes.contains(c))
                    && s.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
                if ok {
                    Ok(Self(s.to_owned()))
                } else {
                    Err(InvalidValue(format!(
                        "\"{s}\" is not a Slack {} (expected something like {})",
                        $what, $example
                    )))
                }
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

slack_id!(
    /// A Slack user id (`U…`, or `W…` on Enterprise Grid).
    SlackUserId,
    "UW",
    "user id",
    "U01AAAAAAAA"
);
slack_id!(
    /// A Slack workspace id (`T…`, or `E…` for an Enterprise Grid org).
    TeamId,
    "TE",
    "team id",
    "T0123ABCD"
);
slack_id!(
    /// The `bot_id` of a Slack bot or Workflow Builder workflow (`B…`).
    BotId,
    "B",
    "bot id",
    "B0123ABCD"
);

/// Who a request acts for. A workflow's message carries no user, so the workflow
/// itself is the principal and must be named in the config to be allowed anything.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Principal {
    User(SlackUserId),
    /// A person from another organisation in a Slack Connect channel: Slack
    /// sends the host workspace's id with their requests, but their own
    /// workspace is not one this bot serves. Only rules naming them apply.
    Guest(SlackUserId),
    Workflow(BotId),
    /// The bot itself, stopping an instance because a timer ran out. It may
    /// only ever stop (see `decide`), and the audit names the reason.
    Timer(TimerReason),
}

impl Principal {
    /// The bot's own timers, which may only stop.
    pub fn is_timer(&self) -> bool {
        matches!(self, Principal::Timer(_))
    }

    /// Reads the form [`Display`](fmt::Display) writes: `U…`, `guest:U…`,
    /// `workflow:B…` or `timer:lease`.
    pub fn parse(s: &str) -> Option<Self> {
        if let Some(r) = s.strip_prefix("timer:") {
            return TimerReason::parse(r).map(Principal::Timer);
        }
        if let Some(b) = s.strip_prefix("workflow:") {
            return BotId::parse(b).ok().map(Principal::Workflow);
        }
        if let Some(u) = s.strip_prefix("guest:") {
            return SlackUserId::parse(u).ok().map(Principal::Guest);
        }
        SlackUserId::parse(s).ok().map(Principal::User)
    }

    /// Whether both name the same one: a person is the same whether Slack
    /// sent them as a member or as a guest.
    pub fn same_as(&self, other: &Principal) -> bool {
        let person = |p: &Principal| match p {
            Principal::User(u) | Principal::Guest(u) => Some(u.clone()),
            _ => None,
        };
        match (person(self), person(other)) {
            (Some(a), Some(b)) => a == b,
            _ => self == other,
        }
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Principal::User(u) => write!(f, "{u}"),
            Principal::Guest(u) => write!(f, "guest:{u}"),
            Principal::Workflow(b) => write!(f, "workflow:{b}"),
            Principal::Timer(r) => write!(f, "timer:{r}"),
        }
    }
}

/// Which backend carries out an instance's starts and stops: named in the
/// config, implemented in `act`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BackendKind {
    Notebooks,
    Github,
    DryRun,
}

impl BackendKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::Notebooks => "notebooks",
            BackendKind::Github => "github",
            BackendKind::DryRun => "dry-run",
        }
    }
}

/// Which door a request came through. Its text form is stored in the audit
/// trail and in pending operations (see the store's audit schema).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum EntryPoint {
    SlashCommand,
    Mention,
    WorkflowMessage,
    WorkflowStep,
    Modal,
    Button,
    Dispatch,
    /// A lease or schedule that came due, found by a tick.
    Timer,
}

impl EntryPoint {
    const ALL: [EntryPoint; 8] = [
        EntryPoint::SlashCommand,
        EntryPoint::Mention,
        EntryPoint::WorkflowMessage,
        EntryPoint::WorkflowStep,
        EntryPoint::Modal,
        EntryPoint::Button,
        EntryPoint::Dispatch,
        EntryPoint::Timer,
    ];

    /// Reads the form [`as_str`](Self::as_str) writes.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            EntryPoint::SlashCommand => "slash_command",
            EntryPoint::Mention => "mention",
            EntryPoint::WorkflowMessage => "workflow_message",
            EntryPoint::WorkflowStep => "workflow_step",
            EntryPoint::Modal => "modal",
            EntryPoint::Button => "button",
            EntryPoint::Dispatch => "dispatch",
            EntryPoint::Timer => "timer",
        }
    }
}

impl fmt::Display for EntryPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where the requester waits for the end of a request that another process
/// finishes (the GitHub workflow): a thread, their direct messages, or a
/// Workflow Builder step to complete. Backends carry it on untouched.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Origin {
    #[default]
    Nowhere,
    Thread {
        channel: String,
        thread_ts: String,
    },
    Direct {
        user: String,
    },
    Step {
        execution_id: String,
    },
}

/// Stored forms: these types are written to the store as the text they display
/// as, and a stored text this version does not know is refused when read back,
/// never guessed at.
macro_rules! stored_as_text {
    ($ty:ty, $parse:expr, $what:expr) => {
        impl TryFrom<String> for $ty {
            type Error = InvalidValue;
            fn try_from(s: String) -> Result<Self, InvalidValue> {
                $parse(&s).ok_or_else(|| InvalidValue(format!("\"{s}\" is not a known {}", $what)))
            }
        }

        impl From<$ty> for String {
            fn from(v: $ty) -> String {
                v.to_string()
            }
        }

        impl PartialEq<&str> for $ty {
            fn eq(&self, other: &&str) -> bool {
                $parse(other).as_ref() == Some(self)
            }
        }
    };
}

stored_as_text!(EntryPoint, EntryPoint::parse, "entry point");
stored_as_text!(Verb, Verb::parse, "verb");
stored_as_text!(Principal, Principal::parse, "principal");

#[cfg(test)]
mod tests;

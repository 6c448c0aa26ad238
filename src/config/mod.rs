//! Loads and validates the TOML config that the platform team owns.
//!
//! Every problem is reported with its line and a plain sentence, all at once, so
//! `check-config` in a pull request shows everything to fix in one run, and it
//! refuses exactly what `serve` would. The file is read as written (`raw`), then
//! each section is checked by its own validator (`sections`), all feeding one
//! list of problems. Secrets never live here: they come from the environment
//! (`settings`).

mod approvals;
mod lists;
mod raw;
mod scheduling;
mod sections;

pub use crate::domain::BackendKind;

pub use crate::cost::PriceTable;
use crate::domain::{Alias, BotId, InstanceName, Lasting, Principal, TeamId};
use crate::schedule::StopSchedule;
pub use approvals::Guard;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::Path;
use std::time::Duration;

/// One thing wrong with a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("config {path} has {} problem(s):\n{}", problems.len(), problems.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid {
        path: String,
        problems: Vec<Problem>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SlackMode {
    #[default]
    Http,
    Socket,
}

/// Where the store lives, and how it is kept.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// `sqlite://…` or `postgres://…`, without a password; `DATABASE_URL`
    /// replaces it whole.
    pub url: String,
    pub pool: crate::store::Pool,
    /// Audit rows older than this are deleted; none keeps everything.
    pub audit_retention_days: Option<u32>,
    /// How long a process holds an operation or an instance lock without
    /// renewing it: after a crash, others wait this long before taking over.
    pub lease: Duration,
    /// How often a running process looks for operations nobody follows.
    pub sweep: Duration,
}

/// Who hears about an instance when no person is there to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audience {
    Channel(String),
    /// Slack user ids, each told in their DMs.
    People(Vec<String>),
    Nobody,
}

/// A direct-message audience is capped, so a huge group cannot turn one
/// reminder into hundreds of calls against Slack's rate limit.
const MAX_DIRECT_AUDIENCE: usize = 20;

/// A set of principals as the config names them.
#[derive(Debug, Clone, Default)]
pub struct Members {
    pub(super) anyone: bool,
    pub(super) principals: HashSet<Principal>,
    /// The entries as written (`@platform`, `U01…`), to tell a refused person who
    /// to ask.
    pub written: Vec<String>,
}

impl Members {
    /// The people named (directly or through groups), sorted: `*` and
    /// workflows are no one to write to.
    pub fn people(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .principals
            .iter()
            .filter_map(|p| match p {
                Principal::User(u) => Some(u.to_string()),
                _ => None,
            })
            .collect();
        ids.sort();
        ids
    }

    pub fn contains(&self, who: &Principal) -> bool {
        // "*" means any member of an allowed workspace; a workflow must be named.
        // A guest is only covered where the config names them by id.
        match who {
            Principal::User(_) => self.anyone || self.principals.contains(who),
            Principal::Guest(u) => self.principals.contains(&Principal::User(u.clone())),
            Principal::Workflow(_) => self.principals.contains(who),
            // The bot's own timers are members of nothing; `decide` lets them stop.
            Principal::Timer(_) => false,
        }
    }
}

#[derive(Debug, Clone)]
pub struct GithubConfig {
    pub owner: String,
    pub repo: String,
    pub event_type: String,
    /// The GitHub account the bot dispatches as (`sender.login` of its events);
    /// `handle-dispatch` refuses a dispatch from anyone else.
    pub sender: String,
    /// How old a signed dispatch may be when `handle-dispatch` runs it.
    pub max_age: Duration,
}

impl GithubConfig {
    pub fn repository(&self) -> String {
        format!("{}/{}", self.owner, self.repo)
    }
}

#[derive(Debug, Clone)]
pub struct Instance {
    pub alias: Alias,
    pub name: InstanceName,
    pub operators: Members,
    pub viewers: Members,
    /// Its news may go to `slack.announce_channel`: anyone may view it
    /// (`viewers` has `*`), or the config says `announce = true`.
    pub announce: bool,
    pub backend: BackendKind,
    /// `max_hours`: caps `start … for`, and is the lease of a start that names
    /// no length. No lease at all when unset.
    pub max_lease: Option<Lasting>,
    /// How long before a lease's end or a scheduled stop the warning goes out.
    pub warn: Lasting,
    pub stop_at: Option<StopSchedule>,
    /// Running with no time limit this long: the team channel is reminded,
    /// once per such period.
    pub remind_after: Lasting,
    /// Starts wait for one of its approvers when set.
    pub guard: Option<Guard>,
    /// `idle_minutes`: stopped (after a warning) once idle that long.
    pub idle: Option<IdleRule>,
}

/// When an instance counts as idle: below both thresholds, every minute of
/// `after`, as Cloud Monitoring reads its VM.
#[derive(Debug, Clone, PartialEq)]
pub struct IdleRule {
    pub after: Lasting,
    /// CPU utilisation, in percent, below which a minute is idle.
    pub cpu_percent: f64,
    /// GPU utilisation, in percent (where the Ops Agent reports it).
    pub gpu_percent: f64,
}

/// `[scheduler]`, checked.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    pub tick: Duration,
    pub jwks_url: String,
    /// `POST /tasks/tick` answers only when both are set.
    pub audience: Option<String>,
    pub invoker: Option<String>,
    pub remind_after: Lasting,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub store: StoreConfig,
    pub slack_command: String,
    pub teams: Vec<TeamId>,
    pub workflow_bots: Vec<BotId>,
    pub slack_mode: SlackMode,
    pub announce_channel: Option<String>,
    /// Where approval requests are posted; unset: each approver's DMs.
    pub approvals_channel: Option<String>,
    /// The only people who may add the step to a workflow (user ids);
    /// unset: Slack's own setting stands.
    pub step_builders: Option<Vec<String>>,
    pub default_backend: BackendKind,
    pub github: Option<GithubConfig>,
    pub operation_timeout: Duration,
    pub per_user_per_minute: NonZeroU32,
    /// Requests whose work may run at once in this process; past it, people
    /// are told the bot is busy, so memory stays flat under any load.
    pub max_in_flight: usize,
    /// Group name to its members, nested groups already expanded.
    pub groups: BTreeMap<String, BTreeSet<String>>,
    pub admins: Members,
    pub instances: Vec<Instance>,
    pub scheduler: SchedulerConfig,
    pub prices: Option<PriceTable>,
    /// `[idle] check_minutes`: how often running instances with
    /// `idle_minutes` are read, across all replicas.
    pub idle_check: Lasting,
    /// `[report]`: the weekly cost report, when set.
    pub report: Option<ReportConfig>,
}

/// Where and when the weekly report goes: a channel, and one day and time a
/// week in an IANA zone.
#[derive(Debug, Clone)]
pub struct ReportConfig {
    pub channel: String,
    pub at: StopSchedule,
}

impl Config {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text).map_err(|problems| ConfigError::Invalid {
            path: path.display().to_string(),
            problems,
        })
    }

    /// Looks up what a person typed; the only way from text to an [`Alias`].
    pub fn instance(&self, typed: &str) -> Option<&Instance> {
        self.instances
            .iter()
            .find(|i| i.alias.as_ref().eq_ignore_ascii_case(typed))
    }

    /// The instance at a resource path, as timer state in the store names it.
    /// Who hears about an instance when no person is there to answer (results,
    /// reminders, warnings, failed automatic stops): the announce channel for
    /// an instance anyone may see (or one set to `announce`), otherwise its
    /// operators in their DMs, or the admins when it names no operator.
    pub fn announce_target(&self, inst: &Instance) -> Audience {
        if inst.announce
            && let Some(channel) = &self.announce_channel
        {
            return Audience::Channel(channel.clone());
        }
        self.operators_audience(inst)
    }

    /// The instance's operators (users named directly or through groups), or
    /// the admins when it names none, each in their DMs.
    pub fn operators_audience(&self, inst: &Instance) -> Audience {
        let people = |m: &Members| -> Vec<String> {
            let mut ids = m.people();
            ids.truncate(MAX_DIRECT_AUDIENCE);
            ids
        };
        let mut ids = people(&inst.operators);
        if ids.is_empty() {
            ids = people(&self.admins);
        }
        match ids.is_empty() {
            true => Audience::Nobody,
            false => Audience::People(ids),
        }
    }

    pub fn instance_by_name(&self, name: &str) -> Option<&Instance> {
        self.instances.iter().find(|i| i.name.as_ref() == name)
    }

    pub fn team_allowed(&self, team: &str) -> bool {
        self.teams.iter().any(|t| t.as_ref() == team)
    }

    /// Names of the groups a principal belongs to, for `whoami`.
    pub fn groups_of(&self, who: &Principal) -> Vec<&str> {
        let key = who.to_string();
        self.groups
            .iter()
            .filter(|(_, m)| m.contains(&key))
            .map(|(g, _)| g.as_str())
            .collect()
    }

    pub fn parse(text: &str) -> Result<Self, Vec<Problem>> {
        let mut p = sections::Problems::new(text);
        let raw: raw::RawConfig = toml::from_str(text).map_err(|e| {
            vec![Problem {
                line: e.span().and_then(|s| p.line_of(s)),
                message: e.message().trim_end().to_owned(),
            }]
        })?;
        let listen = sections::server(&raw.server, &mut p);
        let store = sections::store(&raw.store, &mut p);
        let slack = sections::slack(&raw.slack, &mut p);
        let github = sections::backend(&raw.backend, &mut p);
        let (per_user_per_minute, max_in_flight) = sections::limits(&raw.limits, &mut p);
        let groups = sections::groups(&raw.groups);
        let members = sections::MemberLists { groups: &groups };
        for (name, list) in &raw.groups {
            members.resolve(list.get_ref(), &format!("groups.{name}"), &mut p);
        }
        let admins = sections::admins(&raw.access, &members, &mut p);
        let step_builders = sections::step_builders(&raw.slack, &members, &mut p);
        let scheduler = scheduling::scheduler(&raw.scheduler, &mut p);
        let instances = sections::instances(&raw, &members, &scheduler, &mut p);
        let prices = raw.cost.as_ref().map(|c| scheduling::cost(c, &mut p));
        let idle_check = scheduling::idle_check(&raw.idle, &mut p);
        let report = raw
            .report
            .as_ref()
            .and_then(|r| scheduling::report(r, &mut p));
        p.finish()?;
        Ok(Config {
            listen,
            store,
            slack_command: slack.command,
            teams: slack.teams,
            workflow_bots: slack.workflow_bots,
            slack_mode: raw.slack.mode,
            announce_channel: raw.slack.announce_channel,
            approvals_channel: raw.slack.approvals_channel,
            step_builders,
            default_backend: raw.backend.default,
            github,
            operation_timeout: Duration::from_secs(raw.backend.notebooks.operation_timeout_seconds),
            per_user_per_minute,
            max_in_flight,
            groups,
            admins,
            instances,
            scheduler,
            prices,
            idle_check,
            report,
        })
    }
}

#[cfg(test)]
mod tests;

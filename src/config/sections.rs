//! One validator per section of the config file, each adding what is wrong to
//! one shared list of [`Problems`], so every problem is reported in one run.

use super::raw::{RawAccess, RawBackend, RawConfig, RawLimits, RawServer, RawSlack, RawStore};
use super::scheduling::{DEFAULT_WARN_MINUTES, hours};
use super::{GithubConfig, Instance, Members, SchedulerConfig, StoreConfig};
use crate::domain::{Alias, BackendKind, BotId, InstanceName, Lasting, TeamId};
use crate::schedule::StopSchedule;
use crate::store;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::time::Duration;
use toml::Spanned;

pub(super) use super::lists::{MemberLists, Problems};

pub(super) fn server(raw: &RawServer, p: &mut Problems) -> SocketAddr {
    raw.listen.get_ref().parse().unwrap_or_else(|_| {
        p.add(
            raw.listen.span(),
            format!(
                "server.listen \"{}\" is not an address like 127.0.0.1:8080",
                raw.listen.get_ref()
            ),
        );
        SocketAddr::from(([127, 0, 0, 1], 8080))
    })
}

/// Only what `serve` can open passes: SQLite or PostgreSQL. The URL's scheme
/// alone is quoted back, since a URL may carry a password (which belongs in
/// `PGPASSWORD`, not here).
pub(super) fn store(raw: &RawStore, p: &mut Problems) -> StoreConfig {
    let url = raw.url.get_ref();
    if store::Kind::of(url).is_none() {
        p.add(
            raw.url.span(),
            format!(
                "store.url names a \"{}\" database, which this build cannot open; use sqlite://PATH or postgres://USER@HOST/DB",
                store::scheme(url)
            ),
        );
    }
    if url::Url::parse(url).is_ok_and(|u| u.password().is_some()) {
        p.add(
            raw.url.span(),
            "store.url carries a password; leave it out and set PGPASSWORD (or DATABASE_URL) in the environment".into(),
        );
    }
    if *raw.max_connections.get_ref() == 0 {
        p.add(
            raw.max_connections.span(),
            "store.max_connections must be at least 1".into(),
        );
    }
    if let Some(days) = &raw.audit_retention_days
        && *days.get_ref() == 0
    {
        p.add(
            days.span(),
            "store.audit_retention_days must be at least 1 (leave it out to keep everything)"
                .into(),
        );
    }
    let seconds = |v: &Spanned<f64>, key: &str, p: &mut Problems| {
        let s = *v.get_ref();
        if !(0.05..=86_400.0).contains(&s) {
            p.add(
                v.span(),
                format!("store.{key} must be between 0.05 and 86400 seconds"),
            );
        }
        Duration::from_secs_f64(s.clamp(0.05, 86_400.0))
    };
    let lease = seconds(&raw.lease_seconds, "lease_seconds", p);
    let sweep = seconds(&raw.sweep_seconds, "sweep_seconds", p);
    StoreConfig {
        lease,
        sweep,
        url: url.clone(),
        pool: store::Pool {
            max_connections: (*raw.max_connections.get_ref()).max(1),
            connect_timeout: Duration::from_secs(raw.connect_timeout_seconds),
        },
        audit_retention_days: raw.audit_retention_days.as_ref().map(|d| *d.get_ref()),
    }
}

/// The `[slack]` values that need checking.
pub(super) struct Slack {
    pub command: String,
    pub teams: Vec<TeamId>,
    pub workflow_bots: Vec<BotId>,
}

pub(super) fn slack(raw: &RawSlack, p: &mut Problems) -> Slack {
    let command = raw.command.get_ref().clone();
    if !command.starts_with('/') || command.len() < 2 || command.contains(char::is_whitespace) {
        p.add(
            raw.command.span(),
            format!("slack.command \"{command}\" must be a slash command like /notebook"),
        );
    }
    let teams = parsed(raw.teams.get_ref(), "slack.teams", TeamId::parse, p);
    if raw.teams.get_ref().is_empty() {
        p.add(
            raw.teams.span(),
            "slack.teams is empty: name at least one workspace id (T…), or every request is refused".into(),
        );
    }
    let workflow_bots = parsed(&raw.workflow_bots, "slack.workflow_bots", BotId::parse, p);
    Slack {
        command,
        teams,
        workflow_bots,
    }
}

/// Each value that parses, and a problem for each that does not.
fn parsed<T, E: std::fmt::Display>(
    values: &[Spanned<String>],
    field: &str,
    parse: impl Fn(&str) -> Result<T, E>,
    p: &mut Problems,
) -> Vec<T> {
    values
        .iter()
        .filter_map(|v| match parse(v.get_ref()) {
            Ok(t) => Some(t),
            Err(e) => {
                p.add(v.span(), format!("{field}: {e}"));
                None
            }
        })
        .collect()
}

pub(super) fn backend(raw: &RawBackend, p: &mut Problems) -> Option<GithubConfig> {
    if raw.default == BackendKind::Github && raw.github.is_none() {
        p.add(
            0..0,
            "backend.default is \"github\" but [backend.github] is missing".into(),
        );
    }
    let gh = raw.github.as_ref()?.get_ref();
    let repo = gh.repository.get_ref();
    let well_formed = |o: &str, r: &str| {
        !o.is_empty()
            && !r.is_empty()
            && !r.contains('/')
            && repo
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_./".contains(&b))
    };
    match repo.split_once('/') {
        Some((o, r)) if well_formed(o, r) => Some(GithubConfig {
            owner: o.into(),
            repo: r.into(),
            event_type: gh.event_type.clone(),
            sender: gh.sender.clone(),
            max_age: Duration::from_secs(gh.max_age_minutes * 60),
        }),
        _ => {
            p.add(
                gh.repository.span(),
                format!("backend.github.repository \"{repo}\" must be OWNER/REPO"),
            );
            None
        }
    }
}

pub(super) fn limits(raw: &RawLimits, p: &mut Problems) -> (NonZeroU32, usize) {
    let per_minute = NonZeroU32::new(*raw.per_user_per_minute.get_ref()).unwrap_or_else(|| {
        p.add(
            raw.per_user_per_minute.span(),
            "limits.per_user_per_minute must be at least 1".into(),
        );
        NonZeroU32::MIN
    });
    let in_flight = *raw.max_in_flight.get_ref();
    if in_flight == 0 {
        p.add(
            raw.max_in_flight.span(),
            "limits.max_in_flight must be at least 1".into(),
        );
    }
    (per_minute, in_flight.max(1) as usize)
}

/// Each group's members with nested groups expanded, once, here, so policy
/// checks are set look-ups. Undefined groups are reported where they are named.
pub(super) fn groups(
    raw: &BTreeMap<String, Spanned<Vec<Spanned<String>>>>,
) -> BTreeMap<String, BTreeSet<String>> {
    let mut out = BTreeMap::new();
    for name in raw.keys() {
        let mut seen = BTreeSet::new();
        let mut members = BTreeSet::new();
        let mut stack = vec![name.clone()];
        while let Some(g) = stack.pop() {
            if !seen.insert(g.clone()) {
                continue;
            }
            for m in raw.get(&g).map(|l| l.get_ref().as_slice()).unwrap_or(&[]) {
                match m.get_ref().strip_prefix('@') {
                    Some(inner) => stack.push(inner.to_owned()),
                    None => {
                        members.insert(m.get_ref().clone());
                    }
                }
            }
        }
        out.insert(name.clone(), members);
    }
    out
}

/// Admins may act on every instance, so "everyone in the workspace" is never one.
pub(super) fn admins(raw: &RawAccess, members: &MemberLists, p: &mut Problems) -> Members {
    for entry in raw.admins.iter().filter(|e| e.get_ref() == "*") {
        p.add(
            entry.span(),
            "access.admins may not be \"*\": that would let anyone in the workspace start and stop every instance; name people or @groups".into(),
        );
    }
    members.resolve(&raw.admins, "access.admins", p)
}

/// Who may build workflows with the bot's step: people only, since a
/// workflow (or "*") building workflows would defeat the point of naming them.
pub(super) fn step_builders(
    raw: &RawSlack,
    members: &MemberLists,
    p: &mut Problems,
) -> Option<Vec<String>> {
    let list = raw.step_builders.as_ref()?;
    let field = "slack.step_builders";
    let m = members.resolve(list.get_ref(), field, p);
    let people = m.people();
    let not_people = m.anyone || people.len() < m.principals.len();
    if not_people || people.is_empty() {
        p.add(
            list.span(),
            format!("{field} must name people (U… or @groups of them): they alone may add the Control a notebook step to a workflow; leave it out to keep what is set in Slack"),
        );
    }
    Some(people)
}

pub(super) fn instances(
    raw: &RawConfig,
    members: &MemberLists,
    scheduler: &SchedulerConfig,
    p: &mut Problems,
) -> Vec<Instance> {
    let mut out = Vec::new();
    let mut aliases: BTreeMap<String, Option<usize>> = BTreeMap::new();
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    for inst in &raw.instance {
        let written = inst.alias.get_ref();
        let alias = Alias::parse(written)
            .map_err(|e| p.add(inst.alias.span(), e.to_string()))
            .ok();
        let line = p.line_of(inst.alias.span());
        if let Some(first) = aliases.insert(written.to_ascii_lowercase(), line) {
            let where_ = first
                .map(|l| format!(" (first defined on line {l})"))
                .unwrap_or_default();
            p.add(
                inst.alias.span(),
                format!("alias \"{written}\" is defined twice{where_}"),
            );
        }
        let name = InstanceName::parse(inst.name.get_ref())
            .map_err(|e| p.add(inst.name.span(), e.to_string()))
            .ok();
        // Two aliases for one instance would split its leases, locks and audit.
        if let Some(other) = names.insert(inst.name.get_ref().clone(), written.clone()) {
            p.add(
                inst.name.span(),
                format!(
                    "instance \"{written}\" names the same instance as \"{other}\"; give each instance one alias"
                ),
            );
        }
        let field = |f: &str| format!("instance \"{written}\" {f}");
        let operators = members.resolve(&inst.operators, &field("operators"), p);
        let viewers = members.resolve(&inst.viewers, &field("viewers"), p);
        let backend = inst.backend.unwrap_or(raw.backend.default);
        if backend == BackendKind::Github && raw.backend.github.is_none() {
            p.add(
                inst.alias.span(),
                format!(
                    "instance \"{written}\" uses the github backend but [backend.github] is missing"
                ),
            );
        }
        let max_lease = inst
            .max_hours
            .as_ref()
            .and_then(|h| hours(h, &field("max_hours"), p));
        let remind_after = inst
            .remind_after_hours
            .as_ref()
            .map_or(Some(scheduler.remind_after), |h| {
                hours(h, &field("remind_after_hours"), p)
            });
        let warn = inst
            .warn_minutes
            .as_ref()
            .map_or(Lasting::from_minutes(DEFAULT_WARN_MINUTES), |w| {
                Lasting::from_minutes(*w.get_ref())
            });
        let warn = warn
            .map_err(|e| {
                let span = inst.warn_minutes.as_ref().map(|w| w.span()).unwrap_or(0..0);
                p.add(span, field(&format!("warn_minutes: {e}")))
            })
            .ok();
        let stop_at = inst.stop_at.as_ref().and_then(|s| {
            let at = s.get_ref();
            StopSchedule::parse(&at.time, &at.days, &at.timezone)
                .map_err(|e| p.add(s.span(), field(&format!("stop_at: {e}"))))
                .ok()
        });
        let guard =
            super::approvals::guard(inst, members, raw.slack.approvals_channel.as_deref(), p);
        let idle = super::scheduling::idle_rule(inst, &field, p);
        if let (Some(alias), Some(name), Some(warn), Some(remind_after)) =
            (alias, name, warn, remind_after)
        {
            out.push(Instance {
                alias,
                name,
                operators,
                announce: viewers.anyone || inst.announce,
                viewers,
                backend,
                max_lease,
                warn,
                stop_at,
                remind_after,
                guard,
                idle,
            });
        }
    }
    out
}

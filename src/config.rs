//! Loads and validates the TOML config that the platform team owns.
//!
//! Every problem is reported with its line and a plain sentence, all at once, so
//! `check-config` in a pull request shows everything to fix in one run. Secrets never
//! live here: they come from the environment (see `secrets.rs`).

use crate::domain::{Alias, BotId, InstanceName, Principal, TeamId};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::Path;
use std::time::Duration;
use toml::Spanned;

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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SlackMode {
    #[default]
    Http,
    Socket,
}

// ---- the file as written -------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    server: RawServer,
    #[serde(default)]
    store: RawStore,
    slack: RawSlack,
    #[serde(default)]
    backend: RawBackend,
    #[serde(default)]
    limits: RawLimits,
    #[serde(default)]
    groups: BTreeMap<String, Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    access: RawAccess,
    #[serde(default)]
    instance: Vec<RawInstance>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    listen: Spanned<String>,
}

impl Default for RawServer {
    fn default() -> Self {
        Self {
            listen: Spanned::new(0..0, "127.0.0.1:8080".into()),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStore {
    url: String,
}

impl Default for RawStore {
    fn default() -> Self {
        Self {
            url: "sqlite://workbench-bot.db".into(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSlack {
    #[serde(default = "default_command")]
    command: Spanned<String>,
    teams: Spanned<Vec<Spanned<String>>>,
    #[serde(default)]
    workflow_bots: Vec<Spanned<String>>,
    #[serde(default)]
    mode: SlackMode,
    #[serde(default)]
    announce_channel: Option<String>,
}

fn default_command() -> Spanned<String> {
    Spanned::new(0..0, "/notebook".into())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBackend {
    #[serde(default = "default_backend")]
    default: BackendKind,
    github: Option<Spanned<RawGithub>>,
    #[serde(default)]
    notebooks: RawNotebooks,
}

fn default_backend() -> BackendKind {
    BackendKind::DryRun
}

impl Default for RawBackend {
    fn default() -> Self {
        Self {
            default: default_backend(),
            github: None,
            notebooks: RawNotebooks::default(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGithub {
    repository: Spanned<String>,
    #[serde(default = "default_event_type")]
    event_type: String,
    #[serde(default = "default_sender")]
    sender: String,
    #[serde(default = "default_max_age_minutes")]
    max_age_minutes: u64,
}

fn default_sender() -> String {
    "workbench-bot[bot]".into()
}

fn default_max_age_minutes() -> u64 {
    60
}

fn default_event_type() -> String {
    "control_vertex_ai_workbench_notebook".into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNotebooks {
    #[serde(default = "default_operation_timeout")]
    operation_timeout_seconds: u64,
}

fn default_operation_timeout() -> u64 {
    600
}

impl Default for RawNotebooks {
    fn default() -> Self {
        Self {
            operation_timeout_seconds: default_operation_timeout(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    #[serde(default = "default_per_minute")]
    per_user_per_minute: Spanned<u32>,
}

fn default_per_minute() -> Spanned<u32> {
    Spanned::new(0..0, 10)
}

impl Default for RawLimits {
    fn default() -> Self {
        Self {
            per_user_per_minute: default_per_minute(),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawAccess {
    #[serde(default)]
    admins: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInstance {
    alias: Spanned<String>,
    name: Spanned<String>,
    #[serde(default)]
    operators: Vec<Spanned<String>>,
    #[serde(default)]
    viewers: Vec<Spanned<String>>,
    backend: Option<BackendKind>,
}

// ---- the validated config ------------------------------------------------------

/// A set of principals as the config names them.
#[derive(Debug, Clone, Default)]
pub struct Members {
    anyone: bool,
    principals: HashSet<Principal>,
    /// The entries as written (`@platform`, `U01…`), to tell a refused person who
    /// to ask.
    pub written: Vec<String>,
}

impl Members {
    pub fn contains(&self, who: &Principal) -> bool {
        // "*" means any person in an allowed team; a workflow must be named.
        (self.anyone && matches!(who, Principal::User(_))) || self.principals.contains(who)
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
    pub backend: BackendKind,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub store_url: String,
    pub slack_command: String,
    pub teams: Vec<TeamId>,
    pub workflow_bots: Vec<BotId>,
    pub slack_mode: SlackMode,
    pub announce_channel: Option<String>,
    pub default_backend: BackendKind,
    pub github: Option<GithubConfig>,
    pub operation_timeout: Duration,
    pub per_user_per_minute: NonZeroU32,
    /// Group name to its members, nested groups already expanded.
    pub groups: BTreeMap<String, BTreeSet<String>>,
    pub admins: Members,
    pub instances: Vec<Instance>,
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
        let line_of = |span: std::ops::Range<usize>| -> Option<usize> {
            (span != (0..0) || text.is_empty())
                .then(|| text[..span.start.min(text.len())].matches('\n').count() + 1)
        };
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            vec![Problem {
                line: e.span().and_then(&line_of),
                message: e.message().trim_end().to_owned(),
            }]
        })?;
        let mut problems = Vec::new();
        let mut problem = |span: std::ops::Range<usize>, message: String| {
            problems.push(Problem {
                line: line_of(span),
                message,
            })
        };

        let listen = match raw.server.listen.get_ref().parse::<SocketAddr>() {
            Ok(a) => a,
            Err(_) => {
                problem(
                    raw.server.listen.span(),
                    format!(
                        "server.listen \"{}\" is not an address like 127.0.0.1:8080",
                        raw.server.listen.get_ref()
                    ),
                );
                SocketAddr::from(([127, 0, 0, 1], 8080))
            }
        };

        let store_url = raw.store.url.clone();
        if !(store_url.starts_with("sqlite:") || store_url.starts_with("postgres")) {
            problem(
                0..0,
                format!("store.url \"{store_url}\" must start with sqlite: or postgres://"),
            );
        }

        let command = raw.slack.command.get_ref().clone();
        if !command.starts_with('/') || command.len() < 2 || command.contains(char::is_whitespace) {
            problem(
                raw.slack.command.span(),
                format!("slack.command \"{command}\" must be a slash command like /notebook"),
            );
        }

        let mut teams = Vec::new();
        for t in raw.slack.teams.get_ref() {
            match TeamId::parse(t.get_ref()) {
                Ok(id) => teams.push(id),
                Err(e) => problem(t.span(), format!("slack.teams: {e}")),
            }
        }
        if raw.slack.teams.get_ref().is_empty() {
            problem(
                raw.slack.teams.span(),
                "slack.teams is empty: name at least one workspace id (T…), or every request is refused".into(),
            );
        }
        let mut workflow_bots = Vec::new();
        for b in &raw.slack.workflow_bots {
            match BotId::parse(b.get_ref()) {
                Ok(id) => workflow_bots.push(id),
                Err(e) => problem(b.span(), format!("slack.workflow_bots: {e}")),
            }
        }

        let github = raw.backend.github.as_ref().and_then(|g| {
            let gh = g.get_ref();
            let repo = gh.repository.get_ref();
            match repo.split_once('/') {
                Some((o, r))
                    if !o.is_empty()
                        && !r.is_empty()
                        && !r.contains('/')
                        && repo
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"-_./".contains(&b)) =>
                {
                    Some(GithubConfig {
                        owner: o.into(),
                        repo: r.into(),
                        event_type: gh.event_type.clone(),
                        sender: gh.sender.clone(),
                        max_age: Duration::from_secs(gh.max_age_minutes * 60),
                    })
                }
                _ => {
                    problem(
                        gh.repository.span(),
                        format!("backend.github.repository \"{repo}\" must be OWNER/REPO"),
                    );
                    None
                }
            }
        });

        let per_user_per_minute = match NonZeroU32::new(*raw.limits.per_user_per_minute.get_ref()) {
            Some(n) => n,
            None => {
                problem(
                    raw.limits.per_user_per_minute.span(),
                    "limits.per_user_per_minute must be at least 1".into(),
                );
                NonZeroU32::MIN
            }
        };

        // Groups: expand nesting once, here, so policy checks are set look-ups.
        let mut groups: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for name in raw.groups.keys() {
            let mut seen = BTreeSet::new();
            let mut out = BTreeSet::new();
            let mut stack = vec![name.clone()];
            while let Some(g) = stack.pop() {
                if !seen.insert(g.clone()) {
                    continue;
                }
                let Some(members) = raw.groups.get(&g) else {
                    continue; // reported below, once, where it is named
                };
                for m in members.get_ref() {
                    let m = m.get_ref();
                    match m.strip_prefix('@') {
                        Some(inner) => stack.push(inner.to_owned()),
                        None => {
                            out.insert(m.clone());
                        }
                    }
                }
            }
            groups.insert(name.clone(), out);
        }
        let mut member_list = |list: &[Spanned<String>], field: &str| -> Members {
            let mut m = Members::default();
            for entry in list {
                let s = entry.get_ref();
                m.written.push(s.clone());
                if s == "*" {
                    m.anyone = true;
                } else if let Some(g) = s.strip_prefix('@') {
                    match groups.get(g) {
                        Some(members) => {
                            for p in members {
                                if let Some(p) = Principal::parse(p) {
                                    m.principals.insert(p);
                                }
                            }
                        }
                        None => problem(
                            entry.span(),
                            format!(
                                "{field} names group \"@{g}\", which is not defined under [groups]"
                            ),
                        ),
                    }
                } else {
                    match Principal::parse(s) {
                        Some(p) => {
                            m.principals.insert(p);
                        }
                        None => problem(
                            entry.span(),
                            format!(
                                "{field}: \"{s}\" is not a Slack user id (U…), @group, workflow:B… or *"
                            ),
                        ),
                    }
                }
            }
            m
        };
        for (name, members) in &raw.groups {
            let _ = member_list(members.get_ref(), &format!("groups.{name}"));
        }
        let admins = member_list(&raw.access.admins, "access.admins");

        let mut instances: Vec<Instance> = Vec::new();
        let mut aliases_seen: BTreeMap<String, Option<usize>> = BTreeMap::new();
        let mut instance_problems = Vec::new();
        for inst in &raw.instance {
            let alias = match Alias::parse(inst.alias.get_ref()) {
                Ok(a) => Some(a),
                Err(e) => {
                    instance_problems.push((inst.alias.span(), e.to_string()));
                    None
                }
            };
            if let Some(first) = aliases_seen.insert(
                inst.alias.get_ref().to_ascii_lowercase(),
                line_of(inst.alias.span()),
            ) {
                let where_ = first
                    .map(|l| format!(" (first defined on line {l})"))
                    .unwrap_or_default();
                instance_problems.push((
                    inst.alias.span(),
                    format!(
                        "alias \"{}\" is defined twice{where_}",
                        inst.alias.get_ref()
                    ),
                ));
            }
            let name = match InstanceName::parse(inst.name.get_ref()) {
                Ok(n) => Some(n),
                Err(e) => {
                    instance_problems.push((inst.name.span(), e.to_string()));
                    None
                }
            };
            let field = |f: &str| format!("instance \"{}\" {f}", inst.alias.get_ref());
            let operators = member_list(&inst.operators, &field("operators"));
            let viewers = member_list(&inst.viewers, &field("viewers"));
            let backend = inst.backend.unwrap_or(raw.backend.default);
            if backend == BackendKind::Github && raw.backend.github.is_none() {
                instance_problems.push((
                    inst.alias.span(),
                    format!(
                        "instance \"{}\" uses the github backend but [backend.github] is missing",
                        inst.alias.get_ref()
                    ),
                ));
            }
            if let (Some(alias), Some(name)) = (alias, name) {
                instances.push(Instance {
                    alias,
                    name,
                    operators,
                    viewers,
                    backend,
                });
            }
        }
        for (span, msg) in instance_problems {
            problem(span, msg);
        }
        if raw.backend.default == BackendKind::Github && raw.backend.github.is_none() {
            problem(
                0..0,
                "backend.default is \"github\" but [backend.github] is missing".into(),
            );
        }

        // Report in file order, so the list reads top to bottom.
        problems.sort_by_key(|p| p.line.unwrap_or(0));
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Config {
            listen,
            store_url,
            slack_command: command,
            teams,
            workflow_bots,
            slack_mode: raw.slack.mode,
            announce_channel: raw.slack.announce_channel,
            default_backend: raw.backend.default,
            github,
            operation_timeout: Duration::from_secs(raw.backend.notebooks.operation_timeout_seconds),
            per_user_per_minute,
            groups,
            admins,
            instances,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::SlackUserId;

    const GOOD: &str = r#"
[server]
listen = "127.0.0.1:8080"

[store]
url = "sqlite://workbench-bot.db"

[slack]
command = "/notebook"
teams = ["T0123ABCD"]
workflow_bots = ["B0WORKFLOW1"]

[backend]
default = "dry-run"

[backend.github]
repository = "example-org/notebook-ops"
event_type = "control_vertex_ai_workbench_notebook"

[limits]
per_user_per_minute = 10

[groups]
researchers = ["U01AAAAAAAA", "U01BBBBBBBB"]
platform = ["U02CCCCCCCC"]
everyone = ["@researchers", "@platform"]

[access]
admins = ["@platform"]

[[instance]]
alias = "foo"
name = "projects/example-project/locations/us-central1-a/instances/research-and-development-foo"
operators = ["@researchers", "workflow:B0WORKFLOW1"]
viewers = ["*"]
backend = "github"
"#;

    fn problems(text: &str) -> Vec<Problem> {
        Config::parse(text).expect_err("config should be refused")
    }

    #[test]
    fn the_design_sketch_loads() {
        let c = Config::parse(GOOD).unwrap();
        let foo = c.instance("foo").unwrap();
        assert_eq!(foo.backend, BackendKind::Github);
        assert!(
            foo.operators
                .contains(&Principal::User(SlackUserId::parse("U01AAAAAAAA").unwrap()))
        );
        assert!(
            foo.operators
                .contains(&Principal::Workflow(BotId::parse("B0WORKFLOW1").unwrap()))
        );
        assert!(
            !foo.operators
                .contains(&Principal::User(SlackUserId::parse("U02CCCCCCCC").unwrap()))
        );
        assert_eq!(c.groups["everyone"].len(), 3, "nested groups are expanded");
        assert_eq!(
            c.github.as_ref().unwrap().repository(),
            "example-org/notebook-ops"
        );
    }

    #[test]
    fn an_unknown_key_is_reported_with_its_line() {
        let text = GOOD.replace(
            "per_user_per_minute = 10",
            "per_user_per_minute = 10\nper_user_per_hour = 5",
        );
        let p = problems(&text);
        assert_eq!(p.len(), 1);
        assert!(p[0].message.contains("per_user_per_hour"), "{}", p[0]);
        let line = text
            .lines()
            .position(|l| l.starts_with("per_user_per_hour"))
            .unwrap()
            + 1;
        assert_eq!(p[0].line, Some(line));
    }

    #[test]
    fn a_duplicate_alias_is_reported_with_both_lines() {
        let text = format!(
            "{GOOD}\n[[instance]]\nalias = \"foo\"\nname = \"projects/example-project/locations/us-central1-a/instances/other\"\n"
        );
        let p = problems(&text);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].message.contains("defined twice"));
        let second = text
            .lines()
            .enumerate()
            .filter(|(_, l)| l.trim() == "alias = \"foo\"")
            .nth(1)
            .unwrap()
            .0
            + 1;
        assert_eq!(p[0].line, Some(second));
    }

    #[test]
    fn a_malformed_instance_name_is_reported_with_its_line() {
        let text = GOOD.replace(
            "projects/example-project/locations/us-central1-a/instances/research-and-development-foo",
            "research-and-development-foo",
        );
        let p = problems(&text);
        assert_eq!(p.len(), 1);
        assert!(
            p[0].message
                .contains("projects/PROJECT/locations/ZONE/instances/NAME")
        );
        let line = text.lines().position(|l| l.starts_with("name = ")).unwrap() + 1;
        assert_eq!(p[0].line, Some(line));
    }

    #[test]
    fn an_undefined_group_is_reported_with_its_line() {
        let text = GOOD.replace("admins = [\"@platform\"]", "admins = [\"@platfrom\"]");
        let p = problems(&text);
        assert_eq!(p.len(), 1);
        assert!(p[0].message.contains("@platfrom"));
        let line = text.lines().position(|l| l.starts_with("admins")).unwrap() + 1;
        assert_eq!(p[0].line, Some(line));
    }

    #[test]
    fn every_problem_is_listed_not_just_the_first() {
        let text = GOOD
            .replace("admins = [\"@platform\"]", "admins = [\"@nobody\"]")
            .replace("viewers = [\"*\"]", "viewers = [\"bob\"]");
        assert_eq!(problems(&text).len(), 2);
    }

    #[test]
    fn a_group_nested_in_an_unknown_group_is_reported() {
        let text = GOOD.replace(
            "everyone = [\"@researchers\", \"@platform\"]",
            "everyone = [\"@researchers\", \"@ghosts\"]",
        );
        let p = problems(&text);
        assert!(p.iter().any(|p| p.message.contains("@ghosts")), "{p:?}");
    }

    #[test]
    fn a_workflow_is_not_covered_by_star() {
        let c = Config::parse(GOOD).unwrap();
        let foo = c.instance("foo").unwrap();
        assert!(
            !foo.viewers
                .contains(&Principal::Workflow(BotId::parse("B0OTHER1").unwrap()))
        );
    }
}

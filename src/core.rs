//! The one path every request takes after its transport verified it:
//! parse → decide → act → report → record.
//!
//! Transports (HTTP routes, Socket Mode, `handle-dispatch`) build a [`Request`] and
//! call [`App::handle`]; nothing here knows a Slack wire format or a Google URL, so
//! every entry point shares policy, limits and audit, and tests can drive the core
//! without HTTP.

use crate::act::dry_run::DryRun;
use crate::act::{ActContext, Backend, BackendError, InstanceStatus, Outcome, SlackPlace, State};
use crate::config::{BackendKind, Config, Instance};
use crate::decide::{Decision, Policy, Refusal};
use crate::domain::{Command, Principal, TeamId, Verb};
use crate::parse::{self, CompatTarget};
use crate::report::{Posted, Reply, ReplyTo, Reporter};
use crate::store::{AuditRecord, Store};
use std::sync::Arc;
use std::time::Instant;

/// Which door a request came through; recorded in the audit trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryPoint {
    SlashCommand,
    Mention,
    WorkflowMessage,
    WorkflowStep,
    Modal,
    Button,
    Dispatch,
}

impl EntryPoint {
    pub fn as_str(self) -> &'static str {
        match self {
            EntryPoint::SlashCommand => "slash_command",
            EntryPoint::Mention => "mention",
            EntryPoint::WorkflowMessage => "workflow_message",
            EntryPoint::WorkflowStep => "workflow_step",
            EntryPoint::Modal => "modal",
            EntryPoint::Button => "button",
            EntryPoint::Dispatch => "dispatch",
        }
    }
}

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
    pub place: SlackPlace,
}

impl Request {
    pub fn new_id() -> String {
        uuid::Uuid::new_v4().simple().to_string()
    }
}

/// How a request ended, for transports that must say more than a Slack message
/// (exit codes, `functions.completeError`).
#[derive(Debug, Clone)]
pub struct Handled {
    pub ok: bool,
    pub reply: Reply,
    pub state: Option<State>,
}

/// The backends this process can use, chosen per instance.
#[derive(Clone)]
pub struct Backends {
    pub dry_run: Arc<DryRun>,
    pub notebooks: Option<Arc<dyn Backend>>,
    pub github: Option<Arc<dyn Backend>>,
}

impl Backends {
    pub fn dry_run_only() -> Self {
        Self {
            dry_run: Arc::new(DryRun::default()),
            notebooks: None,
            github: None,
        }
    }

    pub fn get(&self, kind: BackendKind) -> Result<Arc<dyn Backend>, BackendError> {
        match kind {
            BackendKind::DryRun => Ok(self.dry_run.clone()),
            BackendKind::Notebooks => self.notebooks.clone().ok_or_else(|| {
                BackendError::Setup(
                    "the notebooks backend is not set up in this bot (Google credentials missing); tell the platform team".into(),
                )
            }),
            BackendKind::Github => self.github.clone().ok_or_else(|| {
                BackendError::Setup(
                    "the github backend is not set up in this bot (GITHUB_TOKEN or GitHub App missing); tell the platform team".into(),
                )
            }),
        }
    }
}

pub struct App {
    pub config: Arc<Config>,
    pub policy: Policy,
    pub backends: Backends,
    pub reporter: Reporter,
    pub store: Store,
    compat: CompatTarget,
}

/// What the decide/act steps concluded, before it is reported and recorded.
struct Verdict {
    decision: &'static str,
    reason: String,
    instance: Option<String>,
    backend: Option<BackendKind>,
    outcome: String,
    reply: Reply,
    ok: bool,
    state: Option<State>,
}

impl Verdict {
    fn info(reply: String, outcome: &str) -> Self {
        Self {
            decision: "allowed",
            reason: String::new(),
            instance: None,
            backend: None,
            outcome: outcome.into(),
            reply: Reply::text(reply),
            ok: true,
            state: None,
        }
    }

    fn refused(refusal: &Refusal, instance: Option<String>) -> Self {
        Self {
            decision: "refused",
            reason: refusal.code().into(),
            instance,
            backend: None,
            outcome: "none".into(),
            reply: Reply::text(format!(":no_entry: Sorry, {refusal}.")),
            ok: false,
            state: None,
        }
    }

    fn invalid(reason: String, reply: String) -> Self {
        Self {
            decision: "invalid",
            reason,
            instance: None,
            backend: None,
            outcome: "none".into(),
            reply: Reply::text(reply),
            ok: false,
            state: None,
        }
    }
}

fn dry_tag(kind: BackendKind) -> &'static str {
    if kind == BackendKind::DryRun {
        " _(dry run: nothing was sent to Google or GitHub)_"
    } else {
        ""
    }
}

impl App {
    pub fn new(config: Arc<Config>, backends: Backends, reporter: Reporter, store: Store) -> Self {
        let compat = CompatTarget {
            repository: config.github.as_ref().map(|g| g.repository()),
            event_type: config.github.as_ref().map(|g| g.event_type.clone()),
        };
        Self {
            policy: Policy::new(config.clone()),
            config,
            backends,
            reporter,
            store,
            compat,
        }
    }

    /// Runs one request to its end: it is reported to the person and recorded.
    pub async fn handle(&self, req: Request) -> Handled {
        let started = Instant::now();
        let mut command_text = match &req.input {
            Input::Text(t) => parse::normalise(t),
            Input::Command(c) => c.to_string(),
        };
        let mut progress: Option<Posted> = None;
        let verdict = match self.policy.admit(&req.principal) {
            Err(refusal) => Verdict::refused(&refusal, None),
            Ok(()) => {
                let parsed = match &req.input {
                    Input::Text(t) => parse::parse(t, &self.compat),
                    Input::Command(c) => Ok(c.clone()),
                };
                match parsed {
                    Err(e) => Verdict::invalid(
                        "unparsed".into(),
                        format!("{e}\n\n{}", self.help(&req.principal)),
                    ),
                    Ok(cmd) => {
                        command_text = cmd.to_string();
                        self.run(&req, &cmd, &mut progress).await
                    }
                }
            }
        };

        let report_result = match &progress {
            Some(p) => self.reporter.update(&req.reply_to, p, &verdict.reply).await,
            None => self.reporter.post(&req.reply_to, &verdict.reply).await,
        };
        let mut outcome = verdict.outcome.clone();
        if let Err(e) = &report_result {
            tracing::warn!(request_id = %req.id, error = %e, "could not report to Slack");
            outcome.push_str("; report failed");
        }
        self.record(&req, &command_text, &verdict, &outcome, started);
        Handled {
            ok: verdict.ok,
            reply: verdict.reply,
            state: verdict.state,
        }
    }

    fn record(&self, req: &Request, command: &str, v: &Verdict, outcome: &str, started: Instant) {
        let row = AuditRecord {
            at: chrono::Utc::now(),
            request_id: req.id.clone(),
            team: req.team.as_ref().map(|t| t.to_string()),
            principal: req.principal.to_string(),
            entry_point: req.entry.as_str().into(),
            command: command.into(),
            instance: v.instance.clone(),
            decision: v.decision.into(),
            reason: v.reason.clone(),
            backend: v.backend.map(|b| b.as_str().to_owned()),
            outcome: outcome.into(),
        };
        tracing::info!(
            target: "audit",
            request_id = %row.request_id,
            team = row.team.as_deref().unwrap_or("-"),
            principal = %row.principal,
            entry_point = %row.entry_point,
            command = %row.command,
            instance = row.instance.as_deref().unwrap_or("-"),
            decision = %row.decision,
            reason = %row.reason,
            backend = row.backend.as_deref().unwrap_or("-"),
            outcome = %row.outcome,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "request handled"
        );
        crate::metrics::request_handled(&row.decision, &row.entry_point);
        self.store.record(row);
    }

    async fn run(&self, req: &Request, cmd: &Command, progress: &mut Option<Posted>) -> Verdict {
        let who = &req.principal;
        match cmd.verb {
            Verb::Help => Verdict::info(self.help(who), "help"),
            Verb::Whoami => Verdict::info(self.whoami(who), "whoami"),
            Verb::List => self.list(who).await,
            Verb::Status if cmd.target.is_none() => self.list(who).await,
            Verb::Status | Verb::Start | Verb::Stop => {
                let typed = cmd.target.as_deref().unwrap_or_default();
                let Some(inst) = self.config.instance(typed) else {
                    return Verdict::invalid(
                        "unknown_instance".into(),
                        format!(
                            "I don't know an instance called \"{typed}\".\n\n{}",
                            self.help(who)
                        ),
                    );
                };
                if let Decision::Deny(refusal) = self.policy.decide(who, cmd.verb, inst) {
                    return Verdict::refused(&refusal, Some(inst.alias.to_string()));
                }
                match cmd.verb {
                    Verb::Status => self.status(inst).await,
                    _ => self.change(req, cmd.verb, inst, progress).await,
                }
            }
        }
    }

    async fn status(&self, inst: &Instance) -> Verdict {
        let mut v = Verdict::info(String::new(), "");
        v.instance = Some(inst.alias.to_string());
        v.backend = Some(inst.backend);
        match self.backend_status(inst).await {
            Ok(s) => {
                v.reply = Reply::text(format!(
                    "{}{}",
                    describe_status(inst, &s),
                    dry_tag(inst.backend)
                ));
                v.outcome = s.state.as_api().to_owned();
                v.state = Some(s.state);
            }
            Err(e) => {
                v.reply = Reply::text(failure_sentence(inst, &e));
                v.outcome = format!("error:{}", e.side());
                v.ok = false;
            }
        }
        v
    }

    async fn backend_status(&self, inst: &Instance) -> Result<InstanceStatus, BackendError> {
        self.backends.get(inst.backend)?.status(inst).await
    }

    async fn list(&self, who: &Principal) -> Verdict {
        let visible: Vec<&Instance> = self.policy.visible(who).collect();
        if visible.is_empty() {
            return Verdict::info(
                format!(
                    "You may not see any instance yet; ask {} for access.",
                    self.policy.ask()
                ),
                "list:0",
            );
        }
        let statuses =
            futures::future::join_all(visible.iter().map(|i| self.backend_status(i))).await;
        let mut lines = vec!["*Instances you can see*".to_owned()];
        for (inst, s) in visible.iter().zip(statuses) {
            let state = match s {
                Ok(s) => s.state.describe().to_owned(),
                Err(e) => format!("unknown ({})", e.side()),
            };
            let role = if self.policy.may_operate(who, inst) {
                ""
            } else {
                " (view only)"
            };
            let dry = if inst.backend == BackendKind::DryRun {
                " _(dry run)_"
            } else {
                ""
            };
            lines.push(format!("• `{}`: {state}{role}{dry}", inst.alias));
        }
        Verdict::info(lines.join("\n"), &format!("list:{}", visible.len()))
    }

    async fn change(
        &self,
        req: &Request,
        verb: Verb,
        inst: &Instance,
        progress: &mut Option<Posted>,
    ) -> Verdict {
        let started = Instant::now();
        let mut v = Verdict::info(String::new(), "");
        v.instance = Some(inst.alias.to_string());
        v.backend = Some(inst.backend);
        let backend = match self.backends.get(inst.backend) {
            Ok(b) => b,
            Err(e) => {
                v.reply = Reply::text(failure_sentence(inst, &e));
                v.outcome = format!("error:{}", e.side());
                v.ok = false;
                return v;
            }
        };
        let ctx = ActContext {
            request_id: req.id.clone(),
            requested_by: req.principal.clone(),
            place: req.place.clone(),
        };
        if inst.backend != BackendKind::DryRun {
            let going = if verb == Verb::Start {
                "Starting"
            } else {
                "Stopping"
            };
            let note = Reply::text(format!(
                ":hourglass_flowing_sand: {going} `{}`…",
                inst.alias
            ));
            match self.reporter.post(&req.reply_to, &note).await {
                Ok(p) => *progress = Some(p),
                Err(e) => {
                    tracing::warn!(request_id = %req.id, error = %e, "could not post progress")
                }
            }
        }
        let mut result = match verb {
            Verb::Start => backend.start(inst, &ctx).await,
            _ => backend.stop(inst, &ctx).await,
        };
        if let Ok(Outcome::Pending { operation }) = &result {
            result = backend.wait(inst, operation).await;
        }
        let took = started.elapsed().as_secs();
        let tag = dry_tag(inst.backend);
        let alias = &inst.alias;
        match result {
            Ok(Outcome::Done(s)) => {
                v.reply = Reply::text(format!(
                    ":white_check_mark: `{alias}` is {}{} (took {took} s).{tag}",
                    s.state.describe(),
                    jupyter_link(&s)
                ));
                v.outcome = format!("done:{}", s.state.as_api());
                v.state = Some(s.state);
            }
            Ok(Outcome::AlreadyThere(s)) => {
                let already = if verb == Verb::Start {
                    "already running"
                } else {
                    "already stopped"
                };
                let now = if s.state.describe() == already.trim_start_matches("already ") {
                    String::new()
                } else {
                    format!(" (it is {})", s.state.describe())
                };
                v.reply = Reply::text(format!(
                    ":information_source: `{alias}` is {already}{now}; nothing to do.{}{tag}",
                    jupyter_link(&s)
                ));
                v.outcome = format!("unchanged:{}", s.state.as_api());
                v.state = Some(s.state);
            }
            Ok(Outcome::HandedOff { detail }) => {
                v.reply = Reply::text(format!(":outbox_tray: {detail}"));
                v.outcome = "handed_off".into();
            }
            Ok(Outcome::Pending { operation }) => {
                v.reply = Reply::text(format!(
                    ":hourglass: `{alias}` is still changing (operation `{operation}`); check with `status {alias}`."
                ));
                v.outcome = "pending".into();
            }
            Err(e) => {
                v.reply = Reply::text(failure_sentence(inst, &e));
                v.outcome = format!("error:{}", e.side());
                v.ok = false;
            }
        }
        v
    }

    pub fn help(&self, who: &Principal) -> String {
        let cmd = &self.config.slack_command;
        let aliases: Vec<String> = self
            .policy
            .visible(who)
            .map(|i| format!("`{}`", i.alias))
            .collect();
        let known = if aliases.is_empty() {
            format!(
                "You may not see any instance yet; ask {} for access.",
                self.policy.ask()
            )
        } else {
            format!("Instances you can see: {}.", aliases.join(", "))
        };
        format!(
            "*What I can do*\n\
             • `{cmd} start NAME`: start an instance\n\
             • `{cmd} stop NAME`: stop it (stop it when you are done: it costs money while it runs)\n\
             • `{cmd} status [NAME]`: its state and JupyterLab link\n\
             • `{cmd} list`: every instance you can see\n\
             • `{cmd} whoami`: who I think you are and what you may do\n\
             {known}"
        )
    }

    fn whoami(&self, who: &Principal) -> String {
        let groups = self.config.groups_of(who);
        let groups = if groups.is_empty() {
            "none".to_owned()
        } else {
            groups
                .iter()
                .map(|g| format!("@{g}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut operate = Vec::new();
        let mut view = Vec::new();
        for inst in &self.config.instances {
            if self.policy.may_operate(who, inst) {
                operate.push(format!("`{}`", inst.alias));
            } else if self.policy.may_view(who, inst) {
                view.push(format!("`{}`", inst.alias));
            }
        }
        let list = |v: Vec<String>| {
            if v.is_empty() {
                "none".to_owned()
            } else {
                v.join(", ")
            }
        };
        let who_str = match who {
            Principal::User(u) => format!("<@{u}> (`{u}`)"),
            Principal::Workflow(b) => format!("the workflow `{b}`"),
        };
        let admin = if self.policy.is_admin(who) {
            "\nYou are an admin: you may act on every instance."
        } else {
            ""
        };
        format!(
            "You are {who_str}.\nYour groups: {groups}.\nYou may start and stop: {}.\nYou may see: {}.{admin}",
            list(operate),
            list(view)
        )
    }
}

fn jupyter_link(s: &InstanceStatus) -> String {
    match (&s.state, &s.proxy_uri) {
        (State::Active, Some(uri)) => {
            let uri = if uri.starts_with("http") {
                uri.clone()
            } else {
                format!("https://{uri}")
            };
            format!(": <{uri}|open JupyterLab>")
        }
        _ => String::new(),
    }
}

fn describe_status(inst: &Instance, s: &InstanceStatus) -> String {
    let mut out = format!(
        "`{}` is *{}*{}",
        inst.alias,
        s.state.describe(),
        jupyter_link(s)
    );
    if let Some(m) = &s.machine_type {
        out.push_str(&format!("\n• machine type: {m}"));
    }
    if !s.accelerators.is_empty() {
        out.push_str(&format!("\n• accelerators: {}", s.accelerators.join(", ")));
    }
    if let Some(t) = &s.update_time {
        out.push_str(&format!("\n• since: {t}"));
    }
    out
}

fn failure_sentence(inst: &Instance, e: &BackendError) -> String {
    let alias = &inst.alias;
    match e {
        BackendError::WrongState { .. } | BackendError::StillRunning { .. } => {
            format!(":warning: {e}.")
        }
        BackendError::Google(_) => format!(
            ":x: Could not act on `{alias}`: {e}. This is on the Google Cloud side, not yours; if it persists tell the platform team."
        ),
        BackendError::Github(_) => format!(
            ":x: Could not hand `{alias}` to GitHub: {e}. This is on the GitHub side, not yours; if it persists tell the platform team."
        ),
        BackendError::Setup(_) => format!(":x: Could not act on `{alias}`: {e}."),
    }
}

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
use crate::report::{Card, Posted, Reply, ReplyTo, Reporter};
use crate::store::{AuditRecord, PendingOperation, Store};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long a process holds a pending operation without renewing it. A process
/// that died lets go after this; one that stops cleanly lets go at once.
const LEASE: Duration = Duration::from_secs(60);

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
    pub fn parse(s: &str) -> Option<Self> {
        [
            EntryPoint::SlashCommand,
            EntryPoint::Mention,
            EntryPoint::WorkflowMessage,
            EntryPoint::WorkflowStep,
            EntryPoint::Modal,
            EntryPoint::Button,
            EntryPoint::Dispatch,
        ]
        .into_iter()
        .find(|e| e.as_str() == s)
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
    /// Cancelled when the process stops: pollers let go of their operations.
    pub stopping: CancellationToken,
    /// This process's name in the store's leases.
    owner: String,
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
    /// False when the work was left for another process to finish and report.
    report: bool,
    /// Start/stop results that go to `slack.announce_channel` too.
    announce: bool,
    /// Work handed to GitHub: look for its run afterwards and post the link.
    handoff: Option<(Arc<dyn Backend>, ActContext)>,
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
            report: true,
            announce: false,
            handoff: None,
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
            report: true,
            announce: false,
            handoff: None,
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
            report: true,
            announce: false,
            handoff: None,
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
            stopping: CancellationToken::new(),
            owner: uuid::Uuid::new_v4().simple().to_string(),
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

        self.conclude(&req, &command_text, &verdict, progress.as_ref(), started)
            .await;
        if let Some((backend, ctx)) = &verdict.handoff
            && let Some(url) = backend.handoff_link(ctx).await
        {
            let note = Reply::text(format!(
                ":arrow_forward: The GitHub workflow run: <{url}|{url}>"
            ));
            if let Err(e) = self.reporter.post(&req.reply_to, &note).await {
                tracing::warn!(request_id = %req.id, error = %e, "could not post the workflow run link");
            }
        }
        Handled {
            ok: verdict.ok,
            reply: verdict.reply,
            state: verdict.state,
        }
    }

    /// Report, announce and record: the last three steps of every request.
    async fn conclude(
        &self,
        req: &Request,
        command: &str,
        verdict: &Verdict,
        progress: Option<&Posted>,
        started: Instant,
    ) {
        let mut outcome = verdict.outcome.clone();
        if verdict.report {
            let report_result = match progress {
                Some(p) => self.reporter.update(&req.reply_to, p, &verdict.reply).await,
                None => self.reporter.post(&req.reply_to, &verdict.reply).await,
            };
            if let Err(e) = &report_result {
                tracing::warn!(request_id = %req.id, error = %e, "could not report to Slack");
                outcome.push_str("; report failed");
            }
        }
        if verdict.announce
            && let Some(channel) = &self.config.announce_channel
        {
            let who = match &req.principal {
                Principal::User(u) => format!("<@{u}>"),
                Principal::Workflow(b) => format!("workflow `{b}`"),
            };
            let note = Reply::text(format!(
                "{who} asked to `{command}`: {}",
                verdict.reply.text
            ));
            if let Err(e) = self.reporter.announce(channel, &note).await {
                tracing::warn!(request_id = %req.id, error = %e, "could not announce in the team channel");
            }
        }
        self.record(req, command, verdict, &outcome, started);
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
                    Verb::Status => self.status(who, inst).await,
                    _ => self.change(req, cmd.verb, inst, progress).await,
                }
            }
        }
    }

    async fn status(&self, who: &Principal, inst: &Instance) -> Verdict {
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
                v.reply.card = Some(self.card(who, inst, &s.state));
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

    /// Statuses of several instances, one bulk read per backend.
    async fn statuses(&self, insts: &[&Instance]) -> Vec<Result<InstanceStatus, BackendError>> {
        let mut out: Vec<Option<Result<InstanceStatus, BackendError>>> = vec![None; insts.len()];
        for kind in [
            BackendKind::DryRun,
            BackendKind::Notebooks,
            BackendKind::Github,
        ] {
            let idx: Vec<usize> = (0..insts.len())
                .filter(|&i| insts[i].backend == kind)
                .collect();
            if idx.is_empty() {
                continue;
            }
            let group: Vec<&Instance> = idx.iter().map(|&i| insts[i]).collect();
            let results = match self.backends.get(kind) {
                Ok(b) => b.statuses(&group).await,
                Err(e) => vec![Err(e); group.len()],
            };
            for (i, r) in idx.into_iter().zip(results) {
                out[i] = Some(r);
            }
        }
        out.into_iter()
            .map(|r| r.unwrap_or_else(|| Err(BackendError::Setup("no status".into()))))
            .collect()
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
        let statuses = self.statuses(&visible).await;
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
        let result = match verb {
            Verb::Start => backend.start(inst, &ctx).await,
            _ => backend.stop(inst, &ctx).await,
        };
        let result = match result {
            Ok(Outcome::Pending { operation }) => {
                let pending = PendingOperation {
                    request_id: req.id.clone(),
                    alias: inst.alias.to_string(),
                    verb: verb.as_str().into(),
                    operation,
                    principal: req.principal.to_string(),
                    team: req.team.as_ref().map(|t| t.to_string()),
                    entry_point: req.entry.as_str().into(),
                    reply_to: req.reply_to.clone(),
                    posted: progress.clone(),
                    started_at: chrono::Utc::now(),
                };
                if let Err(e) = self
                    .store
                    .db()
                    .save_pending(&pending, &self.owner, LEASE)
                    .await
                {
                    tracing::warn!(request_id = %req.id, error = %e, "could not store the pending operation; following it anyway");
                }
                match self.follow(backend.as_ref(), inst, &pending).await {
                    Some(r) => r,
                    None => {
                        v.outcome = "pending:left for the next process".into();
                        v.report = false;
                        return v;
                    }
                }
            }
            other => other,
        };
        if matches!(result, Ok(Outcome::HandedOff { .. })) {
            v.handoff = Some((backend.clone(), ctx.clone()));
        }
        let mut v = finish_change(v, verb, inst, result, started.elapsed());
        if let Some(state) = &v.state {
            v.reply.card = Some(self.card(&req.principal, inst, state));
        }
        v
    }

    /// Waits for an operation while holding its lease. `None` when this process is
    /// stopping (or lost the lease): the operation stays in the store, and the next
    /// process reports it.
    async fn follow(
        &self,
        backend: &dyn Backend,
        inst: &Instance,
        pending: &PendingOperation,
    ) -> Option<Result<Outcome, BackendError>> {
        let db = self.store.db();
        let wait = backend.wait(inst, &pending.operation);
        tokio::pin!(wait);
        let mut renew = tokio::time::interval(LEASE / 3);
        renew.tick().await;
        loop {
            tokio::select! {
                result = &mut wait => {
                    // Finished before reporting: a crash in between loses one
                    // message rather than sending it twice.
                    if let Err(e) = db.finish_pending(&pending.request_id).await {
                        tracing::warn!(request_id = %pending.request_id, error = %e, "could not clear the finished operation");
                    }
                    return Some(result);
                }
                _ = self.stopping.cancelled() => {
                    if let Err(e) = db.release_pending(&pending.request_id, &self.owner).await {
                        tracing::warn!(request_id = %pending.request_id, error = %e, "could not release the operation");
                    }
                    tracing::info!(request_id = %pending.request_id, "stopping; the next process will follow this operation");
                    return None;
                }
                _ = renew.tick() => {
                    if let Ok(false) = db.renew_pending(&pending.request_id, &self.owner, LEASE).await {
                        tracing::info!(request_id = %pending.request_id, "another process took over this operation");
                        return None;
                    }
                }
            }
        }
    }

    /// Takes over operations that a stopped or crashed process left, and follows
    /// each to its end, reporting it once.
    pub async fn resume_pending(self: &Arc<Self>, tasks: &TaskTracker) -> usize {
        let claimed = match self.store.db().claim_pending(&self.owner, LEASE).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "could not look for pending operations");
                return 0;
            }
        };
        let n = claimed.len();
        for pending in claimed {
            let app = self.clone();
            tasks.spawn(async move { app.resume_one(pending).await });
        }
        n
    }

    async fn resume_one(&self, pending: PendingOperation) {
        let verb = if pending.verb == "stop" {
            Verb::Stop
        } else {
            Verb::Start
        };
        let Some(inst) = self.config.instance(&pending.alias) else {
            tracing::warn!(alias = %pending.alias, "a pending operation names an alias no longer in the config; dropping it");
            let _ = self.store.db().finish_pending(&pending.request_id).await;
            return;
        };
        let (Some(principal), Some(entry)) = (
            Principal::parse(&pending.principal),
            EntryPoint::parse(&pending.entry_point),
        ) else {
            let _ = self.store.db().finish_pending(&pending.request_id).await;
            return;
        };
        let backend = match self.backends.get(inst.backend) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(alias = %inst.alias, error = %e, "cannot resume: backend not set up");
                return;
            }
        };
        tracing::info!(request_id = %pending.request_id, alias = %inst.alias, "resuming a pending operation");
        let Some(result) = self.follow(backend.as_ref(), inst, &pending).await else {
            return;
        };
        let took = (chrono::Utc::now() - pending.started_at)
            .to_std()
            .unwrap_or_default();
        let mut v = Verdict::info(String::new(), "");
        v.instance = Some(inst.alias.to_string());
        v.backend = Some(inst.backend);
        let mut v = finish_change(v, verb, inst, result, took);
        if let Some(state) = &v.state {
            v.reply.card = Some(self.card(&principal, inst, state));
        }
        let req = Request {
            id: pending.request_id.clone(),
            team: pending.team.as_deref().and_then(|t| TeamId::parse(t).ok()),
            principal,
            entry,
            input: Input::Text(format!("{verb} {}", inst.alias)),
            reply_to: pending.reply_to.clone(),
            place: SlackPlace::default(),
        };
        let command = format!("{verb} {}", inst.alias);
        self.conclude(&req, &command, &v, pending.posted.as_ref(), Instant::now())
            .await;
    }

    /// The buttons the reader of a result may press.
    fn card(&self, who: &Principal, inst: &Instance, state: &State) -> Card {
        Card {
            alias: inst.alias.to_string(),
            running: *state == State::Active,
            stopped: *state == State::Stopped,
            can_operate: self.policy.may_operate(who, inst),
        }
    }

    /// Instances a principal may start and stop, for the dialog.
    pub fn operable(&self, who: &Principal) -> Vec<&Instance> {
        self.config
            .instances
            .iter()
            .filter(|i| self.policy.may_operate(who, i))
            .collect()
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

/// Puts the end of a start or stop in a person's words.
fn finish_change(
    mut v: Verdict,
    verb: Verb,
    inst: &Instance,
    result: Result<Outcome, BackendError>,
    took: Duration,
) -> Verdict {
    let took = took.as_secs();
    let tag = dry_tag(inst.backend);
    let alias = &inst.alias;
    v.announce = true;
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
            v.announce = false;
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

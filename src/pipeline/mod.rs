//! The one path every request takes after its transport verified it:
//! parse → decide → act → report → record.
//!
//! Transports (HTTP routes, Socket Mode, `handle-dispatch`) build a [`Request`]
//! and call [`App::handle`]; nothing here knows a Slack wire format or a Google
//! URL, so every entry point shares policy, limits and audit, and tests drive
//! the pipeline without HTTP. The work of each command is in `commands.rs`;
//! starting, stopping and following operations under a lease in `change.rs`.
//! Time's requests (time limits, schedules) come from `crate::timers`, a door
//! like the transports.

mod approvals;
mod change;
mod commands;
mod costs;
mod request;
mod verdict;
mod weekly;

#[cfg(test)]
mod tests;

pub(crate) use request::Held;
pub use request::{Grant, Handled, Input, Request};
pub(crate) use verdict::Verdict;

use crate::act::Backends;
use crate::config::Config;
use crate::decide::Policy;
use crate::domain::{Command, EntryPoint, Principal, Verb};
use crate::parse::{self, CompatTarget, ParseError};
use crate::report::{Posted, Reply, ReplyTo, Reporter, messages};
use crate::store::{AuditOutcome, AuditRecord, Store};
use std::sync::Arc;
use std::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use verdict::Delivery;

/// What a request leaves behind while it runs: the progress message to replace,
/// and whether its audit row was begun.
#[derive(Default)]
pub(crate) struct InFlight {
    pub posted: Option<Posted>,
    pub begun: bool,
}

pub struct App {
    pub(crate) config: Arc<Config>,
    pub(crate) policy: Policy,
    pub(crate) backends: Backends,
    pub(crate) reporter: Reporter,
    pub(crate) store: Store,
    /// Cancelled when the process stops: pollers let go of their operations.
    pub(crate) stopping: CancellationToken,
    /// This process's name in the store's leases.
    pub(crate) owner: String,
    /// "Now" for leases, schedules and costs.
    pub(crate) clock: crate::clock::Clock,
    /// Instances named in the store that this config does not know, logged once.
    pub(crate) unknown: Unknown,
    /// Cloud Monitoring, where an instance has `idle_minutes` and the bot
    /// has Google credentials; otherwise activity is unknown.
    pub(crate) monitor: Option<Arc<crate::activity::Monitor>>,
    /// Who has opened their App Home, and whose is due for publishing.
    pub(crate) homes: crate::home::Homes,
    compat: CompatTarget,
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
            clock: crate::clock::Clock::default(),
            unknown: Default::default(),
            monitor: None,
            homes: Default::default(),
            compat,
        }
    }

    /// The same app reading activity through `monitor`.
    pub fn with_monitor(mut self, monitor: Option<crate::activity::Monitor>) -> Self {
        self.monitor = monitor.map(Arc::new);
        self
    }

    /// The same app on another clock (tests move time forward).
    pub fn with_clock(mut self, clock: crate::clock::Clock) -> Self {
        self.clock = clock;
        self
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn backends(&self) -> &Backends {
        &self.backends
    }

    /// Runs one request to its end: it is reported to the person and recorded.
    pub async fn handle(&self, req: Request) -> Handled {
        let span = Self::request_span(&req);
        self.handle_in(req).instrument(span).await
    }

    /// The span a request's lines carry. Its `http_request` fields are for
    /// an HTTP transport to fill in, so a request it hands to a task with
    /// `Spawner::spawn` runs in one span, not this one inside the handler's.
    pub fn request_span(req: &Request) -> tracing::Span {
        tracing::info_span!(
            "request",
            request_id = %req.id,
            entry_point = %req.entry,
            principal = %req.principal,
            http_request.request_method = tracing::field::Empty,
            http_request.request_url = tracing::field::Empty,
            http_request.status = tracing::field::Empty,
            http_request.latency = tracing::field::Empty,
        )
    }

    /// [`handle`](Self::handle) for a caller that runs it inside
    /// [`request_span`](Self::request_span) itself.
    pub async fn handle_in(&self, req: Request) -> Handled {
        let started = Instant::now();
        // What the record names: the parsed command, or when there is none,
        // what was asked (written only then: most requests parse).
        let asked = |req: &Request| match &req.input {
            Input::Text(t) => parse::normalise(t),
            Input::Command(c) => c.to_string(),
        };
        let command;
        let mut flight = InFlight::default();
        // An approved start or extension was counted when it was asked; the
        // grant is the approvers' decision, not the requester's next request.
        let admitted = match req.grant.approved_by {
            Some(_) => Ok(()),
            None => self.policy.admit(&req.principal),
        };
        let verdict = match admitted {
            Err(refusal) => {
                command = asked(&req);
                Verdict::refused(&refusal, None)
            }
            Ok(()) => match self.parse(&req.input) {
                Err(e) => {
                    command = asked(&req);
                    Verdict::invalid(
                        "unparsed",
                        messages::unparsed(&e, &self.help_text(&req.principal)),
                    )
                }
                Ok(cmd) => {
                    command = cmd.to_string();
                    self.run(&req, &cmd, &mut flight).await
                }
            },
        };
        self.conclude(&req, &command, &verdict, &flight, started)
            .await;
        self.post_handoff_link(&req, &verdict).await;
        Handled {
            ok: verdict.ok(),
            reason: verdict.reason,
            handed_off: verdict.outcome == crate::store::OutcomeKind::HandedOff,
            awaiting_approval: verdict.outcome == crate::store::OutcomeKind::AwaitingApproval,
            reply: verdict.reply,
            state: verdict.state,
        }
    }

    fn parse(&self, input: &Input) -> Result<Command, ParseError> {
        match input {
            Input::Text(t) => parse::parse(t, &self.compat),
            Input::Command(c) => Ok(c.clone()),
        }
    }

    /// Record, report, announce: the last steps of every request. The outcome is
    /// on record before Slack is asked to show it.
    async fn conclude(
        &self,
        req: &Request,
        command: &str,
        verdict: &Verdict,
        flight: &InFlight,
        started: Instant,
    ) {
        let row = self.audit_row(req, command, verdict);
        crate::record::before_report(&self.store, &row, flight.begun);
        let mut report_failed = false;
        if verdict.delivery == Delivery::Report {
            let reported = match &flight.posted {
                // Boxed: only a start or stop updates, and its future is large.
                Some(p) => Box::pin(self.reporter.update(&req.reply_to, p, &verdict.reply)).await,
                None => self.reporter.post(&req.reply_to, &verdict.reply).await,
            };
            if let Err(e) = reported {
                tracing::warn!(error = %e, "could not report to Slack");
                report_failed = true;
            }
        }
        // An automatic stop that did not go through is told once per failure
        // episode by the timer engine, not announced at every try.
        let quiet = req.principal.is_timer() && !verdict.ok();
        // Announcing is what a team opts into by naming a channel; an instance
        // not everyone may see is then announced to its other operators.
        if verdict.announce
            && !quiet
            && self.config.announce_channel.is_some()
            && let Some(inst) = verdict
                .instance
                .as_deref()
                .and_then(|a| self.config.instance(a))
        {
            let to = besides_the_answer(self.config.announce_target(inst).into(), req);
            if to != ReplyTo::Nowhere {
                let note = Reply::text(messages::announcement(
                    &req.principal,
                    command,
                    &verdict.reply.text,
                ));
                if let Err(e) = self.reporter.post(&to, &note).await {
                    tracing::warn!(error = %e, "could not announce a start or stop");
                }
            }
        }
        // What the instance's viewers see on their Home changed.
        if verdict.changes_instance()
            && let Some(inst) = verdict
                .instance
                .as_deref()
                .and_then(|a| self.config.instance(a))
        {
            self.homes_showing(inst);
        }
        if req.entry == EntryPoint::WorkflowStep && verdict.announce && verdict.ok() {
            self.tell_in_their_name(req, command, verdict).await;
        }
        crate::record::after_report(&self.store, row, report_failed, started.elapsed());
    }

    /// A workflow's author chose its title and who it reaches; the person who
    /// ran it hears from the bot itself what was done as them, and how to undo it.
    async fn tell_in_their_name(&self, req: &Request, command: &str, verdict: &Verdict) {
        let (Principal::User(person), Input::Command(cmd), Some(alias)) =
            (&req.principal, &req.input, verdict.instance.as_deref())
        else {
            return;
        };
        let undo = match cmd.verb {
            Verb::Start => Verb::Stop,
            Verb::Stop => Verb::Start,
            _ => return,
        };
        let note = Reply::text(messages::done_in_your_name(
            command,
            &verdict.reply.text,
            &format!("{} {undo} {alias}", self.config.slack_command),
        ));
        if let Err(e) = self
            .reporter
            .post(&ReplyTo::Direct(person.to_string()), &note)
            .await
        {
            tracing::warn!(error = %e, "could not tell the person what a workflow step did in their name");
        }
    }

    fn audit_row(&self, req: &Request, command: &str, verdict: &Verdict) -> AuditRecord {
        AuditRecord {
            // The clock timers run on, so a session's rows and its costs agree.
            at: self.now(),
            request_id: req.id.clone(),
            team: req.team.as_ref().map(|t| t.to_string()),
            principal: req.principal.to_string(),
            entry_point: req.entry,
            command: command.into(),
            instance: verdict.instance.clone(),
            decision: verdict.decision,
            reason: verdict.reason.into(),
            backend: verdict.backend.map(|b| b.as_str().to_owned()),
            outcome: AuditOutcome::from(verdict.outcome.clone()),
            approved_by: req.grant.approved_by.as_ref().map(|p| p.to_string()),
        }
    }

    /// Records a request the bot had no room to run (`limits.max_in_flight`);
    /// the transport tells the person. Never waits.
    pub fn turned_away(&self, req: &Request) {
        let command = match &req.input {
            Input::Text(t) => parse::normalise(t),
            Input::Command(c) => c.to_string(),
        };
        let verdict = Verdict::turned_away();
        let row = self.audit_row(req, &command, &verdict);
        // With the writer's queue full, the row would only lengthen it.
        if self.store.has_room() {
            crate::record::before_report(&self.store, &row, false);
        }
        crate::record::after_report(&self.store, row, false, std::time::Duration::ZERO);
    }

    /// Work handed to GitHub: find its workflow run and tell the person where it is.
    async fn post_handoff_link(&self, req: &Request, verdict: &Verdict) {
        let Some((backend, ctx)) = &verdict.handoff else {
            return;
        };
        // Nobody to show it to (an automatic stop tells its end itself): no
        // polling GitHub while the instance's claim is held.
        if req.reply_to == crate::report::ReplyTo::Nowhere {
            return;
        }
        if let Some(url) = backend.handoff_link(ctx).await {
            let note = Reply::text(messages::workflow_run(&url));
            if let Err(e) = self.reporter.post(&req.reply_to, &note).await {
                tracing::warn!(error = %e, "could not post the workflow run link");
            }
        }
    }
}

/// An announcement, less whoever the reply already reached: the requester is
/// not told twice in their DMs, and an automatic stop reported to the
/// operators is not reported to them again.
fn besides_the_answer(to: ReplyTo, req: &Request) -> ReplyTo {
    if to == req.reply_to {
        return ReplyTo::Nowhere;
    }
    match to {
        ReplyTo::People(people) => {
            let answered = |u: &String| {
                matches!(&req.principal, Principal::User(me) | Principal::Guest(me) if me.as_ref() == u)
                    || req.reply_to == ReplyTo::Direct(u.clone())
            };
            let rest: Vec<String> = people.into_iter().filter(|u| !answered(u)).collect();
            match rest.is_empty() {
                true => ReplyTo::Nowhere,
                false => ReplyTo::People(rest),
            }
        }
        other => other,
    }
}

/// Keys already logged as unknown to this process's config, so a rolling
/// deploy logs each once rather than every tick.
#[derive(Default)]
pub(crate) struct Unknown(std::sync::Mutex<std::collections::HashSet<String>>);

impl Unknown {
    pub(crate) fn first_time(&self, key: &str) -> bool {
        self.0.lock().expect("unknown keys").insert(key.to_owned())
    }
}

//! Starting and stopping: the backend call, the progress message, and following
//! a long-running operation under a lease in the store, so that a process that
//! stops (or dies) mid-operation leaves it for another process to finish and
//! report, exactly once.

use super::Held;
use super::request::{Input, Request};
use super::verdict::{Delivery, Verdict};
use super::{App, InFlight};
use crate::act::{ActContext, Backend, BackendError, Outcome};
use crate::config::{BackendKind, Instance};
use crate::domain::{Command, Origin, Verb};
use crate::report::{Reply, messages};
use crate::store::{InstanceLock, OutcomeKind, PendingOperation};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::task::TaskTracker;

impl App {
    pub(super) async fn change(
        &self,
        req: &Request,
        cmd: &Command,
        inst: &Instance,
        flight: &mut InFlight,
    ) -> Verdict {
        let started = Instant::now();
        let verb = cmd.verb;
        // A caller that holds the claim already (the timer engine) lends it.
        let token = req.grant.claim.as_deref().unwrap_or(&req.id);
        if let Some(holder) = self.lock(req, token, verb, inst).await {
            return Verdict::busy(
                inst,
                messages::in_progress(inst, &holder.principal, holder.verb),
            );
        }
        let verdict = self
            .renewing(inst, token, self.act(req, cmd, inst, flight, started))
            .await;
        if verdict.delivery != Delivery::LeftForAnother && req.grant.claim.is_none() {
            self.release_instance(inst, token).await;
        }
        verdict
    }

    /// One change at a time per instance, across replicas: the instance's
    /// claim belongs to this request until it ends (or lapses, if its process
    /// dies). `Some` is the request that holds it now.
    async fn lock(
        &self,
        req: &Request,
        token: &str,
        verb: Verb,
        inst: &Instance,
    ) -> Option<InstanceLock> {
        match self.hold_instance(inst, token, &req.principal, verb).await {
            Held::Mine => None,
            Held::By(holder) => Some(holder),
        }
    }

    async fn act(
        &self,
        req: &Request,
        cmd: &Command,
        inst: &Instance,
        flight: &mut InFlight,
        started: Instant,
    ) -> Verdict {
        let verb = cmd.verb;
        // On record before anything reaches a backend.
        let begun = Verdict::about(inst, OutcomeKind::Running, String::new());
        crate::record::begin(&self.store, self.audit_row(req, &cmd.to_string(), &begun));
        flight.begun = true;
        let backend = match self.backends.get(inst.backend) {
            Ok(b) => b,
            Err(e) => return Verdict::failed(inst, &e),
        };
        let ctx = ActContext {
            request_id: req.id.clone(),
            requested_by: req.principal.clone(),
            origin: req.origin.clone(),
            approved_by: req.grant.approved_by.clone(),
            attempt: req.grant.attempt.unwrap_or(1),
        };
        if inst.backend != BackendKind::DryRun && req.reply_to.takes_progress() {
            let note = Reply::text(messages::progress(verb, inst));
            match self.reporter.post(&req.reply_to, &note).await {
                Ok(p) => flight.posted = Some(p),
                Err(e) => tracing::warn!(error = %e, "could not post progress"),
            }
        }
        let result = match verb {
            Verb::Start => backend.start(inst, &ctx).await,
            _ => backend.stop(inst, &ctx).await,
        };
        if req.grant.approved_by.is_some() && verb == Verb::Start {
            // The grant is used once its start has reached the backend,
            // however that went: the requester hears the real end.
            if let Err(e) = self.store.db().consume_approval(&req.id).await {
                tracing::warn!(error = %e, "could not mark the approval as used");
            }
        }
        // The session opens when the start went out, so an operation that
        // another process finishes still ends under its lease; but only once
        // the operation itself is on record, which must follow Google's answer
        // as closely as it can (a process killed in between leaves nothing to
        // resume).
        let opens_session = match (&result, verb) {
            (Ok(Outcome::AlreadyThere(_)), Verb::Start) => cmd.lasting.is_some(),
            (Ok(_), Verb::Start) => true,
            _ => false,
        };
        let mut lease_note = None;
        let result = match result {
            Ok(Outcome::Pending { operation }) => {
                let pending = PendingOperation {
                    request_id: req.id.clone(),
                    alias: inst.alias.to_string(),
                    instance: inst.name.to_string(),
                    verb,
                    operation,
                    principal: req.principal.clone(),
                    team: req.team.as_ref().map(|t| t.to_string()),
                    entry_point: req.entry,
                    reply_to: req.reply_to.clone(),
                    posted: flight.posted.clone(),
                    started_at: chrono::Utc::now(),
                    approved_by: req.grant.approved_by.clone(),
                };
                if let Err(e) = self
                    .store
                    .db()
                    .save_pending(&pending, &self.owner, self.config.store.lease)
                    .await
                {
                    tracing::warn!(error = %e, "could not store the pending operation; following it anyway");
                }
                if opens_session {
                    lease_note = Some(self.open_session(req, cmd, inst, false).await);
                }
                match self.follow(backend.as_ref(), inst, &pending).await {
                    Some(r) => r,
                    None => return Verdict::left_for_another(inst),
                }
            }
            other => other,
        };
        let already_running = matches!(result, Ok(Outcome::AlreadyThere(_)));
        // A start that outlived the wait still runs under its time limit; one
        // that failed leaves its session for a tick to close on `STOPPED`.
        let limit_holds = matches!(result, Ok(_) | Err(BackendError::StillRunning { .. }));
        let lease_note = match lease_note {
            Some(note) => note,
            None if opens_session => self.open_session(req, cmd, inst, already_running).await,
            None => String::new(),
        };
        let handed_off = matches!(result, Ok(Outcome::HandedOff { .. }));
        let stop_status = result.as_ref().ok().and_then(Outcome::status).cloned();
        let mut v = self.ended(req, verb, inst, result, started.elapsed());
        if verb == Verb::Stop {
            match &stop_status {
                Some(s) if crate::act::confirms_stop(&s.state) => {
                    let closed = self.close_session(inst, Some(s)).await;
                    let session = closed.as_ref().map(|(s, _)| s);
                    if let Some(why) =
                        crate::report::timers::timer_stop_note(inst, &req.principal, session)
                    {
                        v.reply.text = format!("{why}\n{}", v.reply.text);
                    }
                    if let Some((_, cost)) = &closed {
                        v.reply.text.push_str(cost);
                    }
                }
                // The workflow run decides: the session closes when it succeeds.
                _ if handed_off && !req.principal.is_timer() => {
                    self.await_handed_off_stop(inst, &req.id).await;
                }
                _ => {}
            }
        }
        if limit_holds {
            v.reply.text.push_str(&lease_note);
        }
        if handed_off {
            v.handoff = Some((backend, ctx));
        }
        v
    }

    /// A person's stop handed to GitHub: the session waits for its run.
    async fn await_handed_off_stop(&self, inst: &Instance, request_id: &str) {
        let Ok(Some(session)) = self.session_read(inst).await else {
            return;
        };
        let stopping = crate::store::Stopping {
            reason: None,
            due: self.now(),
            request_id: request_id.to_owned(),
            attempt: 1,
            handed_off_at: Some(self.now()),
            failures: 0,
            next_try: None,
            told: false,
            operators_told: false,
        };
        let session = crate::store::Session {
            stopping: Some(stopping),
            ..session
        };
        if let Err(e) = self.store.db().put_session(&session).await {
            tracing::warn!(error = %e, "could not note the stop handed to GitHub");
        }
    }

    /// Puts the end of a start or stop in a verdict, with a card when the state
    /// is known.
    fn ended(
        &self,
        req: &Request,
        verb: Verb,
        inst: &Instance,
        result: Result<Outcome, BackendError>,
        took: Duration,
    ) -> Verdict {
        let card = |state| self.card(&req.principal, inst, state);
        match result {
            Ok(Outcome::Done(s)) => Verdict::about(
                inst,
                OutcomeKind::Done(s.state.as_api().to_owned()),
                messages::done(inst, &s, took),
            )
            .with_state(s.state.clone(), card(&s.state))
            .announced(),
            Ok(Outcome::AlreadyThere(s)) => Verdict::about(
                inst,
                OutcomeKind::Unchanged(s.state.as_api().to_owned()),
                messages::already_there(verb, inst, &s),
            )
            .with_state(s.state.clone(), card(&s.state)),
            Ok(Outcome::HandedOff { detail }) => {
                Verdict::about(inst, OutcomeKind::HandedOff, messages::handed_off(&detail))
                    .announced()
            }
            Ok(Outcome::Pending { operation }) => Verdict::about(
                inst,
                OutcomeKind::Pending,
                messages::still_changing(inst, &operation),
            )
            .announced(),
            Err(e) => Verdict::failed(inst, &e).announced(),
        }
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
        let lease = self.config.store.lease;
        let mut renew = tokio::time::interval(lease / 3);
        renew.tick().await;
        let id = &pending.request_id;
        loop {
            tokio::select! {
                result = &mut wait => {
                    // Finished before reporting: a crash in between loses one
                    // message rather than sending it twice.
                    if let Err(e) = db.finish_pending(id).await {
                        tracing::warn!(request_id = %id, error = %e, "could not clear the finished operation");
                    }
                    return Some(result);
                }
                _ = self.stopping.cancelled() => {
                    if let Err(e) = db.release_pending(id, &self.owner).await {
                        tracing::warn!(request_id = %id, error = %e, "could not release the operation");
                    }
                    tracing::info!(request_id = %id, "stopping; the next process will follow this operation");
                    return None;
                }
                _ = renew.tick() => {
                    if let Ok(false) = db.renew_pending(id, &self.owner, lease).await {
                        tracing::info!(request_id = %id, "another process took over this operation");
                        return None;
                    }
                    let _ = db.renew_lock(&pending.instance, id, self.lease_end_ms()).await;
                }
            }
        }
    }

    /// Takes over operations that a stopped or crashed process left, and follows
    /// each to its end, reporting it once.
    pub async fn resume_pending(self: &Arc<Self>, tasks: &TaskTracker) -> usize {
        let lease = self.config.store.lease;
        let claimed = match self.store.db().claim_pending(&self.owner, lease).await {
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

    async fn resume_one(&self, mut pending: PendingOperation) {
        // Rows older versions wrote name the alias only.
        let inst = match pending.instance.is_empty() {
            true => self.config.instance(&pending.alias),
            false => self.config.instance_by_name(&pending.instance),
        };
        let Some(inst) = inst else {
            // Another replica may know it: hand it back rather than drop it.
            let key = match pending.instance.is_empty() {
                true => pending.alias.clone(),
                false => pending.instance.clone(),
            };
            self.left_alone("pending operation", &key);
            let _ = self
                .store
                .db()
                .release_pending(&pending.request_id, &self.owner)
                .await;
            return;
        };
        pending.instance = inst.name.to_string();
        let backend = match self.backends.get(inst.backend) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(alias = %inst.alias, error = %e, "cannot resume: backend not set up");
                return;
            }
        };
        tracing::info!(request_id = %pending.request_id, alias = %inst.alias, "resuming a pending operation");
        // The lock travels with the request: keep it while following.
        let _ = self
            .store
            .db()
            .renew_lock(inst.name.as_ref(), &pending.request_id, self.lease_end_ms())
            .await;
        let Some(result) = self.follow(backend.as_ref(), inst, &pending).await else {
            return;
        };
        let took = (chrono::Utc::now() - pending.started_at)
            .to_std()
            .unwrap_or_default();
        let verb = pending.verb;
        let req = Request {
            id: pending.request_id.clone(),
            team: pending
                .team
                .as_deref()
                .and_then(|t| crate::domain::TeamId::parse(t).ok()),
            principal: pending.principal.clone(),
            entry: pending.entry_point,
            input: Input::Text(format!("{verb} {}", inst.alias)),
            reply_to: pending.reply_to.clone(),
            grant: super::Grant {
                approved_by: pending.approved_by.clone(),
                ..Default::default()
            },
            origin: Origin::default(),
        };
        let stop_status = result.as_ref().ok().and_then(Outcome::status).cloned();
        let mut req = req;
        let mut v = self.ended(&req, verb, inst, result, took);
        // A confirmed stop closes the session (with its cost), before the
        // claim is let go; anything else leaves it for a tick to read.
        if verb == Verb::Stop
            && let Some(s) = stop_status
                .as_ref()
                .filter(|s| crate::act::confirms_stop(&s.state))
            && let Some((session, cost)) = self.close_session(inst, Some(s)).await
        {
            if let Some(why) =
                crate::report::timers::timer_stop_note(inst, &req.principal, Some(&session))
            {
                // An automatic stop tells its starter itself; resumed here,
                // this is where it is told.
                v.reply.text = format!("{why}\n{}", v.reply.text);
                req.reply_to = self.told(inst, Some(&session));
            }
            v.reply.text.push_str(&cost);
        }
        self.release_instance(inst, &pending.request_id).await;
        let command = format!("{verb} {}", inst.alias);
        // The row the request began (with who approved it) gets its end.
        let flight = InFlight {
            posted: pending.posted.clone(),
            begun: true,
        };
        self.conclude(&req, &command, &v, &flight, Instant::now())
            .await;
        if pending.approved_by.is_some() {
            self.show_approved_end(&pending.request_id, &v.reply.text, v.ok())
                .await;
        }
    }
}

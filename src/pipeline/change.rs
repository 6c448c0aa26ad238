//! Starting and stopping: the backend call, the progress message, and following
//! a long-running operation under a lease in the store, so that a process that
//! stops (or dies) mid-operation leaves it for another process to finish and
//! report, exactly once.

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
        if let Some(holder) = self.lock(req, verb, inst).await {
            return Verdict::busy(
                inst,
                messages::in_progress(inst, &holder.principal, holder.verb),
            );
        }
        let verdict = self.act(req, cmd, inst, flight, started).await;
        if verdict.delivery != Delivery::LeftForAnother {
            self.unlock(inst, &req.id).await;
        }
        verdict
    }

    /// One change at a time per instance, across replicas: the lock belongs to
    /// this request until it ends (or lapses, if its process dies). `Some` is
    /// the request that holds it now.
    async fn lock(&self, req: &Request, verb: Verb, inst: &Instance) -> Option<InstanceLock> {
        let lock = InstanceLock {
            alias: inst.alias.to_string(),
            request_id: req.id.clone(),
            principal: req.principal.clone(),
            verb,
            expires_at: self.lease_end(),
        };
        match self.store.db().lock_instance(&lock).await {
            Ok(holder) => holder,
            Err(e) => {
                // Refusing every change while the store is down would strand
                // people; the backend's state read still guards the worst case.
                tracing::warn!(error = %e, "could not take the instance lock; acting without it");
                None
            }
        }
    }

    async fn unlock(&self, inst: &Instance, request_id: &str) {
        if let Err(e) = self
            .store
            .db()
            .unlock_instance(inst.alias.as_ref(), request_id)
            .await
        {
            tracing::warn!(error = %e, "could not release the instance lock; it lapses on its own");
        }
    }

    fn lease_end(&self) -> i64 {
        let lease = chrono::Duration::from_std(self.config.store.lease).unwrap_or_default();
        (chrono::Utc::now() + lease).timestamp_millis()
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
                    verb,
                    operation,
                    principal: req.principal.clone(),
                    team: req.team.as_ref().map(|t| t.to_string()),
                    entry_point: req.entry,
                    reply_to: req.reply_to.clone(),
                    posted: flight.posted.clone(),
                    started_at: chrono::Utc::now(),
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
        let lease_note = match lease_note {
            Some(note) => note,
            None if opens_session => self.open_session(req, cmd, inst, already_running).await,
            None => String::new(),
        };
        let handed_off = matches!(result, Ok(Outcome::HandedOff { .. }));
        let went_out = result.is_ok();
        let stop_status = result.as_ref().ok().and_then(Outcome::status).cloned();
        let mut v = self.ended(req, verb, inst, result, started.elapsed());
        if verb == Verb::Start && opens_session && !went_out {
            // The operation this request started failed: its session goes.
            let _ = self.store.db().end_session(inst.alias.as_ref(), None).await;
        }
        if verb == Verb::Stop && went_out {
            let closed = self.close_session(inst, stop_status.as_ref()).await;
            let session = closed.as_ref().map(|(s, _)| s);
            if let Some(why) = super::timers::timer_stop_note(inst, &req.principal, session) {
                v.reply.text = format!("{why}\n{}", v.reply.text);
            }
            if let Some((_, cost)) = &closed {
                v.reply.text.push_str(cost);
            }
        }
        v.reply.text.push_str(&lease_note);
        if handed_off {
            v.handoff = Some((backend, ctx));
        }
        v
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
                    let _ = db.renew_lock(&pending.alias, id, self.lease_end()).await;
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

    async fn resume_one(&self, pending: PendingOperation) {
        let Some(inst) = self.config.instance(&pending.alias) else {
            tracing::warn!(alias = %pending.alias, "a pending operation names an alias no longer in the config; dropping it");
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
        // The lock travels with the request: keep it while following.
        let _ = self
            .store
            .db()
            .renew_lock(inst.alias.as_ref(), &pending.request_id, self.lease_end())
            .await;
        let Some(result) = self.follow(backend.as_ref(), inst, &pending).await else {
            return;
        };
        self.unlock(inst, &pending.request_id).await;
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
            grant: Default::default(),
            origin: Origin::default(),
        };
        let went_out = result.is_ok();
        let stop_status = result.as_ref().ok().and_then(Outcome::status).cloned();
        let mut v = self.ended(&req, verb, inst, result, took);
        // The session follows the operation's end here too: a stop closes it
        // (with its cost), a start that failed leaves nothing running.
        match (verb, went_out) {
            (Verb::Stop, true) => {
                if let Some((_, cost)) = self.close_session(inst, stop_status.as_ref()).await {
                    v.reply.text.push_str(&cost);
                }
            }
            (Verb::Start, false) => {
                let _ = self.store.db().end_session(inst.alias.as_ref(), None).await;
            }
            _ => {}
        }
        let command = format!("{verb} {}", inst.alias);
        let flight = InFlight {
            posted: pending.posted.clone(),
            begun: false,
        };
        self.conclude(&req, &command, &v, &flight, Instant::now())
            .await;
    }
}

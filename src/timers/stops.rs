//! Automatic stops, kept or told: each is fired through the one request path
//! under the instance's claim, is done only when confirmed (Google reads
//! `STOPPED`, or the stop's workflow run succeeded), and otherwise is retried
//! with backoff. The starter hears once per failure episode that it did not
//! go through, why and what to do; after [`OPERATORS_AFTER`] tries the
//! instance's operators hear it too. Sending a stop again is safe because
//! each attempt reads the state first and a retried dispatch carries its own
//! attempt number, so its run is told apart from the first.

use super::telling::origin_of;
use super::{Done, Read, confirms_stop};
use crate::act::{InstanceStatus, State};
use crate::config::Instance;
use crate::domain::{Command, EntryPoint, Principal, TimerReason, Verb};
use crate::pipeline::{App, Grant, Input, Request};
use crate::report::{Reply, ReplyTo, timers as say};
use crate::store::{OutcomeKind, Session, Stopping};
use chrono::{DateTime, Utc};

/// Failed tries of one stop after which its instance's operators are told.
pub(crate) const OPERATORS_AFTER: u32 = 3;

/// The longest wait between two tries of a stop that keeps failing.
const MAX_BACKOFF_MINUTES: i64 = 15;

impl App {
    /// Runs `work` holding the instance's claim as `token`, which must be
    /// new for each holding (two replicas retrying one stop share its request
    /// id, never a token); `None` when another request holds it (it will see
    /// to the instance). A process that is stopping keeps the claim until it
    /// lapses: the operation it left is someone else's to finish.
    pub(super) async fn under_claim<T>(
        &self,
        inst: &Instance,
        token: &str,
        principal: Principal,
        work: impl std::future::Future<Output = T>,
    ) -> Option<T> {
        match self
            .hold_instance(inst, token, &principal, Verb::Stop)
            .await
        {
            super::Held::Mine => {}
            super::Held::By(_) => return None,
        }
        let out = self.renewing(inst, token, work).await;
        if !self.stopping.is_cancelled() {
            self.release_instance(inst, token).await;
        }
        Some(out)
    }

    /// Fires an automatic stop that is due, under the instance's claim.
    pub(super) async fn fire(
        &self,
        inst: &Instance,
        reason: TimerReason,
        due: DateTime<Utc>,
    ) -> Done {
        let current = match self.session_read(inst).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, alias = %inst.alias, "could not read the session before a stop; the next tick tries again");
                return Done::Nothing;
            }
        };
        // A scheduled stop's first try takes the occurrence's claim, which is
        // never marked done: a stop under way carries on from its marker, and
        // one that could not be tried (a busy claim, an unreadable store or
        // state) is tried again once the claim lapses. A done claim is how
        // older versions recorded a skip (*Keep 1 h*) of that very stop.
        let first = current.as_ref().is_none_or(|s| s.stopping.is_none());
        if reason == TimerReason::Schedule
            && first
            && self.claim(inst, reason.as_str(), due).await.is_none()
        {
            return Done::Nothing;
        }
        let id = current
            .as_ref()
            .and_then(|s| s.stopping.as_ref())
            .map(|st| st.request_id.clone())
            .unwrap_or_else(Request::new_id);
        let token = Request::new_id();
        self.under_claim(inst, &token, Principal::Timer(reason), async {
            self.fire_held(inst, reason, due, id, &token).await
        })
        .await
        .unwrap_or(Done::Nothing)
    }

    async fn fire_held(
        &self,
        inst: &Instance,
        reason: TimerReason,
        due: DateTime<Utc>,
        id: String,
        token: &str,
    ) -> Done {
        // Read again under the claim: a Keep pressed since may have moved it.
        let current = match self.session_read(inst).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, alias = %inst.alias, "could not read the session before a stop; the next tick tries again");
                return Done::Nothing;
            }
        };
        if !still_due(reason, due, current.as_ref()) {
            return Done::Nothing;
        }
        let now = self.now();
        let mut stop = current
            .as_ref()
            .and_then(|s| s.stopping.clone())
            .filter(|st| st.reason == Some(reason))
            .unwrap_or(Stopping {
                reason: Some(reason),
                due,
                request_id: id.clone(),
                attempt: 0,
                handed_off_at: None,
                failures: 0,
                next_try: None,
                told: false,
                operators_told: false,
            });
        // Another replica handed this stop to GitHub since the tick's read:
        // its run is followed, never sent again from here.
        if current
            .as_ref()
            .and_then(|s| s.stopping.as_ref())
            .is_some_and(|st| st.handed_off_at.is_some())
        {
            return Done::Nothing;
        }
        // An idle stop not yet sent needs a running instance and a reading:
        // a state that is not `ACTIVE`, or unreadable, is no failure to tell
        // but a reason to wait (the warning stands a while, then gives way).
        let first_idle = reason == TimerReason::Idle && stop.attempt == 0;
        // Read first: it may be stopped already, or unable to stop now.
        let status = match self.read_now(inst).await {
            Read::Known(st) if confirms_stop(&st.state) => {
                return match &current {
                    Some(c) => self.confirmed(inst, c, &st, now).await,
                    None => Done::Nothing,
                };
            }
            Read::Known(st) if st.state == State::Stopping => {
                // Going down already (someone pressed stop): confirm it later.
                self.mark(inst, current.as_ref(), &stop, None, now).await;
                return Done::Nothing;
            }
            Read::Known(st) if st.state != State::Active && first_idle => {
                tracing::info!(alias = %inst.alias, state = %st.state.as_api(), "an idle stop fell due on an instance that is not running normally; waiting");
                return Done::Nothing;
            }
            Read::Failed(why) if first_idle => {
                tracing::warn!(alias = %inst.alias, why = %why, "could not read the state of an instance due an idle stop; the next tick looks again");
                return Done::Nothing;
            }
            Read::Known(st) if st.state != State::Active => {
                return self
                    .failed_first(
                        inst,
                        current.as_ref(),
                        &stop,
                        say::cannot_stop_now(inst, &st.state),
                        now,
                    )
                    .await;
            }
            // With no session nothing says it runs: a read that failed is
            // no reason to act, nor to tell anyone it did not go through.
            Read::Failed(why) if current.is_none() => {
                tracing::warn!(alias = %inst.alias, why = %why, "could not read the state of an instance due a scheduled stop; the next tick looks again");
                return Done::Nothing;
            }
            Read::Failed(why) => {
                return self
                    .failed_first(inst, current.as_ref(), &stop, why, now)
                    .await;
            }
            Read::Known(st) => Some(st),
            Read::Unreadable => None,
        };
        // An idle stop goes out only on a reading, now, that is still idle
        // (kept on the session, for the stop's message).
        let current = match reason {
            TimerReason::Idle => {
                match self
                    .idle_recheck(inst, current, status.as_ref(), due, now)
                    .await
                {
                    Ok(read_again) => read_again,
                    Err(done) => return done,
                }
            }
            _ => current,
        };
        stop.attempt += 1;
        stop.handed_off_at = None;
        stop.next_try = None;
        let Some(session) = self
            .mark(inst, current.as_ref(), &stop, status.as_ref(), now)
            .await
        else {
            return Done::Nothing;
        };
        let to = self.told(inst, Some(&session));
        let req = Request {
            id: id.clone(),
            team: None,
            principal: Principal::Timer(reason),
            entry: EntryPoint::Timer,
            input: Input::Command(Command::new(Verb::Stop, Some(inst.alias.to_string()))),
            // The engine tells the end itself: once confirmed, or once per
            // failure episode, never a message per try.
            reply_to: ReplyTo::Nowhere,
            grant: Grant {
                attempt: Some(stop.attempt),
                claim: Some(token.to_owned()),
                ..Default::default()
            },
            origin: origin_of(&to),
        };
        let handled = self.handle(req).await;
        let stopped = handled.ok && handled.state.as_ref().is_some_and(confirms_stop);
        if stopped {
            let mut text = handled.reply.text.clone();
            text.push_str(&self.late_note(due, now));
            self.post_to(&to, inst, Reply::text(text)).await;
            return Done::Stopped;
        }
        if handled.handed_off {
            stop.handed_off_at = Some(now);
            self.mark(inst, Some(&session), &stop, None, now).await;
            return Done::Nothing;
        }
        if handled.ok {
            // Going down (it was stopping already): confirmed by a later read.
            return Done::Nothing;
        }
        // A stop that outlived the wait is under way, not failed.
        if let Read::Known(st) = self.read_now(inst).await
            && (st.state == State::Stopping || confirms_stop(&st.state))
        {
            return Done::Nothing;
        }
        self.failed(inst, reason, &stop, handled.reply.text, now)
            .await
    }

    /// Writes the stop under way into the session (opening one for an
    /// instance nothing read running, such as on a GitHub-only deployment).
    async fn mark(
        &self,
        inst: &Instance,
        current: Option<&Session>,
        stop: &Stopping,
        status: Option<&InstanceStatus>,
        now: DateTime<Utc>,
    ) -> Option<Session> {
        let session = match current {
            Some(s) => Session {
                stopping: Some(stop.clone()),
                ..s.clone()
            },
            None => Session {
                stopping: Some(stop.clone()),
                ..self.seen_running(inst, status, now)
            },
        };
        match self.store.db().put_session(&session).await {
            Ok(()) => Some(session),
            Err(e) => {
                tracing::warn!(error = %e, alias = %inst.alias, "could not note the stop under way; the next tick tries again");
                None
            }
        }
    }

    /// A first try that could not even be sent (unreadable or unstoppable
    /// state): a failure like any other, on a session that says so.
    async fn failed_first(
        &self,
        inst: &Instance,
        current: Option<&Session>,
        stop: &Stopping,
        why: String,
        now: DateTime<Utc>,
    ) -> Done {
        if self.mark(inst, current, stop, None, now).await.is_none() {
            return Done::Nothing;
        }
        let Some(reason) = stop.reason else {
            return Done::Nothing;
        };
        self.failed(inst, reason, stop, why, now).await
    }

    /// An automatic stop that did not go through: try again after a backoff,
    /// tell the starter once per episode, and the operators once it lasts.
    pub(super) async fn failed(
        &self,
        inst: &Instance,
        reason: TimerReason,
        stop: &Stopping,
        why: String,
        now: DateTime<Utc>,
    ) -> Done {
        let Ok(Some(session)) = self.session_read(inst).await else {
            tracing::warn!(alias = %inst.alias, why = %why, "an automatic stop did not go through, and its session cannot be read; the next tick tries again");
            return Done::Nothing;
        };
        let mut stop = stop.clone();
        stop.failures += 1;
        stop.handed_off_at = None;
        let tick = chrono::Duration::from_std(self.config.scheduler.tick).unwrap_or_default();
        let backoff = (tick * 2i32.saturating_pow(stop.failures.saturating_sub(1).min(10)))
            .min(chrono::Duration::minutes(MAX_BACKOFF_MINUTES));
        let next_try = now + backoff;
        stop.next_try = Some(next_try);
        tracing::warn!(alias = %inst.alias, failures = stop.failures, reason = %reason, why = %why, "an automatic stop did not go through; trying again later");
        let tell_starter = !stop.told;
        let tell_operators = stop.failures >= OPERATORS_AFTER && !stop.operators_told;
        stop.told = true;
        stop.operators_told |= tell_operators;
        // On record before anyone is told, so nobody is told twice: a store
        // that will not take it gets no message now, and the next tick tries.
        let failures = stop.failures;
        let written = self
            .store
            .db()
            .put_session(&Session {
                stopping: Some(stop.clone()),
                ..session.clone()
            })
            .await;
        if let Err(e) = written {
            tracing::warn!(error = %e, alias = %inst.alias, "could not note a failed automatic stop; the next tick tries again");
            return Done::Failed;
        }
        if tell_starter {
            let to = self.told(inst, Some(&session));
            let text = say::stop_failed(inst, reason, stop.due, &why, next_try, now);
            self.post_to(&to, inst, Reply::text(text)).await;
        }
        if tell_operators {
            let text = say::stop_keeps_failing(inst, reason, stop.due, &why, failures);
            self.tell_operators(inst, text).await;
        }
        Done::Failed
    }

    /// Closes the session of a confirmed stop, saying so to whoever the
    /// stop concerned: an automatic stop's end, a deletion.
    ///
    /// `seen` is the session the confirmation is about. Read again under the
    /// claim, it must still be that one: a start since a tick's read of
    /// `STOPPED` has opened a new session, which that read says nothing about.
    pub(super) async fn confirmed(
        &self,
        inst: &Instance,
        seen: &Session,
        status: &InstanceStatus,
        now: DateTime<Utc>,
    ) -> Done {
        let same = |c: &Session| {
            c.started_at == seen.started_at
                && c.stopping.as_ref().map(|st| &st.request_id)
                    == seen.stopping.as_ref().map(|st| &st.request_id)
        };
        match self.session_read(inst).await {
            Ok(Some(current)) if same(&current) => {}
            Ok(_) => return Done::Nothing,
            Err(e) => {
                tracing::warn!(error = %e, alias = %inst.alias, "could not read the session to close it; the next tick tries again");
                return Done::Nothing;
            }
        }
        let Some((session, cost)) = self.close_session(inst, Some(status)).await else {
            return Done::Nothing;
        };
        self.homes_showing(inst);
        let stop = session.stopping.as_ref();
        if let Some(st) = stop {
            // The stop's own row, begun when it went out, gets its real end.
            self.store.settle(
                &st.request_id,
                OutcomeKind::Done(status.state.as_api().to_owned()).into(),
            );
        }
        let to = self.told(inst, Some(&session));
        if status.state == State::Deleted {
            self.post_to(&to, inst, Reply::text(say::deleted(inst)))
                .await;
            return Done::Nothing;
        }
        // Only a stop the bot sent is the bot's to report; one it found
        // going down already (someone pressed stop) closes quietly.
        let Some(reason) = stop.filter(|st| st.attempt > 0).and_then(|st| st.reason) else {
            return Done::Nothing;
        };
        let due = stop.map(|st| st.due).unwrap_or(now);
        let mut text = say::stopped_because(inst, reason, Some(&session));
        text.push_str(&format!("\n{}", say::confirmed_stop(inst)));
        text.push_str(&cost);
        text.push_str(&self.late_note(due, now));
        self.post_to(&to, inst, Reply::text(text)).await;
        Done::Stopped
    }
}

/// Whether the stop read before taking the claim is still due under it.
fn still_due(reason: TimerReason, due: DateTime<Utc>, current: Option<&Session>) -> bool {
    let retrying = |s: &Session| {
        s.stopping
            .as_ref()
            .is_some_and(|st| st.reason == Some(reason) && st.due == due)
    };
    match (reason, current) {
        (TimerReason::Lease, Some(s)) => s.ends_at == Some(due) || retrying(s),
        (TimerReason::Lease, None) => false,
        (TimerReason::Schedule, Some(s)) => {
            retrying(s) || (s.stopping.is_none() && s.skipped != Some(due) && s.started_at < due)
        }
        (TimerReason::Schedule, None) => true,
        // Warned of, and neither kept nor called off since.
        (TimerReason::Idle, Some(s)) => {
            retrying(s) || (s.stopping.is_none() && s.idle.stop_due == Some(due))
        }
        (TimerReason::Idle, None) => false,
    }
}

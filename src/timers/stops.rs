//! Automatic stops, kept or told: each is fired through the one request path
//! under the instance's claim, is done only when confirmed (Google reads
//! `STOPPED`, or the stop's workflow run succeeded), and otherwise is retried
//! with backoff. The starter hears once per failure episode that it did not
//! go through, why and what to do; after [`OPERATORS_AFTER`] tries the
//! instance's operators hear it too. Sending a stop again is safe because
//! each attempt reads the state first and a retried dispatch carries its own
//! attempt number, so its run is told apart from the first.

use super::{Done, Read, confirms_stop};
use crate::act::{Handoff, InstanceStatus, Side, State};
use crate::config::Instance;
use crate::domain::{Command, EntryPoint, Origin, Principal, TimerReason, Verb};
use crate::pipeline::{App, Grant, Input, Request};
use crate::report::{Card, Reply, ReplyTo, timers as say};
use crate::store::{OutcomeKind, Session, Stopping};
use chrono::{DateTime, Utc};

/// Failed tries of one stop after which its instance's operators are told.
pub(crate) const OPERATORS_AFTER: u32 = 3;

/// The longest wait between two tries of a stop that keeps failing.
const MAX_BACKOFF_MINUTES: i64 = 15;

impl App {
    /// Everything a tick does for one instance: close a confirmed stop's
    /// session, notice a start made outside the bot, pursue a stop under way,
    /// fire a due one, warn before one, remind of one running unbounded.
    pub(super) async fn instance_tick(
        &self,
        inst: &Instance,
        session: Option<Session>,
        read: Read,
    ) -> (Done, bool) {
        let now = self.now();
        if let (Some(s), Read::Known(status)) = (&session, &read)
            && confirms_stop(&status.state)
        {
            let id = s
                .stopping
                .as_ref()
                .map(|st| st.request_id.clone())
                .unwrap_or_else(Request::new_id);
            let done = self
                .under_claim(inst, &id, Principal::Timer(TimerReason::Lease), async {
                    self.confirmed(inst, status, now).await
                })
                .await
                .unwrap_or(Done::Nothing);
            return (done, false);
        }
        let session = match (session, &read) {
            (None, Read::Known(st)) if st.state.is_running_or_coming_up() => {
                self.notice(inst, st, now).await
            }
            (s, _) => s,
        };
        if let Some(s) = &session {
            if let Some(stop) = &s.stopping {
                return (self.pursue(inst, stop, &read, now).await, false);
            }
            if let Some(end) = s.ends_at
                && now >= end
            {
                return (self.fire(inst, TimerReason::Lease, end, true).await, false);
            }
        }
        if let Some(due) = self.schedule_due(inst, session.as_ref(), now) {
            let has_session = session.is_some();
            let done = self
                .fire(inst, TimerReason::Schedule, due, has_session)
                .await;
            return (done, false);
        }
        let warned = self.warn_if_due(inst, session.as_ref(), &read, now).await;
        let reminded = match (&session, &read) {
            (Some(s), Read::Known(status)) => self.remind_one(inst, s, status, now).await,
            _ => false,
        };
        (warned, reminded)
    }

    /// Runs `work` holding the instance's claim as `id`; `None` when another
    /// request holds it (it will see to the instance).
    async fn under_claim<T>(
        &self,
        inst: &Instance,
        id: &str,
        principal: Principal,
        work: impl std::future::Future<Output = T>,
    ) -> Option<T> {
        match self.hold_instance(inst, id, &principal, Verb::Stop).await {
            super::Held::Mine => {}
            super::Held::By(_) => return None,
        }
        let out = self.renewing(inst, id, work).await;
        self.release_instance(inst, id).await;
        Some(out)
    }

    /// An instance seen running that the bot has no session for (started
    /// from the console, or before the bot knew): its session starts when
    /// Google last changed its state, or now.
    async fn notice(
        &self,
        inst: &Instance,
        status: &InstanceStatus,
        now: DateTime<Utc>,
    ) -> Option<Session> {
        let seen = Session {
            instance: inst.name.to_string(),
            started_at: status
                .update_time
                .as_deref()
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc))
                .filter(|t| *t <= now)
                .unwrap_or(now),
            ends_at: None,
            started_by: None,
            tell: self.announce_to(),
            approved_until: None,
            skipped: None,
            stopping: None,
        };
        // A start racing this tick wins: its session is the real one.
        match self.store.db().add_session(&seen).await {
            Ok(true) => Some(seen),
            _ => self.session_of(inst).await,
        }
    }

    /// The scheduled stop that is due for this instance now, if any: the
    /// latest occurrence, for a session that began before it and did not
    /// skip it (however late the tick); with no session (nothing read it
    /// running), only within a grace window of it.
    pub(super) fn schedule_due(
        &self,
        inst: &Instance,
        session: Option<&Session>,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        match session {
            Some(s) => self.missed_schedule(inst, s, now),
            None => {
                let last = inst.stop_at.as_ref()?.last_at_or_before_utc(now)?;
                let grace = chrono::Duration::from_std(self.config.scheduler.tick * 3)
                    .unwrap_or_default()
                    .max(chrono::Duration::minutes(15));
                (now - last <= grace).then_some(last)
            }
        }
    }

    /// The latest scheduled stop the session should have had and has not.
    pub(super) fn missed_schedule(
        &self,
        inst: &Instance,
        s: &Session,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let last = inst.stop_at.as_ref()?.last_at_or_before_utc(now)?;
        (s.started_at < last && s.skipped != Some(last) && s.stopping.is_none()).then_some(last)
    }

    /// A stop under way: confirm it, wait for it, or try it again.
    async fn pursue(
        &self,
        inst: &Instance,
        stop: &Stopping,
        read: &Read,
        now: DateTime<Utc>,
    ) -> Done {
        if let Some(sent) = stop.handed_off_at {
            let result = match self.backends.get(inst.backend) {
                Ok(b) => b.handoff_result(&stop.request_id, stop.attempt).await,
                Err(_) => Handoff::Unknown,
            };
            let max_age = self
                .config
                .github
                .as_ref()
                .map(|g| g.max_age)
                .unwrap_or(std::time::Duration::from_secs(3600));
            let gave_up = sent + chrono::Duration::from_std(max_age).unwrap_or_default() < now;
            let failed = match result {
                Handoff::Succeeded => {
                    return self
                        .under_claim(
                            inst,
                            &stop.request_id,
                            Principal::Timer(TimerReason::Lease),
                            async {
                                let status = InstanceStatus::bare(State::Stopped);
                                self.confirmed(inst, &status, now).await
                            },
                        )
                        .await
                        .unwrap_or(Done::Nothing);
                }
                Handoff::Failed(why) => why,
                Handoff::Unknown if gave_up => say::no_run_found(&stop.request_id),
                Handoff::Running | Handoff::Unknown => return Done::Nothing,
            };
            let Some(reason) = stop.reason else {
                // A person's stop is never sent again; the workflow told them.
                self.forget_stop(inst, &stop.request_id).await;
                return Done::Nothing;
            };
            // The row of the attempt the run carried out gets its real end.
            self.store
                .settle(&stop.request_id, OutcomeKind::Failed(Side::Github).into());
            return self
                .under_claim(inst, &stop.request_id, Principal::Timer(reason), async {
                    self.failed(inst, stop, failed, now).await
                })
                .await
                .unwrap_or(Done::Nothing);
        }
        let Some(reason) = stop.reason else {
            self.forget_stop(inst, &stop.request_id).await;
            return Done::Nothing;
        };
        if let Read::Known(st) = read
            && st.state == State::Stopping
        {
            return Done::Nothing;
        }
        if stop.next_try.is_some_and(|t| t > now) {
            return Done::Nothing;
        }
        self.fire(inst, reason, stop.due, true).await
    }

    /// Clears a person's stop that GitHub did not carry out: the session
    /// and its time limit stay, as before the stop.
    async fn forget_stop(&self, inst: &Instance, id: &str) {
        let principal = Principal::Timer(TimerReason::Lease);
        self.under_claim(inst, id, principal, async {
            if let Ok(Some(s)) = self.session_read(inst).await
                && s.stopping.as_ref().is_some_and(|st| st.request_id == id)
            {
                let _ = self
                    .store
                    .db()
                    .put_session(&Session {
                        stopping: None,
                        ..s
                    })
                    .await;
            }
        })
        .await;
    }

    /// Fires an automatic stop that is due, under the instance's claim.
    async fn fire(
        &self,
        inst: &Instance,
        reason: TimerReason,
        due: DateTime<Utc>,
        has_session: bool,
    ) -> Done {
        // Without a session nothing marks the occurrence done: a claim does.
        let occurrence = match has_session {
            true => None,
            false => match self.claim(inst, reason.as_str(), due).await {
                Some(c) => Some(c),
                None => return Done::Nothing,
            },
        };
        let current = match self.session_read(inst).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, alias = %inst.alias, "could not read the session before a stop; the next tick tries again");
                return Done::Nothing;
            }
        };
        let id = current
            .as_ref()
            .and_then(|s| s.stopping.as_ref())
            .map(|st| st.request_id.clone())
            .unwrap_or_else(Request::new_id);
        let done = self
            .under_claim(inst, &id.clone(), Principal::Timer(reason), async {
                self.fire_held(inst, reason, due, id).await
            })
            .await
            .unwrap_or(Done::Nothing);
        if let Some(c) = occurrence {
            self.finish(&c).await;
        }
        done
    }

    async fn fire_held(
        &self,
        inst: &Instance,
        reason: TimerReason,
        due: DateTime<Utc>,
        id: String,
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
        // Read first: it may be stopped already, or unable to stop now.
        let status = match self.read_now(inst).await {
            Read::Known(st) if confirms_stop(&st.state) => {
                return match current {
                    Some(_) => self.confirmed(inst, &st, now).await,
                    None => Done::Nothing,
                };
            }
            Read::Known(st) if st.state == State::Stopping => {
                // Going down already (someone pressed stop): confirm it later.
                self.mark(inst, current.as_ref(), &stop, None, now).await;
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
            Read::Failed(why) => {
                return self
                    .failed_first(inst, current.as_ref(), &stop, why, now)
                    .await;
            }
            Read::Known(st) => Some(st),
            Read::Unreadable => None,
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
        let to = self.told(Some(&session));
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
        if handled.ok || handled.reason == "in_progress" {
            // Going down (it was stopping), or another change holds it.
            return Done::Nothing;
        }
        self.failed(inst, &stop, handled.reply.text, now).await
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
                instance: inst.name.to_string(),
                started_at: status
                    .and_then(|s| s.update_time.as_deref())
                    .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                    .map(|t| t.with_timezone(&Utc))
                    .filter(|t| *t <= now)
                    .unwrap_or(now),
                ends_at: None,
                started_by: None,
                tell: self.announce_to(),
                approved_until: None,
                skipped: None,
                stopping: Some(stop.clone()),
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
        self.failed(inst, stop, why, now).await
    }

    /// An automatic stop that did not go through: try again after a backoff,
    /// tell the starter once per episode, and the operators once it lasts.
    async fn failed(
        &self,
        inst: &Instance,
        stop: &Stopping,
        why: String,
        now: DateTime<Utc>,
    ) -> Done {
        let Ok(Some(session)) = self.session_read(inst).await else {
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
        tracing::warn!(alias = %inst.alias, failures = stop.failures, reason = ?stop.reason, why = %why, "an automatic stop did not go through; trying again later");
        let reason = stop.reason.unwrap_or(TimerReason::Lease);
        if !stop.told {
            let to = self.told(Some(&session));
            let text = say::stop_failed(inst, reason, stop.due, &why, next_try, now);
            self.post_to(&to, inst, Reply::text(text)).await;
            stop.told = true;
        }
        if stop.failures >= OPERATORS_AFTER && !stop.operators_told {
            self.tell_operators(
                inst,
                say::stop_keeps_failing(inst, reason, stop.due, &why, stop.failures),
            )
            .await;
            stop.operators_told = true;
        }
        let _ = self
            .store
            .db()
            .put_session(&Session {
                stopping: Some(stop),
                ..session
            })
            .await;
        Done::Failed
    }

    /// Closes the session of a confirmed stop, saying so to whoever the
    /// stop concerned: an automatic stop's end, a deletion.
    async fn confirmed(
        &self,
        inst: &Instance,
        status: &InstanceStatus,
        now: DateTime<Utc>,
    ) -> Done {
        let Some((session, cost)) = self.close_session(inst, Some(status)).await else {
            return Done::Nothing;
        };
        let stop = session.stopping.as_ref();
        if let Some(st) = stop {
            // The stop's own row, begun when it went out, gets its real end.
            self.store.settle(
                &st.request_id,
                OutcomeKind::Done(status.state.as_api().to_owned()).into(),
            );
        }
        let to = self.told(Some(&session));
        if status.state == State::Deleted {
            self.post_to(&to, inst, Reply::text(say::deleted(inst)))
                .await;
            return Done::Nothing;
        }
        let Some(reason) = stop.and_then(|st| st.reason) else {
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

    fn late_note(&self, due: DateTime<Utc>, now: DateTime<Utc>) -> String {
        match now - due > self.late() {
            true => say::late(due, now),
            false => String::new(),
        }
    }

    async fn post_to(&self, to: &ReplyTo, inst: &Instance, reply: Reply) {
        if *to == ReplyTo::Nowhere {
            tracing::info!(alias = %inst.alias, "nobody to tell about an automatic stop: set slack.announce_channel");
            return;
        }
        if let Err(e) = self.reporter.post(to, &reply).await {
            tracing::warn!(error = %e, alias = %inst.alias, "could not tell about an automatic stop");
        }
    }

    /// The instance's named operators in their direct messages, and the team
    /// channel.
    async fn tell_operators(&self, inst: &Instance, text: String) {
        let mut places: Vec<ReplyTo> = inst
            .operators
            .principals
            .iter()
            .filter_map(|p| match p {
                Principal::User(u) => Some(ReplyTo::Direct(u.to_string())),
                _ => None,
            })
            .take(20)
            .collect();
        places.extend(self.config.announce_channel.clone().map(ReplyTo::Channel));
        for to in places {
            self.post_to(&to, inst, Reply::text(text.clone())).await;
        }
    }

    /// The warning before a stop, with *Keep 1 h* and *Stop now*.
    async fn warn_if_due(
        &self,
        inst: &Instance,
        session: Option<&Session>,
        read: &Read,
        now: DateTime<Utc>,
    ) -> Done {
        if let Read::Known(st) = read
            && !st.state.is_running_or_coming_up()
        {
            return Done::Nothing;
        }
        let lease = session
            .and_then(|s| s.ends_at)
            .map(|end| (TimerReason::Lease, end, "lease-warning"));
        let scheduled = inst
            .stop_at
            .as_ref()
            .map(|s| s.next_after_utc(now))
            .filter(|t| session.is_none_or(|s| s.skipped != Some(*t)))
            .map(|t| (TimerReason::Schedule, t, "schedule-warning"));
        let Some((reason, due, kind)) = [lease, scheduled]
            .into_iter()
            .flatten()
            .filter(|(_, due, _)| now >= *due - inst.warn.to_chrono())
            .min_by_key(|(_, due, _)| *due)
        else {
            return Done::Nothing;
        };
        let Some(claim) = self.claim(inst, kind, due).await else {
            return Done::Nothing;
        };
        let to = self.told(session);
        if to == ReplyTo::Nowhere {
            tracing::info!(alias = %inst.alias, "a stop is coming but nobody to warn: set slack.announce_channel");
            self.finish(&claim).await;
            return Done::Nothing;
        }
        let mut reply = Reply::text(say::warning(inst, reason, due, now, session));
        reply.card = Some(Card {
            alias: inst.alias.to_string(),
            running: true,
            stopped: false,
            can_operate: true,
            keep: Some(crate::report::blocks::Keep::Hour),
        });
        let sent = self.reporter.post(&to, &reply).await;
        if let Err(e) = &sent {
            tracing::warn!(error = %e, alias = %inst.alias, "could not post the warning before a stop");
        }
        tracing::info!(target: "audit", alias = %inst.alias, reason = %reason, due = %due, "warned before a stop");
        self.finish(&claim).await;
        match sent {
            Ok(_) => Done::Warned,
            Err(_) => Done::Nothing,
        }
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
    }
}

/// Where a workflow tells the end of an automatic stop it carries out.
fn origin_of(to: &ReplyTo) -> Origin {
    match to {
        ReplyTo::Thread { channel, thread_ts } => Origin::Thread {
            channel: channel.clone(),
            thread_ts: thread_ts.clone(),
        },
        ReplyTo::Direct(user) => Origin::Direct { user: user.clone() },
        _ => Origin::Nowhere,
    }
}

/// What the stop of a timer adds in front of the result.
pub(crate) fn timer_stop_note(
    inst: &Instance,
    who: &Principal,
    session: Option<&Session>,
) -> Option<String> {
    match who {
        Principal::Timer(reason) => Some(say::stopped_because(inst, *reason, session)),
        _ => None,
    }
}

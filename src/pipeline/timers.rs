//! Time and money: the session a start opens (with its lease), and
//! the tick that finds due timers in the store (warnings before a stop, stops
//! when a lease ends or a schedule comes round) and acts on them through the
//! same path as a person's request, as the principal `timer:lease` or
//! `timer:schedule`, which may only stop.
//!
//! Each occurrence of timer work is claimed in the store with a hold, so one
//! replica acts on it; a replica that dies mid-way lets the hold lapse and the
//! next tick anywhere takes it over, so a due stop is never silently lost.

use super::App;
use super::request::{Input, Request};
use crate::act::{BackendError, InstanceStatus};
use crate::config::Instance;
use crate::cost::Hourly;
use crate::domain::{Command, EntryPoint, Origin, Principal, TimerReason, Verb};
use crate::report::{Card, Reply, ReplyTo, timers as say};
use crate::store::{Session, TimerClaim};
use chrono::{DateTime, Utc};
use std::time::Duration;

/// One piece of a tick's work, and whether it did anything.
enum Done {
    Stopped(bool),
    Warned(bool),
}

/// What one tick did, for logs, metrics and `POST /tasks/tick`'s answer.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TickReport {
    pub warned: usize,
    pub stopped: usize,
    pub reminded: usize,
    /// Approval requests that ran out of time (or can no longer be decided).
    pub expired: usize,
    /// Leases past their end by more than two ticks: timers not firing.
    pub overdue: usize,
}

impl App {
    /// How long a claim on timer work holds before another process may take
    /// it over: the store's lease, like every other claim (`store.lease_seconds`).
    pub(super) fn claim_hold(&self) -> Duration {
        self.config.store.lease
    }

    /// The time timers run on.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Opens the session of a start that went out, with its lease: the length
    /// asked for, capped by `max_hours`, or `max_hours` itself. On an instance
    /// that already ran (`start foo for 2h` again), the session it has keeps
    /// its start, so the cap still counts from it. Returns the sentence to add
    /// to the reply.
    pub(super) async fn open_session(
        &self,
        req: &Request,
        cmd: &Command,
        inst: &Instance,
        already_running: bool,
    ) -> String {
        let now = self.now();
        let earlier = match already_running {
            true => self.session_of(inst).await,
            false => None,
        };
        let (started_at, started_by, tell) = match earlier {
            Some(s) => (s.started_at, s.started_by, s.tell),
            None => (now, Some(req.principal.clone()), self.tell(req)),
        };
        let wanted = cmd.lasting.or(inst.max_lease).map(|l| now + l.to_chrono());
        let cap = inst.max_lease.map(|max| started_at + max.to_chrono());
        let ends_at = match (wanted, cap) {
            (Some(w), Some(c)) => Some(w.min(c)),
            (w, _) => w,
        };
        let capped = match (wanted, cap) {
            (Some(w), Some(c)) if w > c => inst.max_lease,
            _ => None,
        };
        let session = Session {
            alias: inst.alias.to_string(),
            started_at,
            ends_at,
            started_by,
            tell,
        };
        if let Err(e) = self.store.db().put_session(&session).await {
            tracing::error!(error = %e, alias = %inst.alias, "could not store the session; no automatic stop will follow");
            return match ends_at {
                Some(_) => say::no_lease_stored(),
                None => String::new(),
            };
        }
        ends_at
            .map(|end| say::lease_set(end, now, capped))
            .unwrap_or_default()
    }

    /// Where later messages about a session go: the thread it began in, or
    /// the starter's direct messages; a workflow's go to the team channel.
    pub(super) fn tell(&self, req: &Request) -> ReplyTo {
        match (&req.reply_to, &req.principal) {
            (ReplyTo::Thread { .. }, _) => req.reply_to.clone(),
            (_, Principal::User(u) | Principal::Guest(u)) => ReplyTo::Direct(u.to_string()),
            _ => self.announce_to(),
        }
    }

    /// Where to tell about a session's timers: its starter, else the team.
    fn told(&self, session: Option<&Session>) -> ReplyTo {
        session
            .map(|s| s.tell.clone())
            .filter(|t| *t != ReplyTo::Nowhere)
            .unwrap_or_else(|| self.announce_to())
    }

    /// Ends a session read earlier, unless another request has written a new
    /// one for the instance since.
    pub(super) async fn end_if_unchanged(&self, session: Option<&Session>) {
        if let Some(s) = session {
            let _ = self.store.db().end_session(&s.alias, Some(s.ends_at)).await;
        }
    }

    pub(super) fn announce_to(&self) -> ReplyTo {
        self.config
            .announce_channel
            .clone()
            .map(ReplyTo::Channel)
            .unwrap_or(ReplyTo::Nowhere)
    }

    /// Ends the instance's session after a stop, with what it cost.
    pub(super) async fn close_session(
        &self,
        inst: &Instance,
        status: Option<&InstanceStatus>,
    ) -> Option<(Session, String)> {
        let db = self.store.db();
        let session = self.session_of(inst).await?;
        if let Err(e) = db.end_session(inst.alias.as_ref(), None).await {
            tracing::warn!(error = %e, "could not end the session");
        }
        let hourly = status.and_then(|s| self.hourly(s));
        let note = say::session_cost(self.config.prices.as_ref(), hourly, &session, self.now());
        Some((session, note))
    }

    /// The instance's session, if it has one; a store that cannot say counts
    /// as none (the lines and checks that ask are advisory).
    pub(super) async fn session_of(&self, inst: &Instance) -> Option<Session> {
        self.store
            .db()
            .session(inst.alias.as_ref())
            .await
            .ok()
            .flatten()
    }

    pub(super) fn hourly(&self, status: &InstanceStatus) -> Option<Hourly> {
        self.config.prices.as_ref().map(|p| p.hourly(status))
    }

    /// The status lines about time and money.
    pub(super) async fn money_lines(&self, inst: &Instance, status: &InstanceStatus) -> String {
        let hourly = self.hourly(status);
        if !status.state.is_running_or_coming_up() {
            return hourly.map(|h| say::hourly_line(&h)).unwrap_or_default();
        }
        let now = self.now();
        let session = self.session_of(inst).await;
        let lease = session
            .as_ref()
            .and_then(|s| s.ends_at)
            .map(|t| (t, "time limit"));
        let scheduled = inst
            .stop_at
            .as_ref()
            .map(|s| (s.next_after_utc(now), "schedule"));
        let next = [lease, scheduled]
            .into_iter()
            .flatten()
            .min_by_key(|(t, _)| *t);
        say::running_lines(hourly, session.as_ref(), next, now)
    }

    /// Looks for due timer work and does it. Run every `scheduler.tick_seconds`
    /// by each process, and by Cloud Scheduler through `POST /tasks/tick`.
    pub async fn tick(&self) -> Result<TickReport, crate::store::StoreError> {
        // First, apart: a slow stop or unreadable sessions must not hold up expiries.
        let expired = self.expire_due().await;
        let mut report = TickReport {
            expired,
            ..Default::default()
        };
        let now = self.now();
        let sessions = self.store.db().sessions().await?;
        // Due work runs side by side: one slow stop (a GPU instance takes
        // minutes) must not hold up the others, or Cloud Scheduler's deadline.
        let mut work: Vec<std::pin::Pin<Box<dyn std::future::Future<Output = Done> + Send + '_>>> =
            Vec::new();
        for session in &sessions {
            let Some(end) = session.ends_at else { continue };
            let Some(inst) = self.config.instance(&session.alias) else {
                tracing::warn!(alias = %session.alias, "a session names an alias no longer in the config; dropping it");
                let _ = self.store.db().end_session(&session.alias, None).await;
                continue;
            };
            if now >= end {
                work.push(Box::pin(async move {
                    Done::Stopped(
                        self.fire(inst, TimerReason::Lease, end, Some(session))
                            .await,
                    )
                }));
            } else if now >= end - inst.warn.to_chrono() {
                work.push(Box::pin(async move {
                    Done::Warned(
                        self.warn(inst, TimerReason::Lease, end, Some(session))
                            .await,
                    )
                }));
            }
        }
        let grace = chrono::Duration::from_std(self.config.scheduler.tick * 3)
            .unwrap_or_default()
            .max(chrono::Duration::minutes(15));
        for inst in &self.config.instances {
            let Some(schedule) = &inst.stop_at else {
                continue;
            };
            let session = sessions.iter().find(|s| s.alias == inst.alias.as_ref());
            let recent = schedule.next_after_utc(now - grace);
            // A start after the stop time (a tick came late) is someone's
            // deliberate start: that stop is not for it.
            let started_after = session.is_some_and(|s| s.started_at > recent);
            if recent <= now && !started_after {
                work.push(Box::pin(async move {
                    Done::Stopped(
                        self.fire(inst, TimerReason::Schedule, recent, session)
                            .await,
                    )
                }));
            }
            let next = schedule.next_after_utc(now);
            if now >= next - inst.warn.to_chrono() {
                work.push(Box::pin(async move {
                    Done::Warned(self.warn(inst, TimerReason::Schedule, next, session).await)
                }));
            }
        }
        for done in futures::future::join_all(work).await {
            match done {
                Done::Stopped(true) => report.stopped += 1,
                Done::Warned(true) => report.warned += 1,
                _ => {}
            }
        }
        report.reminded = self.remind(&sessions, now).await;
        let late = chrono::Duration::from_std(self.config.scheduler.tick * 2).unwrap_or_default();
        report.overdue = self
            .store
            .db()
            .sessions()
            .await?
            .iter()
            .filter(|s| s.ends_at.is_some_and(|e| e + late < now))
            .count();
        crate::metrics::ticked(now.timestamp(), report.overdue);
        // On Cloud Run a process answering `/tasks/tick` may get no CPU once it
        // has answered: the rows of what this tick did are written before.
        self.store.flush().await;
        Ok(report)
    }

    /// Claims one occurrence; `None` when another process has it or did it.
    pub(super) async fn claim<'a>(
        &self,
        inst: &'a Instance,
        kind: &'static str,
        due: DateTime<Utc>,
    ) -> Option<TimerClaim<'a>> {
        let claim = TimerClaim {
            alias: inst.alias.as_ref(),
            kind,
            due_ms: due.timestamp_millis(),
        };
        match self
            .store
            .db()
            .claim_timer(&claim, &self.owner, self.claim_hold())
            .await
        {
            Ok(true) => Some(claim),
            Ok(false) => None,
            Err(e) => {
                tracing::warn!(error = %e, alias = %inst.alias, kind, "could not claim timer work; the next tick tries again");
                None
            }
        }
    }

    pub(super) async fn finish(&self, claim: &TimerClaim<'_>) {
        if let Err(e) = self.store.db().finish_timer(claim).await {
            tracing::warn!(error = %e, alias = claim.alias, kind = claim.kind, "could not mark timer work done");
        }
    }

    /// The instance's state, read from the backend before timer work: someone
    /// may have stopped it already. `Err(())` when the backend could not say
    /// now (try again next tick); `Ok(None)` when this deployment cannot read
    /// states at all (GitHub only), so the workflow's own read guards the stop.
    async fn state_now(&self, inst: &Instance) -> Result<Option<InstanceStatus>, ()> {
        let backend = self.backends.get(inst.backend).map_err(|_| ())?;
        match backend.status(inst).await {
            Ok(s) => Ok(Some(s)),
            Err(BackendError::Setup(_)) => Ok(None),
            Err(e) => {
                tracing::warn!(error = %e, alias = %inst.alias, "could not read the state before timer work; trying again later");
                Err(())
            }
        }
    }

    /// The warning before a stop, with *Keep 1 h* and *Stop now*.
    async fn warn(
        &self,
        inst: &Instance,
        reason: TimerReason,
        due: DateTime<Utc>,
        session: Option<&Session>,
    ) -> bool {
        let kind = match reason {
            TimerReason::Lease => "lease-warning",
            TimerReason::Schedule => "schedule-warning",
        };
        let Some(claim) = self.claim(inst, kind, due).await else {
            return false;
        };
        let Ok(status) = self.state_now(inst).await else {
            return false;
        };
        if status.is_some_and(|s| !s.state.is_running_or_coming_up()) {
            self.finish(&claim).await;
            return false;
        }
        let to = self.told(session);
        if to == ReplyTo::Nowhere {
            tracing::info!(alias = %inst.alias, "a stop is coming but nobody to warn: set slack.announce_channel");
            self.finish(&claim).await;
            return false;
        }
        let mut reply = Reply::text(say::warning(inst, reason, due, self.now(), session));
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
        sent.is_ok()
    }

    /// Stops an instance whose lease ended or whose schedule came round, as a
    /// request of the timer principal through the one path (policy, audit,
    /// report). True when it stopped something.
    async fn fire(
        &self,
        inst: &Instance,
        reason: TimerReason,
        due: DateTime<Utc>,
        session: Option<&Session>,
    ) -> bool {
        let Some(claim) = self.claim(inst, reason.as_str(), due).await else {
            return false;
        };
        if reason == TimerReason::Lease {
            // Extended since this tick read it: not due any more.
            let current = self.session_of(inst).await;
            if current.and_then(|s| s.ends_at) != Some(due) {
                self.finish(&claim).await;
                return false;
            }
        }
        let Ok(status) = self.state_now(inst).await else {
            return false;
        };
        if status.is_some_and(|s| s.state.is_stopped_or_going_down()) {
            tracing::info!(alias = %inst.alias, reason = %reason, "already stopped when its timer came due");
            self.end_if_unchanged(session).await;
            self.finish(&claim).await;
            return false;
        }
        let to = self.told(session);
        let origin = match &to {
            ReplyTo::Thread { channel, thread_ts } => Origin::Thread {
                channel: channel.clone(),
                thread_ts: thread_ts.clone(),
            },
            ReplyTo::Direct(user) => Origin::Direct { user: user.clone() },
            _ => Origin::Nowhere,
        };
        let req = Request {
            id: Request::new_id(),
            team: None,
            principal: Principal::Timer(reason),
            entry: EntryPoint::Timer,
            input: Input::Command(Command::new(Verb::Stop, Some(inst.alias.to_string()))),
            reply_to: to,
            grant: Default::default(),
            origin,
        };
        let handled = self.handle(req).await;
        if handled.ok {
            self.finish(&claim).await;
        } else {
            // Refused (another change holds the instance) or failed: the claim
            // lapses after its hold and a later tick tries again.
            tracing::warn!(alias = %inst.alias, reason = %reason, "an automatic stop did not go out; it is tried again after the claim's hold");
        }
        handled.ok
    }
}

/// What the stop of a timer adds in front of the result.
pub(super) fn timer_stop_note(
    inst: &Instance,
    who: &Principal,
    session: Option<&Session>,
) -> Option<String> {
    match who {
        Principal::Timer(reason) => Some(say::stopped_because(inst, *reason, session)),
        _ => None,
    }
}

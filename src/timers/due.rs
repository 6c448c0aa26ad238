//! What is due for one instance at a tick: a confirmed stop's clean-up, a
//! start noticed from outside the bot, a stop under way, a due time limit,
//! scheduled or idle stop (a late one too), or a warning, a reminder and a
//! look at its activity.

use super::{Done, Read, confirms_stop};
use crate::act::InstanceStatus;
use crate::config::Instance;
use crate::domain::{Principal, TimerReason};
use crate::pipeline::{App, Request};
use crate::store::Session;
use chrono::{DateTime, Utc};

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
            let token = Request::new_id();
            let done = self
                .under_claim(inst, &token, Principal::Timer(TimerReason::Lease), async {
                    self.confirmed(inst, s, status, now).await
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
                return (self.pursue(inst, s, stop, &read, now).await, false);
            }
            if let Some(end) = s.ends_at
                && now >= end
            {
                return (self.fire(inst, TimerReason::Lease, end).await, false);
            }
        }
        if let Some(due) = self.schedule_due(inst, session.as_ref(), now) {
            let done = self.fire(inst, TimerReason::Schedule, due).await;
            return (done, false);
        }
        if let Some(due) = self.idle_due(session.as_ref(), now) {
            return (self.fire(inst, TimerReason::Idle, due).await, false);
        }
        let warned = self.warn_if_due(inst, session.as_ref(), &read, now).await;
        let reminded = match (&session, &read) {
            (Some(s), Read::Known(status)) => self.remind_one(inst, s, status, now).await,
            _ => false,
        };
        let idle = self.watch_idle(inst, session.as_ref(), &read, now).await;
        match (warned, idle) {
            (Done::Nothing, idle) => (idle, reminded),
            (warned, _) => (warned, reminded),
        }
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
        let seen = self.seen_running(inst, Some(status), now);
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
}

//! Idle stops: instances with `idle_minutes` are read from Cloud Monitoring
//! at most once per `[idle] check_minutes` across replicas; one idle for its
//! whole window gets a warning with *Keep 1 h* and *Stop now*; at the end of
//! `warn_minutes` it is read again, and only a reading that is still idle
//! lets the stop go out (principal `timer:idle`, through the one request
//! path, confirmed like every automatic stop). Busy or unknown calls it off,
//! and the person hears which.
//!
//! An unknown reading is never idle (see `crate::activity`); *Keep 1 h*
//! pauses idle stops for an hour and moves no time limit.

use super::{Done, Read};
use crate::act::{InstanceStatus, State};
use crate::activity::{Activity, Reading, Unknown};
use crate::config::Instance;
use crate::domain::{Principal, TimerReason, Verb};
use crate::pipeline::{App, Held, Request, Verdict};
use crate::report::blocks::{KEEP_MINUTES, Keep};
use crate::report::{Card, Reply, ReplyTo, idle as say, messages, timers};
use crate::store::{OutcomeKind, Session};
use chrono::{DateTime, Duration, Utc};

impl App {
    /// The tick's look at one instance's activity: read it once per check
    /// period (claimed across replicas), keep the reading on its session,
    /// and warn when it has been idle for its whole window.
    pub(super) async fn watch_idle(
        &self,
        inst: &Instance,
        session: Option<&Session>,
        read: &Read,
        now: DateTime<Utc>,
    ) -> Done {
        let (Some(rule), Some(monitor)) = (&inst.idle, &self.monitor) else {
            return Done::Nothing;
        };
        let (Some(s), Read::Known(status)) = (session, read) else {
            return Done::Nothing;
        };
        if status.state != State::Active || s.stopping.is_some() || s.idle.stop_due.is_some() {
            return Done::Nothing;
        }
        let period = self.config.idle_check.to_chrono();
        let secs = period.num_seconds().max(1);
        let bucket = DateTime::<Utc>::from_timestamp(now.timestamp().div_euclid(secs) * secs, 0)
            .unwrap_or(now);
        if s.idle.read.as_ref().is_some_and(|r| r.at >= bucket) {
            return Done::Nothing;
        }
        let Some(claim) = self.claim(inst, "idle-check", bucket).await else {
            return Done::Nothing;
        };
        let activity = monitor
            .read(inst, rule, status, Some(s.started_at), now)
            .await;
        if let Activity::Unknown(why) = &activity {
            tracing::info!(alias = %inst.alias, why = %why, "activity unknown; it counts as busy");
        }
        let reading = Reading { at: now, activity };
        let due = now + inst.warn.to_chrono();
        let warn = reading.activity.idle_for(rule);
        let token = Request::new_id();
        let written = self
            .under_claim(inst, &token, Principal::Timer(TimerReason::Idle), async {
                let mut current = self.session_read(inst).await.ok().flatten()?;
                // A session begun since the tick's read is not this reading's.
                if current.started_at != s.started_at || current.stopping.is_some() {
                    return None;
                }
                let kept = current.idle.kept_until.is_some_and(|k| k > now);
                let warn = warn && !kept && current.idle.stop_due.is_none();
                current.idle.read = Some(reading.clone());
                if warn {
                    current.idle.stop_due = Some(due);
                }
                match self.store.db().put_session(&current).await {
                    Ok(()) => Some((warn, current)),
                    Err(e) => {
                        tracing::warn!(error = %e, alias = %inst.alias, "could not keep an activity reading; the next check reads again");
                        None
                    }
                }
            })
            .await
            .flatten();
        self.finish(&claim).await;
        let Some((true, current)) = written else {
            return Done::Nothing;
        };
        self.idle_warning(inst, &current, &reading.activity, due, now)
            .await
    }

    /// Posts the warning before an idle stop. One nobody received is taken
    /// back, so nobody loses a job to a stop they were never warned of: the
    /// next check warns again.
    async fn idle_warning(
        &self,
        inst: &Instance,
        session: &Session,
        activity: &Activity,
        due: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Done {
        let to = self.told(inst, Some(session));
        let mut reply = Reply::text(say::warning(inst, activity, due, now));
        reply.card = Some(Card {
            alias: inst.alias.to_string(),
            running: true,
            stopped: false,
            can_operate: true,
            keep: Some(Keep::Idle),
        });
        let sent = match to {
            ReplyTo::Nowhere => Err("nobody to warn: name its operators or admins".to_owned()),
            _ => self
                .reporter
                .post(&to, &reply)
                .await
                .map_err(|e| e.to_string()),
        };
        if let Err(why) = sent {
            tracing::warn!(alias = %inst.alias, why = %why, "could not warn before an idle stop; it is not stopped, and the next check warns again");
            let token = Request::new_id();
            self.under_claim(inst, &token, Principal::Timer(TimerReason::Idle), async {
                if let Ok(Some(mut s)) = self.session_read(inst).await
                    && s.idle.stop_due == Some(due)
                    && s.stopping.is_none()
                {
                    s.idle.stop_due = None;
                    let _ = self.store.db().put_session(&s).await;
                }
            })
            .await;
            return Done::Nothing;
        }
        tracing::info!(target: "audit", alias = %inst.alias, reason = "idle", due = %due, "warned before an idle stop");
        Done::Warned
    }

    /// The idle stop that is due now: warned of, not held off by *Keep 1 h*,
    /// and not already under way.
    pub(super) fn idle_due(
        &self,
        inst: &Instance,
        session: Option<&Session>,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        inst.idle.as_ref()?;
        let s = session?;
        let due = s.idle.stop_due?;
        let kept = s.idle.kept_until.is_some_and(|k| k > now);
        (s.stopping.is_none() && !kept && now >= due).then_some(due)
    }

    /// Right before an idle stop goes out (each try), under the instance's
    /// claim: reads again, and only a reading still idle for the whole
    /// window lets it go. Otherwise the stop is called off, the person told
    /// why, and `Some` is what the tick did.
    pub(super) async fn idle_recheck(
        &self,
        inst: &Instance,
        session: Option<&Session>,
        status: Option<&InstanceStatus>,
        now: DateTime<Utc>,
    ) -> Option<Done> {
        let rule = inst.idle.as_ref();
        let since = session.map(|s| s.started_at);
        let activity = match (rule, &self.monitor, status) {
            (Some(rule), Some(monitor), Some(status)) => {
                monitor.read(inst, rule, status, since, now).await
            }
            _ => Activity::Unknown(Unknown::NotSetUp),
        };
        if rule.is_some_and(|r| activity.idle_for(r)) {
            return None;
        }
        let Some(current) = session else {
            return Some(Done::Nothing);
        };
        let mut calm = current.clone();
        calm.idle.stop_due = None;
        calm.idle.read = Some(Reading {
            at: now,
            activity: activity.clone(),
        });
        if calm
            .stopping
            .as_ref()
            .is_some_and(|st| st.reason == Some(TimerReason::Idle))
        {
            calm.stopping = None;
        }
        if let Err(e) = self.store.db().put_session(&calm).await {
            tracing::warn!(error = %e, alias = %inst.alias, "could not call off an idle stop; the next tick reads again");
            return Some(Done::Nothing);
        }
        tracing::info!(target: "audit", alias = %inst.alias, reason = "idle", "an idle stop was called off: not idle now");
        let to = self.told(inst, Some(current));
        self.post_to(&to, inst, Reply::text(say::called_off(inst, &activity)))
            .await;
        Some(Done::Nothing)
    }

    /// *Keep 1 h* under an idle warning, under the instance's claim: no idle
    /// warning or stop for an hour. A time limit or schedule is untouched.
    pub(crate) async fn keep_idle(&self, req: &Request, inst: &Instance) -> Verdict {
        match self
            .hold_instance(inst, &req.id, &req.principal, Verb::KeepIdle)
            .await
        {
            Held::Mine => {}
            Held::By(holder) if holder.principal.is_timer() => {
                return Verdict::busy(inst, timers::stop_under_way(inst));
            }
            Held::By(holder) => {
                return Verdict::busy(
                    inst,
                    messages::in_progress(inst, &holder.principal, holder.verb),
                );
            }
        }
        let verdict = self.keep_idle_held(inst).await;
        self.release_instance(inst, &req.id).await;
        verdict
    }

    async fn keep_idle_held(&self, inst: &Instance) -> Verdict {
        let now = self.now();
        let session = match self.session_read(inst).await {
            Ok(s) => s,
            Err(e) => return Verdict::store_failed(inst, &e),
        };
        let Some(mut s) = session.filter(|_| inst.idle.is_some()) else {
            return Verdict::about(inst, OutcomeKind::Nothing, say::nothing_to_keep(inst));
        };
        if let Some(stop) = &s.stopping {
            // An idle stop that keeps failing may be called off; one that
            // went out, or any other stop, is not taken back.
            let stuck = stop.failures > 0 && stop.handed_off_at.is_none();
            match stop.reason {
                Some(TimerReason::Idle) if stuck => s.stopping = None,
                _ => return Verdict::busy(inst, timers::stop_under_way(inst)),
            }
        }
        let until = now + Duration::minutes(i64::from(KEEP_MINUTES));
        s.idle.kept_until = s.idle.kept_until.max(Some(until));
        s.idle.stop_due = None;
        if let Err(e) = self.store.db().put_session(&s).await {
            return Verdict::store_failed(inst, &e);
        }
        Verdict::about(inst, OutcomeKind::Extended, say::kept(inst, until, now))
    }

    /// The `status` lines about use: the activity of a running instance
    /// with `idle_minutes` (the reading on record when it is fresh, else one
    /// read now), and Workbench's own idle shutdown when its metadata sets it.
    pub(crate) async fn activity_lines(&self, inst: &Instance, status: &InstanceStatus) -> String {
        let mut out = String::new();
        if let (Some(rule), State::Active) = (&inst.idle, &status.state) {
            let now = self.now();
            let session = self.session_of(inst).await;
            let fresh = session
                .as_ref()
                .and_then(|s| s.idle.read.clone())
                .filter(|r| now - r.at <= self.config.idle_check.to_chrono());
            let reading = match (fresh, &self.monitor) {
                (Some(r), _) => r,
                (None, Some(monitor)) => Reading {
                    at: now,
                    activity: monitor
                        .read(inst, rule, status, session.map(|s| s.started_at), now)
                        .await,
                },
                (None, None) => Reading {
                    at: now,
                    activity: Activity::Unknown(Unknown::NotSetUp),
                },
            };
            out.push_str(&say::status_line(&reading, rule, now));
        }
        if let Some(seconds) = status.idle_shutdown_seconds {
            out.push_str(&say::workbench_shutdown_line(seconds));
        }
        out
    }
}

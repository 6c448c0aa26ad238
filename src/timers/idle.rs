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
use crate::activity::{Activity, Figures, Gpu, Reading, Unknown};
use crate::config::{BackendKind, Instance};
use crate::domain::{Principal, TimerReason, Verb};
use crate::pipeline::{App, Held, Request, Verdict};
use crate::report::blocks::{KEEP_MINUTES, Keep};
use crate::report::{Card, Reply, ReplyTo, idle as say, timers};
use crate::store::{IdleWatch, OutcomeKind, Session};
use chrono::{DateTime, Duration, Utc};

impl App {
    /// One reading of the instance's activity now: Cloud Monitoring's, or
    /// unknown where there is nothing to read (a dry run, no credentials,
    /// no `idle_minutes`).
    pub(crate) async fn read_activity(
        &self,
        inst: &Instance,
        status: &InstanceStatus,
        since: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Activity {
        match (&inst.idle, &self.monitor) {
            _ if inst.backend == BackendKind::DryRun => Activity::Unknown(Unknown::DryRun),
            (Some(rule), Some(monitor)) => monitor.read(inst, rule, status, since, now).await,
            _ => Activity::Unknown(Unknown::NotSetUp),
        }
    }

    /// How long past its due time an idle stop's warning still stands: a
    /// tick that comes later (ticks that stopped, `idle_minutes` set again)
    /// warns again rather than act on an old warning.
    fn warning_stands(inst: &Instance, due: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        now <= due + inst.warn.to_chrono()
    }

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
        let (Some(rule), Some(_)) = (&inst.idle, &self.monitor) else {
            return Done::Nothing;
        };
        let (Some(s), Read::Known(status)) = (session, read) else {
            return Done::Nothing;
        };
        let warned = s
            .idle
            .stop_due
            .is_some_and(|due| Self::warning_stands(inst, due, now));
        if status.state != State::Active || s.stopping.is_some() || warned {
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
        let activity = self
            .read_activity(inst, status, Some(s.started_at), now)
            .await;
        if let Activity::Unknown(why) = &activity {
            tracing::info!(alias = %inst.alias, why = %why, "activity unknown; it counts as busy");
        }
        let reading = Reading { at: now, activity };
        let idle = reading.activity.idle_for(rule);
        let quiet = self
            .idle_update(inst, s, |w| {
                w.read = Some(reading.clone());
                // An old warning gives way to this reading; a standing one
                // (another replica's, just noted) stays.
                if w.stop_due
                    .is_some_and(|due| !Self::warning_stands(inst, due, now))
                {
                    w.stop_due = None;
                }
            })
            .await
            .map(|w| w.kept_until.is_some_and(|k| k > now) || w.stop_due.is_some());
        self.finish(&claim).await;
        match quiet {
            Some(false) if idle => self.idle_warning(inst, s, &reading.activity, now).await,
            _ => Done::Nothing,
        }
    }

    /// Changes the idle watch of the session `seen`, under the instance's
    /// claim; `None` when the claim is busy, the session is another (begun
    /// since) or a stop is out, or the store would not take it.
    async fn idle_update(
        &self,
        inst: &Instance,
        seen: &Session,
        change: impl FnOnce(&mut IdleWatch),
    ) -> Option<IdleWatch> {
        let token = Request::new_id();
        self.under_claim(inst, &token, Principal::Timer(TimerReason::Idle), async {
            let mut current = self.session_read(inst).await.ok().flatten()?;
            if current.started_at != seen.started_at || current.stopping.is_some() {
                return None;
            }
            change(&mut current.idle);
            match self.store.db().put_session(&current).await {
                Ok(()) => Some(current.idle),
                Err(e) => {
                    tracing::warn!(error = %e, alias = %inst.alias, "could not keep the idle watch; the next check reads again");
                    None
                }
            }
        })
        .await
        .flatten()
    }

    /// Posts the warning before an idle stop, and only once it is posted
    /// makes the stop due: nobody loses a job to a stop they were not
    /// warned of. A warning that could not be posted or noted is given
    /// again at the next check.
    async fn idle_warning(
        &self,
        inst: &Instance,
        session: &Session,
        activity: &Activity,
        now: DateTime<Utc>,
    ) -> Done {
        let due = now + inst.warn.to_chrono();
        let to = self.told(inst, Some(session));
        let mut reply = Reply::text(say::warning(inst, activity, due, now));
        reply.card = Some(Card::keeping(inst.alias.as_ref(), Keep::Idle));
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
            return Done::Nothing;
        }
        let noted = self
            .idle_update(inst, session, |w| {
                if w.kept_until.is_none_or(|k| k <= now) {
                    w.stop_due = Some(due);
                }
            })
            .await;
        if noted.is_none_or(|w| w.stop_due != Some(due)) {
            tracing::warn!(alias = %inst.alias, "warned before an idle stop but could not note it; no stop follows until a warning is noted");
            return Done::Nothing;
        }
        tracing::info!(target: "audit", alias = %inst.alias, reason = "idle", due = %due, "warned before an idle stop");
        Done::Warned
    }

    /// The idle stop that is due now: warned of, not held off by *Keep 1 h*,
    /// and not already under way.
    pub(super) fn idle_due(
        &self,
        session: Option<&Session>,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let s = session?;
        let due = s.idle.stop_due?;
        let kept = s.idle.kept_until.is_some_and(|k| k > now);
        (s.stopping.is_none() && !kept && now >= due).then_some(due)
    }

    /// Right before an idle stop goes out (each try), under the instance's
    /// claim: reads again. Idle for the whole window: the stop goes on, with
    /// this reading on the session (`Ok`). Busy: it is called off and the
    /// person told. Unknown: looked at again next tick while the warning
    /// stands, then called off and told. `Err` is what the tick did.
    pub(super) async fn idle_recheck(
        &self,
        inst: &Instance,
        session: Option<Session>,
        status: Option<&InstanceStatus>,
        due: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Option<Session>, Done> {
        let Some(mut current) = session else {
            return Err(Done::Nothing);
        };
        // A retry's warning stands from when the retry was due.
        let from = current
            .stopping
            .as_ref()
            .filter(|st| st.attempt > 0)
            .map(|st| st.next_try.unwrap_or(due));
        let activity = match (&inst.idle, status) {
            (None, _) => None,
            (Some(_), Some(st)) => Some(
                self.read_activity(inst, st, Some(current.started_at), now)
                    .await,
            ),
            (Some(_), None) => Some(Activity::Unknown(Unknown::NotSetUp)),
        };
        let stands = Self::warning_stands(inst, from.unwrap_or(due), now);
        let idle = match (&activity, &inst.idle) {
            (Some(a), Some(rule)) => a.idle_for(rule),
            _ => false,
        };
        let tell = match &activity {
            _ if idle && stands => None,
            // An old warning: warn again (the next check) rather than act.
            _ if idle => Some(None),
            // The config no longer asks for idle stops.
            None => Some(None),
            Some(Activity::Unknown(_)) if stands => {
                tracing::info!(alias = %inst.alias, "activity unknown when an idle stop fell due; reading again next tick");
                return Err(Done::Nothing);
            }
            Some(a) => Some(Some(say::called_off(inst, a))),
        };
        if let Some(a) = activity.clone() {
            let earlier = current.idle.read.take().map(|r| r.activity);
            current.idle.read = Some(Reading {
                at: now,
                activity: joined(earlier, a),
            });
        }
        let Some(tell) = tell else {
            return Ok(Some(current));
        };
        current.idle.stop_due = None;
        if current
            .stopping
            .as_ref()
            .is_some_and(|st| st.reason == Some(TimerReason::Idle))
        {
            current.stopping = None;
        }
        if let Err(e) = self.store.db().put_session(&current).await {
            tracing::warn!(error = %e, alias = %inst.alias, "could not call off an idle stop; the next tick reads again");
            return Err(Done::Nothing);
        }
        tracing::info!(target: "audit", alias = %inst.alias, reason = "idle", "an idle stop was called off: not idle now, or no longer asked for");
        if let Some(text) = tell {
            let to = self.told(inst, Some(&current));
            self.post_to(&to, inst, Reply::text(text)).await;
        }
        Err(Done::Nothing)
    }

    /// *Keep 1 h* under an idle warning, under the instance's claim: no idle
    /// warning or stop for an hour. A time limit or schedule is untouched.
    pub(crate) async fn keep_idle(&self, req: &Request, inst: &Instance) -> Verdict {
        // A tick holds the claim for moments to note a reading: wait those
        // out rather than turn the press away.
        let mut held = self
            .hold_instance(inst, &req.id, &req.principal, Verb::KeepIdle)
            .await;
        for _ in 0..KEEP_WAITS {
            match &held {
                Held::By(holder) if holder.principal.is_timer() => {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    held = self
                        .hold_instance(inst, &req.id, &req.principal, Verb::KeepIdle)
                        .await;
                }
                _ => break,
            }
        }
        if let Held::By(holder) = held {
            return super::extend::held_by(inst, &holder);
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
    ///
    /// `read_now: false` (the App Home, built for many people at once) shows
    /// the last reading on record, however old, and never reads Monitoring.
    pub(crate) async fn activity_lines(
        &self,
        inst: &Instance,
        status: &InstanceStatus,
        read_now: bool,
    ) -> String {
        let mut out = String::new();
        if let (Some(rule), State::Active) = (&inst.idle, &status.state) {
            let now = self.now();
            let session = self.session_of(inst).await;
            let watch = session.as_ref().map(|s| s.idle.clone()).unwrap_or_default();
            let fresh = watch
                .read
                .clone()
                .filter(|r| !read_now || now - r.at <= self.config.idle_check.to_chrono());
            let reading = match fresh {
                Some(r) => Some(r),
                None if !read_now => None,
                // Boxed: a Monitoring read is rare and its future large, and
                // a status card's future would carry it on every request.
                None => Some(Reading {
                    at: now,
                    activity: Box::pin(self.read_activity(
                        inst,
                        status,
                        session.map(|s| s.started_at),
                        now,
                    ))
                    .await,
                }),
            };
            let held_off = watch.kept_until.filter(|k| *k > now);
            if let Some(reading) = reading {
                out.push_str(&say::status_line(&reading, rule, held_off, now));
            }
        }
        if let Some(seconds) = status.idle_shutdown_seconds {
            out.push_str(&say::workbench_shutdown_line(seconds));
        }
        out
    }

    /// What a warning before a time limit or scheduled stop says of use.
    pub(super) fn use_right_now(&self, session: Option<&Session>, now: DateTime<Utc>) -> String {
        let reading = session.and_then(|s| s.idle.read.as_ref());
        say::right_now(reading, self.monitor.is_some(), now)
    }
}

/// Two idle readings whose runs touch are one run: the stop message says
/// how long it sat idle from the earlier one's start.
fn joined(earlier: Option<Activity>, now: Activity) -> Activity {
    match (earlier, now) {
        (
            Some(Activity::Idle {
                minutes: m0,
                since: s0,
                figures: f0,
            }),
            Activity::Idle {
                minutes,
                since,
                figures,
            },
        ) if since <= s0 + Duration::minutes(i64::from(m0)) && s0 < since => Activity::Idle {
            minutes: minutes + u32::try_from((since - s0).num_minutes()).unwrap_or(0),
            since: s0,
            figures: Figures {
                cpu: figures.cpu.max(f0.cpu),
                gpu: match (figures.gpu, f0.gpu) {
                    (Gpu::Percent(a), Gpu::Percent(b)) => Gpu::Percent(a.max(b)),
                    (g, _) => g,
                },
            },
        },
        (_, now) => now,
    }
}

/// Tries at the claim a *Keep 1 h* makes while a tick notes a reading.
const KEEP_WAITS: usize = 20;

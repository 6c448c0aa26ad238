//! `extend foo 1h` and *Keep 1 h*: more time for a running instance, or the
//! coming scheduled stop skipped for it, within bounds nobody can talk
//! around:
//!
//! - never past `max_hours` from the session's start, on every path (the
//!   skip of a scheduled stop included; an instance started outside the bot
//!   counts from when the bot first saw it running);
//! - on a guarded instance, never past what an approver allowed without a
//!   new approval: such an extension becomes an approval request;
//! - never while an automatic stop is under way: a Keep that lost that race
//!   says so.

use super::Held;
use crate::config::Instance;
use crate::domain::{Command, Lasting, TimerReason, Verb};
use crate::pipeline::{App, Request, Verdict};
use crate::report::{messages, timers as say};
use crate::store::{OutcomeKind, Session};
use chrono::{DateTime, Utc};

/// What an extension would do, before it is written.
struct Plan {
    end: DateTime<Utc>,
    /// The scheduled stop it skips.
    skips: Option<DateTime<Utc>>,
    /// `max_hours`, when it shortened the extension.
    capped: Option<Lasting>,
}

impl App {
    /// `extend foo 1h` and *Keep 1 h*, under the instance's claim.
    pub(crate) async fn extend(&self, req: &Request, cmd: &Command, inst: &Instance) -> Verdict {
        if let Held::By(holder) = self
            .hold_instance(inst, &req.id, &req.principal, Verb::Extend)
            .await
        {
            return held_by(inst, &holder);
        }
        let verdict = self.extend_held(req, cmd, inst).await;
        self.release_instance(inst, &req.id).await;
        verdict
    }

    async fn extend_held(&self, req: &Request, cmd: &Command, inst: &Instance) -> Verdict {
        let by = cmd
            .lasting
            .unwrap_or_else(|| Lasting::from_minutes(60).expect("an hour is a length"));
        let now = self.now();
        let session = match self.session_read(inst).await {
            Ok(s) => s,
            Err(e) => return Verdict::store_failed(inst, &e),
        };
        // A stop that keeps failing may be called off by its owners; one that
        // went out (a person's handed to GitHub included) is not taken back.
        let mut stuck_schedule = None;
        if let Some(stop) = session.as_ref().and_then(|s| s.stopping.as_ref()) {
            let stuck = stop.failures > 0 && stop.handed_off_at.is_none();
            match stop.reason {
                Some(TimerReason::Schedule) if stuck => stuck_schedule = Some(stop.due),
                Some(TimerReason::Lease) if stuck => {}
                _ => return Verdict::busy(inst, say::stop_under_way(inst)),
            }
        }
        let plan = match self.plan(inst, session.as_ref(), stuck_schedule, by, now) {
            Ok(plan) => plan,
            Err(no) => return Verdict::about(inst, OutcomeKind::Nothing, no.told(inst)),
        };
        let approved = req.grant.approved_by.is_some();
        if let Some(guard) = inst.guard.as_ref().filter(|_| !approved) {
            let allowed = session.as_ref().and_then(|s| s.approved_until);
            if allowed.is_none_or(|until| plan.end > until) {
                return self.ask_for_more(req, cmd, inst, guard, by).await;
            }
        }
        let session = match session {
            Some(s) => s,
            // Started outside the bot and not seen yet: its session starts now.
            None => Session {
                instance: inst.name.to_string(),
                started_at: now,
                ends_at: None,
                started_by: None,
                tell: self.tell(req),
                approved_until: None,
                skipped: None,
                stopping: None,
                idle: Default::default(),
            },
        };
        let lease_end = session.ends_at;
        let session = Session {
            ends_at: Some(plan.end),
            skipped: plan.skips.or(session.skipped),
            approved_until: match approved {
                true => Some(plan.end),
                false => session.approved_until,
            },
            // A stop that kept failing is called off.
            stopping: None,
            ..session
        };
        if let Err(e) = self.store.db().put_session(&session).await {
            return Verdict::store_failed(inst, &e);
        }
        if approved && let Err(e) = self.store.db().consume_approval(&req.id).await {
            tracing::warn!(error = %e, "could not mark the approved extension as used");
        }
        let skipped = plan.skips.is_some();
        let end = match (skipped, lease_end) {
            // A skip with a time limit after it keeps that limit.
            (true, Some(end)) if end == plan.end => end,
            _ => plan.end,
        };
        Verdict::about(
            inst,
            OutcomeKind::Extended,
            say::extended(inst, end, now, plan.capped, skipped),
        )
    }

    /// The stop that comes first is the one to move: a scheduled stop before
    /// the time limit is skipped (the instance then runs to its time limit,
    /// or for `by` after the skipped stop); otherwise the time limit moves by
    /// `by`. Either way the end stays within `max_hours` of the session's
    /// start, or the extension is refused with the cap in the sentence. A
    /// scheduled stop that keeps failing (`stuck`) is the one skipped.
    fn plan(
        &self,
        inst: &Instance,
        session: Option<&Session>,
        stuck: Option<DateTime<Utc>>,
        by: Lasting,
        now: DateTime<Utc>,
    ) -> Result<Plan, NoExtension> {
        let lease_end = session.and_then(|s| s.ends_at);
        let next_scheduled = stuck.or_else(|| {
            inst.stop_at
                .as_ref()
                .map(|s| s.next_after_utc(now))
                .filter(|t| *t - now <= chrono::Duration::hours(12))
                .filter(|t| session.is_none_or(|s| s.skipped != Some(*t)))
        });
        let cap = self.cap_of(inst, session);
        if let Some(due) = next_scheduled.filter(|due| lease_end.is_none_or(|e| *due < e)) {
            let wanted = lease_end.unwrap_or(due.max(now) + by.to_chrono());
            return match cap {
                Some(cap) if cap <= due => Err(NoExtension::CannotSkip { cap, due }),
                Some(cap) if wanted > cap => Ok(Plan {
                    end: cap,
                    skips: Some(due),
                    capped: inst.max_lease,
                }),
                _ => Ok(Plan {
                    end: wanted,
                    skips: Some(due),
                    capped: None,
                }),
            };
        }
        let Some(lease_end) = lease_end else {
            return Err(NoExtension::NothingToExtend);
        };
        let wanted = lease_end.max(now) + by.to_chrono();
        match cap {
            Some(cap) if lease_end >= cap || cap <= now => {
                Err(NoExtension::AtCap(lease_end.min(cap)))
            }
            Some(cap) if wanted > cap => Ok(Plan {
                end: cap,
                skips: None,
                capped: inst.max_lease,
            }),
            _ => Ok(Plan {
                end: wanted,
                skips: None,
                capped: None,
            }),
        }
    }
}

/// A change refused because another request holds the instance: an
/// automatic stop under way, or a person's start or stop.
pub(super) fn held_by(inst: &Instance, holder: &crate::store::InstanceLock) -> Verdict {
    match holder.principal.is_timer() {
        true => Verdict::busy(inst, say::stop_under_way(inst)),
        false => Verdict::busy(
            inst,
            messages::in_progress(inst, &holder.principal, holder.verb),
        ),
    }
}

/// Why a time limit cannot move.
enum NoExtension {
    /// The scheduled stop ahead is at or past `max_hours` from the start.
    CannotSkip {
        cap: DateTime<Utc>,
        due: DateTime<Utc>,
    },
    /// No time limit, and no scheduled stop within 12 hours.
    NothingToExtend,
    /// The end is already at `max_hours` from the start (the end it keeps).
    AtCap(DateTime<Utc>),
}

impl NoExtension {
    /// The sentence the person reads.
    fn told(&self, inst: &Instance) -> String {
        // Only an instance with `max_hours` has a cap to be refused at.
        let max = || inst.max_lease.expect("a cap comes from max_hours");
        match *self {
            NoExtension::CannotSkip { cap, due } => {
                say::cannot_skip_past_cap(inst, max(), cap, due)
            }
            NoExtension::NothingToExtend => say::nothing_to_extend(inst),
            NoExtension::AtCap(end) => say::at_cap(inst, max(), end),
        }
    }
}

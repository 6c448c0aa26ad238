//! `extend foo 1h` and *Keep 1 h*: more time for a running instance, within
//! its `max_hours`, or the coming scheduled stop skipped for it.

use super::App;
use super::request::Request;
use super::verdict::Verdict;
use crate::config::Instance;
use crate::domain::{Command, Lasting};
use crate::report::timers as say;
use crate::store::{OutcomeKind, Session, TimerClaim};

impl App {
    /// `extend foo 1h` and *Keep 1 h*: moves the lease later (within
    /// `max_hours`), or skips the coming scheduled stop and runs until
    /// that much after it.
    pub(super) async fn extend(&self, req: &Request, cmd: &Command, inst: &Instance) -> Verdict {
        let by = cmd
            .lasting
            .unwrap_or_else(|| Lasting::from_minutes(60).expect("an hour is a length"));
        let now = self.now();
        let db = self.store.db();
        let session = match db.session(inst.alias.as_ref()).await {
            Ok(s) => s,
            Err(e) => return Verdict::store_failed(inst, &e),
        };
        let next_scheduled = inst
            .stop_at
            .as_ref()
            .map(|s| s.next_after_utc(now))
            .filter(|t| *t - now <= chrono::Duration::hours(12));
        let lease_end = session.as_ref().and_then(|s| s.ends_at);
        // The stop that comes first is the one to move: a scheduled stop before
        // the lease's end is skipped (no cap: nothing is lengthened past the
        // lease); otherwise the lease moves, within `max_hours`.
        if let Some(due) = next_scheduled.filter(|due| lease_end.is_none_or(|e| *due < e)) {
            let claim = TimerClaim {
                alias: inst.alias.as_ref(),
                kind: "schedule",
                due_ms: due.timestamp_millis(),
            };
            if !matches!(
                db.claim_timer(&claim, &self.owner, self.claim_hold()).await,
                Ok(true)
            ) {
                return Verdict::about(
                    inst,
                    OutcomeKind::Nothing,
                    say::cannot_skip(inst, due, now),
                );
            }
            let _ = db.finish_timer(&claim).await;
            let end = match lease_end {
                Some(end) => end,
                None => {
                    let end = due + by.to_chrono();
                    let session = match session {
                        Some(s) => Session {
                            ends_at: Some(end),
                            ..s
                        },
                        None => Session {
                            alias: inst.alias.to_string(),
                            started_at: now,
                            ends_at: Some(end),
                            started_by: Some(req.principal.clone()),
                            tell: self.tell(req),
                        },
                    };
                    if let Err(e) = db.put_session(&session).await {
                        return Verdict::store_failed(inst, &e);
                    }
                    end
                }
            };
            return Verdict::about(
                inst,
                OutcomeKind::Extended,
                say::extended(inst, end, now, None, true),
            );
        }
        let (Some(mut session), Some(lease_end)) = (session, lease_end) else {
            return Verdict::about(inst, OutcomeKind::Nothing, say::nothing_to_extend(inst));
        };
        let mut end = lease_end.max(now) + by.to_chrono();
        let mut capped = None;
        if let Some(max) = inst.max_lease {
            let cap = session.started_at + max.to_chrono();
            if lease_end >= cap || cap <= now {
                return Verdict::about(
                    inst,
                    OutcomeKind::Nothing,
                    say::at_cap(inst, max, lease_end),
                );
            }
            if end > cap {
                end = cap;
                capped = Some(max);
            }
        }
        session.ends_at = Some(end);
        if let Err(e) = db.put_session(&session).await {
            return Verdict::store_failed(inst, &e);
        }
        Verdict::about(
            inst,
            OutcomeKind::Extended,
            say::extended(inst, end, now, capped, false),
        )
    }
}

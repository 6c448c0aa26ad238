//! `extend foo 1h` and *Keep 1 h*: more time for a running instance, within
//! its `max_hours`, or the coming scheduled stop skipped for it.

use super::App;
use super::request::Request;
use super::timers::CLAIM_HOLD;
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
        let (mut session, base) = match (session, next_scheduled) {
            (Some(s), _) if s.ends_at.is_some() => {
                let end = s.ends_at.expect("checked");
                (s, end.max(now))
            }
            (session, Some(due)) => {
                let s = session.unwrap_or_else(|| Session {
                    alias: inst.alias.to_string(),
                    started_at: now,
                    ends_at: None,
                    started_by: Some(req.principal.clone()),
                    tell: self.tell(req),
                });
                (s, due)
            }
            (_, None) => {
                return Verdict::about(inst, OutcomeKind::Nothing, say::nothing_to_extend(inst));
            }
        };
        let mut end = base + by.to_chrono();
        let mut capped = None;
        if let Some(max) = inst.max_lease {
            let cap = session.started_at + max.to_chrono();
            if session.ends_at.is_some_and(|e| e >= cap) {
                return Verdict::about(inst, OutcomeKind::Nothing, say::at_cap(inst, max, cap));
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
        // A scheduled stop before the new end would undo the extension: skip it.
        let mut skipped = false;
        if let Some(due) = next_scheduled.filter(|due| *due < end) {
            let claim = TimerClaim {
                alias: inst.alias.as_ref(),
                kind: "schedule",
                due_ms: due.timestamp_millis(),
            };
            if let Ok(true) = db.claim_timer(&claim, &self.owner, CLAIM_HOLD).await {
                let _ = db.finish_timer(&claim).await;
                skipped = true;
            }
        }
        Verdict::about(
            inst,
            OutcomeKind::Extended,
            say::extended(inst, end, now, capped, skipped),
        )
    }
}

//! The weekly report as timer work: due at `[report]`'s day and time in its
//! zone, posted by the tick that finds it due (Cloud Scheduler's
//! `POST /tasks/tick` at zero instances too), claimed so one replica posts
//! it once, and caught up late, saying so, when no tick came at its time.

use crate::pipeline::App;
use crate::report::weekly as say;
use crate::store::TimerClaim;
use chrono::{DateTime, Duration, Utc};

/// A report missed for longer than this is not posted late: the next one
/// comes on its day (a bot deployed mid-week does not post last week's).
const CATCH_UP: Duration = Duration::days(1);

/// The store's key for the report's occurrences (not an instance's path).
const KEY: &str = "weekly-report";

/// How long a replica holds the report's claim: longer than reading the
/// week and three bounded Slack calls take, so no other replica posts it
/// too; a replica that died lets another take over after it.
const HOLD: std::time::Duration = std::time::Duration::from_secs(15 * 60);

impl App {
    /// Posts the weekly report when it is due; true when this tick did.
    pub(super) async fn weekly_if_due(&self, now: DateTime<Utc>) -> bool {
        let Some(cfg) = &self.config.report else {
            return false;
        };
        let Some(due) = cfg.at.last_at_or_before_utc(now) else {
            return false;
        };
        if now - due > CATCH_UP {
            return false;
        }
        let claim = TimerClaim {
            instance: KEY,
            kind: "report",
            due_ms: due.timestamp_millis(),
        };
        match self
            .store
            .db()
            .claim_timer(&claim, &self.owner, HOLD.max(self.claim_hold()))
            .await
        {
            Ok(true) => {}
            Ok(false) => return false,
            Err(e) => {
                tracing::warn!(error = %e, "could not claim the weekly report; the next tick tries again");
                return false;
            }
        }
        let note = match now - due > self.late() {
            true => say::late(due),
            false => String::new(),
        };
        match self.post_weekly(cfg, due, note).await {
            Ok(()) => {
                tracing::info!(target: "audit", channel = %cfg.channel, due = %due, "posted the weekly report");
                self.finish(&claim).await;
                true
            }
            // Not marked done: once the claim lapses, a later tick tries again.
            Err(why) => {
                tracing::warn!(why = %why, "could not post the weekly report; a later tick tries again");
                false
            }
        }
    }
}

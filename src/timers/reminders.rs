//! Reminders about instances running with no time limit (started from the
//! console, before the bot knew, or without one): one message to the
//! instance's announce target after each `remind_after_hours` of running.

use crate::act::InstanceStatus;
use crate::config::Instance;
use crate::pipeline::App;
use crate::report::{Card, Reply, ReplyTo, timers as say};
use crate::store::Session;
use chrono::{DateTime, Utc};

impl App {
    /// Reminds the announce target of one instance running with no time limit,
    /// once per `remind_after_hours` of its session (which starts when the
    /// bot first saw it running, or at Google's last change of state).
    pub(super) async fn remind_one(
        &self,
        inst: &Instance,
        session: &Session,
        status: &InstanceStatus,
        now: DateTime<Utc>,
    ) -> bool {
        let to = self.announce_to(inst);
        if to == ReplyTo::Nowhere {
            return false;
        }
        if !status.state.is_running_or_coming_up()
            || session.ends_at.is_some()
            || session.stopping.is_some()
        {
            return false;
        }
        let period = inst.remind_after.to_chrono();
        let periods = (now - session.started_at).num_seconds() / period.num_seconds().max(1);
        if periods < 1 {
            return false;
        }
        let due = session.started_at + period * periods as i32;
        let Some(claim) = self.claim(inst, "reminder", due).await else {
            return false;
        };
        let mut reply = Reply::text(say::reminder(inst, session, now, self.hourly(status)));
        reply.card = Some(Card::keeping(
            inst.alias.as_ref(),
            crate::report::blocks::Keep::Running,
        ));
        let sent = self.reporter.post(&to, &reply).await;
        if let Err(e) = &sent {
            tracing::warn!(error = %e, alias = %inst.alias, "could not post a reminder");
        }
        tracing::info!(target: "audit", alias = %inst.alias, reason = "reminder", "reminded the team of an instance running with no time limit");
        self.finish(&claim).await;
        sent.is_ok()
    }
}

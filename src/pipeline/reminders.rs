//! Reminders about instances running with no time limit (started from the
//! console, before the bot knew, or without one): one message in the team
//! channel after each `remind_after_hours` of running.

use super::App;
use crate::config::{BackendKind, Instance};
use crate::report::{Card, Reply, ReplyTo, timers as say};
use crate::store::Session;
use chrono::{DateTime, Utc};

impl App {
    /// Reminds the team channel of instances running with no time limit
    /// (started from the console, before the bot knew, or without one) after
    /// each `remind_after_hours` of running. Their sessions start when first
    /// seen running, or at Google's last change of state when it says.
    pub(super) async fn remind(&self, sessions: &[Session], now: DateTime<Utc>) -> usize {
        let Some(channel) = self.config.announce_channel.clone() else {
            return 0;
        };
        let mut reminded = 0;
        for kind in [
            BackendKind::Notebooks,
            BackendKind::Github,
            BackendKind::DryRun,
        ] {
            let insts: Vec<&Instance> = self
                .config
                .instances
                .iter()
                .filter(|i| i.backend == kind)
                .collect();
            let Some(backend) = (!insts.is_empty())
                .then(|| self.backends.get(kind).ok())
                .flatten()
            else {
                continue;
            };
            let statuses = backend.statuses(&insts).await;
            for (inst, status) in insts.into_iter().zip(statuses) {
                // An instance whose state cannot be read now is looked at next tick.
                let Ok(status) = status else { continue };
                let session = sessions.iter().find(|s| s.alias == inst.alias.as_ref());
                if !status.state.is_running_or_coming_up() {
                    // Stopped outside the bot (idle shutdown, the console): its
                    // session ends, unless a start wrote a new one meanwhile.
                    self.end_if_unchanged(session).await;
                    continue;
                }
                if session.is_some_and(|s| s.ends_at.is_some()) {
                    continue;
                }
                let session = match session {
                    Some(s) => s.clone(),
                    None => {
                        let seen = Session {
                            alias: inst.alias.to_string(),
                            started_at: status
                                .update_time
                                .as_deref()
                                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                                .map(|t| t.with_timezone(&Utc))
                                .filter(|t| *t <= now)
                                .unwrap_or(now),
                            ends_at: None,
                            started_by: None,
                            tell: ReplyTo::Channel(channel.clone()),
                        };
                        // A start racing this tick wins: its session is the real one.
                        if !matches!(self.store.db().add_session(&seen).await, Ok(true)) {
                            continue;
                        }
                        seen
                    }
                };
                let period = inst.remind_after.to_chrono();
                let periods =
                    (now - session.started_at).num_seconds() / period.num_seconds().max(1);
                if periods < 1 {
                    continue;
                }
                let due = session.started_at + period * periods as i32;
                let Some(claim) = self.claim(inst, "reminder", due).await else {
                    continue;
                };
                let mut reply =
                    Reply::text(say::reminder(inst, &session, now, self.hourly(&status)));
                reply.card = Some(Card {
                    alias: inst.alias.to_string(),
                    running: true,
                    stopped: false,
                    can_operate: true,
                    keep: Some(crate::report::blocks::Keep::Running),
                });
                match self
                    .reporter
                    .post(&ReplyTo::Channel(channel.clone()), &reply)
                    .await
                {
                    Ok(_) => reminded += 1,
                    Err(e) => {
                        tracing::warn!(error = %e, alias = %inst.alias, "could not post a reminder")
                    }
                }
                tracing::info!(target: "audit", alias = %inst.alias, reason = "reminder", "reminded the team of an instance running with no time limit");
                self.finish(&claim).await;
            }
        }
        reminded
    }
}

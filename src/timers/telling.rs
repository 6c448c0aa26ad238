//! Telling people about automatic stops: the starter, the operators, the
//! team channel, and the warning before a stop with *Keep 1 h* / *Stop now*.

use super::{Done, Read};
use crate::config::Instance;
use crate::domain::{Origin, TimerReason};
use crate::pipeline::App;
use crate::report::{Card, Reply, ReplyTo, timers as say};
use crate::store::Session;
use chrono::{DateTime, Utc};

impl App {
    pub(super) fn late_note(&self, due: DateTime<Utc>, now: DateTime<Utc>) -> String {
        match now - due > self.late() {
            true => say::late(due, now),
            false => String::new(),
        }
    }

    pub(super) async fn post_to(&self, to: &ReplyTo, inst: &Instance, reply: Reply) {
        if *to == ReplyTo::Nowhere {
            tracing::info!(alias = %inst.alias, "nobody to tell about an automatic stop: name its operators, or set slack.announce_channel for an instance everyone may see");
            return;
        }
        if let Err(e) = self.reporter.post(to, &reply).await {
            tracing::warn!(error = %e, alias = %inst.alias, "could not tell about an automatic stop");
        }
    }

    /// The instance's named operators in their direct messages, and the team
    /// channel when the instance is announced there.
    pub(super) async fn tell_operators(&self, inst: &Instance, text: String) {
        let mut places = vec![ReplyTo::from(self.config.operators_audience(inst))];
        if inst.announce {
            places.extend(self.config.announce_channel.clone().map(ReplyTo::Channel));
        }
        for to in places.into_iter().filter(|to| *to != ReplyTo::Nowhere) {
            self.post_to(&to, inst, Reply::text(text.clone())).await;
        }
    }

    /// The warning before a stop, with *Keep 1 h* and *Stop now*.
    pub(super) async fn warn_if_due(
        &self,
        inst: &Instance,
        session: Option<&Session>,
        read: &Read,
        now: DateTime<Utc>,
    ) -> Done {
        if let Read::Known(st) = read
            && !st.state.is_running_or_coming_up()
        {
            return Done::Nothing;
        }
        let lease = session
            .and_then(|s| s.ends_at)
            .map(|end| (TimerReason::Lease, end, "lease-warning"));
        let scheduled = inst
            .stop_at
            .as_ref()
            .map(|s| s.next_after_utc(now))
            .filter(|t| session.is_none_or(|s| s.skipped != Some(*t)))
            .map(|t| (TimerReason::Schedule, t, "schedule-warning"));
        let Some((reason, due, kind)) = [lease, scheduled]
            .into_iter()
            .flatten()
            .filter(|(_, due, _)| now >= *due - inst.warn.to_chrono())
            .min_by_key(|(_, due, _)| *due)
        else {
            return Done::Nothing;
        };
        let Some(claim) = self.claim(inst, kind, due).await else {
            return Done::Nothing;
        };
        let to = self.told(inst, session);
        if to == ReplyTo::Nowhere {
            tracing::info!(alias = %inst.alias, "a stop is coming but nobody to warn: name its operators, or set slack.announce_channel for an instance everyone may see");
            self.finish(&claim).await;
            return Done::Nothing;
        }
        let mut text = say::warning(inst, reason, due, now, session);
        if inst.idle.is_some() {
            // Nobody should lose a running job by surprise: is it in use?
            text.push_str(&self.use_right_now(session, now));
        }
        let mut reply = Reply::text(text);
        reply.card = Some(Card::keeping(
            inst.alias.as_ref(),
            crate::report::blocks::Keep::Hour,
        ));
        let sent = self.reporter.post(&to, &reply).await;
        if let Err(e) = &sent {
            tracing::warn!(error = %e, alias = %inst.alias, "could not post the warning before a stop");
        }
        tracing::info!(target: "audit", alias = %inst.alias, reason = %reason, due = %due, "warned before a stop");
        self.finish(&claim).await;
        match sent {
            Ok(_) => Done::Warned,
            Err(_) => Done::Nothing,
        }
    }
}

/// Where a workflow tells the end of an automatic stop it carries out.
pub(super) fn origin_of(to: &ReplyTo) -> Origin {
    match to {
        ReplyTo::Thread { channel, thread_ts } => Origin::Thread {
            channel: channel.clone(),
            thread_ts: thread_ts.clone(),
        },
        ReplyTo::Direct(user) => Origin::Direct { user: user.clone() },
        _ => Origin::Nowhere,
    }
}

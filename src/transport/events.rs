//! Turns a Slack Events API delivery into a core request (or a reason to ignore it).
//!
//! Shared by the HTTP route and Socket Mode. Mentions by people arrive typed; a
//! mention posted by a Workflow Builder workflow has no `user` and slack-morphism
//! leaves it as raw JSON, so that form is read here by hand rather than dropped.

use crate::act::SlackPlace;
use crate::core::{App, EntryPoint, Input, Request};
use crate::domain::{BotId, Principal, SlackUserId};
use crate::report::ReplyTo;
use crate::verify::{VerifyError, allowed_team};
use serde::Deserialize;
use slack_morphism::prelude::*;

pub enum EventAction {
    Challenge(String),
    Refuse(VerifyError),
    Ignore,
    Handle {
        event_id: String,
        request: Box<Request>,
    },
}

/// The fields of a raw `app_mention` that slack-morphism did not model.
#[derive(Deserialize)]
struct RawMention {
    #[serde(rename = "type")]
    kind: String,
    subtype: Option<String>,
    user: Option<String>,
    bot_id: Option<String>,
    app_id: Option<String>,
    bot_profile: Option<RawBotProfile>,
    text: Option<String>,
    channel: Option<String>,
    ts: Option<String>,
    thread_ts: Option<String>,
}

#[derive(Deserialize)]
struct RawBotProfile {
    app_id: Option<String>,
}

pub fn classify(app: &App, event: SlackPushEvent) -> EventAction {
    let cb = match event {
        SlackPushEvent::UrlVerification(v) => return EventAction::Challenge(v.challenge),
        SlackPushEvent::AppRateLimited(r) => {
            tracing::warn!(team = %r.team_id, "Slack is rate limiting this app's events");
            return EventAction::Ignore;
        }
        SlackPushEvent::EventCallback(cb) => cb,
    };
    let team = match allowed_team(&app.config, cb.team_id.as_ref()) {
        Ok(t) => t,
        Err(e) => return EventAction::Refuse(e),
    };
    let event_id = cb.event_id.to_string();
    let request =
        |principal, entry, text: String, channel: String, ts: String, thread_ts: Option<String>| {
            let thread = thread_ts.unwrap_or(ts);
            EventAction::Handle {
                event_id: event_id.clone(),
                request: Box::new(Request {
                    id: Request::new_id(),
                    team: Some(team.clone()),
                    principal,
                    entry,
                    input: Input::Text(text),
                    reply_to: ReplyTo::Thread {
                        channel: channel.clone(),
                        thread_ts: thread.clone(),
                    },
                    place: SlackPlace {
                        channel: Some(channel),
                        thread_ts: Some(thread),
                    },
                }),
            }
        };
    match cb.event {
        SlackEventCallbackBody::AppMention(m) => {
            let Ok(user) = SlackUserId::parse(m.user.as_ref()) else {
                return EventAction::Ignore;
            };
            request(
                Principal::User(user),
                EntryPoint::Mention,
                m.content.text.unwrap_or_default(),
                m.channel.to_string(),
                m.origin.ts.to_string(),
                m.origin.thread_ts.map(|t| t.to_string()),
            )
        }
        SlackEventCallbackBody::Unknown(json) => {
            let Ok(raw) = serde_json::from_value::<RawMention>(json) else {
                return EventAction::Ignore;
            };
            if raw.kind != "app_mention" || raw.user.is_some() {
                return EventAction::Ignore;
            }
            let own_app = cb.api_app_id.to_string();
            let posted_by_us = raw.app_id.as_deref() == Some(own_app.as_str())
                || raw.bot_profile.and_then(|p| p.app_id).as_deref() == Some(own_app.as_str());
            if posted_by_us {
                // Our own replies mention nobody, but never risk a loop.
                return EventAction::Ignore;
            }
            let Some(bot) = raw.bot_id.as_deref().and_then(|b| BotId::parse(b).ok()) else {
                return EventAction::Ignore;
            };
            if raw.subtype.as_deref().is_some_and(|s| s != "bot_message")
                || !app.config.workflow_bots.contains(&bot)
            {
                tracing::info!(bot_id = %bot, "ignoring a bot's mention: its bot_id is not in slack.workflow_bots");
                return EventAction::Ignore;
            }
            let (Some(channel), Some(ts)) = (raw.channel, raw.ts) else {
                return EventAction::Ignore;
            };
            request(
                Principal::Workflow(bot),
                EntryPoint::WorkflowMessage,
                raw.text.unwrap_or_default(),
                channel,
                ts,
                raw.thread_ts,
            )
        }
        _ => EventAction::Ignore,
    }
}

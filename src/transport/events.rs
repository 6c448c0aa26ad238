//! Turns a Slack Events API delivery into a core request (or a reason to ignore it).
//!
//! Shared by the HTTP route and Socket Mode. Mentions by people arrive typed; a
//! mention posted by a Workflow Builder workflow has no `user` and slack-morphism
//! leaves it as raw JSON, so that form is read here by hand rather than dropped.

use super::answer::Spawner;
use crate::config::Config;
use crate::domain::{BotId, Command, EntryPoint, Origin, Principal, SlackUserId, Verb};
use crate::pipeline::{Input, Request};
use crate::report::{ReplyTo, StepEnd};
use crate::verify::allowed_team;
use serde::Deserialize;
use slack_morphism::prelude::*;

pub enum EventAction {
    Challenge(String),
    Ignore,
    Handle {
        event_id: String,
        request: Box<Request>,
    },
    /// A Workflow Builder step to run and complete.
    Function {
        event_id: String,
        call: Box<FunctionCall>,
    },
}

/// The `control_notebook` custom step's callback_id (see slack-manifest.yaml).
pub const FUNCTION_CALLBACK: &str = "control_notebook";

/// One run of the custom step: who invoked it, what it asks, and how to finish it.
pub struct FunctionCall {
    pub execution_id: String,
    /// The short-lived token Slack gives for completing this execution.
    pub bot_access_token: String,
    pub team: crate::domain::TeamId,
    /// The user Slack says invoked the workflow, or why the inputs are unusable.
    pub request: Result<Request, StepInputError>,
}

/// Why a workflow step's inputs cannot become a request; told to Slack as the
/// step's error, so the workflow's author sees what to fix.
#[derive(Debug, thiserror::Error)]
pub enum StepInputError {
    #[error("the step has no user_context input naming who runs it")]
    NoUser,
    #[error("the step has no notebook input")]
    NoNotebook,
    #[error("the command input must be start or stop")]
    BadCommand,
    #[error(
        "the reason input is longer than {} characters",
        crate::parse::MAX_REASON
    )]
    LongReason,
}

#[derive(Deserialize)]
struct RawFunction {
    #[serde(rename = "type")]
    kind: String,
    function: Option<RawFunctionInfo>,
    #[serde(default)]
    inputs: serde_json::Map<String, serde_json::Value>,
    function_execution_id: Option<String>,
    bot_access_token: Option<String>,
}

#[derive(Deserialize)]
struct RawFunctionInfo {
    callback_id: String,
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

/// `user_team` is the requester's own workspace when Slack sends it (a Slack
/// Connect guest's differs from the event's `team_id`).
pub fn classify(config: &Config, event: SlackPushEvent, user_team: Option<&str>) -> EventAction {
    let cb = match event {
        SlackPushEvent::UrlVerification(v) => return EventAction::Challenge(v.challenge),
        SlackPushEvent::AppRateLimited(r) => {
            tracing::warn!(team = %r.team_id, "Slack is rate limiting this app's events");
            return EventAction::Ignore;
        }
        SlackPushEvent::EventCallback(cb) => cb,
    };
    let team = match allowed_team(config, cb.team_id.as_ref()) {
        Ok(t) => t,
        Err(e) => {
            // Acknowledged, never refused: Slack retries a 401 and disables event
            // subscriptions that keep failing (an org-wide install sends events
            // from every workspace).
            tracing::info!(reason = %e, "event from a workspace this bot does not serve; ignored");
            return EventAction::Ignore;
        }
    };
    // The bot's own user: a mention it posted itself is never acted on.
    let own_user = cb
        .authorizations
        .iter()
        .flatten()
        .find(|a| a.is_bot == Some(true))
        .map(|a| a.user_id.to_string());
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
                    grant: Default::default(),
                    origin: Origin::Thread {
                        channel,
                        thread_ts: thread,
                    },
                }),
            }
        };
    match cb.event {
        SlackEventCallbackBody::AppMention(m) => {
            if own_user.as_deref() == Some(m.user.as_ref()) {
                return EventAction::Ignore;
            }
            let Ok(user) = SlackUserId::parse(m.user.as_ref()) else {
                return EventAction::Ignore;
            };
            request(
                Principal::person(user, user_team, |t| config.team_allowed(t)),
                EntryPoint::Mention,
                m.content.text.unwrap_or_default(),
                m.channel.to_string(),
                m.origin.ts.to_string(),
                m.origin.thread_ts.map(|t| t.to_string()),
            )
        }
        SlackEventCallbackBody::Unknown(json)
            if json.get("type").and_then(|t| t.as_str()) == Some("function_executed") =>
        {
            function_call(json, team, event_id)
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
                || !config.workflow_bots.contains(&bot)
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

fn function_call(
    json: serde_json::Value,
    team: crate::domain::TeamId,
    event_id: String,
) -> EventAction {
    let Ok(raw) = serde_json::from_value::<RawFunction>(json) else {
        return EventAction::Ignore;
    };
    let (Some(execution_id), Some(bot_access_token)) =
        (raw.function_execution_id, raw.bot_access_token)
    else {
        return EventAction::Ignore;
    };
    if raw.kind != "function_executed"
        || raw
            .function
            .is_none_or(|f| f.callback_id != FUNCTION_CALLBACK)
    {
        return EventAction::Ignore;
    }
    let input = |k: &str| {
        raw.inputs
            .get(k)
            .and_then(|v| v.as_str())
            .map(str::to_owned)
    };
    // The invoking user comes from Slack's user_context, never from a form field.
    let user = raw
        .inputs
        .get("user_context")
        .and_then(|u| u.get("id"))
        .and_then(|id| id.as_str())
        .and_then(|id| SlackUserId::parse(id).ok());
    let request = (|| {
        let user = user.ok_or(StepInputError::NoUser)?;
        let notebook = input("notebook").ok_or(StepInputError::NoNotebook)?;
        let verb = match input("command").as_deref() {
            Some("start") => Verb::Start,
            Some("stop") => Verb::Stop,
            _ => return Err(StepInputError::BadCommand),
        };
        // Optional: a guarded instance's approvers read it (and need it).
        let reason = input("reason")
            .map(|r| crate::parse::one_line(&r))
            .filter(|r| !r.is_empty());
        if reason
            .as_ref()
            .is_some_and(|r| r.chars().count() > crate::parse::MAX_REASON)
        {
            return Err(StepInputError::LongReason);
        }
        Ok(Request {
            id: Request::new_id(),
            team: Some(team.clone()),
            principal: Principal::User(user),
            entry: EntryPoint::WorkflowStep,
            input: Input::Command(Command {
                reason,
                ..Command::new(verb, Some(notebook))
            }),
            reply_to: ReplyTo::Nowhere,
            grant: crate::pipeline::Grant {
                approved_by: None,
                step_token: Some(crate::settings::Secret::new(bot_access_token.clone())),
                ..Default::default()
            },
            origin: Origin::Step {
                execution_id: execution_id.clone(),
            },
        })
    })();
    EventAction::Function {
        event_id,
        call: Box::new(FunctionCall {
            execution_id,
            bot_access_token,
            team,
            request,
        }),
    }
}

/// Runs the step through the pipeline, then completes it with its outputs or
/// error; work handed to the GitHub workflow is completed by that workflow when
/// it has ended.
pub fn spawn_function(spawner: &Spawner, event_id: String, call: FunctionCall) {
    let turned_away = call.request.as_ref().ok().cloned();
    let spawned = spawner.spawn_once(Some(event_id), |app| async move {
        let end = match call.request {
            Err(why) => StepEnd {
                ok: false,
                state: String::new(),
                message: why.to_string(),
            },
            Ok(req) => {
                let handled = app.handle(req).await;
                if handled.handed_off {
                    tracing::info!("the GitHub workflow completes this step when the work ends");
                    return;
                }
                if handled.awaiting_approval {
                    tracing::info!(
                        "the step completes when an approver decides, or the request expires"
                    );
                    return;
                }
                handled.step_end()
            }
        };
        let token = Some(call.bot_access_token.as_str());
        if let Err(e) = app
            .reporter
            .complete_step(token, &call.execution_id, &end)
            .await
        {
            tracing::warn!(team = %call.team, error = %e, "could not complete the workflow step");
        }
    });
    if spawned.is_err() {
        // Completing the step would itself be work; Slack times it out, and the
        // audit says why.
        tracing::warn!("too busy to run a workflow step");
        if let Some(req) = turned_away {
            spawner.app().turned_away(&req);
        }
    }
}

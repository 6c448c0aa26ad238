//! Turns a Slack Events API delivery into a core request (or a reason to ignore it).
//!
//! Shared by the HTTP route and Socket Mode. Read with our own structs, so a
//! mention posted by a Workflow Builder workflow (no `user`), a custom step's
//! `function_executed` and an Enterprise Grid org-wide install's delivery are
//! all read rather than dropped.

use super::answer::Spawner;
use crate::config::Config;
use crate::domain::{BotId, Command, EntryPoint, Origin, Principal, SlackUserId, Verb};
use crate::pipeline::{Input, Request};
use crate::report::{ReplyTo, StepEnd};
use crate::verify::{Claimed, served};
use serde::Deserialize;

pub enum EventAction {
    Challenge(String),
    Ignore,
    Handle {
        event_id: String,
        request: Box<Request>,
    },
    /// `app_home_opened`: publish this person's Home.
    Home {
        event_id: String,
        user: String,
        principal: Principal,
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

/// An `app_mention`: a person's (with `user`), or a workflow's post (no
/// `user`, a `bot_id`).
#[derive(Deserialize)]
struct RawMention {
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

/// An Events API delivery, read with structs of our own: slack-morphism's
/// model refuses an org-wide install's (`authorizations[].team_id` is null)
/// and drops `event.user_team` (how a Slack Connect guest shows) and the
/// `enterprise_id`.
#[derive(Debug, Deserialize)]
pub struct Delivery {
    #[serde(rename = "type")]
    kind: String,
    challenge: Option<String>,
    team_id: Option<String>,
    enterprise_id: Option<String>,
    api_app_id: Option<String>,
    event_id: Option<String>,
    #[serde(default)]
    authorizations: Vec<Authorization>,
    event: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct Authorization {
    user_id: Option<String>,
    is_bot: Option<bool>,
}

/// The fields of the event itself that the bot reads.
#[derive(Deserialize)]
struct EventKind {
    #[serde(rename = "type")]
    kind: String,
    user_team: Option<String>,
}

pub fn classify(config: &Config, delivery: Delivery) -> EventAction {
    match delivery.kind.as_str() {
        "url_verification" => {
            return EventAction::Challenge(delivery.challenge.unwrap_or_default());
        }
        "app_rate_limited" => {
            tracing::warn!(team = ?delivery.team_id, "Slack is rate limiting this app's events");
            return EventAction::Ignore;
        }
        "event_callback" => {}
        _ => return EventAction::Ignore,
    }
    let (Some(json), Some(event_id)) = (delivery.event, delivery.event_id) else {
        return EventAction::Ignore;
    };
    let Ok(kind) = serde_json::from_value::<EventKind>(json.clone()) else {
        return EventAction::Ignore;
    };
    let claimed = Claimed {
        workspace: delivery.team_id.as_deref(),
        user_team: kind.user_team.as_deref(),
        enterprise: delivery.enterprise_id.as_deref(),
    };
    let served = match served(config, claimed) {
        Ok(s) => s,
        Err(e) => {
            // Acknowledged, never refused: Slack retries a 401 and disables event
            // subscriptions that keep failing (an org-wide install sends events
            // from every workspace).
            tracing::info!(reason = %e, "event from a workspace this bot does not serve; ignored");
            return EventAction::Ignore;
        }
    };
    let team = served.team.clone();
    match kind.kind.as_str() {
        "app_mention" => {}
        "function_executed" => return function_call(json, team, event_id),
        "app_home_opened" => return home_opened(&json, &served, event_id),
        _ => return EventAction::Ignore,
    }
    let Ok(raw) = serde_json::from_value::<RawMention>(json) else {
        return EventAction::Ignore;
    };
    let (Some(channel), Some(ts)) = (raw.channel, raw.ts) else {
        return EventAction::Ignore;
    };
    let request = |principal, entry, text: String| {
        let thread = raw.thread_ts.clone().unwrap_or(ts.clone());
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
                    channel: channel.clone(),
                    thread_ts: thread,
                },
            }),
        }
    };
    if let Some(user) = raw.user {
        // The bot's own user: a mention it posted itself is never acted on.
        let own_user = delivery
            .authorizations
            .iter()
            .find(|a| a.is_bot == Some(true))
            .and_then(|a| a.user_id.as_deref());
        if own_user == Some(user.as_str()) {
            return EventAction::Ignore;
        }
        let Ok(user) = SlackUserId::parse(&user) else {
            return EventAction::Ignore;
        };
        return request(
            served.person(user),
            EntryPoint::Mention,
            raw.text.unwrap_or_default(),
        );
    }
    // A Workflow Builder workflow's post: no user, a bot_id the config names.
    let own_app = delivery.api_app_id.unwrap_or_default();
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
    request(
        Principal::Workflow(bot),
        EntryPoint::WorkflowMessage,
        raw.text.unwrap_or_default(),
    )
}

/// `app_home_opened` on the Home tab (not the Messages tab), from a person.
fn home_opened(
    json: &serde_json::Value,
    served: &crate::verify::Served,
    event_id: String,
) -> EventAction {
    if json.get("tab").and_then(|t| t.as_str()) != Some("home") {
        return EventAction::Ignore;
    }
    let Some(user) = json
        .get("user")
        .and_then(|u| u.as_str())
        .and_then(|u| SlackUserId::parse(u).ok())
    else {
        return EventAction::Ignore;
    };
    EventAction::Home {
        event_id,
        user: user.to_string(),
        principal: served.person(user),
    }
}

/// Publishes the Home of whoever opened it (shared by HTTP and Socket Mode).
pub fn spawn_home(spawner: &Spawner, event_id: String, user: String, principal: Principal) {
    let opened = spawner.spawn_once(Some(event_id), |app| async move {
        app.homes.opened(&user, &principal);
        app.publish_home(&user, &principal).await;
    });
    if opened.is_err() {
        tracing::warn!("too busy to publish a Home tab");
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
            spawner.turn_away(&req);
        }
    }
}

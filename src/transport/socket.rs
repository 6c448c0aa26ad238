//! Socket Mode: the same three payload kinds as the HTTP routes, over a WebSocket
//! that slack-morphism opens with the app-level token (`SLACK_APP_TOKEN`), for a
//! bot with no public URL.
//!
//! slack-morphism acknowledges each envelope with its `envelope_id` once our
//! callback returns, so the callbacks only hand the work to a task (exactly as
//! the HTTP handlers do) and return at once. Everything lands in the same core.

use super::events::{self, EventAction};
use super::interactivity::{self, Answer};
use crate::core::App;
use crate::report::SlackHttpClient;
use slack_morphism::prelude::*;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

#[derive(Clone)]
struct SocketState {
    app: Arc<App>,
    tasks: TaskTracker,
}

async fn state(states: &SlackClientEventsUserState) -> Option<SocketState> {
    states.read().await.get_user_state::<SocketState>().cloned()
}

async fn on_command(
    event: SlackCommandEvent,
    _client: Arc<SlackHttpClient>,
    states: SlackClientEventsUserState,
) -> UserCallbackResult<SlackCommandEventResponse> {
    let Some(s) = state(&states).await else {
        return Ok(SlackCommandEventResponse::new(SlackMessageContent::new()));
    };
    let response = match super::http::command(&s.app, &s.tasks, event) {
        // An immediate answer (someone who may operate nothing asked for the dialog).
        Answer::Json(v) => SlackCommandEventResponse::new(
            SlackMessageContent::new().with_text(v["text"].as_str().unwrap_or_default().to_owned()),
        )
        .with_response_type(SlackMessageResponseType::Ephemeral),
        Answer::Refuse(e) => {
            tracing::info!(reason = %e, "Socket Mode command refused");
            SlackCommandEventResponse::new(SlackMessageContent::new())
        }
        Answer::BadRequest(e) => {
            tracing::info!(error = %e, "malformed Socket Mode command");
            SlackCommandEventResponse::new(SlackMessageContent::new())
        }
        Answer::Ack => SlackCommandEventResponse::new(SlackMessageContent::new()),
    };
    Ok(response)
}

async fn on_interaction(
    event: SlackInteractionEvent,
    _client: Arc<SlackHttpClient>,
    states: SlackClientEventsUserState,
) -> UserCallbackResult<SlackInteractionResponse> {
    let Some(s) = state(&states).await else {
        return Ok(SlackInteractionResponse::Empty);
    };
    // One reader of interaction payloads for both transports: back to JSON.
    let payload = serde_json::to_string(&event)?;
    match interactivity::handle(&s.app, &s.tasks, &payload) {
        Answer::Json(v) => Ok(SlackInteractionResponse::ViewSubmission(
            serde_json::from_value(v)?,
        )),
        Answer::Refuse(e) => {
            tracing::info!(reason = %e, "Socket Mode interaction refused");
            Ok(SlackInteractionResponse::Empty)
        }
        Answer::BadRequest(e) => {
            tracing::info!(error = %e, "malformed Socket Mode interaction");
            Ok(SlackInteractionResponse::Empty)
        }
        Answer::Ack => Ok(SlackInteractionResponse::Empty),
    }
}

async fn on_push(
    event: SlackPushEventCallback,
    _client: Arc<SlackHttpClient>,
    states: SlackClientEventsUserState,
) -> UserCallbackResult<()> {
    let Some(s) = state(&states).await else {
        return Ok(());
    };
    match events::classify(&s.app, SlackPushEvent::EventCallback(event)) {
        EventAction::Handle { event_id, request } => {
            super::http::spawn_request(&s.app, &s.tasks, Some(event_id), *request)
        }
        EventAction::Function { event_id, call } => {
            events::spawn_function(&s.app, &s.tasks, event_id, *call)
        }
        EventAction::Refuse(e) => tracing::info!(reason = %e, "Socket Mode event refused"),
        EventAction::Challenge(_) | EventAction::Ignore => {}
    }
    Ok(())
}

fn on_error(
    err: Box<dyn std::error::Error + Send + Sync>,
    _client: Arc<SlackHttpClient>,
    _states: SlackClientEventsUserState,
) -> http::StatusCode {
    // The envelope is still acknowledged, so Slack does not resend it forever.
    tracing::warn!(error = %err, "a Socket Mode envelope could not be handled");
    http::StatusCode::OK
}

/// Connects (through `apps.connections.open` at `SLACK_API_URL`) and serves
/// envelopes until `stop` is cancelled.
pub async fn run(
    app: Arc<App>,
    tasks: TaskTracker,
    client: Arc<SlackHttpClient>,
    app_token: String,
    stop: CancellationToken,
) -> Result<(), String> {
    let callbacks = SlackSocketModeListenerCallbacks::new()
        .with_command_events(on_command)
        .with_interaction_events(on_interaction)
        .with_push_events(on_push);
    let env = Arc::new(
        SlackClientEventsListenerEnvironment::new(client)
            .with_error_handler(on_error)
            .with_user_state(SocketState { app, tasks }),
    );
    let listener =
        SlackClientSocketModeListener::new(&SlackClientSocketModeConfig::new(), env, callbacks);
    let token = SlackApiToken::new(SlackApiTokenValue::new(app_token));
    listener.listen_for(&token).await.map_err(|e| {
        format!("cannot open a Socket Mode connection (check SLACK_APP_TOKEN): {e}")
    })?;
    listener.start().await;
    tracing::info!("Socket Mode connected");
    stop.cancelled().await;
    listener.shutdown().await;
    Ok(())
}

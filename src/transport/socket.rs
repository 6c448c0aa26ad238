//! Socket Mode: the same three payload kinds as the HTTP routes, over a WebSocket
//! that slack-morphism opens with the app-level token (`SLACK_APP_TOKEN`), for a
//! bot with no public URL.
//!
//! slack-morphism acknowledges each envelope with its `envelope_id` once our
//! callback returns, so the callbacks only hand the work to a task (exactly as
//! the HTTP handlers do) and return at once. Everything lands in the same core.

use super::answer::{Answer, Spawner};
use super::commands::slash_command;
use super::events::{self, EventAction};
use super::interactivity;
use crate::report::{SlackError, SlackHttpClient, blocks};
use slack_morphism::prelude::*;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

async fn state(states: &SlackClientEventsUserState) -> Option<Spawner> {
    states.read().await.get_user_state::<Spawner>().cloned()
}

fn empty_command_response() -> SlackCommandEventResponse {
    SlackCommandEventResponse::new(SlackMessageContent::new())
}

async fn on_command(
    event: SlackCommandEvent,
    _client: Arc<SlackHttpClient>,
    states: SlackClientEventsUserState,
) -> UserCallbackResult<SlackCommandEventResponse> {
    let Some(s) = state(&states).await else {
        return Ok(SlackCommandEventResponse::new(SlackMessageContent::new()));
    };
    let response = match slash_command(&s, event) {
        // An immediate answer (someone who may operate nothing asked for the dialog).
        Answer::Ephemeral(text) => {
            SlackCommandEventResponse::new(SlackMessageContent::new().with_text(text))
                .with_response_type(SlackMessageResponseType::Ephemeral)
        }
        Answer::BadRequest(e) => {
            tracing::info!(error = %e, "malformed Socket Mode command");
            empty_command_response()
        }
        Answer::Ack | Answer::DialogErrors(_) => empty_command_response(),
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
    match interactivity::handle(&s, &payload) {
        Answer::DialogErrors(errors) => Ok(SlackInteractionResponse::ViewSubmission(
            serde_json::from_value(blocks::dialog_errors(&errors))?,
        )),
        Answer::Ephemeral(text) => {
            // An interaction's envelope cannot carry a message; the log keeps it.
            tracing::info!(%text, "Socket Mode interaction answered with nothing to show");
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
    // Socket Mode hands over slack-morphism's model, which drops `user_team`.
    match events::classify(s.app().config(), SlackPushEvent::EventCallback(event), None) {
        EventAction::Handle { event_id, request } => {
            if s.spawn(Some(event_id), *request).is_err() {
                tracing::warn!("too busy to act on an event; it is on record as turned away");
            }
        }
        EventAction::Function { event_id, call } => events::spawn_function(&s, event_id, *call),
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
    spawner: Spawner,
    client: Arc<SlackHttpClient>,
    app_token: String,
    stop: CancellationToken,
) -> Result<(), SlackError> {
    let callbacks = SlackSocketModeListenerCallbacks::new()
        .with_command_events(on_command)
        .with_interaction_events(on_interaction)
        .with_push_events(on_push);
    let env = Arc::new(
        SlackClientEventsListenerEnvironment::new(client)
            .with_error_handler(on_error)
            .with_user_state(spawner),
    );
    let listener =
        SlackClientSocketModeListener::new(&SlackClientSocketModeConfig::new(), env, callbacks);
    let token = SlackApiToken::new(SlackApiTokenValue::new(app_token));
    listener
        .listen_for(&token)
        .await
        .map_err(|source| SlackError::SocketMode { source })?;
    listener.start().await;
    tracing::info!("Socket Mode connected");
    stop.cancelled().await;
    listener.shutdown().await;
    Ok(())
}

//! Socket Mode: the same three payload kinds as the HTTP routes, over a WebSocket
//! opened with the app-level token (`SLACK_APP_TOKEN`), for a bot with no public
//! URL.
//!
//! The envelopes are read here with tokio-tungstenite, not with slack-morphism's
//! listener: its typed model drops what HTTP keeps (a workflow step message's
//! `bot_access_token`) and refuses an Enterprise Grid org-wide install's
//! interactions (`team: null`) outright. Each payload reaches the very readers
//! the HTTP routes use, whole. Every envelope is acknowledged with its
//! `envelope_id` as soon as its reader has answered (the readers only hand work
//! to a task), so Slack never redelivers one that was acted on.

use super::answer::{Answer, Spawner};
use super::commands::{SlashCommand, slash_command};
use super::events::{self, Delivery, EventAction};
use super::interactivity;
use crate::report::{SlackError, SlackHttpClient, blocks};
use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};
use slack_morphism::prelude::*;
use std::sync::Arc;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

/// One frame from Slack: `hello`, `disconnect`, or an envelope carrying a
/// payload (`events_api`, `interactive`, `slash_commands`).
#[derive(Deserialize)]
struct Envelope {
    // Defaulted, so any frame that names an envelope is acknowledged: one
    // left unacknowledged would be delivered again and again.
    #[serde(rename = "type", default)]
    kind: String,
    envelope_id: Option<String>,
    #[serde(default)]
    payload: Value,
    reason: Option<String>,
}

/// The longest wait between two tries to connect.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// How often the bot pings Slack, and how long a silent connection is
/// trusted: a connection the network dropped without a word would otherwise
/// leave the bot deaf until the process restarts.
const PING_EVERY: Duration = Duration::from_secs(30);
const SILENT_FOR: Duration = Duration::from_secs(90);

/// Connects (through `apps.connections.open` at `SLACK_API_URL`) and serves
/// envelopes until `stop` is cancelled, connecting again whenever Slack asks
/// (`disconnect`) or the socket drops. The first connection must succeed: a
/// wrong token is told at start-up, not retried quietly.
pub async fn run(
    spawner: Spawner,
    client: Arc<SlackHttpClient>,
    app_token: String,
    stop: CancellationToken,
) -> Result<(), SlackError> {
    let token = SlackApiToken::new(SlackApiTokenValue::new(app_token));
    let mut url = open(&client, &token).await?;
    let mut backoff = Duration::from_secs(1);
    loop {
        // After Slack's own `disconnect` the next connection is opened at once:
        // what people press in between is not delivered again.
        let mut wait = Duration::ZERO;
        match serve(&spawner, &url, &stop).await {
            Ok(Ended::Stopped) => return Ok(()),
            Ok(Ended::Disconnected) => backoff = Duration::from_secs(1),
            Err(e) => {
                tracing::warn!(error = %e, "the Socket Mode connection failed");
                wait = backoff;
            }
        }
        loop {
            tokio::select! {
                _ = stop.cancelled() => return Ok(()),
                _ = tokio::time::sleep(wait) => {}
            }
            match open(&client, &token).await {
                Ok(u) => {
                    url = u;
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not reopen Socket Mode; trying again");
                    wait = backoff;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }
}

/// A fresh WebSocket URL: each is good for one connection.
async fn open(client: &SlackHttpClient, token: &SlackApiToken) -> Result<String, SlackError> {
    let opened = client
        .open_session(token)
        .apps_connections_open(&SlackApiAppsConnectionOpenRequest::new())
        .await
        .map_err(|source| SlackError::SocketMode { source })?;
    Ok(opened.url.0.to_string())
}

enum Ended {
    Stopped,
    Disconnected,
}

/// One connection: reads frames until Slack disconnects or `stop` fires.
async fn serve(
    spawner: &Spawner,
    url: &str,
    stop: &CancellationToken,
) -> Result<Ended, tokio_tungstenite::tungstenite::Error> {
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await?;
    let mut ping = tokio::time::interval(PING_EVERY);
    let mut heard = tokio::time::Instant::now();
    loop {
        let frame = tokio::select! {
            _ = stop.cancelled() => {
                let _ = ws.close(None).await;
                return Ok(Ended::Stopped);
            }
            _ = ping.tick() => {
                if heard.elapsed() > SILENT_FOR {
                    tracing::warn!("Socket Mode went silent; connecting again");
                    return Ok(Ended::Disconnected);
                }
                ws.send(Message::Ping(Vec::new().into())).await?;
                continue;
            }
            frame = ws.next() => frame,
        };
        heard = tokio::time::Instant::now();
        let text = match frame {
            None => return Ok(Ended::Disconnected),
            Some(Err(e)) => return Err(e),
            Some(Ok(Message::Text(t))) => t,
            Some(Ok(Message::Close(_))) => return Ok(Ended::Disconnected),
            // Pings are answered by tungstenite as the stream is read.
            Some(Ok(_)) => continue,
        };
        let envelope: Envelope = match serde_json::from_str(&text) {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(error = %e, "a Socket Mode frame is not an envelope; ignored");
                continue;
            }
        };
        match envelope.kind.as_str() {
            "hello" => tracing::info!("Socket Mode connected"),
            "disconnect" => {
                tracing::info!(reason = ?envelope.reason, "Slack asked to reconnect Socket Mode");
                let _ = ws.close(None).await;
                return Ok(Ended::Disconnected);
            }
            _ => {
                let Some(id) = envelope.envelope_id.clone() else {
                    continue;
                };
                let answer = handle(spawner, &envelope);
                let mut ack = json!({ "envelope_id": id });
                if let Some(payload) = answer {
                    ack["payload"] = payload;
                }
                ws.send(Message::text(ack.to_string())).await?;
            }
        }
    }
}

/// Hands an envelope's payload to the reader HTTP uses for it; returns what
/// the acknowledgement carries back, if anything.
fn handle(spawner: &Spawner, envelope: &Envelope) -> Option<Value> {
    match envelope.kind.as_str() {
        "slash_commands" => {
            let form: SlashCommand = match serde_json::from_value(envelope.payload.clone()) {
                Ok(f) => f,
                Err(e) => {
                    tracing::info!(error = %e, "malformed Socket Mode command");
                    return None;
                }
            };
            match slash_command(spawner, form) {
                // An immediate answer (someone who may operate nothing asked for the dialog).
                Answer::Ephemeral(text) => {
                    Some(json!({"text": text, "response_type": "ephemeral"}))
                }
                Answer::BadRequest(e) => {
                    tracing::info!(error = %e, "malformed Socket Mode command");
                    None
                }
                Answer::Ack | Answer::DialogErrors(_) => None,
            }
        }
        "interactive" => match interactivity::handle(spawner, &envelope.payload.to_string()) {
            Answer::DialogErrors(errors) => Some(blocks::dialog_errors(&errors)),
            Answer::Ephemeral(text) => {
                // An interaction's envelope cannot carry a message; the log keeps it.
                tracing::info!(%text, "Socket Mode interaction answered with nothing to show");
                None
            }
            Answer::BadRequest(e) => {
                tracing::info!(error = %e, "malformed Socket Mode interaction");
                None
            }
            Answer::Ack => None,
        },
        "events_api" => {
            let delivery: Delivery = match serde_json::from_value(envelope.payload.clone()) {
                Ok(d) => d,
                Err(e) => {
                    tracing::info!(error = %e, "malformed Socket Mode event");
                    return None;
                }
            };
            match events::classify(spawner.app().config(), delivery) {
                EventAction::Handle { event_id, request } => {
                    if spawner.spawn(Some(event_id), *request).is_err() {
                        tracing::warn!(
                            "too busy to act on an event; it is on record as turned away"
                        );
                    }
                }
                EventAction::Function { event_id, call } => {
                    events::spawn_function(spawner, event_id, *call)
                }
                EventAction::Home {
                    event_id,
                    user,
                    principal,
                } => events::spawn_home(spawner, event_id, user, principal),
                EventAction::Challenge(_) | EventAction::Ignore => {}
            }
            None
        }
        other => {
            tracing::info!(
                kind = other,
                "a Socket Mode envelope of a kind the bot does not use"
            );
            None
        }
    }
}

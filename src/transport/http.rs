//! The HTTP transport: Slack's request URLs, health, readiness and metrics.
//!
//! Each handler verifies the signature over the raw body, turns Slack's wire format
//! into a core [`Request`], hands it to a task and answers at once: Slack wants an
//! answer within 3 s, and nothing here waits for a disk, a lock or the network.
//! Bad signatures get 401, malformed bodies 400, oversized bodies 413.

use super::events::{self, EventAction};
use crate::core::{App, EntryPoint, Input, Request};
use crate::domain::SlackUserId;
use crate::report::ReplyTo;
use crate::verify::{Verifier, VerifyError, allowed_team};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use slack_morphism::prelude::*;
use std::sync::Arc;
use tokio_util::task::TaskTracker;

/// Slack's payloads are a few KiB; a modal submission stays well under this.
pub const MAX_BODY: usize = 256 * 1024;

#[derive(Clone)]
pub struct HttpState {
    pub app: Arc<App>,
    pub verifier: Option<Verifier>,
    pub tasks: TaskTracker,
}

impl HttpState {
    /// Runs the request in a task; with an event id, only the first delivery acts.
    pub fn spawn(&self, event_id: Option<String>, req: Request) {
        spawn_request(&self.app, &self.tasks, event_id, req);
    }
}

pub fn spawn_request(app: &Arc<App>, tasks: &TaskTracker, event_id: Option<String>, req: Request) {
    let app = app.clone();
    tasks.spawn(async move {
        if let Some(id) = event_id {
            match app.store.claim_event(&id).await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::info!(event_id = %id, "Slack event already handled; ignoring the retry");
                    return;
                }
                // Acting twice is better than never answering; the log says why.
                Err(e) => tracing::warn!(event_id = %id, error = %e, "event dedup failed; acting anyway"),
            }
        }
        app.handle(req).await;
    });
}

pub fn router(state: HttpState) -> Router {
    Router::new()
        .route("/slack/commands", post(commands))
        .route("/slack/events", post(events))
        .route("/slack/interactivity", post(interactivity))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

pub fn reject(e: VerifyError) -> Response {
    crate::metrics::request_rejected(e.metric());
    tracing::info!(reason = %e, "request refused before the core");
    (StatusCode::UNAUTHORIZED, format!("refused: {e}\n")).into_response()
}

pub fn bad_request(what: &str, e: impl std::fmt::Display) -> Response {
    crate::metrics::request_rejected("malformed");
    tracing::info!(error = %e, "malformed {what}");
    (StatusCode::BAD_REQUEST, format!("malformed {what}\n")).into_response()
}

/// Verifies the body, or says why not. Without a signing secret (Socket Mode) the
/// HTTP Slack routes refuse everything.
pub fn verified<'b>(
    state: &HttpState,
    headers: &HeaderMap,
    body: &'b [u8],
) -> Result<&'b str, VerifyError> {
    match &state.verifier {
        Some(v) => v.verify(headers, body),
        None => Err(VerifyError::Unsigned),
    }
}

async fn commands(State(state): State<HttpState>, headers: HeaderMap, body: Bytes) -> Response {
    let body = match verified(&state, &headers, &body) {
        Ok(b) => b,
        Err(e) => return reject(e),
    };
    let form: SlackCommandEvent = match serde_urlencoded::from_str(body) {
        Ok(f) => f,
        Err(e) => return bad_request("slash command form", e),
    };
    answer_response(command(&state.app, &state.tasks, form))
}

/// A slash command, from HTTP or Socket Mode, into the core (or the dialog).
pub fn command(
    app: &Arc<App>,
    tasks: &TaskTracker,
    form: SlackCommandEvent,
) -> super::interactivity::Answer {
    use super::interactivity::Answer;
    let team = match allowed_team(&app.config, form.team_id.as_ref()) {
        Ok(t) => t,
        Err(e) => return Answer::Refuse(e),
    };
    let Ok(user) = SlackUserId::parse(form.user_id.as_ref()) else {
        return Answer::BadRequest("user_id is not a Slack user id".into());
    };
    let text = form.text.clone().unwrap_or_default();
    if text.trim().is_empty() {
        // A bare `/notebook` opens the dialog.
        return super::interactivity::open_modal(
            app,
            tasks,
            &crate::domain::Principal::User(user),
            form.trigger_id.as_ref(),
            Some(form.channel_id.to_string()),
        );
    }
    spawn_request(
        app,
        tasks,
        None,
        Request {
            id: Request::new_id(),
            team: Some(team),
            principal: crate::domain::Principal::User(user),
            entry: EntryPoint::SlashCommand,
            input: Input::Text(text),
            reply_to: ReplyTo::ResponseUrl(form.response_url.value().to_string()),
            place: crate::act::SlackPlace {
                channel: Some(form.channel_id.to_string()),
                thread_ts: None,
            },
        },
    );
    Answer::Ack
}

async fn events(State(state): State<HttpState>, headers: HeaderMap, body: Bytes) -> Response {
    let body = match verified(&state, &headers, &body) {
        Ok(b) => b,
        Err(e) => return reject(e),
    };
    let event: SlackPushEvent = match serde_json::from_str(body) {
        Ok(e) => e,
        Err(e) => return bad_request("event", e),
    };
    match events::classify(&state.app, event) {
        EventAction::Challenge(c) => (StatusCode::OK, c).into_response(),
        EventAction::Refuse(e) => reject(e),
        EventAction::Ignore => StatusCode::OK.into_response(),
        EventAction::Handle { event_id, request } => {
            state.spawn(Some(event_id), *request);
            StatusCode::OK.into_response()
        }
        EventAction::Function { event_id, call } => {
            events::spawn_function(&state.app, &state.tasks, event_id, *call);
            StatusCode::OK.into_response()
        }
    }
}

#[derive(serde::Deserialize)]
struct InteractionForm {
    payload: String,
}

async fn interactivity(
    State(state): State<HttpState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body = match verified(&state, &headers, &body) {
        Ok(b) => b,
        Err(e) => return reject(e),
    };
    let form: InteractionForm = match serde_urlencoded::from_str(body) {
        Ok(f) => f,
        Err(e) => return bad_request("interaction form", e),
    };
    answer_response(super::interactivity::handle(
        &state.app,
        &state.tasks,
        &form.payload,
    ))
}

fn answer_response(answer: super::interactivity::Answer) -> Response {
    use super::interactivity::Answer;
    match answer {
        Answer::Ack => StatusCode::OK.into_response(),
        Answer::Json(v) => axum::Json(v).into_response(),
        Answer::BadRequest(e) => bad_request("interaction", e),
        Answer::Refuse(e) => reject(e),
    }
}

async fn readyz(State(state): State<HttpState>) -> Response {
    match state.app.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready\n").into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("store unreachable: {e}\n"),
        )
            .into_response(),
    }
}

async fn metrics() -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::metrics::render(),
    )
        .into_response()
}

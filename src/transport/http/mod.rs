//! The HTTP transport: Slack's request URLs, health, readiness and metrics.
//!
//! The [`Verified`] extractor reads the raw body, checks Slack's signature and
//! deserialises the payload, so each handler only hands it on and answers at
//! once: Slack wants an answer within 3 s, and nothing here waits for a disk, a
//! lock or the network. Bad signatures get 401, malformed bodies 400, oversized
//! bodies 413.

use super::answer::{Answer, Spawner};
use super::commands::slash_command;
use super::events::{self, EventAction};
use super::interactivity;
use crate::report::blocks;
use crate::settings::Secret;
use crate::verify::{Verifier, VerifyError};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

/// Slack's payloads are a few KiB; a modal submission stays well under this.
pub const MAX_BODY: usize = 256 * 1024;

#[derive(Clone)]
pub struct HttpState {
    pub spawner: Spawner,
    /// None in Socket Mode: then the HTTP Slack routes refuse everything.
    pub verifier: Option<Verifier>,
    /// When set, `/metrics` answers only with it as a bearer token; unset,
    /// only to a scraper on loopback.
    pub metrics_token: Option<Secret>,
    /// Checks Cloud Scheduler's token on `POST /tasks/tick`; the route answers
    /// 404 when `[scheduler]` names no audience and invoker.
    pub tick_auth: Option<crate::oidc::OidcVerifier>,
}

pub fn router(state: HttpState) -> Router {
    Router::new()
        .route("/slack/commands", post(commands))
        .route("/slack/events", post(events))
        .route("/slack/interactivity", post(interactivity))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/tasks/tick", post(tick))
        .route_layer(axum::middleware::from_fn(observe))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        // Shared, not copied: axum clones the state for every extractor of
        // every request, and the verifiers' secrets would be copied with it.
        .with_state(Shared::new(state))
}

/// What the handlers see: the state behind one pointer.
type Shared = std::sync::Arc<HttpState>;

/// Why a body is not the payload it claims to be.
pub type DecodeError = Box<dyn std::error::Error + Send + Sync>;

/// One log line and one count per request, inside a span that carries the
/// trace Cloud Run's `X-Cloud-Trace-Context` names, so the lines of the work
/// done for this request (in its task) carry it too. A request whose work
/// went to a task is logged by that task (see `answer::handing_off` and
/// `answer::serving`).
async fn observe(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let started = std::time::Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .cloned();
    let trace = req
        .headers()
        .get("x-cloud-trace-context")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split('/').next())
        .filter(|t| t.len() == 32 && t.bytes().all(|b| b.is_ascii_hexdigit()));
    // The span only carries the trace into the request's lines: without one,
    // none is made (a span costs its bookkeeping on every poll).
    let span = match trace {
        Some(t) => tracing::info_span!("http", trace = t),
        None => tracing::Span::none(),
    };
    let serving = super::answer::Serving {
        started,
        method: method.clone(),
        path: path.clone(),
        handed_off: std::cell::Cell::new(false),
    };
    let (response, handed_off) = super::answer::SERVING
        .scope(serving, async {
            let response = tracing::Instrument::instrument(next.run(req), span.clone()).await;
            (
                response,
                super::answer::SERVING.with(|s| s.handed_off.get()),
            )
        })
        .await;
    let status = response.status().as_u16();
    crate::metrics::http_request(route.as_ref().map_or("unmatched", |r| r.as_str()), status);
    if !handed_off {
        let line = span.in_scope(|| {
            tracing::info_span!(
                "request",
                http_request.request_method = %method,
                http_request.request_url = %path,
                http_request.status = status,
                http_request.latency = %super::answer::latency(started),
            )
        });
        line.in_scope(|| tracing::info!(target: crate::logging::REQUEST, "request"));
    }
    response
}

/// A Slack body in one of the shapes Slack posts.
pub trait SlackPayload: Sized {
    /// Named in the 400 answer and the log.
    const WHAT: &'static str;
    fn decode(body: &str) -> Result<Self, DecodeError>;
}

impl SlackPayload for super::commands::SlashCommand {
    const WHAT: &'static str = "slash command form";
    fn decode(body: &str) -> Result<Self, DecodeError> {
        Ok(serde_urlencoded::from_str(body)?)
    }
}

impl SlackPayload for events::Delivery {
    const WHAT: &'static str = "event";
    fn decode(body: &str) -> Result<Self, DecodeError> {
        Ok(serde_json::from_str(body)?)
    }
}

/// An interaction arrives as a form with one field holding JSON.
pub struct InteractionPayload(String);

impl SlackPayload for InteractionPayload {
    const WHAT: &'static str = "interaction form";
    fn decode(body: &str) -> Result<Self, DecodeError> {
        #[derive(serde::Deserialize)]
        struct Form {
            payload: String,
        }
        let form: Form = serde_urlencoded::from_str(body)?;
        Ok(InteractionPayload(form.payload))
    }
}

/// A payload whose signature checked out.
pub struct Verified<T>(pub T);

/// Why a request never reached the pipeline.
pub enum Rejection {
    Body(axum::extract::rejection::BytesRejection),
    Unverified(VerifyError),
    Malformed {
        what: &'static str,
        error: DecodeError,
    },
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        match self {
            // Too large (413) or unreadable: axum's own answer.
            Rejection::Body(r) => r.into_response(),
            Rejection::Unverified(e) => {
                crate::metrics::request_rejected(e.metric());
                tracing::info!(reason = %e, "request refused before the pipeline");
                (StatusCode::UNAUTHORIZED, format!("refused: {e}\n")).into_response()
            }
            Rejection::Malformed { what, error } => {
                crate::metrics::request_rejected("malformed");
                tracing::info!(%error, "malformed {what}");
                (StatusCode::BAD_REQUEST, format!("malformed {what}\n")).into_response()
            }
        }
    }
}

impl<T: SlackPayload> FromRequest<Shared> for Verified<T> {
    type Rejection = Rejection;

    async fn from_request(req: axum::extract::Request, state: &Shared) -> Result<Self, Rejection> {
        // Taken, not cloned: the body is all the request has left to give.
        let (mut parts, body) = req.into_parts();
        let headers = std::mem::take(&mut parts.headers);
        let req = axum::extract::Request::from_parts(parts, body);
        let body = Bytes::from_request(req, state)
            .await
            .map_err(Rejection::Body)?;
        let text = match &state.verifier {
            Some(v) => v.verify(&headers, &body),
            None => Err(VerifyError::Unsigned),
        }
        .map_err(Rejection::Unverified)?;
        T::decode(text)
            .map(Verified)
            .map_err(|error| Rejection::Malformed {
                what: T::WHAT,
                error,
            })
    }
}

async fn commands(
    State(state): State<Shared>,
    Verified(form): Verified<super::commands::SlashCommand>,
) -> Response {
    respond(slash_command(&state.spawner, form))
}

async fn events(
    State(state): State<Shared>,
    Verified(delivery): Verified<events::Delivery>,
) -> Response {
    let config = state.spawner.app().config();
    match events::classify(config, delivery) {
        EventAction::Challenge(c) => (StatusCode::OK, c).into_response(),
        EventAction::Ignore => StatusCode::OK.into_response(),
        EventAction::Handle { event_id, request } => {
            if state.spawner.spawn(Some(event_id), *request).is_err() {
                tracing::warn!("too busy to act on an event; it is on record as turned away");
            }
            StatusCode::OK.into_response()
        }
        EventAction::Function { event_id, call } => {
            events::spawn_function(&state.spawner, event_id, *call);
            StatusCode::OK.into_response()
        }
        EventAction::Home {
            event_id,
            user,
            principal,
        } => {
            events::spawn_home(&state.spawner, event_id, user, principal);
            StatusCode::OK.into_response()
        }
    }
}

async fn interactivity(
    State(state): State<Shared>,
    Verified(InteractionPayload(payload)): Verified<InteractionPayload>,
) -> Response {
    respond(interactivity::handle(&state.spawner, &payload))
}

fn respond(answer: Answer) -> Response {
    match answer {
        Answer::Ack => StatusCode::OK.into_response(),
        Answer::Ephemeral(text) => {
            axum::Json(json!({"response_type": "ephemeral", "text": text})).into_response()
        }
        Answer::DialogErrors(errors) => axum::Json(blocks::dialog_errors(&errors)).into_response(),
        Answer::BadRequest(error) => Rejection::Malformed {
            what: "interaction",
            error: error.into(),
        }
        .into_response(),
    }
}

/// Public: says whether the store answers, never why not (the log says why).
/// Cloud Scheduler's call, for deployments where no process runs between
/// requests (`--min-instances 0`): due timers are done now, by this process.
async fn tick(State(state): State<Shared>, headers: axum::http::HeaderMap) -> Response {
    let Some(auth) = &state.tick_auth else {
        return (
            StatusCode::NOT_FOUND,
            "POST /tasks/tick is off: set scheduler.audience and scheduler.invoker\n",
        )
            .into_response();
    };
    let app = state.spawner.app();
    let presented = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    // Real time, not the app's clock: token lifetimes are Google's.
    if let Err(e) = auth.verify(presented, chrono::Utc::now().timestamp()).await {
        tracing::warn!(reason = e.metric(), error = %e, "refused a /tasks/tick call");
        crate::metrics::request_rejected(e.metric());
        return if e.is_server_side() {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "cannot check tokens right now\n",
            )
                .into_response()
        } else {
            (StatusCode::UNAUTHORIZED, "unauthorized\n").into_response()
        };
    }
    match app.tick().await {
        Ok(report) => (StatusCode::OK, axum::Json(report)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a tick could not read the store");
            (StatusCode::SERVICE_UNAVAILABLE, "store unreachable\n").into_response()
        }
    }
}

async fn readyz(State(state): State<Shared>) -> Response {
    match state.spawner.app().store().ping().await {
        Ok(()) => (StatusCode::OK, "ready\n").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "not ready: the store does not answer");
            (StatusCode::SERVICE_UNAVAILABLE, "store unreachable\n").into_response()
        }
    }
}

/// With `WORKBENCH_METRICS_TOKEN` set, only a scraper that presents it;
/// without, only one on loopback (a Prometheus sidecar in the same instance).
/// Request volumes, decisions and overdue timers are not for the public URL
/// a Cloud Run service with `--allow-unauthenticated` has.
async fn metrics(
    State(state): State<Shared>,
    peer: Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    headers: axum::http::HeaderMap,
) -> Response {
    if state.metrics_token.is_none() && !from_loopback(peer.map(|p| p.0.0), &headers) {
        return (
            StatusCode::FORBIDDEN,
            "metrics are served to loopback only; set WORKBENCH_METRICS_TOKEN to scrape from elsewhere\n",
        )
            .into_response();
    }
    if let Some(token) = &state.metrics_token {
        let presented = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        let matches: bool =
            subtle::ConstantTimeEq::ct_eq(presented.as_bytes(), token.expose().as_bytes()).into();
        if !matches {
            return (
                StatusCode::UNAUTHORIZED,
                [(axum::http::header::WWW_AUTHENTICATE, "Bearer")],
                "a bearer token is required\n",
            )
                .into_response();
        }
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::metrics::render(),
    )
        .into_response()
}

/// A scraper on this host: a loopback peer whose request no proxy forwarded.
/// A front end (Cloud Run's, or a local reverse proxy) connecting from
/// loopback still marks what it forwards, so those requests are not counted
/// as local. No peer address at all is not loopback either.
fn from_loopback(peer: Option<std::net::SocketAddr>, headers: &axum::http::HeaderMap) -> bool {
    const MARKS: [&str; 7] = [
        "forwarded",
        "x-forwarded-for",
        "x-forwarded-host",
        "x-real-ip",
        "true-client-ip",
        "x-client-ip",
        "via",
    ];
    let forwarded = MARKS.iter().any(|h| headers.contains_key(*h));
    // A dual-stack listener sees 127.0.0.1 as ::ffff:127.0.0.1.
    peer.is_some_and(|p| p.ip().to_canonical().is_loopback()) && !forwarded
}

#[cfg(test)]
mod tests;

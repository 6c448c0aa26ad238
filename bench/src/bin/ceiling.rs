//! The ceilings the bot is measured against, and the benchmark's response_url
//! sink, as one small axum server:
//!
//!   ceiling bare  --listen ADDR   verify Slack's signature, ack 200 with an empty body
//!   ceiling reply --listen ADDR   the same, then (in a task spawned after the ack, as
//!                                 the bot does) POST one JSON answer to the body's
//!                                 response_url with one reused HTTP client
//!   ceiling sink  --listen ADDR   answer 200 to any POST and count them; GET /count
//!                                 returns the count
//!
//! `bare` and `reply` take the signing secret from SLACK_SIGNING_SECRET, as the
//! bot does, and answer `GET /healthz` with `ok`. None of them logs per request.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use workbench_bot_bench::verify;

/// The bot's answer to `/notebook status foo` in a dry run, byte for byte (601
/// bytes: the text and a card with Start and Refresh buttons). The ceiling sends
/// it as it is; the bot builds it for each request.
const ANSWER: &str = r#"{"text":"`foo` is *stopped*\n• machine type: dry-run (simulated) _(dry run: nothing was sent to Google or GitHub)_","blocks":[{"type":"section","text":{"type":"mrkdwn","text":"`foo` is *stopped*\n• machine type: dry-run (simulated) _(dry run: nothing was sent to Google or GitHub)_"}},{"type":"actions","block_id":"card:foo","elements":[{"type":"button","action_id":"notebook_start","text":{"type":"plain_text","text":"Start"},"value":"foo","style":"primary"},{"type":"button","action_id":"notebook_refresh","text":{"type":"plain_text","text":"Refresh"},"value":"foo"}]}],"replace_original":false}"#;

struct Ceiling {
    secret: Vec<u8>,
    /// Present in `reply` mode.
    client: Option<reqwest::Client>,
}

async fn command(State(c): State<Arc<Ceiling>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |name: &str| headers.get(name).map(|v| v.as_bytes());
    if !verify(
        &c.secret,
        header("x-slack-request-timestamp"),
        header("x-slack-signature"),
        &body,
    ) {
        return StatusCode::UNAUTHORIZED;
    }
    if let Some(client) = &c.client {
        let Some(url) = form_urlencoded::parse(&body)
            .find(|(k, _)| k == "response_url")
            .map(|(_, v)| v.into_owned())
        else {
            return StatusCode::BAD_REQUEST;
        };
        let client = client.clone();
        tokio::spawn(async move {
            let sent = client
                .post(url)
                .header("content-type", "application/json")
                .body(ANSWER)
                .send()
                .await;
            match sent {
                // Read the answer to the end so the connection goes back to the pool.
                Ok(r) => {
                    let _ = r.bytes().await;
                }
                Err(e) => eprintln!("response_url post failed: {e}"),
            }
        });
    }
    StatusCode::OK
}

async fn sink_post(State(n): State<Arc<AtomicU64>>) -> &'static str {
    n.fetch_add(1, Ordering::Relaxed);
    "ok"
}

async fn sink_count(State(n): State<Arc<AtomicU64>>) -> String {
    n.load(Ordering::Relaxed).to_string()
}

fn usage() -> ! {
    eprintln!("usage: ceiling (bare|reply|sink) --listen HOST:PORT");
    std::process::exit(2)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(mode), Some("--listen"), Some(listen)) = (
        args.first().map(String::as_str),
        args.get(1).map(String::as_str),
        args.get(2),
    ) else {
        usage()
    };
    let app = match mode {
        "bare" | "reply" => {
            let Some(secret) = std::env::var("SLACK_SIGNING_SECRET")
                .ok()
                .filter(|s| !s.is_empty())
            else {
                eprintln!("set SLACK_SIGNING_SECRET");
                std::process::exit(2)
            };
            let client = (mode == "reply").then(reqwest::Client::new);
            Router::new()
                .route("/slack/commands", post(command))
                .route("/healthz", get(|| async { "ok" }))
                .with_state(Arc::new(Ceiling {
                    secret: secret.into_bytes(),
                    client,
                }))
        }
        "sink" => Router::new()
            .route("/count", get(sink_count))
            .fallback(post(sink_post))
            .with_state(Arc::new(AtomicU64::new(0))),
        _ => usage(),
    };
    let listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cannot listen on {listen}: {e}");
            std::process::exit(1)
        }
    };
    axum::serve(listener, app).await.expect("server runs");
}

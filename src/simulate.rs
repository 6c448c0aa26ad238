//! `workbench-bot simulate`: a slash command from the terminal, for people without
//! a Slack workspace.
//!
//! It signs a `/notebook` form exactly as Slack does, posts it to a running bot,
//! hosts its own short-lived `response_url` listener, and prints the
//! acknowledgement and every message the bot sends back, as a person would see them.

use crate::verify::sign;
use axum::Router;
use axum::extract::State;
use axum::routing::post;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

pub struct Simulation {
    pub bot_url: String,
    pub signing_secret: String,
    pub user: String,
    pub team: String,
    pub channel: String,
    pub command: String,
    pub text: String,
    /// Stop listening this long after the last message (or after the
    /// acknowledgement when nothing comes).
    pub quiet: Duration,
    pub max_wait: Duration,
}

#[derive(Debug)]
pub struct Transcript {
    pub status: u16,
    pub ack_body: String,
    pub ack_ms: u128,
    /// The JSON bodies the bot posted to the `response_url`, in order.
    pub messages: Vec<serde_json::Value>,
}

impl Transcript {
    /// What a person would read, one block per message.
    pub fn render(&self) -> String {
        let mut out = format!("acknowledged: HTTP {} in {} ms", self.status, self.ack_ms);
        if !self.ack_body.trim().is_empty() {
            out.push_str(&format!("\n{}", self.ack_body.trim()));
        }
        if self.messages.is_empty() {
            out.push_str("\n(no message came back)");
        }
        for m in &self.messages {
            let text = m
                .get("text")
                .and_then(|t| t.as_str())
                .unwrap_or("(no text)");
            let how = if m.get("replace_original").and_then(|r| r.as_bool()) == Some(true) {
                "bot (replaces its previous message)"
            } else {
                "bot"
            };
            out.push_str(&format!("\n--- {how}:\n{text}"));
        }
        out
    }
}

/// Why a simulation could not run.
#[derive(Debug, thiserror::Error)]
pub enum SimulateError {
    #[error("cannot open a local response_url listener: {0}")]
    Listen(#[source] std::io::Error),
    #[error("cannot encode the slash command form: {0}")]
    Form(#[source] serde_urlencoded::ser::Error),
    #[error("cannot reach the bot at {url}: {source}")]
    Unreachable { url: String, source: reqwest::Error },
}

pub async fn run(sim: Simulation) -> Result<Transcript, SimulateError> {
    crate::tls::install();
    let (tx, mut rx) = mpsc::unbounded_channel::<serde_json::Value>();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(SimulateError::Listen)?;
    let response_url = format!(
        "http://{}/response",
        listener.local_addr().map_err(SimulateError::Listen)?
    );
    let router = Router::new()
        .route(
            "/response",
            post(|State(tx): State<mpsc::UnboundedSender<serde_json::Value>>, body: String| async move {
                let value = serde_json::from_str(&body).unwrap_or(serde_json::Value::String(body));
                let _ = tx.send(value);
                "ok"
            }),
        )
        .with_state(tx);
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });

    let form = serde_urlencoded::to_string([
        ("token", "simulated"),
        ("team_id", sim.team.as_str()),
        ("team_domain", "simulated"),
        ("channel_id", sim.channel.as_str()),
        ("channel_name", "simulated"),
        ("user_id", sim.user.as_str()),
        ("user_name", "simulated"),
        ("command", sim.command.as_str()),
        ("text", sim.text.as_str()),
        ("api_app_id", "A0SIMULATED"),
        ("response_url", response_url.as_str()),
        ("trigger_id", "0000.0000.simulated"),
    ])
    .map_err(SimulateError::Form)?;
    let ts = chrono::Utc::now().timestamp();
    let url = format!("{}/slack/commands", sim.bot_url.trim_end_matches('/'));
    let started = Instant::now();
    let res = reqwest::Client::new()
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", ts.to_string())
        .header("x-slack-signature", sign(&sim.signing_secret, ts, &form))
        .body(form)
        .send()
        .await
        .map_err(|source| SimulateError::Unreachable {
            url: url.clone(),
            source,
        })?;
    let ack_ms = started.elapsed().as_millis();
    let status = res.status().as_u16();
    let ack_body = res.text().await.unwrap_or_default();

    let mut messages = Vec::new();
    if status == 200 {
        let deadline = Instant::now() + sim.max_wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(sim.quiet.min(left), rx.recv()).await {
                Ok(Some(m)) => messages.push(m),
                _ => break,
            }
        }
    }
    server.abort();
    Ok(Transcript {
        status,
        ack_body,
        ack_ms,
        messages,
    })
}

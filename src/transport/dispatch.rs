//! `workbench-bot handle-dispatch`: the transport a GitHub Actions job runs for a
//! `repository_dispatch` the bot sent.
//!
//! It trusts nothing in the event. The payload may only hold the fields the bot
//! sends; the command must be start or stop; the alias must be in the config and
//! the instance path comes from the config; the requester is checked by the same
//! core policy as in Slack. Then it acts through the Notebooks API, reports in the
//! Slack thread, writes the job summary, and exits non-zero on any refusal or
//! failure.

use crate::act::Backends;
use crate::config::{BackendKind, Config};
use crate::domain::{Command, EntryPoint, Origin, Principal, Verb};
use crate::pipeline::{App, Input, Request};
use crate::report::{Reply, ReplyTo, Reporter, messages, slack_client};
use crate::settings::Settings;
use crate::store::Store;
use serde::Deserialize;
use std::path::Path;
use std::sync::Arc;

#[derive(Deserialize)]
struct Event {
    client_payload: serde_json::Value,
}

/// Exactly what the bot's GitHub backend sends; anything else is refused.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Payload {
    notebook: String,
    command: String,
    #[serde(default)]
    request_id: Option<String>,
    requested_by: String,
    #[serde(default)]
    slack: Option<PayloadSlack>,
}

/// Where the requester waits. Unknown keys are refused; values that do not look
/// like Slack ids are dropped (see [`PayloadSlack::place`]).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PayloadSlack {
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    thread_ts: Option<String>,
}

impl PayloadSlack {
    /// The place to report, keeping only values shaped like Slack ids.
    fn place(self) -> Origin {
        Origin {
            channel: self.channel.filter(|c| looks_like_channel(c)),
            thread_ts: self.thread_ts.filter(|t| looks_like_ts(t)),
        }
    }
}

/// How the job ended: its exit code and the one line that says why.
#[derive(Debug)]
pub struct DispatchResult {
    pub ok: bool,
    pub line: String,
}

fn looks_like_channel(s: &str) -> bool {
    s.len() >= 3
        && s.starts_with(['C', 'D', 'G'])
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

fn looks_like_ts(s: &str) -> bool {
    matches!(s.split_once('.'), Some((a, b)) if !a.is_empty() && !b.is_empty() && a.bytes().chain(b.bytes()).all(|c| c.is_ascii_digit()))
}

/// A request id is echoed into Slack and the summary: keep it to what the bot makes.
fn clean_request_id(id: Option<String>) -> String {
    id.filter(|i| {
        (1..=64).contains(&i.len()) && i.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    })
    .unwrap_or_else(Request::new_id)
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_owned()
}

pub async fn run(event_path: &Path, mut config: Config, settings: Settings) -> DispatchResult {
    crate::tls::install();
    let refuse = |line: String| DispatchResult { ok: false, line };

    let event: Event = match std::fs::read_to_string(event_path)
        .map_err(|e| e.to_string())
        .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
    {
        Ok(e) => e,
        Err(e) => {
            return refuse(format!(
                "refused: cannot read the dispatch event at {}: {e}",
                event_path.display()
            ));
        }
    };
    // Where to report is read on its own first, so even a payload refused below
    // is answered in its thread.
    let place = event
        .client_payload
        .get("slack")
        .and_then(|s| serde_json::from_value::<PayloadSlack>(s.clone()).ok())
        .map(PayloadSlack::place)
        .unwrap_or_default();
    let reply_to = match (&place.channel, &place.thread_ts) {
        (Some(channel), Some(thread_ts)) => ReplyTo::Thread {
            channel: channel.clone(),
            thread_ts: thread_ts.clone(),
        },
        _ => ReplyTo::Nowhere,
    };
    let reporter = match slack_client(&settings.slack_api_url) {
        Ok(c) => Reporter::new(
            Arc::new(c),
            settings
                .slack_bot_token
                .as_ref()
                .map(|t| t.expose().to_owned()),
        ),
        Err(e) => return refuse(format!("failed: {e}")),
    };
    let say_refused = |why: String| {
        let reporter = reporter.clone();
        let reply_to = reply_to.clone();
        async move {
            let reply = Reply::text(messages::dispatch_refused(&why));
            if let Err(e) = reporter.post(&reply_to, &reply).await {
                tracing::warn!(error = %e, "could not report the refusal in Slack");
            }
            refuse(format!("refused: {why}"))
        }
    };

    let payload: Payload = match serde_json::from_value(event.client_payload) {
        Ok(p) => p,
        Err(e) => {
            return say_refused(format!("the payload is not what workbench-bot sends ({e})")).await;
        }
    };
    let verb = match payload.command.as_str() {
        "start" => Verb::Start,
        "stop" => Verb::Stop,
        _ => return say_refused("the command must be `start` or `stop`".into()).await,
    };
    let Some(instance) = config.instance(&payload.notebook) else {
        return say_refused("the notebook is not an alias in this repository's config".into())
            .await;
    };
    let alias = instance.alias.to_string();
    // The strictly parsed payload decides; it names the same place as read above.
    let place = payload.slack.map(PayloadSlack::place).unwrap_or_default();
    let Some(principal) = Principal::parse(&payload.requested_by) else {
        return say_refused("requested_by is not a Slack user id or workflow".into()).await;
    };

    // This job is where the work really happens: every instance acts through Google.
    for inst in &mut config.instances {
        inst.backend = BackendKind::Notebooks;
    }
    let config = Arc::new(config);
    let store = match Store::open(&config.store_url).await {
        Ok(s) => s,
        Err(e) => return refuse(format!("failed: {e}")),
    };
    let backends = match Backends::notebooks_only(&config, &settings).await {
        Ok(b) => b,
        Err(e) => {
            let line = say_refused(format!("the workflow has no Google credentials: {e}"))
                .await
                .line;
            return refuse(line.replacen("refused", "failed", 1));
        }
    };
    let app = App::new(config, backends, reporter, store);
    let handled = app
        .handle(Request {
            id: clean_request_id(payload.request_id),
            team: None,
            principal,
            entry: EntryPoint::Dispatch,
            input: Input::Command(Command {
                verb,
                target: Some(alias),
            }),
            reply_to,
            origin: place,
        })
        .await;
    app.store().flush().await;
    DispatchResult {
        ok: handled.ok,
        line: first_line(&handled.reply.text),
    }
}

/// Appends a short Markdown result to `$GITHUB_STEP_SUMMARY`.
pub fn write_summary(
    path: &Path,
    notebook: &str,
    command: &str,
    result: &DispatchResult,
) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    let status = if result.ok { "done" } else { "failed" };
    // Values from the event are shown as code, with backticks removed, so they
    // cannot turn into Markdown.
    let code = |s: &str| s.replace('`', "'").chars().take(80).collect::<String>();
    writeln!(
        f,
        "### workbench-bot: {status}\n\n| notebook | command | result |\n| --- | --- | --- |\n| `{}` | `{}` | {} |\n",
        code(notebook),
        code(command),
        result.line.replace('|', "\\|")
    )
}

/// The notebook and command as the event states them, for the summary only.
pub fn describe_event(event_path: &Path) -> (String, String) {
    let v: serde_json::Value = std::fs::read_to_string(event_path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    let field = |k: &str| v["client_payload"][k].as_str().unwrap_or("?").to_owned();
    (field("notebook"), field("command"))
}

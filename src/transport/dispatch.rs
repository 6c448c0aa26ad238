//! `workbench-bot handle-dispatch`: the transport a GitHub Actions job runs for a
//! `repository_dispatch` the bot sent.
//!
//! It trusts nothing in the event until it has proved the bot sent it: the
//! event's `sender` must be `backend.github.sender`, and the payload must carry
//! the bot's signature (`WORKBENCH_DISPATCH_SECRET`) over every field used here,
//! issued within `backend.github.max_age_minutes`, and the run must be the
//! event's first (`GITHUB_RUN_ATTEMPT`): *Re-run jobs* replays the original
//! event, signature and all, so a re-run would act again with no approval, no
//! time limit and no row in the bot's audit. Even then the command must be
//! start or stop, the alias must be in the config, the instance path comes from
//! the config, and the requester is checked by the same policy as in Slack. It
//! acts through the Notebooks API, tells the requester how it ended through the
//! door they used, writes the job summary, and exits non-zero on any refusal or
//! failure. Nothing it refuses before the signature holds is posted to Slack:
//! a forged payload must not make the bot message anyone.

use crate::act::{Backends, DispatchPayload};
use crate::config::{BackendKind, Config};
use crate::domain::{Command, EntryPoint, Origin, Principal, Verb};
use crate::pipeline::{App, Handled, Input, Request};
use crate::report::{Reply, ReplyTo, Reporter, StepEnd, messages, slack_client};
use crate::settings::Settings;
use crate::store::Store;
use serde::Deserialize;
use std::path::Path;
use std::sync::Arc;

#[derive(Deserialize)]
struct Event {
    client_payload: serde_json::Value,
    sender: Option<Sender>,
}

#[derive(Deserialize)]
struct Sender {
    login: String,
}

/// How the job ended: its exit code and the one line that says why.
#[derive(Debug)]
pub struct DispatchResult {
    pub ok: bool,
    pub line: String,
}

fn refused(why: impl std::fmt::Display) -> DispatchResult {
    DispatchResult {
        ok: false,
        line: format!("refused: {why}"),
    }
}

fn failed(why: impl std::fmt::Display) -> DispatchResult {
    DispatchResult {
        ok: false,
        line: format!("failed: {why}"),
    }
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_owned()
}

/// Reads the event and proves the bot sent it; every refusal here is silent
/// in Slack, since nothing in the payload can be believed yet.
fn authenticated(
    event_path: &Path,
    config: &Config,
    settings: &Settings,
) -> Result<DispatchPayload, DispatchResult> {
    first_attempt(settings.github_run_attempt.as_deref())?;
    let text = std::fs::read_to_string(event_path).map_err(|e| {
        refused(format!(
            "cannot read the dispatch event at {}: {e}",
            event_path.display()
        ))
    })?;
    let event: Event = serde_json::from_str(&text)
        .map_err(|e| refused(format!("the dispatch event is not JSON GitHub sends: {e}")))?;
    let github = config.github.as_ref().ok_or_else(|| {
        failed("the config has no [backend.github] section naming the bot's sender")
    })?;
    let sender = event.sender.map(|s| s.login).unwrap_or_default();
    if sender != github.sender {
        return Err(refused(format!(
            "the dispatch was sent by `{sender}`, not by the bot's account `{}` (backend.github.sender)",
            github.sender
        )));
    }
    let payload: DispatchPayload = serde_json::from_value(event.client_payload)
        .map_err(|e| refused(format!("the payload is not what workbench-bot sends ({e})")))?;
    let current = settings.dispatch_secret.as_ref().ok_or_else(|| {
        failed("WORKBENCH_DISPATCH_SECRET is not set in the workflow; add the secret the bot signs with")
    })?;
    let mut secrets = vec![current.expose()];
    secrets.extend(
        settings
            .dispatch_secret_previous
            .as_ref()
            .map(|s| s.expose()),
    );
    let max_minutes = (github.max_age.as_secs() / 60) as i64;
    payload
        .verify(&secrets, chrono::Utc::now().timestamp(), max_minutes)
        .map_err(refused)?;
    Ok(payload)
}

/// Only a run's first attempt acts. Unset counts as the first: outside
/// Actions there is no re-run, and the Workload Identity condition
/// (`assertion.run_attempt == "1"`) denies a re-run its Google token anyway.
fn first_attempt(attempt: Option<&str>) -> Result<(), DispatchResult> {
    match attempt.map(|a| a.trim().parse::<u32>()) {
        None | Some(Ok(1)) => Ok(()),
        Some(Ok(n)) => Err(refused(format!(
            "this is attempt {n} of the run (GITHUB_RUN_ATTEMPT): a re-run replays the original request, \
             so it is not carried out; ask the bot again instead"
        ))),
        Some(Err(_)) => Err(refused(
            "GITHUB_RUN_ATTEMPT is not a number, so this may be a re-run; nothing was done",
        )),
    }
}

/// Where the requester hears the end: their thread or their DMs; a workflow
/// step is completed instead.
fn reply_to(origin: &Origin) -> ReplyTo {
    match origin {
        Origin::Thread { channel, thread_ts } => ReplyTo::Thread {
            channel: channel.clone(),
            thread_ts: thread_ts.clone(),
        },
        Origin::Direct { user } => ReplyTo::Direct(user.clone()),
        Origin::Step { .. } | Origin::Nowhere => ReplyTo::Nowhere,
    }
}

pub async fn run(event_path: &Path, mut config: Config, settings: Settings) -> DispatchResult {
    crate::tls::install();
    let payload = match authenticated(event_path, &config, &settings) {
        Ok(p) => p,
        Err(result) => return result,
    };
    let origin = payload.origin();
    let reporter = match slack_client(&settings.slack_api_url) {
        Ok(c) => Reporter::new(
            Arc::new(c),
            settings
                .slack_bot_token
                .as_ref()
                .map(|t| t.expose().to_owned()),
        )
        .with_timeout(settings.timing.slack_timeout),
        Err(e) => return failed(e),
    };
    let tell = Teller {
        reporter: &reporter,
        origin: &origin,
    };
    let verb = match payload.command.as_str() {
        "start" => Verb::Start,
        "stop" => Verb::Stop,
        _ => return tell.refused("the command must be `start` or `stop`").await,
    };
    let Some(instance) = config.instance(&payload.notebook) else {
        return tell
            .refused("the notebook is not an alias in this repository's config")
            .await;
    };
    let alias = instance.alias.to_string();
    let Some(principal) = Principal::parse(&payload.requested_by) else {
        return tell
            .refused("requested_by is not a Slack user id or workflow")
            .await;
    };
    // Signed by the bot; the core still checks the approver against the
    // instance's approvers and the requester.
    let approved_by = match payload
        .workbench
        .approved_by
        .as_deref()
        .map(Principal::parse)
    {
        None => None,
        Some(Some(p)) => Some(p),
        Some(None) => {
            return tell.refused("approved_by is not a Slack user id").await;
        }
    };

    // This job is where the work really happens: every instance acts through Google.
    for inst in &mut config.instances {
        inst.backend = BackendKind::Notebooks;
    }
    let config = Arc::new(config);
    let backends = match Backends::notebooks_only(&config, &settings).await {
        Ok(b) => b,
        Err(e) => {
            let why = format!("the workflow has no Google credentials: {e}");
            tell.say(&messages::dispatch_refused(&why)).await;
            return failed(why);
        }
    };
    // The job keeps nothing: the audit of record is the bot's; this one is
    // for the job's own run and its log.
    let store = match Store::in_memory().await {
        Ok(s) => s,
        Err(e) => return failed(e),
    };
    let app = App::new(config, backends, reporter.clone(), store);
    let handled = app
        .handle(Request {
            id: payload.request_id.clone(),
            team: None,
            principal,
            entry: EntryPoint::Dispatch,
            input: Input::Command(Command::new(verb, Some(alias))),
            reply_to: reply_to(&origin),
            grant: crate::pipeline::Grant {
                approved_by,
                step_token: None,
                ..Default::default()
            },
            origin: Origin::Nowhere,
        })
        .await;
    app.store().flush().await;
    tell.complete_step(&handled).await;
    DispatchResult {
        ok: handled.ok,
        line: first_line(&handled.reply.text),
    }
}

/// Tells the requester, once the payload is known to be the bot's.
struct Teller<'a> {
    reporter: &'a Reporter,
    origin: &'a Origin,
}

impl Teller<'_> {
    async fn say(&self, text: &str) {
        match self.origin {
            Origin::Step { execution_id } => {
                let end = StepEnd {
                    ok: false,
                    state: String::new(),
                    message: text.to_owned(),
                };
                if let Err(e) = self.reporter.complete_step(None, execution_id, &end).await {
                    tracing::warn!(error = %e, "could not complete the workflow step");
                }
            }
            origin => {
                let to = reply_to(origin);
                if let Err(e) = self.reporter.post(&to, &Reply::text(text)).await {
                    tracing::warn!(error = %e, "could not report in Slack");
                }
            }
        }
    }

    async fn refused(&self, why: &str) -> DispatchResult {
        self.say(&messages::dispatch_refused(why)).await;
        refused(why)
    }

    /// A Workflow Builder step waits for the end, whatever it was.
    async fn complete_step(&self, handled: &Handled) {
        if let Origin::Step { execution_id } = self.origin {
            let end = handled.step_end();
            if let Err(e) = self.reporter.complete_step(None, execution_id, &end).await {
                tracing::warn!(error = %e, "could not complete the workflow step");
            }
        }
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

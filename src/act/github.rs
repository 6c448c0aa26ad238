//! The reviewed backend: start and stop become a `repository_dispatch` to the ops
//! repository, where a GitHub Actions workflow runs `workbench-bot handle-dispatch`.
//!
//! The repository and event type come only from the config. The bot authenticates
//! as a GitHub App (installation tokens, refreshed by octocrab before they expire)
//! or with `GITHUB_TOKEN`. Status reads still go to Google when the bot has read
//! credentials: a dispatch cannot answer "is it running?".

use super::{
    ActContext, Backend, BackendError, DispatchPayload, Handoff, InstanceStatus, Outcome,
    SetupError,
};
use crate::config::{BackendKind, GithubConfig, Instance};
use crate::settings::Secret;
use async_trait::async_trait;
use octocrab::Octocrab;
use octocrab::service::middleware::retry::RetryConfig;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;

/// A failure talking to GitHub, before it is put in a person's words.
#[derive(Debug, thiserror::Error)]
pub enum GithubError {
    #[error("the repository_dispatch failed: {0}")]
    Dispatch(#[source] octocrab::Error),
}

/// How the bot proves who it is to GitHub.
pub enum GithubAuth {
    App {
        app_id: u64,
        private_key_pem: String,
        installation_id: u64,
    },
    Token(String),
}

pub struct Github {
    octo: Octocrab,
    config: GithubConfig,
    dispatch_secret: Secret,
    /// For `status` and `list`: GitHub cannot tell an instance's state.
    reader: Option<Arc<dyn Backend>>,
    /// Bounded search for the workflow run a dispatch started.
    run_poll: Duration,
    run_poll_times: u32,
}

#[derive(Deserialize)]
struct RunsPage {
    #[serde(default)]
    workflow_runs: Vec<RunSummary>,
}

#[derive(Deserialize)]
struct RunSummary {
    #[serde(default)]
    display_title: String,
    html_url: String,
    /// `queued`, `in_progress`, `completed`, …
    #[serde(default)]
    status: String,
    /// Once completed: `success`, `failure`, `cancelled`, `timed_out`, …
    #[serde(default)]
    conclusion: Option<String>,
}

/// What a try's run name carries, as the workflow's `run-name` writes it:
/// `(REQUEST)` for the first, `(REQUEST attempt N)` after.
fn title_key(request_id: &str, attempt: u32) -> String {
    match attempt {
        0 | 1 => format!("({request_id})"),
        n => format!("({request_id} attempt {n})"),
    }
}

impl Github {
    pub fn new(
        base: Option<&str>,
        auth: GithubAuth,
        config: GithubConfig,
        dispatch_secret: Secret,
        reader: Option<Arc<dyn Backend>>,
        run_poll: Duration,
        timeout: Duration,
    ) -> Result<Self, SetupError> {
        // No automatic retries: a repeated dispatch would run the workflow twice.
        let mut builder = Octocrab::builder()
            .add_retry_config(RetryConfig::None)
            // octocrab waits forever by default; a hung GitHub must not hold a request.
            .set_connect_timeout(Some(timeout.min(Duration::from_secs(10))))
            .set_read_timeout(Some(timeout));
        if let Some(base) = base {
            builder = builder
                .base_uri(base.trim_end_matches('/'))
                .map_err(|source| SetupError::GithubUrl {
                    url: base.to_owned(),
                    source,
                })?;
        }
        let octo = match auth {
            GithubAuth::Token(t) => builder.personal_token(t).build(),
            GithubAuth::App {
                app_id,
                private_key_pem,
                installation_id,
            } => {
                let key = octocrab::EncodingKey::from_rsa_pem(private_key_pem.as_bytes())
                    .map_err(SetupError::GithubKey)?;
                builder
                    .app(app_id.into(), key)
                    .build()
                    .and_then(|app| app.installation(installation_id.into()))
            }
        }
        .map_err(SetupError::GithubClient)?;
        Ok(Self {
            octo,
            config,
            dispatch_secret,
            reader,
            run_poll,
            run_poll_times: 20,
        })
    }

    /// The signed payload `handle-dispatch` will check.
    fn payload(&self, inst: &Instance, action: &str, ctx: &ActContext) -> DispatchPayload {
        let secret = self.dispatch_secret.expose();
        let payload = DispatchPayload::signed(
            inst.alias.as_ref(),
            action,
            &ctx.request_id,
            &ctx.requested_by.to_string(),
            &ctx.origin,
            secret,
            chrono::Utc::now().timestamp(),
        );
        let payload = match &ctx.approved_by {
            Some(by) => payload.approved(&by.to_string(), secret),
            None => payload,
        };
        match ctx.attempt {
            n if n > 1 => payload.attempt(n, secret),
            _ => payload,
        }
    }

    /// The latest workflow runs of dispatches, or why GitHub would not say.
    async fn runs(&self) -> Result<Vec<RunSummary>, String> {
        let route = format!(
            "/repos/{}/{}/actions/runs",
            self.config.owner, self.config.repo
        );
        let page: Result<RunsPage, _> = self
            .octo
            .get(
                &route,
                Some(&[("event", "repository_dispatch"), ("per_page", "100")]),
            )
            .await;
        page.map(|p| p.workflow_runs).map_err(|e| {
            tracing::info!(error = %e, "could not list workflow runs (the App needs Actions: read)");
            explain(&e, &self.config)
        })
    }

    async fn dispatch(
        &self,
        inst: &Instance,
        action: &str,
        ctx: &ActContext,
    ) -> Result<Outcome, BackendError> {
        self.octo
            .repos(&self.config.owner, &self.config.repo)
            .dispatches()
            .create(&self.config.event_type)
            .client_payload(
                serde_json::to_value(self.payload(inst, action, ctx))
                    .expect("a struct of strings always serialises"),
            )
            .send()
            .await
            .map_err(|e| BackendError::Github {
                advice: explain(&e, &self.config),
                source: Arc::new(GithubError::Dispatch(e)),
            })?;
        Ok(Outcome::HandedOff {
            detail: format!(
                "Handed `{action} {}` to GitHub: the `{}` workflow in {} carries it out and tells you how it ended (request `{}`).",
                inst.alias,
                self.config.event_type,
                self.config.repository(),
                ctx.request_id
            ),
        })
    }
}

/// Puts an octocrab error in a platform engineer's words.
fn explain(e: &octocrab::Error, config: &GithubConfig) -> String {
    let repo = config.repository();
    match e {
        octocrab::Error::GitHub { source, .. } => {
            let status = source.status_code.as_u16();
            let what = match status {
                401 => "the bot's GitHub credentials were rejected (check GITHUB_TOKEN or the GitHub App)".to_owned(),
                // GitHub's secondary rate limit answers 403 or 429, saying so.
                s if s == 429 || (s == 403 && source.message.to_ascii_lowercase().contains("rate limit")) => {
                    "GitHub is rate limiting the bot, so the dispatch was not sent; nothing was changed, try again in a minute".to_owned()
                }
                403 => format!("the bot may not send dispatches to {repo} (the GitHub App needs Contents: read and write)"),
                404 => format!("{repo} was not found, or the bot's GitHub App is not installed on it"),
                422 => format!("GitHub refused the dispatch payload: {}", source.message),
                s if s >= 500 => "GitHub had an error; the dispatch was not retried, to avoid running the workflow twice. Check the Actions tab, then try again".to_owned(),
                s => format!("GitHub answered HTTP {s}: {}", source.message),
            };
            format!("{what} (HTTP {status})")
        }
        other if timed_out(other) => {
            "GitHub did not answer in time; it is slow or unreachable right now. The dispatch may or may not have arrived: check the Actions tab before trying again".to_owned()
        }
        other => format!("could not reach GitHub: {other}"),
    }
}

/// Whether a failure was a timeout, anywhere down its chain of causes.
fn timed_out(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(e);
    while let Some(c) = cause {
        if c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
            || c.to_string().to_ascii_lowercase().contains("timed out")
        {
            return true;
        }
        cause = c.source();
    }
    false
}

#[async_trait]
impl Backend for Github {
    fn kind(&self) -> BackendKind {
        BackendKind::Github
    }

    async fn status(&self, inst: &Instance) -> Result<InstanceStatus, BackendError> {
        match &self.reader {
            Some(r) => r.status(inst).await,
            None => Err(SetupError::NoStatusReader(inst.alias.to_string()).into()),
        }
    }

    async fn statuses(&self, insts: &[&Instance]) -> Vec<Result<InstanceStatus, BackendError>> {
        match &self.reader {
            Some(r) => r.statuses(insts).await,
            None => futures::future::join_all(insts.iter().map(|i| self.status(i))).await,
        }
    }

    async fn start(&self, inst: &Instance, ctx: &ActContext) -> Result<Outcome, BackendError> {
        self.dispatch(inst, "start", ctx).await
    }

    async fn stop(&self, inst: &Instance, ctx: &ActContext) -> Result<Outcome, BackendError> {
        self.dispatch(inst, "stop", ctx).await
    }

    async fn handoff_link(&self, ctx: &ActContext) -> Option<String> {
        let key = title_key(&ctx.request_id, ctx.attempt);
        for _ in 0..self.run_poll_times {
            tokio::time::sleep(self.run_poll).await;
            if let Some(run) = self
                .runs()
                .await
                .into_iter()
                .flatten()
                .find(|r| r.display_title.contains(&key))
            {
                return Some(run.html_url);
            }
        }
        None
    }

    async fn handoff_result(&self, request_id: &str, attempt: u32) -> Handoff {
        let key = title_key(request_id, attempt);
        let runs = match self.runs().await {
            Ok(runs) => runs,
            Err(why) => return Handoff::Unreadable(why),
        };
        let Some(run) = runs.into_iter().find(|r| r.display_title.contains(&key)) else {
            return Handoff::Unknown;
        };
        match (run.status.as_str(), run.conclusion.as_deref()) {
            ("completed", Some("success")) => Handoff::Succeeded,
            ("completed", conclusion) => Handoff::Failed(format!(
                "the workflow run concluded `{}` ({})",
                conclusion.unwrap_or("without a conclusion"),
                run.html_url
            )),
            _ => Handoff::Running,
        }
    }
}

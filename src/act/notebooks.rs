//! The direct backend: the Notebooks API v2 (Workbench Instances), called with the
//! bot's own service account.
//!
//! Every path, method and field used here is in Google's discovery document
//! (`shared/reference/notebooks-v2-discovery.json`); a test checks that. Reads are
//! retried with backoff and jitter on 429, 5xx and network errors. Start and stop
//! are not blindly repeated: each attempt reads the state first, so a start that
//! Google applied before answering 503 is never sent twice.

use super::{ActContext, Backend, BackendError, InstanceStatus, Outcome, State};
use crate::config::{BackendKind, Instance};
use crate::domain::InstanceName;
use crate::settings::Secret;
use async_trait::async_trait;
use backon::{BackoffBuilder, ExponentialBuilder, Retryable};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";

/// Where access tokens come from.
#[derive(Clone)]
pub enum TokenSource {
    /// `GOOGLE_OAUTH_ACCESS_TOKEN`, as `google-github-actions/auth` hands a step.
    Static(Secret),
    /// Application Default Credentials through gcp_auth.
    Provider(Arc<dyn gcp_auth::TokenProvider>),
}

impl TokenSource {
    async fn token(&self) -> Result<String, NotebooksError> {
        match self {
            TokenSource::Static(s) => Ok(s.expose().to_owned()),
            TokenSource::Provider(p) => p
                .token(&[SCOPE])
                .await
                .map(|t| t.as_str().to_owned())
                .map_err(|e| NotebooksError::Token(e.to_string())),
        }
    }
}

/// A failure talking to the Notebooks API, before it is put in a person's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotebooksError {
    #[error("could not get a Google access token: {0}")]
    Token(String),
    #[error("Google answered HTTP {status}: {message}")]
    Status {
        status: u16,
        google_status: String,
        message: String,
    },
    #[error("could not reach the Notebooks API: {0}")]
    Network(String),
    #[error("the Notebooks API answered something unreadable: {0}")]
    Decode(String),
}

impl NotebooksError {
    /// Worth repeating a read: rate limits, Google's own errors, the network.
    fn is_transient(&self) -> bool {
        match self {
            NotebooksError::Status { status, .. } => *status == 429 || *status >= 500,
            NotebooksError::Network(_) => true,
            _ => false,
        }
    }

    /// A sentence for a person: what failed, on which side, and what to do.
    fn explain(&self, permission: &str, name: &InstanceName) -> BackendError {
        BackendError::Google(match self {
            NotebooksError::Status {
                status: 401 | 403,
                message,
                ..
            } => format!(
                "the bot's service account may not do this: it needs `{permission}` on {name} (Google said: {message}). The platform team can grant the bot's custom role"
            ),
            NotebooksError::Status { status: 404, .. } => format!(
                "{name} does not exist in Google Cloud; the bot's config names an instance that is gone, so the platform team should fix the config"
            ),
            NotebooksError::Status {
                status: 400 | 409,
                google_status,
                message,
            } => {
                format!("Google would not do it now ({google_status}): {message}")
            }
            NotebooksError::Status { status: 429, .. } => {
                "Google is rate limiting the bot; try again in a minute".to_owned()
            }
            NotebooksError::Status {
                status, message, ..
            } if *status >= 500 => format!(
                "Google Cloud had an error (HTTP {status}: {message}) and kept having it after retries; try again in a few minutes"
            ),
            other => other.to_string(),
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ApiInstance {
    pub name: String,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub proxy_uri: Option<String>,
    #[serde(default)]
    pub update_time: Option<String>,
    #[serde(default)]
    pub gce_setup: Option<ApiGceSetup>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ApiGceSetup {
    #[serde(default)]
    pub machine_type: Option<String>,
    #[serde(default)]
    pub accelerator_configs: Vec<ApiAcceleratorConfig>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ApiAcceleratorConfig {
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub core_count: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ApiOperation {
    pub name: String,
    #[serde(default)]
    pub done: bool,
    #[serde(default)]
    pub error: Option<ApiStatus>,
    #[serde(default)]
    pub response: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ApiStatus {
    #[serde(default)]
    pub code: i32,
    #[serde(default)]
    pub message: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApiList {
    #[serde(default)]
    instances: Vec<ApiInstance>,
    #[serde(default)]
    next_page_token: Option<String>,
}

#[derive(Deserialize)]
struct ApiErrorBody {
    error: ApiErrorDetail,
}

#[derive(Deserialize)]
struct ApiErrorDetail {
    #[serde(default)]
    message: String,
    #[serde(default)]
    status: String,
}

impl ApiInstance {
    pub fn status(&self) -> InstanceStatus {
        let setup = self.gce_setup.as_ref();
        InstanceStatus {
            state: State::from_api(self.state.as_deref().unwrap_or("STATE_UNSPECIFIED")),
            machine_type: setup
                .and_then(|g| g.machine_type.as_deref())
                // Google may return a full URL; people know the last segment.
                .map(|m| m.rsplit('/').next().unwrap_or(m).to_owned()),
            accelerators: setup
                .map(|g| {
                    g.accelerator_configs
                        .iter()
                        .filter_map(|a| {
                            let kind = a.kind.as_deref()?;
                            Some(match a.core_count.as_deref() {
                                Some(n) => format!("{n} × {kind}"),
                                None => kind.to_owned(),
                            })
                        })
                        .collect()
                })
                .unwrap_or_default(),
            update_time: self.update_time.clone(),
            proxy_uri: self.proxy_uri.clone().filter(|p| !p.is_empty()),
        }
    }
}

/// A typed client for the few Notebooks API v2 methods the bot uses.
#[derive(Clone)]
pub struct NotebooksClient {
    http: reqwest::Client,
    base: String,
    tokens: TokenSource,
    retry: ExponentialBuilder,
}

impl NotebooksClient {
    pub fn new(base: &str, tokens: TokenSource, first_retry: Duration) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("workbench-bot/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the Notebooks HTTP client: {e}"))?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            tokens,
            retry: ExponentialBuilder::default()
                .with_jitter()
                .with_min_delay(first_retry)
                .with_max_delay(first_retry * 16)
                .with_max_times(4),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}/v2/{path}", self.base)
    }

    async fn send<T: serde::de::DeserializeOwned>(
        &self,
        method: reqwest::Method,
        url: &str,
        query: &[(&str, &str)],
    ) -> Result<T, NotebooksError> {
        let token = self.tokens.token().await?;
        let mut req = self
            .http
            .request(method.clone(), url)
            .bearer_auth(token)
            .query(query);
        if method == reqwest::Method::POST {
            // start and stop take an empty request message.
            req = req.json(&serde_json::json!({}));
        }
        let res = req
            .send()
            .await
            .map_err(|e| NotebooksError::Network(e.without_url().to_string()))?;
        let status = res.status().as_u16();
        let body = res
            .text()
            .await
            .map_err(|e| NotebooksError::Network(e.to_string()))?;
        if !(200..300).contains(&status) {
            let (google_status, message) = match serde_json::from_str::<ApiErrorBody>(&body) {
                Ok(b) => (b.error.status, b.error.message),
                Err(_) => (String::new(), body.chars().take(200).collect()),
            };
            return Err(NotebooksError::Status {
                status,
                google_status,
                message,
            });
        }
        serde_json::from_str(&body).map_err(|e| NotebooksError::Decode(e.to_string()))
    }

    /// A read, retried with backoff and jitter while the failure is transient.
    async fn read<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<T, NotebooksError> {
        let url = self.url(path);
        (|| self.send::<T>(reqwest::Method::GET, &url, query))
            .retry(self.retry)
            .when(NotebooksError::is_transient)
            .notify(
                |e, wait| tracing::info!(error = %e, ?wait, "Notebooks API read failed; retrying"),
            )
            .await
    }

    /// `GET v2/{name}`
    pub async fn get_instance(&self, name: &InstanceName) -> Result<ApiInstance, NotebooksError> {
        self.read(name.as_ref(), &[]).await
    }

    /// `GET v2/{parent}/instances`, every page.
    pub async fn list_instances(&self, parent: &str) -> Result<Vec<ApiInstance>, NotebooksError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut query = vec![("pageSize", "100")];
            if let Some(t) = &token {
                query.push(("pageToken", t.as_str()));
            }
            let page: ApiList = self.read(&format!("{parent}/instances"), &query).await?;
            out.extend(page.instances);
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t),
                None => return Ok(out),
            }
        }
    }

    /// `POST v2/{name}:start` or `:stop`, once. Callers guard repeats with a state read.
    pub async fn post_action(
        &self,
        name: &InstanceName,
        action: &str,
    ) -> Result<ApiOperation, NotebooksError> {
        let url = self.url(&format!("{name}:{action}"));
        self.send(reqwest::Method::POST, &url, &[]).await
    }

    /// `GET v2/{operation}`
    pub async fn get_operation(&self, operation: &str) -> Result<ApiOperation, NotebooksError> {
        self.read(operation, &[]).await
    }

    fn backoff(&self) -> impl Iterator<Item = Duration> {
        self.retry.build()
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Polling {
    pub first: Duration,
    pub max: Duration,
    pub timeout: Duration,
}

pub struct Notebooks {
    client: NotebooksClient,
    polling: Polling,
}

impl Notebooks {
    pub fn new(client: NotebooksClient, polling: Polling) -> Self {
        Self { client, polling }
    }

    async fn change(&self, inst: &Instance, start: bool) -> Result<Outcome, BackendError> {
        let (action, permission) = if start {
            ("start", "notebooks.instances.start")
        } else {
            ("stop", "notebooks.instances.stop")
        };
        let mut backoff = self.client.backoff();
        loop {
            let current = self
                .client
                .get_instance(&inst.name)
                .await
                .map_err(|e| e.explain("notebooks.instances.get", &inst.name))?
                .status();
            let already = if start {
                current.state.is_running_or_coming_up()
            } else {
                current.state.is_stopped_or_going_down()
            };
            if already {
                return Ok(Outcome::AlreadyThere(current));
            }
            let may = if start {
                matches!(current.state, State::Stopped)
            } else {
                matches!(current.state, State::Active)
            };
            if !may {
                return Err(wrong_state(inst, &current.state, action));
            }
            match self.client.post_action(&inst.name, action).await {
                Ok(op) if op.done => return self.finish(inst, op, action).await,
                Ok(op) => return Ok(Outcome::Pending { operation: op.name }),
                Err(e) if e.is_transient() => match backoff.next() {
                    Some(wait) => {
                        tracing::info!(error = %e, ?wait, instance = %inst.name, "{action} failed; will re-read the state and retry");
                        tokio::time::sleep(wait).await;
                    }
                    None => return Err(e.explain(permission, &inst.name)),
                },
                Err(e) => return Err(e.explain(permission, &inst.name)),
            }
        }
    }

    /// A finished operation: its error, or the instance it returned (read afresh
    /// when the response does not carry one).
    async fn finish(
        &self,
        inst: &Instance,
        op: ApiOperation,
        action: &str,
    ) -> Result<Outcome, BackendError> {
        if let Some(err) = op.error {
            return Err(BackendError::Google(format!(
                "the {action} operation on {} failed: {} (code {})",
                inst.alias, err.message, err.code
            )));
        }
        let from_response = op
            .response
            .and_then(|r| serde_json::from_value::<ApiInstance>(r).ok())
            .filter(|i| i.state.is_some());
        let instance = match from_response {
            Some(i) => i,
            None => self
                .client
                .get_instance(&inst.name)
                .await
                .map_err(|e| e.explain("notebooks.instances.get", &inst.name))?,
        };
        Ok(Outcome::Done(instance.status()))
    }
}

fn wrong_state(inst: &Instance, state: &State, action: &'static str) -> BackendError {
    let hint = match (state, action) {
        (State::Stopping, "start") => "; wait until it has stopped, then start it".to_owned(),
        (State::Starting | State::Provisioning | State::Initializing, "stop") => {
            "; wait until it is running, then stop it".to_owned()
        }
        (State::Deleted, _) => "; the platform team should remove it from the config".to_owned(),
        (State::Orphaned, _) => {
            "; its VM is gone, so ask the platform team to look at it".to_owned()
        }
        _ => format!("; ask the platform team if it stays {state}"),
    };
    BackendError::WrongState {
        alias: inst.alias.to_string(),
        state: state.clone(),
        verb: action,
        hint,
    }
}

#[async_trait]
impl Backend for Notebooks {
    fn kind(&self) -> BackendKind {
        BackendKind::Notebooks
    }

    async fn status(&self, inst: &Instance) -> Result<InstanceStatus, BackendError> {
        self.client
            .get_instance(&inst.name)
            .await
            .map(|i| i.status())
            .map_err(|e| e.explain("notebooks.instances.get", &inst.name))
    }

    async fn statuses(&self, insts: &[&Instance]) -> Vec<Result<InstanceStatus, BackendError>> {
        // One paged list per location instead of one read per instance.
        let mut by_parent: HashMap<&str, Result<HashMap<String, InstanceStatus>, BackendError>> =
            HashMap::new();
        for inst in insts {
            let parent = inst.name.parent();
            if !by_parent.contains_key(parent) {
                let listed = self
                    .client
                    .list_instances(parent)
                    .await
                    .map(|all| {
                        all.into_iter()
                            .map(|i| (i.name.clone(), i.status()))
                            .collect()
                    })
                    .map_err(|e| e.explain("notebooks.instances.list", &inst.name));
                by_parent.insert(parent, listed);
            }
        }
        insts
            .iter()
            .map(|inst| match &by_parent[inst.name.parent()] {
                Ok(found) => found.get(inst.name.as_ref()).cloned().ok_or_else(|| {
                    NotebooksError::Status {
                        status: 404,
                        google_status: "NOT_FOUND".into(),
                        message: String::new(),
                    }
                    .explain("notebooks.instances.get", &inst.name)
                }),
                Err(e) => Err(e.clone()),
            })
            .collect()
    }

    async fn start(&self, inst: &Instance, _ctx: &ActContext) -> Result<Outcome, BackendError> {
        self.change(inst, true).await
    }

    async fn stop(&self, inst: &Instance, _ctx: &ActContext) -> Result<Outcome, BackendError> {
        self.change(inst, false).await
    }

    async fn wait(&self, inst: &Instance, operation: &str) -> Result<Outcome, BackendError> {
        let started = Instant::now();
        let mut interval = self.polling.first;
        loop {
            let op = self
                .client
                .get_operation(operation)
                .await
                .map_err(|e| e.explain("notebooks.operations.get", &inst.name))?;
            if op.done {
                return self.finish(inst, op, "requested").await;
            }
            let left = self.polling.timeout.saturating_sub(started.elapsed());
            if left.is_zero() {
                let what = self
                    .client
                    .get_instance(&inst.name)
                    .await
                    .map(|i| i.status().state.describe().to_owned())
                    .unwrap_or_else(|_| "changing".into());
                return Err(BackendError::StillRunning {
                    alias: inst.alias.to_string(),
                    what,
                    waited_secs: started.elapsed().as_secs(),
                });
            }
            tokio::time::sleep(interval.min(left)).await;
            interval = (interval * 2).min(self.polling.max);
        }
    }
}

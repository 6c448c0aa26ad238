//! A typed client for the few Notebooks API v2 methods the bot uses, and the
//! wire types they exchange. Every path, method and field is in Google's
//! discovery document (`shared/reference/notebooks-v2-discovery.json`); a test
//! checks that. Reads are retried with backoff and jitter on 429, 5xx and network
//! errors; actions are sent once, and the caller guards repeats.

use crate::act::{Accelerator, InstanceStatus, State};
use crate::domain::InstanceName;
use crate::settings::Secret;
use backon::{BackoffBuilder, ExponentialBuilder, Retryable};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

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
        self.access_token().await.map_err(NotebooksError::Token)
    }

    /// A bearer token for Google's APIs (the Cloud Monitoring client's too).
    pub(crate) async fn access_token(&self) -> Result<String, gcp_auth::Error> {
        match self {
            TokenSource::Static(s) => Ok(s.expose().to_owned()),
            TokenSource::Provider(p) => p.token(&[SCOPE]).await.map(|t| t.as_str().to_owned()),
        }
    }
}

/// A failure talking to the Notebooks API, before it is put in a person's words.
#[derive(Debug, thiserror::Error)]
pub enum NotebooksError {
    #[error("could not get a Google access token: {0}")]
    Token(#[source] gcp_auth::Error),
    #[error("Google answered HTTP {status}: {message}")]
    Status {
        status: u16,
        google_status: String,
        message: String,
        /// Google's `Retry-After`, in seconds, when it sent one.
        retry_after: Option<Duration>,
    },
    #[error("could not reach the Notebooks API: {0}")]
    Network(#[source] reqwest::Error),
    #[error(
        "the Notebooks API did not answer in time; Google is slow or unreachable right now, try again in a minute"
    )]
    Timeout(#[source] reqwest::Error),
    #[error("the Notebooks API answered something unreadable: {0}")]
    Decode(#[source] serde_json::Error),
    #[error("the operation failed: {message} (code {code})")]
    Operation { code: i32, message: String },
}

impl NotebooksError {
    /// Worth repeating a read: rate limits, Google's own errors, the network.
    pub(super) fn is_transient(&self) -> bool {
        match self {
            NotebooksError::Status { status, .. } => *status == 429 || *status >= 500,
            NotebooksError::Network(_) | NotebooksError::Timeout(_) => true,
            _ => false,
        }
    }

    /// The wait before the next try: the planned backoff, stretched to Google's
    /// `Retry-After` when it asked for longer. `None` (give up) when the backoff
    /// is spent, or when Google asks for a wait longer than a person should be
    /// kept waiting for an answer.
    pub(super) fn wait_before_retry(&self, planned: Option<Duration>) -> Option<Duration> {
        match self {
            NotebooksError::Status {
                retry_after: Some(asked),
                ..
            } if *asked > RETRY_AFTER_CAP => None,
            NotebooksError::Status {
                retry_after: Some(asked),
                ..
            } => planned.map(|p| p.max(*asked)),
            _ => planned,
        }
    }
}

/// The longest `Retry-After` the bot waits out inside one request.
pub const RETRY_AFTER_CAP: Duration = Duration::from_secs(10);

/// `Retry-After` in seconds (Google sends seconds, not an HTTP date).
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
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
    /// Output only: the Compute Engine id of its VM.
    #[serde(default)]
    pub instance_id: Option<String>,
    #[serde(default)]
    pub metadata: std::collections::BTreeMap<String, String>,
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

/// Google's error body, as every Google API sends it.
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

/// The HTTP client of a Google API: each call bounded by `timeout`.
pub(crate) fn google_http(timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .user_agent(concat!("workbench-bot/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// A Google API's answer other than 2xx, in Google's own words.
#[derive(Debug)]
pub(crate) struct Refused {
    pub status: u16,
    /// Google's status name (`PERMISSION_DENIED`), empty when the body is
    /// not Google's (a proxy's page).
    pub google_status: String,
    pub message: String,
    /// Google's `Retry-After`, in seconds, when it sent one.
    pub retry_after: Option<Duration>,
}

/// Reads a Google API's answer whole: its body on 2xx, else what Google
/// said (the Notebooks and Cloud Monitoring clients share this).
pub(crate) async fn google_answer(
    res: reqwest::Response,
) -> Result<Result<String, Refused>, reqwest::Error> {
    let status = res.status().as_u16();
    let retry_after = retry_after(res.headers());
    let body = res.text().await?;
    if (200..300).contains(&status) {
        return Ok(Ok(body));
    }
    let (google_status, message) = match serde_json::from_str::<ApiErrorBody>(&body) {
        Ok(b) => (b.error.status, b.error.message),
        Err(_) => (String::new(), body.chars().take(200).collect()),
    };
    Ok(Err(Refused {
        status,
        google_status,
        message,
        retry_after,
    }))
}

impl From<Refused> for NotebooksError {
    fn from(r: Refused) -> Self {
        NotebooksError::Status {
            status: r.status,
            google_status: r.google_status,
            message: r.message,
            retry_after: r.retry_after,
        }
    }
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
                            Some(Accelerator {
                                kind: a.kind.clone()?,
                                // Google sends the count as a string (int64).
                                count: a
                                    .core_count
                                    .as_deref()
                                    .and_then(|n| n.parse().ok())
                                    .unwrap_or(1),
                            })
                        })
                        .collect()
                })
                .unwrap_or_default(),
            update_time: self.update_time.clone(),
            proxy_uri: self.proxy_uri.clone().filter(|p| !p.is_empty()),
            vm_id: setup
                .and_then(|g| g.instance_id.clone())
                .filter(|id| !id.is_empty()),
            // Workbench's idle shutdown reads this key; "0" or junk is off.
            idle_shutdown_seconds: setup
                .and_then(|g| g.metadata.get("idle-timeout-seconds"))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .filter(|s| *s > 0),
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
    pub fn new(
        base: &str,
        tokens: TokenSource,
        first_retry: Duration,
        timeout: Duration,
    ) -> Result<Self, crate::act::SetupError> {
        let http = google_http(timeout).map_err(crate::act::SetupError::NotebooksClient)?;
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
        let res = req.send().await.map_err(|e| {
            if e.is_timeout() {
                NotebooksError::Timeout(e.without_url())
            } else {
                NotebooksError::Network(e.without_url())
            }
        })?;
        let body = google_answer(res)
            .await
            .map_err(NotebooksError::Network)??;
        serde_json::from_str(&body).map_err(NotebooksError::Decode)
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
            .adjust(|e, planned| e.wait_before_retry(planned))
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

    pub(super) fn backoff(&self) -> impl Iterator<Item = Duration> {
        self.retry.build()
    }
}

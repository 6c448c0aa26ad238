//! A typed client for the one Cloud Monitoring v3 method the bot uses,
//! `projects.timeSeries.list`, and the wire types it returns. Every path,
//! query parameter and field is in Google's discovery document
//! (`shared/reference/monitoring-v3-discovery.json`); the tests' fake checks
//! that. Like the Notebooks client: reads retried with backoff and jitter on
//! 429, 5xx and network errors, each call bounded by a timeout.

use crate::act::{Refused, TokenSource, google_answer, google_http};
use backon::{ExponentialBuilder, Retryable};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;
use std::time::Duration;

/// A failure reading Cloud Monitoring, before it is put in a person's words.
#[derive(Debug, thiserror::Error)]
pub enum MonitoringError {
    #[error("could not get a Google access token for Cloud Monitoring: {0}")]
    Token(#[source] gcp_auth::Error),
    #[error("Cloud Monitoring answered HTTP {status}: {message}")]
    Status {
        status: u16,
        google_status: String,
        message: String,
        retry_after: Option<Duration>,
    },
    #[error("could not reach Cloud Monitoring: {0}")]
    Network(#[source] reqwest::Error),
    #[error("Cloud Monitoring did not answer in time")]
    Timeout(#[source] reqwest::Error),
    #[error("Cloud Monitoring answered something unreadable: {0}")]
    Decode(#[source] serde_json::Error),
    #[error("Cloud Monitoring sent more pages than a window of minutes needs")]
    TooManyPages,
}

impl From<Refused> for MonitoringError {
    fn from(r: Refused) -> Self {
        MonitoringError::Status {
            status: r.status,
            google_status: r.google_status,
            message: r.message,
            retry_after: r.retry_after,
        }
    }
}

impl MonitoringError {
    fn is_transient(&self) -> bool {
        match self {
            MonitoringError::Status { status, .. } => *status == 429 || *status >= 500,
            MonitoringError::Network(_) | MonitoringError::Timeout(_) => true,
            _ => false,
        }
    }

    /// Google's `Retry-After` when it asked for longer than planned.
    fn wait(&self, planned: Option<Duration>) -> Option<Duration> {
        match self {
            MonitoringError::Status {
                retry_after: Some(asked),
                ..
            } => planned.map(|p| p.max(*asked)),
            _ => planned,
        }
    }
}

/// `ListTimeSeriesResponse`, the fields the bot reads.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApiTimeSeriesList {
    #[serde(default)]
    time_series: Vec<ApiTimeSeries>,
    #[serde(default)]
    next_page_token: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ApiTimeSeries {
    #[serde(default)]
    points: Vec<ApiPoint>,
}

#[derive(Debug, Deserialize)]
struct ApiPoint {
    interval: ApiInterval,
    value: ApiTypedValue,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApiInterval {
    end_time: DateTime<Utc>,
}

/// `TypedValue`: a utilisation is a double; an aligned int64 arrives as a string.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApiTypedValue {
    #[serde(default)]
    double_value: Option<f64>,
    #[serde(default)]
    int64_value: Option<String>,
}

/// One value per aligned minute: the end of its minute, and the value.
pub type Points = Vec<(DateTime<Utc>, f64)>;

/// Which series to read, for which VM, over which interval.
pub struct Query<'a> {
    /// `projects/P`, from the instance's resource path.
    pub project: &'a str,
    pub metric: &'a str,
    /// The Compute Engine id of the VM (`gceSetup.instanceId`).
    pub vm_id: &'a str,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// The longest a window of minutes may page on: a window is a few hundred
/// points, one page; more is a misbehaving answer, not data.
const MAX_PAGES: usize = 5;

#[derive(Clone)]
pub struct MonitoringClient {
    http: reqwest::Client,
    base: String,
    tokens: TokenSource,
    retry: ExponentialBuilder,
}

impl MonitoringClient {
    pub fn new(
        base: &str,
        tokens: TokenSource,
        first_retry: Duration,
        timeout: Duration,
    ) -> Result<Self, reqwest::Error> {
        let http = google_http(timeout)?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            tokens,
            retry: ExponentialBuilder::default()
                .with_jitter()
                .with_min_delay(first_retry)
                .with_max_delay(first_retry * 8)
                .with_max_times(3),
        })
    }

    /// The series of one VM's metric, aligned to one value a minute (the
    /// mean of the minute) and reduced to one series (the highest: a VM with
    /// several GPUs is idle only when all are). `None`: Monitoring has no
    /// such series in the interval at all.
    pub async fn per_minute(&self, q: &Query<'_>) -> Result<Option<Points>, MonitoringError> {
        let filter = format!(
            "metric.type = \"{}\" AND resource.type = \"gce_instance\" AND resource.labels.instance_id = \"{}\"",
            q.metric, q.vm_id
        );
        let start = q.start.to_rfc3339_opts(SecondsFormat::Secs, true);
        let end = q.end.to_rfc3339_opts(SecondsFormat::Secs, true);
        let mut series = 0;
        let mut points = Points::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut query = vec![
                ("filter", filter.as_str()),
                ("interval.startTime", start.as_str()),
                ("interval.endTime", end.as_str()),
                ("aggregation.alignmentPeriod", "60s"),
                ("aggregation.perSeriesAligner", "ALIGN_MEAN"),
                ("aggregation.crossSeriesReducer", "REDUCE_MAX"),
                ("view", "FULL"),
            ];
            if let Some(t) = &token {
                query.push(("pageToken", t.as_str()));
            }
            let page = self.read(q.project, &query).await?;
            series += page.time_series.len();
            for p in page.time_series.into_iter().flat_map(|s| s.points) {
                let value = p
                    .value
                    .double_value
                    .or_else(|| p.value.int64_value.and_then(|v| v.parse().ok()));
                if let Some(v) = value.filter(|v| v.is_finite()) {
                    points.push((p.interval.end_time, v));
                }
            }
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t),
                None => return Ok((series > 0).then_some(points)),
            }
        }
        Err(MonitoringError::TooManyPages)
    }

    /// `GET v3/{name}/timeSeries`, retried while the failure is transient.
    async fn read(
        &self,
        project: &str,
        query: &[(&str, &str)],
    ) -> Result<ApiTimeSeriesList, MonitoringError> {
        let url = format!("{}/v3/{project}/timeSeries", self.base);
        (|| self.send(&url, query))
            .retry(self.retry)
            .when(MonitoringError::is_transient)
            .adjust(|e, planned| e.wait(planned))
            .notify(|e, wait| tracing::info!(error = %e, ?wait, "Cloud Monitoring read failed; retrying"))
            .await
    }

    async fn send(
        &self,
        url: &str,
        query: &[(&str, &str)],
    ) -> Result<ApiTimeSeriesList, MonitoringError> {
        let token = self
            .tokens
            .access_token()
            .await
            .map_err(MonitoringError::Token)?;
        let res = self
            .http
            .get(url)
            .bearer_auth(token)
            .query(query)
            .send()
            .await
            .map_err(|e| match e.is_timeout() {
                true => MonitoringError::Timeout(e.without_url()),
                false => MonitoringError::Network(e.without_url()),
            })?;
        let body = google_answer(res)
            .await
            .map_err(MonitoringError::Network)??;
        serde_json::from_str(&body).map_err(MonitoringError::Decode)
    }
}

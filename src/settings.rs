//! What the bot reads from its environment: secrets and base URLs.
//!
//! Secrets never live in the config file and never reach a log: [`Secret`] prints
//! as `***`. Tests build [`Settings`] directly instead of setting process-wide
//! variables, so they can run in parallel.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// A value that must never be logged or echoed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// What "now" is for timers; tests move it forward.
    pub clock: crate::clock::Clock,
    pub slack_signing_secret: Option<Secret>,
    /// Also accepted while set, so the signing secret rotates without a
    /// refused request.
    pub slack_signing_secret_previous: Option<Secret>,
    pub slack_bot_token: Option<Secret>,
    pub slack_app_token: Option<Secret>,
    pub slack_api_url: String,
    pub github_api_url: Option<String>,
    pub github_token: Option<Secret>,
    pub github_app_id: Option<u64>,
    pub github_app_private_key: Option<Secret>,
    pub github_app_installation_id: Option<u64>,
    pub notebooks_api_url: String,
    /// Cloud Monitoring v3, read for instances with `idle_minutes`.
    pub monitoring_api_url: String,
    pub google_oauth_access_token: Option<Secret>,
    /// A service-account key file (ADC); its `token_uri` is honoured.
    pub google_application_credentials: Option<PathBuf>,
    /// Shared with the ops workflow: the bot signs each dispatch with it, and
    /// `handle-dispatch` refuses what it did not sign.
    pub dispatch_secret: Option<Secret>,
    /// Also accepted by `handle-dispatch` while set, for rotation.
    pub dispatch_secret_previous: Option<Secret>,
    /// `GITHUB_RUN_ATTEMPT` as the Actions runner sets it: above 1 is a
    /// re-run, which `handle-dispatch` refuses. Kept as text so that a value it
    /// cannot read is refused with a sentence, not a start-up error.
    pub github_run_attempt: Option<String>,
    /// When set, `/metrics` asks for it as a bearer token.
    pub metrics_token: Option<Secret>,
    /// Replaces `store.url` whole; may carry a password, so it is a secret.
    pub database_url: Option<Secret>,
    /// Tuning, not configuration: tests shorten these so they stay fast.
    pub timing: Timing,
    /// Cloud Run's contract: when set, listen on 0.0.0.0:$PORT.
    pub port: Option<u16>,
}

/// Waits between retries and polls of the third-party APIs.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// First wait before retrying a failed call (then doubling, with jitter).
    pub first_retry: Duration,
    /// First wait between polls of a long-running operation (then doubling).
    pub first_poll: Duration,
    pub max_poll: Duration,
    /// Wait between looks for the workflow run a dispatch started.
    pub run_poll: Duration,
    /// The longest one call to Google may take before it counts as failed.
    pub request_timeout: Duration,
    /// The longest one Slack call (a reply, a post, an update) may take,
    /// including the waits a 429 asks for.
    pub slack_timeout: Duration,
    /// The longest one reading of an instance's activity may take, retries
    /// included; past it, its activity is unknown (and so counts as busy).
    pub monitoring_bound: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            first_retry: Duration::from_millis(500),
            first_poll: Duration::from_secs(2),
            max_poll: Duration::from_secs(15),
            run_poll: Duration::from_secs(3),
            request_timeout: Duration::from_secs(30),
            slack_timeout: crate::report::SLACK_TIMEOUT,
            monitoring_bound: Duration::from_secs(10),
        }
    }
}

pub const DEFAULT_SLACK_API_URL: &str = "https://slack.com/api";
pub const DEFAULT_NOTEBOOKS_API_URL: &str = "https://notebooks.googleapis.com";
pub const DEFAULT_MONITORING_API_URL: &str = "https://monitoring.googleapis.com";

/// An environment variable that is set but unusable.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{var} must be a whole number")]
    NotANumber {
        var: &'static str,
        source: std::num::ParseIntError,
    },
    #[error("PORT must be a port number")]
    BadPort(#[source] std::num::ParseIntError),
}

impl Settings {
    pub fn from_env() -> Result<Self, SettingsError> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let secret = |k: &str| var(k).map(Secret::new);
        let number = |k: &'static str| -> Result<Option<u64>, SettingsError> {
            var(k)
                .map(|v| {
                    v.trim()
                        .parse::<u64>()
                        .map_err(|source| SettingsError::NotANumber { var: k, source })
                })
                .transpose()
        };
        Ok(Self {
            slack_signing_secret: secret("SLACK_SIGNING_SECRET"),
            slack_signing_secret_previous: secret("SLACK_SIGNING_SECRET_PREVIOUS"),
            dispatch_secret: secret("WORKBENCH_DISPATCH_SECRET"),
            dispatch_secret_previous: secret("WORKBENCH_DISPATCH_SECRET_PREVIOUS"),
            github_run_attempt: var("GITHUB_RUN_ATTEMPT"),
            metrics_token: secret("WORKBENCH_METRICS_TOKEN"),
            database_url: secret("DATABASE_URL"),
            slack_bot_token: secret("SLACK_BOT_TOKEN"),
            slack_app_token: secret("SLACK_APP_TOKEN"),
            slack_api_url: var("SLACK_API_URL").unwrap_or_else(|| DEFAULT_SLACK_API_URL.into()),
            github_api_url: var("GITHUB_API_URL"),
            github_token: secret("GITHUB_TOKEN"),
            github_app_id: number("GITHUB_APP_ID")?,
            github_app_private_key: secret("GITHUB_APP_PRIVATE_KEY"),
            github_app_installation_id: number("GITHUB_APP_INSTALLATION_ID")?,
            notebooks_api_url: var("NOTEBOOKS_API_URL")
                .unwrap_or_else(|| DEFAULT_NOTEBOOKS_API_URL.into()),
            monitoring_api_url: var("MONITORING_API_URL")
                .unwrap_or_else(|| DEFAULT_MONITORING_API_URL.into()),
            google_oauth_access_token: secret("GOOGLE_OAUTH_ACCESS_TOKEN"),
            google_application_credentials: var("GOOGLE_APPLICATION_CREDENTIALS")
                .map(PathBuf::from),
            timing: Timing::default(),
            clock: crate::clock::Clock::default(),
            port: var("PORT")
                .map(|p| p.trim().parse::<u16>().map_err(SettingsError::BadPort))
                .transpose()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_never_printed() {
        let s = Settings {
            slack_signing_secret: Some(Secret::new("very-secret-value")),
            ..Default::default()
        };
        assert!(!format!("{s:?}").contains("very-secret-value"));
    }
}

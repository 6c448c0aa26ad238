//! The backends this process can use, and the one place they are set up from
//! the config and the environment.
//!
//! The dry-run backend always exists; the others when an instance uses them. A
//! backend whose credentials are missing is left out with a warning, and its
//! instances then answer with a [`SetupError`] naming what is missing, so one
//! broken backend never stops the bot from serving the others.

use super::{ActContext, InstanceStatus, Outcome};
use super::{
    Backend, BackendError, DryRun, Github, Notebooks, NotebooksClient, Polling, TokenSource,
};
use crate::config::{BackendKind, Config, Instance};
use crate::settings::Settings;
use std::path::PathBuf;
use std::sync::Arc;

/// Why a backend could not be set up, or is not there when asked for.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(
        "the notebooks backend is not set up in this bot (Google credentials missing); tell the platform team"
    )]
    NoNotebooks,
    #[error(
        "the github backend is not set up in this bot (GITHUB_TOKEN or GitHub App missing); tell the platform team"
    )]
    NoGithub,
    #[error(
        "GOOGLE_APPLICATION_CREDENTIALS ({}) is not a usable service-account key: {source}",
        path.display()
    )]
    ServiceAccountKey {
        path: PathBuf,
        source: gcp_auth::Error,
    },
    #[error(
        "no Google credentials found (set GOOGLE_APPLICATION_CREDENTIALS or GOOGLE_OAUTH_ACCESS_TOKEN): {0}"
    )]
    NoGoogleCredentials(#[source] gcp_auth::Error),
    #[error("cannot build the Notebooks HTTP client: {0}")]
    NotebooksClient(#[source] reqwest::Error),
    #[error(
        "set GITHUB_TOKEN, or GITHUB_APP_ID, GITHUB_APP_PRIVATE_KEY and GITHUB_APP_INSTALLATION_ID"
    )]
    NoGithubCredentials,
    #[error(
        "a GitHub App needs all of GITHUB_APP_ID, GITHUB_APP_PRIVATE_KEY and GITHUB_APP_INSTALLATION_ID"
    )]
    PartialGithubApp,
    #[error(
        "WORKBENCH_DISPATCH_SECRET is not set: the bot signs every dispatch with it, and the ops workflow refuses unsigned ones"
    )]
    NoDispatchSecret,
    #[error("[backend.github] is missing")]
    NoGithubSection,
    #[error("GITHUB_API_URL \"{url}\" is not a URL: {source}")]
    GithubUrl {
        url: String,
        source: octocrab::Error,
    },
    #[error("GITHUB_APP_PRIVATE_KEY is not an RSA private key in PEM form: {0}")]
    GithubKey(#[source] octocrab::jsonwebtoken::errors::Error),
    #[error("cannot build the GitHub client: {0}")]
    GithubClient(#[source] octocrab::Error),
    #[error("the {} backend cannot follow operations on {alias}", backend.as_str())]
    CannotFollow { backend: BackendKind, alias: String },
    #[error("no status came back for {0}")]
    NoStatus(String),
    #[error("{0} is run through GitHub, and this bot has no Google read access to show its state")]
    NoStatusReader(String),
}

/// The backends this process can use, chosen per instance. Each is wrapped in
/// [`Measured`], so every call's time is on `/metrics`.
#[derive(Clone)]
pub struct Backends {
    dry_run: Arc<DryRun>,
    dry_run_measured: Arc<dyn Backend>,
    notebooks: Option<Arc<dyn Backend>>,
    github: Option<Arc<dyn Backend>>,
    /// The Google credentials the backends were given, for Cloud Monitoring.
    google: Option<TokenSource>,
}

impl Default for Backends {
    fn default() -> Self {
        Self::dry_run_only()
    }
}

impl Backends {
    pub fn dry_run_only() -> Self {
        Self::with(None, None)
    }

    /// Every backend the config uses, each left out with a warning when its
    /// credentials are missing.
    pub async fn build(config: &Config, settings: &Settings) -> Self {
        let mut backends = Self::dry_run_only();
        // A GitHub-only deployment reads Google only with credentials it
        // was given explicitly; it does not go looking for ambient ones.
        let explicit = settings.google_oauth_access_token.is_some()
            || settings.google_application_credentials.is_some();
        let notebooks_used = used(config, BackendKind::Notebooks);
        if notebooks_used || (used(config, BackendKind::Github) && explicit) {
            match google_tokens(settings).await {
                Ok(t) => backends.google = Some(t),
                Err(e) if notebooks_used => {
                    tracing::warn!(error = %e, "the notebooks backend is not available")
                }
                Err(_) => {}
            }
        }
        if let (true, Some(tokens)) = (notebooks_used, &backends.google) {
            match notebooks(config, settings, tokens.clone()) {
                Ok(n) => backends.notebooks = Some(Measured::wrap(Arc::new(n))),
                Err(e) => tracing::warn!(error = %e, "the notebooks backend is not available"),
            }
        }
        if used(config, BackendKind::Github) {
            let reader = match (&backends.notebooks, &backends.google) {
                (Some(n), _) => Some(n.clone()),
                (None, Some(tokens)) => notebooks(config, settings, tokens.clone())
                    .ok()
                    .map(|n| Arc::new(n) as Arc<dyn Backend>),
                (None, None) => None,
            };
            match github(config, settings, reader).await {
                Ok(g) => backends.github = Some(Measured::wrap(Arc::new(g))),
                Err(e) => tracing::warn!(error = %e, "the github backend is not available"),
            }
        }
        backends
    }

    /// Only the Notebooks API, as a GitHub Actions job acting for a dispatch
    /// needs it: there, every instance acts through Google directly.
    pub async fn notebooks_only(config: &Config, settings: &Settings) -> Result<Self, SetupError> {
        let mut backends = Self::dry_run_only();
        let tokens = google_tokens(settings).await?;
        backends.notebooks = Some(Measured::wrap(Arc::new(notebooks(
            config, settings, tokens,
        )?)));
        Ok(backends)
    }

    /// A registry with the given backends, for tests that bring their own.
    pub fn with(notebooks: Option<Arc<dyn Backend>>, github: Option<Arc<dyn Backend>>) -> Self {
        let dry_run = Arc::new(DryRun::default());
        Self {
            dry_run_measured: Measured::wrap(dry_run.clone()),
            dry_run,
            notebooks: notebooks.map(Measured::wrap),
            github: github.map(Measured::wrap),
            google: None,
        }
    }

    /// The Google credentials this deployment has, if any: a dry-run or
    /// GitHub-only deployment without explicit ones has none.
    pub fn google(&self) -> Option<&TokenSource> {
        self.google.as_ref()
    }

    pub fn dry_run(&self) -> &DryRun {
        &self.dry_run
    }

    pub fn get(&self, kind: BackendKind) -> Result<Arc<dyn Backend>, BackendError> {
        match kind {
            BackendKind::DryRun => Ok(self.dry_run_measured.clone()),
            BackendKind::Notebooks => self.notebooks.clone().ok_or(SetupError::NoNotebooks),
            BackendKind::Github => self.github.clone().ok_or(SetupError::NoGithub),
        }
        .map_err(BackendError::from)
    }
}

/// Times every call of the backend it wraps, for `/metrics`.
struct Measured(Arc<dyn Backend>);

impl Measured {
    fn wrap(inner: Arc<dyn Backend>) -> Arc<dyn Backend> {
        Arc::new(Measured(inner))
    }

    async fn time<T>(&self, method: &str, call: impl std::future::Future<Output = T>) -> T {
        let started = std::time::Instant::now();
        let out = call.await;
        crate::metrics::backend_call(
            self.0.kind().as_str(),
            method,
            started.elapsed().as_secs_f64(),
        );
        out
    }
}

#[async_trait::async_trait]
impl Backend for Measured {
    fn kind(&self) -> BackendKind {
        self.0.kind()
    }

    async fn status(&self, inst: &Instance) -> Result<InstanceStatus, BackendError> {
        self.time("status", self.0.status(inst)).await
    }

    async fn statuses(&self, insts: &[&Instance]) -> Vec<Result<InstanceStatus, BackendError>> {
        self.time("statuses", self.0.statuses(insts)).await
    }

    async fn start(&self, inst: &Instance, ctx: &ActContext) -> Result<Outcome, BackendError> {
        self.time("start", self.0.start(inst, ctx)).await
    }

    async fn stop(&self, inst: &Instance, ctx: &ActContext) -> Result<Outcome, BackendError> {
        self.time("stop", self.0.stop(inst, ctx)).await
    }

    async fn handoff_link(&self, ctx: &ActContext) -> Option<String> {
        self.0.handoff_link(ctx).await
    }

    async fn handoff_result(&self, request_id: &str, attempt: u32) -> super::Handoff {
        self.0.handoff_result(request_id, attempt).await
    }

    async fn wait(&self, inst: &Instance, operation: &str) -> Result<Outcome, BackendError> {
        self.time("wait", self.0.wait(inst, operation)).await
    }
}

fn used(config: &Config, kind: BackendKind) -> bool {
    config.default_backend == kind || config.instances.iter().any(|i| i.backend == kind)
}

/// Google credentials, in the order DESIGN.md gives: an access token handed to a
/// workflow step, a service-account key file, then the rest of Application
/// Default Credentials (gcloud's user file, the metadata server on Cloud Run).
pub async fn google_tokens(settings: &Settings) -> Result<TokenSource, SetupError> {
    if let Some(token) = &settings.google_oauth_access_token {
        return Ok(TokenSource::Static(token.clone()));
    }
    if let Some(path) = &settings.google_application_credentials {
        let account = gcp_auth::CustomServiceAccount::from_file(path).map_err(|source| {
            SetupError::ServiceAccountKey {
                path: path.clone(),
                source,
            }
        })?;
        return Ok(TokenSource::Provider(Arc::new(account)));
    }
    gcp_auth::provider()
        .await
        .map(TokenSource::Provider)
        .map_err(SetupError::NoGoogleCredentials)
}

fn notebooks(
    config: &Config,
    settings: &Settings,
    tokens: TokenSource,
) -> Result<Notebooks, SetupError> {
    let client = NotebooksClient::new(
        &settings.notebooks_api_url,
        tokens,
        settings.timing.first_retry,
        settings.timing.request_timeout,
    )?;
    Ok(Notebooks::new(
        client,
        Polling {
            first: settings.timing.first_poll,
            max: settings.timing.max_poll,
            timeout: config.operation_timeout,
        },
    ))
}

/// The GitHub App when all three of its variables are set, else `GITHUB_TOKEN`.
pub fn github_auth(settings: &Settings) -> Result<super::GithubAuth, SetupError> {
    use super::GithubAuth;
    match (
        settings.github_app_id,
        &settings.github_app_private_key,
        settings.github_app_installation_id,
    ) {
        (Some(app_id), Some(key), Some(installation_id)) => Ok(GithubAuth::App {
            app_id,
            // Secrets stored on one line often carry literal \n.
            private_key_pem: key.expose().replace("\\n", "\n"),
            installation_id,
        }),
        (None, None, None) => match &settings.github_token {
            Some(t) => Ok(GithubAuth::Token(t.expose().to_owned())),
            None => Err(SetupError::NoGithubCredentials),
        },
        _ => Err(SetupError::PartialGithubApp),
    }
}

async fn github(
    config: &Config,
    settings: &Settings,
    reader: Option<Arc<dyn Backend>>,
) -> Result<Github, SetupError> {
    let gh = config.github.clone().ok_or(SetupError::NoGithubSection)?;
    let secret = settings
        .dispatch_secret
        .clone()
        .ok_or(SetupError::NoDispatchSecret)?;
    Github::new(
        settings.github_api_url.as_deref(),
        github_auth(settings)?,
        gh,
        secret,
        reader,
        settings.timing.run_poll,
        settings.timing.request_timeout,
    )
}

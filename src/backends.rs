//! Chooses which backends this process sets up, from the config and environment.

use crate::act::Backend;
use crate::act::github::{Github, GithubAuth};
use crate::act::notebooks::{Notebooks, NotebooksClient, Polling, TokenSource};
use crate::config::{BackendKind, Config};
use crate::core::Backends;
use crate::settings::Settings;
use std::sync::Arc;

fn used(config: &Config, kind: BackendKind) -> bool {
    config.default_backend == kind || config.instances.iter().any(|i| i.backend == kind)
}

/// Google credentials, in the order DESIGN.md gives: an access token handed to a
/// workflow step, a service-account key file, then the rest of Application
/// Default Credentials (gcloud's user file, the metadata server on Cloud Run).
pub async fn google_tokens(settings: &Settings) -> Result<TokenSource, String> {
    if let Some(token) = &settings.google_oauth_access_token {
        return Ok(TokenSource::Static(token.clone()));
    }
    if let Some(path) = &settings.google_application_credentials {
        let account = gcp_auth::CustomServiceAccount::from_file(path).map_err(|e| {
            format!(
                "GOOGLE_APPLICATION_CREDENTIALS ({}) is not a usable service-account key: {e}",
                path.display()
            )
        })?;
        return Ok(TokenSource::Provider(Arc::new(account)));
    }
    gcp_auth::provider()
        .await
        .map(TokenSource::Provider)
        .map_err(|e| format!("no Google credentials found (set GOOGLE_APPLICATION_CREDENTIALS or GOOGLE_OAUTH_ACCESS_TOKEN): {e}"))
}

pub async fn notebooks(config: &Config, settings: &Settings) -> Result<Notebooks, String> {
    let tokens = google_tokens(settings).await?;
    let client = NotebooksClient::new(
        &settings.notebooks_api_url,
        tokens,
        settings.timing.first_retry,
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

/// The dry-run backend always exists; the others when an instance uses them.
/// A backend whose credentials are missing is left out with a warning: its
/// instances then answer with a setup error naming what is missing.
pub async fn build(config: &Config, settings: &Settings) -> Result<Backends, String> {
    let mut backends = Backends::dry_run_only();
    if used(config, BackendKind::Notebooks) {
        match notebooks(config, settings).await {
            Ok(n) => backends.notebooks = Some(Arc::new(n)),
            Err(e) => tracing::warn!(error = %e, "the notebooks backend is not available"),
        }
    }
    if used(config, BackendKind::Github) {
        match github(config, settings, backends.notebooks.clone()).await {
            Ok(g) => backends.github = Some(Arc::new(g)),
            Err(e) => tracing::warn!(error = %e, "the github backend is not available"),
        }
    }
    Ok(backends)
}

/// The GitHub App when all three of its variables are set, else `GITHUB_TOKEN`.
pub fn github_auth(settings: &Settings) -> Result<GithubAuth, String> {
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
            None => Err("set GITHUB_TOKEN, or GITHUB_APP_ID, GITHUB_APP_PRIVATE_KEY and GITHUB_APP_INSTALLATION_ID".into()),
        },
        _ => Err("a GitHub App needs all of GITHUB_APP_ID, GITHUB_APP_PRIVATE_KEY and GITHUB_APP_INSTALLATION_ID".into()),
    }
}

async fn github(
    config: &Config,
    settings: &Settings,
    reader: Option<Arc<dyn Backend>>,
) -> Result<Github, String> {
    let gh = config.github.clone().ok_or("[backend.github] is missing")?;
    // Status of GitHub-run instances is read from Google when the bot was given
    // explicit read credentials; it does not go looking for ambient ones.
    let reader = match reader {
        Some(r) => Some(r),
        None if settings.google_oauth_access_token.is_some()
            || settings.google_application_credentials.is_some() =>
        {
            notebooks(config, settings)
                .await
                .ok()
                .map(|n| Arc::new(n) as Arc<dyn Backend>)
        }
        None => None,
    };
    Github::new(
        settings.github_api_url.as_deref(),
        github_auth(settings)?,
        gh,
        reader,
        settings.timing.run_poll,
    )
}

//! Chooses which backends this process sets up, from the config and environment.

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
        tracing::warn!(
            "instances use the github backend, which this build does not include yet; they answer with a setup error"
        );
    }
    Ok(backends)
}

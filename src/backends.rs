//! Chooses which backends this process sets up, from the config and environment.

use crate::config::{BackendKind, Config};
use crate::core::Backends;
use crate::settings::Settings;

/// The dry-run backend always exists; the others only when an instance uses them.
pub async fn build(config: &Config, _settings: &Settings) -> Result<Backends, String> {
    let backends = Backends::dry_run_only();
    for kind in [BackendKind::Notebooks, BackendKind::Github] {
        let used =
            config.default_backend == kind || config.instances.iter().any(|i| i.backend == kind);
        if used {
            tracing::warn!(
                backend = kind.as_str(),
                "instances use this backend but this build does not include it yet; they answer with a setup error"
            );
        }
    }
    Ok(backends)
}

//! GitHub's REST API as the bot uses it: App installation tokens, dispatches,
//! and the workflow runs list (which names the run of the last dispatch).

use super::http::{Call, Fake};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

pub const INSTALLATION_TOKEN: &str = "ghs_fakeInstallationToken0000000000000000";
pub const PAT: &str = "github_pat_fake_for_tests";

/// GitHub's REST API as the bot uses it: installation tokens, dispatches, runs.
pub async fn fake_github() -> Fake {
    let last_request_id: Arc<Mutex<Option<String>>> = Arc::default();
    Fake::start(Arc::new(move |call: &Call| {
        let path = call.path.as_str();
        if call.method == "POST" && path == "/app/installations/4242/access_tokens" {
            let bearer = call.header("authorization").unwrap_or_default();
            // An App JWT: three base64url parts.
            if !bearer.starts_with("Bearer ") || bearer.split('.').count() != 3 {
                return (401, json!({"message": "A JSON web token could not be decoded"}));
            }
            return (
                201,
                json!({"token": INSTALLATION_TOKEN, "expires_at": "2099-01-01T00:00:00Z",
                       "permissions": {"contents": "write", "actions": "read", "metadata": "read"},
                       "repository_selection": "selected"}),
            );
        }
        let auth = call.header("authorization").unwrap_or_default();
        if !(auth.ends_with(INSTALLATION_TOKEN) || auth.ends_with(PAT)) {
            return (401, json!({"message": "Bad credentials"}));
        }
        match (call.method.as_str(), path) {
            ("POST", "/repos/example-org/notebook-ops/dispatches") => {
                let id = call.json()["client_payload"]["request_id"].as_str().map(str::to_owned);
                *last_request_id.lock().unwrap() = id;
                (204, Value::Null)
            }
            ("GET", "/repos/example-org/notebook-ops/actions/runs") => {
                let id = last_request_id.lock().unwrap().clone().unwrap_or_default();
                (200, json!({"total_count": 2, "workflow_runs": [
                    {"id": 1, "display_title": "stop bar (someone-else)", "html_url": "https://github.com/example-org/notebook-ops/actions/runs/1", "status": "completed"},
                    {"id": 2, "display_title": format!("start foo ({id})"), "html_url": "https://github.com/example-org/notebook-ops/actions/runs/2", "status": "in_progress"}
                ]}))
            }
            _ => (404, json!({"message": "Not Found"})),
        }
    }))
    .await
}

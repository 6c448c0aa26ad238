//! GitHub's REST API as the bot uses it: App installation tokens, dispatches,
//! and the workflow runs list (which names the run of the last dispatch).

use super::http::{Call, Fake};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

pub const INSTALLATION_TOKEN: &str = "ghs_fakeInstallationToken0000000000000000";
pub const PAT: &str = "github_pat_fake_for_tests";

/// The workflow runs the fake reports: one per dispatch, named as the
/// workflow's `run-name` names it, ending as the test says.
#[derive(Clone, Default)]
pub struct Runs(Arc<Mutex<RunsState>>);

#[derive(Default)]
struct RunsState {
    /// (display_title, status, conclusion)
    runs: Vec<(String, String, Option<String>)>,
    /// How the next dispatch's run stands: in progress unless set.
    next: Option<(String, Option<String>)>,
    /// The runs list answers 403, as for an App without Actions: read.
    refuse: bool,
}

impl Runs {
    /// Every run of a later dispatch reads as `status` / `conclusion`.
    pub fn next_runs(&self, status: &str, conclusion: Option<&str>) {
        self.0.lock().unwrap().next = Some((status.into(), conclusion.map(Into::into)));
    }

    /// Every run so far now reads as `status` / `conclusion`.
    pub fn conclude_all(&self, status: &str, conclusion: Option<&str>) {
        for run in &mut self.0.lock().unwrap().runs {
            run.1 = status.into();
            run.2 = conclusion.map(Into::into);
        }
    }

    /// From now on the runs list is refused (no Actions: read).
    pub fn refuse_listing(&self) {
        self.0.lock().unwrap().refuse = true;
    }

    /// The runs so far no longer show up (deleted, or never started).
    pub fn forget(&self) {
        self.0.lock().unwrap().runs.clear();
    }

    pub fn titles(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap()
            .runs
            .iter()
            .map(|r| r.0.clone())
            .collect()
    }
}

/// GitHub's REST API as the bot uses it: installation tokens, dispatches, runs.
pub async fn fake_github() -> Fake {
    fake_github_runs().await.0
}

/// The same, with the runs it reports in the test's hands.
pub async fn fake_github_runs() -> (Fake, Runs) {
    let runs = Runs::default();
    let shared = runs.clone();
    let fake = Fake::start(Arc::new(move |call: &Call| {
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
                // The run name the workflow's `run-name` gives this dispatch.
                let p = &call.json()["client_payload"];
                let attempt = match p["workbench"]["attempt"].as_u64() {
                    Some(n) if n > 1 => format!(" attempt {n}"),
                    _ => String::new(),
                };
                let title = format!(
                    "{} {} ({}{attempt})",
                    p["command"].as_str().unwrap_or_default(),
                    p["notebook"].as_str().unwrap_or_default(),
                    p["request_id"].as_str().unwrap_or_default()
                );
                let mut st = shared.0.lock().unwrap();
                let (status, conclusion) =
                    st.next.clone().unwrap_or(("in_progress".into(), None));
                st.runs.push((title, status, conclusion));
                (204, Value::Null)
            }
            ("GET", "/repos/example-org/notebook-ops/actions/runs") => {
                let st = shared.0.lock().unwrap();
                if st.refuse {
                    return (403, json!({"message": "Resource not accessible by integration"}));
                }
                // Newest first, as GitHub lists them.
                let mut listed = Vec::new();
                for (i, (title, status, conclusion)) in st.runs.iter().enumerate().rev() {
                    listed.push(json!({"id": i + 2, "display_title": title, "html_url": format!("https://github.com/example-org/notebook-ops/actions/runs/{}", i + 2), "status": status, "conclusion": conclusion}));
                }
                listed.push(json!({"id": 1, "display_title": "stop bar (someone-else)", "html_url": "https://github.com/example-org/notebook-ops/actions/runs/1", "status": "completed", "conclusion": "success"}));
                (200, json!({"total_count": listed.len(), "workflow_runs": listed}))
            }
            _ => (404, json!({"message": "Not Found"})),
        }
    }))
    .await;
    (fake, runs)
}

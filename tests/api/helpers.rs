//! Shared test harness: the real app on 127.0.0.1:0, its own store file, and
//! recording fakes of the outside world.

#![allow(dead_code)]

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use workbench_bot::App;
use workbench_bot::config::Config;
use workbench_bot::settings::{Secret, Settings};
use workbench_bot::startup::Application;
use workbench_bot::verify::sign;

pub const SECRET: &str = "test-signing-secret";
pub const BOT_TOKEN: &str = "xoxb-test-token";
pub const DISPATCH_SECRET: &str = "test-dispatch-secret";
pub const TEAM: &str = "T0123ABCD";
pub const OPERATOR: &str = "U01AAAAAAAA";
pub const OPERATOR2: &str = "U01BBBBBBBB";
pub const ADMIN: &str = "U02CCCCCCCC";
pub const STRANGER: &str = "U09ZZZZZZZZ";
pub const FOO_PATH: &str =
    "projects/example-project/locations/us-central1-a/instances/research-and-development-foo";

/// One request that reached a fake.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: HeaderMap,
    pub body: String,
}

impl Call {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `text` a Slack message call carried (JSON or form body).
    pub fn text(&self) -> String {
        if let Some(t) = self.json().get("text").and_then(|t| t.as_str()) {
            return t.to_owned();
        }
        serde_urlencoded::from_str::<Vec<(String, String)>>(&self.body)
            .ok()
            .and_then(|f| f.into_iter().find(|(k, _)| k == "text").map(|(_, v)| v))
            .unwrap_or_default()
    }
}

pub type Responder = Arc<dyn Fn(&Call) -> (u16, Value) + Send + Sync>;

/// A recording HTTP fake on 127.0.0.1:0 whose answers come from a responder.
#[derive(Clone)]
pub struct Fake {
    pub url: String,
    calls: Arc<Mutex<Vec<Call>>>,
}

impl Fake {
    pub async fn start(responder: Responder) -> Self {
        let calls: Arc<Mutex<Vec<Call>>> = Arc::default();
        let recorded = calls.clone();
        let router = Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let recorded = recorded.clone();
                let responder = responder.clone();
                async move {
                    let call = Call {
                        method: method.to_string(),
                        path: uri.path().to_owned(),
                        query: uri.query().unwrap_or_default().to_owned(),
                        headers,
                        body: String::from_utf8_lossy(&body).into_owned(),
                    };
                    let (status, value) = responder(&call);
                    recorded.lock().unwrap().push(call);
                    if status == 204 {
                        return StatusCode::NO_CONTENT.into_response();
                    }
                    (StatusCode::from_u16(status).unwrap(), axum::Json(value)).into_response()
                }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Self { url, calls }
    }

    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    pub fn calls_to(&self, path_suffix: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.path.ends_with(path_suffix))
            .collect()
    }

    /// Waits until `n` calls whose path ends with `suffix` arrived, or panics.
    pub async fn wait_for(&self, suffix: &str, n: usize) -> Vec<Call> {
        let calls = wait_until(Duration::from_secs(10), || {
            let c = self.calls_to(suffix);
            (c.len() >= n).then_some(c)
        })
        .await;
        calls.unwrap_or_else(|| panic!("expected {n} call(s) to {suffix}; got {:#?}", self.calls()))
    }
}

/// Slack Web API and response_url fake, with answers shaped as Slack documents them.
pub async fn fake_slack() -> Fake {
    Fake::start(Arc::new(slack_answer)).await
}

/// How the fake Slack answers a call.
pub fn slack_answer(call: &Call) -> (u16, Value) {
    {
        let body = call.json();
        let channel = body.get("channel").cloned().unwrap_or(json!("C0CHANNEL"));
        match call.path.as_str() {
            "/api/chat.postMessage" => (
                200,
                json!({"ok": true, "channel": channel, "ts": "1700000100.000200",
                       "message": {"type": "message", "ts": "1700000100.000200", "text": body.get("text"), "bot_id": "B0OURBOT"}}),
            ),
            "/api/chat.update" => (
                200,
                json!({"ok": true, "channel": channel, "ts": body.get("ts"), "text": body.get("text"),
                       "message": {"text": body.get("text")}}),
            ),
            p if p.starts_with("/response/") => (200, json!({"ok": true})),
            _ => (200, json!({"ok": true})),
        }
    }
}

pub fn base_config(store_url: &str, extra: &str) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:0"

[store]
url = "{store_url}"

[slack]
command = "/notebook"
teams = ["{TEAM}"]
workflow_bots = ["B0WORKFLOW1"]

[backend]
default = "dry-run"

[backend.github]
repository = "example-org/notebook-ops"
event_type = "control_vertex_ai_workbench_notebook"

[limits]
per_user_per_minute = 10

[groups]
researchers = ["{OPERATOR}", "{OPERATOR2}"]
platform = ["{ADMIN}"]

[access]
admins = ["@platform"]

[[instance]]
alias = "foo"
name = "{FOO_PATH}"
operators = ["@researchers", "workflow:B0WORKFLOW1"]
viewers = ["*"]

[[instance]]
alias = "secret"
name = "projects/example-project/locations/us-central1-a/instances/secret-project"
operators = ["{OPERATOR}"]
{extra}
"#
    )
}

pub struct TestApp {
    pub url: String,
    pub app: Arc<App>,
    pub slack: Fake,
    pub dir: tempfile::TempDir,
    pub store_url: String,
    http: reqwest::Client,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

#[derive(Default)]
pub struct Spawn {
    /// Another process's store, to run a second replica beside it.
    pub store_url: Option<String>,
    pub extra_config: String,
    pub replace: Vec<(String, String)>,
    pub settings: Settings,
    pub dir: Option<tempfile::TempDir>,
}

pub async fn spawn_app() -> TestApp {
    spawn_with(Spawn::default()).await
}

pub async fn spawn_with(opts: Spawn) -> TestApp {
    let slack = fake_slack().await;
    spawn_with_slack(opts, slack).await
}

pub async fn spawn_with_slack(opts: Spawn, slack: Fake) -> TestApp {
    let dir = opts.dir.unwrap_or_else(|| tempfile::tempdir().unwrap());
    let store_url = opts
        .store_url
        .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("audit.db").display()));
    let mut text = base_config(&store_url, &opts.extra_config);
    for (from, to) in &opts.replace {
        assert!(text.contains(from.as_str()), "config has no {from}");
        text = text.replace(from.as_str(), to);
    }
    let config = Config::parse(&text).unwrap_or_else(|p| panic!("test config invalid: {p:?}"));
    let mut settings = opts.settings;
    settings
        .slack_signing_secret
        .get_or_insert(Secret::new(SECRET));
    settings
        .slack_bot_token
        .get_or_insert(Secret::new(BOT_TOKEN));
    if settings.slack_api_url.is_empty() {
        settings.slack_api_url = format!("{}/api", slack.url);
    }
    if settings.notebooks_api_url.is_empty() {
        settings.notebooks_api_url = "http://127.0.0.1:9".into();
    }
    let application = Application::build(config, settings)
        .await
        .expect("app builds");
    let url = format!("http://127.0.0.1:{}", application.port());
    let app = application.app();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        application
            .run_until(
                async move {
                    let _ = rx.await;
                },
                Duration::from_secs(5),
            )
            .await
            .unwrap();
    });
    TestApp {
        url,
        app,
        slack,
        dir,
        store_url,
        http: reqwest::Client::new(),
        shutdown: Some(tx),
        server: Some(server),
    }
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

pub fn command_form(user: &str, text: &str, response_url: &str, team: &str) -> String {
    serde_urlencoded::to_string([
        ("token", "legacy-token-unused"),
        ("team_id", team),
        ("team_domain", "example"),
        ("channel_id", "C0CHANNEL"),
        ("channel_name", "research"),
        ("user_id", user),
        ("user_name", "someone"),
        ("command", "/notebook"),
        ("text", text),
        ("api_app_id", "A0OURAPP"),
        ("is_enterprise_install", "false"),
        ("response_url", response_url),
        ("trigger_id", "13345224609.738474920.8088930838d88f008e0"),
    ])
    .unwrap()
}

impl TestApp {
    pub fn response_url(&self, n: u32) -> String {
        format!("{}/response/{n}", self.slack.url)
    }

    /// POSTs a body signed at `ts` with `secret`.
    pub async fn post_signed(
        &self,
        path: &str,
        content_type: &str,
        body: &str,
        secret: &str,
        ts: i64,
    ) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.url))
            .header("content-type", content_type)
            .header("x-slack-request-timestamp", ts.to_string())
            .header("x-slack-signature", sign(secret, ts, body))
            .body(body.to_owned())
            .send()
            .await
            .unwrap()
    }

    pub async fn command(&self, user: &str, text: &str) -> reqwest::Response {
        let form = command_form(user, text, &self.response_url(1), TEAM);
        self.post_signed(
            "/slack/commands",
            "application/x-www-form-urlencoded",
            &form,
            SECRET,
            now(),
        )
        .await
    }

    pub async fn event(&self, body: &Value, retry: Option<u32>) -> reqwest::Response {
        let text = body.to_string();
        let ts = now();
        let mut req = self
            .http
            .post(format!("{}/slack/events", self.url))
            .header("content-type", "application/json")
            .header("x-slack-request-timestamp", ts.to_string())
            .header("x-slack-signature", sign(SECRET, ts, &text));
        if let Some(n) = retry {
            req = req
                .header("x-slack-retry-num", n.to_string())
                .header("x-slack-retry-reason", "http_timeout");
        }
        req.body(text).send().await.unwrap()
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap()
    }

    /// The audit rows, after everything queued so far is written.
    pub async fn audit(&self) -> Vec<workbench_bot::store::AuditRecord> {
        self.app.store().flush().await;
        self.app.store().audit_rows().await.unwrap()
    }

    /// Waits for `n` audit rows (the work runs after the acknowledgement).
    pub async fn wait_audit(&self, n: usize) -> Vec<workbench_bot::store::AuditRecord> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let rows = self.audit().await;
            if rows.len() >= n || Instant::now() > deadline {
                assert!(rows.len() >= n, "expected {n} audit rows, got {rows:#?}");
                return rows;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the server the way SIGTERM does: drain, flush, return.
    pub async fn stop(mut self) -> tempfile::TempDir {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(s) = self.server.take() {
            s.await.unwrap();
        }
        let dir = tempfile::tempdir().unwrap();
        std::mem::replace(&mut self.dir, dir)
    }
}

pub async fn wait_until<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// An `app_mention` event_callback as Slack delivers it.
pub fn mention_event(event_id: &str, user: &str, text: &str) -> Value {
    json!({
        "token": "unused",
        "team_id": TEAM,
        "api_app_id": "A0OURAPP",
        "event": {
            "type": "app_mention",
            "user": user,
            "text": text,
            "ts": "1700000000.000100",
            "channel": "C0CHANNEL",
            "event_ts": "1700000000.000100"
        },
        "type": "event_callback",
        "event_id": event_id,
        "event_time": 1700000000,
        "authorizations": [{"enterprise_id": null, "team_id": TEAM, "user_id": "U0OURBOT", "is_bot": true, "is_enterprise_install": false}],
        "is_ext_shared_channel": false,
        "event_context": "4-eyJldCI6ImFwcF9tZW50aW9uIn0"
    })
}

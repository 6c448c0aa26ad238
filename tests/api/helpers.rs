//! Shared test harness: the real app on 127.0.0.1:0, its own store file, and
//! recording fakes of the outside world.

pub use crate::fakes::{Call, Fake, fake_slack, wait_until};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use workbench_bot::App;
use workbench_bot::settings::{Secret, Settings};
use workbench_bot::startup::Application;
use workbench_bot::verify::sign;

pub use crate::config::{Instance, TestConfig};

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

/// How to start one app: its config (its store is filled in unless set), the
/// environment's settings, and the folder that holds its store.
#[derive(Default)]
pub struct Spawn {
    pub config: TestConfig,
    pub settings: Settings,
    pub dir: Option<tempfile::TempDir>,
    /// Another app's Slack fake, to see both apps' messages in one place.
    pub slack: Option<Fake>,
}

/// The one way tests start the app: the real server on 127.0.0.1:0 with its
/// own store, against a fake Slack (a new one unless given).
pub async fn spawn_app(opts: Spawn) -> TestApp {
    let slack = match opts.slack {
        Some(s) => s,
        None => fake_slack().await,
    };
    let dir = opts.dir.unwrap_or_else(|| tempfile::tempdir().unwrap());
    let mut test_config = opts.config;
    if test_config.store.url.is_empty() {
        test_config.store.url = format!("sqlite://{}", dir.path().join("audit.db").display());
    }
    let store_url = test_config.store.url.clone();
    let config = test_config.load();
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
    if settings.monitoring_api_url.is_empty() {
        settings.monitoring_api_url = "http://127.0.0.1:9".into();
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
        self.command_to(user, text, &self.response_url(1)).await
    }

    /// A slash command answered at `response_url`, signed now.
    pub async fn command_to(
        &self,
        user: &str,
        text: &str,
        response_url: &str,
    ) -> reqwest::Response {
        let form = command_form(user, text, response_url, TEAM);
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

    /// Waits for `n` audit rows, settled (the work runs after the
    /// acknowledgement, and a start's row is on record before it acts).
    pub async fn wait_audit(&self, n: usize) -> Vec<workbench_bot::store::AuditRecord> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let rows = self.audit().await;
            let settled = rows
                .iter()
                .all(|r| r.outcome.kind != workbench_bot::store::OutcomeKind::Running);
            if (rows.len() >= n && settled) || Instant::now() > deadline {
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

/// foo's state in the dry-run backend: what a test reads to know whether
/// anything was started or stopped.
/// The first message the bot posted (`chat.postMessage`) that says `needle`.
pub async fn posted_containing(t: &TestApp, needle: &str) -> String {
    wait_until(Duration::from_secs(5), || {
        t.slack
            .calls_to("/api/chat.postMessage")
            .into_iter()
            .map(|c| c.text())
            .find(|m| m.contains(needle))
    })
    .await
    .unwrap_or_else(|| panic!("nothing posted says {needle:?}: {:#?}", t.slack.calls()))
}

/// The text of the first `n` calls to `suffix` (replies come in any order).
pub async fn reply_texts(t: &TestApp, suffix: &str, n: usize) -> Vec<String> {
    t.slack
        .wait_for(suffix, n)
        .await
        .iter()
        .map(|c| c.text())
        .collect()
}

/// The session the store holds for the instance at `path`.
pub async fn session_at(t: &TestApp, path: &str) -> Option<workbench_bot::store::Session> {
    t.app.store().db().session(path).await.unwrap()
}

pub async fn dry_state(t: &TestApp) -> workbench_bot::act::State {
    use workbench_bot::act::Backend;
    let instance = t.app.config().instance("foo").unwrap();
    t.app
        .backends()
        .dry_run()
        .status(instance)
        .await
        .unwrap()
        .state
}

/// An audit row of a start of `foo` that went through, as the bot writes it.
pub fn started_foo(
    id: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> workbench_bot::store::AuditRecord {
    use workbench_bot::store::{AuditDecision, AuditRecord, OutcomeKind};
    AuditRecord {
        at,
        request_id: id.into(),
        team: Some(TEAM.into()),
        principal: OPERATOR.into(),
        entry_point: workbench_bot::domain::EntryPoint::SlashCommand,
        command: "start foo".into(),
        instance: Some("foo".into()),
        decision: AuditDecision::Allowed,
        reason: String::new(),
        backend: Some("dry-run".into()),
        outcome: OutcomeKind::Done("ACTIVE".into()).into(),
        approved_by: None,
    }
}

/// A slash command's answer from a workspace the config does not serve.
pub fn assert_not_served(body: &Value) {
    assert_eq!(body["response_type"], "ephemeral");
    assert!(
        body["text"]
            .as_str()
            .unwrap()
            .contains("not set up for your workspace"),
        "{body}"
    );
}

/// A refusal's other half: after a moment, no call reached Slack and no row
/// the audit (nothing reached the pipeline).
pub async fn nothing_reached_slack_or_the_pipeline(t: &TestApp) {
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        t.slack.calls().is_empty(),
        "nothing may reach Slack: {:#?}",
        t.slack.calls()
    );
    assert!(t.audit().await.is_empty(), "nothing reached the pipeline");
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

//! The GitHub backend, `handle-dispatch` and the Actions workflow.

use crate::entry_points::{function_executed, interact, view_submission};
use crate::fakes::github::{INSTALLATION_TOKEN, PAT, fake_github};
use crate::fakes::google::{FakeGoogle, TOKEN as GOOGLE_TOKEN, test_private_key_pem};
use crate::helpers::*;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use workbench_bot::act::DispatchPayload;
use workbench_bot::domain::Origin;
use workbench_bot::settings::{Secret, Settings, Timing};

pub fn github_settings(github: &Fake, app: bool) -> Settings {
    let mut s = Settings {
        github_api_url: Some(github.url.clone()),
        timing: Timing {
            run_poll: Duration::from_millis(20),
            ..Timing::default()
        },
        dispatch_secret: Some(Secret::new(DISPATCH_SECRET)),
        ..Default::default()
    };
    if app {
        s.github_app_id = Some(1234);
        s.github_app_installation_id = Some(4242);
        s.github_app_private_key = Some(Secret::new(test_private_key_pem()));
    } else {
        s.github_token = Some(Secret::new(PAT));
    }
    s
}

/// Every instance goes through the GitHub workflow.
fn github_config() -> TestConfig {
    let mut c = TestConfig::default();
    c.backend.default = "github".into();
    c
}

async fn spawn_github(app: bool) -> (TestApp, Fake) {
    let github = fake_github().await;
    let t = spawn_app(Spawn {
        config: github_config(),
        settings: github_settings(&github, app),
        ..Default::default()
    })
    .await;
    (t, github)
}

async fn dispatch_once_and_check(app: bool) {
    let (t, github) = spawn_github(app).await;
    t.event(
        &mention_event("Ev0GH1", OPERATOR, "<@U0OURBOT> start foo"),
        None,
    )
    .await;
    let dispatches = github.wait_for("/dispatches", 1).await;
    let body = dispatches[0].json();
    assert_eq!(body["event_type"], "control_vertex_ai_workbench_notebook");
    let p = &body["client_payload"];
    assert_eq!(p["notebook"], "foo");
    assert_eq!(p["command"], "start");
    assert_eq!(p["requested_by"], OPERATOR);
    assert_eq!(p["slack"]["channel"], "C0CHANNEL");
    assert_eq!(p["slack"]["thread_ts"], "1700000000.000100");
    assert_eq!(p["request_id"].as_str().unwrap().len(), 32);
    let mut keys: Vec<&str> = p.as_object().unwrap().keys().map(|k| k.as_str()).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "command",
            "notebook",
            "request_id",
            "requested_by",
            "slack",
            "workbench"
        ],
        "the documented fields, and what is new nested under one: {p}"
    );
    let signed: DispatchPayload = serde_json::from_value(p.clone()).unwrap();
    assert_eq!(signed.verify(&[DISPATCH_SECRET], now(), 60), Ok(()));
    assert!(
        !p.to_string().contains("/response/"),
        "no response_url leaves the bot: {p}"
    );
    let token = if app { INSTALLATION_TOKEN } else { PAT };
    assert!(
        dispatches[0]
            .header("authorization")
            .unwrap()
            .ends_with(token)
    );
    assert_eq!(github.calls_to("/access_tokens").len(), usize::from(app));
    let texts: Vec<String> = t
        .slack
        .wait_for("/api/chat.update", 1)
        .await
        .iter()
        .map(|c| c.text())
        .collect();
    assert!(
        texts[0].contains("Handed `start foo` to GitHub"),
        "{texts:?}"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        github.calls_to("/dispatches").len(),
        1,
        "exactly one dispatch"
    );
}

#[tokio::test]
async fn a_start_for_a_github_instance_sends_one_dispatch_as_a_github_app() {
    dispatch_once_and_check(true).await;
}

#[tokio::test]
async fn a_start_for_a_github_instance_sends_one_dispatch_with_github_token() {
    dispatch_once_and_check(false).await;
}

#[tokio::test]
async fn the_workflow_run_carrying_the_request_id_is_linked_in_the_thread() {
    let (t, _github) = spawn_github(false).await;
    t.event(
        &mention_event("Ev0GH2", OPERATOR, "<@U0OURBOT> start foo"),
        None,
    )
    .await;
    let posts = t.slack.wait_for("/api/chat.postMessage", 2).await;
    let link = posts[1].json();
    assert_eq!(link["thread_ts"], "1700000000.000100");
    assert!(
        link["text"]
            .as_str()
            .unwrap()
            .contains("https://github.com/example-org/notebook-ops/actions/runs/2"),
        "{link}"
    );
}

#[tokio::test]
async fn a_refused_user_sends_no_dispatch() {
    let (t, github) = spawn_github(false).await;
    t.command(STRANGER, "start foo").await;
    let text = t.slack.wait_for("/response/1", 1).await[0].text();
    assert!(text.contains("not an operator"), "{text}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(github.calls().is_empty());
}

/// A GitHub that never answers: the person hears GitHub was slow, within a
/// bounded wait, and the dispatch is not sent again.
#[tokio::test]
async fn a_github_that_hangs_is_told_as_slow_and_not_retried() {
    let hole = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut settings = Settings {
        github_api_url: Some(format!("http://{}", hole.local_addr().unwrap())),
        github_token: Some(Secret::new(PAT)),
        dispatch_secret: Some(Secret::new(DISPATCH_SECRET)),
        ..Default::default()
    };
    settings.timing.request_timeout = Duration::from_millis(200);
    let t = spawn_app(Spawn {
        config: github_config(),
        settings,
        ..Default::default()
    })
    .await;
    let asked = std::time::Instant::now();
    t.command(OPERATOR, "start foo").await;
    let text = t.slack.wait_for("/response/1", 2).await[1].text();
    assert!(
        text.contains("GitHub did not answer in time") && text.contains("GitHub side"),
        "{text}"
    );
    assert!(asked.elapsed() < Duration::from_secs(5));
    let rows = t.wait_audit(1).await;
    assert_eq!(rows[0].outcome, "error:github");
}

// ---- handle-dispatch ---------------------------------------------------------

const BIN: &str = env!("CARGO_BIN_EXE_workbench-bot");

pub struct Job {
    pub google: FakeGoogle,
    pub slack: Fake,
    dir: tempfile::TempDir,
    config: std::path::PathBuf,
}

async fn job(foo_state: &str) -> Job {
    job_for(&github_config(), foo_state).await
}

/// The ops repository's config as `config`, with a GitHub backend.
pub fn with_approvers() -> TestConfig {
    let mut c = github_config();
    c.guard_foo();
    c
}

/// A job whose repository holds `config`, with `foo` in `foo_state`.
pub async fn job_for(repo_config: &TestConfig, foo_state: &str) -> Job {
    let google = FakeGoogle::start(&[(FOO_PATH, foo_state)]).await;
    let slack = fake_slack().await;
    let dir = tempfile::tempdir().unwrap();
    // Inside the Actions container the config's store path may not exist or be
    // writable; the job keeps no store of its own.
    let store = "sqlite:///proc/no-such-dir/workbench-bot.db".to_owned();
    let config = dir.path().join("workbench-bot.toml");
    let mut typed = repo_config.clone();
    typed.store.url = store;
    typed.write(&config);
    Job {
        google,
        slack,
        dir,
        config,
    }
}

pub fn event(payload: Value) -> Value {
    json!({"action": "control_vertex_ai_workbench_notebook", "branch": "main", "client_payload": payload,
           "repository": {"full_name": "example-org/notebook-ops"}, "sender": {"login": "workbench-bot[bot]"}})
}

/// A payload as the bot sends it for a mention in a thread, signed with `secret`.
pub fn signed_with(notebook: &str, command: &str, requested_by: &str, secret: &str) -> Value {
    let thread = Origin::Thread {
        channel: "C0CHANNEL".into(),
        thread_ts: "1700000000.000100".into(),
    };
    let p = DispatchPayload::signed(
        notebook,
        command,
        "0123456789abcdef0123456789abcdef",
        requested_by,
        &thread,
        secret,
        now(),
    );
    serde_json::to_value(p).unwrap()
}

fn payload(notebook: &str, command: &str, requested_by: &str) -> Value {
    signed_with(notebook, command, requested_by, DISPATCH_SECRET)
}

impl Job {
    pub async fn run(&self, event: &Value) -> (std::process::Output, String) {
        self.run_with(event, &[]).await
    }

    /// Runs the job and insists it succeeded, showing its stderr if not.
    pub async fn run_ok(&self, event: &Value) {
        let (out, _) = self.run(event).await;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Runs the job as the workflow does, with `extra` environment on top.
    async fn run_with(
        &self,
        event: &Value,
        extra: &[(&str, &str)],
    ) -> (std::process::Output, String) {
        let path = self.dir.path().join("event.json");
        std::fs::write(&path, event.to_string()).unwrap();
        let summary = self.dir.path().join("summary.md");
        let _ = std::fs::remove_file(&summary);
        let out = tokio::process::Command::new(BIN)
            .args(["handle-dispatch", "--event-path"])
            .arg(&path)
            .arg("--config")
            .arg(&self.config)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap())
            .env("SLACK_BOT_TOKEN", BOT_TOKEN)
            .env("WORKBENCH_DISPATCH_SECRET", DISPATCH_SECRET)
            .env("SLACK_API_URL", format!("{}/api", self.slack.url))
            .env("NOTEBOOKS_API_URL", &self.google.fake.url)
            .env("GOOGLE_OAUTH_ACCESS_TOKEN", GOOGLE_TOKEN)
            .env("GITHUB_STEP_SUMMARY", &summary)
            .env("RUST_LOG", "warn")
            .envs(extra.iter().copied())
            .output()
            .await
            .unwrap();
        (out, std::fs::read_to_string(&summary).unwrap_or_default())
    }
}

/// An automatic stop on a GitHub-backed instance goes out as the bot's own
/// signed dispatch from the timer principal; the job carries out its stop, and
/// refuses that principal anything else.
#[tokio::test]
async fn a_lease_on_a_github_instance_ends_in_a_signed_timer_dispatch_the_job_obeys_for_stops_only()
{
    let (github, runs) = crate::fakes::github::fake_github_runs().await;
    let clock = workbench_bot::clock::Clock::default();
    let t = spawn_app(Spawn {
        config: github_config(),
        settings: Settings {
            clock: clock.clone(),
            ..github_settings(&github, false)
        },
        ..Default::default()
    })
    .await;
    t.command(OPERATOR, "start foo for 2m").await;
    github.wait_for("/dispatches", 1).await;
    clock.advance(chrono::Duration::minutes(3));
    assert_eq!(
        t.app.tick().await.unwrap().stopped,
        0,
        "handed to GitHub is not stopped"
    );
    let sent = github.wait_for("/dispatches", 2).await[1].json();
    let p = &sent["client_payload"];
    assert_eq!(
        (p["command"].as_str(), p["requested_by"].as_str()),
        (Some("stop"), Some("timer:lease"))
    );

    let j = job("ACTIVE").await;
    j.run_ok(&event(p.clone())).await;
    assert_eq!(j.google.posts("stop").len(), 1, "the job stopped it");
    // Only the run's success closes the time limit.
    runs.conclude_all("completed", Some("success"));
    assert_eq!(
        t.app.tick().await.unwrap().stopped,
        1,
        "confirmed by its run"
    );
    assert!(
        session_at(&t, FOO_PATH).await.is_none(),
        "the session closed"
    );

    let start = job("STOPPED").await;
    let (out, _) = start
        .run(&event(payload("foo", "start", "timer:lease")))
        .await;
    assert!(!out.status.success(), "a timer may not start anything");
    assert!(start.google.posts("start").is_empty());
}

#[tokio::test]
async fn handle_dispatch_starts_and_stops_and_reports_in_the_thread() {
    let j = job("STOPPED").await;
    let (out, summary) = j.run(&event(payload("foo", "start", OPERATOR))).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(j.google.posts("start").len(), 1);
    assert_eq!(
        j.google.posts("start")[0].path,
        format!("/v2/{FOO_PATH}:start")
    );
    let updates = j.slack.calls_to("/api/chat.update");
    let last = updates
        .last()
        .expect("the progress message is updated")
        .json();
    assert_eq!(last["channel"], "C0CHANNEL");
    assert!(
        last["text"].as_str().unwrap().contains("`foo` is running"),
        "{last}"
    );
    assert_eq!(
        j.slack.calls_to("/api/chat.postMessage")[0].json()["thread_ts"],
        "1700000000.000100"
    );
    assert!(
        summary.contains("workbench-bot: done") && summary.contains("`foo`"),
        "{summary}"
    );

    let (out, _) = j.run(&event(payload("foo", "stop", OPERATOR))).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(j.google.posts("stop").len(), 1);
    assert_eq!(j.google.state_of(FOO_PATH), "STOPPED");
    let last = j.slack.calls_to("/api/chat.update").last().unwrap().json();
    assert!(
        last["text"].as_str().unwrap().contains("`foo` is stopped"),
        "{last}"
    );
}

/// Runs one refused case and checks: exit 1 with a one-line reason, nothing
/// reached Google, and `slack_posts` messages reached Slack.
async fn refused_case(what: &str, ev: &Value, slack_posts: usize) {
    let j = job("STOPPED").await;
    let (out, summary) = j.run(ev).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{what}: must fail: {stderr}");
    let reason = stderr.lines().last().unwrap_or_default();
    assert!(
        reason.starts_with("refused") || reason.contains("Sorry"),
        "{what}: one-line reason, got {stderr}"
    );
    assert!(
        j.google.fake.calls().is_empty(),
        "{what}: Google was called: {:#?}",
        j.google.fake.calls()
    );
    let slack = j.slack.calls();
    assert_eq!(slack.len(), slack_posts, "{what}: {slack:#?}");
    if slack_posts > 0 {
        assert_eq!(slack[0].path, "/api/chat.postMessage");
    }
    assert!(!summary.contains(": done"), "{what}: {summary}");
}

#[tokio::test]
async fn handle_dispatch_refuses_hostile_payloads_without_touching_google() {
    // Signed by the bot, so the refusal is told in the thread.
    let cases = [
        ("command delete", event(payload("foo", "delete", OPERATOR))),
        (
            "shell in notebook",
            event(payload("foo; rm -rf /", "start", OPERATOR)),
        ),
        (
            "command substitution",
            event(payload("$(curl evil)", "start", OPERATOR)),
        ),
        ("unknown alias", event(payload("bar", "start", OPERATOR))),
        ("not an operator", event(payload("foo", "start", STRANGER))),
    ];
    for (what, ev) in cases {
        refused_case(what, &ev, 1).await;
    }
}

#[tokio::test]
async fn handle_dispatch_refuses_every_dispatch_the_bot_did_not_sign_and_tells_nobody() {
    let mut forged_requester = payload("foo", "start", STRANGER);
    forged_requester["requested_by"] = json!(ADMIN);
    let mut edited_alias = payload("foo", "start", OPERATOR);
    edited_alias["notebook"] = json!("secret");
    let mut edited_thread = payload("foo", "start", OPERATOR);
    edited_thread["slack"]["channel"] = json!("C0ELSEWHERE");
    let mut unsigned = payload("foo", "start", OPERATOR);
    unsigned["workbench"]["signature"] = json!("");
    let mut no_workbench = payload("foo", "start", OPERATOR);
    no_workbench.as_object_mut().unwrap().remove("workbench");
    let mut stale = payload("foo", "start", OPERATOR);
    let p: DispatchPayload = serde_json::from_value(stale.clone()).unwrap();
    let thread = p.origin();
    stale = serde_json::to_value(DispatchPayload::signed(
        "foo",
        "start",
        &p.request_id,
        OPERATOR,
        &thread,
        DISPATCH_SECRET,
        now() - 2 * 3600,
    ))
    .unwrap();
    let mut with_instance = payload("foo", "start", OPERATOR);
    with_instance["instance"] =
        json!("projects/evil-project/locations/us-central1-a/instances/crypto-miner");
    let mut foreign_sender = event(payload("foo", "start", OPERATOR));
    foreign_sender["sender"]["login"] = json!("someone-with-write-access");
    let cases = [
        ("a forged requested_by", event(forged_requester)),
        ("an edited alias", event(edited_alias)),
        ("an edited thread", event(edited_thread)),
        ("no signature", event(unsigned)),
        ("no workbench block", event(no_workbench)),
        (
            "a signature by another secret",
            event(signed_with("foo", "start", OPERATOR, "not-the-bots-secret")),
        ),
        ("a stale payload", event(stale)),
        ("an instance override", event(with_instance)),
        ("a foreign sender", foreign_sender),
    ];
    for (what, ev) in cases {
        // Nothing in these can be believed, so nobody is messaged either.
        refused_case(what, &ev, 0).await;
    }
}

/// *Re-run jobs* replays the original, validly signed event: only the first
/// attempt acts. Unset counts as the first (outside Actions there are no re-runs).
#[tokio::test]
async fn handle_dispatch_refuses_a_re_run_of_a_valid_signed_dispatch() {
    let ev = event(payload("foo", "start", OPERATOR));
    for attempt in ["2", "7", "two"] {
        let j = job("STOPPED").await;
        let (out, summary) = j.run_with(&ev, &[("GITHUB_RUN_ATTEMPT", attempt)]).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{attempt}: {stderr}");
        let reason = stderr.lines().last().unwrap_or_default();
        assert!(
            reason.starts_with("refused") && reason.contains("GITHUB_RUN_ATTEMPT"),
            "{attempt}: {stderr}"
        );
        assert!(
            j.google.fake.calls().is_empty(),
            "{attempt}: Google was called"
        );
        assert!(j.slack.calls().is_empty(), "{attempt}: Slack was told");
        assert!(summary.contains("failed"), "{attempt}: {summary}");
    }
    let first = job("STOPPED").await;
    let (out, _) = first.run_with(&ev, &[("GITHUB_RUN_ATTEMPT", "1")]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        first.google.posts("start").len(),
        1,
        "the first attempt acts"
    );
}

#[tokio::test]
async fn handle_dispatch_accepts_the_previous_secret_during_a_rotation() {
    let j = job("STOPPED").await;
    let ev = event(signed_with("foo", "start", OPERATOR, "the-old-secret"));
    let (out, _) = j
        .run_with(
            &ev,
            &[("WORKBENCH_DISPATCH_SECRET_PREVIOUS", "the-old-secret")],
        )
        .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(j.google.posts("start").len(), 1);
}

/// The dispatch the bot really sent for a request, as the job's event.
async fn sent_dispatch(github: &Fake) -> Value {
    let body = github.wait_for("/dispatches", 1).await[0].json();
    event(body["client_payload"].clone())
}

#[tokio::test]
async fn a_slash_command_on_a_github_instance_is_told_the_final_state_in_a_dm() {
    let (t, github) = spawn_github(false).await;
    t.command(OPERATOR, "start foo").await;
    let ev = sent_dispatch(&github).await;
    assert_eq!(ev["client_payload"]["workbench"]["dm"], OPERATOR);
    let j = job("STOPPED").await;
    j.run_ok(&ev).await;
    let dm = j.slack.calls_to("/api/chat.update");
    let last = dm.last().expect("the progress DM is updated").json();
    assert_eq!(last["channel"], OPERATOR, "in the requester's DMs");
    assert!(
        last["text"].as_str().unwrap().contains("`foo` is running"),
        "{last}"
    );
}

#[tokio::test]
async fn a_dialog_submission_on_a_github_instance_is_told_the_final_state_in_a_dm() {
    let (t, github) = spawn_github(false).await;
    let res = interact(&t, &view_submission(OPERATOR, Some("foo"), Some("start"))).await;
    assert_eq!(res.status(), 200);
    let ev = sent_dispatch(&github).await;
    assert_eq!(ev["client_payload"]["workbench"]["dm"], OPERATOR);
    let j = job("STOPPED").await;
    j.run_ok(&ev).await;
    let last = j.slack.calls_to("/api/chat.update").last().unwrap().json();
    assert_eq!(last["channel"], OPERATOR);
    assert!(last["text"].as_str().unwrap().contains("`foo` is running"));
}

#[tokio::test]
async fn a_workflow_step_on_a_github_instance_completes_only_when_the_work_has_ended() {
    let (t, github) = spawn_github(false).await;
    t.event(
        &function_executed("Ev0STEPGH", OPERATOR, "foo", "start"),
        None,
    )
    .await;
    let ev = sent_dispatch(&github).await;
    assert_eq!(ev["client_payload"]["workbench"]["step"], "Fx0EXECUTION1");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        t.slack
            .calls_to("/api/functions.completeSuccess")
            .is_empty()
            && t.slack.calls_to("/api/functions.completeError").is_empty(),
        "not completed at hand-off: {:#?}",
        t.slack.calls()
    );
    let j = job("STOPPED").await;
    j.run_ok(&ev).await;
    let done = j.slack.calls_to("/api/functions.completeSuccess");
    assert_eq!(done.len(), 1, "{:#?}", j.slack.calls());
    let body = done[0].json();
    assert_eq!(body["function_execution_id"], "Fx0EXECUTION1");
    assert_eq!(body["outputs"]["state"], "running");
    assert_eq!(
        done[0].header("authorization"),
        Some(format!("Bearer {BOT_TOKEN}").as_str()),
        "completed with the bot token: the step's own token may have expired"
    );
}

// ---- the workflow --------------------------------------------------------------

const WORKFLOW: &str = include_str!("../../workflows/control-notebook.yml");

/// Every `run:` script and `script:` input in a workflow, with its YAML path.
fn scripts(yaml: &str) -> Vec<(String, String)> {
    use yaml_rust2::{Yaml, YamlLoader};
    fn walk(node: &Yaml, path: String, out: &mut Vec<(String, String)>) {
        match node {
            Yaml::Hash(h) => {
                for (k, v) in h {
                    let key = k.as_str().unwrap_or_default();
                    let p = format!("{path}.{key}");
                    if (key == "run" || key == "script")
                        && let Some(s) = v.as_str()
                    {
                        out.push((p.clone(), s.to_owned()));
                    }
                    walk(v, p, out);
                }
            }
            Yaml::Array(a) => a
                .iter()
                .enumerate()
                .for_each(|(i, v)| walk(v, format!("{path}[{i}]"), out)),
            _ => {}
        }
    }
    let docs = YamlLoader::load_from_str(yaml).unwrap();
    let mut out = Vec::new();
    walk(&docs[0], String::new(), &mut out);
    out
}

/// Expressions in a script that read the event, in any spelling.
fn event_reads(script: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = script;
    while let Some(open) = rest.find("${{") {
        let after = &rest[open + 3..];
        let close = after.find("}}").unwrap_or(after.len());
        let expr: String = after[..close]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_lowercase();
        if expr.contains("github.event")
            || expr.contains("github['event']")
            || expr.contains("github[\"event\"]")
        {
            found.push(expr);
        }
        rest = &after[close.min(after.len())..];
    }
    found
}

#[test]
fn the_event_reader_check_catches_every_spelling() {
    let bad = "jobs:\n  a:\n    steps:\n      - run: echo ${{ github.event.client_payload.notebook }}\n      - run: echo ${{ github['event'].client_payload }}\n      - uses: actions/github-script@v7\n        with:\n          script: console.log(${{ toJSON(github.event) }})\n";
    let found: Vec<String> = scripts(bad)
        .iter()
        .flat_map(|(_, s)| event_reads(s))
        .collect();
    assert_eq!(found.len(), 3, "{found:?}");
}

#[test]
fn no_run_or_script_in_the_workflow_reads_the_event() {
    let all = scripts(WORKFLOW);
    assert!(!all.is_empty(), "the workflow has run steps");
    for (path, script) in &all {
        assert!(
            event_reads(script).is_empty(),
            "{path} expands the event: {script}"
        );
    }
}

#[test]
fn the_workflow_runs_handle_dispatch_with_least_permissions() {
    use yaml_rust2::YamlLoader;
    let doc = &YamlLoader::load_from_str(WORKFLOW).unwrap()[0];
    assert!(
        scripts(WORKFLOW)
            .iter()
            .any(|(_, s)| s.contains("handle-dispatch --event-path")),
        "handle-dispatch is invoked"
    );
    assert_eq!(
        doc["on"]["repository_dispatch"]["types"][0].as_str(),
        Some("control_vertex_ai_workbench_notebook")
    );
    let perms = doc["permissions"].as_hash().unwrap();
    assert_eq!(perms.len(), 2);
    assert_eq!(doc["permissions"]["contents"].as_str(), Some("read"));
    assert_eq!(doc["permissions"]["id-token"].as_str(), Some("write"));
    // A concurrency group would cancel a queued run when a third arrives, and
    // that request would vanish without a word.
    assert!(doc["concurrency"].is_badvalue(), "no concurrency group");
    for step in doc["jobs"]["control"]["steps"].as_vec().unwrap() {
        if let Some(uses) = step["uses"].as_str() {
            let (_, pin) = uses.split_once('@').unwrap();
            assert!(
                pin.len() == 40 && pin.bytes().all(|b| b.is_ascii_hexdigit()),
                "{uses} is pinned by commit SHA"
            );
        }
    }
    assert!(WORKFLOW.contains("secrets.WORKBENCH_DISPATCH_SECRET"));
    // The secrets are the environment's, which only the default branch may use.
    assert_eq!(
        doc["jobs"]["control"]["environment"].as_str(),
        Some("workbench-bot")
    );
    // handle-dispatch refuses re-runs only if it is told which attempt this is.
    assert!(
        scripts(WORKFLOW)
            .iter()
            .any(|(_, s)| s.contains("-e GITHUB_RUN_ATTEMPT")),
        "the run attempt reaches the container"
    );
    assert!(
        doc["run-name"]
            .as_str()
            .unwrap()
            .contains("client_payload.request_id")
    );
    let steps = doc["jobs"]["control"]["steps"].as_vec().unwrap();
    let auth = steps
        .iter()
        .find(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("google-github-actions/auth@"))
        })
        .unwrap();
    assert_eq!(auth["with"]["token_format"].as_str(), Some("access_token"));
    assert!(WORKFLOW.contains("vars.WORKBENCH_BOT_IMAGE"));
}

#[tokio::test]
async fn a_dispatch_github_refuses_is_reported_as_githubs_side_and_not_repeated() {
    for (status, needle) in [
        (
            404u16,
            "not found, or the bot's GitHub App is not installed",
        ),
        (502, "not retried"),
    ] {
        let github = Fake::start(Arc::new(move |_call: &Call| {
            (
                status,
                json!({"message": "nope", "documentation_url": "https://docs.github.com"}),
            )
        }))
        .await;
        let t = spawn_app(Spawn {
            config: github_config(),
            settings: github_settings(&github, false),
            ..Default::default()
        })
        .await;
        t.command(OPERATOR, "start foo").await;
        let text = t.slack.wait_for("/response/1", 2).await[1].text();
        assert!(
            text.contains(needle) && text.contains("GitHub side"),
            "{status}: {text}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(
            github.calls_to("/dispatches").len(),
            1,
            "{status}: sent once"
        );
        let rows = t.wait_audit(1).await;
        assert_eq!(rows[0].outcome, "error:github");
    }
}

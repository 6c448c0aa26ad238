//! The `workbench-bot` binary as people run it.

use crate::helpers::*;
use std::process::Command;
use std::time::{Duration, Instant};
use workbench_bot::sign;

const BIN: &str = env!("CARGO_BIN_EXE_workbench-bot");

/// The README's example config with its address and store moved, as values.
fn local_example(listen: &str, store_url: &str) -> Example {
    let text = std::fs::read_to_string("examples/local.toml").unwrap();
    let mut table: toml::Table = toml::from_str(&text).unwrap();
    table["server"]["listen"] = listen.into();
    table["store"]["url"] = store_url.into();
    Example(table)
}

struct Example(toml::Table);

impl Example {
    fn write(&self, path: &std::path::Path) {
        std::fs::write(path, toml::to_string(&self.0).unwrap()).unwrap();
    }
}

fn check_config(path: impl AsRef<std::ffi::OsStr>) -> std::process::Output {
    Command::new(BIN)
        .arg("check-config")
        .arg("--config")
        .arg(path)
        .output()
        .unwrap()
}

#[test]
fn check_config_accepts_the_local_example() {
    let out = check_config("examples/local.toml");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn check_config_lists_every_problem_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = TestConfig::new("sqlite://x.db");
    config.access.admins = vec!["@platfrom".into()];
    config.instance[0].name = "not/a/path".into();
    config.instance.push(Instance::new(
        "foo",
        "projects/example-project/locations/us-central1-a/instances/dup",
        &[],
        &[],
    ));
    let text = config.toml();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, &text).unwrap();
    let out = check_config(&path);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let line_of = |needle: &str| text.lines().position(|l| l.contains(needle)).unwrap() + 1;
    assert!(
        err.contains(&format!(
            "line {}: access.admins names group \"@platfrom\"",
            line_of("@platfrom")
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "line {}: instance name \"not/a/path\"",
            line_of("not/a/path")
        )),
        "{err}"
    );
    assert!(err.contains("alias \"foo\" is defined twice"), "{err}");

    config.limits.unknown.insert("burst".into(), 3);
    config.write(&path);
    let out = check_config(&path);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("burst"));
}

/// Kills the child if the test fails before it is stopped, so no bot outlives a test.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `serve` on a copy of the local example with its own port and store, once
/// `/healthz` answers; how long that took is returned too.
fn serve_local_example(dir: &std::path::Path) -> (KillOnDrop, u16, std::path::PathBuf, Duration) {
    let port = free_port();
    let db = dir.join("audit.db");
    let path = dir.join("local.toml");
    local_example(
        &format!("127.0.0.1:{port}"),
        &format!("sqlite://{}", db.display()),
    )
    .write(&path);
    workbench_bot::install_tls();
    let started = Instant::now();
    let child = KillOnDrop(
        Command::new(BIN)
            .args(["serve", "--config"])
            .arg(&path)
            .env("SLACK_SIGNING_SECRET", "local-dev-secret")
            .env_remove("PORT")
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    loop {
        let ok = reqwest::blocking::get(format!("http://127.0.0.1:{port}/healthz"))
            .map(|r| r.status() == 200)
            .unwrap_or(false);
        if ok {
            return (child, port, db, started.elapsed());
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "/healthz never answered"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// SIGTERM, then the exit status and how long the exit took.
fn terminate(mut child: KillOnDrop) -> (std::process::ExitStatus, Duration) {
    let term = Instant::now();
    let _ = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status();
    let status = child.0.wait().unwrap();
    (status, term.elapsed())
}

/// A slash command form, signed with the local example's secret, to `serve`.
fn post_command(
    http: &reqwest::blocking::Client,
    port: u16,
    form: String,
) -> reqwest::blocking::Response {
    let ts = chrono::Utc::now().timestamp();
    http.post(format!("http://127.0.0.1:{port}/slack/commands"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", ts.to_string())
        .header("x-slack-signature", sign("local-dev-secret", ts, &form))
        .body(form)
        .send()
        .unwrap()
}

fn audit_rows(db: &std::path::Path) -> Vec<workbench_bot::store::AuditRecord> {
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let store = workbench_bot::store::Store::open(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        store.audit_rows().await.unwrap()
    })
}

/// The README's run command, on a copy of the local example: healthy within a
/// second, `simulate` gets a dry-run answer, and SIGTERM leaves the audit row on disk.
#[test]
fn the_local_example_serves_simulate_works_and_sigterm_keeps_the_audit() {
    let dir = tempfile::tempdir().unwrap();
    let (child, port, db, took) = serve_local_example(dir.path());
    assert!(took < Duration::from_secs(1), "/healthz took {took:?}");

    let out = Command::new(BIN)
        .args([
            "simulate",
            "--url",
            &format!("http://127.0.0.1:{port}"),
            "--as",
            "U01AAAAAAAA",
            "--quiet",
            "1",
            "start",
            "foo",
        ])
        .env("SLACK_SIGNING_SECRET", "local-dev-secret")
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{shown} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(shown.contains("acknowledged: HTTP 200"), "{shown}");
    assert!(
        shown.contains("`foo` is running") && shown.contains("dry run"),
        "{shown}"
    );

    // SIGTERM: the process drains, flushes and exits 0.
    let (status, _) = terminate(child);
    assert!(status.success(), "{status:?}");
    let rows = audit_rows(&db);
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0].outcome, "done:ACTIVE");
}

/// A `response_url` host that accepts connections and never answers.
fn black_hole() -> (std::net::TcpListener, String) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/response", listener.local_addr().unwrap());
    (listener, url)
}

/// Cloud Run gives 10 s from SIGTERM to exit: with Slack hanging on every reply,
/// the bot still exits 0 in time, and every request is on record.
#[test]
fn sigterm_with_twenty_replies_hanging_exits_in_time_with_every_row_stored() {
    let dir = tempfile::tempdir().unwrap();
    let (_hole, response_url) = black_hole();
    let (child, port, db, _) = serve_local_example(dir.path());
    let http = reqwest::blocking::Client::new();
    for i in 0..20 {
        // Twenty people, so no one meets the per-person limit.
        let user = format!("U0{i:09}");
        let form = command_form(&user, "status foo", &response_url, "T0123ABCD");
        let res = post_command(&http, port, form);
        assert_eq!(res.status(), 200, "acknowledged at once");
    }
    std::thread::sleep(Duration::from_millis(300));
    let (status, took) = terminate(child);
    assert!(status.success(), "{status:?}");
    assert!(took < Duration::from_secs(10), "exit took {took:?}");
    let rows = audit_rows(&db);
    assert_eq!(rows.len(), 20, "{rows:#?}");
    assert!(
        rows.iter().all(|r| r.outcome == "STOPPED"),
        "each row says what the request found: {rows:#?}"
    );
}

/// Every config the tests use, valid or not, is judged the same by
/// `check-config` (the binary) and by the path `serve` takes (load, then build
/// the whole application).
#[tokio::test]
async fn check_config_and_serve_agree_on_every_fixture() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite://{}", dir.path().join("agree.db").display());
    let base = || TestConfig::new(&store);
    let mut fixtures: Vec<(&str, TestConfig)> = vec![("the default", base())];
    let mut edit = |what, f: fn(&mut TestConfig)| {
        let mut c = base();
        f(&mut c);
        fixtures.push((what, c));
    };
    edit("github default", |c| c.backend.default = "github".into());
    edit("notebooks default", |c| {
        c.backend.default = "notebooks".into()
    });
    edit("socket mode", |c| c.slack.mode = Some("socket".into()));
    edit("announce channel", |c| {
        c.slack.announce_channel = Some("C0ANNOUNCE".into())
    });
    edit("a misspelt group", |c| {
        c.access.admins = vec!["@platfrom".into()]
    });
    edit("a malformed name", |c| {
        c.instance[0].name = "not/a/path".into()
    });
    edit("an unknown key", |c| {
        c.limits.unknown.insert("burst".into(), 3);
    });
    edit("everyone an admin", |c| c.access.admins = vec!["*".into()]);
    edit("a mysql store", |c| {
        c.store.url = "mysql://bot@db.internal/workbench".into()
    });
    edit("a password in store.url", |c| {
        c.store.url = "postgres://bot:hunter2@db.internal/workbench".into()
    });
    edit("two aliases, one instance", |c| {
        let twin = Instance::new("twin", FOO_PATH, &[], &[]);
        c.instance.push(twin)
    });
    edit("github without its section", |c| {
        c.backend.default = "github".into();
        c.backend.github = None;
    });
    edit("no teams", |c| c.slack.teams.clear());
    edit("a zero rate limit", |c| c.limits.per_user_per_minute = 0);
    let example = local_example("127.0.0.1:0", &store);
    let mut checked = 0;
    for (what, config) in fixtures {
        let path = dir.path().join("fixture.toml");
        config.write(&path);
        agree(what, &path).await;
        checked += 1;
    }
    let path = dir.path().join("local.toml");
    example.write(&path);
    agree("the local example", &path).await;
    assert!(checked > 10);
}

async fn agree(what: &str, path: &std::path::Path) {
    let check = check_config(path);
    let settings = workbench_bot::Settings {
        slack_signing_secret: Some(workbench_bot::Secret::new(SECRET)),
        slack_app_token: Some(workbench_bot::Secret::new("xapp-1-A0OURAPP-test")),
        github_token: Some(workbench_bot::Secret::new("github_pat_fake")),
        dispatch_secret: Some(workbench_bot::Secret::new(DISPATCH_SECRET)),
        slack_api_url: "http://127.0.0.1:9/api".into(),
        notebooks_api_url: "http://127.0.0.1:9".into(),
        ..Default::default()
    };
    let served = match workbench_bot::Config::load(path) {
        Ok(config) => workbench_bot::Application::build(config, settings)
            .await
            .map(drop)
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    assert_eq!(
        check.status.success(),
        served.is_ok(),
        "{what}: check-config said {:?} ({}), serve said {served:?}",
        check.status.code(),
        String::from_utf8_lossy(&check.stderr)
    );
}

/// `audit export` writes the trail since a date, as JSON lines or CSV, from the
/// same store the bot writes.
#[test]
fn audit_export_writes_the_trail_since_a_date_as_jsonl_or_csv() {
    let dir = tempfile::tempdir().unwrap();
    let (child, port, _db, _) = serve_local_example(dir.path());
    let http = reqwest::blocking::Client::new();
    for (user, text) in [("U01AAAAAAAA", "start foo"), ("U09ZZZZZZZZ", "stop foo")] {
        let form = command_form(user, text, "http://127.0.0.1:9/response", "T0123ABCD");
        post_command(&http, port, form);
    }
    std::thread::sleep(Duration::from_millis(300));
    let (status, _) = terminate(child);
    assert!(status.success());
    let config = dir.path().join("local.toml");
    let export = |format: &str, since: &str| {
        Command::new(BIN)
            .args(["audit", "export", "--config"])
            .arg(&config)
            .args(["--since", since, "--format", format])
            .env_remove("DATABASE_URL")
            .output()
            .unwrap()
    };
    let out = export("jsonl", "2000-01-01");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    let by = |command: &str| lines.iter().find(|l| l["command"] == command).unwrap();
    // Nothing listens at the response_url, and the row says so.
    assert_eq!(by("start foo")["outcome"], "done:ACTIVE; report failed");
    assert_eq!(by("stop foo")["decision"], "refused");

    let out = export("csv", "2000-01-01");
    let csv = String::from_utf8(out.stdout).unwrap();
    assert!(csv.starts_with("at,request_id,team,principal,entry_point,command,instance,decision,reason,backend,outcome,approved_by\n"), "{csv}");
    assert_eq!(csv.lines().count(), 3, "{csv}");

    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1))
        .format("%Y-%m-%d")
        .to_string();
    let out = export("jsonl", &tomorrow);
    assert!(out.status.success());
    assert!(out.stdout.is_empty(), "nothing since tomorrow");
    let out = export("jsonl", "last week");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a date"));
}

/// A full run of `serve` with every secret set to something recognisable: each
/// line on stdout is Cloud Logging JSON with a `severity`, each request is one
/// line with `httpRequest` and the trace Cloud Run's header named (the audit
/// line, for a request the pipeline handled), the lines of a request carry its
/// id and requester, and no secret appears anywhere.
#[test]
fn a_full_run_logs_cloud_logging_json_and_never_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let path = dir.path().join("local.toml");
    let db = dir.path().join("audit.db");
    local_example(
        &format!("127.0.0.1:{port}"),
        &format!("sqlite://{}", db.display()),
    )
    .write(&path);
    let secrets = [
        ("SLACK_SIGNING_SECRET", "sss-signing-7f3a9c"),
        ("SLACK_SIGNING_SECRET_PREVIOUS", "sss-previous-2b8d1e"),
        ("SLACK_BOT_TOKEN", "xoxb-bot-token-5e6f7a"),
        ("GITHUB_TOKEN", "ghp_token_9c8b7a"),
        ("WORKBENCH_DISPATCH_SECRET", "dispatch-secret-4d3c2b"),
        ("WORKBENCH_METRICS_TOKEN", "metrics-token-1a2b3c"),
        ("GOOGLE_OAUTH_ACCESS_TOKEN", "ya29.google-token-6e5d"),
    ];
    workbench_bot::install_tls();
    let child = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&path)
        .envs(secrets)
        .env("GOOGLE_CLOUD_PROJECT", "example-project")
        .env("SLACK_API_URL", "http://127.0.0.1:9/api")
        .env_remove("PORT")
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(child);
    let captured = capture(&mut child);
    let base = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    while reqwest::blocking::get(format!("{base}/healthz")).is_err() {
        assert!(started.elapsed() < Duration::from_secs(5), "never healthy");
        std::thread::sleep(Duration::from_millis(10));
    }
    let http = reqwest::blocking::Client::new();
    let signed = |body: &str, secret: &str| {
        let ts = chrono::Utc::now().timestamp();
        http.post(format!("{base}/slack/commands"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-slack-request-timestamp", ts.to_string())
            .header("x-slack-signature", sign(secret, ts, body))
            .header(
                "x-cloud-trace-context",
                "105445aa7843bc8bf206b12000100000/1;o=1",
            )
            .body(body.to_owned())
            .send()
            .unwrap()
    };
    // A response_url lets whoever holds it post to that person: it is a secret too.
    let response_url = "http://127.0.0.1:9/commands/T0123ABCD/r3sp0nse-url-8f7e";
    let form = command_form("U01AAAAAAAA", "start foo", response_url, "T0123ABCD");
    assert_eq!(signed(&form, "sss-signing-7f3a9c").status(), 200);
    assert_eq!(signed(&form, "sss-previous-2b8d1e").status(), 200);
    assert_eq!(signed(&form, "not-the-secret").status(), 401);
    // An event delivered twice: the retry is dropped in its task before the
    // pipeline runs, so its lines carry no request id that has no audit row.
    let mention = mention_event("Ev0LOGRETRY", "U01AAAAAAAA", "<@U0OURBOT> status foo").to_string();
    let deliver = || {
        let ts = chrono::Utc::now().timestamp();
        http.post(format!("{base}/slack/events"))
            .header("content-type", "application/json")
            .header("x-slack-request-timestamp", ts.to_string())
            .header(
                "x-slack-signature",
                sign("sss-signing-7f3a9c", ts, &mention),
            )
            .body(mention.clone())
            .send()
            .unwrap()
            .status()
    };
    assert_eq!(deliver(), 200);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(deliver(), 200);
    let metrics = http
        .get(format!("{base}/metrics"))
        .bearer_auth("metrics-token-1a2b3c")
        .send()
        .unwrap();
    assert_eq!(metrics.status(), 200);
    std::thread::sleep(Duration::from_millis(500));
    let (status, _) = terminate(child);
    assert!(status.success());
    let [stdout, stderr] = captured.map(|h| h.join().unwrap());
    for (name, value) in secrets
        .into_iter()
        .chain([("response_url", "r3sp0nse-url-8f7e")])
    {
        assert!(!stdout.contains(value), "{name} is in the logs: {stdout}");
        assert!(!stderr.contains(value), "{name} is on stderr: {stderr}");
    }
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(lines.len() > 5, "{stdout}");
    assert!(lines.iter().all(|l| l["severity"].is_string()), "{stdout}");
    // Lines logged as the process ends are written, not left waiting for stdout.
    assert_eq!(
        lines.last().map(|l| &l["message"]),
        Some(&serde_json::json!("shutting down")),
        "{stdout}"
    );
    // One line per request: the two signed commands' audit lines, and the
    // refused one's request line; no other line claims to be a request.
    let commands: Vec<_> = lines
        .iter()
        .filter(|l| l["httpRequest"]["requestUrl"] == "/slack/commands")
        .collect();
    assert_eq!(commands.len(), 3, "{stdout}");
    assert!(
        lines
            .iter()
            .filter(|l| l.get("httpRequest").is_some())
            .all(|l| l["message"] == "request" || l["message"] == "request handled"),
        "{stdout}"
    );
    let refused: Vec<_> = commands
        .iter()
        .filter(|l| l["message"] == "request")
        .collect();
    assert_eq!(refused.len(), 1, "{stdout}");
    assert_eq!(refused[0]["httpRequest"]["status"], 401);
    let handled: Vec<_> = commands
        .iter()
        .filter(|l| l["message"] == "request handled")
        .collect();
    assert_eq!(handled.len(), 2, "{stdout}");
    for l in handled {
        assert_eq!(l["httpRequest"]["requestMethod"], "POST", "{l}");
        assert_eq!(l["httpRequest"]["requestUrl"], "/slack/commands", "{l}");
        assert_eq!(l["httpRequest"]["status"], 200, "{l}");
        assert!(
            l["httpRequest"]["latency"]
                .as_str()
                .is_some_and(|t| t.ends_with('s')),
            "{l}"
        );
        assert!(
            l["request_id"].as_str().is_some_and(|id| id.len() == 32),
            "{l}"
        );
        assert_eq!(l["principal"], "U01AAAAAAAA");
        assert_eq!(
            l["logging.googleapis.com/trace"],
            "projects/example-project/traces/105445aa7843bc8bf206b12000100000",
            "the work done after the acknowledgement keeps the request's trace"
        );
    }
    let events: Vec<_> = lines
        .iter()
        .filter(|l| l["httpRequest"]["requestUrl"] == "/slack/events")
        .collect();
    assert_eq!(events.len(), 2, "one line per delivery: {stdout}");
    let by_message = |m: &str| -> Vec<&serde_json::Value> {
        events
            .iter()
            .copied()
            .filter(|l| l["message"] == m)
            .collect()
    };
    let (first, retry) = (by_message("request handled"), by_message("request"));
    assert_eq!((first.len(), retry.len()), (1, 1), "{stdout}");
    assert!(
        first[0]["request_id"]
            .as_str()
            .is_some_and(|id| id.len() == 32),
        "{}",
        first[0]
    );
    let ignored: Vec<_> = lines
        .iter()
        .filter(|l| l["message"] == "Slack event already handled; ignoring the retry")
        .collect();
    assert_eq!(ignored.len(), 1, "{stdout}");
    assert_eq!(ignored[0]["event_id"], "Ev0LOGRETRY", "{}", ignored[0]);
    for l in [retry[0], ignored[0]] {
        assert!(l.get("request_id").is_none(), "{l}");
    }
}

/// Reads a child's stdout and stderr as they come, so a full pipe never blocks
/// it; each handle yields everything once the child has exited.
fn capture(child: &mut KillOnDrop) -> [std::thread::JoinHandle<String>; 2] {
    fn drain(mut pipe: impl std::io::Read + Send + 'static) -> std::thread::JoinHandle<String> {
        std::thread::spawn(move || {
            let mut out = String::new();
            let _ = pipe.read_to_string(&mut out);
            out
        })
    }
    [
        drain(child.0.stdout.take().unwrap()),
        drain(child.0.stderr.take().unwrap()),
    ]
}

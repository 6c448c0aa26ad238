//! The `workbench-bot` binary as people run it.

use crate::helpers::*;
use std::process::Command;
use std::time::{Duration, Instant};
use workbench_bot::sign;

const BIN: &str = env!("CARGO_BIN_EXE_workbench-bot");

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
    let text = base_config("sqlite://x.db", "")
        .replace("admins = [\"@platform\"]", "admins = [\"@platfrom\"]")
        .replace(FOO_PATH, "not/a/path")
        + "\n[[instance]]\nalias = \"foo\"\nname = \"projects/example-project/locations/us-central1-a/instances/dup\"\n";
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

    std::fs::write(&path, text.replace("[limits]", "[limits]\nburst = 3")).unwrap();
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

/// The README's run command, on a copy of the local example: healthy within a
/// second, `simulate` gets a dry-run answer, and SIGTERM leaves the audit row on disk.
#[test]
fn the_local_example_serves_simulate_works_and_sigterm_keeps_the_audit() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let db = dir.path().join("audit.db");
    let config = std::fs::read_to_string("examples/local.toml")
        .unwrap()
        .replace("127.0.0.1:8080", &format!("127.0.0.1:{port}"))
        .replace(
            "sqlite://workbench-bot.db",
            &format!("sqlite://{}", db.display()),
        );
    let path = dir.path().join("local.toml");
    std::fs::write(&path, config).unwrap();

    workbench_bot::install_tls();
    let started = Instant::now();
    let mut child = KillOnDrop(
        Command::new(BIN)
            .args(["serve", "--config"])
            .arg(&path)
            .env("SLACK_SIGNING_SECRET", "local-dev-secret")
            .env_remove("PORT")
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let healthy = loop {
        let ok = reqwest::blocking::get(format!("http://127.0.0.1:{port}/healthz"))
            .map(|r| r.status() == 200)
            .unwrap_or(false);
        if ok || started.elapsed() > Duration::from_secs(5) {
            break ok;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let took = started.elapsed();
    assert!(healthy, "/healthz never answered");
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
    let _ = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status();
    let status = child.0.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let rows = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let store = workbench_bot::store::Store::open(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        store.audit_rows().await.unwrap()
    });
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
    let port = free_port();
    let db = dir.path().join("audit.db");
    let config = std::fs::read_to_string("examples/local.toml")
        .unwrap()
        .replace("127.0.0.1:8080", &format!("127.0.0.1:{port}"))
        .replace(
            "sqlite://workbench-bot.db",
            &format!("sqlite://{}", db.display()),
        );
    let path = dir.path().join("local.toml");
    std::fs::write(&path, config).unwrap();
    let (_hole, response_url) = black_hole();
    workbench_bot::install_tls();
    let mut child = KillOnDrop(
        Command::new(BIN)
            .args(["serve", "--config"])
            .arg(&path)
            .env("SLACK_SIGNING_SECRET", "local-dev-secret")
            .env_remove("PORT")
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let started = Instant::now();
    while reqwest::blocking::get(format!("http://127.0.0.1:{port}/healthz")).is_err() {
        assert!(started.elapsed() < Duration::from_secs(5), "never healthy");
        std::thread::sleep(Duration::from_millis(10));
    }
    let http = reqwest::blocking::Client::new();
    for i in 0..20 {
        // Twenty people, so no one meets the per-person limit.
        let user = format!("U0{i:09}");
        let form = command_form(&user, "status foo", &response_url, "T0123ABCD");
        let ts = chrono::Utc::now().timestamp();
        let res = http
            .post(format!("http://127.0.0.1:{port}/slack/commands"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-slack-request-timestamp", ts.to_string())
            .header("x-slack-signature", sign("local-dev-secret", ts, &form))
            .body(form)
            .send()
            .unwrap();
        assert_eq!(res.status(), 200, "acknowledged at once");
    }
    std::thread::sleep(Duration::from_millis(300));
    let term = Instant::now();
    let _ = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status();
    let status = child.0.wait().unwrap();
    let took = term.elapsed();
    assert!(status.success(), "{status:?}");
    assert!(took < Duration::from_secs(10), "exit took {took:?}");
    let rows = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let store = workbench_bot::store::Store::open(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        store.audit_rows().await.unwrap()
    });
    assert_eq!(rows.len(), 20, "{rows:#?}");
    assert!(
        rows.iter().all(|r| r.outcome == "STOPPED"),
        "each row says what the request found: {rows:#?}"
    );
}

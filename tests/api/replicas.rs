//! Real `serve` processes stopping and starting around shared work. Several
//! replicas on one PostgreSQL, as on Cloud Run: a Slack retry that
//! lands on another replica acts once, two people changing one instance through
//! two replicas send one call, and a replica killed mid-operation has its
//! operation reported exactly once by another. And one process on SQLite
//! taking SIGTERM mid-operation, its successor reporting the end.

use crate::fakes::google::{FakeGoogle, OpBehaviour, TOKEN};
use crate::helpers::*;
use crate::pg::fresh_database;
use std::process::{Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_workbench-bot");

/// A real `serve` process on the shared database; killed when dropped.
struct Replica {
    child: std::process::Child,
    port: u16,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn replica(config: &std::path::Path, slack: &Fake, google: &FakeGoogle) -> Replica {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(config)
        .env("PORT", port.to_string())
        .env("SLACK_SIGNING_SECRET", SECRET)
        .env("SLACK_BOT_TOKEN", BOT_TOKEN)
        .env("SLACK_API_URL", format!("{}/api", slack.url))
        .env("NOTEBOOKS_API_URL", &google.fake.url)
        .env("GOOGLE_OAUTH_ACCESS_TOKEN", TOKEN)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Replica { child, port }
}

async fn healthy(r: &Replica) {
    let url = format!("http://127.0.0.1:{}/readyz", r.port);
    for _ in 0..500 {
        if reqwest::get(&url)
            .await
            .is_ok_and(|res| res.status() == 200)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the replica never became ready");
}

/// Two real replicas on a fresh database, against one Slack and one Google.
async fn two_processes(google: &FakeGoogle) -> (Replica, Replica, Fake, tempfile::TempDir) {
    two_processes_on(google, &fresh_database().await).await
}

async fn two_processes_on(
    google: &FakeGoogle,
    db: &str,
) -> (Replica, Replica, Fake, tempfile::TempDir) {
    workbench_bot::install_tls();
    let slack = fake_slack().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = TestConfig::new(db);
    config.backend.default = "notebooks".into();
    config.store.lease_seconds = Some(1.0);
    config.store.sweep_seconds = Some(0.2);
    let path = dir.path().join("replicas.toml");
    config.write(&path);
    let a = replica(&path, &slack, google);
    let b = replica(&path, &slack, google);
    healthy(&a).await;
    healthy(&b).await;
    (a, b, slack, dir)
}

/// The resumed start's end reaches the person, once: after "Starting…", one
/// "running", and nothing more within `settle`. The process that follows it
/// polls at production pace (2 s first): seconds, more on a loaded machine.
async fn reported_running_once(slack: &Fake, settle: Duration) {
    let replies = slack
        .wait_for_within("/response/1", 2, Duration::from_secs(30))
        .await;
    assert!(
        replies[1].text().contains("`foo` is running"),
        "{replies:#?}"
    );
    tokio::time::sleep(settle).await;
    assert_eq!(
        slack.calls_to("/response/1").len(),
        2,
        "reported exactly once"
    );
}

/// POSTs a body Slack-signed now to one replica.
async fn post(r: &Replica, path: &str, content_type: &str, body: String) -> u16 {
    let ts = now();
    reqwest::Client::new()
        .post(format!("http://127.0.0.1:{}{path}", r.port))
        .header("content-type", content_type)
        .header("x-slack-request-timestamp", ts.to_string())
        .header("x-slack-signature", workbench_bot::sign(SECRET, ts, &body))
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// `/notebook start foo` from the operator, answered at `/response/1`.
async fn start_foo(r: &Replica, slack: &Fake) -> u16 {
    let to = format!("{}/response/1", slack.url);
    let form = command_form(OPERATOR, "start foo", &to, TEAM);
    post(
        r,
        "/slack/commands",
        "application/x-www-form-urlencoded",
        form,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slack_retry_delivered_to_another_replica_acts_once() {
    let google = FakeGoogle::start(&[(FOO_PATH, "STOPPED")]).await;
    let (a, b, slack, _dir) = two_processes(&google).await;
    let event = mention_event("Ev0REPLICA1", OPERATOR, "<@U0OURBOT> start foo").to_string();
    let json = "application/json";
    let (first, retry) = tokio::join!(
        post(&a, "/slack/events", json, event.clone()),
        post(&b, "/slack/events", json, event)
    );
    assert_eq!((first, retry), (200, 200));
    slack.wait_for("/api/chat.update", 1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(google.posts("start").len(), 1, "one start reached Google");
    assert_eq!(
        slack.calls_to("/api/chat.postMessage").len(),
        1,
        "one thread reply: {:#?}",
        slack.calls()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_and_a_stop_through_two_replicas_send_one_call() {
    let google = FakeGoogle::start(&[(FOO_PATH, "ACTIVE")]).await;
    google.behave(OpBehaviour::DoneAfter(20));
    let (a, b, slack, _dir) = two_processes(&google).await;
    // Two stops at once through two replicas: without the shared lock both
    // would read ACTIVE and both would go out.
    let form = "application/x-www-form-urlencoded";
    let one = command_form(
        OPERATOR,
        "stop foo",
        &format!("{}/response/1", slack.url),
        TEAM,
    );
    let two = command_form(
        OPERATOR2,
        "stop foo",
        &format!("{}/response/2", slack.url),
        TEAM,
    );
    let (x, y) = tokio::join!(
        post(&a, "/slack/commands", form, one),
        post(&b, "/slack/commands", form, two)
    );
    assert_eq!((x, y), (200, 200));
    let told = wait_until(Duration::from_secs(10), || {
        slack
            .calls()
            .into_iter()
            .map(|c| c.text())
            .find(|t| t.contains("right now"))
    })
    .await
    .expect("the second person is told");
    assert!(told.contains("is stopping `foo` right now"), "{told}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(google.posts("stop").len(), 1, "exactly one call to Google");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operation_whose_replica_is_killed_is_reported_once_by_another() {
    let google = FakeGoogle::start(&[(FOO_PATH, "STOPPED")]).await;
    google.behave(OpBehaviour::Never);
    let db = fresh_database().await;
    let (mut a, b, slack, _dir) = two_processes_on(&google, &db).await;
    let res = start_foo(&a, &slack).await;
    assert_eq!(res, 200);
    slack.wait_for("/response/1", 1).await; // "Starting foo…"
    // Killed once its operation is on record (a kill between Google's answer
    // and that write leaves nothing for anyone to resume).
    let store = workbench_bot::store::Store::open(&db).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while store.db().pending_count().await.unwrap() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the operation was never stored"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(google.posts("start").len(), 1);

    // SIGKILL: A lets go of nothing; its lease must lapse first.
    a.child.kill().unwrap();
    a.child.wait().unwrap();
    google.behave(OpBehaviour::DoneAfter(1));

    // The lease lapses (1 s), then a sweep claims it.
    reported_running_once(&slack, Duration::from_millis(1500)).await;
    assert_eq!(google.posts("start").len(), 1, "B only followed it");
    drop(b);
}

/// Cloud Run's SIGTERM while a Notebooks operation runs: the process exits 0
/// within 10 s with every audit row written and the operation kept in the
/// store, and the next process on the same store reports its end once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_operation_keeps_it_for_the_next_process_which_reports_it_once() {
    workbench_bot::install_tls();
    let google = FakeGoogle::start(&[(FOO_PATH, "STOPPED")]).await;
    google.behave(OpBehaviour::Never);
    let slack = fake_slack().await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.db");
    let mut config = TestConfig::new(&format!("sqlite://{}", db.display()));
    config.backend.default = "notebooks".into();
    let path = dir.path().join("one.toml");
    config.write(&path);
    let mut first = replica(&path, &slack, &google);
    healthy(&first).await;
    let res = start_foo(&first, &slack).await;
    assert_eq!(res, 200);
    wait_until(Duration::from_secs(5), || {
        (!google.posts("start").is_empty()).then_some(())
    })
    .await
    .unwrap();

    let term = std::time::Instant::now();
    Command::new("kill")
        .args(["-TERM", &first.child.id().to_string()])
        .status()
        .unwrap();
    let status = first.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(
        term.elapsed() < Duration::from_secs(10),
        "{:?}",
        term.elapsed()
    );
    let store = workbench_bot::store::Store::open(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let rows = store.audit_rows().await.unwrap();
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0].outcome, "pending:left for the next process");
    assert_eq!(
        store.db().pending_count().await.unwrap(),
        1,
        "kept in the store"
    );

    google.behave(OpBehaviour::DoneAfter(1));
    let next = replica(&path, &slack, &google);
    healthy(&next).await;
    // The next process starts and claims the released operation.
    reported_running_once(&slack, Duration::from_millis(500)).await;
    assert_eq!(google.posts("start").len(), 1);
    drop(next);
}

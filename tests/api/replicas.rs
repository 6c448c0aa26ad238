//! Several replicas on one PostgreSQL, as on Cloud Run: a Slack retry that
//! lands on another replica acts once, two people changing one instance through
//! two replicas send one call, and a replica killed mid-operation has its
//! operation reported exactly once by another.

use crate::fakes::google::{FakeGoogle, OpBehaviour, TOKEN};
use crate::helpers::*;
use crate::pg::fresh_database;
use std::process::{Command, Stdio};
use std::time::Duration;
use workbench_bot::{Secret, Settings, Timing};

fn fast() -> Timing {
    Timing {
        first_retry: Duration::from_millis(5),
        first_poll: Duration::from_millis(20),
        max_poll: Duration::from_millis(50),
        ..Timing::default()
    }
}

/// Two in-process replicas sharing one database, one Slack and one Google.
async fn two_replicas(google: &FakeGoogle) -> (TestApp, TestApp) {
    let url = fresh_database().await;
    let mut config = TestConfig::new(&url);
    config.backend.default = "notebooks".into();
    let settings = Settings {
        notebooks_api_url: google.fake.url.clone(),
        google_oauth_access_token: Some(Secret::new(TOKEN)),
        timing: fast(),
        ..Default::default()
    };
    let a = spawn_app(Spawn {
        config: config.clone(),
        settings: settings.clone(),
        ..Default::default()
    })
    .await;
    let b = spawn_app(Spawn {
        config,
        settings,
        slack: Some(a.slack.clone()),
        ..Default::default()
    })
    .await;
    (a, b)
}

#[tokio::test]
async fn a_slack_retry_delivered_to_another_replica_acts_once() {
    let google = FakeGoogle::start(&[(FOO_PATH, "STOPPED")]).await;
    let (a, b) = two_replicas(&google).await;
    let event = mention_event("Ev0REPLICA1", OPERATOR, "<@U0OURBOT> start foo");
    let (first, retry) = tokio::join!(a.event(&event, None), b.event(&event, Some(1)));
    assert_eq!(
        (first.status().as_u16(), retry.status().as_u16()),
        (200, 200)
    );
    let rows = a.wait_audit(1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(a.audit().await.len(), 1, "{rows:#?}");
    assert_eq!(google.posts("start").len(), 1, "one start reached Google");
}

#[tokio::test]
async fn a_start_and_a_stop_through_two_replicas_send_one_call() {
    let google = FakeGoogle::start(&[(FOO_PATH, "ACTIVE")]).await;
    google.behave(OpBehaviour::DoneAfter(20));
    let (a, b) = two_replicas(&google).await;
    // A stop through one replica, a second stop through the other, at once:
    // without the shared lock both would read ACTIVE and both would go out.
    let one = command_form(OPERATOR, "stop foo", &a.response_url(1), TEAM);
    let two = command_form(OPERATOR2, "stop foo", &a.response_url(2), TEAM);
    let form = "application/x-www-form-urlencoded";
    tokio::join!(
        a.post_signed("/slack/commands", form, &one, SECRET, now()),
        b.post_signed("/slack/commands", form, &two, SECRET, now()),
    );
    let rows = a.wait_audit(2).await;
    let busy: Vec<_> = rows.iter().filter(|r| r.reason == "in_progress").collect();
    assert_eq!(busy.len(), 1, "{rows:#?}");
    let loser = if busy[0].principal == OPERATOR { 1 } else { 2 };
    let told = a.slack.wait_for(&format!("/response/{loser}"), 1).await[0].text();
    assert!(told.contains("is stopping `foo` right now"), "{told}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(google.posts("stop").len(), 1, "exactly one call to Google");
}

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operation_whose_replica_is_killed_is_reported_once_by_another() {
    workbench_bot::install_tls();
    let google = FakeGoogle::start(&[(FOO_PATH, "STOPPED")]).await;
    google.behave(OpBehaviour::Never);
    let slack = fake_slack().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = TestConfig::new(&fresh_database().await);
    config.backend.default = "notebooks".into();
    config.store.lease_seconds = Some(1.0);
    config.store.sweep_seconds = Some(0.2);
    let path = dir.path().join("replicas.toml");
    config.write(&path);
    let mut a = replica(&path, &slack, &google);
    let b = replica(&path, &slack, &google);
    healthy(&a).await;
    healthy(&b).await;

    let form = command_form(
        OPERATOR,
        "start foo",
        &format!("{}/response/1", slack.url),
        TEAM,
    );
    let ts = now();
    let res = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{}/slack/commands", a.port))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", ts.to_string())
        .header("x-slack-signature", workbench_bot::sign(SECRET, ts, &form))
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    slack.wait_for("/response/1", 1).await; // "Starting foo…"
    wait_until(Duration::from_secs(5), || {
        (!google.posts("start").is_empty()).then_some(())
    })
    .await
    .unwrap();

    // SIGKILL: A lets go of nothing; its lease must lapse first.
    a.child.kill().unwrap();
    a.child.wait().unwrap();
    google.behave(OpBehaviour::DoneAfter(1));

    let replies = slack.wait_for("/response/1", 2).await;
    assert!(
        replies[1].text().contains("`foo` is running"),
        "{replies:#?}"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        slack.calls_to("/response/1").len(),
        2,
        "reported exactly once"
    );
    assert_eq!(google.posts("start").len(), 1, "B only followed it");
    drop(b);
}

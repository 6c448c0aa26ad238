//! The fault suite: Google, GitHub and Slack misbehaving in every way the bot
//! meets in production (rate limits with `Retry-After`, 5xx, hangs, refused
//! connections, bodies that are not JSON, operations that end in an error).
//! Each test asserts what the person hears, how many calls went out (retries
//! stay within their bounds and nothing is done twice), and the audit row.
//!
//! Faults covered beside the modules they belong to: Google hanging
//! (`notebooks::a_google_that_hangs_is_told_as_slow`), refusing connections
//! (`notebooks::an_unreachable_notebooks_api_is_reported_as_googles_side`), a
//! 500 after applying a start (`notebooks::a_start_google_applied_before_failing_is_not_sent_again`);
//! GitHub hanging and answering 404/502 (`github::a_github_that_hangs_*`,
//! `github::a_dispatch_github_refuses_*`); Slack answering 429
//! (`slack_core::a_rate_limited_reply_is_sent_after_the_wait_slack_asks_for`).

use crate::fakes::github::PAT;
use crate::fakes::google::{FakeGoogle, OpBehaviour, TOKEN, instance_json};
use crate::fakes::scripted::{Scripted, Step};
use crate::helpers::*;
use serde_json::json;
use std::time::{Duration, Instant};
use workbench_bot::settings::{Secret, Settings, Timing};

fn fast() -> Timing {
    Timing {
        first_retry: Duration::from_millis(5),
        first_poll: Duration::from_millis(5),
        max_poll: Duration::from_millis(20),
        request_timeout: Duration::from_millis(300),
        slack_timeout: Duration::from_millis(300),
        ..Timing::default()
    }
}

fn google_error(status: u16, google: &str, message: &str) -> serde_json::Value {
    json!({"error": {"code": status, "message": message, "status": google}})
}

/// Every instance on the Notebooks backend, calling `google` with a fixed token.
async fn on_google(google: &str) -> TestApp {
    let mut config = TestConfig::default();
    config.backend.default = "notebooks".into();
    spawn_app(Spawn {
        config,
        settings: Settings {
            notebooks_api_url: google.to_owned(),
            google_oauth_access_token: Some(Secret::new(TOKEN)),
            timing: fast(),
            ..Default::default()
        },
        ..Default::default()
    })
    .await
}

/// Every instance on the GitHub backend, dispatching to `github`.
async fn on_github(github: &str) -> TestApp {
    let mut config = TestConfig::default();
    config.backend.default = "github".into();
    spawn_app(Spawn {
        config,
        settings: Settings {
            github_api_url: Some(github.to_owned()),
            github_token: Some(Secret::new(PAT)),
            dispatch_secret: Some(Secret::new(DISPATCH_SECRET)),
            timing: fast(),
            ..Default::default()
        },
        ..Default::default()
    })
    .await
}

/// The last message the person got at `response_url` 1.
async fn last_reply(t: &TestApp, n: usize) -> String {
    t.slack.wait_for("/response/1", n).await[n - 1].text()
}

// ---- Google ------------------------------------------------------------------

#[tokio::test]
async fn google_429_is_retried_no_sooner_than_its_retry_after() {
    let google = Scripted::start(vec![
        Step::json(
            429,
            google_error(429, "RESOURCE_EXHAUSTED", "Quota exceeded for reads"),
        )
        .with_header("retry-after", "1"),
        Step::json(200, instance_json(FOO_PATH, "ACTIVE")),
    ])
    .await;
    let t = on_google(&google.url).await;
    t.command(OPERATOR, "status foo").await;
    let text = last_reply(&t, 1).await;
    assert!(text.contains("`foo` is *running*"), "{text}");
    let times = google.times();
    assert_eq!(times.len(), 2, "{:?}", google.calls());
    assert!(
        times[1] - times[0] >= Duration::from_millis(950),
        "the backoff alone is 5 ms; the retry waited {:?}",
        times[1] - times[0]
    );
}

#[tokio::test]
async fn google_asking_for_a_long_wait_gets_no_retry_and_the_person_hears_how_long() {
    let google = Scripted::start(vec![
        Step::json(
            429,
            google_error(429, "RESOURCE_EXHAUSTED", "Quota exceeded for reads"),
        )
        .with_header("retry-after", "120"),
    ])
    .await;
    let t = on_google(&google.url).await;
    t.command(OPERATOR, "start foo").await;
    let text = last_reply(&t, 2).await;
    assert!(
        text.contains("asked it to wait 120 s") && text.contains("Google Cloud side"),
        "{text}"
    );
    assert_eq!(google.calls().len(), 1, "{:?}", google.calls());
    assert_eq!(t.wait_audit(1).await[0].outcome, "error:google");
}

#[tokio::test]
async fn google_500s_are_retried_four_times_then_explained() {
    let google = Scripted::start(vec![Step::json(
        500,
        google_error(500, "INTERNAL", "Internal error encountered."),
    )])
    .await;
    let t = on_google(&google.url).await;
    t.command(OPERATOR, "start foo").await;
    let text = last_reply(&t, 2).await;
    assert!(
        text.contains("kept having it after retries") && text.contains("Google Cloud side"),
        "{text}"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let calls = google.calls();
    assert_eq!(calls.len(), 5, "one read and four retries: {calls:?}");
    assert!(
        calls.iter().all(|c| c.starts_with("GET ")),
        "no start was sent on an unreadable state: {calls:?}"
    );
}

#[tokio::test]
async fn google_answering_something_that_is_not_json_is_explained_and_nothing_is_sent() {
    let google = Scripted::start(vec![Step::Raw {
        status: 200,
        headers: vec![("content-type", "text/html".into())],
        body: "<html><body>Service temporarily unavailable</body></html>".into(),
    }])
    .await;
    let t = on_google(&google.url).await;
    t.command(OPERATOR, "start foo").await;
    let text = last_reply(&t, 2).await;
    assert!(
        text.contains("answered something unreadable") && text.contains("Google Cloud side"),
        "{text}"
    );
    assert_eq!(google.calls(), [format!("GET /v2/{FOO_PATH}")]);
}

/// The Notebooks fake, with operations that end in `error`.
async fn failing_operation(message: &'static str) -> (TestApp, FakeGoogle) {
    let google = FakeGoogle::start(&[(FOO_PATH, "STOPPED")]).await;
    google.behave(OpBehaviour::FailAfter(1, message));
    (on_google(&google.fake.url).await, google)
}

#[tokio::test]
async fn a_gpu_zone_out_of_capacity_says_to_wait_or_move_zones() {
    let (t, google) = failing_operation(
        "The zone 'projects/example-project/zones/us-central1-a' does not have enough resources available to fulfill the request. Try a different zone, or try again later. ZONE_RESOURCE_POOL_EXHAUSTED",
    )
    .await;
    t.command(OPERATOR, "start foo").await;
    let text = last_reply(&t, 2).await;
    for needle in [
        "no free capacity",
        "ZONE_RESOURCE_POOL_EXHAUSTED",
        "Try again in 15 to 30 minutes",
        "another zone",
        "Google Cloud side",
    ] {
        assert!(text.contains(needle), "{needle}: {text}");
    }
    assert_eq!(
        google.posts("start").len(),
        1,
        "a failed start is not resent"
    );
    assert_eq!(t.wait_audit(1).await[0].outcome, "error:google");
}

#[tokio::test]
async fn a_project_out_of_gpu_quota_says_what_frees_it() {
    let (t, google) =
        failing_operation("Quota 'NVIDIA_T4_GPUS' exceeded. Limit: 1.0 in region us-central1.")
            .await;
    t.command(OPERATOR, "start foo").await;
    let text = last_reply(&t, 2).await;
    for needle in [
        "out of quota",
        "NVIDIA_T4_GPUS",
        "Stop another instance",
        "request more quota",
    ] {
        assert!(text.contains(needle), "{needle}: {text}");
    }
    assert_eq!(google.posts("start").len(), 1);
}

// ---- GitHub ------------------------------------------------------------------

#[tokio::test]
async fn a_rate_limited_dispatch_is_not_repeated_and_says_so() {
    let github = Scripted::start(vec![
        Step::json(
            429,
            json!({"message": "API rate limit exceeded for installation.", "documentation_url": "https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting"}),
        )
        .with_header("retry-after", "60"),
    ])
    .await;
    let t = on_github(&github.url).await;
    t.command(OPERATOR, "start foo").await;
    let text = last_reply(&t, 2).await;
    assert!(
        text.contains("GitHub is rate limiting the bot")
            && text.contains("not sent")
            && text.contains("GitHub side"),
        "{text}"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(github.calls().len(), 1, "{:?}", github.calls());
    assert_eq!(t.wait_audit(1).await[0].outcome, "error:github");
}

#[tokio::test]
async fn github_answering_html_is_explained_and_not_repeated() {
    let github = Scripted::start(vec![Step::Raw {
        status: 502,
        headers: vec![("content-type", "text/html".into())],
        body: "<html><body><h1>502 Bad Gateway</h1></body></html>".into(),
    }])
    .await;
    let t = on_github(&github.url).await;
    t.command(OPERATOR, "start foo").await;
    let text = last_reply(&t, 2).await;
    assert!(
        text.contains("GitHub had an error")
            && text.contains("HTTP 502")
            && text.contains("not retried")
            && text.contains("GitHub side"),
        "{text}"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(github.calls().len(), 1, "{:?}", github.calls());
    assert_eq!(t.wait_audit(1).await[0].outcome, "error:github");
}

#[tokio::test]
async fn a_github_that_refuses_connections_is_told_as_unreachable() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let t = on_github(&format!("http://{closed}")).await;
    t.command(OPERATOR, "start foo").await;
    let text = last_reply(&t, 2).await;
    assert!(
        text.contains("could not reach GitHub") && text.contains("GitHub side"),
        "{text}"
    );
    assert_eq!(t.wait_audit(1).await[0].outcome, "error:github");
}

// ---- Slack -------------------------------------------------------------------

/// The dry-run app replying into `slack`, whose every answer is `step`.
async fn with_broken_slack(step: Step) -> (TestApp, Scripted) {
    let slack = Scripted::start(vec![step]).await;
    let t = spawn_app(Spawn {
        settings: Settings {
            slack_api_url: format!("{}/api", slack.url),
            timing: fast(),
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    (t, slack)
}

/// Waits for the one audit row to say that Slack did not take the reply.
async fn reply_marked_lost(t: &TestApp) -> workbench_bot::store::AuditRecord {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let rows = t.audit().await;
        if let Some(row) = rows.iter().find(|r| r.outcome.report_failed) {
            assert_eq!(rows.len(), 1, "{rows:#?}");
            return row.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no row says the reply was lost: {rows:#?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_response_url_that_fails_leaves_the_action_done_once_and_audited_as_unreported() {
    let (t, slack) = with_broken_slack(Step::json(500, json!({"ok": false}))).await;
    let asked = Instant::now();
    let ack = t
        .command_to(OPERATOR, "start foo", &format!("{}/response/1", slack.url))
        .await;
    assert_eq!(ack.status(), 200);
    assert!(asked.elapsed() < Duration::from_secs(3));
    let row = reply_marked_lost(&t).await;
    assert!(
        !row.outcome.kind.is_failure(),
        "the start itself worked: {row:#?}"
    );
    assert_eq!(row.command, "start foo");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        slack.calls().len(),
        1,
        "a failed reply is not resent: {:?}",
        slack.calls()
    );
}

/// A `response_url` answering `429` with `Retry-After` is waited out and
/// tried again with the same answer; Slack's `ok: false` is a reply not taken.
#[tokio::test]
async fn a_response_url_rate_limit_is_waited_out_and_a_refusal_is_recorded_as_unreported() {
    let slack = Scripted::start(vec![
        Step::json(429, json!({"ok": false, "error": "rate_limited"}))
            .with_header("retry-after", "1"),
        Step::Raw {
            status: 200,
            headers: vec![("content-type", "text/html".into())],
            body: "ok".into(),
        },
    ])
    .await;
    let t = spawn_app(Spawn {
        settings: Settings {
            slack_api_url: format!("{}/api", slack.url),
            timing: Timing {
                slack_timeout: Duration::from_secs(5),
                ..fast()
            },
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    let asked = Instant::now();
    let hook = format!("{}/response/1", slack.url);
    assert_eq!(
        t.command_to(OPERATOR, "status foo", &hook).await.status(),
        200
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while slack.calls().len() < 2 {
        assert!(Instant::now() < deadline, "{:?}", slack.calls());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        asked.elapsed() >= Duration::from_millis(900),
        "waited as asked"
    );
    assert_eq!(slack.calls(), vec!["POST /response/1"; 2]);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rows = t.wait_audit(1).await;
    assert!(!rows[0].outcome.report_failed, "{rows:#?}");

    let (t, slack) = with_broken_slack(Step::json(
        200,
        json!({"ok": false, "error": "expired_url"}),
    ))
    .await;
    let hook = format!("{}/response/2", slack.url);
    assert_eq!(
        t.command_to(OPERATOR, "status foo", &hook).await.status(),
        200
    );
    let row = reply_marked_lost(&t).await;
    assert_eq!(row.command, "status foo");
    assert_eq!(
        slack.calls(),
        vec!["POST /response/2"],
        "a refusal is not resent"
    );
}

/// A signed command whose `response_url` is not an absolute http(s) URL
/// cannot be answered: nothing is sent anywhere, and its row says the reply
/// was not taken.
#[tokio::test]
async fn a_response_url_that_is_not_an_absolute_url_is_recorded_as_unreported() {
    let (t, slack) = with_broken_slack(Step::json(200, json!({"ok": true}))).await;
    for hook in ["/response/1", "ftp://example.com/response/1"] {
        assert_eq!(
            t.command_to(OPERATOR, "status foo", hook).await.status(),
            200
        );
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let rows = t.audit().await;
        if rows.len() == 2 && rows.iter().all(|r| r.outcome.report_failed) {
            break;
        }
        assert!(Instant::now() < deadline, "{rows:#?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(slack.calls().is_empty(), "{:?}", slack.calls());
}

#[tokio::test]
async fn a_response_url_that_hangs_is_given_up_on_in_time() {
    let (t, slack) = with_broken_slack(Step::Hang).await;
    let asked = Instant::now();
    let ack = t
        .command_to(OPERATOR, "status foo", &format!("{}/response/1", slack.url))
        .await;
    assert_eq!(ack.status(), 200);
    assert!(asked.elapsed() < Duration::from_secs(3));
    let row = reply_marked_lost(&t).await;
    assert_eq!(row.outcome.kind.to_string(), "STOPPED");
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "gave up after the Slack timeout"
    );
}

#[tokio::test]
async fn a_thread_reply_chat_post_message_refuses_is_audited_as_unreported() {
    let (t, slack) = with_broken_slack(Step::json(
        200,
        json!({"ok": false, "error": "channel_not_found"}),
    ))
    .await;
    t.event(
        &mention_event("Ev0SLACKDOWN", OPERATOR, "<@U0OURBOT> status foo"),
        None,
    )
    .await;
    let row = reply_marked_lost(&t).await;
    assert_eq!(row.outcome.kind.to_string(), "STOPPED");
    assert!(
        slack
            .calls()
            .iter()
            .all(|c| c == "POST /api/chat.postMessage"),
        "{:?}",
        slack.calls()
    );
}

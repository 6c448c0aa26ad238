//! The weekly cost report: posted once on its day and time in its zone with
//! the figures of a known trail and a PNG chart through Slack's external
//! upload flow (two replicas on PostgreSQL post it once), as text without
//! `files:write`, late with a note, and at once by `report now` (admins).

use crate::config::{Report, TestConfig};
use crate::fakes::google::FakeGoogle;
use crate::helpers::*;
use crate::pg::fresh_database;
use crate::timers::{prices, settings};
use chrono::{DateTime, Datelike, Duration, Timelike, Utc};
use workbench_bot::clock::Clock;
use workbench_bot::store::{AuditDecision, AuditRecord, OutcomeKind};

const REPORTS: &str = "C0REPORTS1";

/// The test config with `[report]` on Mondays at 09:00 UTC, and prices.
fn with_report(store_url: &str) -> TestConfig {
    let mut config = TestConfig::new(store_url);
    config.backend.default = "notebooks".into();
    config.cost = Some(prices());
    config.report = Some(Report {
        channel: REPORTS.into(),
        day: "mon".into(),
        time: "09:00".into(),
        timezone: "UTC".into(),
    });
    config
}

/// The next Monday 09:00 UTC after now: the week the test reports ends then.
fn next_monday_nine() -> DateTime<Utc> {
    let now = Utc::now();
    let mut day = now.date_naive().and_hms_opt(9, 0, 0).unwrap().and_utc();
    while day.weekday() != chrono::Weekday::Mon || day <= now {
        day += Duration::days(1);
    }
    assert_eq!((day.weekday(), day.hour()), (chrono::Weekday::Mon, 9));
    day
}

fn row(id: &str, at: DateTime<Utc>, who: &str, command: &str, state: &str) -> AuditRecord {
    AuditRecord {
        request_id: id.into(),
        principal: who.into(),
        command: command.into(),
        outcome: OutcomeKind::Done(state.into()).into(),
        decision: AuditDecision::Allowed,
        ..started_foo(id, at)
    }
}

/// The week's trail of foo, ending at `due`: OPERATOR starts it with no
/// limit, it runs 10 h and an idle stop takes it down; OPERATOR2 starts it
/// for 2 h 14 h later, and its time limit stops it.
fn known_trail(t: &TestApp, due: DateTime<Utc>) {
    let d = |h: i64| due - Duration::hours(h);
    let store = t.app.store();
    store.record(row("r1", d(72), OPERATOR, "start foo", "ACTIVE"));
    store.record(row("r2", d(62), "timer:idle", "stop foo", "STOPPED"));
    store.record(row("r3", d(48), OPERATOR2, "start foo for 2h", "ACTIVE"));
    store.record(row("r4", d(46), "timer:lease", "stop foo", "STOPPED"));
    // Before the week: not counted.
    store.record(row("r0", d(24 * 9), OPERATOR, "start foo", "ACTIVE"));
    store.record(row("r00", d(24 * 8), OPERATOR, "stop foo", "STOPPED"));
}

struct Env {
    t: TestApp,
    clock: Clock,
    google: FakeGoogle,
    due: DateTime<Utc>,
}

async fn spawn_with(slack: Option<Fake>, store_url: Option<String>) -> Env {
    let clock = Clock::default();
    let google = FakeGoogle::start(&[(FOO_PATH, "STOPPED")]).await;
    let t = spawn_app(Spawn {
        config: with_report(&store_url.unwrap_or_default()),
        settings: settings(&clock, Some(&google)),
        slack,
        ..Default::default()
    })
    .await;
    let due = next_monday_nine();
    Env {
        t,
        clock,
        google,
        due,
    }
}

/// The clock at `due` plus `after`.
fn at(env: &Env, after: Duration) {
    let target = env.due + after;
    env.clock.advance(target - env.t.app.now());
}

/// Calls that posted (or tried to post) the report: uploads, and messages
/// to the report's channel.
fn posted_report(t: &TestApp) -> Vec<Call> {
    t.slack
        .calls()
        .into_iter()
        .filter(|c| {
            c.path.contains("files.")
                || c.path.starts_with("/upload/")
                || (c.path == "/api/chat.postMessage" && c.json()["channel"] == REPORTS)
        })
        .collect()
}

#[tokio::test]
async fn on_its_day_and_time_the_report_is_posted_once_with_the_trails_figures_and_a_png_chart() {
    let env = spawn_with(None, None).await;
    known_trail(&env.t, env.due);
    at(&env, -Duration::minutes(2));
    assert!(!env.t.app.tick().await.unwrap().reported, "not yet due");
    at(&env, Duration::minutes(1));
    assert!(env.t.app.tick().await.unwrap().reported);
    assert!(!env.t.app.tick().await.unwrap().reported, "once");

    let calls = posted_report(&env.t);
    let paths: Vec<&str> = calls.iter().map(|c| c.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/api/files.getUploadURLExternal",
            "/upload/F0CHART1",
            "/api/files.completeUploadExternal"
        ],
        "the three upload calls, in order, and nothing else"
    );
    let asked: Vec<(String, String)> = serde_urlencoded::from_str(&calls[0].query).unwrap();
    let length: usize = asked
        .iter()
        .find(|(k, _)| k == "length")
        .unwrap()
        .1
        .parse()
        .unwrap();
    let upload = &calls[1];
    assert_eq!(upload.header("content-type"), Some("image/png"));
    assert_eq!(
        upload.header("content-length"),
        Some(length.to_string().as_str())
    );
    // The body is recorded as text: the first byte (0x89) reads as U+FFFD.
    assert!(
        upload.body.starts_with("\u{FFFD}PNG\r\n\u{1a}\n"),
        "PNG magic"
    );
    assert!(upload.body.contains("IHDR"));
    let done = calls[2].json();
    assert_eq!(done["channel_id"], REPORTS);
    assert_eq!(done["files"][0]["id"], "F0CHART1");
    let text = done["initial_comment"].as_str().unwrap().to_owned();
    for needle in [
        "*Weekly notebook report*",
        "• `foo`: 12 h, about 79.20 USD",
        "In all, about 79.20 USD.",
        "• time limits: 46 h, about 303.60 USD",
        "• schedules: 0 min",
        "• idle stops: 14 h, about 92.40 USD",
        "*Ran longest without a time limit*\n• `foo`: 10 h",
        &format!("*Started the most hours*\n• <@{OPERATOR}>: 10 h\n• <@{OPERATOR2}>: 2 h"),
    ] {
        assert!(text.contains(needle), "{needle}: {text}");
    }
    assert!(!text.contains("late"), "{text}");
}

#[tokio::test]
async fn without_files_write_the_report_is_posted_as_text_saying_how_to_get_the_chart() {
    use std::sync::Arc;
    let slack = Fake::start(Arc::new(|call: &Call| {
        if call.path == "/api/files.getUploadURLExternal" {
            return (200, serde_json::json!({"ok": false, "error": "missing_scope", "needed": "files:write", "provided": "commands,chat:write"}));
        }
        crate::fakes::slack_answer(call)
    }))
    .await;
    let env = spawn_with(Some(slack), None).await;
    known_trail(&env.t, env.due);
    at(&env, Duration::minutes(1));
    assert!(env.t.app.tick().await.unwrap().reported);
    let calls = posted_report(&env.t);
    let paths: Vec<&str> = calls.iter().map(|c| c.path.as_str()).collect();
    assert_eq!(
        paths,
        ["/api/files.getUploadURLExternal", "/api/chat.postMessage"]
    );
    let text = calls[1].text();
    assert!(text.contains("• `foo`: 12 h, about 79.20 USD"), "{text}");
    assert!(
        text.contains("add the optional `files:write` bot scope"),
        "{text}"
    );
}

#[tokio::test]
async fn a_missed_tick_posts_the_report_late_with_a_note_and_a_week_old_one_not_at_all() {
    let env = spawn_with(None, None).await;
    at(&env, Duration::hours(3));
    assert!(env.t.app.tick().await.unwrap().reported);
    let calls = posted_report(&env.t);
    let text = calls.last().unwrap().json()["initial_comment"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(text.contains("This report is late: it was due"), "{text}");

    let env = spawn_with(None, None).await;
    at(&env, Duration::days(2));
    assert!(
        !env.t.app.tick().await.unwrap().reported,
        "two days late: skipped"
    );
    assert!(posted_report(&env.t).is_empty());
}

#[tokio::test]
async fn report_now_posts_at_once_for_an_admin_and_is_refused_to_anyone_else() {
    let env = spawn_with(None, None).await;
    env.t.command(OPERATOR, "report now").await;
    let refused = env.t.slack.wait_for("/response/1", 1).await[0].text();
    assert!(
        refused.contains("Only the bot's admins may post the weekly report"),
        "{refused}"
    );
    assert!(posted_report(&env.t).is_empty(), "nothing posted");
    assert!(
        env.google.api_calls().is_empty(),
        "nothing read from Google"
    );
    env.t
        .command_to(ADMIN, "report now", &env.t.response_url(2))
        .await;
    let done = env.t.slack.wait_for("/response/2", 1).await[0].text();
    assert!(done.contains(&format!("posted in <#{REPORTS}>")), "{done}");
    assert_eq!(posted_report(&env.t).len(), 3);
    // `report` alone is still `costs`.
    env.t
        .command_to(OPERATOR, "report", &env.t.response_url(3))
        .await;
    let costs = env.t.slack.wait_for("/response/3", 1).await[0].text();
    assert!(costs.starts_with("*Costs*"), "{costs}");
}

#[tokio::test]
async fn two_replicas_on_postgres_post_the_report_once() {
    let db = fresh_database().await;
    let slack = fake_slack().await;
    let a = spawn_with(Some(slack.clone()), Some(db.clone())).await;
    let b = spawn_with(Some(slack.clone()), Some(db)).await;
    at(&a, Duration::minutes(1));
    at(&b, Duration::minutes(1));
    let (ra, rb) = tokio::join!(a.t.app.tick(), b.t.app.tick());
    assert_eq!(
        u8::from(ra.unwrap().reported) + u8::from(rb.unwrap().reported),
        1
    );
    let shares = slack.calls_to("/api/files.completeUploadExternal");
    assert_eq!(shares.len(), 1, "{shares:#?}");
}

#[tokio::test]
async fn report_now_without_a_channel_says_so_and_posts_nothing() {
    let clock = Clock::default();
    let google = FakeGoogle::start(&[(FOO_PATH, "STOPPED")]).await;
    let t = spawn_app(Spawn {
        settings: settings(&clock, Some(&google)),
        ..Default::default()
    })
    .await;
    t.command(ADMIN, "report now").await;
    let said = t.slack.wait_for("/response/1", 1).await[0].text();
    assert!(said.contains("No `[report] channel` is set"), "{said}");
    assert!(posted_report(&t).is_empty());
    assert!(google.api_calls().is_empty(), "nothing read from Google");
    assert!(!t.app.tick().await.unwrap().reported);
}

#[tokio::test]
async fn a_report_slack_will_not_take_is_said_to_the_admin_and_not_counted_as_posted() {
    use std::sync::Arc;
    // Slack refuses every file call and every post to the report's channel.
    let slack = Fake::start(Arc::new(|call: &Call| {
        let to_reports = call.json()["channel"] == REPORTS;
        if call.path.contains("files.") || (call.path == "/api/chat.postMessage" && to_reports) {
            return (
                200,
                serde_json::json!({"ok": false, "error": "not_in_channel"}),
            );
        }
        crate::fakes::slack_answer(call)
    }))
    .await;
    let env = spawn_with(Some(slack), None).await;
    env.t.command(ADMIN, "report now").await;
    let said = env.t.slack.wait_for("/response/1", 1).await[0].text();
    assert!(
        said.contains(":x: The weekly report could not be posted"),
        "{said}"
    );
    assert!(
        said.contains("not_in_channel"),
        "Slack's own reason: {said}"
    );
    at(&env, Duration::minutes(1));
    assert!(
        !env.t.app.tick().await.unwrap().reported,
        "not posted is not reported (the claim stays open for a later tick)"
    );
}

//! Every automatic stop is kept, or someone is told: time limits, schedules
//! and approvals under ordinary faults (a slow start, a maintenance state, a
//! failed workflow run, a rolling deploy, a rate limit, a shutdown), each
//! asserting what reached Google or GitHub, what each person saw, and the
//! overdue count. Time moves by the app's clock, never by sleeping.

use crate::config::Notebooks;
use crate::entry_points::{block_actions, interact};
use crate::fakes::google::{FakeGoogle, OpBehaviour, TOKEN};
use crate::helpers::*;
use crate::pg::fresh_database;
use crate::timers::{Env, dms, foo, schedule_soon, settings, spawn, start_from_the_console};
use std::time::Duration;
use workbench_bot::act::State;
use workbench_bot::clock::Clock;
use workbench_bot::domain::{Principal, Verb};
use workbench_bot::store::{ApprovalState, InstanceLock};

const MINUTE: chrono::Duration = chrono::Duration::minutes(1);

fn texts(t: &TestApp, user: &str) -> Vec<String> {
    dms(t, user).iter().map(|c| c.text()).collect()
}

fn count(texts: &[String], needle: &str) -> usize {
    texts.iter().filter(|m| m.contains(needle)).count()
}

/// OPERATOR presses *Keep 1 h* on foo's card; what they are told.
async fn keep(t: &TestApp) -> String {
    interact(
        t,
        &block_actions(OPERATOR, "notebook_keep", "foo", &t.response_url(2)),
    )
    .await;
    t.slack.wait_for("/response/2", 1).await[0].text()
}

/// A refused extension: the session is as it was, and no approver was asked.
async fn unchanged_and_nobody_asked(t: &TestApp, before: &workbench_bot::store::Session) {
    assert_eq!(&session_at(t, FOO_PATH).await.unwrap(), before);
    let waiting = t.app.store().db().waiting_approvals().await.unwrap();
    assert!(waiting.is_empty(), "{waiting:#?}");
}

/// `foo` on the Notebooks fake, with the bot waiting at most a second for
/// an operation (a GPU start or stop takes minutes).
async fn waiting_one_second() -> (TestApp, Clock, FakeGoogle) {
    let Env { t, clock, google } = spawn(true, |c| {
        c.backend.notebooks = Some(Notebooks {
            operation_timeout_seconds: 1,
        });
    })
    .await;
    (t, clock, google.unwrap())
}

#[tokio::test]
async fn a_start_that_outlives_the_operation_wait_is_still_stopped_at_its_time_limit() {
    let (t, clock, google) = waiting_one_second().await;
    google.behave(OpBehaviour::Never);
    t.command(OPERATOR, "start foo for 2m").await;
    let said = t.slack.wait_for("/response/1", 2).await[1].text();
    assert!(said.contains("still starting"), "{said}");
    assert!(said.contains("It stops on its own"), "the promise: {said}");
    // Google finishes the start long after the bot stopped waiting.
    google.set_state(FOO_PATH, "ACTIVE");
    google.behave(OpBehaviour::DoneAfter(1));
    assert_eq!(t.app.tick().await.unwrap().stopped, 0);
    clock.advance(MINUTE * 3);
    assert_eq!(t.app.tick().await.unwrap().stopped, 1);
    assert_eq!(google.posts("stop").len(), 1);
    assert_eq!(google.state_of(FOO_PATH), "STOPPED");
    let told = texts(&t, OPERATOR);
    assert_eq!(count(&told, "The bot stopped `foo`"), 1, "{told:#?}");
}

#[tokio::test]
async fn an_upgrading_instance_keeps_its_time_limit_and_its_failures_are_told_once() {
    let Env { t, clock, google } = spawn(true, |_| {}).await;
    let google = google.unwrap();
    t.command(OPERATOR, "start foo for 2m").await;
    t.slack.wait_for("/response/1", 2).await;
    // Maintenance: Google upgrades it for a few ticks around its time limit.
    google.set_state(FOO_PATH, "UPGRADING");
    clock.advance(MINUTE);
    assert_eq!(t.app.tick().await.unwrap().stopped, 0);
    clock.advance(MINUTE * 5);
    let failing = t.app.tick().await.unwrap();
    assert_eq!((failing.stopped, failing.failed), (0, 1));
    assert_eq!(failing.overdue, 1, "past due by more than two ticks");
    for _ in 0..3 {
        clock.advance(MINUTE * 3);
        assert_eq!(t.app.tick().await.unwrap().stopped, 0);
    }
    assert!(
        google.posts("stop").is_empty(),
        "never sent while upgrading"
    );
    let told = texts(&t, OPERATOR);
    assert_eq!(
        count(&told, "did not go through"),
        1,
        "once per episode: {told:#?}"
    );
    assert!(told.iter().any(|m| m.contains("`UPGRADING`")), "{told:#?}");
    // The third failure reaches the operators too, once.
    let to_ops: Vec<String> = texts(&t, OPERATOR2);
    assert_eq!(count(&to_ops, "has failed 3 times"), 1, "{to_ops:#?}");

    google.set_state(FOO_PATH, "ACTIVE");
    clock.advance(MINUTE * 15);
    let done = t.app.tick().await.unwrap();
    assert_eq!((done.stopped, done.overdue), (1, 0));
    assert_eq!(google.posts("stop").len(), 1);
    let told = texts(&t, OPERATOR);
    let last = told.last().unwrap();
    assert!(last.contains("The bot stopped `foo`"), "{last}");
    assert!(last.contains("late"), "says it is late: {last}");
}

/// `foo` on GitHub only (no state reads), with runs the test decides.
async fn on_github(clock: &Clock) -> (TestApp, Fake, crate::fakes::github::Runs) {
    let (github, runs) = crate::fakes::github::fake_github_runs().await;
    let mut config = TestConfig::default();
    config.backend.default = "github".into();
    let t = spawn_app(Spawn {
        config,
        settings: workbench_bot::settings::Settings {
            clock: clock.clone(),
            ..crate::github::github_settings(&github, false)
        },
        ..Default::default()
    })
    .await;
    (t, github, runs)
}

#[tokio::test]
async fn a_stop_whose_workflow_run_failed_is_told_as_not_done_and_sent_again_as_a_new_try() {
    let clock = Clock::default();
    let (t, github, runs) = on_github(&clock).await;
    t.command(OPERATOR, "start foo for 2m").await;
    github.wait_for("/dispatches", 1).await;
    runs.next_runs("completed", Some("failure"));
    clock.advance(MINUTE * 6);
    assert_eq!(t.app.tick().await.unwrap().stopped, 0, "handed off only");
    let first = github.wait_for("/dispatches", 2).await[1].json();
    let p = &first["client_payload"];
    assert_eq!(p["command"], "stop");
    assert!(p["workbench"].get("attempt").is_none(), "{p}");
    let failed = t.app.tick().await.unwrap();
    assert_eq!((failed.stopped, failed.failed, failed.overdue), (0, 1, 1));
    let told = texts(&t, OPERATOR);
    assert_eq!(
        count(&told, "The bot stopped"),
        0,
        "never told as stopped: {told:#?}"
    );
    assert_eq!(count(&told, "did not go through"), 1, "{told:#?}");
    assert!(
        told.iter().any(|m| m.contains("concluded `failure`")),
        "{told:#?}"
    );

    // After its backoff the stop goes out again, as try 2, whose run succeeds.
    runs.next_runs("completed", Some("success"));
    clock.advance(MINUTE);
    t.app.tick().await.unwrap();
    let second = github.wait_for("/dispatches", 3).await[2].json();
    let p = &second["client_payload"];
    assert_eq!(p["workbench"]["attempt"], 2);
    assert_eq!(p["request_id"], first["client_payload"]["request_id"]);
    let payload: workbench_bot::act::DispatchPayload = serde_json::from_value(p.clone()).unwrap();
    payload
        .verify(&[DISPATCH_SECRET], chrono::Utc::now().timestamp(), 60)
        .expect("the try number is signed in");
    assert!(runs.titles().last().unwrap().ends_with("attempt 2)"));
    assert_eq!(
        t.app.tick().await.unwrap().stopped,
        1,
        "confirmed by its run"
    );
    let told = texts(&t, OPERATOR);
    assert_eq!(count(&told, "did not go through"), 1, "{told:#?}");
    assert!(
        told.last().unwrap().contains("The bot stopped `foo`"),
        "{told:#?}"
    );
    assert!(session_at(&t, FOO_PATH).await.is_none());
}

const REP_PATH: &str = "projects/example-project/locations/us-central1-a/instances/rep";

/// Two replicas on one PostgreSQL in a rolling deploy: a real process whose
/// config does not have `rep` yet, and one that does.
#[tokio::test]
async fn a_replica_without_an_alias_leaves_its_state_alone_and_the_other_stops_it() {
    let db = fresh_database().await;
    let google = FakeGoogle::start(&[(FOO_PATH, "STOPPED"), (REP_PATH, "STOPPED")]).await;
    let clock = Clock::default();
    let mut with_rep = TestConfig::new(&db);
    with_rep.backend.default = "notebooks".into();
    with_rep
        .instance
        .push(Instance::new("rep", REP_PATH, &[OPERATOR], &[]));
    let knows = spawn_app(Spawn {
        config: with_rep,
        settings: settings(&clock, Some(&google)),
        ..Default::default()
    })
    .await;
    knows.command(OPERATOR, "start rep for 2m").await;
    knows.slack.wait_for("/response/1", 2).await;

    // The other replica ticks every second on its own, without `rep`.
    let dir = tempfile::tempdir().unwrap();
    let mut without = TestConfig::new(&db);
    without.backend.default = "notebooks".into();
    without.scheduler = Some(crate::config::Scheduler {
        tick_seconds: Some(1),
        ..Default::default()
    });
    let path = dir.path().join("without-rep.toml");
    std::fs::write(&path, without.toml()).unwrap();
    let log = dir.path().join("stdout.log");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_workbench-bot"))
        .args(["serve", "--config"])
        .arg(&path)
        .env("PORT", port.to_string())
        .env("SLACK_SIGNING_SECRET", SECRET)
        .env("SLACK_BOT_TOKEN", BOT_TOKEN)
        .env("SLACK_API_URL", format!("{}/api", knows.slack.url))
        .env("NOTEBOOKS_API_URL", &google.fake.url)
        .env("GOOGLE_OAUTH_ACCESS_TOKEN", TOKEN)
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let said = wait_until(Duration::from_secs(10), || {
        std::fs::read_to_string(&log)
            .ok()
            .filter(|l| l.contains("leaving it alone") && l.contains(REP_PATH))
    })
    .await;
    let _ = child.kill();
    let _ = child.wait();
    let said = said.expect("the replica without rep says it left rep alone");
    assert_eq!(
        said.matches("leaving it alone").count(),
        1,
        "said once, not every tick: {said}"
    );
    let kept = session_at(&knows, REP_PATH).await;
    assert!(
        kept.is_some_and(|s| s.ends_at.is_some()),
        "its time limit is intact"
    );

    clock.advance(MINUTE * 3);
    assert_eq!(knows.app.tick().await.unwrap().stopped, 1);
    assert_eq!(google.state_of(REP_PATH), "STOPPED");
    assert_eq!(google.posts("stop").len(), 1);
}

/// `foo` guarded by ADMIN (and OPERATOR2), on the dry run, approvals in ADMIN's DMs.
async fn guarded(configure: impl FnOnce(&mut TestConfig)) -> Env {
    spawn(false, |c| {
        c.guard_foo();
        configure(c);
    })
    .await
}

/// The id of the latest approval request waiting in the store.
async fn waiting_id(t: &TestApp) -> String {
    let found = wait_until(Duration::from_secs(5), || {
        futures::executor::block_on(t.app.store().db().waiting_approvals())
            .ok()
            .and_then(|w| w.last().map(|a| a.id.clone()))
    })
    .await;
    found.expect("an approval request")
}

#[tokio::test]
async fn an_approved_start_is_carried_out_although_the_requester_spent_their_rate_limit() {
    let Env { t, .. } = guarded(|c| c.limits.per_user_per_minute = 3).await;
    t.command(OPERATOR, "start foo for 1h because a training run")
        .await;
    let id = waiting_id(&t).await;
    for _ in 0..4 {
        t.command(OPERATOR, "status foo").await;
    }
    let replies = reply_texts(&t, "/response/1", 5).await;
    // Replies come back in any order; the last ones are the rate limit's.
    assert!(count(&replies, "requests in a minute") >= 1, "{replies:#?}");
    interact(
        &t,
        &block_actions(ADMIN, "approval_approve", &id, &t.response_url(2)),
    )
    .await;
    let approved = t.slack.wait_for("/response/2", 1).await[0].text();
    assert!(approved.contains("running"), "{approved}");
    assert_eq!(dry_state(&t).await, State::Active);
    let a = t.app.store().db().approval(&id).await.unwrap().unwrap();
    assert_eq!(a.state, ApprovalState::Started, "the grant is used once");
}

#[tokio::test]
async fn an_approval_left_between_approved_and_started_is_carried_out_by_the_next_tick() {
    let Env { t, clock, .. } = guarded(|_| {}).await;
    t.command(OPERATOR, "start foo for 1h because a training run")
        .await;
    let id = waiting_id(&t).await;
    t.wait_audit(1).await;
    // What a SIGTERM between the approval and the start leaves: approved, unused.
    let approver = Principal::parse(ADMIN).unwrap();
    let db = t.app.store().db();
    assert!(
        db.decide_approval(
            &id,
            ApprovalState::Approved,
            Some(&approver),
            None,
            clock.now()
        )
        .await
        .unwrap()
    );
    assert_eq!(dry_state(&t).await, State::Stopped);
    let report = t.app.tick().await.unwrap();
    assert_eq!(report.resumed_approvals, 1);
    assert_eq!(dry_state(&t).await, State::Active);
    let told = texts(&t, OPERATOR);
    assert!(
        told.iter().any(|m| m.contains("`foo` is running")),
        "{told:#?}"
    );
    assert_eq!(t.app.tick().await.unwrap().resumed_approvals, 0, "once");
    let rows = t.audit().await;
    assert!(
        rows.iter().any(|r| r.request_id == id
            && r.outcome == "done:ACTIVE"
            && r.approved_by.as_deref() == Some(ADMIN)),
        "the start is audited under the request's id, with its approver: {rows:#?}"
    );
    let session = session_at(&t, FOO_PATH).await.unwrap();
    assert!(session.approved_until.is_some());
}

#[tokio::test]
async fn an_extension_past_the_approved_length_asks_the_approvers_again() {
    let Env { t, .. } = guarded(|c| foo(c).max_hours = Some(8.0)).await;
    t.command(OPERATOR, "start foo for 1h because a training run")
        .await;
    let id = waiting_id(&t).await;
    interact(
        &t,
        &block_actions(ADMIN, "approval_approve", &id, &t.response_url(2)),
    )
    .await;
    t.slack.wait_for("/response/2", 1).await;
    let before = session_at(&t, FOO_PATH).await.unwrap().ends_at;
    t.command(OPERATOR, "extend foo 2h").await;
    let asked = t.slack.wait_for("/response/1", 2).await[1].text();
    assert!(asked.contains("waiting for"), "{asked}");
    assert_eq!(session_at(&t, FOO_PATH).await.unwrap().ends_at, before);
    let more = waiting_id(&t).await;
    assert_ne!(more, id);
    interact(
        &t,
        &block_actions(OPERATOR2, "approval_approve", &more, &t.response_url(3)),
    )
    .await;
    t.slack.wait_for("/response/3", 1).await;
    let after = session_at(&t, FOO_PATH).await.unwrap();
    assert_eq!(
        after.ends_at.unwrap() - before.unwrap(),
        chrono::Duration::hours(2)
    );
    assert_eq!(after.approved_until, after.ends_at);
}

/// `foo` with `max_hours` of 3 minutes and a scheduled stop at `at`,
/// started from the console and seen by a tick, then `extend foo 168h`:
/// what it said and the session after it.
async fn console_started_then_extended(
    at: crate::config::StopAt,
) -> (Env, String, workbench_bot::store::Session) {
    let env = spawn(false, |c| {
        foo(c).max_hours = Some(0.05);
        foo(c).stop_at = Some(at);
    })
    .await;
    let t = &env.t;
    start_from_the_console(t).await;
    t.app.tick().await.unwrap();
    t.command(OPERATOR, "extend foo 168h").await;
    let said = t.slack.wait_for("/response/1", 1).await[0].text();
    let session = session_at(t, FOO_PATH).await.unwrap();
    (env, said, session)
}

#[tokio::test]
async fn extend_never_passes_max_hours_from_when_the_bot_first_saw_it_running() {
    // A scheduled stop two minutes ahead: skipped, but only up to the cap.
    let at = schedule_soon(&Clock::default(), false);
    let (Env { t, clock, .. }, said, s) = console_started_then_extended(at).await;
    assert!(said.contains("`max_hours` (3m) allows"), "{said}");
    assert!(said.contains("(in 3 min)"), "{said}");
    assert!(s.ends_at.unwrap() - s.started_at <= chrono::Duration::minutes(3));
    clock.advance(MINUTE * 4);
    assert_eq!(t.app.tick().await.unwrap().stopped, 1, "stopped at the cap");
}

#[tokio::test]
async fn an_extension_that_would_skip_a_stop_past_max_hours_is_refused_and_the_stop_stays() {
    // The scheduled stop comes about four minutes after the bot first sees
    // the instance: after its `max_hours` (3 min) from then.
    let later = Clock::default();
    later.advance(chrono::Duration::seconds(150));
    let (Env { t, clock, .. }, said, s) =
        console_started_then_extended(schedule_soon(&later, false)).await;
    assert!(said.contains("cannot skip its scheduled stop"), "{said}");
    assert!(said.contains("`max_hours` (3m)"), "{said}");
    assert_eq!((s.ends_at, s.skipped), (None, None), "nothing moved");
    clock.advance(MINUTE * 5);
    assert_eq!(
        t.app.tick().await.unwrap().stopped,
        1,
        "the scheduled stop stays"
    );
    assert_eq!(dry_state(&t).await, State::Stopped);
}

#[tokio::test]
async fn keep_pressed_while_the_automatic_stop_holds_the_instance_says_it_is_under_way() {
    let Env { t, clock, .. } = spawn(false, |c| foo(c).max_hours = Some(8.0)).await;
    t.command(OPERATOR, "start foo for 2m").await;
    t.slack.wait_for("/response/1", 1).await;
    let db = t.app.store().db();
    let before = session_at(&t, FOO_PATH).await.unwrap().ends_at;
    // The automatic stop has the instance's claim right now.
    let held = InstanceLock {
        instance: FOO_PATH.into(),
        request_id: "the-automatic-stop".into(),
        principal: Principal::parse("timer:lease").unwrap(),
        verb: Verb::Stop,
        expires_at: chrono::Utc::now().timestamp_millis() + 60_000,
    };
    assert_eq!(db.lock_instance(&held).await.unwrap(), None);
    clock.advance(MINUTE);
    let said = keep(&t).await;
    assert!(said.contains("already under way"), "{said}");
    assert!(!said.contains("now stops"), "{said}");
    assert_eq!(session_at(&t, FOO_PATH).await.unwrap().ends_at, before);
    db.unlock_instance(FOO_PATH, "the-automatic-stop")
        .await
        .unwrap();
    clock.advance(MINUTE * 2);
    assert_eq!(t.app.tick().await.unwrap().stopped, 1, "and it stops");
    assert_eq!(dry_state(&t).await, State::Stopped);
}

/// `start foo for 2m` on GitHub only, and the tick that hands its stop over.
async fn a_stop_handed_to_github() -> (Clock, TestApp, Fake, crate::fakes::github::Runs) {
    let clock = Clock::default();
    let (t, github, runs) = on_github(&clock).await;
    t.command(OPERATOR, "start foo for 2m").await;
    github.wait_for("/dispatches", 1).await;
    clock.advance(MINUTE * 3);
    t.app.tick().await.unwrap();
    github.wait_for("/dispatches", 2).await;
    (clock, t, github, runs)
}

#[tokio::test]
async fn a_stop_handed_to_github_whose_run_never_shows_up_is_told_as_not_done() {
    let (clock, t, github, runs) = a_stop_handed_to_github().await;
    runs.forget();
    assert_eq!(
        t.app.tick().await.unwrap().failed,
        0,
        "a run may yet appear"
    );
    clock.advance(MINUTE * 61);
    let late = t.app.tick().await.unwrap();
    assert_eq!((late.stopped, late.failed), (0, 1));
    assert_eq!(
        github.calls_to("/dispatches").len(),
        2,
        "retried after its backoff only"
    );
    let told = texts(&t, OPERATOR);
    assert_eq!(count(&told, "The bot stopped"), 0, "{told:#?}");
    assert!(
        told.iter()
            .any(|m| m.contains("no workflow run for request")),
        "{told:#?}"
    );
    assert!(
        session_at(&t, FOO_PATH).await.is_some(),
        "the time limit stays"
    );
}

#[tokio::test]
async fn a_persons_stop_on_github_closes_the_session_only_when_its_run_succeeds() {
    let clock = Clock::default();
    let (t, github, runs) = on_github(&clock).await;
    t.command(OPERATOR, "start foo for 2h").await;
    github.wait_for("/dispatches", 1).await;
    runs.next_runs("completed", Some("failure"));
    t.command(OPERATOR, "stop foo").await;
    github.wait_for("/dispatches", 2).await;
    let failed = t.app.tick().await.unwrap();
    assert_eq!((failed.stopped, failed.failed), (0, 0));
    let kept = session_at(&t, FOO_PATH).await.expect("the session stays");
    assert!(
        kept.ends_at.is_some() && kept.stopping.is_none(),
        "{kept:?}"
    );
    assert_eq!(count(&texts(&t, OPERATOR), "did not go through"), 0);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        github.calls_to("/dispatches").len(),
        2,
        "a person's stop is not sent again"
    );

    runs.next_runs("completed", Some("success"));
    t.command(OPERATOR, "stop foo").await;
    github.wait_for("/dispatches", 3).await;
    t.app.tick().await.unwrap();
    assert!(
        session_at(&t, FOO_PATH).await.is_none(),
        "closed by its run"
    );
}

#[tokio::test]
async fn an_instance_google_reports_deleted_ends_its_session_and_says_so() {
    let Env { t, google, .. } = spawn(true, |_| {}).await;
    let google = google.unwrap();
    t.command(OPERATOR, "start foo for 2m").await;
    t.slack.wait_for("/response/1", 2).await;
    google.set_state(FOO_PATH, "DELETED");
    assert_eq!(t.app.tick().await.unwrap().stopped, 0);
    assert!(session_at(&t, FOO_PATH).await.is_none());
    let told = texts(&t, OPERATOR);
    assert_eq!(
        count(&told, "Google reports `foo` as deleted"),
        1,
        "{told:#?}"
    );
    assert!(google.posts("stop").is_empty());
}

#[tokio::test]
async fn an_unused_grant_lapses_after_another_timeout_and_starts_nothing() {
    let Env { t, clock, .. } = guarded(|_| {}).await;
    t.command(OPERATOR, "start foo for 1h because a training run")
        .await;
    let id = waiting_id(&t).await;
    let approver = Principal::parse(ADMIN).unwrap();
    let db = t.app.store().db();
    db.decide_approval(
        &id,
        ApprovalState::Approved,
        Some(&approver),
        None,
        clock.now(),
    )
    .await
    .unwrap();
    // The bot was down for longer than the request's timeout twice over.
    clock.advance(MINUTE * 121);
    assert_eq!(t.app.tick().await.unwrap().resumed_approvals, 0);
    assert_eq!(dry_state(&t).await, State::Stopped, "nothing started");
    let told = texts(&t, OPERATOR);
    assert!(
        told.iter()
            .any(|m| m.contains("could not be carried out in time")),
        "{told:#?}"
    );
    assert_eq!(
        db.approval(&id).await.unwrap().unwrap().state,
        ApprovalState::Started,
        "spent, so no later tick starts it"
    );
}

#[tokio::test]
async fn more_time_that_nobody_else_could_approve_is_refused_and_changes_nothing() {
    // OPERATOR2 is the only approver; OPERATOR's start was approved by them.
    let Env { t, .. } = spawn(false, |c| {
        foo(c).approvers = Some(vec![OPERATOR2.into()]);
        foo(c).max_hours = Some(8.0);
    })
    .await;
    t.command(OPERATOR, "start foo for 1h because a training run")
        .await;
    let id = waiting_id(&t).await;
    interact(
        &t,
        &block_actions(OPERATOR2, "approval_approve", &id, &t.response_url(2)),
    )
    .await;
    t.slack.wait_for("/response/2", 1).await;
    let before = session_at(&t, FOO_PATH).await.unwrap();
    t.command(OPERATOR2, "extend foo 2h").await;
    let said = t.slack.wait_for("/response/1", 2).await[1].text();
    assert!(said.contains("an approver other than you"), "{said}");
    unchanged_and_nobody_asked(&t, &before).await;
    assert_eq!(dry_state(&t).await, State::Active);
}

#[tokio::test]
async fn a_stop_whose_runs_github_will_not_list_is_never_sent_again_on_a_guess() {
    let (clock, t, github, runs) = a_stop_handed_to_github().await;
    runs.refuse_listing();
    assert_eq!(t.app.tick().await.unwrap().failed, 0);
    clock.advance(MINUTE * 61);
    for _ in 0..3 {
        let tick = t.app.tick().await.unwrap();
        assert_eq!((tick.stopped, tick.failed, tick.overdue), (0, 0, 1));
        clock.advance(MINUTE * 20);
    }
    assert_eq!(github.calls_to("/dispatches").len(), 2, "not sent again");
    let told = texts(&t, OPERATOR);
    assert_eq!(count(&told, "cannot confirm it ran"), 1, "once: {told:#?}");
    assert_eq!(count(&told, "The bot stopped"), 0, "{told:#?}");
    assert!(session_at(&t, FOO_PATH).await.is_some());
}

#[tokio::test]
async fn keep_pressed_while_a_stop_is_out_says_so_and_nothing_reaches_google() {
    let Env { t, google, .. } = spawn(true, |c| foo(c).max_hours = Some(8.0)).await;
    let google = google.unwrap();
    t.command(OPERATOR, "start foo for 2m").await;
    t.slack.wait_for("/response/1", 2).await;
    // A stop went out and is not confirmed yet.
    let before = session_at(&t, FOO_PATH).await.unwrap();
    let out = workbench_bot::store::Session {
        stopping: Some(workbench_bot::store::Stopping {
            reason: Some(workbench_bot::domain::TimerReason::Lease),
            due: before.ends_at.unwrap(),
            request_id: "the-stop".into(),
            attempt: 1,
            handed_off_at: None,
            failures: 0,
            next_try: None,
            told: false,
            operators_told: false,
        }),
        ..before
    };
    t.app.store().db().put_session(&out).await.unwrap();
    let said = keep(&t).await;
    assert!(said.contains("already under way"), "{said}");
    assert_eq!(
        session_at(&t, FOO_PATH).await.unwrap(),
        out,
        "nothing moved"
    );
    assert!(google.posts("stop").is_empty() && google.posts("start").len() == 1);
}

#[tokio::test]
async fn a_stop_that_outlives_the_wait_is_under_way_and_told_once_it_is_confirmed() {
    let (t, clock, google) = waiting_one_second().await;
    t.command(OPERATOR, "start foo for 2m").await;
    t.slack.wait_for("/response/1", 2).await;
    google.behave(OpBehaviour::Never);
    clock.advance(MINUTE * 3);
    let slow = t.app.tick().await.unwrap();
    assert_eq!(
        (slow.stopped, slow.failed),
        (0, 0),
        "going down, not failed"
    );
    assert_eq!(google.posts("stop").len(), 1);
    assert_eq!(count(&texts(&t, OPERATOR), "did not go through"), 0);
    google.set_state(FOO_PATH, "STOPPED");
    assert_eq!(t.app.tick().await.unwrap().stopped, 1);
    assert_eq!(google.posts("stop").len(), 1, "sent once");
    let told = texts(&t, OPERATOR);
    assert_eq!(count(&told, "The bot stopped `foo`"), 1, "{told:#?}");
    assert!(session_at(&t, FOO_PATH).await.is_none());
}

#[tokio::test]
async fn keep_on_a_scheduled_stop_that_keeps_failing_calls_it_off() {
    let at = schedule_soon(&Clock::default(), false);
    let Env { t, clock, google } = spawn(true, |c| {
        foo(c).stop_at = Some(at);
        foo(c).max_hours = Some(8.0);
    })
    .await;
    let google = google.unwrap();
    t.command(OPERATOR, "start foo").await;
    t.slack.wait_for("/response/1", 2).await;
    google.set_state(FOO_PATH, "UPGRADING");
    clock.advance(MINUTE * 3);
    assert_eq!(t.app.tick().await.unwrap().failed, 1);
    let kept = keep(&t).await;
    assert!(
        kept.contains("scheduled stop before then is skipped"),
        "{kept}"
    );
    google.set_state(FOO_PATH, "ACTIVE");
    clock.advance(MINUTE * 5);
    let after = t.app.tick().await.unwrap();
    assert_eq!((after.stopped, after.failed), (0, 0), "called off");
    assert!(google.posts("stop").is_empty());
}

#[tokio::test]
async fn a_retried_stop_on_two_replicas_goes_out_once() {
    let (replicas, google, clock) = crate::timers::two_replicas_with_foo_started().await;
    google.fail_once("POST", ":stop", 403, false);
    clock.advance(MINUTE * 3);
    assert_eq!(replicas[1].app.tick().await.unwrap().failed, 1);
    clock.advance(MINUTE);
    let (a, b) = tokio::join!(replicas[0].app.tick(), replicas[1].app.tick());
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!((a.stopped + b.stopped, a.failed + b.failed), (1, 0));
    assert_eq!(
        google.posts("stop").len(),
        2,
        "the refused try and one retry"
    );
    let told = texts(&replicas[0], OPERATOR);
    assert_eq!(count(&told, "did not go through"), 1, "{told:#?}");
    assert_eq!(count(&told, "The bot stopped `foo`"), 1, "{told:#?}");
}

#[tokio::test]
async fn more_time_asked_by_a_workflow_message_is_refused_and_changes_nothing() {
    let Env { t, .. } = guarded(|c| foo(c).max_hours = Some(8.0)).await;
    start_from_the_console(&t).await;
    t.app.tick().await.unwrap();
    // Seen running, with an hour's time limit nobody approved longer.
    let mut before = session_at(&t, FOO_PATH).await.unwrap();
    before.ends_at = Some(before.started_at + chrono::Duration::hours(1));
    t.app.store().db().put_session(&before).await.unwrap();
    t.event(
        &crate::entry_points::workflow_message(
            "Ev0WFMORE",
            "B0WORKFLOW1",
            "A0WORKFLOW1",
            "<@U0OURBOT> extend foo 1h",
        ),
        None,
    )
    .await;
    posted_containing(&t, "needs a person's request").await;
    unchanged_and_nobody_asked(&t, &before).await;
}

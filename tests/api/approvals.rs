//! Approvals for guarded instances: a start waits for an approver's yes (never
//! the requester's), a denial or the timeout tells the requester and starts
//! nothing, and the same flow holds behind the workflow step and the GitHub
//! backend. Each test checks what reached Google or GitHub and what each
//! person saw.

use crate::entry_points::{block_actions, function_executed, interact, view_submission};
use crate::fakes::github::fake_github;
use crate::fakes::google::FakeGoogle;
use crate::helpers::*;
use crate::pg::fresh_database;
use crate::timers::prices;
use serde_json::{Value, json};
use std::time::Duration;
use workbench_bot::clock::Clock;
use workbench_bot::settings::Settings;

const APPROVALS: &str = "C0APPROVALS";
const WHY: &str = "fine-tuning run";

/// `foo` guarded by `@platform` (ADMIN) and OPERATOR2, on the Notebooks fake.
fn guarded(store_url: &str) -> TestConfig {
    let mut c = TestConfig::new(store_url);
    c.backend.default = "notebooks".into();
    c.cost = Some(prices());
    c.slack.approvals_channel = Some(APPROVALS.into());
    c.guard_foo();
    c
}

fn google_settings(google: &FakeGoogle, clock: &Clock) -> Settings {
    crate::timers::settings(clock, Some(google))
}

struct Env {
    t: TestApp,
    google: FakeGoogle,
    clock: Clock,
}

async fn spawn(config: TestConfig) -> Env {
    let google = FakeGoogle::start(&[(FOO_PATH, "STOPPED")]).await;
    let clock = Clock::default();
    let t = spawn_app(Spawn {
        config,
        settings: google_settings(&google, &clock),
        ..Default::default()
    })
    .await;
    Env { t, google, clock }
}

/// The approval request posted in the approvals channel: its text and id.
async fn request_in_channel(t: &TestApp) -> (String, String) {
    let posted = wait_until(Duration::from_secs(5), || {
        t.slack
            .calls_to("/api/chat.postMessage")
            .into_iter()
            .find(|c| c.json()["channel"] == APPROVALS)
    })
    .await
    .expect("an approval request in the approvals channel");
    let body = posted.json();
    let buttons = body["blocks"][1]["elements"].as_array().unwrap().clone();
    let ids: Vec<&str> = buttons
        .iter()
        .map(|b| b["action_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["approval_approve", "approval_deny"], "{body}");
    let id = buttons[0]["value"].as_str().unwrap().to_owned();
    assert_eq!(buttons[1]["value"], id.as_str());
    (body["text"].as_str().unwrap().to_owned(), id)
}

/// A press on the request in the channel (a message others see).
fn press(user: &str, action: &str, id: &str, response_url: &str) -> Value {
    let mut p = block_actions(user, action, id, response_url);
    p["container"]["is_ephemeral"] = json!(false);
    p["container"]["channel_id"] = json!(APPROVALS);
    p["channel"]["id"] = json!(APPROVALS);
    p
}

/// Messages the bot sent to `user`'s DMs, in order.
fn dms(t: &TestApp, user: &str) -> Vec<String> {
    t.slack
        .calls()
        .into_iter()
        .filter(|c| c.path == "/api/chat.postMessage" || c.path == "/api/chat.update")
        .map(|c| c.json())
        .filter(|b| b["channel"] == user)
        .map(|b| b["text"].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn dm_containing(t: &TestApp, user: &str, needle: &str) -> String {
    wait_until(Duration::from_secs(5), || {
        dms(t, user).into_iter().find(|m| m.contains(needle))
    })
    .await
    .unwrap_or_else(|| panic!("no DM to {user} saying {needle:?}: {:#?}", dms(t, user)))
}

/// A press on a request already decided (or expired): `who` hears `needle`
/// on response_url `n`, and nothing starts.
async fn late_press(env: &Env, who: &str, id: &str, n: u32, needle: &str) {
    let t = &env.t;
    interact(t, &press(who, "approval_approve", id, &t.response_url(n))).await;
    let late = t.slack.wait_for(&format!("/response/{n}"), 1).await[0].text();
    assert!(late.contains(needle), "{late}");
    assert!(env.google.posts("start").is_empty());
}

/// The audit holds at least `n` rows, one of them `outcome` by `principal`.
async fn audited(t: &TestApp, n: usize, outcome: &str, principal: &str) {
    let rows = t.wait_audit(n).await;
    assert!(
        rows.iter()
            .any(|r| r.outcome == outcome && r.principal == principal),
        "no {outcome} row by {principal}: {rows:#?}"
    );
}

/// `guarded`, with requests that expire after `minutes`.
fn guarded_for(minutes: u32) -> TestConfig {
    let mut config = guarded("");
    config.instance[0].approval_timeout_minutes = Some(minutes);
    config
}

/// The approval request's message, as last updated.
fn request_updates(t: &TestApp) -> Vec<String> {
    t.slack
        .calls_to("/api/chat.update")
        .into_iter()
        .map(|c| c.json())
        .filter(|b| b["channel"] == APPROVALS)
        .map(|b| b["text"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn a_guarded_start_asks_the_approvers_and_the_requester_cannot_approve_it() {
    let Env { t, google, .. } = spawn(guarded("")).await;

    // No reason: told how to ask, nothing posted, nothing started.
    t.command(OPERATOR, "start foo").await;
    let told = t.slack.wait_for("/response/1", 1).await[0].text();
    assert!(told.contains("start foo because"), "{told}");

    t.command(
        OPERATOR,
        &format!("start foo for 2h because {WHY} <!here> & co"),
    )
    .await;
    let waiting = t.slack.wait_for("/response/1", 2).await[1].text();
    assert!(
        waiting.contains("waiting for approval by `@platform`, <@U01BBBBBBBB>"),
        "{waiting}"
    );
    let (text, id) = request_in_channel(&t).await;
    for needle in [
        "<@U01AAAAAAAA> asks to start `foo` for 2 h",
        "Why: fine-tuning run &amp; co",
        "costs 6.60 USD an hour",
    ] {
        assert!(text.contains(needle), "{needle}: {text}");
    }
    assert!(!text.contains("<!here>"), "no live mention: {text}");

    // The requester's own press, and an operator who is no approver: refused.
    interact(
        &t,
        &press(OPERATOR, "approval_approve", &id, &t.response_url(2)),
    )
    .await;
    let own = t.slack.wait_for("/response/2", 1).await[0].text();
    assert!(own.contains("another approver must say yes"), "{own}");
    interact(
        &t,
        &press(STRANGER, "approval_approve", &id, &t.response_url(3)),
    )
    .await;
    let stranger = t.slack.wait_for("/response/3", 1).await[0].text();
    assert!(
        stranger.contains("Only `@platform`, <@U01BBBBBBBB> may"),
        "{stranger}"
    );

    let rows = t.wait_audit(4).await;
    assert!(google.posts("start").is_empty(), "nothing started");
    assert!(request_updates(&t).is_empty(), "still waiting");
    let reasons: Vec<&str> = rows.iter().map(|r| r.reason.as_str()).collect();
    assert_eq!(
        reasons,
        ["reason_required", "", "own_request", "not_approver"]
    );
    assert_eq!(rows[1].outcome, "awaiting_approval");
}

#[tokio::test]
async fn two_approvers_pressing_at_once_start_it_once_as_the_requesters_request() {
    let Env { t, google, .. } = spawn(guarded("")).await;
    t.command(OPERATOR, &format!("start foo because {WHY}"))
        .await;
    let (_, id) = request_in_channel(&t).await;

    let (yes_a, yes_b) = (
        press(ADMIN, "approval_approve", &id, &t.response_url(2)),
        press(OPERATOR2, "approval_approve", &id, &t.response_url(3)),
    );
    let (a, b) = tokio::join!(interact(&t, &yes_a), interact(&t, &yes_b));
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (200, 200));
    let heard = [
        t.slack.wait_for("/response/2", 1).await[0].text(),
        t.slack.wait_for("/response/3", 1).await[0].text(),
    ];
    assert_eq!(
        heard.iter().filter(|h| h.contains("You approved")).count(),
        1,
        "{heard:#?}"
    );
    assert!(
        heard.iter().any(|h| h.contains("already approved")),
        "{heard:#?}"
    );
    assert_eq!(google.posts("start").len(), 1, "started once");

    // The requester hears who approved, then how the start ended, in their DMs.
    dm_containing(&t, OPERATOR, "approved your start of `foo`").await;
    dm_containing(&t, OPERATOR, "`foo` is running").await;
    let updated = request_updates(&t);
    assert!(
        updated.iter().any(|u| u.contains("*Approved by <@")),
        "{updated:#?}"
    );

    let rows = t.wait_audit(4).await;
    let start = rows
        .iter()
        .find(|r| r.command.starts_with("start foo") && r.outcome == "done:ACTIVE")
        .expect("the start is audited");
    assert_eq!(start.principal, OPERATOR, "the requester's request");
    let approver = start.approved_by.clone().expect("and its approver");
    assert!([ADMIN, OPERATOR2].contains(&approver.as_str()));
    assert_eq!(start.request_id, id, "one request id from ask to start");
    assert!(
        rows.iter()
            .any(|r| r.outcome == "approved" && r.principal == approver)
    );
}

#[tokio::test]
async fn a_denial_with_a_reason_tells_the_requester_and_starts_nothing() {
    let env = spawn(guarded("")).await;
    let t = &env.t;
    t.command(OPERATOR, &format!("start foo for 3h because {WHY}"))
        .await;
    let (_, id) = request_in_channel(t).await;

    // Deny opens a dialog for the reason, only for an approver.
    interact(
        t,
        &press(OPERATOR, "approval_deny", &id, &t.response_url(2)),
    )
    .await;
    let own = t.slack.wait_for("/response/2", 1).await[0].text();
    assert!(own.contains("another approver"), "{own}");
    interact(t, &press(ADMIN, "approval_deny", &id, &t.response_url(3))).await;
    let opened = t.slack.wait_for("/api/views.open", 1).await;
    assert_eq!(opened.len(), 1, "one dialog, for the approver");
    let view = &opened[0].json()["view"];
    assert_eq!(view["callback_id"], "approval_deny_reason");
    assert_eq!(view["private_metadata"], id.as_str());

    let submit = |reason: &str| {
        json!({
            "type": "view_submission",
            "team": {"id": TEAM, "domain": "example"},
            "user": {"id": ADMIN, "username": "admin", "name": "admin", "team_id": TEAM},
            "api_app_id": "A0OURAPP",
            "trigger_id": "13345224609.738474920.8088930838d88f008e0",
            "view": {"id": "V0DENY1", "type": "modal", "callback_id": "approval_deny_reason",
                     "private_metadata": id, "state": {"values": {"reason": {"reason_input": {"type": "plain_text_input", "value": reason}}}}},
            "response_urls": []
        })
    };
    // An empty reason keeps the dialog open and says why.
    let blank = interact(t, &submit("  ")).await;
    let errors: Value = blank.json().await.unwrap();
    assert_eq!(errors["response_action"], "errors");
    assert!(errors["errors"]["reason"].is_string(), "{errors}");
    let long = interact(t, &submit(&"x".repeat(301))).await;
    let errors: Value = long.json().await.unwrap();
    assert!(
        errors["errors"]["reason"]
            .as_str()
            .unwrap()
            .contains("Keep it to 300 characters"),
        "{errors}"
    );

    interact(t, &submit("use the shared A100 <@U09ZZZZZZZZ>")).await;
    let told = dm_containing(t, OPERATOR, "denied your start of `foo`").await;
    assert!(told.contains("use the shared A100"), "{told}");
    assert!(told.contains("Nothing was started"), "{told}");
    dm_containing(t, ADMIN, "You denied").await;
    let updated = request_updates(t);
    assert!(
        updated
            .iter()
            .any(|u| u.contains("*Denied by <@U02CCCCCCCC>*")),
        "{updated:#?}"
    );

    // Decided: a late Approve starts nothing.
    late_press(&env, OPERATOR2, &id, 4, "already denied").await;
    audited(t, 4, "denied", ADMIN).await;
}

#[tokio::test]
async fn an_unanswered_request_expires_and_tells_the_requester() {
    let env = spawn(guarded_for(30)).await;
    let (t, clock) = (&env.t, &env.clock);
    t.command(OPERATOR, &format!("start foo because {WHY}"))
        .await;
    let (_, id) = request_in_channel(t).await;

    clock.advance(chrono::Duration::minutes(20));
    assert_eq!(t.app.tick().await.unwrap().expired, 0, "still in time");
    clock.advance(chrono::Duration::minutes(11));
    assert_eq!(t.app.tick().await.unwrap().expired, 1);
    assert_eq!(t.app.tick().await.unwrap().expired, 0, "once");
    let told = dm_containing(t, OPERATOR, "expired").await;
    assert!(told.contains("nobody answered within 30 min"), "{told}");
    assert!(request_updates(t).iter().any(|u| u.contains("*Expired*")));

    late_press(&env, ADMIN, &id, 2, "has expired").await;
    audited(t, 3, "expired", OPERATOR).await;
}

/// Several replicas share the request through PostgreSQL: Approve pressed on
/// each at once starts the instance once; and a replica whose config no longer
/// has the instance expires its waiting request with a sentence.
#[tokio::test]
async fn on_postgres_two_replicas_start_once_and_one_without_the_alias_leaves_its_request_alone() {
    let db = fresh_database().await;
    let google = FakeGoogle::start(&[(FOO_PATH, "STOPPED")]).await;
    let clock = Clock::default();
    let slack = fake_slack().await;
    let mut replicas = Vec::new();
    for _ in 0..2 {
        replicas.push(
            spawn_app(Spawn {
                config: guarded(&db),
                settings: google_settings(&google, &clock),
                slack: Some(slack.clone()),
                ..Default::default()
            })
            .await,
        );
    }
    replicas[0]
        .command(OPERATOR, &format!("start foo because {WHY}"))
        .await;
    let (_, id) = request_in_channel(&replicas[0]).await;
    let (a, b) = (&replicas[0], &replicas[1]);
    let (yes_a, yes_b) = (
        press(ADMIN, "approval_approve", &id, &a.response_url(2)),
        press(OPERATOR2, "approval_approve", &id, &b.response_url(3)),
    );
    tokio::join!(interact(a, &yes_a), interact(b, &yes_b));
    dm_containing(a, OPERATOR, "`foo` is running").await;
    slack.wait_for("/response/2", 1).await;
    slack.wait_for("/response/3", 1).await;
    assert_eq!(google.posts("start").len(), 1, "one start across replicas");

    // A new request, then a deploy whose config dropped `foo`.
    replicas[0]
        .command(OPERATOR2, &format!("start foo because {WHY}"))
        .await;
    wait_until(Duration::from_secs(5), || {
        (slack
            .calls_to("/api/chat.postMessage")
            .iter()
            .filter(|c| c.json()["channel"] == APPROVALS)
            .count()
            == 2)
            .then_some(())
    })
    .await
    .expect("a second request");
    let mut without = guarded(&db);
    without.instance.retain(|i| i.alias != "foo");
    let later = spawn_app(Spawn {
        config: without,
        settings: google_settings(&google, &clock),
        slack: Some(slack.clone()),
        ..Default::default()
    })
    .await;
    // A replica that does not know `foo` leaves its request alone: the
    // replicas that know it still decide it, or expire it in time.
    assert_eq!(later.app.tick().await.unwrap().expired, 0);
    let waiting = later.app.store().db().waiting_approvals().await.unwrap();
    assert_eq!(waiting.len(), 1, "{waiting:#?}");
    assert_eq!(waiting[0].instance, FOO_PATH);
    assert!(
        dms(&later, OPERATOR2)
            .iter()
            .all(|m| !m.contains("expired"))
    );
    // A press that lands on it decides nothing there.
    let id = waiting[0].id.clone();
    interact(
        &later,
        &press(ADMIN, "approval_approve", &id, &later.response_url(4)),
    )
    .await;
    let said = slack.wait_for("/response/4", 1).await[0].text();
    assert!(said.contains("does not know `foo`"), "{said}");
    let still = later.app.store().db().approval(&id).await.unwrap().unwrap();
    assert_eq!(still.state, workbench_bot::store::ApprovalState::Waiting);
    assert_eq!(google.posts("start").len(), 1);
}

#[tokio::test]
async fn the_workflow_step_on_a_guarded_instance_completes_only_after_the_decision() {
    let Env { t, google, .. } = spawn(guarded("")).await;
    // Without a reason the step fails at once, saying why.
    t.event(&function_executed("Ev0FN1", OPERATOR, "foo", "start"), None)
        .await;
    let failed = t.slack.wait_for("/api/functions.completeError", 1).await;
    assert!(
        failed[0].json()["error"]
            .as_str()
            .unwrap()
            .contains("because")
    );

    let mut ev = function_executed("Ev0FN2", OPERATOR, "foo", "start");
    ev["event"]["inputs"]["reason"] = json!(WHY);
    ev["event"]["function_execution_id"] = json!("Fx0EXECUTION2");
    t.event(&ev, None).await;
    let posted = wait_until(Duration::from_secs(5), || {
        t.slack
            .calls_to("/api/chat.postMessage")
            .into_iter()
            .find(|c| c.json()["channel"] == APPROVALS)
    })
    .await
    .expect("the request");
    // Posted with the step's token, so presses on it bring the step's context.
    assert_eq!(
        posted.header("authorization"),
        Some("Bearer xwfp-test-workflow-token")
    );
    let (_, id) = request_in_channel(&t).await;
    dm_containing(&t, OPERATOR, "waiting for approval").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(t.slack.calls_to("/api/functions.completeSuccess").len(), 0);
    assert_eq!(t.slack.calls_to("/api/functions.completeError").len(), 1);

    // The press carries a fresh just-in-time token: it completes the step.
    let mut yes = press(ADMIN, "approval_approve", &id, &t.response_url(2));
    yes["bot_access_token"] = json!("xwfp-fresh-from-the-press");
    yes["function_data"] = json!({"execution_id": "Fx0EXECUTION2", "inputs": {}});
    interact(&t, &yes).await;
    let done = t.slack.wait_for("/api/functions.completeSuccess", 1).await;
    assert_eq!(
        done[0].header("authorization"),
        Some("Bearer xwfp-fresh-from-the-press")
    );
    let body = done[0].json();
    assert_eq!(body["function_execution_id"], "Fx0EXECUTION2");
    assert_eq!(body["outputs"]["state"], "running");
    assert_eq!(google.posts("start").len(), 1);
}

#[tokio::test]
async fn a_denied_or_expired_step_fails_with_the_reason() {
    let Env { t, google, clock } = spawn(guarded_for(30)).await;
    let mut ev = function_executed("Ev0FN3", OPERATOR, "foo", "start");
    ev["event"]["inputs"]["reason"] = json!(WHY);
    t.event(&ev, None).await;
    request_in_channel(&t).await;
    clock.advance(chrono::Duration::minutes(31));
    assert_eq!(t.app.tick().await.unwrap().expired, 1);
    // Long after the step's own token lapsed: the bot token completes it.
    let failed = t.slack.wait_for("/api/functions.completeError", 1).await;
    assert_eq!(
        failed[0].header("authorization"),
        Some("Bearer xoxb-test-token")
    );
    assert!(
        failed[0].json()["error"]
            .as_str()
            .unwrap()
            .contains("expired"),
        "{}",
        failed[0].text()
    );
    assert!(google.posts("start").is_empty());
}

#[tokio::test]
async fn pending_lists_what_waits_for_the_requester_and_the_approvers_only() {
    let Env { t, .. } = spawn(guarded("")).await;
    t.command(OPERATOR, &format!("start foo for 90m because {WHY}"))
        .await;
    request_in_channel(&t).await;
    t.command(OPERATOR, "pending").await;
    t.command(ADMIN, "pending").await;
    t.command(STRANGER, "pending").await;
    let said = t.slack.wait_for("/response/1", 4).await;
    let mine = said.iter().map(|c| c.text()).collect::<Vec<_>>();
    let by = |who: &str| {
        mine.iter()
            .find(|m| m.contains(who))
            .cloned()
            .unwrap_or_default()
    };
    assert!(
        by("yours, waiting for").contains("`foo` for 1 h 30 min"),
        "{mine:#?}"
    );
    assert!(
        by("yours to decide").contains("asked by <@U01AAAAAAAA>"),
        "{mine:#?}"
    );
    assert_eq!(
        mine.iter()
            .filter(|m| m.contains("No approval requests are waiting for you"))
            .count(),
        1,
        "{mine:#?}"
    );
}

/// The dialog asks for a reason when the chosen instance needs approval, and
/// a card's Start on such an instance opens that dialog instead of starting.
#[tokio::test]
async fn the_dialog_and_the_card_ask_for_a_reason_on_a_guarded_instance() {
    let Env { t, google, .. } = spawn(guarded("")).await;
    let missing = interact(&t, &view_submission(OPERATOR, Some("foo"), Some("start"))).await;
    let errors: Value = missing.json().await.unwrap();
    assert!(
        errors["errors"]["reason"]
            .as_str()
            .unwrap()
            .contains("say why"),
        "{errors}"
    );

    let mut with = view_submission(OPERATOR, Some("foo"), Some("start"));
    with["view"]["state"]["values"]["reason"] =
        json!({"reason_input": {"type": "plain_text_input", "value": WHY}});
    interact(&t, &with).await;
    request_in_channel(&t).await;
    dm_containing(&t, OPERATOR, "waiting for approval").await;

    interact(
        &t,
        &block_actions(OPERATOR2, "notebook_start", "foo", &t.response_url(2)),
    )
    .await;
    let opened = t.slack.wait_for("/api/views.open", 1).await[0].json();
    let blocks = &opened["view"]["blocks"];
    assert_eq!(blocks[0]["element"]["initial_option"]["value"], "foo");
    assert_eq!(blocks[1]["element"]["initial_option"]["value"], "start");
    assert!(google.posts("start").is_empty());
}

// ---- the GitHub backend -------------------------------------------------------

#[tokio::test]
async fn on_github_the_dispatch_goes_out_only_after_approval_and_names_the_approver() {
    let github = fake_github().await;
    let mut config = guarded("");
    config.backend.default = "github".into();
    let t = spawn_app(Spawn {
        config,
        settings: crate::github::github_settings(&github, false),
        ..Default::default()
    })
    .await;
    t.command(OPERATOR, &format!("start foo because {WHY}"))
        .await;
    let (_, id) = request_in_channel(&t).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        github.calls_to("/dispatches").is_empty(),
        "nothing before the yes"
    );

    interact(
        &t,
        &press(ADMIN, "approval_approve", &id, &t.response_url(2)),
    )
    .await;
    let sent = github.wait_for("/dispatches", 1).await[0].json();
    let p = &sent["client_payload"];
    assert_eq!(p["requested_by"], OPERATOR);
    assert_eq!(p["workbench"]["approved_by"], ADMIN);

    // The job runs the signed, approved start.
    let job = crate::github::job_for(&crate::github::with_approvers(), "STOPPED").await;
    job.run_ok(&crate::github::event(p.clone())).await;
    assert_eq!(job.google.posts("start").len(), 1);
}

/// `handle-dispatch` runs a guarded start only with a signed approver who is
/// one of the instance's approvers and not the requester.
#[tokio::test]
async fn handle_dispatch_checks_the_approver_of_a_guarded_start() {
    use crate::github::{event, job_for, signed_with, with_approvers};
    let approved = |by: Option<&str>| {
        let p = signed_with("foo", "start", OPERATOR, DISPATCH_SECRET);
        let p: workbench_bot::act::DispatchPayload = serde_json::from_value(p).unwrap();
        let p = match by {
            Some(by) => p.approved(by, DISPATCH_SECRET),
            None => p,
        };
        event(serde_json::to_value(p).unwrap())
    };
    for (what, by, needle) in [
        ("no approver", None, "names no approver"),
        ("the requester", Some(OPERATOR), "names no approver"),
        ("not an approver", Some(STRANGER), "names no approver"),
        (
            "not a user id",
            Some("U01; rm -rf /"),
            "approved_by is not a Slack user id",
        ),
    ] {
        let job = job_for(&with_approvers(), "STOPPED").await;
        let (out, _) = job.run(&approved(by)).await;
        assert!(!out.status.success(), "{what}: must be refused");
        assert!(
            job.google.fake.calls().is_empty(),
            "{what}: Google was called"
        );
        let said = job.slack.calls_to("/api/chat.postMessage");
        assert!(
            said.iter().any(|c| c.text().contains(needle)),
            "{what}: {said:#?}"
        );
    }
    // Editing the approver in is caught by the signature.
    let mut forged = approved(None);
    forged["client_payload"]["workbench"]["approved_by"] = json!(ADMIN);
    let job = job_for(&with_approvers(), "STOPPED").await;
    let (out, _) = job.run(&forged).await;
    assert!(!out.status.success(), "an unsigned approver is refused");
    assert!(job.google.fake.calls().is_empty());

    let job = job_for(&with_approvers(), "STOPPED").await;
    job.run_ok(&approved(Some(ADMIN))).await;
    assert_eq!(job.google.posts("start").len(), 1);
}

/// A start nobody else could approve is refused at once, and so is one from a
/// workflow's message, which names no person an approver could check.
#[tokio::test]
async fn starts_nobody_else_could_approve_are_refused_at_once() {
    let mut config = guarded("");
    config.instance[0].approvers = Some(vec![OPERATOR.into()]);
    let Env { t, google, .. } = spawn(config).await;
    t.command(OPERATOR, &format!("start foo because {WHY}"))
        .await;
    let alone = t.slack.wait_for("/response/1", 1).await[0].text();
    assert!(
        alone.contains("needs an approver other than you"),
        "{alone}"
    );

    t.event(
        &crate::entry_points::workflow_message(
            "Ev0WF1",
            "B0WORKFLOW1",
            "A0WORKFLOW1",
            &format!("<@U0OURBOT> start foo because {WHY}"),
        ),
        None,
    )
    .await;
    posted_containing(&t, "starts only with a person's request").await;
    let rows = t.wait_audit(2).await;
    let reasons: Vec<&str> = rows.iter().map(|r| r.reason.as_str()).collect();
    assert_eq!(reasons, ["no_other_approver", "needs_a_person"]);
    assert!(google.fake.calls().is_empty(), "nothing read or sent");
    assert!(
        !t.slack
            .calls_to("/api/chat.postMessage")
            .iter()
            .any(|c| c.json()["channel"] == APPROVALS),
        "nobody was asked"
    );
}

/// When Slack refuses the request's post, the requester hears that nobody
/// was asked, the request does not linger, and nothing starts; a press on an
/// id the store does not know is answered plainly.
#[tokio::test]
async fn a_request_slack_would_not_post_and_an_unknown_request_start_nothing() {
    use crate::fakes::{Call, Fake, slack_answer};
    let slack = Fake::start(std::sync::Arc::new(|call: &Call| {
        if call.path == "/api/chat.postMessage" && call.json()["channel"] == APPROVALS {
            return (200, json!({"ok": false, "error": "channel_not_found"}));
        }
        slack_answer(call)
    }))
    .await;
    let google = FakeGoogle::start(&[(FOO_PATH, "STOPPED")]).await;
    let t = spawn_app(Spawn {
        config: guarded(""),
        settings: google_settings(&google, &Clock::default()),
        slack: Some(slack),
        ..Default::default()
    })
    .await;
    t.command(OPERATOR, &format!("start foo because {WHY}"))
        .await;
    let said = t.slack.wait_for("/response/1", 1).await[0].text();
    assert!(
        said.contains("could not post the approval request"),
        "{said}"
    );
    assert!(said.contains("nothing started"), "{said}");
    t.command(OPERATOR, "pending").await;
    let pending = t.slack.wait_for("/response/1", 2).await[1].text();
    assert!(pending.contains("No approval requests"), "{pending}");

    interact(
        &t,
        &press(
            ADMIN,
            "approval_approve",
            "0000no0such0request",
            &t.response_url(2),
        ),
    )
    .await;
    let unknown = t.slack.wait_for("/response/2", 1).await[0].text();
    assert!(
        unknown.contains("I don't know that approval request"),
        "{unknown}"
    );
    assert!(google.posts("start").is_empty());
    let rows = t.wait_audit(3).await;
    assert_eq!(rows[0].outcome, "error:bot");
    assert_eq!(rows[2].reason, "unknown_approval");
}

/// A step whose reason is longer than a card can show fails at once, saying
/// so; nothing is asked and nothing starts.
#[tokio::test]
async fn a_step_with_an_overlong_reason_fails_at_once() {
    let Env { t, google, .. } = spawn(guarded("")).await;
    let mut ev = function_executed("Ev0FN9", OPERATOR, "foo", "start");
    ev["event"]["inputs"]["reason"] = json!("x".repeat(301));
    t.event(&ev, None).await;
    let failed = t.slack.wait_for("/api/functions.completeError", 1).await;
    let error = failed[0].json()["error"].as_str().unwrap().to_owned();
    assert!(error.contains("longer than 300 characters"), "{error}");
    assert!(google.fake.calls().is_empty());
    assert!(
        !t.slack
            .calls_to("/api/chat.postMessage")
            .iter()
            .any(|c| c.json()["channel"] == APPROVALS),
        "nobody was asked"
    );
}

/// The deny dialog that Slack would not open is told to the presser, and
/// the request keeps waiting.
#[tokio::test]
async fn a_deny_dialog_slack_would_not_open_is_told_and_the_request_waits() {
    use crate::fakes::{Call, Fake, slack_answer};
    let slack = Fake::start(std::sync::Arc::new(|call: &Call| {
        if call.path == "/api/views.open" {
            return (200, json!({"ok": false, "error": "expired_trigger_id"}));
        }
        slack_answer(call)
    }))
    .await;
    let google = FakeGoogle::start(&[(FOO_PATH, "STOPPED")]).await;
    let t = spawn_app(Spawn {
        config: guarded(""),
        settings: google_settings(&google, &Clock::default()),
        slack: Some(slack),
        ..Default::default()
    })
    .await;
    t.command(OPERATOR, &format!("start foo because {WHY}"))
        .await;
    let (_, id) = request_in_channel(&t).await;
    interact(&t, &press(ADMIN, "approval_deny", &id, &t.response_url(2))).await;
    let said = t.slack.wait_for("/response/2", 1).await[0].text();
    assert!(said.contains("press *Deny* again"), "{said}");
    t.command(ADMIN, "pending").await;
    let pending = t.slack.wait_for("/response/1", 2).await[1].text();
    assert!(pending.contains("yours to decide"), "{pending}");
    assert!(google.posts("start").is_empty());
    assert!(request_updates(&t).is_empty(), "still waiting");
}

/// A store that cannot be read decides nothing: the presser and `pending`
/// hear it is the bot's side, without the store's own words, and nothing starts.
#[tokio::test]
async fn an_unreadable_store_decides_nothing_and_says_whose_side_failed() {
    let Env { t, google, .. } = spawn(guarded("")).await;
    t.command(OPERATOR, &format!("start foo because {WHY}"))
        .await;
    let (_, id) = request_in_channel(&t).await;
    // The approvals table goes away under the running bot.
    let mut db = <sqlx::SqliteConnection as sqlx::Connection>::connect(&t.store_url)
        .await
        .unwrap();
    sqlx::query("DROP TABLE approvals")
        .execute(&mut db)
        .await
        .unwrap();
    interact(
        &t,
        &press(ADMIN, "approval_approve", &id, &t.response_url(2)),
    )
    .await;
    let said = t.slack.wait_for("/response/2", 1).await[0].text();
    t.command(OPERATOR, "pending").await;
    let pending = t.slack.wait_for("/response/1", 2).await[1].text();
    for text in [&said, &pending] {
        assert!(text.contains("could not read its store"), "{text}");
        assert!(text.contains("on the bot's side"), "{text}");
        assert!(
            !text.contains("no such table"),
            "the store's words stay in the log: {text}"
        );
    }
    assert!(google.posts("start").is_empty());
    audited(&t, 3, "error:bot", ADMIN).await;
}

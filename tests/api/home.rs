//! The App Home tab: what each kind of person sees when they open it, a
//! press from it (through the same path as any press), and its republishing
//! after a press and after a timer's stop. Asserts what reached Slack
//! (`views.publish`), Google, and each person.

use crate::entry_points::interact;
use crate::fakes::google::FakeGoogle;
use crate::helpers::*;
use crate::timers::{foo, prices, settings};
use serde_json::{Value, json};
use std::time::Duration;
use workbench_bot::clock::Clock;

const MINUTE: chrono::Duration = chrono::Duration::minutes(1);

/// `app_home_opened` as Slack delivers it, from `user` in `team`.
fn home_opened(event_id: &str, user: &str, team: &str) -> Value {
    json!({
        "token": "unused",
        "team_id": team,
        "api_app_id": "A0OURAPP",
        "event": {"type": "app_home_opened", "user": user, "channel": "D0HOME", "tab": "home",
                  "event_ts": "1700000000.000100",
                  "view": {"id": "V0HOME", "team_id": team, "type": "home", "blocks": []}},
        "type": "event_callback",
        "event_id": event_id,
        "event_time": 1700000000,
        "authorizations": [{"enterprise_id": null, "team_id": team, "user_id": "U0OURBOT", "is_bot": true, "is_enterprise_install": false}],
    })
}

/// A button pressed on the Home: no response_url, the container a view.
fn home_press(user: &str, action: &str, value: &str) -> Value {
    json!({
        "type": "block_actions",
        "user": {"id": user, "username": "someone", "name": "someone", "team_id": TEAM},
        "api_app_id": "A0OURAPP",
        "token": "unused",
        "container": {"type": "view", "view_id": "V0HOME"},
        "trigger_id": "13345224609.738474920.8088930838d88f008e0",
        "team": {"id": TEAM, "domain": "example"},
        "enterprise": null,
        "is_enterprise_install": false,
        "view": {"id": "V0HOME", "type": "home", "team_id": TEAM, "blocks": [], "state": {"values": {}}},
        "actions": [{"action_id": action, "block_id": format!("home:{value}"), "value": value,
                     "type": "button", "action_ts": "1700000200.000300", "text": {"type": "plain_text", "text": "x"}}]
    })
}

/// The `n`-th view published for `user` (0-based), once it arrives.
async fn published(t: &TestApp, user: &str, n: usize) -> Value {
    wait_until(Duration::from_secs(10), || {
        t.slack
            .calls_to("/api/views.publish")
            .into_iter()
            .map(|c| c.json())
            .filter(|b| b["user_id"] == user)
            .nth(n)
    })
    .await
    .unwrap_or_else(|| panic!("no Home number {n} for {user}: {:#?}", t.slack.calls()))
}

/// Every button's (action_id, value) in a view.
fn buttons(view: &Value) -> Vec<(String, String)> {
    view["view"]["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["type"] == "actions")
        .flat_map(|b| b["elements"].as_array().unwrap().clone())
        .map(|e| {
            (
                e["action_id"].as_str().unwrap().to_owned(),
                e["value"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// The buttons on foo's part of a view.
fn of_foo(view: &Value) -> Vec<(String, String)> {
    buttons(view)
        .into_iter()
        .filter(|(_, v)| v == "foo")
        .collect()
}

fn text(view: &Value) -> String {
    view.to_string()
}

async fn on_google(configure: impl FnOnce(&mut TestConfig)) -> (TestApp, FakeGoogle, Clock) {
    let clock = Clock::default();
    let google = FakeGoogle::start(&[(FOO_PATH, "STOPPED")]).await;
    let mut config = TestConfig {
        cost: Some(prices()),
        ..Default::default()
    };
    config.backend.default = "notebooks".into();
    configure(&mut config);
    let t = spawn_app(Spawn {
        config,
        settings: settings(&clock, Some(&google)),
        ..Default::default()
    })
    .await;
    (t, google, clock)
}

#[tokio::test]
async fn an_operator_sees_their_instances_with_state_cost_and_the_buttons_they_may_use() {
    let (t, google, _) = on_google(|_| {}).await;
    t.event(&home_opened("Ev1", OPERATOR, TEAM), None).await;
    let home = published(&t, OPERATOR, 0).await;
    assert_eq!(home["view"]["type"], "home");
    let shown = text(&home);
    assert!(shown.contains("`foo` is *stopped*"), "{shown}");
    assert!(
        shown.contains("costs 6.60 USD an hour while it runs"),
        "{shown}"
    );
    // `secret` is not on the Google fake: said, never shown as current.
    assert!(
        shown.contains(
            "`secret`: its state could not be read, so nothing is shown as current: Google Cloud:"
        ),
        "{shown}"
    );
    assert_eq!(
        of_foo(&home),
        [
            ("notebook_start".to_owned(), "foo".to_owned()),
            ("home_refresh".to_owned(), "foo".to_owned())
        ]
    );
    // Running: Stop (with its confirmation) instead of Start, and what it costs so far.
    google.set_state(FOO_PATH, "ACTIVE");
    t.command(OPERATOR, "start foo for 2h").await;
    t.slack.wait_for("/response/1", 1).await;
    interact(&t, &home_press(OPERATOR, "home_refresh", "foo")).await;
    let home = published(&t, OPERATOR, 1).await;
    let ids: Vec<String> = of_foo(&home).into_iter().map(|(a, _)| a).collect();
    assert_eq!(
        ids,
        ["notebook_stop", "notebook_keep", "home_refresh"],
        "{home}"
    );
    let shown = text(&home);
    assert!(
        shown.contains("Stop this notebook?"),
        "confirmed first: {shown}"
    );
    assert!(shown.contains("so far about"), "{shown}");
}

#[tokio::test]
async fn a_viewer_sees_no_buttons_but_refresh_and_a_stranger_is_told_whom_to_ask() {
    let (t, _, _) = on_google(|c| foo(c).viewers = vec![OPERATOR2.into()]).await;
    let (t2, _, _) = on_google(|c| foo(c).operators = vec![OPERATOR.into()]).await;
    // OPERATOR2 only views foo in the second app.
    t2.event(&home_opened("Ev1", OPERATOR2, TEAM), None).await;
    let home = published(&t2, OPERATOR2, 0).await;
    assert_eq!(
        buttons(&home),
        [("home_refresh".to_owned(), "foo".to_owned())]
    );
    t.event(&home_opened("Ev2", STRANGER, TEAM), None).await;
    let home = published(&t, STRANGER, 0).await;
    let shown = text(&home);
    assert!(
        shown.contains("You may not see any instance yet; ask @platform for access"),
        "{shown}"
    );
    assert!(!shown.contains("`foo`"), "{shown}");
}

#[tokio::test]
async fn nothing_is_published_for_a_foreign_workspace() {
    let (t, _, _) = on_google(|_| {}).await;
    let r = t
        .event(&home_opened("Ev1", OPERATOR, "T0FOREIGN"), None)
        .await;
    assert_eq!(r.status(), 200, "acknowledged");
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(
        t.slack.calls_to("/api/views.publish").is_empty(),
        "{:#?}",
        t.slack.calls()
    );
}

#[tokio::test]
async fn stop_on_the_home_stops_at_google_and_republishes_it_stopped_and_a_viewer_is_refused() {
    let (t, google, _) = on_google(|c| foo(c).viewers = vec!["*".into()]).await;
    google.set_state(FOO_PATH, "ACTIVE");
    t.event(&home_opened("Ev1", OPERATOR, TEAM), None).await;
    t.event(&home_opened("Ev2", STRANGER, TEAM), None).await;
    published(&t, OPERATOR, 0).await;
    // A viewer's press: refused in a DM, nothing reaches Google.
    interact(&t, &home_press(STRANGER, "notebook_stop", "foo")).await;
    let refused = posted_containing(&t, "you are not an operator of foo").await;
    assert!(refused.contains("ask @platform"), "{refused}");
    assert!(google.posts("stop").is_empty());
    // The operator's press stops it, and their Home shows it stopped.
    interact(&t, &home_press(OPERATOR, "notebook_stop", "foo")).await;
    let home = published(&t, OPERATOR, 1).await;
    assert_eq!(google.posts("stop").len(), 1);
    assert!(text(&home).contains("`foo` is *stopped*"), "{home}");
    let ids: Vec<String> = of_foo(&home).into_iter().map(|(a, _)| a).collect();
    assert_eq!(ids, ["notebook_start", "home_refresh"]);
    // Everyone else who may see foo and opened their Home gets it too.
    let theirs = published(&t, STRANGER, 1).await;
    assert!(text(&theirs).contains("`foo` is *stopped*"));
}

#[tokio::test]
async fn an_approvers_home_lists_the_request_waiting_and_approve_works_as_on_the_message() {
    let (t, google, _) = on_google(|c| c.guard_foo()).await;
    t.command(OPERATOR, "start foo because training run").await;
    t.slack.wait_for("/response/1", 1).await;
    t.event(&home_opened("Ev1", ADMIN, TEAM), None).await;
    let home = published(&t, ADMIN, 0).await;
    let approval: Vec<(String, String)> = buttons(&home)
        .into_iter()
        .filter(|(a, _)| a.starts_with("approval_"))
        .collect();
    assert_eq!(approval.len(), 2, "{home}");
    assert_eq!(approval[0].0, "approval_approve");
    assert_eq!(approval[1].0, "approval_deny");
    assert!(text(&home).contains("training run"), "{home}");
    // The requester's own Home has nothing to decide.
    t.event(&home_opened("Ev2", OPERATOR, TEAM), None).await;
    let mine = published(&t, OPERATOR, 0).await;
    assert!(
        buttons(&mine)
            .iter()
            .all(|(a, _)| !a.starts_with("approval_"))
    );

    interact(&t, &home_press(ADMIN, "approval_approve", &approval[0].1)).await;
    wait_until(Duration::from_secs(10), || {
        (google.posts("start").len() == 1).then_some(())
    })
    .await
    .expect("the approved start reached Google");
    let after = published(&t, ADMIN, 1).await;
    assert!(
        buttons(&after)
            .iter()
            .all(|(a, _)| !a.starts_with("approval_")),
        "decided: {after}"
    );
}

#[tokio::test]
async fn a_timers_stop_republishes_the_homes_that_show_the_instance() {
    let (t, google, clock) = on_google(|_| {}).await;
    t.command(OPERATOR, "start foo for 2m").await;
    t.slack.wait_for("/response/1", 2).await;
    t.event(&home_opened("Ev1", OPERATOR2, TEAM), None).await;
    assert!(text(&published(&t, OPERATOR2, 0).await).contains("`foo` is *running*"));
    clock.advance(MINUTE * 3);
    assert_eq!(t.app.tick().await.unwrap().stopped, 1);
    assert_eq!(google.posts("stop").len(), 1);
    let home = published(&t, OPERATOR2, 1).await;
    assert!(text(&home).contains("`foo` is *stopped*"), "{home}");
    // Coalesced: one publish for the stop, not one per step of it.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let count = t
        .slack
        .calls_to("/api/views.publish")
        .iter()
        .filter(|c| c.json()["user_id"] == OPERATOR2)
        .count();
    assert_eq!(count, 2, "{:#?}", t.slack.calls_to("/api/views.publish"));
}

#[tokio::test]
async fn refresh_counts_against_the_persons_rate_limit() {
    let (t, google, _) = on_google(|c| c.limits.per_user_per_minute = 3).await;
    for _ in 0..6 {
        interact(&t, &home_press(OPERATOR, "home_refresh", "foo")).await;
    }
    published(&t, OPERATOR, 2).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let publishes = t.slack.calls_to("/api/views.publish").len();
    assert_eq!(publishes, 3, "three within the limit, the rest ignored");
    let reads = google.api_calls().len();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        google.api_calls().len(),
        reads,
        "nothing more read from Google"
    );
}

//! Enterprise Grid org-wide installs: the payload shapes Slack sends when one
//! app is installed for a whole org (the Bolt SDKs' Grid fixtures). Shortcuts,
//! buttons and dialogs name no workspace (`team: null`), only the person's
//! own (`user.team_id`) and the org (`enterprise`); slash commands and events
//! name the workspace and the org.

use crate::entry_points::{block_actions, interact, view_submission};
use crate::helpers::*;
use serde_json::{Value, json};
use std::time::Duration;
use workbench_bot::act::State;

const ORG: &str = "E0ORGWIDE1";
const UNSERVED: &str = "T0OTHERTEAM";

/// What an org-wide install sends for an interaction from `workspace`.
fn org_wide(mut payload: Value, workspace: &str) -> Value {
    payload["team"] = Value::Null;
    payload["user"]["team_id"] = json!(workspace);
    payload["enterprise"] = json!({"id": ORG, "name": "Example Org"});
    payload["is_enterprise_install"] = json!(true);
    if payload["view"].is_object() {
        payload["view"]["team_id"] = json!(ORG);
        payload["view"]["app_installed_team_id"] = json!(ORG);
    }
    payload
}

fn shortcut(user: &str, workspace: &str) -> Value {
    org_wide(
        json!({"type": "shortcut", "token": "unused", "action_ts": "1700000000.000100",
            "user": {"id": user, "username": "someone", "team_id": workspace},
            "callback_id": "open_notebook_dialog",
            "trigger_id": "944799105734.773906753841.38b5894552bdd4a780554ee59d1f3638"}),
        workspace,
    )
}

fn slash(t: &TestApp, text: &str, workspace: &str, n: u32) -> String {
    let mut form: Vec<(String, String)> =
        serde_urlencoded::from_str(&command_form(OPERATOR, text, &t.response_url(n), workspace))
            .unwrap();
    for (k, v) in form.iter_mut() {
        if k == "is_enterprise_install" {
            *v = "true".into();
        }
    }
    form.push(("enterprise_id".into(), ORG.into()));
    form.push(("enterprise_name".into(), "Example Org".into()));
    serde_urlencoded::to_string(form).unwrap()
}

fn mention(event_id: &str, text: &str, workspace: &str) -> Value {
    let mut e = mention_event(event_id, OPERATOR, text);
    e["team_id"] = json!(workspace);
    e["enterprise_id"] = json!(ORG);
    e["context_team_id"] = json!(workspace);
    e["context_enterprise_id"] = json!(ORG);
    e["event"]["user_team"] = json!(workspace);
    e["event"]["source_team"] = json!(workspace);
    e["authorizations"] = json!([{"enterprise_id": ORG, "team_id": null, "user_id": "U0OURBOT",
        "is_bot": true, "is_enterprise_install": true}]);
    e
}

async fn post_command(t: &TestApp, form: &str) -> Value {
    let res = t
        .post_signed(
            "/slack/commands",
            "application/x-www-form-urlencoded",
            form,
            SECRET,
            now(),
        )
        .await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap_or(Value::Null)
}

fn serving(teams: &[&str]) -> Spawn {
    let mut s = Spawn::default();
    s.config.slack.teams = teams.iter().map(|t| t.to_string()).collect();
    s
}

/// Everything a person can do from a served workspace of the org works.
async fn every_entry_point_works_from(t: &TestApp) {
    assert_eq!(interact(t, &shortcut(OPERATOR, TEAM)).await.status(), 200);
    let open = t.slack.wait_for("/api/views.open", 1).await;
    assert_eq!(open[0].json()["view"]["callback_id"], "notebook_modal");

    post_command(t, &slash(t, "status foo", TEAM, 1)).await;
    let status = t.slack.wait_for("/response/1", 1).await[0].text();
    assert!(status.contains("`foo` is *"), "{status}");

    assert_eq!(
        t.event(&mention("Ev0GRID1", "<@U0OURBOT> status foo", TEAM), None)
            .await
            .status(),
        200
    );
    let thread = t.slack.wait_for("/api/chat.postMessage", 1).await[0].json();
    assert_eq!(thread["thread_ts"], "1700000000.000100", "{thread}");

    let press = org_wide(
        block_actions(OPERATOR, "notebook_start", "foo", &t.response_url(7)),
        TEAM,
    );
    assert_eq!(interact(t, &press).await.status(), 200);
    let started = t.slack.wait_for("/response/7", 1).await[0].text();
    assert!(started.contains("`foo` is running"), "{started}");

    let stop = org_wide(view_submission(OPERATOR, Some("foo"), Some("stop")), TEAM);
    let res = interact(t, &stop).await;
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().is_empty(), "the dialog closes");
    wait_until(Duration::from_secs(5), || {
        t.slack
            .calls_to("/api/chat.postMessage")
            .iter()
            .any(|c| c.json()["channel"] == OPERATOR && c.text().contains("stopped"))
            .then_some(())
    })
    .await
    .expect("the dialog's stop is told in the person's DMs");

    let rows = t.wait_audit(4).await;
    let mut seen: Vec<(String, Option<String>)> = rows
        .iter()
        .map(|r| (r.entry_point.as_str().to_owned(), r.team.clone()))
        .collect();
    seen.sort();
    let from_team = |e: &str| (e.to_owned(), Some(TEAM.to_owned()));
    assert_eq!(
        seen,
        vec![
            from_team("button"),
            from_team("mention"),
            from_team("modal"),
            from_team("slash_command")
        ],
        "each on record with the workspace it came from"
    );
    assert_eq!(dry_state(t).await, State::Stopped);
}

#[tokio::test]
async fn an_org_wide_install_serves_a_listed_workspace_from_every_entry_point() {
    let t = spawn_app(serving(&[TEAM])).await;
    every_entry_point_works_from(&t).await;
    let rows = t.audit().await;
    assert!(rows.iter().all(|r| r.principal == OPERATOR), "{rows:?}");
}

/// Listing the org serves each of its workspaces; their people are served
/// as guests (covered by rules that name them), since a Slack Connect
/// outsider's payload names the host org too.
#[tokio::test]
async fn listing_the_org_serves_its_workspaces() {
    let t = spawn_app(serving(&[ORG])).await;
    every_entry_point_works_from(&t).await;
    let rows = t.audit().await;
    let guests = rows
        .iter()
        .filter(|r| r.principal == format!("guest:{OPERATOR}"));
    assert_eq!(
        guests.count(),
        3,
        "all but the slash command, which names no person's workspace: {rows:?}"
    );
}

/// Another workspace of the same org gets what a foreign workspace gets
/// today: the slash command a sentence, everything else an acknowledgement
/// and nothing more.
#[tokio::test]
async fn an_unserved_workspace_of_the_org_is_refused_from_every_entry_point() {
    let t = spawn_app(serving(&[TEAM])).await;
    assert_eq!(
        interact(&t, &shortcut(OPERATOR, UNSERVED)).await.status(),
        200
    );
    let body = post_command(&t, &slash(&t, "start foo", UNSERVED, 1)).await;
    assert_not_served(&body);
    let event = mention("Ev0GRIDOTHER", "<@U0OURBOT> start foo", UNSERVED);
    assert_eq!(t.event(&event, None).await.status(), 200);
    let press = org_wide(
        block_actions(OPERATOR, "notebook_start", "foo", &t.response_url(7)),
        UNSERVED,
    );
    assert_eq!(interact(&t, &press).await.status(), 200);
    let submit = org_wide(
        view_submission(OPERATOR, Some("foo"), Some("start")),
        UNSERVED,
    );
    let res = interact(&t, &submit).await;
    assert_eq!(res.status(), 200);

    nothing_reached_slack_or_the_pipeline(&t).await;
    assert_eq!(dry_state(&t).await, State::Stopped);
}

/// Slack names no workspace anywhere in a payload: nothing to check it
/// against, so it is refused.
#[tokio::test]
async fn an_interaction_naming_no_workspace_at_all_is_refused() {
    let t = spawn_app(serving(&[TEAM])).await;
    let mut press = org_wide(
        block_actions(OPERATOR, "notebook_start", "foo", &t.response_url(7)),
        TEAM,
    );
    press["user"]["team_id"] = Value::Null;
    press["enterprise"] = Value::Null;
    assert_eq!(interact(&t, &press).await.status(), 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(t.slack.calls().is_empty(), "{:#?}", t.slack.calls());
    assert_eq!(dry_state(&t).await, State::Stopped);
}

//! Buttons, the dialog, the Workflow Builder step, workflow messages and the
//! manifest. Payloads follow Slack's documented shapes.

use crate::helpers::*;
use serde_json::{Value, json};
use std::time::Duration;

pub async fn interact(t: &TestApp, payload: &Value) -> reqwest::Response {
    let form = serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap();
    t.post_signed(
        "/slack/interactivity",
        "application/x-www-form-urlencoded",
        &form,
        SECRET,
        now(),
    )
    .await
}

pub fn block_actions(user: &str, action_id: &str, alias: &str, response_url: &str) -> Value {
    json!({
        "type": "block_actions",
        "user": {"id": user, "username": "someone", "name": "someone", "team_id": TEAM},
        "api_app_id": "A0OURAPP",
        "token": "unused",
        "container": {"type": "message", "message_ts": "1700000100.000200", "channel_id": "C0CHANNEL", "is_ephemeral": true},
        "trigger_id": "13345224609.738474920.8088930838d88f008e0",
        "team": {"id": TEAM, "domain": "example"},
        "enterprise": null,
        "is_enterprise_install": false,
        "channel": {"id": "C0CHANNEL", "name": "research"},
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [{"action_id": action_id, "block_id": format!("card:{alias}"), "text": {"type": "plain_text", "text": "Start", "emoji": true},
                     "value": alias, "style": "primary", "type": "button", "action_ts": "1700000200.000300"}]
    })
}

pub fn view_submission(user: &str, instance: Option<&str>, action: Option<&str>) -> Value {
    let option = |v: Option<&str>| match v {
        Some(v) => {
            json!({"type": "static_select", "selected_option": {"text": {"type": "plain_text", "text": v}, "value": v}})
        }
        None => json!({"type": "static_select", "selected_option": null}),
    };
    json!({
        "type": "view_submission",
        "team": {"id": TEAM, "domain": "example"},
        "user": {"id": user, "username": "someone", "name": "someone", "team_id": TEAM},
        "api_app_id": "A0OURAPP",
        "token": "unused",
        "trigger_id": "13345224609.738474920.8088930838d88f008e0",
        "view": {
            "id": "V0MODAL1", "team_id": TEAM, "type": "modal", "callback_id": "notebook_modal",
            "private_metadata": "C0CHANNEL", "hash": "156772938.1827394",
            "state": {"values": {
                "instance": {"instance_select": option(instance)},
                "action": {"action_select": {"type": "radio_buttons", "selected_option": action.map(|a| json!({"text": {"type": "plain_text", "text": a}, "value": a}))}}
            }}
        },
        "response_urls": [],
        "is_enterprise_install": false
    })
}

pub fn function_executed(event_id: &str, user: &str, notebook: &str, command: &str) -> Value {
    json!({
        "token": "unused",
        "team_id": TEAM,
        "api_app_id": "A0OURAPP",
        "type": "event_callback",
        "event_id": event_id,
        "event_time": 1700000000,
        "event": {
            "type": "function_executed",
            "function": {"id": "Fn0FUNCTION1", "callback_id": "control_notebook", "title": "Control a notebook",
                         "description": "", "type": "app", "app_id": "A0OURAPP", "date_created": 1700000000, "date_updated": 1700000000},
            "inputs": {"notebook": notebook, "command": command, "user_context": {"id": user, "secret": "AAAAAAAAAAAAAAAA"}},
            "function_execution_id": "Fx0EXECUTION1",
            "workflow_execution_id": "Wx0WORKFLOW1",
            "event_ts": "1700000000.000100",
            "bot_access_token": "xwfp-test-workflow-token"
        }
    })
}

pub fn workflow_message(event_id: &str, bot_id: &str, app_id: &str, text: &str) -> Value {
    json!({
        "token": "unused",
        "team_id": TEAM,
        "api_app_id": "A0OURAPP",
        "type": "event_callback",
        "event_id": event_id,
        "event_time": 1700000000,
        "event": {
            "type": "app_mention", "subtype": "bot_message", "text": text, "ts": "1700000000.000500",
            "bot_id": bot_id, "app_id": app_id, "channel": "C0CHANNEL", "event_ts": "1700000000.000500",
            "bot_profile": {"id": bot_id, "app_id": app_id, "name": "Start notebook every morning", "team_id": TEAM}
        }
    })
}

#[tokio::test]
async fn a_status_card_offers_start_to_an_operator_and_only_refresh_to_a_viewer() {
    let t = spawn_app(Spawn::default()).await;
    t.command(OPERATOR, "status foo").await;
    t.command(STRANGER, "status foo").await;
    let replies = t.slack.wait_for("/response/1", 2).await;
    let buttons = |c: &Call| -> Vec<String> {
        c.json()["blocks"][1]["elements"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["action_id"].as_str().unwrap().to_owned())
            .collect()
    };
    let mut seen: Vec<Vec<String>> = replies.iter().map(buttons).collect();
    seen.sort();
    assert_eq!(
        seen,
        vec![
            vec!["notebook_refresh".to_owned()],
            vec!["notebook_start".to_owned(), "notebook_refresh".to_owned()]
        ]
    );
}

#[tokio::test]
async fn stop_on_a_card_asks_for_confirmation() {
    let t = spawn_app(Spawn::default()).await;
    t.command(OPERATOR, "start foo").await;
    let card = t.slack.wait_for("/response/1", 1).await[0].json();
    let stop = card["blocks"][1]["elements"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["action_id"] == "notebook_stop")
        .cloned()
        .unwrap();
    assert_eq!(stop["confirm"]["confirm"]["text"], "Stop it");
}

#[tokio::test]
async fn a_button_acts_as_the_person_who_pressed_it() {
    let t = spawn_app(Spawn::default()).await;
    let res = interact(
        &t,
        &block_actions(OPERATOR, "notebook_start", "foo", &t.response_url(7)),
    )
    .await;
    assert_eq!(res.status(), 200);
    let text = t.slack.wait_for("/response/7", 1).await[0].text();
    assert!(text.contains("`foo` is running"), "{text}");
    let rows = t.wait_audit(1).await;
    assert_eq!(
        (rows[0].entry_point.as_str(), rows[0].principal.as_str()),
        ("button", OPERATOR)
    );
}

#[tokio::test]
async fn a_button_pressed_by_a_non_operator_is_refused_and_audited() {
    let t = spawn_app(Spawn::default()).await;
    interact(
        &t,
        &block_actions(STRANGER, "notebook_start", "foo", &t.response_url(7)),
    )
    .await;
    let text = t.slack.wait_for("/response/7", 1).await[0].text();
    assert!(text.contains("you are not an operator of foo"), "{text}");
    let rows = t.wait_audit(1).await;
    assert_eq!(
        (rows[0].decision.as_str(), rows[0].entry_point.as_str()),
        ("refused", "button")
    );
    assert_eq!(dry_state(&t).await, workbench_bot::act::State::Stopped);
}

#[tokio::test]
async fn an_unsigned_interaction_is_refused() {
    let t = spawn_app(Spawn::default()).await;
    let form = serde_urlencoded::to_string([(
        "payload",
        block_actions(OPERATOR, "notebook_start", "foo", &t.response_url(7)).to_string(),
    )])
    .unwrap();
    let res = t
        .post_signed(
            "/slack/interactivity",
            "application/x-www-form-urlencoded",
            &form,
            "wrong",
            now(),
        )
        .await;
    assert_eq!(res.status(), 401);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(t.slack.calls().is_empty());
}

#[tokio::test]
async fn a_bare_slash_command_opens_the_dialog_with_the_instances_the_user_operates() {
    let t = spawn_app(Spawn::default()).await;
    assert_eq!(t.command(OPERATOR2, "").await.status(), 200);
    let open = t.slack.wait_for("/api/views.open", 1).await;
    let body = open[0].json();
    assert_eq!(
        body["trigger_id"],
        "13345224609.738474920.8088930838d88f008e0"
    );
    assert_eq!(
        open[0].header("authorization"),
        Some(format!("Bearer {BOT_TOKEN}").as_str())
    );
    let options: Vec<&str> = body["view"]["blocks"][0]["element"]["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["value"].as_str().unwrap())
        .collect();
    assert_eq!(options, vec!["foo"], "only what this user may operate");

    let res = t.command(STRANGER, "").await;
    let body: Value = res.json().await.unwrap();
    assert!(
        body["text"]
            .as_str()
            .unwrap()
            .contains("You may not start or stop any instance"),
        "{body}"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(t.slack.calls_to("/api/views.open").len(), 1);
}

#[tokio::test]
async fn the_global_shortcut_opens_the_same_dialog() {
    let t = spawn_app(Spawn::default()).await;
    let shortcut = json!({"type": "shortcut", "token": "unused", "action_ts": "1700000000.000100", "team": {"id": TEAM, "domain": "example"},
        "user": {"id": OPERATOR, "username": "someone", "team_id": TEAM}, "is_enterprise_install": false, "enterprise": null,
        "callback_id": "open_notebook_dialog", "trigger_id": "944799105734.773906753841.38b5894552bdd4a780554ee59d1f3638"});
    assert_eq!(interact(&t, &shortcut).await.status(), 200);
    let open = t.slack.wait_for("/api/views.open", 1).await;
    assert_eq!(open[0].json()["view"]["callback_id"], "notebook_modal");
}

/// Slack shows nothing a shortcut's acknowledgement carries, so someone with
/// nothing to operate is told in their DMs instead of by silence.
#[tokio::test]
async fn a_shortcut_with_nothing_to_operate_is_answered_in_a_dm() {
    let t = spawn_app(Spawn::default()).await;
    let shortcut = json!({"type": "shortcut", "token": "unused", "action_ts": "1700000000.000100", "team": {"id": TEAM, "domain": "example"},
        "user": {"id": STRANGER, "username": "someone", "team_id": TEAM}, "is_enterprise_install": false, "enterprise": null,
        "callback_id": "open_notebook_dialog", "trigger_id": "944799105734.773906753841.38b5894552bdd4a780554ee59d1f3638"});
    assert_eq!(interact(&t, &shortcut).await.status(), 200);
    let dm = t.slack.wait_for("/api/chat.postMessage", 1).await[0].json();
    assert_eq!(dm["channel"], STRANGER);
    assert!(
        dm["text"]
            .as_str()
            .unwrap()
            .contains("You may not start or stop any instance"),
        "{dm}"
    );
    assert!(t.slack.calls_to("/api/views.open").is_empty());
}

/// Refresh on a card only its reader sees updates that card in place.
#[tokio::test]
async fn refresh_updates_the_card_it_was_pressed_on() {
    let t = spawn_app(Spawn::default()).await;
    let press = block_actions(OPERATOR, "notebook_refresh", "foo", &t.response_url(3));
    assert_eq!(interact(&t, &press).await.status(), 200);
    let reply = t.slack.wait_for("/response/3", 1).await[0].json();
    assert_eq!(reply["replace_original"], true, "{reply}");
    assert!(
        reply["text"]
            .as_str()
            .unwrap()
            .contains("`foo` is *stopped*")
    );
}

/// A card in a thread is everyone's: a press answers the presser alone and
/// leaves the card as it is.
#[tokio::test]
async fn a_press_on_a_shared_card_answers_the_presser_and_leaves_the_card() {
    let t = spawn_app(Spawn::default()).await;
    let mut press = block_actions(OPERATOR, "notebook_start", "foo", &t.response_url(4));
    press["container"]["is_ephemeral"] = json!(false);
    assert_eq!(interact(&t, &press).await.status(), 200);
    let replies = t.slack.wait_for("/response/4", 1).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let replies_now = t.slack.calls_to("/response/4");
    assert_eq!(
        replies_now.len(),
        1,
        "no progress note left behind: {replies:#?}"
    );
    let reply = replies_now[0].json();
    assert_eq!(
        reply["replace_original"], false,
        "the shared card stays: {reply}"
    );
    assert!(reply["text"].as_str().unwrap().contains("`foo` is running"));
}

#[tokio::test]
async fn submitting_the_dialog_acts_like_the_slash_command() {
    let t = spawn_app(Spawn::default()).await;
    let res = interact(&t, &view_submission(OPERATOR, Some("foo"), Some("start"))).await;
    assert_eq!(res.status(), 200);
    assert!(
        res.text().await.unwrap().is_empty(),
        "an empty answer closes the dialog"
    );
    let posts = t.slack.wait_for("/api/chat.postMessage", 1).await;
    let body = posts[0].json();
    assert_eq!(
        body["channel"], OPERATOR,
        "the result goes to the person's DMs"
    );
    assert!(
        body["text"].as_str().unwrap().contains("`foo` is running"),
        "{body}"
    );
    let rows = t.wait_audit(1).await;
    assert_eq!(rows[0].entry_point, "modal");
}

#[tokio::test]
async fn an_invalid_dialog_submission_gets_errors_on_the_right_block_and_does_nothing() {
    let t = spawn_app(Spawn::default()).await;
    let res = interact(&t, &view_submission(OPERATOR2, Some("secret"), None)).await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["response_action"], "errors");
    // OPERATOR2 may not see `secret`: to them it is not in the list at all.
    assert_eq!(
        body["errors"]["instance"], "Choose one of the instances in the list.",
        "{body}"
    );
    assert_eq!(body["errors"]["action"], "Choose Start or Stop.");
    let res = interact(&t, &view_submission(OPERATOR, None, Some("stop"))).await;
    let body: Value = res.json().await.unwrap();
    assert!(
        body["errors"]["instance"].is_string() && body["errors"].get("action").is_none(),
        "{body}"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(t.slack.calls().is_empty());
    assert!(t.audit().await.is_empty());
}

#[tokio::test]
async fn the_workflow_step_acts_as_the_invoking_user_and_completes() {
    let t = spawn_app(Spawn::default()).await;
    assert_eq!(
        t.event(&function_executed("Ev0FN1", OPERATOR, "foo", "start"), None)
            .await
            .status(),
        200
    );
    let done = t.slack.wait_for("/api/functions.completeSuccess", 1).await;
    assert_eq!(
        done[0].header("authorization"),
        Some("Bearer xwfp-test-workflow-token")
    );
    let body = done[0].json();
    assert_eq!(body["function_execution_id"], "Fx0EXECUTION1");
    assert_eq!(body["outputs"]["state"], "running");
    assert!(
        body["outputs"]["message"]
            .as_str()
            .unwrap()
            .contains("`foo` is running")
    );
    let rows = t.wait_audit(1).await;
    assert_eq!(
        (rows[0].entry_point.as_str(), rows[0].principal.as_str()),
        ("workflow_step", OPERATOR)
    );
    // The person hears from the bot what was done in their name.
    let dm = t.slack.wait_for("/api/chat.postMessage", 1).await[0].json();
    assert_eq!(dm["channel"], OPERATOR);
    let said = dm["text"].as_str().unwrap();
    assert!(said.contains("in your name, to `start foo`"), "{said}");
    assert!(said.contains("`foo` is running"), "{said}");
    assert!(said.contains("Undo it with `/notebook stop foo`"), "{said}");
    // A retry of the same event does not run the step twice.
    t.event(
        &function_executed("Ev0FN1", OPERATOR, "foo", "start"),
        Some(1),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(t.slack.calls_to("/api/functions.completeSuccess").len(), 1);
}

#[tokio::test]
async fn the_workflow_step_fails_with_the_reason_for_refusals_and_bad_inputs() {
    let t = spawn_app(Spawn::default()).await;
    t.event(&function_executed("Ev0FN2", STRANGER, "foo", "start"), None)
        .await;
    t.event(
        &function_executed("Ev0FN3", OPERATOR, "foo", "delete"),
        None,
    )
    .await;
    let errors = t.slack.wait_for("/api/functions.completeError", 2).await;
    let texts: Vec<String> = errors
        .iter()
        .map(|c| c.json()["error"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        texts.iter().any(|e| e.contains("not an operator of foo")),
        "{texts:?}"
    );
    assert!(
        texts.iter().any(|e| e.contains("must be start or stop")),
        "{texts:?}"
    );
    assert!(
        t.slack
            .calls_to("/api/functions.completeSuccess")
            .is_empty()
    );
    assert!(
        t.slack.calls_to("/api/chat.postMessage").is_empty(),
        "nothing was done in anyone's name"
    );
}

/// A Slack fake that knows the bot (auth.test names no app, as for many bot
/// tokens; bots.info does) and answers the distribution call with `set`.
async fn slack_knowing_the_bot(set: Value) -> Fake {
    Fake::start(std::sync::Arc::new(move |call: &Call| match call.path.as_str() {
        "/api/auth.test" => (
            200,
            json!({"ok": true, "url": "https://example.slack.com/", "team": "Example", "user": "workbench-bot",
                   "team_id": TEAM, "user_id": "U0OURBOT", "bot_id": "B0OURBOT", "is_enterprise_install": false}),
        ),
        "/api/bots.info" => (
            200,
            json!({"ok": true, "bot": {"id": "B0OURBOT", "deleted": false, "name": "workbench-bot",
                   "updated": 1700000000, "app_id": "A0OURAPP", "user_id": "U0OURBOT"}}),
        ),
        "/api/functions.distributions.permissions.set" => (200, set.clone()),
        _ => crate::fakes::slack_answer(call),
    }))
    .await
}

fn with_step_builders(slack: &Fake, builders: &[&str]) -> Spawn {
    let mut s = Spawn {
        slack: Some(slack.clone()),
        ..Default::default()
    };
    s.config.slack.step_builders = Some(builders.iter().map(|b| b.to_string()).collect());
    s
}

#[tokio::test]
async fn start_up_sets_who_may_build_with_the_step_to_the_named_people() {
    let slack = slack_knowing_the_bot(json!({"ok": true, "permission_type": "named_entities",
        "users": [{"user_id": OPERATOR}, {"user_id": OPERATOR2}, {"user_id": ADMIN}]}))
    .await;
    let _t = spawn_app(with_step_builders(&slack, &["@researchers", ADMIN])).await;
    let set = slack
        .wait_for("/api/functions.distributions.permissions.set", 1)
        .await;
    assert_eq!(
        set[0].header("authorization"),
        Some("Bearer xoxb-test-token")
    );
    let bot = &slack.calls_to("/api/bots.info")[0];
    assert!(bot.query.contains("bot=B0OURBOT"), "{}", bot.query);
    let body = set[0].json();
    assert_eq!(body["function_app_id"], "A0OURAPP");
    assert_eq!(body["function_callback_id"], "control_notebook");
    assert_eq!(body["permission_type"], "named_entities");
    let mut ids: Vec<&str> = body["user_ids"].as_str().unwrap().split(',').collect();
    ids.sort();
    assert_eq!(ids, vec![OPERATOR, OPERATOR2, ADMIN], "{body}");
}

/// Slack may take the setting only from an app collaborator's token: the
/// bot says so in its log and serves as before.
#[tokio::test]
async fn a_refused_step_distribution_leaves_the_bot_serving() {
    let slack =
        slack_knowing_the_bot(json!({"ok": false, "error": "not_allowed_token_type"})).await;
    let t = spawn_app(with_step_builders(&slack, &[OPERATOR])).await;
    slack
        .wait_for("/api/functions.distributions.permissions.set", 1)
        .await;
    assert_eq!(t.get("/readyz").await.status(), 200);
    t.command(OPERATOR, "status foo").await;
    let status = slack.wait_for("/response/1", 1).await[0].text();
    assert!(status.contains("`foo` is *"), "{status}");
}

/// Unset, Slack's own setting stands: the bot does not touch it.
#[tokio::test]
async fn without_step_builders_the_steps_distribution_is_left_alone() {
    let t = spawn_app(Spawn::default()).await;
    t.command(OPERATOR, "status foo").await;
    t.slack.wait_for("/response/1", 1).await;
    assert!(t.slack.calls_to("/api/auth.test").is_empty());
    assert!(
        t.slack
            .calls_to("/api/functions.distributions.permissions.set")
            .is_empty()
    );
}

#[tokio::test]
async fn a_listed_workflow_message_acts_as_the_workflow() {
    let t = spawn_app(Spawn::default()).await;
    t.event(
        &workflow_message(
            "Ev0WF1",
            "B0WORKFLOW1",
            "A0WORKFLOWS",
            "<@U0OURBOT> start foo",
        ),
        None,
    )
    .await;
    let posts = t.slack.wait_for("/api/chat.postMessage", 1).await;
    assert_eq!(posts[0].json()["thread_ts"], "1700000000.000500");
    assert!(posts[0].text().contains("`foo` is running"));
    let rows = t.wait_audit(1).await;
    assert_eq!(
        (rows[0].principal.as_str(), rows[0].entry_point.as_str()),
        ("workflow:B0WORKFLOW1", "workflow_message")
    );
}

#[tokio::test]
async fn unlisted_bots_and_the_bots_own_messages_do_nothing() {
    let mut config = TestConfig::default();
    // Even listed, the bot's own messages are ignored.
    config.slack.workflow_bots.push("B0OURBOT".into());
    let t = spawn_app(Spawn {
        config,
        ..Default::default()
    })
    .await;
    t.event(
        &workflow_message("Ev0WF2", "B0STRANGER", "A0OTHER", "<@U0OURBOT> start foo"),
        None,
    )
    .await;
    t.event(
        &workflow_message("Ev0WF3", "B0OURBOT", "A0OURAPP", "<@U0OURBOT> start foo"),
        None,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(t.slack.calls().is_empty(), "{:#?}", t.slack.calls());
    assert!(t.audit().await.is_empty());
}

#[test]
fn the_manifest_agrees_with_the_routes_and_the_example_config() {
    use yaml_rust2::YamlLoader;
    let text = std::fs::read_to_string("slack-manifest.yaml").unwrap();
    let m = &YamlLoader::load_from_str(&text).unwrap()[0];
    let example = workbench_bot::config::Config::load("examples/local.toml".as_ref()).unwrap();
    let cmd = &m["features"]["slash_commands"][0];
    assert_eq!(
        cmd["command"].as_str(),
        Some(example.slack_command.as_str())
    );
    assert!(cmd["url"].as_str().unwrap().ends_with("/slack/commands"));
    assert!(
        m["settings"]["event_subscriptions"]["request_url"]
            .as_str()
            .unwrap()
            .ends_with("/slack/events")
    );
    assert!(
        m["settings"]["interactivity"]["request_url"]
            .as_str()
            .unwrap()
            .ends_with("/slack/interactivity")
    );
    assert_eq!(
        m["settings"]["interactivity"]["is_enabled"].as_bool(),
        Some(true)
    );
    let events: Vec<&str> = m["settings"]["event_subscriptions"]["bot_events"]
        .as_vec()
        .unwrap()
        .iter()
        .filter_map(|e| e.as_str())
        .collect();
    assert_eq!(
        events,
        vec!["app_mention", "function_executed", "app_home_opened"]
    );
    assert_eq!(
        m["features"]["app_home"]["home_tab_enabled"].as_bool(),
        Some(true)
    );
    let optional: Vec<&str> = m["oauth_config"]["scopes"]["bot_optional"]
        .as_vec()
        .unwrap()
        .iter()
        .filter_map(|s| s.as_str())
        .collect();
    assert_eq!(optional, ["files:write"], "the chart's scope, optional");
    assert!(
        text.contains("The weekly cost report's chart"),
        "with its reason"
    );
    assert_eq!(m["settings"]["org_deploy_enabled"].as_bool(), Some(true));
    assert_eq!(m["settings"]["function_runtime"].as_str(), Some("remote"));
    assert!(m["settings"]["socket_mode_enabled"].as_bool().is_some());
    assert_eq!(
        m["features"]["shortcuts"][0]["callback_id"].as_str(),
        Some(workbench_bot::transport::SHORTCUT_CALLBACK)
    );

    let f = &m["functions"][workbench_bot::transport::FUNCTION_CALLBACK];
    let inputs = &f["input_parameters"]["properties"];
    assert_eq!(inputs["notebook"]["type"].as_str(), Some("string"));
    assert_eq!(inputs["command"]["type"].as_str(), Some("string"));
    assert_eq!(
        inputs["user_context"]["type"].as_str(),
        Some("slack#/types/user_context")
    );
    assert_eq!(inputs["reason"]["type"].as_str(), Some("string"));
    assert_eq!(inputs.as_hash().unwrap().len(), 4);
    let outputs = &f["output_parameters"]["properties"];
    assert!(outputs["state"].as_hash().is_some() && outputs["message"].as_hash().is_some());

    // Least scopes, each with its reason on the line above.
    let scopes: Vec<&str> = m["oauth_config"]["scopes"]["bot"]
        .as_vec()
        .unwrap()
        .iter()
        .filter_map(|s| s.as_str())
        .collect();
    assert_eq!(scopes, vec!["commands", "app_mentions:read", "chat:write"]);
    let lines: Vec<&str> = text.lines().collect();
    for scope in scopes {
        let at = lines
            .iter()
            .position(|l| l.trim() == format!("- {scope}"))
            .unwrap();
        assert!(
            lines[at - 1].trim_start().starts_with('#'),
            "scope {scope} has no reason above it"
        );
    }
}

//! Socket Mode against a local WebSocket fake.

use crate::fakes::slack_answer;
use crate::fakes::socket::fake_socket;
use crate::helpers::*;
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use workbench_bot::settings::{Secret, Settings};

/// A Slack fake that hands out the socket fake's address, known only once
/// that has started.
async fn slack_with_socket() -> (Fake, Arc<Mutex<Option<String>>>) {
    let slack_for_ws: Arc<Mutex<Option<String>>> = Arc::default();
    let ws_url = slack_for_ws.clone();
    let slack = Fake::start(Arc::new(move |call: &Call| {
        if call.path == "/api/apps.connections.open" {
            assert_eq!(
                call.header("authorization"),
                Some("Bearer xapp-1-A0OURAPP-test")
            );
            return (
                200,
                json!({"ok": true, "url": ws_url.lock().unwrap().clone()}),
            );
        }
        slack_answer(call)
    }))
    .await;
    (slack, slack_for_ws)
}

async fn spawn_socket_app(slack: &Fake) -> TestApp {
    spawn_app(Spawn {
        config: socket_config(),
        settings: Settings {
            slack_app_token: Some(Secret::new("xapp-1-A0OURAPP-test")),
            ..Default::default()
        },
        slack: Some(slack.clone()),
        ..Default::default()
    })
    .await
}

#[tokio::test]
async fn socket_mode_acknowledges_every_envelope_and_acts_once_on_each() {
    let (slack, slack_for_ws) = slack_with_socket().await;

    let response_url = format!("{}/response/1", slack.url);
    let command = json!({
        "envelope_id": "env-command-1", "type": "slash_commands", "accepts_response_payload": true,
        "payload": {"token": "unused", "team_id": TEAM, "team_domain": "example", "channel_id": "C0CHANNEL",
            "channel_name": "research", "user_id": OPERATOR, "user_name": "someone", "command": "/notebook",
            "text": "start foo", "api_app_id": "A0OURAPP", "is_enterprise_install": "false",
            "response_url": response_url, "trigger_id": "13345224609.738474920.8088930838d88f008e0"}
    });
    let mention = json!({
        "envelope_id": "env-events-1", "type": "events_api", "accepts_response_payload": false,
        "retry_attempt": 0, "retry_reason": "",
        "payload": mention_event("Ev0SOCKET1", OPERATOR2, "<@U0OURBOT> status foo")
    });
    let button = json!({
        "envelope_id": "env-interactive-1", "type": "interactive", "accepts_response_payload": true,
        "payload": {
            "type": "block_actions",
            "user": {"id": OPERATOR, "username": "someone", "name": "someone", "team_id": TEAM},
            "api_app_id": "A0OURAPP", "token": "unused",
            "container": {"type": "message", "message_ts": "1700000100.000200", "channel_id": "C0CHANNEL", "is_ephemeral": false},
            "trigger_id": "13345224609.738474920.8088930838d88f008e0",
            "team": {"id": TEAM, "domain": "example"},
            "channel": {"id": "C0CHANNEL", "name": "research"},
            "response_url": format!("{}/response/7", slack.url),
            "actions": [{"action_id": "notebook_refresh", "block_id": "card:foo", "value": "foo", "type": "button",
                         "text": {"type": "plain_text", "text": "Refresh"}, "action_ts": "1700000200.000300"}]
        }
    });
    // From a workspace the config does not serve: acknowledged, never acted on.
    let foreign = {
        let mut e = mention_event("Ev0SOCKETFOREIGN", OPERATOR, "<@U0OURBOT> start foo");
        e["team_id"] = json!("T0OTHERTEAM");
        json!({"envelope_id": "env-foreign-1", "type": "events_api", "accepts_response_payload": false,
               "retry_attempt": 0, "retry_reason": "", "payload": e})
    };
    let (ws, acks) = fake_socket(vec![command, mention, button, foreign]).await;
    *slack_for_ws.lock().unwrap() = Some(ws);
    let t = spawn_socket_app(&slack).await;

    let started = slack.wait_for("/response/1", 1).await;
    assert!(
        started[0].text().contains("`foo` is running"),
        "{}",
        started[0].text()
    );
    let thread = slack.wait_for("/api/chat.postMessage", 1).await;
    assert_eq!(thread[0].json()["thread_ts"], "1700000000.000100");
    let refreshed = slack.wait_for("/response/7", 1).await;
    assert!(
        refreshed[0].text().contains("`foo` is *"),
        "{}",
        refreshed[0].text()
    );

    wait_until(Duration::from_secs(5), || {
        (acks.lock().unwrap().len() >= 4).then_some(())
    })
    .await
    .expect("four acks");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut ids: Vec<String> = acks
        .lock()
        .unwrap()
        .iter()
        .map(|a| a["envelope_id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    assert_eq!(
        ids,
        vec![
            "env-command-1",
            "env-events-1",
            "env-foreign-1",
            "env-interactive-1"
        ],
        "each envelope acknowledged once"
    );
    assert_eq!(
        slack.calls_to("/response/1").len(),
        1,
        "the command acted once"
    );
    assert_eq!(
        slack.calls_to("/api/chat.postMessage").len(),
        1,
        "the mention acted once"
    );
    assert_eq!(
        slack.calls_to("/response/7").len(),
        1,
        "the button acted once"
    );
    let rows = t.wait_audit(3).await;
    let mut entries: Vec<&str> = rows.iter().map(|r| r.entry_point.as_str()).collect();
    entries.sort();
    assert_eq!(entries, vec!["button", "mention", "slash_command"]);

    // Health still answers in Socket Mode.
    assert_eq!(t.get("/healthz").await.status(), 200);
}

/// An org-wide install's button names no workspace (`team: null`): read as
/// over HTTP, from the person's own.
#[tokio::test]
async fn socket_mode_reads_an_org_wide_button() {
    let (slack, slack_for_ws) = slack_with_socket().await;
    let mut press = crate::entry_points::block_actions(
        OPERATOR,
        "notebook_start",
        "foo",
        &format!("{}/response/7", slack.url),
    );
    press["team"] = serde_json::Value::Null;
    press["enterprise"] = json!({"id": "E0ORGWIDE1", "name": "Example Org"});
    press["is_enterprise_install"] = json!(true);
    let envelope = json!({"envelope_id": "env-grid-1", "type": "interactive",
        "accepts_response_payload": true, "payload": press});
    let (ws, acks) = fake_socket(vec![envelope]).await;
    *slack_for_ws.lock().unwrap() = Some(ws);
    let t = spawn_socket_app(&slack).await;
    let started = slack.wait_for("/response/7", 1).await[0].text();
    assert!(started.contains("`foo` is running"), "{started}");
    wait_until(Duration::from_secs(5), || {
        (!acks.lock().unwrap().is_empty()).then_some(())
    })
    .await
    .expect("acknowledged");
    let rows = t.wait_audit(1).await;
    assert_eq!(rows[0].team.as_deref(), Some(TEAM));
}

#[tokio::test]
async fn socket_mode_without_an_app_token_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite://{}", dir.path().join("a.db").display());
    let mut typed = socket_config();
    typed.store.url = store;
    let config = typed.load();
    let err = workbench_bot::startup::Application::build(config, Settings::default())
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("SLACK_APP_TOKEN"), "{err}");
}

fn socket_config() -> TestConfig {
    let mut c = TestConfig::default();
    c.slack.mode = Some("socket".into());
    c
}

//! Bad input of every kind Slack (or someone posing as it) could send: each gets
//! its documented answer, the server never panics, and nothing is acted on.

use crate::helpers::*;
use serde_json::json;
use std::time::Duration;
use workbench_bot::act::State;
use workbench_bot::sign;

const FORM: &str = "application/x-www-form-urlencoded";

/// Nothing was acted on: foo is still stopped, and the server still answers.
async fn untouched(t: &TestApp) {
    assert_eq!(dry_state(t).await, State::Stopped);
    assert_eq!(t.get("/healthz").await.status(), 200, "still serving");
}

#[tokio::test]
async fn requests_that_cannot_be_verified_get_401_and_reach_nothing() {
    let t = spawn_app(Spawn::default()).await;
    let form = command_form(OPERATOR, "start foo", &t.response_url(1), TEAM);
    let http = reqwest::Client::new();
    let url = format!("{}/slack/commands", t.url);
    let cases: Vec<(&str, reqwest::RequestBuilder)> = vec![
        (
            "a timestamp six minutes ahead",
            http.post(&url)
                .header("x-slack-request-timestamp", (now() + 360).to_string())
                .header("x-slack-signature", sign(SECRET, now() + 360, &form))
                .body(form.clone()),
        ),
        (
            "no timestamp header",
            http.post(&url)
                .header("x-slack-signature", sign(SECRET, now(), &form))
                .body(form.clone()),
        ),
        (
            "no signature header",
            http.post(&url)
                .header("x-slack-request-timestamp", now().to_string())
                .body(form.clone()),
        ),
        (
            "a signature over another body",
            http.post(&url)
                .header("x-slack-request-timestamp", now().to_string())
                .header("x-slack-signature", sign(SECRET, now(), "text=stop+foo"))
                .body(form.clone()),
        ),
        (
            "a signature that is not hex",
            http.post(&url)
                .header("x-slack-request-timestamp", now().to_string())
                .header("x-slack-signature", "v0=not-hex-at-all")
                .body(form.clone()),
        ),
        (
            // It cannot be read, so it cannot be checked.
            "a body that is not UTF-8",
            http.post(&url)
                .header("x-slack-request-timestamp", now().to_string())
                .header("x-slack-signature", sign(SECRET, now(), "x"))
                .body(vec![0xff, 0xfe, 0x00, 0x80]),
        ),
    ];
    for (what, req) in cases {
        let res = req.header("content-type", FORM).send().await.unwrap();
        assert_eq!(res.status(), 401, "{what}");
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(t.slack.calls().is_empty(), "{:#?}", t.slack.calls());
    assert!(t.audit().await.is_empty(), "nothing reached the pipeline");
    untouched(&t).await;
}

#[tokio::test]
async fn signed_payloads_of_the_wrong_shape_get_400_or_are_ignored() {
    let t = spawn_app(Spawn::default()).await;
    let post = |path: &'static str, content_type: &'static str, body: String| {
        let t = &t;
        async move {
            t.post_signed(path, content_type, &body, SECRET, now())
                .await
                .status()
                .as_u16()
        }
    };
    // Malformed: 400.
    assert_eq!(
        post("/slack/commands", "application/json", "{}".into()).await,
        400
    );
    assert_eq!(post("/slack/events", FORM, "a=b".into()).await, 400);
    assert_eq!(
        post("/slack/interactivity", FORM, "payload=%7Bnope".into()).await,
        400
    );
    let no_user = serde_urlencoded::to_string([(
        "payload",
        json!({"type": "block_actions", "team": {"id": TEAM}}).to_string(),
    )])
    .unwrap();
    assert_eq!(post("/slack/interactivity", FORM, no_user).await, 400);
    // Well-formed but of a kind the bot does not handle: acknowledged, ignored.
    let unknown_event = json!({"type": "event_callback", "team_id": TEAM, "api_app_id": "A0OURAPP",
        "event_id": "Ev0UNKNOWN", "event_time": 1700000000,
        "event": {"type": "reaction_added", "user": OPERATOR, "reaction": "tada"}});
    assert_eq!(
        post(
            "/slack/events",
            "application/json",
            unknown_event.to_string()
        )
        .await,
        200
    );
    let unknown_interaction = serde_urlencoded::to_string([(
        "payload",
        json!({"type": "workflow_step_edit", "team": {"id": TEAM}, "user": {"id": OPERATOR, "team_id": TEAM}}).to_string(),
    )])
    .unwrap();
    assert_eq!(
        post("/slack/interactivity", FORM, unknown_interaction).await,
        200
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(t.slack.calls().is_empty(), "{:#?}", t.slack.calls());
    assert!(t.audit().await.is_empty());
    untouched(&t).await;
}

#[tokio::test]
async fn odd_text_is_answered_in_words_and_acts_on_nothing() {
    let t = spawn_app(Spawn::default()).await;
    let long = format!("start {}", "foo".repeat(3_400));
    let texts = [
        "start\u{200B}foo",       // a zero-width space is not a separator
        "\u{202E}start foo",      // a right-to-left override before the verb
        "start foo\u{200F}",      // a right-to-left mark after the alias
        "start foo;rm -rf /",     // shell metacharacters in an alias
        "start $(id)",            // command substitution
        "start `id`",             // backticks
        "start ../../etc/passwd", // a path
        long.as_str(),            // 10,000 characters
        "start projects/evil/locations/x/instances/y", // a resource path
    ];
    for (n, text) in texts.iter().enumerate() {
        let res = t.command(OPERATOR, text).await;
        assert_eq!(res.status(), 200, "{text:?}");
        let reply = t.slack.wait_for("/response/1", n + 1).await[n].text();
        // Every such answer says what was wrong and ends with what exists.
        assert!(reply.contains("*What I can do*"), "{text:?} got {reply}");
        for live in ["<!", "<@", "<http"] {
            assert!(!reply.contains(live), "{text:?} echoed {live}");
        }
    }
    let rows = t.wait_audit(texts.len()).await;
    assert!(rows.iter().all(|r| r.decision == "invalid"), "{rows:#?}");
    untouched(&t).await;

    // A non-breaking space is whitespace as Slack delivers it: this one acts.
    t.command(OPERATOR, "status\u{00A0}foo").await;
    let reply = t.slack.wait_for("/response/1", texts.len() + 1).await[texts.len()].text();
    assert!(reply.contains("`foo` is *stopped*"), "{reply}");
}

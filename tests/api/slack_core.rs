//! Slash commands and mentions through the one core path.

use crate::helpers::*;
use std::sync::Arc;
use std::time::{Duration, Instant};
use workbench_bot::act::State;

#[tokio::test]
async fn an_operator_starts_foo_and_hears_back_through_response_url() {
    let t = spawn_app(Spawn::default()).await;
    let started = Instant::now();
    let res = t.command(OPERATOR, "start foo").await;
    assert_eq!(res.status(), 200);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "acknowledged in {:?}",
        started.elapsed()
    );

    let replies = t.slack.wait_for("/response/1", 1).await;
    let text = replies[0].text();
    assert!(text.contains("`foo` is running"), "{text}");
    assert!(text.contains("dry run"), "{text}");

    let rows = t.wait_audit(1).await;
    assert_eq!(rows[0].principal, OPERATOR);
    assert_eq!(rows[0].command, "start foo");
    assert_eq!(rows[0].instance.as_deref(), Some("foo"));
    assert_eq!(rows[0].decision, "allowed");
    assert_eq!(rows[0].entry_point, "slash_command");
    assert_eq!(rows[0].backend.as_deref(), Some("dry-run"));
    assert_eq!(rows[0].outcome, "done:ACTIVE");
    assert_eq!(rows[0].team.as_deref(), Some(TEAM));
}

#[tokio::test]
async fn a_user_who_is_not_an_operator_is_refused_with_the_reason_and_nothing_changes() {
    let t = spawn_app(Spawn::default()).await;
    assert_eq!(t.command(STRANGER, "start foo").await.status(), 200);

    let text = t.slack.wait_for("/response/1", 1).await[0].text();
    assert!(text.contains("you are not an operator of foo"), "{text}");
    assert!(text.contains("ask @platform"), "{text}");
    let rows = t.wait_audit(1).await;
    assert_eq!(rows[0].decision, "refused");
    assert_eq!(rows[0].reason, "not_operator");
    assert_eq!(rows[0].outcome, "none");

    // The backend was never asked: the simulated instance is still stopped.
    assert_eq!(dry_state(&t).await, State::Stopped);
    assert!(t.slack.calls_to("/api/chat.postMessage").is_empty());
}

#[tokio::test]
async fn a_viewer_cannot_see_an_instance_it_is_not_named_on() {
    let t = spawn_app(Spawn::default()).await;
    t.command(OPERATOR2, "status secret").await;
    let hidden = t.slack.wait_for("/response/1", 1).await[0].text();
    t.command(OPERATOR2, "status nosuch").await;
    let unknown = t.slack.wait_for("/response/1", 2).await[1].text();
    // Someone who may not see an instance cannot tell it exists.
    assert_eq!(
        hidden.replace("\"secret\"", "\"X\""),
        unknown.replace("\"nosuch\"", "\"X\""),
        "the two answers must read the same"
    );
    assert!(
        hidden.contains("I don't know an instance called"),
        "{hidden}"
    );
    let rows = t.wait_audit(2).await;
    assert_eq!(rows[0].reason, "not_viewer", "the audit still says why");
}

#[tokio::test]
async fn unsigned_wrongly_signed_and_stale_requests_get_401_and_do_nothing() {
    let t = spawn_app(Spawn::default()).await;
    let form = command_form(OPERATOR, "start foo", &t.response_url(1), TEAM);
    let client = reqwest::Client::new();

    let unsigned = client
        .post(format!("{}/slack/commands", t.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);

    let wrong = t
        .post_signed(
            "/slack/commands",
            "application/x-www-form-urlencoded",
            &form,
            "not-the-secret",
            now(),
        )
        .await;
    assert_eq!(wrong.status(), 401);

    let stale = t
        .post_signed(
            "/slack/commands",
            "application/x-www-form-urlencoded",
            &form,
            SECRET,
            now() - 6 * 60,
        )
        .await;
    assert_eq!(stale.status(), 401);

    nothing_reached_slack_or_the_pipeline(&t).await;
}

#[tokio::test]
async fn a_foreign_workspace_is_acknowledged_told_politely_and_nothing_happens() {
    let t = spawn_app(Spawn::default()).await;
    let foreign = command_form(OPERATOR, "start foo", &t.response_url(1), "T0OTHERTEAM");
    let command = t
        .post_signed(
            "/slack/commands",
            "application/x-www-form-urlencoded",
            &foreign,
            SECRET,
            now(),
        )
        .await;
    assert_eq!(command.status(), 200, "a person is waiting: no error page");
    let body: serde_json::Value = command.json().await.unwrap();
    assert_not_served(&body);

    // An org-wide install delivers every workspace's events: a 401 would be
    // retried and get the subscription disabled, so they are acknowledged.
    let foreign_event = {
        let mut e = mention_event("Ev0FOREIGN", OPERATOR, "<@U0OURBOT> start foo");
        e["team_id"] = "T0OTHERTEAM".into();
        e
    };
    assert_eq!(t.event(&foreign_event, None).await.status(), 200);

    nothing_reached_slack_or_the_pipeline(&t).await;
    assert_eq!(dry_state(&t).await, workbench_bot::act::State::Stopped);
}

/// Slack sends a typed `<` as `&lt;`; the bot decodes it to parse, and must
/// escape it again in anything it echoes, or `<!here>` becomes a live @here.
#[tokio::test]
async fn echoed_text_carries_no_live_mention_or_link() {
    let t = spawn_app(Spawn::default()).await;
    let typed = [
        "status &lt;!here&gt;",
        "status <!here>",
        "start <https://evil.example|x>",
        "start &lt;https://evil.example|JupyterLab&gt;",
        "&lt;!channel&gt; please",
        "status foo &lt;@U02CCCCCCCC&gt;",
    ];
    for (n, text) in typed.iter().enumerate() {
        t.command(OPERATOR, text).await;
        let replies = t.slack.wait_for("/response/1", n + 1).await;
        let reply = replies[n].text();
        for live in ["<!", "<http", "<@U02"] {
            assert!(!reply.contains(live), "{text:?} echoed {live}: {reply}");
        }
    }
}

/// A Slack Connect guest arrives with the host workspace's `team_id`; their own
/// workspace (`user_team`, `user.team_id`) is not served, so `*` does not cover
/// them. Only rules that name them do.
#[tokio::test]
async fn a_slack_connect_guest_is_not_anyone_but_may_act_where_named() {
    let t = spawn_app(Spawn::default()).await;
    let mut mention = mention_event("Ev0GUEST1", STRANGER, "<@U0OURBOT> status foo");
    mention["event"]["user_team"] = "T0GUESTORG".into();
    mention["event"]["source_team"] = "T0GUESTORG".into();
    assert_eq!(t.event(&mention, None).await.status(), 200);
    let reply = t.slack.wait_for("/api/chat.postMessage", 1).await[0].text();
    assert!(
        reply.contains("I don't know an instance called \"foo\""),
        "viewers = [\"*\"] does not reach a guest: {reply}"
    );
    let rows = t.wait_audit(1).await;
    assert_eq!(rows[0].principal, format!("guest:{STRANGER}"));
    assert_eq!(rows[0].decision, "refused");

    // The same guest pressing a card's Refresh is refused the same way.
    let mut press =
        crate::entry_points::block_actions(STRANGER, "notebook_refresh", "foo", &t.response_url(7));
    press["user"]["team_id"] = "T0GUESTORG".into();
    crate::entry_points::interact(&t, &press).await;
    let reply = t.slack.wait_for("/response/7", 1).await[0].text();
    assert!(reply.contains("I don't know an instance"), "{reply}");

    // Nor may the guest start it: refused in words, and nothing is acted on.
    let mut start =
        crate::entry_points::block_actions(STRANGER, "notebook_start", "foo", &t.response_url(8));
    start["user"]["team_id"] = "T0GUESTORG".into();
    crate::entry_points::interact(&t, &start).await;
    let reply = t.slack.wait_for("/response/8", 1).await[0].text();
    assert!(reply.contains("I don't know an instance"), "{reply}");
    assert_eq!(
        dry_state(&t).await,
        workbench_bot::act::State::Stopped,
        "the guest's start did nothing"
    );

    // A guest the config names by id (a researcher visiting from another org).
    let mut named = mention_event("Ev0GUEST2", OPERATOR, "<@U0OURBOT> start foo");
    named["event"]["user_team"] = "T0GUESTORG".into();
    t.event(&named, None).await;
    let rows = t.wait_audit(4).await;
    assert_eq!(rows[2].principal, format!("guest:{STRANGER}"));
    assert_eq!(rows[2].decision, "refused");
    assert_eq!(rows[3].decision, "allowed", "{rows:#?}");
    assert_eq!(rows[3].outcome, "done:ACTIVE");
}

/// The bot's own messages never come back as requests, however they arrive.
#[tokio::test]
async fn a_mention_posted_by_the_bot_itself_is_ignored() {
    let t = spawn_app(Spawn::default()).await;
    // Slack names the bot's user in `authorizations`.
    let own = mention_event("Ev0SELF1", "U0OURBOT", "<@U0OURBOT> start foo");
    assert_eq!(t.event(&own, None).await.status(), 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(t.slack.calls().is_empty(), "{:#?}", t.slack.calls());
    assert!(t.audit().await.is_empty());
}

/// Slack's Web API answers `429` with `Retry-After`: the bot waits that long
/// and the reply still arrives, once.
#[tokio::test]
async fn a_rate_limited_reply_is_sent_after_the_wait_slack_asks_for() {
    let limited = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let once = limited.clone();
    let slack = Fake::start(Arc::new(move |call: &Call| {
        if call.path == "/api/chat.postMessage"
            && !once.swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            return (
                429,
                serde_json::json!({"ok": false, "error": "ratelimited"}),
            );
        }
        crate::fakes::slack_answer(call)
    }))
    .await;
    let t = spawn_app(Spawn {
        slack: Some(slack),
        ..Default::default()
    })
    .await;
    let asked = std::time::Instant::now();
    t.event(
        &mention_event("Ev0LIMIT1", OPERATOR, "<@U0OURBOT> status foo"),
        None,
    )
    .await;
    let posts = t.slack.wait_for("/api/chat.postMessage", 2).await;
    assert!(
        asked.elapsed() >= Duration::from_millis(900),
        "waited as asked"
    );
    assert!(posts[1].text().contains("`foo` is *stopped*"), "{posts:#?}");
    let rows = t.wait_audit(1).await;
    assert_eq!(rows[0].outcome, "STOPPED", "the reply was not lost");
}

#[tokio::test]
async fn oversized_and_malformed_bodies_are_refused_without_a_panic() {
    let t = spawn_app(Spawn::default()).await;
    let huge = "text=".to_owned() + &"a".repeat(300 * 1024);
    let res = t
        .post_signed(
            "/slack/commands",
            "application/x-www-form-urlencoded",
            &huge,
            SECRET,
            now(),
        )
        .await;
    assert_eq!(res.status(), 413);

    let res = t
        .post_signed(
            "/slack/events",
            "application/json",
            "{not json",
            SECRET,
            now(),
        )
        .await;
    assert_eq!(res.status(), 400);
    let res = t
        .post_signed(
            "/slack/commands",
            "application/x-www-form-urlencoded",
            "user_id=U01AAAAAAAA",
            SECRET,
            now(),
        )
        .await;
    assert_eq!(res.status(), 400);
    assert_eq!(t.get("/healthz").await.status(), 200, "still serving");
    assert!(t.slack.calls().is_empty());
}

#[tokio::test]
async fn a_mention_is_answered_in_its_thread_and_a_retry_does_not_act_twice() {
    let t = spawn_app(Spawn::default()).await;
    let event = mention_event("Ev0MENTION1", OPERATOR, "<@U0OURBOT> stop foo");
    assert_eq!(t.event(&event, None).await.status(), 200);
    let posts = t.slack.wait_for("/api/chat.postMessage", 1).await;
    let body = posts[0].json();
    assert_eq!(body["channel"], "C0CHANNEL");
    assert_eq!(body["thread_ts"], "1700000000.000100");
    assert!(
        body["text"]
            .as_str()
            .unwrap()
            .contains("`foo` is already stopped"),
        "{body}"
    );
    assert_eq!(
        posts[0].header("authorization"),
        Some(format!("Bearer {BOT_TOKEN}").as_str())
    );

    assert_eq!(t.event(&event, Some(1)).await.status(), 200);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        t.slack.calls_to("/api/chat.postMessage").len(),
        1,
        "the retry must not act again"
    );
    assert_eq!(t.audit().await.len(), 1);
}

#[tokio::test]
async fn url_verification_echoes_the_challenge() {
    let t = spawn_app(Spawn::default()).await;
    let body = serde_json::json!({"token": "x", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P", "type": "url_verification"});
    let res = t.event(&body, None).await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.text().await.unwrap(),
        "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    );
}

#[tokio::test]
async fn the_actions_bot_form_acts_like_the_plain_command() {
    let t = spawn_app(Spawn::default()).await;
    let event = mention_event(
        "Ev0COMPAT1",
        OPERATOR,
        "<@U0OURBOT> example-org/notebook-ops control_vertex_ai_workbench_notebook notebook:foo command:start",
    );
    t.event(&event, None).await;
    let text = t.slack.wait_for("/api/chat.postMessage", 1).await[0].text();
    assert!(text.contains("`foo` is running"), "{text}");
    let rows = t.wait_audit(1).await;
    assert_eq!(rows[0].command, "start foo");
}

#[tokio::test]
async fn an_actions_bot_key_trying_to_override_the_target_is_refused() {
    let t = spawn_app(Spawn::default()).await;
    for (i, extra) in [
        "repo:evil-org/other",
        "event:delete",
        "command:stop",
        "ref:main",
    ]
    .iter()
    .enumerate()
    {
        let event = mention_event(
            &format!("Ev0OVERRIDE{i}"),
            OPERATOR,
            &format!(
                "<@U0OURBOT> example-org/notebook-ops control_vertex_ai_workbench_notebook notebook:foo command:start {extra}"
            ),
        );
        t.event(&event, None).await;
    }
    let posts = t.slack.wait_for("/api/chat.postMessage", 4).await;
    for p in &posts {
        let text = p.text();
        assert!(
            text.contains("not allowed") || text.contains("more than once"),
            "{text}"
        );
    }
    let rows = t.wait_audit(4).await;
    assert!(rows.iter().all(|r| r.decision == "invalid"));
    assert_eq!(dry_state(&t).await, State::Stopped, "nothing started");
}

#[tokio::test]
async fn the_rate_limit_stops_one_user_and_not_another() {
    let mut config = TestConfig::default();
    config.limits.per_user_per_minute = 2;
    let t = spawn_app(Spawn {
        config,
        ..Default::default()
    })
    .await;
    for _ in 0..3 {
        t.command(OPERATOR, "status foo").await;
    }
    t.command(OPERATOR2, "status foo").await;
    let rows = t.wait_audit(4).await;
    let limited: Vec<_> = rows.iter().filter(|r| r.reason == "rate_limited").collect();
    assert_eq!(limited.len(), 1, "{rows:#?}");
    assert_eq!(limited[0].principal, OPERATOR);
    let texts: Vec<String> = t
        .slack
        .wait_for("/response/1", 4)
        .await
        .iter()
        .map(|c| c.text())
        .collect();
    assert!(
        texts
            .iter()
            .any(|t| t.contains("more than 2 requests in a minute")),
        "{texts:?}"
    );
    assert_eq!(
        texts
            .iter()
            .filter(|t| t.contains("`foo` is *stopped*"))
            .count(),
        3
    );
}

#[tokio::test]
async fn an_unknown_command_or_alias_gets_help_naming_what_exists() {
    let t = spawn_app(Spawn::default()).await;
    t.command(OPERATOR2, "reboot foo").await;
    t.command(OPERATOR2, "start bar").await;
    let texts: Vec<String> = t
        .slack
        .wait_for("/response/1", 2)
        .await
        .iter()
        .map(|c| c.text())
        .collect();
    for text in &texts {
        assert!(text.contains("Instances you can see: `foo`."), "{text}");
        assert!(
            !text.contains("secret"),
            "help must not name instances the user cannot see: {text}"
        );
    }
    assert!(
        texts
            .iter()
            .any(|t| t.contains("I don't know the command \"reboot\""))
    );
    assert!(
        texts
            .iter()
            .any(|t| t.contains("I don't know an instance called \"bar\""))
    );
}

#[tokio::test]
async fn whoami_list_and_help_answer_with_the_dry_run_backend() {
    let t = spawn_app(Spawn::default()).await;
    t.command(OPERATOR, "whoami").await;
    let who = t.slack.wait_for("/response/1", 1).await[0].text();
    assert!(
        who.contains(OPERATOR) && who.contains("@researchers"),
        "{who}"
    );
    assert!(
        who.contains("You may start and stop: `foo`, `secret`"),
        "{who}"
    );

    t.command(OPERATOR2, "list").await;
    let list = t.slack.wait_for("/response/1", 2).await[1].text();
    assert!(list.contains("`foo`: stopped"), "{list}");
    assert!(!list.contains("secret"), "{list}");

    t.command(STRANGER, "help").await;
    let help = t.slack.wait_for("/response/1", 3).await[2].text();
    assert!(help.contains("/notebook start NAME"), "{help}");
}

/// `history foo`: the last starts and stops, newest first, with who asked and
/// how each ended, for anyone who may see `foo`, and nobody else.
#[tokio::test]
async fn history_shows_the_last_actions_in_order_with_who_did_them() {
    let t = spawn_app(Spawn::default()).await;
    t.command(OPERATOR, "start foo").await;
    t.wait_audit(1).await;
    t.command(OPERATOR2, "stop foo").await;
    t.wait_audit(2).await;
    t.command(STRANGER, "start foo").await;
    t.wait_audit(3).await;
    t.command(STRANGER, "status foo").await;
    t.wait_audit(4).await;
    t.command(STRANGER, "history foo").await;
    let text = t.slack.wait_for("/response/1", 5).await[4].text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "*Last actions on `foo`*", "{text}");
    assert_eq!(
        lines.len(),
        4,
        "starts and stops only, not status reads: {text}"
    );
    assert!(
        lines[1].contains(&format!(
            "<@{STRANGER}> `start foo`: refused (not operator)"
        )),
        "{text}"
    );
    assert!(
        lines[2].contains(&format!("<@{OPERATOR2}> `stop foo`: done, stopped")),
        "{text}"
    );
    assert!(
        lines[3].contains(&format!("<@{OPERATOR}> `start foo`: done, running")),
        "{text}"
    );

    t.command(OPERATOR2, "history secret").await;
    let hidden = t.slack.wait_for("/response/1", 6).await[5].text();
    assert!(
        hidden.contains("I don't know an instance called"),
        "{hidden}"
    );
}

/// With `store.audit_retention_days` set, rows past it are deleted (the sweep
/// runs at start-up and then every minute); newer ones stay.
#[tokio::test]
async fn audit_rows_past_the_retention_period_are_deleted() {
    use workbench_bot::store::Store;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("audit.db").display());
    let old =
        |id: &str, days: i64| started_foo(id, chrono::Utc::now() - chrono::Duration::days(days));
    {
        let store = Store::open(&url).await.unwrap();
        store.record(old("ancient", 400));
        store.record(old("recent", 10));
        store.flush().await;
    }
    let mut config = TestConfig::default();
    config.store.audit_retention_days = Some(30);
    let t = spawn_app(Spawn {
        config,
        dir: Some(dir),
        ..Default::default()
    })
    .await;
    let kept = wait_until(Duration::from_secs(5), || {
        let rows = futures::executor::block_on(t.app.store().audit_rows()).unwrap();
        (rows.len() == 1).then_some(rows)
    })
    .await
    .expect("the old row is deleted");
    assert_eq!(kept[0].request_id, "recent");
}

/// More requests than `limits.max_in_flight`, with a Slack that never
/// answers: every request is acknowledged at once, the excess is told in the
/// acknowledgement that the bot is busy, and every request is on record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_in_flight_bound_people_are_told_the_bot_is_busy() {
    let hole = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let never = format!("http://{}/response", hole.local_addr().unwrap());
    let mut config = TestConfig::default();
    config.limits.max_in_flight = Some(5);
    let t = spawn_app(Spawn {
        config,
        ..Default::default()
    })
    .await;
    let asked = std::time::Instant::now();
    let sends = (0..30).map(|i| {
        let t = &t;
        let never = &never;
        async move {
            let res = t
                .command_to(&format!("U0{i:09}"), "status foo", never)
                .await;
            (res.status().as_u16(), res.text().await.unwrap())
        }
    });
    let answers = futures::future::join_all(sends).await;
    assert!(
        asked.elapsed() < Duration::from_secs(3),
        "{:?}",
        asked.elapsed()
    );
    assert!(
        answers.iter().all(|(status, _)| *status == 200),
        "{answers:?}"
    );
    let busy = answers
        .iter()
        .filter(|(_, body)| body.contains("I am busy"))
        .count();
    assert_eq!(busy, 25, "five run, the rest are told: {answers:?}");
    let rows = t.wait_audit(30).await;
    assert_eq!(rows.iter().filter(|r| r.reason == "busy").count(), 25);
    assert_eq!(rows.len(), 30, "every request is on record");
}

/// A week of more starts and stops than a read may touch is not counted
/// short: `costs` says it cannot count them, and on whose side.
#[tokio::test]
async fn costs_over_a_week_too_busy_to_count_say_so_instead_of_counting_some() {
    let t = spawn_app(Spawn::default()).await;
    let now = chrono::Utc::now();
    for i in 0..5_001 {
        // Milliseconds apart: all of them this week, whenever it runs.
        let at = now - chrono::Duration::milliseconds(i);
        t.app.store().record(started_foo(&format!("busy{i}"), at));
    }
    t.app.store().flush().await;
    t.command(OPERATOR, "costs").await;
    let said = t.slack.wait_for("/response/1", 1).await[0].text();
    assert!(said.contains("starts and stops to read at once"), "{said}");
    assert!(said.contains("on the bot's side"), "{said}");
    assert!(!said.contains("This week"), "no figures at all: {said}");
}

#[tokio::test]
async fn health_readiness_and_metrics_answer() {
    let t = spawn_app(Spawn::default()).await;
    assert_eq!(t.get("/healthz").await.status(), 200);
    assert_eq!(t.get("/readyz").await.status(), 200);
    let count = |text: &str, name: &str, labels: &[(&str, &str)]| -> f64 {
        let lines = text.lines().map(|l| Ok(l.to_owned()));
        let scrape = prometheus_parse::Scrape::parse(lines).expect("Prometheus text");
        scrape
            .samples
            .iter()
            .filter(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => 0.0,
            })
            .sum()
    };
    // A tick stamps the time it did its work (a process's own first tick
    // comes one period after start-up).
    t.app.tick().await.unwrap();
    let before = t.get("/metrics").await.text().await.unwrap();
    t.command(OPERATOR, "start foo").await;
    t.wait_audit(1).await;
    // The request is counted once its reply went out, just after its row.
    let mut after = t.get("/metrics").await.text().await.unwrap();
    for _ in 0..100 {
        let counted = |text: &str| {
            count(
                text,
                "workbench_bot_requests_handled_total",
                &[("decision", "allowed"), ("entry_point", "slash_command")],
            )
        };
        if counted(&after) > counted(&before) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        after = t.get("/metrics").await.text().await.unwrap();
    }
    // Counters are process-wide and tests run in parallel: each must have moved.
    let moved = |name: &str, labels: &[(&str, &str)]| {
        count(&after, name, labels) - count(&before, name, labels)
    };
    assert!(
        moved(
            "workbench_bot_requests_handled_total",
            &[("decision", "allowed"), ("entry_point", "slash_command")]
        ) >= 1.0,
        "{after}"
    );
    assert!(
        moved(
            "workbench_bot_http_requests_total",
            &[("route", "/slack/commands"), ("status", "200")]
        ) >= 1.0,
        "{after}"
    );
    assert!(
        moved(
            "workbench_bot_backend_call_seconds_count",
            &[("backend", "dry-run"), ("method", "start")]
        ) >= 1.0,
        "{after}"
    );
    for family in [
        "workbench_bot_pending_operations",
        "workbench_bot_work_in_flight",
        "workbench_bot_last_tick_timestamp_seconds",
        "workbench_bot_overdue_timers",
    ] {
        assert!(
            after.contains(&format!("# TYPE {family} gauge")),
            "{family}: {after}"
        );
    }
    // A silent scheduler shows as an old time.
    // (Process-wide, and other tests move their clocks by hours: a day bound.)
    let last_tick = count(&after, "workbench_bot_last_tick_timestamp_seconds", &[]);
    assert!(
        (now() as f64 - last_tick).abs() < 86_400.0,
        "last tick at {last_tick}"
    );
}

/// Without a token, a scraper on loopback reads /metrics; what a proxy
/// forwards from outside does not.
#[tokio::test]
async fn metrics_without_a_token_answer_loopback_but_not_what_a_proxy_forwards() {
    let t = spawn_app(Spawn::default()).await;
    assert_eq!(t.get("/metrics").await.status(), 200);
    let forwarded = reqwest::Client::new()
        .get(format!("{}/metrics", t.url))
        .header("x-forwarded-for", "203.0.113.9")
        .send()
        .await
        .unwrap();
    assert_eq!(forwarded.status(), 403);
    let text = forwarded.text().await.unwrap();
    assert!(
        text.contains("WORKBENCH_METRICS_TOKEN") && !text.contains("workbench_bot_"),
        "{text}"
    );
}

#[tokio::test]
async fn metrics_ask_for_the_bearer_token_when_one_is_set() {
    let t = spawn_app(Spawn {
        settings: workbench_bot::Settings {
            metrics_token: Some(workbench_bot::Secret::new("m3trics-token")),
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    assert_eq!(t.get("/metrics").await.status(), 401);
    let http = reqwest::Client::new();
    let with = |token: &'static str| {
        http.get(format!("{}/metrics", t.url))
            .bearer_auth(token)
            .send()
    };
    assert_eq!(with("wrong").await.unwrap().status(), 401);
    let ok = with("m3trics-token").await.unwrap();
    assert_eq!(ok.status(), 200);
    assert!(ok.text().await.unwrap().contains("workbench_bot_"));
    assert_eq!(t.get("/healthz").await.status(), 200, "health stays open");
}

#[tokio::test]
async fn audit_rows_queued_before_shutdown_are_on_disk_after_it() {
    let t = spawn_app(Spawn::default()).await;
    for _ in 0..5 {
        t.command(OPERATOR, "status foo").await;
    }
    t.slack.wait_for("/response/1", 5).await;
    let store_url = t.store_url.clone();
    let _dir = t.stop().await;
    // A fresh connection to the file sees every row.
    let store = workbench_bot::store::Store::open(&store_url).await.unwrap();
    assert_eq!(store.audit_rows().await.unwrap().len(), 5);
}

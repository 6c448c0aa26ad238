//! The Notebooks API v2 backend against a stateful local fake.

use crate::config::Notebooks;
use crate::fakes::google::*;
use crate::helpers::*;
use std::time::Duration;
use workbench_bot::settings::{Settings, Timing};

const GPU_PATH: &str = "projects/example-project/locations/us-central1-a/instances/research-gpu";
const SECRET_PATH: &str =
    "projects/example-project/locations/us-central1-a/instances/secret-project";

struct Env {
    t: TestApp,
    google: FakeGoogle,
}

fn fast() -> Timing {
    Timing {
        first_retry: Duration::from_millis(5),
        first_poll: Duration::from_millis(5),
        max_poll: Duration::from_millis(20),
        ..Timing::default()
    }
}

#[derive(Default)]
struct Opts {
    /// Another replica's store, to run beside it.
    store_url: Option<String>,
    configure: Option<fn(&mut TestConfig)>,
    google: Option<FakeGoogle>,
    dir: Option<tempfile::TempDir>,
    slack: Option<Fake>,
    timing: Option<Timing>,
}

/// The app with every instance on the notebooks backend, against a fake Google.
async fn spawn_notebooks(o: Opts) -> Env {
    let google = match o.google {
        Some(g) => g,
        None => {
            FakeGoogle::start(&[
                (FOO_PATH, "STOPPED"),
                (GPU_PATH, "ACTIVE"),
                (SECRET_PATH, "STOPPED"),
            ])
            .await
        }
    };
    let dir = o.dir.unwrap_or_else(|| tempfile::tempdir().unwrap());
    let key = dir.path().join("key.json");
    std::fs::write(&key, google.key_json()).unwrap();
    let mut config = TestConfig::default();
    config.backend.default = "notebooks".into();
    config
        .instance
        .push(Instance::new("gpu", GPU_PATH, &[ADMIN], &["*"]));
    if let Some(url) = o.store_url {
        config.store.url = url;
    }
    if let Some(configure) = o.configure {
        configure(&mut config);
    }
    let spawn = Spawn {
        config,
        settings: Settings {
            notebooks_api_url: google.fake.url.clone(),
            google_application_credentials: Some(key),
            timing: o.timing.unwrap_or_else(fast),
            ..Default::default()
        },
        dir: Some(dir),
        slack: o.slack,
    };
    let t = spawn_app(spawn).await;
    Env { t, google }
}

async fn spawn_google(foo_state: &str) -> Env {
    let env = spawn_notebooks(Opts::default()).await;
    env.google.set_state(FOO_PATH, foo_state);
    env
}

fn assert_all_calls_in_discovery(google: &FakeGoogle) {
    for c in google.api_calls() {
        assert!(
            matches_discovery(&c.method, &c.path),
            "{} {} is not a Notebooks v2 method",
            c.method,
            c.path
        );
    }
}

#[tokio::test]
async fn an_operator_starts_foo_and_sees_it_running_with_its_jupyterlab_link() {
    let Env { t, google } = spawn_google("STOPPED").await;
    t.command(OPERATOR, "start foo").await;
    let replies = t.slack.wait_for("/response/1", 2).await;
    assert!(
        replies[0].text().contains("Starting `foo`"),
        "{}",
        replies[0].text()
    );
    let last = replies[1].json();
    assert_eq!(
        last["replace_original"], true,
        "the final state replaces the progress message"
    );
    let text = last["text"].as_str().unwrap();
    assert!(text.contains("`foo` is running"), "{text}");
    assert!(
        text.contains(
            "https://research-and-development-foo.notebooks.googleusercontent.com|open JupyterLab"
        ),
        "{text}"
    );
    assert!(text.contains("took"), "{text}");

    let starts = google.posts("start");
    assert_eq!(starts.len(), 1);
    assert_eq!(starts[0].path, format!("/v2/{FOO_PATH}:start"));
    assert_eq!(
        starts[0].header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert_eq!(
        starts[0].json(),
        serde_json::json!({}),
        "start takes an empty body"
    );
    assert!(
        google
            .api_calls()
            .iter()
            .any(|c| c.path.contains("/operations/operation-1")),
        "the operation was polled"
    );
    assert_eq!(google.fake.calls_to("/token").len(), 1, "one token, reused");
    assert_eq!(google.state_of(FOO_PATH), "ACTIVE");
    let rows = t.wait_audit(1).await;
    assert_eq!(rows[0].outcome, "done:ACTIVE");
    assert_eq!(rows[0].backend.as_deref(), Some("notebooks"));
    assert_all_calls_in_discovery(&google);
}

#[tokio::test]
async fn every_method_and_field_the_client_uses_is_in_the_discovery_document() {
    let Env { t, google } = spawn_google("STOPPED").await;
    // Exercise every call the client makes: get, list (paged), start, stop, operations.
    t.command(OPERATOR, "start foo").await;
    t.slack.wait_for("/response/1", 2).await;
    t.command(OPERATOR, "stop foo").await;
    t.slack.wait_for("/response/1", 4).await;
    t.command(OPERATOR, "list").await;
    t.slack.wait_for("/response/1", 5).await;
    let calls = google.api_calls();
    for (method, needle) in [
        ("GET", "/instances/"),
        ("GET", "/instances"),
        ("POST", ":start"),
        ("POST", ":stop"),
        ("GET", "/operations/"),
    ] {
        assert!(
            calls
                .iter()
                .any(|c| c.method == method && c.path.contains(needle)),
            "no {method} {needle} call"
        );
    }
    assert!(
        calls.iter().any(|c| c.query.contains("pageToken=")),
        "list paging was used"
    );
    assert_all_calls_in_discovery(&google);

    // Every field the client reads, found by serialising its own types (which
    // share their field names with deserialisation), is in the schema.
    use workbench_bot::act::{
        ApiAcceleratorConfig, ApiGceSetup, ApiInstance, ApiOperation, ApiStatus,
    };
    let inst = ApiInstance {
        name: "n".into(),
        state: Some("ACTIVE".into()),
        proxy_uri: Some("p".into()),
        update_time: Some("t".into()),
        gce_setup: Some(ApiGceSetup {
            machine_type: Some("m".into()),
            accelerator_configs: vec![ApiAcceleratorConfig {
                kind: Some("k".into()),
                core_count: Some("1".into()),
            }],
            instance_id: Some("1234567890123456789".into()),
            metadata: [("idle-timeout-seconds".to_owned(), "10800".to_owned())].into(),
        }),
    };
    let op = ApiOperation {
        name: "o".into(),
        done: true,
        error: Some(ApiStatus {
            code: 1,
            message: "m".into(),
        }),
        response: Some(serde_json::json!({})),
    };
    let check = |value: serde_json::Value, schema: &str| {
        let props = discovery_schema(schema)["properties"].clone();
        for key in value.as_object().unwrap().keys() {
            assert!(
                props.get(key).is_some(),
                "{schema}.{key} is not in the discovery document"
            );
        }
    };
    let v = serde_json::to_value(&inst).unwrap();
    check(v.clone(), "Instance");
    check(v["gceSetup"].clone(), "GceSetup");
    check(
        v["gceSetup"]["acceleratorConfigs"][0].clone(),
        "AcceleratorConfig",
    );
    let o = serde_json::to_value(&op).unwrap();
    check(o.clone(), "Operation");
    check(o["error"].clone(), "Status");
    let states = discovery_schema("Instance")["properties"]["state"]["enum"].clone();
    for s in [
        "STARTING",
        "PROVISIONING",
        "ACTIVE",
        "STOPPING",
        "STOPPED",
        "DELETED",
        "UPGRADING",
        "INITIALIZING",
        "SUSPENDING",
        "SUSPENDED",
        "ORPHANED",
    ] {
        assert!(states.as_array().unwrap().iter().any(|x| x == s), "{s}");
        assert_eq!(workbench_bot::act::State::from_api(s).as_api(), s);
    }
}

#[tokio::test]
async fn starting_a_running_instance_is_a_friendly_no_op() {
    let Env { t, google } = spawn_google("ACTIVE").await;
    t.command(OPERATOR, "start foo").await;
    let text = t.slack.wait_for("/response/1", 2).await[1].text();
    assert!(
        text.contains("`foo` is already running; nothing to do"),
        "{text}"
    );
    assert!(text.contains("open JupyterLab"), "{text}");
    assert!(google.posts("start").is_empty());
}

#[tokio::test]
async fn stopping_a_stopped_instance_is_a_friendly_no_op() {
    let Env { t, google } = spawn_google("STOPPED").await;
    t.command(OPERATOR, "stop foo").await;
    let text = t.slack.wait_for("/response/1", 2).await[1].text();
    assert!(text.contains("`foo` is already stopped"), "{text}");
    assert!(google.posts("stop").is_empty());
}

#[tokio::test]
async fn a_deleted_or_upgrading_instance_gets_a_sentence_and_no_call() {
    let Env { t, google } = spawn_google("DELETED").await;
    t.command(OPERATOR, "start foo").await;
    let text = t.slack.wait_for("/response/1", 2).await[1].text();
    assert!(
        text.contains("`foo` is deleted") || text.contains("foo is deleted"),
        "{text}"
    );
    assert!(text.contains("remove it from the config"), "{text}");
    google.set_state(FOO_PATH, "UPGRADING");
    t.command(OPERATOR, "stop foo").await;
    let text = t.slack.wait_for("/response/1", 4).await[3].text();
    assert!(text.contains("upgrading"), "{text}");
    assert!(google.posts("start").is_empty() && google.posts("stop").is_empty());
}

#[tokio::test]
async fn a_403_names_the_missing_permission_and_the_google_side() {
    let Env { t, google } = spawn_google("STOPPED").await;
    google.fail_once("POST", ":start", 403, false);
    t.command(OPERATOR, "start foo").await;
    let text = t.slack.wait_for("/response/1", 2).await[1].text();
    assert!(text.contains("notebooks.instances.start"), "{text}");
    assert!(text.contains(FOO_PATH), "{text}");
    assert!(text.contains("Google Cloud side"), "{text}");
    assert_eq!(google.posts("start").len(), 1, "a 403 is not retried");
    let rows = t.wait_audit(1).await;
    assert_eq!(rows[0].outcome, "error:google");
}

#[tokio::test]
async fn a_404_says_the_config_names_a_missing_instance() {
    let Env { t, google } = spawn_google("STOPPED").await;
    google.state.lock().unwrap().instances.remove(FOO_PATH);
    t.command(OPERATOR, "start foo").await;
    let text = t.slack.wait_for("/response/1", 2).await[1].text();
    assert!(
        text.contains("does not exist in Google Cloud") && text.contains("fix the config"),
        "{text}"
    );
    assert!(google.posts("start").is_empty());
}

/// A 404 while following an operation means Google lost the operation, not
/// that the instance is gone.
#[tokio::test]
async fn a_404_on_the_operation_is_told_as_a_lost_operation() {
    let Env { t, google } = spawn_google("STOPPED").await;
    google.behave(OpBehaviour::Never);
    google.fail_once("GET", "operations/operation-1", 404, false);
    t.command(OPERATOR, "start foo").await;
    let text = t.slack.wait_for("/response/1", 2).await[1].text();
    assert!(text.contains("no longer knows the operation"), "{text}");
    assert!(!text.contains("does not exist"), "{text}");
}

/// An expired `GOOGLE_OAUTH_ACCESS_TOKEN` is a credentials problem, not a
/// missing permission.
#[tokio::test]
async fn an_expired_access_token_is_told_as_such() {
    let google = FakeGoogle::start(&[(FOO_PATH, "STOPPED")]).await;
    let mut config = TestConfig::default();
    config.backend.default = "notebooks".into();
    let t = spawn_app(Spawn {
        config,
        settings: Settings {
            notebooks_api_url: google.fake.url.clone(),
            google_oauth_access_token: Some(workbench_bot::Secret::new("ya29.expired")),
            timing: fast(),
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    t.command(OPERATOR, "status foo").await;
    let text = t.slack.wait_for("/response/1", 1).await[0].text();
    assert!(
        text.contains("did not accept the bot's credentials") && text.contains("expired"),
        "{text}"
    );
    assert!(!text.contains("may not do this"), "{text}");
}

/// A Google that never answers: the person hears Google was slow, after a
/// bounded wait.
#[tokio::test]
async fn a_google_that_hangs_is_told_as_slow() {
    let hole = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut config = TestConfig::default();
    config.backend.default = "notebooks".into();
    let t = spawn_app(Spawn {
        config,
        settings: Settings {
            notebooks_api_url: format!("http://{}", hole.local_addr().unwrap()),
            google_oauth_access_token: Some(workbench_bot::Secret::new(TOKEN)),
            timing: Timing {
                request_timeout: Duration::from_millis(150),
                ..fast()
            },
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    let asked = std::time::Instant::now();
    t.command(OPERATOR, "status foo").await;
    let text = t.slack.wait_for("/response/1", 1).await[0].text();
    assert!(
        text.contains("did not answer in time") && text.contains("Google Cloud side"),
        "{text}"
    );
    assert!(asked.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_429_on_the_state_read_is_retried_then_succeeds() {
    let Env { t, google } = spawn_google("STOPPED").await;
    google.fail_once("GET", "research-and-development-foo", 429, false);
    t.command(OPERATOR, "start foo").await;
    let text = t.slack.wait_for("/response/1", 2).await[1].text();
    assert!(text.contains("`foo` is running"), "{text}");
    assert_eq!(google.posts("start").len(), 1);
}

#[tokio::test]
async fn a_500_on_start_is_retried_after_reading_the_state_again() {
    let Env { t, google } = spawn_google("STOPPED").await;
    google.fail_once("POST", ":start", 500, false);
    t.command(OPERATOR, "start foo").await;
    let text = t.slack.wait_for("/response/1", 2).await[1].text();
    assert!(text.contains("`foo` is running"), "{text}");
    assert_eq!(google.posts("start").len(), 2, "one refused, one accepted");
    assert_eq!(
        google.state.lock().unwrap().ops.len(),
        1,
        "one operation only"
    );
}

#[tokio::test]
async fn a_start_google_applied_before_failing_is_not_sent_again() {
    let Env { t, google } = spawn_google("STOPPED").await;
    google.fail_once("POST", ":start", 503, true);
    t.command(OPERATOR, "start foo").await;
    let text = t.slack.wait_for("/response/1", 2).await[1].text();
    assert!(
        text.contains("`foo` is already running (it is starting)"),
        "{text}"
    );
    assert_eq!(
        google.posts("start").len(),
        1,
        "the state read saw STARTING: no second start"
    );
}

#[tokio::test]
async fn an_operation_that_ends_in_error_is_reported_as_googles_failure() {
    let Env { t, google } = spawn_google("STOPPED").await;
    google.behave(OpBehaviour::FailAfter(
        2,
        "Quota 'NVIDIA_A100_GPUS' exceeded",
    ));
    t.command(OPERATOR, "start foo").await;
    let text = t.slack.wait_for("/response/1", 2).await[1].text();
    assert!(text.contains("Quota 'NVIDIA_A100_GPUS' exceeded"), "{text}");
    assert!(text.contains("Google Cloud side"), "{text}");
    assert_eq!(google.posts("start").len(), 1);
}

#[tokio::test]
async fn an_operation_that_never_finishes_tells_the_user_how_to_check() {
    let Env { t, google } = spawn_notebooks(Opts {
        configure: Some(|c| {
            c.backend.notebooks = Some(Notebooks {
                operation_timeout_seconds: 1,
            })
        }),
        timing: Some(Timing {
            first_retry: Duration::from_millis(5),
            first_poll: Duration::from_millis(20),
            max_poll: Duration::from_millis(100),
            ..Timing::default()
        }),
        ..Default::default()
    })
    .await;
    google.behave(OpBehaviour::Never);
    t.command(OPERATOR, "start foo").await;
    let text = t.slack.wait_for("/response/1", 2).await[1].text();
    assert!(text.contains("foo is still starting after 1 s"), "{text}");
    assert!(text.contains("`status foo`"), "{text}");
    assert_eq!(google.posts("start").len(), 1);
}

#[tokio::test]
async fn a_pending_operation_survives_a_restart_and_is_reported_once() {
    let Env { t, google } = spawn_google("STOPPED").await;
    google.behave(OpBehaviour::Never);
    t.command(OPERATOR, "start foo").await;
    t.slack.wait_for("/response/1", 1).await; // "Starting foo…"
    wait_until(Duration::from_secs(5), || {
        (!google.posts("start").is_empty()).then_some(())
    })
    .await
    .unwrap();
    // The bot saves the operation once Google has answered the start.
    let mut saved = 0;
    for _ in 0..250 {
        saved = t.app.store().db().pending_count().await.unwrap();
        if saved == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(saved, 1, "the operation is kept in the store");
    let slack = t.slack.clone();
    let dir = t.stop().await; // SIGTERM: the poller lets go; nothing final is reported
    assert_eq!(
        slack.calls_to("/response/1").len(),
        1,
        "the stopping process reports nothing final"
    );
    let store_url = format!("sqlite://{}", dir.path().join("audit.db").display());
    let rows = workbench_bot::store::Store::open(&store_url)
        .await
        .unwrap()
        .audit_rows()
        .await
        .unwrap();
    assert_eq!(
        rows.len(),
        1,
        "the stopping process recorded the request: {rows:#?}"
    );
    assert_eq!(rows[0].outcome, "pending:left for the next process");

    google.behave(OpBehaviour::DoneAfter(1));
    let env2 = spawn_notebooks(Opts {
        google: Some(google.clone()),
        dir: Some(dir),
        slack: Some(slack.clone()),
        ..Default::default()
    })
    .await
    .t;
    let replies = slack.wait_for("/response/1", 2).await;
    let text = replies[1].text();
    assert!(text.contains("`foo` is running"), "{text}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        slack.calls_to("/response/1").len(),
        2,
        "reported exactly once"
    );
    assert_eq!(
        google.posts("start").len(),
        1,
        "the restarted bot only polls"
    );
    assert_eq!(env2.app.store().db().pending_count().await.unwrap(), 0);
    // The row the first process began gets the end: one row, one request.
    let mut rows = env2.audit().await;
    for _ in 0..250 {
        if rows.first().is_some_and(|r| r.outcome == "done:ACTIVE") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        rows = env2.audit().await;
    }
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0].outcome, "done:ACTIVE");
}

/// A rolling deploy: B is already running when A stops mid-operation. B picks
/// the operation up on its own, without a restart, and reports it once.
#[tokio::test]
async fn in_a_rolling_restart_the_running_replica_reports_the_operation_once() {
    let often = |c: &mut TestConfig| c.store.sweep_seconds = Some(0.1);
    let Env { t: a, google } = spawn_notebooks(Opts {
        configure: Some(often),
        ..Default::default()
    })
    .await;
    google.behave(OpBehaviour::Never);
    a.command(OPERATOR, "start foo").await;
    a.slack.wait_for("/response/1", 1).await; // "Starting foo…"
    wait_until(Duration::from_secs(5), || {
        (!google.posts("start").is_empty()).then_some(())
    })
    .await
    .unwrap();
    let b = spawn_notebooks(Opts {
        google: Some(google.clone()),
        slack: Some(a.slack.clone()),
        store_url: Some(a.store_url.clone()),
        configure: Some(often),
        ..Default::default()
    })
    .await
    .t;
    // B sweeps while A holds the lease: nothing for B yet.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(a.slack.calls_to("/response/1").len(), 1);
    google.behave(OpBehaviour::DoneAfter(1));
    let slack = a.slack.clone();
    a.stop().await; // SIGTERM to A: it lets go of the operation
    let replies = slack.wait_for("/response/1", 2).await;
    assert!(
        replies[1].text().contains("`foo` is running"),
        "{replies:#?}"
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        slack.calls_to("/response/1").len(),
        2,
        "reported exactly once"
    );
    assert_eq!(google.posts("start").len(), 1, "B only polls");
    assert_eq!(b.app.store().db().pending_count().await.unwrap(), 0);
}

/// Start pressed on a card only the presser sees: the card becomes
/// "Starting…" and then the result, in place, with nothing left behind.
#[tokio::test]
async fn start_on_a_private_card_turns_that_card_into_the_result() {
    let Env { t, .. } = spawn_google("STOPPED").await;
    let press =
        crate::entry_points::block_actions(OPERATOR, "notebook_start", "foo", &t.response_url(5));
    crate::entry_points::interact(&t, &press).await;
    let replies = t.slack.wait_for("/response/5", 2).await;
    let (progress, last) = (replies[0].json(), replies[1].json());
    assert!(progress["text"].as_str().unwrap().contains("Starting"));
    assert_eq!(progress["replace_original"], true, "{progress}");
    assert_eq!(last["replace_original"], true, "{last}");
    assert!(last["text"].as_str().unwrap().contains("`foo` is running"));
}

/// On a shared card no "Starting…" is posted: an ephemeral note there could
/// never be replaced, and would stay behind.
#[tokio::test]
async fn start_on_a_shared_card_tells_only_the_presser_the_result() {
    let Env { t, google } = spawn_google("STOPPED").await;
    let mut press =
        crate::entry_points::block_actions(OPERATOR, "notebook_start", "foo", &t.response_url(6));
    press["container"]["is_ephemeral"] = serde_json::json!(false);
    crate::entry_points::interact(&t, &press).await;
    let replies = t.slack.wait_for("/response/6", 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(t.slack.calls_to("/response/6").len(), 1, "{replies:#?}");
    let reply = replies[0].json();
    assert_eq!(reply["replace_original"], false);
    assert!(reply["text"].as_str().unwrap().contains("`foo` is running"));
    assert_eq!(google.posts("start").len(), 1);
}

/// A start and a stop of one instance at the same moment: only the first goes
/// out, and the second person hears who is changing it.
#[tokio::test]
async fn a_start_and_a_stop_at_once_send_one_call_and_name_who_was_first() {
    let Env { t, google } = spawn_google("STOPPED").await;
    google.behave(OpBehaviour::DoneAfter(20));
    let (one, two) = (t.response_url(1), t.response_url(2));
    let (a, b) = tokio::join!(
        t.command_to(OPERATOR, "start foo", &one),
        t.command_to(OPERATOR2, "stop foo", &two),
    );
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (200, 200));
    let rows = t.wait_audit(2).await;
    let busy: Vec<_> = rows.iter().filter(|r| r.reason == "in_progress").collect();
    assert_eq!(busy.len(), 1, "{rows:#?}");
    let loser = if busy[0].principal == OPERATOR { 1 } else { 2 };
    let winner = if loser == 1 { OPERATOR2 } else { OPERATOR };
    let told = t.slack.wait_for(&format!("/response/{loser}"), 1).await[0].text();
    assert!(
        told.contains(&format!("<@{winner}>")) && told.contains("right now"),
        "{told}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Whichever won, the other never reached Google (the winner's own state
    // read may make it a no-op: stopping a stopped instance).
    assert!(
        google.posts("start").len() + google.posts("stop").len() <= 1,
        "at most one change reached Google"
    );
    assert_eq!(
        google
            .posts(if winner == OPERATOR { "stop" } else { "start" })
            .len(),
        0,
        "the refused one sent nothing"
    );
}

#[tokio::test]
async fn status_shows_what_google_holds() {
    let Env { t, .. } = spawn_google("STOPPED").await;
    t.command(OPERATOR, "status gpu").await;
    let text = t.slack.wait_for("/response/1", 1).await[0].text();
    assert!(text.contains("`gpu` is *running*"), "{text}");
    assert!(text.contains("machine type: a2-highgpu-1g"), "{text}");
    assert!(
        text.contains("accelerators: 1 × NVIDIA_TESLA_A100"),
        "{text}"
    );
    assert!(
        text.contains("since: 2026-11-23T09:00:00.123456Z"),
        "{text}"
    );
    assert!(
        text.contains("https://research-gpu.notebooks.googleusercontent.com|open JupyterLab"),
        "{text}"
    );
}

#[tokio::test]
async fn list_shows_every_visible_instance_in_one_message_and_nothing_else() {
    let Env { t, google } = spawn_google("STOPPED").await;
    t.command(OPERATOR2, "list").await;
    let text = t.slack.wait_for("/response/1", 1).await[0].text();
    assert!(text.contains("`foo`: stopped"), "{text}");
    assert!(text.contains("`gpu`: running (view only)"), "{text}");
    assert!(!text.contains("secret"), "{text}");
    assert!(google.api_calls().iter().all(|c| c.method == "GET"));
}

#[tokio::test]
async fn starts_and_stops_are_announced_in_the_team_channel() {
    let Env { t, .. } = spawn_notebooks(Opts {
        configure: Some(|c| c.slack.announce_channel = Some("C0ANNOUNCE".into())),
        ..Default::default()
    })
    .await;
    t.command(OPERATOR, "start foo").await;
    // `gpu` has run since long before the bot started: the channel also gets
    // a reminder about it, which is not what this test is about.
    let announced = wait_until(Duration::from_secs(10), || {
        t.slack
            .calls_to("/api/chat.postMessage")
            .into_iter()
            .find(|c| c.text().contains("asked to"))
    })
    .await
    .expect("the start is announced");
    let body = announced.json();
    assert_eq!(body["channel"], "C0ANNOUNCE");
    let text = body["text"].as_str().unwrap();
    assert!(
        text.contains(&format!("<@{OPERATOR}>"))
            && text.contains("start foo")
            && text.contains("running"),
        "{text}"
    );
}

/// The announce channel shows only what everyone may see: `secret` (viewers:
/// its one operator) is not announced there, unless the config says
/// `announce = true`.
#[tokio::test]
async fn an_instance_not_everyone_may_see_is_not_announced_in_the_team_channel() {
    fn private(c: &mut TestConfig) {
        c.slack.announce_channel = Some("C0ANNOUNCE".into());
    }
    fn announced(c: &mut TestConfig) {
        private(c);
        c.instance[1].announce = Some(true);
    }
    for announce in [None, Some(true)] {
        let configure: fn(&mut TestConfig) = match announce {
            None => private,
            Some(_) => announced,
        };
        let Env { t, google } = spawn_notebooks(Opts {
            configure: Some(configure),
            ..Default::default()
        })
        .await;
        t.command(OPERATOR, "start secret").await;
        let done = t.slack.wait_for("/response/1", 2).await[1].text();
        assert!(done.contains("running"), "{done}");
        assert_eq!(google.posts("start").len(), 1);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let about_secret: Vec<_> = t
            .slack
            .calls_to("/api/chat.postMessage")
            .into_iter()
            .filter(|c| c.text().contains("secret"))
            .collect();
        match announce {
            None => assert!(
                about_secret.is_empty(),
                "nothing about `secret` is posted anywhere: {about_secret:#?}"
            ),
            Some(_) => {
                assert_eq!(about_secret.len(), 1, "{about_secret:#?}");
                assert_eq!(about_secret[0].json()["channel"], "C0ANNOUNCE");
            }
        }
    }
}

#[tokio::test]
async fn an_unreachable_notebooks_api_is_reported_as_googles_side() {
    let google = FakeGoogle::start(&[(FOO_PATH, "STOPPED")]).await;
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key.json");
    std::fs::write(&key, google.key_json()).unwrap();
    // Nothing listens on this port: every call is a connection error.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut config = TestConfig::default();
    config.backend.default = "notebooks".into();
    let t = spawn_app(Spawn {
        config,
        settings: Settings {
            notebooks_api_url: format!("http://{closed}"),
            google_application_credentials: Some(key),
            timing: fast(),
            ..Default::default()
        },
        dir: Some(dir),
        ..Default::default()
    })
    .await;
    t.command(OPERATOR, "start foo").await;
    let text = t.slack.wait_for("/response/1", 2).await[1].text();
    assert!(text.contains("could not reach the Notebooks API"), "{text}");
    assert!(text.contains("Google Cloud side"), "{text}");
    assert!(google.api_calls().is_empty());
}

#[tokio::test]
async fn refusals_on_the_notebooks_backend_reach_nothing_at_google() {
    let Env { t, google } = spawn_google("STOPPED").await;
    t.command(STRANGER, "start foo").await; // not an operator
    t.command(OPERATOR2, "stop gpu").await; // a viewer only
    t.command(OPERATOR2, "status secret").await; // not even a viewer
    t.command(OPERATOR, "start nonexistent").await; // not in the config
    t.command(OPERATOR, "delete foo").await; // not a command
    let texts: Vec<String> = t
        .slack
        .wait_for("/response/1", 5)
        .await
        .iter()
        .map(|c| c.text())
        .collect();
    assert!(
        texts
            .iter()
            .any(|x| x.contains("you are not an operator of foo")),
        "{texts:?}"
    );
    assert!(
        texts
            .iter()
            .any(|x| x.contains("you are not an operator of gpu")),
        "{texts:?}"
    );
    assert!(
        texts
            .iter()
            .any(|x| x.contains("I don't know an instance called \"secret\"")),
        "{texts:?}"
    );
    assert!(
        texts
            .iter()
            .any(|x| x.contains("I don't know an instance called \"nonexistent\"")),
        "{texts:?}"
    );
    assert!(
        texts
            .iter()
            .any(|x| x.contains("I don't know the command \"delete\"")),
        "{texts:?}"
    );
    let rows = t.wait_audit(5).await;
    assert!(rows.iter().all(|r| r.decision != "allowed"), "{rows:#?}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        google.fake.calls().is_empty(),
        "not even a token was fetched: {:#?}",
        google.fake.calls()
    );
}

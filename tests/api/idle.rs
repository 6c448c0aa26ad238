//! Idle-aware stops: an instance idle for its `idle_minutes` (by Cloud
//! Monitoring's CPU and GPU figures) is warned, then stopped at Google if
//! still idle; a busy one never; an unreadable one never, with the reason in
//! `status`. Each test asserts what reached the Notebooks and Monitoring
//! fakes and what each person saw. Time moves by the app's clock.

use crate::config::Idle;
use crate::entry_points::{block_actions, interact};
use crate::fakes::google::{FakeGoogle, vm_id};
use crate::fakes::monitoring::{CPU, FakeMonitoring, GPU, Profile};
use crate::helpers::*;
use crate::pg::fresh_database;
use crate::timers::{dms, foo, prices, settings};
use std::time::Duration;
use workbench_bot::clock::Clock;
use workbench_bot::settings::Settings;

const MINUTE: chrono::Duration = chrono::Duration::minutes(1);

struct IdleEnv {
    t: TestApp,
    clock: Clock,
    google: FakeGoogle,
    monitoring: FakeMonitoring,
    vm: String,
}

impl IdleEnv {
    /// foo's CPU (a fraction) and GPU (a percent), steady, read 3 minutes late.
    fn figures(&self, cpu: f64, gpu: f64) {
        self.monitoring
            .set(&self.vm, CPU, Some(Profile::steady(cpu)));
        self.monitoring
            .set(&self.vm, GPU, Some(Profile::steady(gpu)));
    }

    /// What OPERATOR (foo's starter) was told, in order.
    fn told(&self) -> Vec<String> {
        dms(&self.t, OPERATOR).iter().map(|c| c.text()).collect()
    }

    /// The last `status foo` answer at `response_url` number `n`.
    async fn status(&self, n: u32) -> String {
        let url = self.t.response_url(n);
        self.t.command_to(OPERATOR, "status foo", &url).await;
        self.t.slack.wait_for(&format!("/response/{n}"), 1).await[0].text()
    }
}

fn idle_settings(clock: &Clock, google: &FakeGoogle, monitoring: &FakeMonitoring) -> Settings {
    let mut s = settings(clock, Some(google));
    s.monitoring_api_url = monitoring.fake.url.clone();
    s.timing.monitoring_bound = Duration::from_secs(2);
    s
}

/// foo on the Notebooks fake with `idle_minutes = 60` (warned 15 min
/// before), its Monitoring fake, and foo started by OPERATOR and running
/// for 70 minutes (so a whole window of figures exists).
async fn running_for_70_minutes(configure: impl FnOnce(&mut TestConfig)) -> IdleEnv {
    running_with_slack(None, configure).await
}

async fn running_with_slack(
    slack: Option<Fake>,
    configure: impl FnOnce(&mut TestConfig),
) -> IdleEnv {
    let clock = Clock::default();
    let google = FakeGoogle::start(&[(FOO_PATH, "STOPPED")]).await;
    let monitoring = FakeMonitoring::start().await;
    let mut config = TestConfig {
        cost: Some(prices()),
        ..Default::default()
    };
    config.backend.default = "notebooks".into();
    foo(&mut config).idle_minutes = Some(60);
    configure(&mut config);
    let t = spawn_app(Spawn {
        config,
        settings: idle_settings(&clock, &google, &monitoring),
        slack,
        ..Default::default()
    })
    .await;
    t.command(OPERATOR, "start foo").await;
    t.slack.wait_for("/response/1", 2).await;
    assert_eq!(google.state_of(FOO_PATH), "ACTIVE");
    clock.advance(MINUTE * 70);
    IdleEnv {
        t,
        clock,
        google,
        monitoring,
        vm: vm_id(FOO_PATH),
    }
}

/// The action ids of the buttons under the last DM to OPERATOR.
fn buttons_of_last(env: &IdleEnv) -> Vec<String> {
    let last = dms(&env.t, OPERATOR).pop().expect("a DM");
    last.json()["blocks"][1]["elements"]
        .as_array()
        .map(|b| {
            b.iter()
                .map(|e| e["action_id"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn count(texts: &[String], needle: &str) -> usize {
    texts.iter().filter(|m| m.contains(needle)).count()
}

#[tokio::test]
async fn an_idle_instance_is_warned_then_stopped_with_its_idle_time_and_cost() {
    let env = running_for_70_minutes(|_| {}).await;
    env.figures(0.02, 0.0);
    let warned = env.t.app.tick().await.unwrap();
    assert_eq!((warned.warned, warned.stopped), (1, 0));
    let reads = env.monitoring.reads();
    assert_eq!(reads.len(), 2, "CPU and GPU, once each: {reads:#?}");
    for call in &reads {
        assert!(
            call.path
                .ends_with("/v3/projects/example-project/timeSeries"),
            "{}",
            call.path
        );
        assert!(
            call.query.contains(&env.vm),
            "filtered on the VM's id: {}",
            call.query
        );
    }
    let told = env.told();
    let warning = told.last().unwrap();
    for needle in [
        "`foo` has been idle for 1 h",
        "(CPU 2 %, GPU 0 %)",
        "it stops in 15 min",
    ] {
        assert!(warning.contains(needle), "{needle}: {warning}");
    }
    assert_eq!(
        buttons_of_last(&env),
        ["notebook_keep_idle", "notebook_stop"]
    );

    // Another tick in the same check period reads nothing and stops nothing.
    env.clock.advance(MINUTE);
    assert_eq!(env.t.app.tick().await.unwrap().stopped, 0);
    assert_eq!(env.monitoring.reads().len(), 2, "once per check_minutes");
    assert!(env.google.posts("stop").is_empty());

    env.clock.advance(MINUTE * 14);
    let done = env.t.app.tick().await.unwrap();
    assert_eq!(done.stopped, 1);
    assert_eq!(
        env.monitoring.reads().len(),
        4,
        "read again before the stop"
    );
    assert_eq!(env.google.posts("stop").len(), 1);
    assert_eq!(env.google.state_of(FOO_PATH), "STOPPED");
    let told = env.told();
    let stopped = told.last().unwrap();
    for needle in [
        "The bot stopped `foo` because nobody was using it",
        "(CPU 2 %, GPU 0 %)",
        "It sat idle for 1 h 1",
        "USD of compute for nothing",
    ] {
        assert!(stopped.contains(needle), "{needle}: {stopped}");
    }
    assert!(
        session_at(&env.t, FOO_PATH).await.is_none(),
        "its session closed"
    );
    let rows = env.t.audit().await;
    let stop = rows.iter().find(|r| r.command == "stop foo").unwrap();
    assert_eq!(stop.principal, "timer:idle");

    // `costs` counts what idle stops kept off apart from the other stops.
    env.clock.advance(MINUTE * 60);
    env.t
        .command_to(OPERATOR, "costs", &env.t.response_url(5))
        .await;
    let costs = env.t.slack.wait_for("/response/5", 1).await[0].text();
    assert!(
        costs.contains("The bot's own stops (idle stops) kept instances off for 1 h"),
        "{costs}"
    );
    assert!(!costs.contains("(time limits, schedules)"), "{costs}");
}

#[tokio::test]
async fn a_busy_instance_is_never_warned_nor_stopped() {
    let env = running_for_70_minutes(|_| {}).await;
    env.figures(0.40, 0.0);
    for _ in 0..4 {
        let r = env.t.app.tick().await.unwrap();
        assert_eq!((r.warned, r.stopped), (0, 0));
        env.clock.advance(MINUTE * 20);
    }
    assert_eq!(env.monitoring.reads().len(), 8, "read each check period");
    assert!(env.google.posts("stop").is_empty());
    assert_eq!(count(&env.told(), "idle"), 0, "{:#?}", env.told());
    // A busy GPU alone is busy too.
    env.figures(0.01, 93.0);
    env.t.app.tick().await.unwrap();
    let status = env.status(3).await;
    assert!(
        status.contains("activity: busy (CPU 1 %, GPU 93 %"),
        "{status}"
    );
    assert!(env.google.posts("stop").is_empty());
}

#[tokio::test]
async fn an_instance_that_turns_busy_during_the_warning_is_not_stopped_and_the_starter_is_told() {
    let env = running_for_70_minutes(|_| {}).await;
    env.figures(0.02, 0.0);
    assert_eq!(env.t.app.tick().await.unwrap().warned, 1);
    env.figures(0.55, 0.0);
    env.clock.advance(MINUTE * 15);
    let r = env.t.app.tick().await.unwrap();
    assert_eq!((r.stopped, r.failed), (0, 0));
    assert!(
        env.google.posts("stop").is_empty(),
        "nothing reached Google's stop"
    );
    assert_eq!(env.google.state_of(FOO_PATH), "ACTIVE");
    let told = env.told();
    let last = told.last().unwrap();
    assert!(
        last.contains("`foo` is in use again (CPU 55 %, GPU 0 %)"),
        "{last}"
    );
    assert!(last.contains("the idle stop is called off"), "{last}");
    let session = session_at(&env.t, FOO_PATH).await.unwrap();
    assert_eq!(session.idle.stop_due, None);
    // Later ticks while it is busy warn nobody.
    env.clock.advance(MINUTE * 30);
    assert_eq!(env.t.app.tick().await.unwrap().warned, 0);
}

#[tokio::test]
async fn what_the_bot_cannot_read_never_warns_nor_stops_and_status_says_why() {
    let env = running_for_70_minutes(|_| {}).await;
    // Each fault in turn, with what `status` must say of it.
    type Fault = Box<dyn Fn(&IdleEnv)>;
    let faults: Vec<(&str, Fault)> = vec![
        (
            "give its service account `roles/monitoring.viewer`",
            Box::new(|e: &IdleEnv| {
                e.figures(0.01, 0.0);
                e.monitoring.refuse(Some(403));
            }),
        ),
        (
            "Cloud Monitoring has no CPU figures for it",
            Box::new(|e: &IdleEnv| {
                e.monitoring.refuse(None);
                e.monitoring.set(&e.vm, CPU, None);
                e.monitoring.set(&e.vm, GPU, Some(Profile::steady(0.0)));
            }),
        ),
        (
            "min old (at most 5 counts)",
            Box::new(|e: &IdleEnv| {
                let mut late = Profile::steady(0.01);
                late.lag = 12;
                e.monitoring.set(&e.vm, CPU, Some(late));
            }),
        ),
        (
            "missing 2 minute(s) of CPU figures",
            Box::new(|e: &IdleEnv| {
                let mut gappy = Profile::steady(0.01);
                gappy.missing = vec![30, 31];
                e.monitoring.set(&e.vm, CPU, Some(gappy));
            }),
        ),
    ];
    for (n, (why, fault)) in faults.into_iter().enumerate() {
        fault(&env);
        env.clock.advance(MINUTE * 6);
        let r = env.t.app.tick().await.unwrap();
        assert_eq!((r.warned, r.stopped), (0, 0), "{why}");
        let status = env.status(10 + n as u32).await;
        assert!(
            status.contains("activity: unknown, so it counts as busy"),
            "{why}: {status}"
        );
        assert!(status.contains(why), "{why}: {status}");
    }
    assert!(
        env.google.posts("stop").is_empty(),
        "nothing reached Google's stop"
    );
    assert!(
        env.told().iter().all(|m| !m.contains("idle for")),
        "{:#?}",
        env.told()
    );
}

#[tokio::test]
async fn a_monitoring_that_does_not_answer_is_unknown_within_its_bound() {
    // Monitoring's address is a socket that never answers.
    let hole = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let clock = Clock::default();
    let google = FakeGoogle::start(&[(FOO_PATH, "ACTIVE")]).await;
    let monitoring = FakeMonitoring::start().await;
    let mut s = idle_settings(&clock, &google, &monitoring);
    s.monitoring_api_url = format!("http://{}", hole.local_addr().unwrap());
    s.timing.monitoring_bound = Duration::from_millis(300);
    let mut config = TestConfig::default();
    config.backend.default = "notebooks".into();
    foo(&mut config).idle_minutes = Some(60);
    let t = spawn_app(Spawn {
        config,
        settings: s,
        ..Default::default()
    })
    .await;
    let started = std::time::Instant::now();
    t.command(OPERATOR, "status foo").await;
    let status = t.slack.wait_for("/response/1", 1).await[0].text();
    assert!(started.elapsed() < Duration::from_secs(3), "bounded");
    assert!(status.contains("no answer within 0.3 s"), "{status}");
    clock.advance(MINUTE * 90);
    let r = t.app.tick().await.unwrap();
    assert_eq!((r.warned, r.stopped), (0, 0));
    assert!(google.posts("stop").is_empty());
}

#[tokio::test]
async fn keep_one_hour_by_an_operator_holds_off_idle_stops_and_by_a_viewer_changes_nothing() {
    let env = running_for_70_minutes(|_| {}).await;
    env.figures(0.02, 0.0);
    assert_eq!(env.t.app.tick().await.unwrap().warned, 1);
    let warned = session_at(&env.t, FOO_PATH).await.unwrap();
    assert!(warned.idle.stop_due.is_some());

    // A viewer (anyone may see foo) presses: refused, nothing changes.
    let posts = |e: &IdleEnv| {
        e.google
            .api_calls()
            .iter()
            .filter(|c| c.method == "POST")
            .count()
    };
    let before = posts(&env);
    interact(
        &env.t,
        &block_actions(
            STRANGER,
            "notebook_keep_idle",
            "foo",
            &env.t.response_url(2),
        ),
    )
    .await;
    let refused = env.t.slack.wait_for("/response/2", 1).await[0].text();
    assert!(
        refused.contains("you are not an operator of foo"),
        "{refused}"
    );
    assert_eq!(
        session_at(&env.t, FOO_PATH).await.unwrap(),
        warned,
        "unchanged"
    );
    assert_eq!(posts(&env), before, "nothing was sent to Google");

    // An operator presses: an hour with no idle stop, and no time limit set.
    interact(
        &env.t,
        &block_actions(
            OPERATOR2,
            "notebook_keep_idle",
            "foo",
            &env.t.response_url(3),
        ),
    )
    .await;
    let kept = env.t.slack.wait_for("/response/3", 1).await[0].text();
    assert!(
        kept.contains("`foo` is not stopped for idleness before"),
        "{kept}"
    );
    assert!(kept.contains("(in 1 h)"), "{kept}");
    let session = session_at(&env.t, FOO_PATH).await.unwrap();
    assert_eq!(session.idle.stop_due, None);
    assert_eq!(session.ends_at, None, "no time limit appeared");
    for _ in 0..5 {
        env.clock.advance(MINUTE * 11);
        let r = env.t.app.tick().await.unwrap();
        assert_eq!((r.warned, r.stopped), (0, 0));
    }
    assert!(env.google.posts("stop").is_empty(), "nothing for an hour");
    // Past the hour, still idle: warned again.
    env.clock.advance(MINUTE * 10);
    assert_eq!(env.t.app.tick().await.unwrap().warned, 1);
    assert_eq!(count(&env.told(), "has been idle for"), 2);
}

#[tokio::test]
async fn status_shows_idle_figures_and_workbenchs_own_idle_shutdown() {
    let env = running_for_70_minutes(|_| {}).await;
    env.google.set_metadata(
        FOO_PATH,
        serde_json::json!({"idle-timeout-seconds": "10800"}),
    );
    // Busy until 45 minutes ago (figures 3 minutes late): idle for 42 min.
    let mut quiet = Profile::steady(0.02);
    quiet.earlier = Some((45, 0.6));
    env.monitoring.set(&env.vm, CPU, Some(quiet));
    env.monitoring.set(&env.vm, GPU, Some(Profile::steady(0.0)));
    let status = env.status(2).await;
    assert!(
        status.contains("activity: idle for 42 min (CPU 2 %, GPU 0 %)"),
        "{status}"
    );
    assert!(status.contains("once idle for 1 h"), "{status}");
    assert!(
        status.contains("Workbench's own idle shutdown is set (metadata `idle-timeout-seconds`): it stops the instance after 3 h idle"),
        "{status}"
    );
    // Without a GPU series on its GPU machine: decided on CPU, and said.
    env.monitoring.set(&env.vm, GPU, None);
    env.clock.advance(MINUTE * 6);
    let status = env.status(3).await;
    assert!(status.contains("GPU not reported"), "{status}");
    assert!(status.contains("install the Ops Agent"), "{status}");
}

#[tokio::test]
async fn a_warning_before_a_time_limit_says_the_instance_is_busy_right_now() {
    let env = running_for_70_minutes(|c| {
        foo(c).max_hours = Some(2.0);
    })
    .await;
    env.figures(0.45, 80.0);
    assert_eq!(env.t.app.tick().await.unwrap().warned, 0);
    env.clock.advance(MINUTE * 37);
    assert_eq!(env.t.app.tick().await.unwrap().warned, 1);
    let told = env.told();
    let warning = told.last().unwrap();
    assert!(warning.contains("its time is up"), "{warning}");
    assert!(
        warning.contains("It is *busy* right now (CPU 45 %, GPU 80 %"),
        "{warning}"
    );
}

#[tokio::test]
async fn a_dry_run_deployment_never_reads_monitoring_and_says_so() {
    let clock = Clock::default();
    let google = FakeGoogle::start(&[]).await;
    let monitoring = FakeMonitoring::start().await;
    let mut config = TestConfig {
        idle: Some(Idle { check_minutes: 1 }),
        ..Default::default()
    };
    foo(&mut config).idle_minutes = Some(60);
    let t = spawn_app(Spawn {
        config,
        settings: idle_settings(&clock, &google, &monitoring),
        ..Default::default()
    })
    .await;
    t.command(OPERATOR, "start foo").await;
    t.slack.wait_for("/response/1", 1).await;
    clock.advance(MINUTE * 90);
    let r = t.app.tick().await.unwrap();
    assert_eq!((r.warned, r.stopped), (0, 0));
    t.command_to(OPERATOR, "status foo", &t.response_url(2))
        .await;
    let status = t.slack.wait_for("/response/2", 1).await[0].text();
    assert!(
        status.contains("a dry run has no VM for Cloud Monitoring to read"),
        "{status}"
    );
    assert!(monitoring.reads().is_empty(), "{:#?}", monitoring.reads());
}

#[tokio::test]
async fn two_replicas_on_postgres_read_an_instance_once_per_check_and_warn_once() {
    let db = fresh_database().await;
    let clock = Clock::default();
    let google = FakeGoogle::start(&[(FOO_PATH, "STOPPED")]).await;
    let monitoring = FakeMonitoring::start().await;
    let slack = fake_slack().await;
    let mut replicas = Vec::new();
    for _ in 0..2 {
        let mut config = TestConfig::new(&db);
        config.backend.default = "notebooks".into();
        foo(&mut config).idle_minutes = Some(30);
        replicas.push(
            spawn_app(Spawn {
                config,
                settings: idle_settings(&clock, &google, &monitoring),
                slack: Some(slack.clone()),
                ..Default::default()
            })
            .await,
        );
    }
    replicas[0].command(OPERATOR, "start foo").await;
    slack.wait_for("/response/1", 2).await;
    let vm = vm_id(FOO_PATH);
    monitoring.set(&vm, CPU, Some(Profile::steady(0.01)));
    monitoring.set(&vm, GPU, Some(Profile::steady(0.0)));
    clock.advance(MINUTE * 40);
    let (a, b) = tokio::join!(replicas[0].app.tick(), replicas[1].app.tick());
    assert_eq!(a.unwrap().warned + b.unwrap().warned, 1);
    assert_eq!(monitoring.reads().len(), 2, "one reading across replicas");
    clock.advance(MINUTE * 15);
    let (a, b) = tokio::join!(replicas[0].app.tick(), replicas[1].app.tick());
    assert_eq!(a.unwrap().stopped + b.unwrap().stopped, 1);
    assert_eq!(google.posts("stop").len(), 1);
}

#[tokio::test]
async fn idle_config_errors_name_their_line() {
    let mut config = TestConfig::default();
    foo(&mut config).idle_cpu_percent = Some(150.0);
    config.idle = Some(Idle { check_minutes: 0 });
    let problems = workbench_bot::Config::parse(&config.toml()).unwrap_err();
    let said: Vec<String> = problems.iter().map(ToString::to_string).collect();
    assert!(
        said.iter()
            .any(|p| p.starts_with("line ")
                && p.contains("idle.check_minutes must be between 1 and 60")),
        "{said:#?}"
    );
    assert!(
        said.iter()
            .any(|p| p.contains("sets idle_cpu_percent but not idle_minutes")),
        "{said:#?}"
    );
    assert!(
        said.iter()
            .any(|p| p.contains("idle_cpu_percent must be a percent above 0 and at most 100")),
        "{said:#?}"
    );
    foo(&mut config).idle_cpu_percent = None;
    foo(&mut config).idle_minutes = Some(0);
    config.idle = None;
    let problems = workbench_bot::Config::parse(&config.toml()).unwrap_err();
    let bad = problems
        .iter()
        .find(|p| {
            p.message
                .contains("idle_minutes must be between 1 and 1440")
        })
        .unwrap_or_else(|| panic!("{problems:?}"));
    assert!(bad.line.is_some(), "{bad:?}");
}

#[tokio::test]
async fn the_monitoring_fake_answers_only_what_the_discovery_document_describes() {
    use crate::fakes::google::TOKEN;
    use crate::fakes::monitoring::discovery_schema;
    let monitoring = FakeMonitoring::start().await;
    monitoring.set("42", CPU, Some(Profile::steady(0.1)));
    let http = reqwest::Client::new();
    let get = |query: Vec<(&'static str, String)>| {
        http.get(format!(
            "{}/v3/projects/example-project/timeSeries",
            monitoring.fake.url
        ))
        .bearer_auth(TOKEN)
        .query(&query)
        .send()
    };
    let end = chrono::Utc::now();
    let query = vec![
        (
            "filter",
            format!(
                "metric.type = \"{CPU}\" AND resource.type = \"gce_instance\" AND resource.labels.instance_id = \"42\""
            ),
        ),
        ("interval.startTime", (end - MINUTE * 10).to_rfc3339()),
        ("interval.endTime", end.to_rfc3339()),
        ("aggregation.alignmentPeriod", "60s".into()),
        ("aggregation.perSeriesAligner", "ALIGN_MEAN".into()),
    ];
    let body: serde_json::Value = get(query.clone()).await.unwrap().json().await.unwrap();
    // Every field the fake sends is in its schema, all the way down.
    fn check(value: &serde_json::Value, schema: &str) {
        let props = discovery_schema(schema)["properties"].clone();
        for (key, v) in value.as_object().unwrap() {
            let prop = &props[key];
            assert!(
                !prop.is_null(),
                "{schema}.{key} is not in the discovery document"
            );
            let inner = prop["$ref"].as_str().or(prop["items"]["$ref"].as_str());
            match (inner, v) {
                (Some(s), serde_json::Value::Array(items)) => {
                    items.iter().for_each(|i| check(i, s))
                }
                (Some(s), serde_json::Value::Object(_)) => check(v, s),
                _ => {}
            }
        }
    }
    check(&body, "ListTimeSeriesResponse");
    assert_eq!(body["timeSeries"][0]["points"].as_array().unwrap().len(), 7);
    // A parameter or value the document does not have is refused.
    let mut odd = query.clone();
    odd.push(("aggregation.perSeriesAligner", "ALIGN_SOMETHING".into()));
    assert_eq!(get(odd).await.unwrap().status(), 400);
    let mut odd = query;
    odd.push(("pageLimit", "5".into()));
    assert_eq!(get(odd).await.unwrap().status(), 400);
}

#[tokio::test]
async fn a_warning_nobody_received_is_given_again_and_nothing_is_stopped_before_it() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let down = Arc::new(AtomicBool::new(true));
    let flag = down.clone();
    // Slack turns the idle warning away while `down` holds.
    let slack = Fake::start(Arc::new(move |call: &Call| {
        if flag.load(Ordering::SeqCst) && call.text().contains("has been idle") {
            return (
                200,
                serde_json::json!({"ok": false, "error": "channel_not_found"}),
            );
        }
        crate::fakes::slack_answer(call)
    }))
    .await;
    let env = running_with_slack(Some(slack), |_| {}).await;
    env.figures(0.02, 0.0);
    assert_eq!(env.t.app.tick().await.unwrap().warned, 0);
    assert_eq!(
        session_at(&env.t, FOO_PATH).await.unwrap().idle.stop_due,
        None
    );
    env.clock.advance(MINUTE * 20);
    let r = env.t.app.tick().await.unwrap();
    assert_eq!((r.warned, r.stopped), (0, 0));
    assert!(
        env.google.posts("stop").is_empty(),
        "no stop without a warning"
    );
    down.store(false, Ordering::SeqCst);
    env.clock.advance(MINUTE * 5);
    assert_eq!(env.t.app.tick().await.unwrap().warned, 1);
    env.clock.advance(MINUTE * 15);
    assert_eq!(env.t.app.tick().await.unwrap().stopped, 1);
    assert_eq!(env.google.posts("stop").len(), 1);
}

#[tokio::test]
async fn an_unreadable_monitoring_when_the_stop_falls_due_is_read_again_and_then_called_off() {
    let env = running_for_70_minutes(|_| {}).await;
    env.figures(0.02, 0.0);
    assert_eq!(env.t.app.tick().await.unwrap().warned, 1);
    // A blip at the due time: nothing is done, nobody told, read next tick.
    env.monitoring.refuse(Some(503));
    env.clock.advance(MINUTE * 15);
    let r = env.t.app.tick().await.unwrap();
    assert_eq!((r.stopped, r.failed), (0, 0));
    assert_eq!(count(&env.told(), "called off"), 0);
    env.monitoring.refuse(None);
    env.clock.advance(MINUTE);
    assert_eq!(
        env.t.app.tick().await.unwrap().stopped,
        1,
        "read again: idle"
    );
    assert_eq!(env.google.posts("stop").len(), 1);

    // Another time, Monitoring stays unreadable past the warning's time.
    let env = running_for_70_minutes(|_| {}).await;
    env.figures(0.02, 0.0);
    assert_eq!(env.t.app.tick().await.unwrap().warned, 1);
    env.monitoring.refuse(Some(403));
    for _ in 0..4 {
        env.clock.advance(MINUTE * 8);
        assert_eq!(env.t.app.tick().await.unwrap().stopped, 0);
    }
    assert!(
        env.google.posts("stop").is_empty(),
        "nothing reached Google's stop"
    );
    let told = env.told();
    let last = told.last().unwrap();
    assert!(
        last.contains("cannot read whether `foo` is in use now"),
        "{last}"
    );
    assert!(last.contains("roles/monitoring.viewer"), "{last}");
    assert_eq!(
        count(&told, "cannot read whether"),
        1,
        "told once: {told:#?}"
    );
}

#[tokio::test]
async fn a_start_during_the_warning_calls_the_idle_stop_off() {
    let env = running_for_70_minutes(|_| {}).await;
    env.figures(0.02, 0.0);
    assert_eq!(env.t.app.tick().await.unwrap().warned, 1);
    env.t
        .command_to(OPERATOR, "start foo for 2h", &env.t.response_url(2))
        .await;
    env.t.slack.wait_for("/response/2", 1).await;
    assert_eq!(
        session_at(&env.t, FOO_PATH).await.unwrap().idle.stop_due,
        None
    );
    env.clock.advance(MINUTE * 15);
    assert_eq!(env.t.app.tick().await.unwrap().stopped, 0);
    assert!(env.google.posts("stop").is_empty());
}

#[tokio::test]
async fn a_warning_from_hours_ago_is_given_again_rather_than_acted_on() {
    let env = running_for_70_minutes(|_| {}).await;
    env.figures(0.02, 0.0);
    assert_eq!(env.t.app.tick().await.unwrap().warned, 1);
    // No tick for three hours (a process scaled to zero with no scheduler).
    env.clock.advance(MINUTE * 180);
    let r = env.t.app.tick().await.unwrap();
    assert_eq!((r.warned, r.stopped), (0, 0), "the old warning is let go");
    assert!(env.google.posts("stop").is_empty());
    env.clock.advance(MINUTE * 5);
    assert_eq!(env.t.app.tick().await.unwrap().warned, 1, "warned anew");
    env.clock.advance(MINUTE * 15);
    assert_eq!(env.t.app.tick().await.unwrap().stopped, 1);
    assert_eq!(count(&env.told(), "has been idle for"), 2);
}

#[tokio::test]
async fn on_a_github_instance_the_idle_stop_is_a_timer_idle_dispatch_confirmed_by_its_run() {
    let (github, runs) = crate::fakes::github::fake_github_runs().await;
    let google = FakeGoogle::start(&[(FOO_PATH, "STOPPED")]).await;
    let monitoring = FakeMonitoring::start().await;
    let clock = Clock::default();
    let mut config = TestConfig::default();
    config.backend.default = "github".into();
    foo(&mut config).idle_minutes = Some(60);
    // A GitHub deployment given read credentials for Google (state, activity).
    let settings = Settings {
        clock: clock.clone(),
        ..idle_settings(&clock, &google, &monitoring)
    };
    let t = spawn_app(Spawn {
        config: config.clone(),
        settings: Settings {
            github_api_url: Some(github.url.clone()),
            github_token: crate::github::github_settings(&github, false).github_token,
            dispatch_secret: crate::github::github_settings(&github, false).dispatch_secret,
            ..settings
        },
        ..Default::default()
    })
    .await;
    t.command(OPERATOR, "start foo").await;
    github.wait_for("/dispatches", 1).await;
    google.set_state(FOO_PATH, "ACTIVE");
    let vm = vm_id(FOO_PATH);
    monitoring.set(&vm, CPU, Some(Profile::steady(0.02)));
    monitoring.set(&vm, GPU, Some(Profile::steady(0.0)));
    clock.advance(MINUTE * 70);
    assert_eq!(t.app.tick().await.unwrap().warned, 1);
    clock.advance(MINUTE * 15);
    assert_eq!(t.app.tick().await.unwrap().stopped, 0, "handed off only");
    let sent = github.wait_for("/dispatches", 2).await[1].json();
    let p = &sent["client_payload"];
    assert_eq!(
        (p["command"].as_str(), p["requested_by"].as_str()),
        (Some("stop"), Some("timer:idle"))
    );
    // The ops job carries out the idle timer's stop.
    let j = crate::github::job_for(&config, "ACTIVE").await;
    j.run_ok(&crate::github::event(p.clone())).await;
    assert_eq!(j.google.posts("stop").len(), 1, "the job stopped it");
    runs.conclude_all("completed", Some("success"));
    assert_eq!(
        t.app.tick().await.unwrap().stopped,
        1,
        "confirmed by its run"
    );
    let told: Vec<String> = dms(&t, OPERATOR).iter().map(|c| c.text()).collect();
    let last = told.last().unwrap();
    assert!(last.contains("because nobody was using it"), "{last}");
    assert!(last.contains("It sat idle for"), "{last}");
    assert!(session_at(&t, FOO_PATH).await.is_none());
}

#[tokio::test]
async fn an_idle_stop_due_during_maintenance_waits_rather_than_failing_and_then_goes_on() {
    let env = running_for_70_minutes(|_| {}).await;
    env.figures(0.02, 0.0);
    assert_eq!(env.t.app.tick().await.unwrap().warned, 1);
    env.google.set_state(FOO_PATH, "UPGRADING");
    env.clock.advance(MINUTE * 15);
    let r = env.t.app.tick().await.unwrap();
    assert_eq!((r.stopped, r.failed), (0, 0));
    assert_eq!(
        count(&env.told(), "did not go through"),
        0,
        "{:#?}",
        env.told()
    );
    env.google.set_state(FOO_PATH, "ACTIVE");
    env.clock.advance(MINUTE * 5);
    assert_eq!(
        env.t.app.tick().await.unwrap().stopped,
        1,
        "while its warning stands"
    );
    assert_eq!(env.google.posts("stop").len(), 1);
}

#[tokio::test]
async fn keep_one_hour_with_no_idle_stop_to_hold_off_says_so_and_changes_nothing() {
    // foo has no idle_minutes: the press changes nothing and says why.
    let clock = Clock::default();
    let google = FakeGoogle::start(&[(FOO_PATH, "ACTIVE")]).await;
    let monitoring = FakeMonitoring::start().await;
    let mut config = TestConfig::default();
    config.backend.default = "notebooks".into();
    let t = spawn_app(Spawn {
        config,
        settings: idle_settings(&clock, &google, &monitoring),
        ..Default::default()
    })
    .await;
    let press = block_actions(OPERATOR, "notebook_keep_idle", "foo", &t.response_url(1));
    interact(&t, &press).await;
    let said = t.slack.wait_for("/response/1", 1).await[0].text();
    assert!(
        said.contains("has no idle stop (its config sets no `idle_minutes`)"),
        "{said}"
    );
    assert!(
        session_at(&t, FOO_PATH).await.is_none(),
        "no session appeared"
    );

    // With idle_minutes, but not running: nothing to hold off either.
    let env = running_for_70_minutes(|_| {}).await;
    env.t
        .command_to(OPERATOR, "stop foo", &env.t.response_url(2))
        .await;
    env.t.slack.wait_for("/response/2", 2).await;
    let posts = env
        .google
        .api_calls()
        .iter()
        .filter(|c| c.method == "POST")
        .count();
    let press = block_actions(
        OPERATOR,
        "notebook_keep_idle",
        "foo",
        &env.t.response_url(3),
    );
    interact(&env.t, &press).await;
    let said = env.t.slack.wait_for("/response/3", 1).await[0].text();
    assert!(
        said.contains("`foo` is not running, so there is no idle stop to hold off"),
        "{said}"
    );
    assert!(session_at(&env.t, FOO_PATH).await.is_none());
    let after = env
        .google
        .api_calls()
        .iter()
        .filter(|c| c.method == "POST")
        .count();
    assert_eq!(after, posts, "nothing more was sent to Google");
    assert!(monitoring.reads().is_empty() && env.monitoring.reads().is_empty());
}

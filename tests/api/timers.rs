//! Cost control: time-boxed starts and their warnings, *Keep 1 h*, scheduled
//! stops in the team's time zone, the cost in chat, `POST /tasks/tick` behind
//! Cloud Scheduler's token, and one stop across two replicas. Time moves by the
//! app's injectable clock, never by sleeping.

use crate::config::{Cost, Scheduler, StopAt};
use crate::entry_points::{block_actions, interact};
use crate::fakes::google::{FakeGoogle, TOKEN};
use crate::fakes::jwks::{FakeJwks, scheduler_claims};
use crate::helpers::*;
use crate::pg::fresh_database;
use std::collections::BTreeMap;
use std::time::Duration;
use workbench_bot::act::{Backend, State};
use workbench_bot::clock::Clock;
use workbench_bot::settings::{Secret, Settings, Timing};

const MINUTE: chrono::Duration = chrono::Duration::minutes(1);

pub fn prices() -> Cost {
    Cost {
        currency: "USD".into(),
        machine_types: BTreeMap::from([
            ("a2-highgpu-1g".into(), 3.67),
            ("n1-standard-8".into(), 0.38),
        ]),
        accelerators: BTreeMap::from([
            ("NVIDIA_TESLA_A100".into(), 2.93),
            ("NVIDIA_TESLA_T4".into(), 0.35),
        ]),
    }
}

/// Settings on `clock`, calling `google` (when given) with a fixed token and
/// polling its operations fast.
pub fn settings(clock: &Clock, google: Option<&FakeGoogle>) -> Settings {
    Settings {
        notebooks_api_url: google.map(|g| g.fake.url.clone()).unwrap_or_default(),
        google_oauth_access_token: Some(Secret::new(TOKEN)),
        timing: Timing {
            first_retry: Duration::from_millis(5),
            first_poll: Duration::from_millis(5),
            max_poll: Duration::from_millis(20),
            ..Timing::default()
        },
        clock: clock.clone(),
        ..Default::default()
    }
}

pub struct Env {
    pub t: TestApp,
    pub clock: Clock,
    pub google: Option<FakeGoogle>,
}

/// The app with foo on the Notebooks fake (or the dry run), the price table,
/// and a clock the test moves.
pub async fn spawn(google: bool, configure: impl FnOnce(&mut TestConfig)) -> Env {
    let clock = Clock::default();
    let mut config = TestConfig {
        cost: Some(prices()),
        ..Default::default()
    };
    config.slack.announce_channel = Some("C0ANNOUNCE".into());
    let google = match google {
        true => {
            config.backend.default = "notebooks".into();
            Some(FakeGoogle::start(&[(FOO_PATH, "STOPPED")]).await)
        }
        false => None,
    };
    configure(&mut config);
    let t = spawn_app(Spawn {
        config,
        settings: settings(&clock, google.as_ref()),
        ..Default::default()
    })
    .await;
    Env { t, clock, google }
}

pub fn foo(c: &mut TestConfig) -> &mut Instance {
    c.instance.iter_mut().find(|i| i.alias == "foo").unwrap()
}

/// Messages the bot posted, or updated, in `user`'s DMs, in order.
pub fn dms(t: &TestApp, user: &str) -> Vec<Call> {
    t.slack
        .calls()
        .into_iter()
        .filter(|c| c.path == "/api/chat.postMessage" || c.path == "/api/chat.update")
        .filter(|c| c.json()["channel"] == user)
        .collect()
}

/// Starts foo behind the bot's back, as the Google Cloud console would.
pub async fn start_from_the_console(t: &TestApp) {
    let instance = t.app.config().instance("foo").unwrap();
    let ctx = workbench_bot::act::ActContext {
        request_id: "console".into(),
        requested_by: workbench_bot::domain::Principal::parse(OPERATOR).unwrap(),
        origin: Default::default(),
        approved_by: None,
        attempt: 1,
    };
    t.app
        .backends()
        .dry_run()
        .start(instance, &ctx)
        .await
        .unwrap();
}

#[tokio::test]
async fn status_shows_the_hourly_cost_and_while_running_the_cost_so_far() {
    let Env { t, clock, .. } = spawn(true, |_| {}).await;
    t.command(OPERATOR, "status foo").await;
    let stopped = t.slack.wait_for("/response/1", 1).await[0].text();
    assert!(
        stopped.contains("costs 6.60 USD an hour while it runs"),
        "{stopped}"
    );

    t.command(OPERATOR, "start foo").await;
    t.slack.wait_for("/response/1", 3).await;
    clock.advance(MINUTE * 30);
    t.command(OPERATOR, "status foo").await;
    let running = t.slack.wait_for("/response/1", 4).await[3].text();
    for needle in [
        "costs 6.60 USD an hour; so far about 3.30 USD",
        &format!("started by <@{OPERATOR}>"),
        "(30 min)",
    ] {
        assert!(running.contains(needle), "{needle}: {running}");
    }
}

#[tokio::test]
async fn a_machine_type_without_a_price_says_so_instead_of_guessing() {
    let Env { t, .. } = spawn(true, |c| {
        c.cost.as_mut().unwrap().accelerators.clear();
    })
    .await;
    t.command(OPERATOR, "status foo").await;
    let text = t.slack.wait_for("/response/1", 1).await[0].text();
    assert!(
        text.contains("cost unknown: [cost] has no price for NVIDIA_TESLA_A100"),
        "{text}"
    );
    assert!(!text.contains("USD"), "{text}");
}

#[tokio::test]
async fn a_time_boxed_start_is_warned_then_stopped_with_why_and_what_it_cost() {
    let Env { t, clock, google } = spawn(true, |c| {
        foo(c).warn_minutes = Some(1);
        c.scheduler = Some(Scheduler {
            tick_seconds: Some(1),
            ..Default::default()
        });
    })
    .await;
    let google = google.unwrap();
    t.command(OPERATOR, "start foo for 2m").await;
    let started = t.slack.wait_for("/response/1", 2).await[1].text();
    assert!(started.contains("It stops on its own"), "{started}");
    assert!(started.contains("(in 2 min)"), "{started}");

    // A minute and a bit later the running process's own tick warns.
    clock.advance(MINUTE + chrono::Duration::seconds(2));
    let warning = wait_until(Duration::from_secs(5), || {
        dms(&t, OPERATOR).into_iter().next()
    })
    .await
    .expect("a warning in the starter's DMs");
    let body = warning.json();
    assert!(
        body["text"].as_str().unwrap().contains("will be stopped"),
        "{body}"
    );
    let actions: Vec<&str> = body["blocks"][1]["elements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["action_id"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["notebook_keep", "notebook_stop"]);
    assert!(google.posts("stop").is_empty(), "a warning stops nothing");

    // And when the two minutes end, it stops it.
    clock.advance(MINUTE);
    wait_until(Duration::from_secs(5), || {
        (google.posts("stop").len() == 1).then_some(())
    })
    .await
    .expect("the process's own tick stops it");
    let told = wait_until(Duration::from_secs(5), || {
        dms(&t, OPERATOR)
            .last()
            .map(|c| c.text())
            .filter(|t| t.contains("The bot stopped"))
    })
    .await
    .expect("the starter is told");
    for needle in [
        "The bot stopped `foo` because the time asked for",
        "This session ran 2 min, about 0.2",
        "compute only",
    ] {
        assert!(told.contains(needle), "{needle}: {told}");
    }
    let rows = t.audit().await;
    let stop = rows
        .iter()
        .find(|r| r.principal == "timer:lease")
        .expect("audited");
    assert_eq!(
        (stop.entry_point.as_str(), stop.command.as_str()),
        ("timer", "stop foo")
    );
    assert_eq!(stop.outcome, "done:STOPPED");

    // Done once: the next tick finds nothing due.
    clock.advance(MINUTE);
    assert_eq!(t.app.tick().await.unwrap().stopped, 0);
    assert_eq!(google.posts("stop").len(), 1);
}

#[tokio::test]
async fn keep_pressed_by_an_operator_extends_and_by_anyone_else_changes_nothing() {
    let Env { t, clock, .. } = spawn(false, |c| {
        foo(c).warn_minutes = Some(1);
        foo(c).max_hours = Some(8.0);
    })
    .await;
    t.command(OPERATOR, "start foo for 2m").await;
    t.slack.wait_for("/response/1", 1).await;

    interact(
        &t,
        &block_actions(STRANGER, "notebook_keep", "foo", &t.response_url(2)),
    )
    .await;
    let refused = t.slack.wait_for("/response/2", 1).await[0].text();
    assert!(refused.contains("not an operator of foo"), "{refused}");

    interact(
        &t,
        &block_actions(OPERATOR2, "notebook_keep", "foo", &t.response_url(3)),
    )
    .await;
    let kept = t.slack.wait_for("/response/3", 1).await[0].text();
    assert!(kept.contains("`foo` now stops"), "{kept}");
    assert!(kept.contains("(in 1 h 2 min)"), "{kept}");

    clock.advance(MINUTE * 3);
    assert_eq!(
        t.app.tick().await.unwrap().stopped,
        0,
        "no stop at the old end"
    );
    assert_eq!(dry_state(&t).await, State::Active);
    clock.advance(MINUTE * 60);
    assert_eq!(
        t.app.tick().await.unwrap().stopped,
        1,
        "stopped at the new end"
    );
    assert_eq!(dry_state(&t).await, State::Stopped);

    let rows = t.audit().await;
    let keeps: Vec<(&str, &str, String)> = rows
        .iter()
        .filter(|r| r.command.starts_with("extend"))
        .map(|r| {
            (
                r.principal.as_str(),
                r.decision.as_str(),
                r.outcome.to_string(),
            )
        })
        .collect();
    assert_eq!(
        keeps,
        [
            (STRANGER, "refused", "none".to_owned()),
            (OPERATOR2, "allowed", "extended".to_owned())
        ]
    );
}

#[tokio::test]
async fn extend_stays_within_max_hours_and_a_start_is_capped_by_it() {
    let Env { t, .. } = spawn(false, |c| foo(c).max_hours = Some(1.0)).await;
    t.command(OPERATOR, "start foo for 3h").await;
    let started = t.slack.wait_for("/response/1", 1).await[0].text();
    assert!(started.contains("its `max_hours` allows 1h"), "{started}");
    t.command(OPERATOR, "extend foo 30m").await;
    let at_cap = t.slack.wait_for("/response/1", 2).await[1].text();
    assert!(
        at_cap.contains("already runs as long as its `max_hours` (1h) allows"),
        "{at_cap}"
    );
}

/// A schedule whose stop is a minute or two ahead, in Tokyo, on the local day
/// it falls on (or, with `skip_today`, only on the day after).
pub fn schedule_soon(clock: &Clock, skip_today: bool) -> StopAt {
    let tz = jiff::tz::TimeZone::get("Asia/Tokyo").unwrap();
    let due = jiff::Timestamp::from_millisecond((clock.now() + MINUTE * 2).timestamp_millis())
        .unwrap()
        .to_zoned(tz);
    let mut day = due.weekday();
    if skip_today {
        day = day.next();
    }
    StopAt {
        time: format!("{:02}:{:02}", due.hour(), due.minute()),
        days: format!("{day:?}").to_ascii_lowercase(),
        timezone: "Asia/Tokyo".into(),
    }
}

#[tokio::test]
async fn a_scheduled_stop_fires_at_its_local_time_and_not_on_a_day_it_excludes() {
    for skip_today in [false, true] {
        let clock = Clock::default();
        let at = schedule_soon(&clock, skip_today);
        let mut config = TestConfig::default();
        config.slack.announce_channel = Some("C0ANNOUNCE".into());
        foo(&mut config).stop_at = Some(at.clone());
        let t = spawn_app(Spawn {
            config,
            settings: Settings {
                clock: clock.clone(),
                ..Default::default()
            },
            ..Default::default()
        })
        .await;
        t.command(OPERATOR, "start foo").await;
        t.slack.wait_for("/response/1", 1).await;
        assert_eq!(t.app.tick().await.unwrap().stopped, 0, "not yet");
        clock.advance(MINUTE * 3);
        let report = t.app.tick().await.unwrap();
        if skip_today {
            assert_eq!(report.stopped, 0, "{at:?} excludes today");
            assert_eq!(dry_state(&t).await, State::Active);
        } else {
            assert_eq!(report.stopped, 1, "{at:?}");
            assert_eq!(dry_state(&t).await, State::Stopped);
            let told = dms(&t, OPERATOR)
                .last()
                .map(|c| c.text())
                .unwrap_or_else(|| panic!("{:#?}", t.slack.calls()));
            assert!(
                told.contains("The bot stopped `foo` on its schedule"),
                "{told}"
            );
            let rows = t.audit().await;
            assert!(
                rows.iter().any(|r| r.principal == "timer:schedule"),
                "{rows:#?}"
            );
        }
    }
}

#[tokio::test]
async fn tasks_tick_refuses_every_bad_token_and_runs_due_work_with_a_good_one() {
    const AUDIENCE: &str = "https://bot.example.org/tasks/tick";
    const INVOKER: &str = "scheduler@example-project.iam.gserviceaccount.com";
    let jwks = FakeJwks::start().await;
    let Env { t, clock, .. } = spawn(false, |c| {
        c.scheduler = Some(Scheduler {
            jwks_url: Some(jwks.url.clone()),
            audience: Some(AUDIENCE.into()),
            invoker: Some(INVOKER.into()),
            ..Default::default()
        });
    })
    .await;
    t.command(OPERATOR, "start foo for 2m").await;
    t.slack.wait_for("/response/1", 1).await;
    clock.advance(MINUTE * 3);

    let http = reqwest::Client::new();
    let tick = |token: Option<String>| {
        let mut req = http.post(format!("{}/tasks/tick", t.url));
        if let Some(tok) = token {
            req = req.bearer_auth(tok);
        }
        req.send()
    };
    let now = now();
    let mut expired = scheduler_claims(AUDIENCE, INVOKER, now - 7200);
    expired["exp"] = serde_json::json!(now - 3600);
    let bad = [
        ("missing", None),
        ("expired", Some(jwks.token(expired))),
        (
            "wrongly signed",
            Some(jwks.token_with_other_key(scheduler_claims(AUDIENCE, INVOKER, now))),
        ),
        (
            "wrong audience",
            Some(jwks.token(scheduler_claims("https://other.example.org", INVOKER, now))),
        ),
        (
            "wrong invoker",
            Some(jwks.token(scheduler_claims(AUDIENCE, "someone@example.org", now))),
        ),
    ];
    for (what, token) in bad {
        assert_eq!(tick(token).await.unwrap().status(), 401, "{what}");
    }
    assert_eq!(
        dry_state(&t).await,
        State::Active,
        "no bad token ran anything"
    );

    let res = tick(Some(jwks.token(scheduler_claims(AUDIENCE, INVOKER, now))))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(jwks.fetches(), 1, "Google's keys are fetched once and kept");
    let report: serde_json::Value = res.json().await.unwrap();
    assert_eq!(report["stopped"], 1, "{report}");
    assert_eq!(dry_state(&t).await, State::Stopped);
}

#[tokio::test]
async fn tasks_tick_is_off_until_the_scheduler_is_configured() {
    let t = spawn_app(Spawn::default()).await;
    let res = reqwest::Client::new()
        .post(format!("{}/tasks/tick", t.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}

/// Two replicas on one PostgreSQL and the Notebooks fake, sharing a Slack
/// fake and a clock, after `start foo for 2m` on the first.
pub async fn two_replicas_with_foo_started() -> (Vec<TestApp>, FakeGoogle, Clock) {
    let google = FakeGoogle::start(&[(FOO_PATH, "STOPPED")]).await;
    let db = fresh_database().await;
    let clock = Clock::default();
    let slack = fake_slack().await;
    let mut replicas = Vec::new();
    for _ in 0..2 {
        let mut config = TestConfig::new(&db);
        config.backend.default = "notebooks".into();
        replicas.push(
            spawn_app(Spawn {
                config,
                settings: settings(&clock, Some(&google)),
                slack: Some(slack.clone()),
                ..Default::default()
            })
            .await,
        );
    }
    replicas[0].command(OPERATOR, "start foo for 2m").await;
    slack.wait_for("/response/1", 2).await;
    (replicas, google, clock)
}

#[tokio::test]
async fn two_replicas_on_postgres_stop_a_due_lease_once() {
    let (replicas, google, clock) = two_replicas_with_foo_started().await;
    clock.advance(MINUTE * 3);
    let (a, b) = tokio::join!(replicas[0].app.tick(), replicas[1].app.tick());
    assert_eq!(a.unwrap().stopped + b.unwrap().stopped, 1);
    assert_eq!(google.posts("stop").len(), 1, "one stop reached Google");
    let rows = replicas[0].audit().await;
    assert_eq!(
        rows.iter().filter(|r| r.principal == "timer:lease").count(),
        1,
        "{rows:#?}"
    );
}

/// Messages the bot posted in the team channel.
fn in_channel(t: &TestApp) -> Vec<Call> {
    t.slack
        .calls_to("/api/chat.postMessage")
        .into_iter()
        .filter(|c| c.json()["channel"] == "C0ANNOUNCE")
        .collect()
}

#[tokio::test]
async fn an_instance_running_with_no_time_limit_is_reminded_once_per_period() {
    let Env { t, clock, .. } = spawn(false, |c| {
        foo(c).remind_after_hours = Some(2.0);
    })
    .await;
    // Started from the console: the bot only sees it running.
    start_from_the_console(&t).await;
    assert_eq!(t.app.tick().await.unwrap().reminded, 0, "first seen now");

    clock.advance(MINUTE * 121);
    assert_eq!(t.app.tick().await.unwrap().reminded, 1);
    let posted = in_channel(&t);
    assert_eq!(posted.len(), 1);
    let body = posted[0].json();
    let text = body["text"].as_str().unwrap();
    for needle in [
        "`foo` has been running for 2 h 1 min",
        "about 1.47 USD so far",
        "someone outside the bot",
    ] {
        assert!(text.contains(needle), "{needle}: {text}");
    }
    let labels: Vec<&str> = body["blocks"][1]["elements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["text"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["Keep it running", "Stop now"]);

    clock.advance(MINUTE * 30);
    assert_eq!(t.app.tick().await.unwrap().reminded, 0, "once per period");
    clock.advance(MINUTE * 90);
    assert_eq!(
        t.app.tick().await.unwrap().reminded,
        1,
        "and again after it"
    );

    // A stop ends its session, and the reminders with it.
    t.command(OPERATOR, "stop foo").await;
    let stopped = t.slack.wait_for("/response/1", 1).await[0].text();
    assert!(stopped.contains("This session ran 4 h 1 min"), "{stopped}");
    clock.advance(MINUTE * 600);
    assert_eq!(t.app.tick().await.unwrap().reminded, 0);
}

/// An instance not everyone may see is reminded to its operators in their
/// DMs, never in the team channel; with `announce = true`, in the channel.
#[tokio::test]
async fn a_reminder_about_an_instance_not_everyone_may_see_goes_to_its_operators() {
    for announce in [None, Some(true)] {
        let Env { t, clock, .. } = spawn(false, |c| {
            let foo = foo(c);
            foo.remind_after_hours = Some(2.0);
            foo.viewers = vec!["@researchers".into()];
            foo.announce = announce;
        })
        .await;
        start_from_the_console(&t).await;
        t.app.tick().await.unwrap();
        clock.advance(MINUTE * 121);
        assert_eq!(t.app.tick().await.unwrap().reminded, 1, "{announce:?}");
        let (channel, operators) = (in_channel(&t), [dms(&t, OPERATOR), dms(&t, OPERATOR2)]);
        match announce {
            None => {
                assert!(channel.is_empty(), "{channel:#?}");
                for told in operators {
                    assert_eq!(told.len(), 1);
                    assert!(
                        told[0]
                            .text()
                            .contains("`foo` has been running for 2 h 1 min")
                    );
                }
            }
            Some(_) => {
                assert_eq!(channel.len(), 1);
                assert!(operators.iter().all(Vec::is_empty), "{operators:#?}");
            }
        }
    }
}

#[tokio::test]
async fn costs_shows_what_runs_this_weeks_hours_and_what_the_bots_stops_kept_off() {
    use chrono::{Datelike, Timelike};
    let Env { t, clock, .. } = spawn(false, |c| foo(c).max_hours = Some(1.0)).await;
    // The week restarts on Monday: keep this test's three hours inside one.
    let now = clock.now();
    if now.weekday() == chrono::Weekday::Sun && now.hour() >= 20 {
        clock.advance(chrono::Duration::hours(i64::from(26 - now.hour())));
    }
    t.command(OPERATOR, "start foo").await;
    t.slack.wait_for("/response/1", 1).await;
    t.command(OPERATOR, "costs").await;
    let running = t.slack.wait_for("/response/1", 2).await[1].text();
    assert!(running.contains("• `foo`: since"), "{running}");

    clock.advance(MINUTE * 61);
    assert_eq!(t.app.tick().await.unwrap().stopped, 1);
    clock.advance(MINUTE * 120);
    t.command(OPERATOR2, "costs").await;
    let report = t.slack.wait_for("/response/1", 3).await[2].text();
    for needle in [
        "nothing you can see is running",
        // An hour and a minute of clock, plus the real time the test takes.
        "• `foo`: 1 h ",
        ", about 0.7",
        "kept instances off for 2 h",
        "compute only",
    ] {
        assert!(report.contains(needle), "{needle}: {report}");
    }
    assert!(
        !report.contains("`secret`"),
        "only what the person may see: {report}"
    );
}

/// A stop that does not go out (here Google refuses it once) is not done: the
/// starter hears it once, and after its backoff a tick tries again.
#[tokio::test]
async fn an_automatic_stop_that_fails_is_tried_again() {
    let Env { t, clock, google } = spawn(true, |_| {}).await;
    let google = google.unwrap();
    t.command(OPERATOR, "start foo for 2m").await;
    t.slack.wait_for("/response/1", 2).await;
    google.fail_once("POST", ":stop", 403, false);
    clock.advance(MINUTE * 3);
    let first = t.app.tick().await.unwrap();
    assert_eq!((first.stopped, first.failed), (0, 1), "refused by Google");
    assert_eq!(
        t.app.tick().await.unwrap().failed,
        0,
        "waits out its backoff"
    );
    clock.advance(MINUTE);
    assert_eq!(t.app.tick().await.unwrap().stopped, 1, "tried again");
    assert_eq!(google.state_of(FOO_PATH), "STOPPED");
    let told: Vec<String> = dms(&t, OPERATOR).iter().map(|c| c.text()).collect();
    assert_eq!(
        told.iter()
            .filter(|m| m.contains("did not go through"))
            .count(),
        1,
        "{told:#?}"
    );
    assert!(
        told.last().unwrap().contains("The bot stopped `foo`"),
        "{told:#?}"
    );
}

/// *Keep 1 h* before a scheduled stop skips it even when the start's own
/// lease (`max_hours`) is already as long as allowed.
#[tokio::test]
async fn keep_before_a_scheduled_stop_skips_it_whatever_the_lease() {
    let clock = Clock::default();
    let at = schedule_soon(&clock, false);
    let mut config = TestConfig::default();
    foo(&mut config).stop_at = Some(at);
    foo(&mut config).max_hours = Some(8.0);
    let t = spawn_app(Spawn {
        config,
        settings: settings(&clock, None),
        ..Default::default()
    })
    .await;
    t.command(OPERATOR, "start foo").await;
    t.slack.wait_for("/response/1", 1).await;
    interact(
        &t,
        &block_actions(OPERATOR2, "notebook_keep", "foo", &t.response_url(2)),
    )
    .await;
    let kept = t.slack.wait_for("/response/2", 1).await[0].text();
    assert!(
        kept.contains("Its scheduled stop before then is skipped"),
        "{kept}"
    );
    assert!(kept.contains("(in 8 h)"), "the lease still ends it: {kept}");
    clock.advance(MINUTE * 3);
    assert_eq!(t.app.tick().await.unwrap().stopped, 0);
    assert_eq!(dry_state(&t).await, State::Active);
}

/// *Keep it running* under a reminder changes nothing: the presser sees the
/// status, and no lease appears that would stop it.
#[tokio::test]
async fn keep_it_running_under_a_reminder_shows_the_status_and_sets_no_limit() {
    let Env { t, clock, .. } = spawn(false, |c| foo(c).max_hours = Some(1.0)).await;
    start_from_the_console(&t).await;
    t.app.tick().await.unwrap();
    clock.advance(MINUTE * 600);
    interact(
        &t,
        &block_actions(OPERATOR, "notebook_keep_running", "foo", &t.response_url(3)),
    )
    .await;
    let shown = t.slack.wait_for("/response/3", 1).await[0].text();
    assert!(shown.contains("`foo` is *running*"), "{shown}");
    assert_eq!(t.app.tick().await.unwrap().stopped, 0);
    assert_eq!(dry_state(&t).await, State::Active);
}

/// `extend` with no stop coming is answered in words and sets no limit;
/// from someone who may not operate the instance it is refused.
#[tokio::test]
async fn extend_with_nothing_to_extend_or_by_a_viewer_changes_nothing() {
    let Env { t, clock, .. } = spawn(false, |_| {}).await;
    t.command(OPERATOR, "start foo").await;
    t.slack.wait_for("/response/1", 1).await;
    t.command(OPERATOR, "extend foo 1h").await;
    let said = t.slack.wait_for("/response/1", 2).await[1].text();
    assert!(said.contains("`foo` has no stop coming up"), "{said}");
    t.command(STRANGER, "extend foo 1h").await;
    let refused = t.slack.wait_for("/response/1", 3).await[2].text();
    assert!(refused.contains("not an operator of foo"), "{refused}");
    let rows = t.wait_audit(3).await;
    assert_eq!(
        (rows[1].outcome.to_string(), rows[2].decision.as_str()),
        ("none".to_owned(), "refused")
    );
    clock.advance(MINUTE * 600);
    assert_eq!(t.app.tick().await.unwrap().stopped, 0, "no limit was set");
    assert_eq!(dry_state(&t).await, State::Active);
}

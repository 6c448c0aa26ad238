//! Load in the suite (loopback only, a few seconds each): many people at once
//! against the per-person limit, Slack delivering events again, and a flood
//! far past the in-flight bound while Slack answers slowly, watched for memory.

use crate::helpers::*;
use futures::StreamExt;
use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use workbench_bot::domain::EntryPoint;
use workbench_bot::store::AuditRecord;

const BIN: &str = env!("CARGO_BIN_EXE_workbench-bot");

/// 600 signed slash commands at once, 12 from each of 50 people, against a
/// limit of 10 a minute; then 200 mentions of which 100 come again as Slack
/// retries. Every request is acknowledged in time and on record exactly once,
/// exactly the excess is refused, and no retry acts.
#[tokio::test]
async fn six_hundred_commands_and_two_hundred_mentions_with_retries_each_count_once() {
    let mut config = TestConfig::default();
    config.limits.per_user_per_minute = 10;
    // This test is about the limit and the audit; the busy path has its own.
    config.limits.max_in_flight = Some(2000);
    let t = spawn_app(Spawn {
        config,
        ..Default::default()
    })
    .await;
    let user = |i: usize| format!("U1LOAD{i:05}");

    let slowest = futures::stream::iter((0..600).map(|n| {
        let (t, who) = (&t, user(n % 50));
        async move {
            let asked = Instant::now();
            let res = t.command(&who, "status foo").await;
            assert_eq!(res.status(), 200);
            asked.elapsed()
        }
    }))
    .buffer_unordered(600)
    .fold(Duration::ZERO, |max, took| async move { max.max(took) })
    .await;
    assert!(
        slowest < Duration::from_secs(3),
        "slowest acknowledgement {slowest:?}"
    );

    let mentioner = |i: usize| format!("U2LOAD{i:05}");
    let deliveries = (0..200)
        .map(|i| (i, None))
        .chain((0..100).map(|i| (i, Some(1))));
    let slowest = futures::stream::iter(deliveries.map(|(i, retry)| {
        let t = &t;
        let event = mention_event(
            &format!("Ev0LOAD{i:05}"),
            &mentioner(i),
            "<@U0OURBOT> status foo",
        );
        async move {
            let asked = Instant::now();
            assert_eq!(t.event(&event, retry).await.status(), 200);
            asked.elapsed()
        }
    }))
    .buffer_unordered(300)
    .fold(Duration::ZERO, |max, took| async move { max.max(took) })
    .await;
    assert!(
        slowest < Duration::from_secs(3),
        "slowest event acknowledgement {slowest:?}"
    );

    let rows = t.wait_audit(800).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rows = if rows.len() == 800 {
        t.audit().await
    } else {
        rows
    };
    assert_eq!(rows.len(), 800, "one row per request, none per retry");
    let mut ids: Vec<&str> = rows.iter().map(|r| r.request_id.as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 800, "no request is on record twice");

    let commands: Vec<&AuditRecord> = rows
        .iter()
        .filter(|r| r.entry_point == EntryPoint::SlashCommand)
        .collect();
    assert_eq!(commands.len(), 600);
    let limited: Vec<&&AuditRecord> = commands
        .iter()
        .filter(|r| r.reason == "rate_limited")
        .collect();
    assert_eq!(limited.len(), 100, "two of each person's twelve");
    let mut per_person: HashMap<&str, usize> = HashMap::new();
    for r in &limited {
        *per_person.entry(r.principal.as_str()).or_default() += 1;
    }
    assert!(per_person.values().all(|n| *n == 2), "{per_person:?}");
    assert_eq!(per_person.len(), 50);

    let mentions = rows
        .iter()
        .filter(|r| r.entry_point == EntryPoint::Mention)
        .count();
    assert_eq!(mentions, 200);
    let replies = t.slack.wait_for("/response/1", 600).await;
    assert_eq!(replies.len(), 600, "every command heard back once");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        t.slack.calls_to("/api/chat.postMessage").len(),
        200,
        "one thread reply per mention, none per retry"
    );
}

/// Resident memory of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/PID/status")
}

/// The stated bound: what a small Cloud Run instance can spare many times over.
const RSS_BOUND_KIB: u64 = 64 * 1024;
/// "Flat": what the process may grow between the first quarter and the end.
const RSS_GROWTH_KIB: u64 = 6 * 1024;

/// A real `serve` process with 8 slots for work, a `response_url` that takes
/// two seconds to answer, and 4,000 requests from 64 connections: every request
/// is acknowledged within 3 s, the excess is told it is busy and on record, and
/// the resident memory stays under the bound and flat while the flood lasts.
#[tokio::test]
async fn a_flood_past_the_in_flight_bound_is_told_busy_and_memory_stays_flat() {
    const REQUESTS: usize = 4000;
    const SLOTS: usize = 8;
    // The test's own client needs a TLS provider even for http, whichever test ran first.
    workbench_bot::install_tls();
    let slow = axum::Router::new().fallback(|| async {
        tokio::time::sleep(Duration::from_secs(2)).await;
        axum::Json(serde_json::json!({"ok": true}))
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let slow_url = format!("http://{}/response/1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, slow).await.unwrap() });

    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let db = dir.path().join("audit.db");
    let mut config = TestConfig::new(&format!("sqlite://{}", db.display()));
    config.limits.per_user_per_minute = 1_000_000;
    config.limits.max_in_flight = Some(SLOTS as u32);
    let path = dir.path().join("config.toml");
    config.write(&path);
    let mut child = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&path)
        .env("PORT", port.to_string())
        .env("SLACK_SIGNING_SECRET", SECRET)
        .env("SLACK_API_URL", "http://127.0.0.1:9/api")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let started = Instant::now();
    while !http
        .get(format!("{base}/healthz"))
        .send()
        .await
        .is_ok_and(|r| r.status() == 200)
    {
        assert!(started.elapsed() < Duration::from_secs(10), "never healthy");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let mut quarter_rss = 0;
    let mut peak_rss = 0;
    let mut busy = 0;
    let mut slowest = Duration::ZERO;
    let mut answers = futures::stream::iter((0..REQUESTS).map(|n| {
        let (http, base, slow_url) = (&http, &base, &slow_url);
        async move {
            let form = command_form(
                &format!("U3LOAD{:05}", n % 500),
                "status foo",
                slow_url,
                TEAM,
            );
            let ts = now();
            let asked = Instant::now();
            let res = http
                .post(format!("{base}/slack/commands"))
                .header("content-type", "application/x-www-form-urlencoded")
                .header("x-slack-request-timestamp", ts.to_string())
                .header(
                    "x-slack-signature",
                    workbench_bot::verify::sign(SECRET, ts, &form),
                )
                .body(form)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200);
            let body = res.text().await.unwrap();
            (asked.elapsed(), body.contains("I am busy"))
        }
    }))
    .buffer_unordered(64)
    .enumerate();
    while let Some((n, (took, was_busy))) = answers.next().await {
        slowest = slowest.max(took);
        busy += usize::from(was_busy);
        if n % 100 == 0 {
            let rss = rss_kib(pid);
            peak_rss = peak_rss.max(rss);
            if n == REQUESTS / 4 {
                quarter_rss = rss;
            }
        }
    }
    let end_rss = rss_kib(pid);
    peak_rss = peak_rss.max(end_rss);
    let flood = started.elapsed();
    eprintln!(
        "flood of {REQUESTS} in {flood:?}: busy {busy}, slowest ack {slowest:?}, RSS at a quarter {quarter_rss} KiB, at the end {end_rss} KiB, peak {peak_rss} KiB"
    );
    assert!(
        slowest < Duration::from_secs(3),
        "slowest acknowledgement {slowest:?}"
    );
    // Each slot holds its work for the two seconds the reply takes.
    let ran = REQUESTS - busy;
    let most = SLOTS * (flood.as_secs() as usize / 2 + 2);
    assert!(ran <= most, "{ran} ran in {flood:?} with {SLOTS} slots");
    assert!(busy >= REQUESTS - most, "busy {busy}");
    assert!(peak_rss < RSS_BOUND_KIB, "peak RSS {peak_rss} KiB");
    assert!(
        end_rss.saturating_sub(quarter_rss) < RSS_GROWTH_KIB,
        "RSS grew from {quarter_rss} KiB to {end_rss} KiB"
    );

    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    assert!(child.wait().unwrap().success());
    let rows = {
        let store = workbench_bot::store::Store::open(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        store.audit_rows().await.unwrap()
    };
    assert_eq!(rows.len(), REQUESTS, "every request is on record");
    assert_eq!(rows.iter().filter(|r| r.reason == "busy").count(), busy);
}

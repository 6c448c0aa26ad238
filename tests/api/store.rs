//! One store test suite, run against SQLite and against PostgreSQL: whatever the
//! deployment chooses, the audit trail, event dedup, pending operations, the
//! per-instance lock, history and retention behave the same.

use crate::helpers::FOO_PATH;
use std::time::Duration;
use workbench_bot::domain::{EntryPoint, Principal, Verb};
use workbench_bot::report::ReplyTo;
use workbench_bot::store::{
    AuditDecision, AuditOutcome, AuditRecord, InstanceLock, OutcomeKind, PendingOperation, Store,
};

/// Runs each test body against a fresh SQLite file and a fresh PostgreSQL database.
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let dir = tempfile::tempdir().unwrap();
                    let url = format!("sqlite://{}", dir.path().join("store.db").display());
                    super::$name(workbench_bot::store::Store::open(&url).await.unwrap()).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let url = crate::pg::fresh_database().await;
                    super::$name(workbench_bot::store::Store::open(&url).await.unwrap()).await;
                }
            )*
        }
    };
}

on_both!(
    audit_rows_are_begun_settled_and_read_back,
    an_event_id_is_claimed_once,
    a_pending_operation_is_held_by_one_owner_at_a_time,
    the_instance_lock_belongs_to_one_request_until_released_or_lapsed,
    history_is_the_latest_actions_on_one_instance_newest_first,
    old_rows_are_pruned_and_rows_since_a_date_exported,
    an_approval_is_a_grant_used_once,
    a_session_is_put_added_once_read_and_ended_only_as_read,
    timer_work_is_claimed_by_one_done_once_and_pruned,
    old_event_ids_are_forgotten_and_the_store_answers_a_ping,
    a_week_of_more_changes_than_the_bound_is_refused_not_counted_short,
);

async fn a_week_of_more_changes_than_the_bound_is_refused_not_counted_short(store: Store) {
    for i in 0..1_001 {
        let at = format!("2026-11-20T10:{:02}:{:02}Z", i / 60, i % 60);
        store.record(row(&format!("s{i}"), "foo", "start foo", &at));
    }
    store.record(row("b", "bar", "stop bar", "2026-11-20T12:00:00Z"));
    store.flush().await;
    let db = store.db();
    let since = "2026-11-16T00:00:00+00:00";
    assert!(matches!(
        db.changes_since(&["foo"], since).await,
        Err(workbench_bot::store::StoreError::TooMany(1000))
    ));
    // Two instances, twice the bound: both fit.
    assert_eq!(
        db.changes_since(&["foo", "bar"], since)
            .await
            .unwrap()
            .len(),
        1_002
    );
}

async fn a_session_is_put_added_once_read_and_ended_only_as_read(store: Store) {
    let db = store.db();
    let first = session(FOO_PATH);
    assert!(db.add_session(&first).await.unwrap(), "none was there");
    let mut other = session(FOO_PATH);
    other.ends_at = None;
    assert!(
        !db.add_session(&other).await.unwrap(),
        "a noticed session never replaces a start's"
    );
    assert_eq!(
        db.session(FOO_PATH).await.unwrap().unwrap().ends_at,
        first.ends_at
    );
    db.put_session(&other).await.unwrap();
    db.put_session(&session("projects/p/locations/l/instances/bar"))
        .await
        .unwrap();
    let all = db.sessions().await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].instance, FOO_PATH, "ordered by instance");
    assert_eq!(all[0].ends_at, None, "put replaces");
    // Ended only while it still ends as read (here: with no end at all).
    db.end_session(FOO_PATH, Some(first.ends_at)).await.unwrap();
    assert!(
        db.session(FOO_PATH).await.unwrap().is_some(),
        "changed since read"
    );
    db.end_session(FOO_PATH, Some(None)).await.unwrap();
    assert!(db.session(FOO_PATH).await.unwrap().is_none());
    db.end_session("projects/p/locations/l/instances/bar", None)
        .await
        .unwrap();
    assert!(db.sessions().await.unwrap().is_empty());
}

async fn timer_work_is_claimed_by_one_done_once_and_pruned(store: Store) {
    use workbench_bot::store::TimerClaim;
    let db = store.db();
    let hold = Duration::from_secs(60);
    let work = TimerClaim {
        instance: FOO_PATH,
        kind: "lease-warning",
        due_ms: 1_000,
    };
    let (a, b) = tokio::join!(
        db.claim_timer(&work, "A", hold),
        db.claim_timer(&work, "B", hold)
    );
    assert!(a.unwrap() ^ b.unwrap(), "exactly one replica takes it");
    assert!(!db.claim_timer(&work, "C", hold).await.unwrap(), "held");
    // A lapsed claim (its process died) is taken over, until it is done.
    let lapsed = TimerClaim {
        due_ms: 2_000,
        ..work.clone()
    };
    assert!(db.claim_timer(&lapsed, "A", Duration::ZERO).await.unwrap());
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert!(
        db.claim_timer(&lapsed, "B", hold).await.unwrap(),
        "taken over"
    );
    db.finish_timer(&lapsed).await.unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert!(
        !db.claim_timer(&lapsed, "C", Duration::ZERO).await.unwrap(),
        "done once"
    );
    db.prune_timers(3_000).await.unwrap();
    assert!(
        db.claim_timer(&lapsed, "C", hold).await.unwrap(),
        "finished work before the cut is forgotten"
    );
    assert!(
        !db.claim_timer(&work, "C", hold).await.unwrap(),
        "unfinished work stays"
    );
}

async fn old_event_ids_are_forgotten_and_the_store_answers_a_ping(store: Store) {
    let db = store.db();
    db.ping().await.unwrap();
    assert!(db.claim_event("Ev0OLD").await.unwrap());
    db.prune_events(Duration::from_secs(3600)).await.unwrap();
    assert!(!db.claim_event("Ev0OLD").await.unwrap(), "an hour is kept");
    tokio::time::sleep(Duration::from_millis(5)).await;
    db.prune_events(Duration::ZERO).await.unwrap();
    assert!(db.claim_event("Ev0OLD").await.unwrap(), "forgotten");
}

fn session(instance: &str) -> workbench_bot::store::Session {
    workbench_bot::store::Session {
        instance: instance.into(),
        started_at: chrono::Utc::now(),
        ends_at: Some(chrono::Utc::now() + chrono::Duration::hours(1)),
        started_by: Principal::parse("U01AAAAAAAA"),
        tell: ReplyTo::Direct("U01AAAAAAAA".into()),
        approved_until: None,
        skipped: None,
        stopping: None,
        idle: Default::default(),
    }
}

/// Runs `sql` on the database at `url` directly: what an older version of
/// the bot wrote, in the tables it used.
async fn raw(url: &str, sql: &str) -> u64 {
    if url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        sqlx::query(sql)
            .execute(&pool)
            .await
            .unwrap()
            .rows_affected()
    } else {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        sqlx::query(sql)
            .execute(&pool)
            .await
            .unwrap()
            .rows_affected()
    }
}

/// An older version's session payload: keyed by `alias`.
fn legacy_payload(alias: &str) -> String {
    let mut v = serde_json::to_value(session(alias)).unwrap();
    let o = v.as_object_mut().unwrap();
    o.remove("instance");
    o.insert("alias".into(), alias.into());
    v.to_string().replace('\'', "''")
}

async fn state_an_older_version_keyed_by_alias_moves_to_the_instance_and_the_rest_stays(
    url: String,
) {
    let store = Store::open(&url).await.unwrap();
    let db = store.db();
    let done = if url.starts_with("sqlite:") {
        "1"
    } else {
        "TRUE"
    };
    for alias in ["foo", "gone"] {
        let payload = legacy_payload(alias);
        raw(
            &url,
            &format!(
                "INSERT INTO leases (alias, ends_at, payload) VALUES ('{alias}', 1, '{payload}')"
            ),
        )
        .await;
    }
    // Older versions recorded a skipped scheduled stop as done timer work.
    raw(&url, &format!("INSERT INTO timer_claims (alias, kind, due_at, owner, held_until, done) VALUES ('foo', 'schedule', 123, 'old', 0, {done})")).await;
    db.put_approval(&approval("a1", "")).await.unwrap();

    let moved = db.adopt_alias_keys(&[("foo", FOO_PATH)]).await.unwrap();
    assert_eq!(moved, 3, "the session, the skip and the approval of foo");
    let kept = db.session(FOO_PATH).await.unwrap().expect("moved");
    assert_eq!(kept.instance, FOO_PATH, "the key wins over the payload");
    assert_eq!(
        raw(&url, "DELETE FROM leases WHERE alias = 'foo'").await,
        0,
        "moved, not copied"
    );
    assert_eq!(
        raw(&url, "UPDATE leases SET ends_at = 2 WHERE alias = 'gone'").await,
        1,
        "an alias this config does not know is left for a replica that does"
    );
    let skip = workbench_bot::store::TimerClaim {
        instance: FOO_PATH,
        kind: "schedule",
        due_ms: 123,
    };
    assert!(
        !db.claim_timer(&skip, "new", Duration::from_secs(60))
            .await
            .unwrap(),
        "the older version's skip still holds"
    );
    assert_eq!(db.approval("a1").await.unwrap().unwrap().instance, FOO_PATH);
    assert_eq!(db.adopt_alias_keys(&[("foo", FOO_PATH)]).await.unwrap(), 0);

    // An older replica writes an alias row after this version wrote the
    // path's: the path's row stands, and the alias row goes.
    let payload = legacy_payload("foo");
    raw(
        &url,
        &format!("INSERT INTO leases (alias, ends_at, payload) VALUES ('foo', NULL, '{payload}')"),
    )
    .await;
    assert_eq!(db.adopt_alias_keys(&[("foo", FOO_PATH)]).await.unwrap(), 0);
    assert_eq!(db.session(FOO_PATH).await.unwrap().unwrap(), kept);
    assert_eq!(raw(&url, "DELETE FROM leases WHERE alias = 'foo'").await, 0);
}

#[tokio::test]
async fn on_sqlite_state_an_older_version_keyed_by_alias_moves_to_the_instance() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    state_an_older_version_keyed_by_alias_moves_to_the_instance_and_the_rest_stays(url).await;
}

#[tokio::test]
async fn on_postgres_state_an_older_version_keyed_by_alias_moves_to_the_instance() {
    let url = crate::pg::fresh_database().await;
    state_an_older_version_keyed_by_alias_moves_to_the_instance_and_the_rest_stays(url).await;
}

fn approval(id: &str, instance: &str) -> workbench_bot::store::Approval {
    use workbench_bot::store::{Approval, ApprovalState, Asked, Asking};
    let now = chrono::Utc::now();
    Approval {
        id: id.into(),
        alias: "foo".into(),
        instance: instance.into(),
        state: ApprovalState::Waiting,
        expires_at: now + chrono::Duration::hours(1),
        decided_by: None,
        note: None,
        messages: Vec::new(),
        asked: Asked {
            kind: Asking::Start,
            requester: Principal::parse("U01AAAAAAAA").unwrap(),
            lasting_minutes: Some(60),
            reason: "a training run".into(),
            entry: EntryPoint::SlashCommand,
            team: None,
            tell: ReplyTo::Direct("U01AAAAAAAA".into()),
            origin: Default::default(),
            requested_at: now,
        },
    }
}

async fn an_approval_is_a_grant_used_once(store: Store) {
    use workbench_bot::store::ApprovalState;
    let db = store.db();
    db.put_approval(&approval("a2", FOO_PATH)).await.unwrap();
    assert!(
        !db.consume_approval("a2").await.unwrap(),
        "not approved yet"
    );
    let approver = Principal::parse("U02CCCCCCCC").unwrap();
    assert!(
        db.decide_approval(
            "a2",
            ApprovalState::Approved,
            Some(&approver),
            None,
            chrono::Utc::now()
        )
        .await
        .unwrap()
    );
    let unused: Vec<String> = db
        .approved_unstarted()
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.id)
        .collect();
    assert_eq!(unused, ["a2"]);
    let (a, b) = tokio::join!(db.consume_approval("a2"), db.consume_approval("a2"));
    assert!(a.unwrap() ^ b.unwrap(), "used once");
    assert!(db.approved_unstarted().await.unwrap().is_empty());
    assert_eq!(
        db.approval("a2").await.unwrap().unwrap().state,
        ApprovalState::Started
    );
}

fn row(request_id: &str, instance: &str, command: &str, at: &str) -> AuditRecord {
    AuditRecord {
        at: chrono::DateTime::parse_from_rfc3339(at).unwrap().to_utc(),
        request_id: request_id.into(),
        team: Some("T0123ABCD".into()),
        principal: "U01AAAAAAAA".into(),
        entry_point: EntryPoint::SlashCommand,
        command: command.into(),
        instance: Some(instance.into()),
        decision: AuditDecision::Allowed,
        reason: String::new(),
        backend: Some("notebooks".into()),
        outcome: OutcomeKind::Done("ACTIVE".into()).into(),
        approved_by: None,
    }
}

async fn audit_rows_are_begun_settled_and_read_back(store: Store) {
    store.record(row("r1", "foo", "status foo", "2026-11-20T10:00:00Z"));
    store.begin(row("r2", "foo", "start foo", "2026-11-20T10:01:00Z"));
    store.flush().await;
    let rows = store.audit_rows().await.unwrap();
    assert_eq!(rows[1].outcome, "running", "on record before it ends");
    store.settle(
        "r2",
        AuditOutcome {
            kind: OutcomeKind::Done("ACTIVE".into()),
            report_failed: true,
        },
    );
    store.flush().await;
    let rows = store.audit_rows().await.unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(
        rows[0],
        row("r1", "foo", "status foo", "2026-11-20T10:00:00Z")
    );
    assert_eq!(rows[1].outcome, "done:ACTIVE; report failed");

    store.begin(row("r3", "foo", "stop foo", "2026-11-20T10:02:00Z"));
    assert_eq!(store.interrupt_unsettled(), 1);
    store.flush().await;
    assert_eq!(store.audit_rows().await.unwrap()[2].outcome, "interrupted");
}

async fn an_event_id_is_claimed_once(store: Store) {
    let claims = futures::future::join_all((0..8).map(|_| store.claim_event("Ev0SAME"))).await;
    let won = claims.into_iter().filter(|c| *c.as_ref().unwrap()).count();
    assert_eq!(won, 1, "eight deliveries of one event act once");
    assert!(store.claim_event("Ev0OTHER").await.unwrap());
}

fn pending(request_id: &str) -> PendingOperation {
    PendingOperation {
        request_id: request_id.into(),
        alias: "foo".into(),
        instance: FOO_PATH.into(),
        verb: Verb::Start,
        operation: "projects/p/locations/l/operations/operation-1".into(),
        principal: Principal::parse("U01AAAAAAAA").unwrap(),
        team: Some("T0123ABCD".into()),
        entry_point: EntryPoint::Mention,
        reply_to: ReplyTo::Thread {
            channel: "C0CHANNEL".into(),
            thread_ts: "1700000000.000100".into(),
        },
        posted: None,
        started_at: chrono::Utc::now(),
        approved_by: None,
    }
}

async fn a_pending_operation_is_held_by_one_owner_at_a_time(store: Store) {
    let db = store.db();
    let lease = Duration::from_secs(60);
    db.save_pending(&pending("p1"), "A", lease).await.unwrap();
    assert!(
        db.claim_pending("B", lease).await.unwrap().is_empty(),
        "A holds it"
    );
    db.release_pending("p1", "A").await.unwrap();
    // Two replicas sweep at the same moment: exactly one gets it.
    let (b, c) = tokio::join!(db.claim_pending("B", lease), db.claim_pending("C", lease));
    let (b, c) = (b.unwrap(), c.unwrap());
    assert_eq!(b.len() + c.len(), 1, "claimed once: {b:?} {c:?}");
    let owner = if b.is_empty() { "C" } else { "B" };
    let claimed = b.into_iter().chain(c).next().unwrap();
    let saved = pending("p1");
    assert_eq!(
        (
            &claimed.request_id,
            claimed.verb,
            &claimed.principal,
            &claimed.reply_to
        ),
        (
            &saved.request_id,
            saved.verb,
            &saved.principal,
            &saved.reply_to
        )
    );
    assert!(db.renew_pending("p1", owner, lease).await.unwrap());
    assert!(
        !db.renew_pending("p1", "A", lease).await.unwrap(),
        "A let go"
    );
    db.finish_pending("p1").await.unwrap();
    assert_eq!(db.pending_count().await.unwrap(), 0);

    // A holder that died: its lease lapses and another takes over.
    db.save_pending(&pending("p2"), "A", Duration::from_millis(50))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(80)).await;
    assert_eq!(db.claim_pending("B", lease).await.unwrap().len(), 1);
}

fn lock(request_id: &str, principal: &str, verb: Verb, for_ms: i64) -> InstanceLock {
    InstanceLock {
        instance: FOO_PATH.into(),
        request_id: request_id.into(),
        principal: Principal::parse(principal).unwrap(),
        verb,
        expires_at: chrono::Utc::now().timestamp_millis() + for_ms,
    }
}

async fn the_instance_lock_belongs_to_one_request_until_released_or_lapsed(store: Store) {
    let db = store.db();
    let start = lock("r1", "U01AAAAAAAA", Verb::Start, 60_000);
    let stop = lock("r2", "U01BBBBBBBB", Verb::Stop, 60_000);
    let (a, b) = tokio::join!(db.lock_instance(&start), db.lock_instance(&stop));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert!(a.is_none() ^ b.is_none(), "exactly one wins: {a:?} {b:?}");
    let (winner, loser) = if a.is_none() { (&start, b) } else { (&stop, a) };
    let holder = loser.unwrap();
    assert_eq!(
        (holder.request_id.as_str(), &holder.principal, holder.verb),
        (winner.request_id.as_str(), &winner.principal, winner.verb),
        "the loser learns who holds it"
    );
    assert_eq!(
        db.lock_instance(winner).await.unwrap(),
        None,
        "re-taking is fine"
    );
    assert!(
        db.renew_lock(FOO_PATH, &winner.request_id, i64::MAX / 2)
            .await
            .unwrap()
    );
    db.unlock_instance(FOO_PATH, &winner.request_id)
        .await
        .unwrap();
    assert_eq!(
        db.lock_instance(&stop).await.unwrap(),
        None,
        "free after release"
    );
    assert!(
        !db.renew_lock(FOO_PATH, "r1", i64::MAX / 2).await.unwrap(),
        "r2 holds it now"
    );

    // A holder that died: the lock lapses.
    db.unlock_instance(FOO_PATH, "r2").await.unwrap();
    db.lock_instance(&lock("r3", "U01AAAAAAAA", Verb::Start, 30))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(60)).await;
    assert_eq!(
        db.lock_instance(&lock("r4", "U01BBBBBBBB", Verb::Stop, 60_000))
            .await
            .unwrap(),
        None
    );
}

async fn history_is_the_latest_actions_on_one_instance_newest_first(store: Store) {
    for i in 0..15 {
        let at = format!("2026-11-20T10:{i:02}:00Z");
        store.record(row(
            &format!("f{i}"),
            "foo",
            &format!("start foo #{i}"),
            &at,
        ));
        store.record(row(&format!("g{i}"), "gpu", "status gpu", &at));
    }
    store.record(row("b0", "bar", "stop bar", "2026-11-20T10:07:30Z"));
    store.flush().await;
    let day_before = |d: u32| {
        chrono::DateTime::parse_from_rfc3339(&format!("2026-11-{d:02}T00:00:00Z"))
            .unwrap()
            .to_utc()
    };
    // The recent window holds enough, or the whole trail is read.
    for recent in [day_before(20), day_before(21)] {
        let history = store.history(&["foo"], recent, 10).await.unwrap();
        assert_eq!(history.len(), 10);
        assert_eq!(history[0].command, "start foo #14");
        assert_eq!(history[9].command, "start foo #5");
        assert!(history.iter().all(|r| r.instance.as_deref() == Some("foo")));
    }
    let both = store
        .history(&["foo", "bar"], day_before(21), 10)
        .await
        .unwrap();
    assert_eq!(both.len(), 10);
    assert_eq!(both[7].command, "stop bar", "newest first across instances");
    assert!(
        store
            .history(&[], day_before(1), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn old_rows_are_pruned_and_rows_since_a_date_exported(store: Store) {
    store.record(row("old", "foo", "start foo", "2025-01-01T00:00:00+00:00"));
    store.record(row("new", "foo", "stop foo", "2026-11-20T10:00:00+00:00"));
    store.flush().await;
    let db = store.db();
    let pages = |size: usize, stop_after: usize| {
        let db = db.clone();
        async move {
            let mut seen: Vec<Vec<String>> = Vec::new();
            let mut each = |page: Vec<AuditRecord>| {
                seen.push(page.into_iter().map(|r| r.request_id).collect());
                match seen.len() >= stop_after {
                    true => std::ops::ControlFlow::Break(()),
                    false => std::ops::ControlFlow::Continue(()),
                }
            };
            db.audit_pages("2026-01-01T00:00:00+00:00", size, &mut each)
                .await
                .unwrap();
            seen
        }
    };
    assert_eq!(pages(10, 99).await, vec![vec!["new".to_owned()]]);
    store.record(row("bar", "bar", "start bar", "2026-11-20T11:00:00+00:00"));
    store.record(row(
        "look",
        "bar",
        "status bar",
        "2026-11-20T11:30:00+00:00",
    ));
    store.flush().await;
    let of_bar = db
        .changes_since(&["bar"], "2026-01-01T00:00:00+00:00")
        .await
        .unwrap();
    assert_eq!(of_bar.len(), 1, "one instance's starts and stops only");
    assert_eq!(of_bar[0].command, "start bar");
    let of_both = db
        .changes_since(&["bar", "foo"], "2026-01-01T00:00:00+00:00")
        .await
        .unwrap();
    let said: Vec<&str> = of_both.iter().map(|r| r.command.as_str()).collect();
    assert_eq!(said, vec!["stop foo", "start bar"], "oldest first");
    assert!(
        db.changes_since(&[], "2026-01-01T00:00:00+00:00")
            .await
            .unwrap()
            .is_empty()
    );
    // Page by page after the last id given, until the rows end or the
    // reader stops.
    let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        pages(2, 99).await,
        vec![ids(&["new", "bar"]), ids(&["look"])]
    );
    assert_eq!(pages(1, 2).await, vec![ids(&["new"]), ids(&["bar"])]);
    assert_eq!(
        db.prune_audit("2026-01-01T00:00:00+00:00").await.unwrap(),
        1
    );
    let left = store.audit_rows().await.unwrap();
    assert_eq!(left.len(), 3);
    assert_eq!(left[0].request_id, "new");
}

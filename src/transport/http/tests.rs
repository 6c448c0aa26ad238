//! Readiness with a broken store, and what the routes never echo.

use super::*;
use crate::act::Backends;
use crate::pipeline::App;
use crate::report::{Reporter, slack_client};
use crate::store::{
    Approval, ApprovalState, ApprovalStore, AuditRecord, AuditWrite, InstanceLock,
    PendingOperation, Store, StoreBackend, StoreError,
};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::task::TaskTracker;

/// A database that fails every call, with a detail that must stay private.
struct Broken;

fn broken() -> StoreError {
    StoreError::Unknown("connection to db.internal as bot:hunter2 refused".into())
}

#[async_trait::async_trait]
impl ApprovalStore for Broken {
    async fn put_approval(&self, _: &Approval) -> Result<(), StoreError> {
        Err(broken())
    }
    async fn approval(&self, _: &str) -> Result<Option<Approval>, StoreError> {
        Err(broken())
    }
    async fn waiting_approvals(&self) -> Result<Vec<Approval>, StoreError> {
        Err(broken())
    }
    async fn decide_approval(
        &self,
        _: &str,
        _: ApprovalState,
        _: Option<&crate::domain::Principal>,
        _: Option<&str>,
        _: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool, StoreError> {
        Err(broken())
    }
    async fn note_approval_messages(
        &self,
        _: &str,
        _: &[crate::report::Posted],
    ) -> Result<(), StoreError> {
        Err(broken())
    }
    async fn approved_unstarted(&self) -> Result<Vec<Approval>, StoreError> {
        Err(broken())
    }
    async fn consume_approval(&self, _: &str) -> Result<bool, StoreError> {
        Err(broken())
    }
}

#[async_trait::async_trait]
impl crate::store::keys::AliasKeys for Broken {
    async fn adopt_alias_keys(&self, _: &[(&str, &str)]) -> Result<u64, StoreError> {
        Err(broken())
    }
}

#[async_trait::async_trait]
impl crate::store::TimerStore for Broken {
    async fn put_session(&self, _: &crate::store::Session) -> Result<(), StoreError> {
        Err(broken())
    }
    async fn add_session(&self, _: &crate::store::Session) -> Result<bool, StoreError> {
        Err(broken())
    }
    async fn session(&self, _: &str) -> Result<Option<crate::store::Session>, StoreError> {
        Err(broken())
    }
    async fn sessions(&self) -> Result<Vec<crate::store::Session>, StoreError> {
        Err(broken())
    }
    async fn end_session(
        &self,
        _: &str,
        _: Option<Option<chrono::DateTime<chrono::Utc>>>,
    ) -> Result<(), StoreError> {
        Err(broken())
    }
    async fn claim_timer(
        &self,
        _: &crate::store::TimerClaim<'_>,
        _: &str,
        _: Duration,
    ) -> Result<bool, StoreError> {
        Err(broken())
    }
    async fn finish_timer(&self, _: &crate::store::TimerClaim<'_>) -> Result<(), StoreError> {
        Err(broken())
    }
    async fn prune_timers(&self, _: i64) -> Result<(), StoreError> {
        Err(broken())
    }
}

#[async_trait::async_trait]
impl StoreBackend for Broken {
    async fn write_audit(&self, _: &[AuditWrite]) -> Result<(), StoreError> {
        Err(broken())
    }
    async fn claim_event(&self, _: &str) -> Result<bool, StoreError> {
        Err(broken())
    }
    async fn ping(&self) -> Result<(), StoreError> {
        Err(broken())
    }
    async fn audit_rows(&self) -> Result<Vec<AuditRecord>, StoreError> {
        Err(broken())
    }
    async fn prune_events(&self, _: Duration) -> Result<(), StoreError> {
        Err(broken())
    }
    async fn save_pending(
        &self,
        _: &PendingOperation,
        _: &str,
        _: Duration,
    ) -> Result<(), StoreError> {
        Err(broken())
    }
    async fn claim_pending(
        &self,
        _: &str,
        _: Duration,
    ) -> Result<Vec<PendingOperation>, StoreError> {
        Err(broken())
    }
    async fn renew_pending(&self, _: &str, _: &str, _: Duration) -> Result<bool, StoreError> {
        Err(broken())
    }
    async fn release_pending(&self, _: &str, _: &str) -> Result<(), StoreError> {
        Err(broken())
    }
    async fn finish_pending(&self, _: &str) -> Result<(), StoreError> {
        Err(broken())
    }
    async fn pending_count(&self) -> Result<usize, StoreError> {
        Err(broken())
    }
    async fn lock_instance(&self, _: &InstanceLock) -> Result<Option<InstanceLock>, StoreError> {
        Err(broken())
    }
    async fn renew_lock(&self, _: &str, _: &str, _: i64) -> Result<bool, StoreError> {
        Err(broken())
    }
    async fn unlock_instance(&self, _: &str, _: &str) -> Result<(), StoreError> {
        Err(broken())
    }
    async fn history(
        &self,
        _: &[&str],
        _: Option<&str>,
        _: usize,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        Err(broken())
    }
    async fn changes_since(
        &self,
        _: &[&str],
        _: &str,
    ) -> Result<Vec<crate::store::Change>, StoreError> {
        Err(broken())
    }
    async fn audit_pages(
        &self,
        _: &str,
        _: usize,
        _: &mut (dyn FnMut(Vec<AuditRecord>) -> std::ops::ControlFlow<()> + Send),
    ) -> Result<(), StoreError> {
        Err(broken())
    }
    async fn prune_audit(&self, _: &str) -> Result<u64, StoreError> {
        Err(broken())
    }
}

#[tokio::test]
async fn readyz_says_the_store_is_down_and_never_why() {
    crate::tls::install();
    let state = dry_state(None);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/readyz", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router(state)).await });
    let res = reqwest::get(&url).await.unwrap();
    assert_eq!(res.status(), 503);
    let body = res.text().await.unwrap();
    assert_eq!(body, "store unreachable\n");
}

/// A store that is down keeps its rows queued while it retries: once the
/// queue is full, new requests are turned away as busy instead of growing it,
/// and their turned-away rows are not queued either.
#[tokio::test]
async fn a_store_that_is_down_turns_new_requests_away_as_busy() {
    use crate::domain::{EntryPoint, Origin, Principal, SlackUserId, TeamId};
    use crate::pipeline::{Input, Request};
    use crate::report::ReplyTo;
    crate::tls::install();
    let state = dry_state(None);
    let app = state.spawner.app().clone();
    let store = app.store().clone().with_backlog_limit(1);
    let app = Arc::new(App::new(
        Arc::new(app.config().clone()),
        Backends::dry_run_only(),
        Reporter::new(
            Arc::new(slack_client("http://127.0.0.1:9/api").unwrap()),
            None,
        ),
        store.clone(),
    ));
    let spawner = Spawner::new(app, TaskTracker::new());
    let request = || Request {
        id: Request::new_id(),
        team: Some(TeamId::parse("T0123ABCD").unwrap()),
        principal: Principal::User(SlackUserId::parse("U01AAAAAAAA").unwrap()),
        entry: EntryPoint::SlashCommand,
        input: Input::Text("help".into()),
        reply_to: ReplyTo::Nowhere,
        grant: Default::default(),
        origin: Origin::default(),
    };
    assert!(store.has_room());
    assert!(spawner.spawn(None, request()).is_ok(), "room for the first");
    // Its row waits in the queue while the writer retries the broken store.
    for _ in 0..100 {
        if !store.has_room() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(!store.has_room(), "the first request's row fills the queue");
    for _ in 0..3 {
        assert!(spawner.spawn(None, request()).is_err(), "busy");
    }
    assert!(
        crate::metrics::render().contains("reason=\"store_backlog\""),
        "counted"
    );
}

fn dry_state(metrics_token: Option<&str>) -> HttpState {
    let config = crate::config::Config::parse("[slack]\nteams = [\"T0123ABCD\"]\n").unwrap();
    let reporter = Reporter::new(
        Arc::new(slack_client("http://127.0.0.1:9/api").unwrap()),
        None,
    );
    let app = Arc::new(App::new(
        Arc::new(config),
        Backends::dry_run_only(),
        reporter,
        Store::with_backend(Arc::new(Broken)),
    ));
    HttpState {
        spawner: Spawner::new(app, TaskTracker::new()),
        verifier: None,
        metrics_token: metrics_token.map(Secret::new),
        tick_auth: None,
    }
}

/// `/metrics` as a peer at `peer` asks for it, with `headers`.
async fn scrape(state: HttpState, peer: &str, headers: &[(&str, &str)]) -> StatusCode {
    use tower::ServiceExt;
    let mut req = axum::http::Request::get("/metrics");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut req = req.body(axum::body::Body::empty()).unwrap();
    req.extensions_mut().insert(axum::extract::ConnectInfo(
        peer.parse::<std::net::SocketAddr>().unwrap(),
    ));
    router(state).oneshot(req).await.unwrap().status()
}

#[tokio::test]
async fn metrics_without_a_token_are_served_to_loopback_only() {
    crate::tls::install();
    for (peer, headers, status) in [
        ("127.0.0.1:50000", &[][..], StatusCode::OK),
        ("[::1]:50000", &[][..], StatusCode::OK),
        ("[::ffff:127.0.0.1]:50000", &[][..], StatusCode::OK),
        ("[::ffff:10.8.0.5]:50000", &[][..], StatusCode::FORBIDDEN),
        ("10.8.0.5:50000", &[][..], StatusCode::FORBIDDEN),
        ("203.0.113.9:443", &[][..], StatusCode::FORBIDDEN),
        // A proxy on this host forwarding a request from outside.
        (
            "127.0.0.1:50000",
            &[("x-forwarded-for", "203.0.113.9")][..],
            StatusCode::FORBIDDEN,
        ),
        (
            "127.0.0.1:50000",
            &[("forwarded", "for=203.0.113.9")][..],
            StatusCode::FORBIDDEN,
        ),
        (
            "127.0.0.1:50000",
            &[("via", "1.1 proxy")][..],
            StatusCode::FORBIDDEN,
        ),
    ] {
        assert_eq!(
            scrape(dry_state(None), peer, headers).await,
            status,
            "{peer} {headers:?}"
        );
    }
}

#[tokio::test]
async fn with_a_token_metrics_are_served_anywhere_it_is_presented() {
    crate::tls::install();
    let bearer = [("authorization", "Bearer m3trics")];
    assert_eq!(
        scrape(dry_state(Some("m3trics")), "203.0.113.9:443", &bearer).await,
        StatusCode::OK
    );
    assert_eq!(
        scrape(dry_state(Some("m3trics")), "127.0.0.1:50000", &[]).await,
        StatusCode::UNAUTHORIZED,
        "a set token is asked of loopback too"
    );
}

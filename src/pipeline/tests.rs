//! The pipeline driven directly, with the dry-run backend and no HTTP: what a
//! person is told, what the backend's state became, and the audit row, for each
//! kind of request. The transports' own tests cover the wire formats.

use super::{App, Handled, Input, Request};
use crate::act::{Backends, State};
use crate::config::Config;
use crate::domain::{EntryPoint, Origin, Principal, SlackUserId, TeamId};
use crate::report::{ReplyTo, Reporter, slack_client};
use crate::store::{AuditDecision, AuditRecord, OutcomeKind, Store};
use std::sync::Arc;

const OPERATOR: &str = "U01AAAAAAAA";
const STRANGER: &str = "U09ZZZZZZZZ";

const CONFIG: &str = r#"
[slack]
teams = ["T0123ABCD"]

[backend]
default = "dry-run"

[limits]
per_user_per_minute = 3

[groups]
researchers = ["U01AAAAAAAA"]

[[instance]]
alias = "foo"
name = "projects/example-project/locations/us-central1-a/instances/research-foo"
operators = ["@researchers"]
viewers = ["*"]

[[instance]]
alias = "secret"
name = "projects/example-project/locations/us-central1-a/instances/secret-project"
operators = ["U01AAAAAAAA"]
"#;

struct Pipeline {
    app: App,
    _dir: tempfile::TempDir,
}

impl Pipeline {
    async fn new() -> Self {
        crate::tls::install();
        let dir = tempfile::tempdir().unwrap();
        let config = Arc::new(Config::parse(CONFIG).expect("test config loads"));
        let store = Store::open(&format!(
            "sqlite://{}",
            dir.path().join("audit.db").display()
        ))
        .await
        .unwrap();
        // Every reply here goes nowhere, so this client is never called.
        let reporter = Reporter::new(
            Arc::new(slack_client("http://127.0.0.1:9/api").unwrap()),
            None,
        );
        let app = App::new(config, Backends::dry_run_only(), reporter, store);
        Self { app, _dir: dir }
    }

    async fn ask(&self, user: &str, text: &str) -> Handled {
        self.app
            .handle(Request {
                id: Request::new_id(),
                team: Some(TeamId::parse("T0123ABCD").unwrap()),
                principal: Principal::User(SlackUserId::parse(user).unwrap()),
                entry: EntryPoint::SlashCommand,
                input: Input::Text(text.into()),
                reply_to: ReplyTo::Nowhere,
                grant: Default::default(),
                origin: Origin::default(),
            })
            .await
    }

    async fn audit(&self) -> Vec<AuditRecord> {
        self.app.store.flush().await;
        self.app.store.audit_rows().await.unwrap()
    }

    async fn state_of_foo(&self) -> State {
        let foo = self.app.config.instance("foo").unwrap();
        let backend = self.app.backends.get(foo.backend).unwrap();
        backend.status(foo).await.unwrap().state
    }
}

#[tokio::test]
async fn an_operator_starts_an_instance_and_one_audit_row_says_how_it_ended() {
    let p = Pipeline::new().await;
    let handled = p.ask(OPERATOR, "start foo").await;
    assert!(handled.ok, "{handled:?}");
    assert_eq!(handled.state, Some(State::Active));
    assert!(
        handled.reply.text.contains("dry run"),
        "{}",
        handled.reply.text
    );
    assert!(handled.reply.card.is_some(), "a result carries its card");
    assert_eq!(p.state_of_foo().await, State::Active);
    let rows = p.audit().await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].decision, AuditDecision::Allowed);
    assert_eq!(rows[0].outcome.kind, OutcomeKind::Done("ACTIVE".into()));
    assert_eq!(rows[0].command, "start foo");
    assert_eq!(rows[0].instance.as_deref(), Some("foo"));
    assert_eq!(rows[0].backend.as_deref(), Some("dry-run"));
}

#[tokio::test]
async fn a_viewer_who_asks_to_start_is_refused_and_nothing_changes() {
    let p = Pipeline::new().await;
    let handled = p.ask(STRANGER, "start foo").await;
    assert!(!handled.ok);
    assert!(
        handled.reply.text.contains("Sorry"),
        "{}",
        handled.reply.text
    );
    assert_eq!(p.state_of_foo().await, State::Stopped);
    let rows = p.audit().await;
    assert_eq!(rows[0].decision, AuditDecision::Refused);
    assert_eq!(rows[0].reason, "not_operator");
    assert_eq!(rows[0].outcome.kind, OutcomeKind::Nothing);
    assert_eq!(rows[0].backend, None, "no backend was chosen for a refusal");
}

#[tokio::test]
async fn an_unknown_alias_gets_help_naming_what_exists_and_is_recorded_invalid() {
    let p = Pipeline::new().await;
    let handled = p.ask(STRANGER, "start nosuch").await;
    assert!(!handled.ok);
    assert!(
        handled
            .reply
            .text
            .contains("I don't know an instance called")
    );
    assert!(
        handled.reply.text.contains("`foo`"),
        "names what the person may see"
    );
    assert!(!handled.reply.text.contains("`secret`"), "and nothing else");
    let rows = p.audit().await;
    assert_eq!(rows[0].decision, AuditDecision::Invalid);
    assert_eq!(rows[0].reason, "unknown_instance");
}

#[tokio::test]
async fn text_that_is_no_command_is_answered_with_help_and_recorded_invalid() {
    let p = Pipeline::new().await;
    let handled = p.ask(OPERATOR, "reboot everything").await;
    assert!(!handled.ok);
    assert!(handled.reply.text.contains("*What I can do*"));
    let rows = p.audit().await;
    assert_eq!(
        (rows[0].decision, rows[0].reason.as_str()),
        (AuditDecision::Invalid, "unparsed")
    );
}

#[tokio::test]
async fn status_after_a_stop_reads_the_state_back_from_the_backend() {
    let p = Pipeline::new().await;
    assert!(p.ask(OPERATOR, "start foo").await.ok);
    assert!(p.ask(OPERATOR, "stop foo").await.ok);
    let handled = p.ask(STRANGER, "status foo").await;
    assert!(handled.ok);
    assert_eq!(handled.state, Some(State::Stopped));
    let rows = p.audit().await;
    let outcomes: Vec<String> = rows.iter().map(|r| r.outcome.to_string()).collect();
    assert_eq!(outcomes, ["done:ACTIVE", "done:STOPPED", "STOPPED"]);
}

#[tokio::test]
async fn requests_past_the_rate_limit_are_refused_before_parsing() {
    let p = Pipeline::new().await;
    for _ in 0..3 {
        assert!(p.ask(OPERATOR, "list").await.ok);
    }
    let handled = p.ask(OPERATOR, "list").await;
    assert!(!handled.ok);
    let rows = p.audit().await;
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[3].reason, "rate_limited");
    assert_eq!(rows[3].instance, None);
}

#[tokio::test]
async fn list_shows_only_what_the_person_may_see_with_their_role() {
    let p = Pipeline::new().await;
    let stranger = p.ask(STRANGER, "list").await;
    assert!(stranger.reply.text.contains("`foo`: stopped (view only)"));
    assert!(!stranger.reply.text.contains("secret"));
    let operator = p.ask(OPERATOR, "list").await;
    assert!(
        operator
            .reply
            .text
            .contains("`secret`: stopped _(dry run)_")
    );
    let rows = p.audit().await;
    assert_eq!(rows[0].outcome.kind, OutcomeKind::Listed(1));
    assert_eq!(rows[1].outcome.kind, OutcomeKind::Listed(2));
}

//! Every problem is found, with its line and a sentence a platform engineer can act on.

use super::*;
use crate::domain::SlackUserId;

const GOOD: &str = r#"
[server]
listen = "127.0.0.1:8080"

[store]
url = "sqlite://workbench-bot.db"

[slack]
command = "/notebook"
teams = ["T0123ABCD"]
workflow_bots = ["B0WORKFLOW1"]

[backend]
default = "dry-run"

[backend.github]
repository = "example-org/notebook-ops"
event_type = "control_vertex_ai_workbench_notebook"

[limits]
per_user_per_minute = 10

[groups]
researchers = ["U01AAAAAAAA", "U01BBBBBBBB"]
platform = ["U02CCCCCCCC"]
everyone = ["@researchers", "@platform"]

[access]
admins = ["@platform"]

[[instance]]
alias = "foo"
name = "projects/example-project/locations/us-central1-a/instances/research-and-development-foo"
operators = ["@researchers", "workflow:B0WORKFLOW1"]
viewers = ["*"]
backend = "github"
"#;

fn problems(text: &str) -> Vec<Problem> {
    Config::parse(text).expect_err("config should be refused")
}

#[test]
fn the_design_sketch_loads() {
    let c = Config::parse(GOOD).unwrap();
    let foo = c.instance("foo").unwrap();
    assert_eq!(foo.backend, BackendKind::Github);
    assert!(
        foo.operators
            .contains(&Principal::User(SlackUserId::parse("U01AAAAAAAA").unwrap()))
    );
    assert!(
        foo.operators
            .contains(&Principal::Workflow(BotId::parse("B0WORKFLOW1").unwrap()))
    );
    assert!(
        !foo.operators
            .contains(&Principal::User(SlackUserId::parse("U02CCCCCCCC").unwrap()))
    );
    assert_eq!(c.groups["everyone"].len(), 3, "nested groups are expanded");
    assert_eq!(
        c.github.as_ref().unwrap().repository(),
        "example-org/notebook-ops"
    );
}

#[test]
fn an_unknown_key_is_reported_with_its_line() {
    let text = GOOD.replace(
        "per_user_per_minute = 10",
        "per_user_per_minute = 10\nper_user_per_hour = 5",
    );
    let p = problems(&text);
    assert_eq!(p.len(), 1);
    assert!(p[0].message.contains("per_user_per_hour"), "{}", p[0]);
    let line = text
        .lines()
        .position(|l| l.starts_with("per_user_per_hour"))
        .unwrap()
        + 1;
    assert_eq!(p[0].line, Some(line));
}

#[test]
fn a_duplicate_alias_is_reported_with_both_lines() {
    let text = format!(
        "{GOOD}\n[[instance]]\nalias = \"foo\"\nname = \"projects/example-project/locations/us-central1-a/instances/other\"\n"
    );
    let p = problems(&text);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(p[0].message.contains("defined twice"));
    let second = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.trim() == "alias = \"foo\"")
        .nth(1)
        .unwrap()
        .0
        + 1;
    assert_eq!(p[0].line, Some(second));
}

#[test]
fn a_malformed_instance_name_is_reported_with_its_line() {
    let text = GOOD.replace(
        "projects/example-project/locations/us-central1-a/instances/research-and-development-foo",
        "research-and-development-foo",
    );
    let p = problems(&text);
    assert_eq!(p.len(), 1);
    assert!(
        p[0].message
            .contains("projects/PROJECT/locations/ZONE/instances/NAME")
    );
    let line = text.lines().position(|l| l.starts_with("name = ")).unwrap() + 1;
    assert_eq!(p[0].line, Some(line));
}

#[test]
fn an_undefined_group_is_reported_with_its_line() {
    let text = GOOD.replace("admins = [\"@platform\"]", "admins = [\"@platfrom\"]");
    let p = problems(&text);
    assert_eq!(p.len(), 1);
    assert!(p[0].message.contains("@platfrom"));
    let line = text.lines().position(|l| l.starts_with("admins")).unwrap() + 1;
    assert_eq!(p[0].line, Some(line));
}

#[test]
fn every_problem_is_listed_not_just_the_first() {
    let text = GOOD
        .replace("admins = [\"@platform\"]", "admins = [\"@nobody\"]")
        .replace("viewers = [\"*\"]", "viewers = [\"bob\"]");
    assert_eq!(problems(&text).len(), 2);
}

#[test]
fn a_group_nested_in_an_unknown_group_is_reported() {
    let text = GOOD.replace(
        "everyone = [\"@researchers\", \"@platform\"]",
        "everyone = [\"@researchers\", \"@ghosts\"]",
    );
    let p = problems(&text);
    assert!(p.iter().any(|p| p.message.contains("@ghosts")), "{p:?}");
}

#[test]
fn a_workflow_is_not_covered_by_star() {
    let c = Config::parse(GOOD).unwrap();
    let foo = c.instance("foo").unwrap();
    assert!(
        !foo.viewers
            .contains(&Principal::Workflow(BotId::parse("B0OTHER1").unwrap()))
    );
}

#[test]
fn a_store_this_build_cannot_open_is_refused_without_echoing_its_password() {
    let text = GOOD.replace(
        "url = \"sqlite://workbench-bot.db\"",
        "url = \"mysql://bot:hunter2@db.internal/workbench\"",
    );
    let p = problems(&text);
    assert_eq!(p.len(), 2, "{p:?}");
    assert_eq!(p[0].line, Some(6));
    assert!(p[0].message.contains("\"mysql\" database"), "{p:?}");
    assert!(p[1].message.contains("carries a password"), "{p:?}");
    assert!(p.iter().all(|p| !p.message.contains("hunter2")), "{p:?}");
}

#[test]
fn a_postgres_store_without_a_password_is_accepted() {
    let text = GOOD.replace(
        "url = \"sqlite://workbench-bot.db\"",
        "url = \"postgres://workbench@/workbench?host=/cloudsql/example-project:us-central1:bot\"\nmax_connections = 4\naudit_retention_days = 400",
    );
    let c = Config::parse(&text).unwrap();
    assert_eq!(c.store.pool.max_connections, 4);
    assert_eq!(c.store.audit_retention_days, Some(400));
}

#[test]
fn everyone_as_an_admin_is_refused() {
    let text = GOOD.replace("admins = [\"@platform\"]", "admins = [\"*\"]");
    let p = problems(&text);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(
        p[0].message.contains("access.admins may not be \"*\""),
        "{p:?}"
    );
}

#[test]
fn step_builders_are_people_and_only_people() {
    let with = |list: &str| {
        GOOD.replace(
            "workflow_bots = [\"B0WORKFLOW1\"]",
            &format!("workflow_bots = [\"B0WORKFLOW1\"]\nstep_builders = {list}"),
        )
    };
    let c = Config::parse(&with("[\"@platform\", \"U01AAAAAAAA\"]")).unwrap();
    assert_eq!(
        c.step_builders,
        Some(vec!["U01AAAAAAAA".to_owned(), "U02CCCCCCCC".to_owned()])
    );
    assert_eq!(Config::parse(GOOD).unwrap().step_builders, None);
    let line = with("[]")
        .lines()
        .position(|l| l.starts_with("step_builders"))
        .unwrap()
        + 1;
    for bad in ["[\"*\"]", "[\"workflow:B0WORKFLOW1\"]", "[]"] {
        let p = problems(&with(bad));
        assert_eq!(p.len(), 1, "{bad}: {p:?}");
        assert_eq!(p[0].line, Some(line), "{bad}: {p:?}");
        assert!(
            p[0].message
                .contains("slack.step_builders must name people"),
            "{bad}: {p:?}"
        );
    }
    let p = problems(&with("[\"@nobody\"]"));
    assert!(p.iter().any(|p| p.message.contains("\"@nobody\"")), "{p:?}");
}

#[test]
fn two_aliases_for_one_instance_are_refused() {
    let text = format!(
        "{GOOD}\n[[instance]]\nalias = \"foo-again\"\nname = \"projects/example-project/locations/us-central1-a/instances/research-and-development-foo\"\n"
    );
    let p = problems(&text);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(
        p[0].message
            .contains("\"foo-again\" names the same instance as \"foo\""),
        "{p:?}"
    );
}

#[test]
fn the_cost_control_sketch_loads() {
    let text = format!(
        "{GOOD}max_hours = 8\nwarn_minutes = 10\nremind_after_hours = 2\nstop_at = {{ time = \"20:00\", days = \"mon-fri\", timezone = \"Asia/Tokyo\" }}\n\n[cost]\ncurrency = \"USD\"\nmachine_types = {{ \"n1-standard-8\" = 0.38 }}\naccelerators = {{ \"NVIDIA_TESLA_T4\" = 0.35 }}\n\n[scheduler]\ntick_seconds = 30\nremind_after_hours = 6\naudience = \"https://bot.example.org/tasks/tick\"\ninvoker = \"scheduler@example-project.iam.gserviceaccount.com\"\n"
    );
    // The instance keys land in the last `[[instance]]` table, foo's.
    let c = Config::parse(&text).unwrap();
    let foo = c.instance("foo").unwrap();
    assert_eq!(foo.max_lease.map(|l| l.minutes()), Some(480));
    assert_eq!(foo.warn.minutes(), 10);
    assert_eq!(foo.remind_after.minutes(), 120);
    assert_eq!(
        foo.stop_at.as_ref().unwrap().describe(),
        "20:00 Mon–Fri (Asia/Tokyo)"
    );
    assert_eq!(c.scheduler.tick, Duration::from_secs(30));
    assert_eq!(
        c.prices.as_ref().unwrap().machine_types["n1-standard-8"],
        0.38
    );
}

#[test]
fn bad_cost_control_keys_are_reported_with_their_lines() {
    let text = format!(
        "{GOOD}max_hours = 0.01\nstop_at = {{ time = \"8pm\", days = \"mon-fri\", timezone = \"Asia/Tokyo\" }}\n\n[cost]\ncurrency = \"USD\"\nmachine_types = {{ \"n1-standard-8\" = -1.0 }}\n\n[scheduler]\naudience = \"https://bot.example.org/tasks/tick\"\n"
    );
    let p = problems(&text);
    let said: Vec<String> = p.iter().map(|p| p.message.clone()).collect();
    for needle in [
        "max_hours must be a whole number of minutes",
        "stop_at: ",
        "must be a price per hour of 0 or more",
        "scheduler.audience and scheduler.invoker go together",
    ] {
        assert!(
            said.iter().any(|m| m.contains(needle)),
            "{needle}: {said:#?}"
        );
    }
    assert!(p.iter().all(|p| p.line.is_some()), "{p:#?}");
}

#[test]
fn approvers_guard_an_instance_with_a_timeout() {
    let text = format!(
        "{GOOD}approvers = [\"@platform\", \"U01BBBBBBBB\"]\napproval_timeout_minutes = 30\n"
    );
    let c = Config::parse(&text).unwrap();
    let guard = c.instance("foo").unwrap().guard.as_ref().unwrap();
    assert_eq!(guard.timeout.minutes(), 30);
    assert_eq!(guard.people(), ["U01BBBBBBBB", "U02CCCCCCCC"]);
    let requester = Principal::User(SlackUserId::parse("U01BBBBBBBB").unwrap());
    let admin = Principal::User(SlackUserId::parse("U02CCCCCCCC").unwrap());
    assert!(guard.may_decide(&admin, &requester));
    assert!(!guard.may_decide(&requester, &requester), "never their own");
    let guest = Principal::Guest(SlackUserId::parse("U01BBBBBBBB").unwrap());
    assert!(!guard.may_decide(&requester, &guest), "nor as a guest");

    let default = format!("{GOOD}approvers = [\"@platform\"]\n");
    let c = Config::parse(&default).unwrap();
    assert_eq!(
        c.instance("foo")
            .unwrap()
            .guard
            .as_ref()
            .unwrap()
            .timeout
            .minutes(),
        60
    );
    assert!(
        Config::parse(GOOD)
            .unwrap()
            .instance("foo")
            .unwrap()
            .guard
            .is_none()
    );
}

#[test]
fn bad_approvers_are_reported_with_their_lines() {
    for (extra, needle) in [
        ("approvers = []\n", "approvers is empty"),
        ("approvers = [\"@nobody\"]\n", "names group \"@nobody\""),
        (
            "approvers = [\"*\"]\n",
            "when slack.approvals_channel is unset",
        ),
        (
            "approval_timeout_minutes = 30\n",
            "approval_timeout_minutes but no approvers",
        ),
        (
            "approvers = [\"@platform\"]\napproval_timeout_minutes = 0\n",
            "approval_timeout_minutes: ",
        ),
    ] {
        let p = problems(&format!("{GOOD}{extra}"));
        assert!(
            p.iter()
                .any(|p| p.message.contains(needle) && p.line.is_some()),
            "{needle}: {p:#?}"
        );
    }
    // With a channel to post in, anyone else may be the second pair of eyes.
    let text = GOOD.replace(
        "[slack]\n",
        "[slack]\napprovals_channel = \"C0APPROVALS\"\n",
    );
    let c = Config::parse(&format!("{text}approvers = [\"*\"]\n")).unwrap();
    assert_eq!(c.approvals_channel.as_deref(), Some("C0APPROVALS"));
}

//! The tests' config as a typed value: a test changes a field
//! (`c.backend.default = "github".into()`), never text, and the value is
//! rendered to TOML and loaded through the bot's own loader, exactly as a file
//! the platform team writes. Unset keys stay absent, so defaults are exercised.

use crate::helpers::{ADMIN, FOO_PATH, OPERATOR, OPERATOR2, TEAM};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize)]
pub struct TestConfig {
    pub server: Server,
    pub store: Store,
    pub slack: Slack,
    pub backend: Backend,
    pub limits: Limits,
    pub groups: BTreeMap<String, Vec<String>>,
    pub access: Access,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheduler: Option<Scheduler>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost: Option<Cost>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle: Option<Idle>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<Report>,
    pub instance: Vec<Instance>,
}

/// `[report]`
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub channel: String,
    pub day: String,
    pub time: String,
    pub timezone: String,
}

/// `[idle]`
#[derive(Debug, Clone, Serialize)]
pub struct Idle {
    pub check_minutes: u32,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct Scheduler {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tick_seconds: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invoker: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Cost {
    pub currency: String,
    pub machine_types: BTreeMap<String, f64>,
    pub accelerators: BTreeMap<String, f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StopAt {
    pub time: String,
    pub days: String,
    pub timezone: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Server {
    pub listen: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Store {
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease_seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sweep_seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audit_retention_days: Option<u32>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Slack {
    pub command: String,
    pub teams: Vec<String>,
    pub workflow_bots: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub announce_channel: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approvals_channel: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step_builders: Option<Vec<String>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Backend {
    pub default: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub github: Option<Github>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notebooks: Option<Notebooks>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Github {
    pub repository: String,
    pub event_type: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Notebooks {
    pub operation_timeout_seconds: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Limits {
    pub per_user_per_minute: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_in_flight: Option<u32>,
    /// Keys the bot does not know, to test that they are refused.
    #[serde(flatten)]
    pub unknown: BTreeMap<String, u32>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Access {
    pub admins: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Instance {
    pub alias: String,
    pub name: String,
    pub operators: Vec<String>,
    pub viewers: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_hours: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warn_minutes: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remind_after_hours: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_at: Option<StopAt>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approvers: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval_timeout_minutes: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub announce: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle_minutes: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle_cpu_percent: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle_gpu_percent: Option<f64>,
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

impl Instance {
    pub fn new(alias: &str, name: &str, operators: &[&str], viewers: &[&str]) -> Self {
        Self {
            alias: alias.into(),
            name: name.into(),
            operators: strings(operators),
            viewers: strings(viewers),
            backend: None,
            max_hours: None,
            warn_minutes: None,
            remind_after_hours: None,
            stop_at: None,
            approvers: None,
            approval_timeout_minutes: None,
            announce: None,
            idle_minutes: None,
            idle_cpu_percent: None,
            idle_gpu_percent: None,
        }
    }
}

impl Default for TestConfig {
    /// The store is left empty: `spawn_app` gives each app its own.
    fn default() -> Self {
        Self::new("")
    }
}

impl TestConfig {
    /// Two instances: `foo` (researchers and a workflow operate it, anyone
    /// sees it) and `secret` (one operator, nobody else sees it).
    pub fn new(store_url: &str) -> Self {
        Self {
            server: Server {
                listen: "127.0.0.1:0".into(),
            },
            store: Store {
                url: store_url.into(),
                lease_seconds: None,
                sweep_seconds: None,
                audit_retention_days: None,
            },
            slack: Slack {
                command: "/notebook".into(),
                teams: strings(&[TEAM]),
                workflow_bots: strings(&["B0WORKFLOW1"]),
                mode: None,
                announce_channel: None,
                approvals_channel: None,
                step_builders: None,
            },
            backend: Backend {
                default: "dry-run".into(),
                github: Some(Github {
                    repository: "example-org/notebook-ops".into(),
                    event_type: "control_vertex_ai_workbench_notebook".into(),
                }),
                notebooks: None,
            },
            limits: Limits {
                per_user_per_minute: 10,
                max_in_flight: None,
                unknown: BTreeMap::new(),
            },
            groups: BTreeMap::from([
                ("researchers".to_owned(), strings(&[OPERATOR, OPERATOR2])),
                ("platform".to_owned(), strings(&[ADMIN])),
            ]),
            access: Access {
                admins: strings(&["@platform"]),
            },
            scheduler: None,
            cost: None,
            idle: None,
            report: None,
            instance: vec![
                Instance::new(
                    "foo",
                    FOO_PATH,
                    &["@researchers", "workflow:B0WORKFLOW1"],
                    &["*"],
                ),
                Instance::new(
                    "secret",
                    "projects/example-project/locations/us-central1-a/instances/secret-project",
                    &[OPERATOR],
                    &[],
                ),
            ],
        }
    }

    /// `foo`'s starts wait for `@platform` (ADMIN) or OPERATOR2 to approve.
    pub fn guard_foo(&mut self) {
        let guarded = self.instance.iter_mut().find(|i| i.alias == "foo").unwrap();
        guarded.approvers = Some(vec!["@platform".into(), OPERATOR2.into()]);
    }

    pub fn toml(&self) -> String {
        toml::to_string(self).expect("a test config renders as TOML")
    }

    /// Loads through the bot's own loader, as `serve` does.
    pub fn load(&self) -> workbench_bot::Config {
        workbench_bot::Config::parse(&self.toml())
            .unwrap_or_else(|p| panic!("test config invalid: {p:?}\n{}", self.toml()))
    }

    /// Writes the file a binary under test reads.
    pub fn write(&self, path: &std::path::Path) {
        std::fs::write(path, self.toml()).unwrap();
    }
}

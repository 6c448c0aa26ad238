//! The config file as written: serde structs that keep each value's position
//! (`Spanned`), so every problem can name its line. Nothing here is checked yet.

use super::SlackMode;
use crate::domain::BackendKind;
use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    #[serde(default)]
    pub(super) server: RawServer,
    #[serde(default)]
    pub(super) store: RawStore,
    pub(super) slack: RawSlack,
    #[serde(default)]
    pub(super) backend: RawBackend,
    #[serde(default)]
    pub(super) limits: RawLimits,
    #[serde(default)]
    pub(super) groups: BTreeMap<String, Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    pub(super) access: RawAccess,
    #[serde(default)]
    pub(super) scheduler: RawScheduler,
    pub(super) cost: Option<RawCost>,
    #[serde(default)]
    pub(super) idle: RawIdle,
    pub(super) report: Option<Spanned<RawReport>>,
    #[serde(default)]
    pub(super) instance: Vec<RawInstance>,
}

/// `[report]`: where and when the weekly cost report is posted.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawReport {
    pub(super) channel: String,
    #[serde(default = "default_report_day")]
    pub(super) day: String,
    #[serde(default = "default_report_time")]
    pub(super) time: String,
    pub(super) timezone: String,
}

fn default_report_day() -> String {
    "mon".into()
}

fn default_report_time() -> String {
    "09:00".into()
}

/// `[idle]`: how often the activity of instances with `idle_minutes` is read.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawIdle {
    #[serde(default = "default_check_minutes")]
    pub(super) check_minutes: Spanned<u32>,
}

fn default_check_minutes() -> Spanned<u32> {
    Spanned::new(0..0, 5)
}

impl Default for RawIdle {
    fn default() -> Self {
        Self {
            check_minutes: default_check_minutes(),
        }
    }
}

/// `[scheduler]`: how often timers are looked at, and who may make the bot
/// look (Cloud Scheduler's OIDC token for `POST /tasks/tick`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawScheduler {
    #[serde(default = "default_tick")]
    pub(super) tick_seconds: Spanned<u64>,
    #[serde(default = "default_jwks_url")]
    pub(super) jwks_url: Spanned<String>,
    pub(super) audience: Option<Spanned<String>>,
    pub(super) invoker: Option<Spanned<String>>,
    #[serde(default = "default_remind")]
    pub(super) remind_after_hours: Spanned<f64>,
}

fn default_remind() -> Spanned<f64> {
    Spanned::new(0..0, 6.0)
}

fn default_tick() -> Spanned<u64> {
    Spanned::new(0..0, 60)
}

fn default_jwks_url() -> Spanned<String> {
    Spanned::new(0..0, crate::oidc::GOOGLE_JWKS_URL.into())
}

impl Default for RawScheduler {
    fn default() -> Self {
        Self {
            tick_seconds: default_tick(),
            jwks_url: default_jwks_url(),
            audience: None,
            invoker: None,
            remind_after_hours: default_remind(),
        }
    }
}

/// `[cost]`: the team's own hourly prices.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCost {
    pub(super) currency: Spanned<String>,
    #[serde(default)]
    pub(super) machine_types: BTreeMap<String, Spanned<f64>>,
    #[serde(default)]
    pub(super) accelerators: BTreeMap<String, Spanned<f64>>,
}

/// `stop_at = { time = "20:00", days = "mon-fri", timezone = "Asia/Tokyo" }`
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStopAt {
    pub(super) time: String,
    #[serde(default = "every_day")]
    pub(super) days: String,
    pub(super) timezone: String,
}

fn every_day() -> String {
    "mon-sun".into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawServer {
    pub(super) listen: Spanned<String>,
}

impl Default for RawServer {
    fn default() -> Self {
        Self {
            listen: Spanned::new(0..0, "127.0.0.1:8080".into()),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStore {
    pub(super) url: Spanned<String>,
    #[serde(default = "default_max_connections")]
    pub(super) max_connections: Spanned<u32>,
    #[serde(default = "default_connect_timeout")]
    pub(super) connect_timeout_seconds: u64,
    #[serde(default)]
    pub(super) audit_retention_days: Option<Spanned<u32>>,
    #[serde(default = "default_lease")]
    pub(super) lease_seconds: Spanned<f64>,
    #[serde(default = "default_sweep")]
    pub(super) sweep_seconds: Spanned<f64>,
}

fn default_lease() -> Spanned<f64> {
    Spanned::new(0..0, 60.0)
}

fn default_sweep() -> Spanned<f64> {
    Spanned::new(0..0, 15.0)
}

fn default_max_connections() -> Spanned<u32> {
    Spanned::new(0..0, 10)
}

fn default_connect_timeout() -> u64 {
    10
}

impl Default for RawStore {
    fn default() -> Self {
        Self {
            url: Spanned::new(0..0, "sqlite://workbench-bot.db".into()),
            max_connections: default_max_connections(),
            connect_timeout_seconds: default_connect_timeout(),
            audit_retention_days: None,
            lease_seconds: default_lease(),
            sweep_seconds: default_sweep(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSlack {
    #[serde(default = "default_command")]
    pub(super) command: Spanned<String>,
    pub(super) teams: Spanned<Vec<Spanned<String>>>,
    #[serde(default)]
    pub(super) workflow_bots: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) mode: SlackMode,
    #[serde(default)]
    pub(super) announce_channel: Option<String>,
    /// Where approval requests go; unset: each approver's direct messages.
    #[serde(default)]
    pub(super) approvals_channel: Option<String>,
    /// Who may add the bot's step to a workflow; unset: as set in Slack.
    #[serde(default)]
    pub(super) step_builders: Option<Spanned<Vec<Spanned<String>>>>,
}

fn default_command() -> Spanned<String> {
    Spanned::new(0..0, "/notebook".into())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBackend {
    #[serde(default = "default_backend")]
    pub(super) default: BackendKind,
    pub(super) github: Option<Spanned<RawGithub>>,
    #[serde(default)]
    pub(super) notebooks: RawNotebooks,
}

fn default_backend() -> BackendKind {
    BackendKind::DryRun
}

impl Default for RawBackend {
    fn default() -> Self {
        Self {
            default: default_backend(),
            github: None,
            notebooks: RawNotebooks::default(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGithub {
    pub(super) repository: Spanned<String>,
    #[serde(default = "default_event_type")]
    pub(super) event_type: String,
    #[serde(default = "default_sender")]
    pub(super) sender: String,
    #[serde(default = "default_max_age_minutes")]
    pub(super) max_age_minutes: u64,
}

fn default_sender() -> String {
    "workbench-bot[bot]".into()
}

/// Long enough for a dispatch to wait in a busy Actions queue and for its job
/// to pull the image; short enough that a leaked or replayed payload is soon
/// worthless. It is also how long a stop handed to GitHub may stay
/// unconfirmed before someone is told.
fn default_max_age_minutes() -> u64 {
    15
}

fn default_event_type() -> String {
    "control_vertex_ai_workbench_notebook".into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNotebooks {
    #[serde(default = "default_operation_timeout")]
    pub(super) operation_timeout_seconds: u64,
}

fn default_operation_timeout() -> u64 {
    600
}

impl Default for RawNotebooks {
    fn default() -> Self {
        Self {
            operation_timeout_seconds: default_operation_timeout(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLimits {
    #[serde(default = "default_per_minute")]
    pub(super) per_user_per_minute: Spanned<u32>,
    #[serde(default = "default_max_in_flight")]
    pub(super) max_in_flight: Spanned<u32>,
}

fn default_max_in_flight() -> Spanned<u32> {
    Spanned::new(0..0, 256)
}

fn default_per_minute() -> Spanned<u32> {
    Spanned::new(0..0, 10)
}

impl Default for RawLimits {
    fn default() -> Self {
        Self {
            per_user_per_minute: default_per_minute(),
            max_in_flight: default_max_in_flight(),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAccess {
    #[serde(default)]
    pub(super) admins: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawInstance {
    pub(super) alias: Spanned<String>,
    pub(super) name: Spanned<String>,
    #[serde(default)]
    pub(super) operators: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) viewers: Vec<Spanned<String>>,
    /// Announce in `slack.announce_channel` although not everyone may view it.
    #[serde(default)]
    pub(super) announce: bool,
    pub(super) backend: Option<BackendKind>,
    /// The longest a start may run, and the length of one that names none.
    pub(super) max_hours: Option<Spanned<f64>>,
    pub(super) warn_minutes: Option<Spanned<u32>>,
    /// Overrides `scheduler.remind_after_hours` for this instance.
    pub(super) remind_after_hours: Option<Spanned<f64>>,
    pub(super) stop_at: Option<Spanned<RawStopAt>>,
    /// Who must say yes before a start; none: starts need nobody's yes.
    pub(super) approvers: Option<Spanned<Vec<Spanned<String>>>>,
    pub(super) approval_timeout_minutes: Option<Spanned<u32>>,
    /// Idle this long (Cloud Monitoring's figures): warned, then stopped.
    pub(super) idle_minutes: Option<Spanned<u32>>,
    pub(super) idle_cpu_percent: Option<Spanned<f64>>,
    pub(super) idle_gpu_percent: Option<Spanned<f64>>,
}

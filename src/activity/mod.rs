//! Whether anyone is using an instance, read from Cloud Monitoring: the CPU
//! of the VM behind it (every VM reports it, no agent) and, where the Ops
//! Agent runs, its GPUs. Knows Google, nothing of Slack.
//!
//! The rule that keeps this safe: activity the bot cannot read is never
//! idle. No CPU figures, a newest figure more than [`MAX_LAG_MINUTES`] old,
//! a minute missing inside the window, a refusal or any error: the reading
//! is [`Activity::Unknown`] with the reason, and nothing is stopped on it.

mod client;
#[cfg(test)]
mod tests;

pub use client::{MonitoringClient, MonitoringError, Points, Query};

use crate::act::InstanceStatus;
use crate::config::{IdleRule, Instance};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

pub const CPU_METRIC: &str = "compute.googleapis.com/instance/cpu/utilization";
pub const GPU_METRIC: &str = "agent.googleapis.com/gpu/utilization";

/// Monitoring's figures arrive late (CPU up to about 4 minutes): the window
/// ends at the newest figure, which may be at most this old.
pub const MAX_LAG_MINUTES: i64 = 5;

/// A percentage to a tenth, as the bot shows and stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Tenths(pub u32);

impl Tenths {
    fn of(percent: f64) -> Self {
        Tenths((percent.clamp(0.0, 100.0) * 10.0).round() as u32)
    }
}

impl fmt::Display for Tenths {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 % 10 {
            0 => write!(f, "{} %", self.0 / 10),
            t => write!(f, "{}.{t} %", self.0 / 10),
        }
    }
}

/// What the GPUs said.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Gpu {
    /// The machine has no GPU.
    None,
    /// It has GPUs, but no series of theirs (no Ops Agent): decided on CPU.
    NotReported,
    Percent(Tenths),
}

/// CPU and GPU figures of a minute, or the highest of a run of minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Figures {
    pub cpu: Tenths,
    pub gpu: Gpu,
}

impl fmt::Display for Figures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CPU {}", self.cpu)?;
        match self.gpu {
            Gpu::Percent(g) => write!(f, ", GPU {g}"),
            Gpu::NotReported => f.write_str(", GPU not reported"),
            Gpu::None => Ok(()),
        }
    }
}

/// Why activity could not be read. Each is said to people as it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unknown {
    /// This deployment has no Google credentials (dry run, GitHub only).
    NotSetUp,
    /// Google did not give the VM's id.
    NoVmId,
    /// Monitoring refused the bot (HTTP 403).
    Denied,
    /// Any other failure, in Google's or the network's words.
    Failed(String),
    /// No CPU figures at all in the window.
    NoCpu,
    /// The newest CPU figure is this many minutes old.
    Stale(i64),
    /// A dry run has no VM to read.
    DryRun,
    /// Minutes missing inside the window, of the named series.
    Gap { series: String, missing: u32 },
}

impl fmt::Display for Unknown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unknown::NotSetUp => f.write_str(
                "this bot has no Google credentials to read Cloud Monitoring with (a dry run, or a GitHub-only deployment)",
            ),
            Unknown::NoVmId => f.write_str(
                "Google did not give the id of its VM (gceSetup.instanceId), which Cloud Monitoring's figures are filed under",
            ),
            Unknown::Denied => f.write_str(
                "the bot may not read Cloud Monitoring: give its service account `roles/monitoring.viewer` on the instance's project",
            ),
            Unknown::Failed(why) => write!(f, "Cloud Monitoring could not be read ({why})"),
            Unknown::DryRun => f.write_str("a dry run has no VM for Cloud Monitoring to read"),
            Unknown::NoCpu => f.write_str("Cloud Monitoring has no CPU figures for it in the window"),
            Unknown::Stale(m) => write!(
                f,
                "Cloud Monitoring's newest CPU figure is {m} min old (at most {MAX_LAG_MINUTES} counts)"
            ),
            Unknown::Gap { series, missing } => write!(
                f,
                "Cloud Monitoring is missing {missing} minute(s) of {series} figures in the window"
            ),
        }
    }
}

/// What a reading concluded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activity {
    /// Above a threshold in the newest minute: its figures.
    Busy(Figures),
    /// Below both thresholds for `minutes` minutes up to the newest figure
    /// (`since` is when that began), never above `figures`.
    Idle {
        minutes: u32,
        since: DateTime<Utc>,
        figures: Figures,
    },
    /// Counts as busy: nothing is stopped on it.
    Unknown(Unknown),
}

impl Activity {
    /// Idle for the whole of the rule's window: what a warning and an idle
    /// stop need. Anything else, an unknown reading above all, is not.
    pub fn idle_for(&self, rule: &IdleRule) -> bool {
        matches!(self, Activity::Idle { minutes, .. } if *minutes >= rule.after.minutes())
    }
}

/// A reading and when it was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reading {
    pub at: DateTime<Utc>,
    pub activity: Activity,
}

/// The GPU series as read.
pub enum GpuSeries {
    /// The machine has no GPU: none is asked for.
    NoGpu,
    /// It has GPUs and Monitoring has no series of theirs.
    Missing,
    Points(Points),
}

/// Values by minute, counted back from `newest`: minute 0 ends at it, and
/// figures newer than it (GPU ones can be) have negative minutes.
fn by_minute(points: &Points, newest: DateTime<Utc>) -> BTreeMap<i64, f64> {
    let mut out = BTreeMap::new();
    for (t, v) in points {
        let back = (newest - *t).num_seconds();
        // Aligned figures end on whole minutes; a few seconds either way
        // is still that minute.
        let minute = (back + 30).div_euclid(60);
        let slot = out.entry(minute).or_insert(*v);
        *slot = slot.max(*v);
    }
    out
}

/// Judges a window of per-minute figures (CPU as a fraction from 0 to 1,
/// GPU as a percent) against the rule. `since`: when the instance began
/// running, so minutes before it are not missing, just not idle time.
///
/// A minute missing between figures is a gap (unknown). Minutes missing
/// before a series' oldest figure (a VM still booting, an agent starting)
/// end the idle run instead: that only shortens it, so it stays safe.
pub fn judge(
    cpu: Option<&Points>,
    gpu: &GpuSeries,
    rule: &IdleRule,
    since: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Activity {
    let Some(newest) = cpu.and_then(|c| c.iter().map(|(t, _)| *t).max()) else {
        return Activity::Unknown(Unknown::NoCpu);
    };
    if now - newest > Duration::minutes(MAX_LAG_MINUTES) {
        let late = (now - newest).num_seconds();
        return Activity::Unknown(Unknown::Stale((late + 30) / 60));
    }
    let cpu: BTreeMap<i64, f64> = by_minute(cpu.expect("newest came from it"), newest)
        .into_iter()
        .map(|(m, v)| (m, v * 100.0))
        .collect();
    let gpu_minutes = match gpu {
        GpuSeries::Points(p) => Some(by_minute(p, newest)),
        _ => None,
    };
    let show = |c: f64, g: Option<f64>| Figures {
        cpu: Tenths::of(c),
        gpu: match (gpu, g) {
            (GpuSeries::NoGpu, _) => Gpu::None,
            (GpuSeries::Points(_), Some(g)) => Gpu::Percent(Tenths::of(g)),
            _ => Gpu::NotReported,
        },
    };
    let busy =
        |c: f64, g: Option<f64>| c >= rule.cpu_percent || g.is_some_and(|g| g >= rule.gpu_percent);
    // GPU figures arrive sooner than CPU ones: any newer than the newest CPU
    // minute count as now.
    let newest_cpu = cpu.get(&0).copied().unwrap_or(0.0);
    let newest_gpu = gpu_minutes
        .as_ref()
        .and_then(|g| g.range(..=0).map(|(_, v)| *v).reduce(f64::max));
    if busy(newest_cpu, newest_gpu) {
        return Activity::Busy(show(newest_cpu, newest_gpu));
    }
    // What a series says of one minute: its value, nothing yet (before its
    // oldest figure), or a hole between figures.
    enum Said {
        Value(f64),
        NotYet,
        Hole,
    }
    let said = |series: &BTreeMap<i64, f64>, minute: i64| match series.get(&minute) {
        Some(v) => Said::Value(*v),
        None if series.range(minute + 1..).next().is_some() => Said::Hole,
        None => Said::NotYet,
    };
    let (mut high_cpu, mut high_gpu) = (0.0f64, None::<f64>);
    let mut minutes = 0;
    for minute in 0..i64::from(rule.after.minutes()) {
        let ends = newest - Duration::minutes(minute);
        if since.is_some_and(|s| ends - Duration::minutes(1) < s) {
            break;
        }
        let c = match said(&cpu, minute) {
            Said::Value(v) => v,
            Said::NotYet => break,
            Said::Hole => return Activity::Unknown(gap("CPU", &cpu, rule)),
        };
        let g = match gpu_minutes.as_ref().map(|g| said(g, minute)) {
            None => None,
            Some(Said::Value(v)) => Some(v),
            Some(Said::NotYet) if minute == 0 => {
                // No GPU figure at all yet: nothing can be said of it.
                return Activity::Unknown(Unknown::Gap {
                    series: "GPU".into(),
                    missing: rule.after.minutes(),
                });
            }
            Some(Said::NotYet) => break,
            Some(Said::Hole) => {
                let g = gpu_minutes.as_ref().expect("matched Some");
                return Activity::Unknown(gap("GPU", g, rule));
            }
        };
        if busy(c, g) {
            break;
        }
        high_cpu = high_cpu.max(c);
        high_gpu = g.map(|g| high_gpu.unwrap_or(0.0).max(g));
        minutes += 1;
    }
    Activity::Idle {
        minutes,
        since: newest - Duration::minutes(i64::from(minutes)),
        figures: show(high_cpu, high_gpu.or(newest_gpu)),
    }
}

/// A series' holes in the window: minutes missing between its figures (up
/// to its oldest figure, or the window's end if that is older).
fn gap(series: &'static str, minutes: &BTreeMap<i64, f64>, rule: &IdleRule) -> Unknown {
    let window = i64::from(rule.after.minutes());
    let oldest = minutes.keys().next_back().map_or(0, |m| (*m).min(window));
    Unknown::Gap {
        series: series.into(),
        missing: (0..oldest).filter(|m| !minutes.contains_key(m)).count() as u32,
    }
}

/// Reads activity for the instances that ask for it: the client and the
/// bound on one whole reading (a slow Monitoring is unknown activity).
pub struct Monitor {
    client: MonitoringClient,
    bound: std::time::Duration,
}

impl Monitor {
    pub fn new(client: MonitoringClient, bound: std::time::Duration) -> Self {
        Self { client, bound }
    }

    /// One reading of the instance's window, ending now.
    pub async fn read(
        &self,
        inst: &Instance,
        rule: &IdleRule,
        status: &InstanceStatus,
        since: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Activity {
        let Some(vm) = status.vm_id.as_deref() else {
            return Activity::Unknown(Unknown::NoVmId);
        };
        let project = inst.name.project_path();
        let start = now - Duration::minutes(i64::from(rule.after.minutes()) + MAX_LAG_MINUTES + 1);
        let query = |metric| Query {
            project,
            metric,
            vm_id: vm,
            start,
            end: now,
        };
        let (cpu_q, gpu_q) = (query(CPU_METRIC), query(GPU_METRIC));
        let has_gpu = !status.accelerators.is_empty();
        let both = async {
            let gpu = async {
                match has_gpu {
                    true => self.client.per_minute(&gpu_q).await.map(Some),
                    false => Ok(None),
                }
            };
            tokio::join!(self.client.per_minute(&cpu_q), gpu)
        };
        let (cpu, gpu) = match tokio::time::timeout(self.bound, both).await {
            Ok(read) => read,
            Err(_) => {
                let why = format!("no answer within {} s", self.bound.as_secs_f32());
                return Activity::Unknown(Unknown::Failed(why));
            }
        };
        let cpu = match cpu {
            Ok(c) => c,
            Err(e) => return Activity::Unknown(unknown_of(&e)),
        };
        let gpu = match gpu {
            Ok(None) => GpuSeries::NoGpu,
            Ok(Some(None)) => GpuSeries::Missing,
            Ok(Some(Some(p))) => GpuSeries::Points(p),
            Err(e) => return Activity::Unknown(unknown_of(&e)),
        };
        judge(cpu.as_ref(), &gpu, rule, since, now)
    }
}

fn unknown_of(e: &MonitoringError) -> Unknown {
    match e {
        MonitoringError::Status { status: 403, .. } => Unknown::Denied,
        other => Unknown::Failed(other.to_string()),
    }
}

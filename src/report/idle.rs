//! Every sentence about activity and idle stops: what `status` says of an
//! instance's use, the warning before an idle stop, the stop itself and
//! what the idle time cost, and *Keep 1 h* under the warning.

use super::messages::dry_tag;
use super::timers::{length, when};
use crate::activity::{Activity, Figures, Gpu, Reading};
use crate::config::{IdleRule, Instance};
use crate::cost::{Hourly, PriceTable};
use crate::store::Session;
use chrono::{DateTime, Utc};

/// Where the Ops Agent comes from, for a GPU nobody reports.
const OPS_AGENT: &str = "install the Ops Agent on its VM (https://cloud.google.com/monitoring/agent/ops-agent/install-index) so GPU work counts too";

fn gpu_note(figures: &Figures) -> String {
    match figures.gpu {
        Gpu::NotReported => {
            format!(" Its GPU is not reported, so this is decided on CPU alone: {OPS_AGENT}.")
        }
        _ => String::new(),
    }
}

/// The `status` line about an instance's activity (one with `idle_minutes`).
pub fn status_line(
    reading: &Reading,
    rule: &IdleRule,
    held_off: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> String {
    let rule_note = match held_off {
        Some(until) => format!("idle stops are held off until {} (*Keep 1 h*)", when(until)),
        None => format!(
            "it is stopped, after a warning, once idle for {}",
            length(rule.after.to_chrono())
        ),
    };
    let age = match now - reading.at {
        d if d < chrono::Duration::minutes(1) => String::new(),
        d => format!(", read {} ago", length(d)),
    };
    match &reading.activity {
        Activity::Busy(f) => format!("\n• activity: busy ({f}{age}).{}", gpu_note(f)),
        Activity::Idle {
            minutes, figures, ..
        } => format!(
            "\n• activity: idle for {} ({figures}{age}); {rule_note}.{}",
            length(chrono::Duration::minutes(i64::from(*minutes))),
            gpu_note(figures)
        ),
        Activity::Unknown(why) => format!(
            "\n• activity: unknown, so it counts as busy and is never stopped for idleness: {why}."
        ),
    }
}

/// Workbench's own idle shutdown, when the instance's metadata sets it.
pub fn workbench_shutdown_line(seconds: u64) -> String {
    format!(
        "\n• Workbench's own idle shutdown is set (metadata `idle-timeout-seconds`): it stops the instance after {} idle, without a warning.",
        length(chrono::Duration::seconds(seconds as i64))
    )
}

/// Added to the warning before a time limit or a scheduled stop, so nobody
/// loses a running job by surprise.
pub fn right_now(reading: Option<&Reading>, can_read: bool, now: DateTime<Utc>) -> String {
    let Some(r) = reading else {
        return match can_read {
            true => "\nWhether it is in use right now is unknown: the bot has not read its activity yet.".into(),
            false => format!("\nWhether it is in use right now is unknown: {}.", crate::activity::Unknown::NotSetUp),
        };
    };
    let age = length(now - r.at);
    match &r.activity {
        Activity::Busy(f) => format!(
            "\n:warning: It is *busy* right now ({f}, read {age} ago): a job running on it will be stopped too."
        ),
        Activity::Idle {
            minutes, figures, ..
        } => format!(
            "\nRight now it is idle for {} ({figures}, read {age} ago).",
            length(chrono::Duration::minutes(i64::from(*minutes)))
        ),
        Activity::Unknown(why) => {
            format!("\nWhether it is in use right now is unknown: {why}.")
        }
    }
}

/// The warning before an idle stop, over *Keep 1 h* / *Stop now*.
pub fn warning(
    inst: &Instance,
    activity: &Activity,
    due: DateTime<Utc>,
    now: DateTime<Utc>,
) -> String {
    let (minutes, figures) = match activity {
        Activity::Idle {
            minutes, figures, ..
        } => (*minutes, *figures),
        _ => (
            0,
            Figures {
                cpu: crate::activity::Tenths(0),
                gpu: Gpu::None,
            },
        ),
    };
    format!(
        ":zzz: `{}` has been idle for {} ({figures}): it stops in {} ({}). Press *Keep 1 h* to keep it running for an hour, or *Stop now* if you are done. Anyone who may operate it can press.{}{}",
        inst.alias,
        length(chrono::Duration::minutes(i64::from(minutes))),
        length(due - now),
        when(due),
        gpu_note(&figures),
        dry_tag(inst.backend)
    )
}

/// Said when the reading at the end of the warning is not idle.
pub fn called_off(inst: &Instance, activity: &Activity) -> String {
    match activity {
        Activity::Busy(f) => format!(
            ":runner: `{}` is in use again ({f}), so the idle stop is called off; it keeps running.",
            inst.alias
        ),
        Activity::Unknown(why) => format!(
            ":grey_question: The bot cannot read whether `{}` is in use now ({why}), so it does not stop it for idleness; it keeps running.",
            inst.alias
        ),
        Activity::Idle { minutes, .. } => format!(
            ":runner: `{}` has been idle for only {} when read again (it was in use since the warning, or `idle_minutes` grew), so the idle stop is called off; it keeps running.",
            inst.alias,
            length(chrono::Duration::minutes(i64::from(*minutes)))
        ),
    }
}

/// Why the bot stopped it: the reading, right before the stop, that let it go.
pub fn stopped_because(inst: &Instance, session: Option<&Session>) -> String {
    let figures = session
        .and_then(|s| s.idle.read.as_ref())
        .and_then(|r| match &r.activity {
            Activity::Idle { figures, .. } => Some(format!(" ({figures})")),
            _ => None,
        })
        .unwrap_or_default();
    format!(
        ":zzz: The bot stopped `{}` because nobody was using it: still idle{figures} after the warning.",
        inst.alias
    )
}

/// How long it sat idle before the stop, and what that cost.
pub fn idle_cost(
    prices: Option<&PriceTable>,
    hourly: Option<&Hourly>,
    session: &Session,
    ended: DateTime<Utc>,
) -> String {
    let Some(Activity::Idle { since, .. }) = session.idle.read.as_ref().map(|r| &r.activity) else {
        return String::new();
    };
    let idle = ended - *since;
    let cost = match (prices, hourly) {
        (Some(_), Some(Hourly::Known(h))) => format!(
            ", about {} of compute for nothing",
            h.over(idle.num_seconds().max(0) as f64 / 3600.0)
        ),
        _ => String::new(),
    };
    format!("\nIt sat idle for {}{cost}.", length(idle))
}

/// *Keep 1 h* under an idle warning, done.
pub fn kept(inst: &Instance, until: DateTime<Utc>, now: DateTime<Utc>) -> String {
    format!(
        ":ok_hand: `{}` is not stopped for idleness before {} (in {}). Its time limit and schedule, if it has them, are as they were.",
        inst.alias,
        when(until),
        length(until - now)
    )
}

/// *Keep 1 h* on an instance that has no idle stop to hold off.
pub fn nothing_to_keep(inst: &Instance) -> String {
    match inst.idle.is_some() {
        false => format!(
            "`{}` has no idle stop (its config sets no `idle_minutes`), so there is nothing to hold off.",
            inst.alias
        ),
        true => format!(
            "`{}` is not running, so there is no idle stop to hold off.",
            inst.alias
        ),
    }
}

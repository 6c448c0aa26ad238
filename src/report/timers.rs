//! Every sentence about time and money: leases, scheduled stops, the warnings
//! before them, the automatic stops, and what an instance costs.

use super::messages::{dry_tag, named};
use crate::config::Instance;
use crate::cost::{Hourly, PriceTable};
use crate::domain::{Lasting, TimerReason};
use crate::store::Session;
use chrono::{DateTime, Utc};

/// Who started a session, for sentences.
fn starter(s: &Session) -> String {
    match &s.started_by {
        Some(p) => named(p),
        None => "someone outside the bot (the console, or before the bot knew)".to_owned(),
    }
}

/// A time as Slack shows it to each reader, in their own time zone; the
/// fallback (UTC) is for clients that cannot.
pub fn when(t: DateTime<Utc>) -> String {
    format!(
        "<!date^{}^{{date_short_pretty}} at {{time}}|{} UTC>",
        t.timestamp(),
        t.format("%Y-%m-%d %H:%M")
    )
}

/// "2 h 5 min", for lengths people read.
pub fn length(d: chrono::Duration) -> String {
    // To the nearest minute: a lease set a moment ago for 2 h reads "2 h".
    let minutes = ((d.num_seconds() + 30) / 60).max(0);
    match (minutes / 60, minutes % 60) {
        (0, m) => format!("{m} min"),
        (h, 0) => format!("{h} h"),
        (h, m) => format!("{h} h {m} min"),
    }
}

fn hours(d: chrono::Duration) -> f64 {
    d.num_seconds().max(0) as f64 / 3600.0
}

/// Said after a start that runs under a lease.
pub fn lease_set(end: DateTime<Utc>, now: DateTime<Utc>, capped: Option<Lasting>) -> String {
    let cap = capped
        .map(|max| format!(" (its `max_hours` allows {max}, so that is the longest it runs)"))
        .unwrap_or_default();
    format!(
        "\n:hourglass_flowing_sand: It stops on its own {} (in {}){cap}; you will be warned before, with a button to keep it.",
        when(end),
        length(end - now)
    )
}

/// The warning before a lease ends or a scheduled stop, over *Keep 1 h* / *Stop now*.
pub fn warning(
    inst: &Instance,
    reason: TimerReason,
    due: DateTime<Utc>,
    now: DateTime<Utc>,
    session: Option<&Session>,
) -> String {
    let why = match reason {
        TimerReason::Lease => "its time is up".to_owned(),
        TimerReason::Schedule => match &inst.stop_at {
            Some(s) => format!("its schedule stops it ({})", s.describe()),
            None => "its schedule stops it".to_owned(),
        },
        TimerReason::Idle => "nobody is using it".to_owned(),
    };
    let whose = session
        .map(|s| format!(", started by {}", starter(s)))
        .unwrap_or_default();
    format!(
        ":alarm_clock: `{}`{whose} will be stopped {} (in {}): {why}. Press *Keep 1 h* to keep it running, or *Stop now* if you are done. Anyone who may operate it can press.{}",
        inst.alias,
        when(due),
        length(due - now),
        dry_tag(inst.backend)
    )
}

/// Why the bot stopped an instance on its own, prefixed to the stop's result.
pub fn stopped_because(inst: &Instance, reason: TimerReason, session: Option<&Session>) -> String {
    match (reason, session) {
        (TimerReason::Lease, Some(s)) => format!(
            ":stopwatch: The bot stopped `{}` because the time asked for when {} started it ran out.",
            inst.alias,
            starter(s)
        ),
        (TimerReason::Lease, None) => {
            format!(
                ":stopwatch: The bot stopped `{}` because its time ran out.",
                inst.alias
            )
        }
        (TimerReason::Idle, s) => super::idle::stopped_because(inst, s),
        (TimerReason::Schedule, _) => format!(
            ":stopwatch: The bot stopped `{}` on its schedule{}.",
            inst.alias,
            inst.stop_at
                .as_ref()
                .map(|s| format!(" ({})", s.describe()))
                .unwrap_or_default()
        ),
    }
}

/// What a session cost, for the stop message.
pub fn session_cost(
    prices: Option<&PriceTable>,
    hourly: Option<Hourly>,
    session: &Session,
    ended: DateTime<Utc>,
) -> String {
    let ran = ended - session.started_at;
    let cost = match (prices, hourly) {
        (Some(_), Some(Hourly::Known(h))) => format!(", about {}", h.over(hours(ran))),
        (Some(_), Some(Hourly::Unpriced(missing))) => {
            format!(
                "; its cost is unknown, as [cost] has no price for {}",
                missing.join(", ")
            )
        }
        _ => String::new(),
    };
    format!(
        "\nThis session ran {}{cost} (compute only: a stopped instance still pays for its disks).",
        length(ran)
    )
}

/// `status` lines about money and time while it runs.
pub fn running_lines(
    hourly: Option<Hourly>,
    session: Option<&Session>,
    next_stop: Option<(DateTime<Utc>, &'static str)>,
    now: DateTime<Utc>,
) -> String {
    let mut out = String::new();
    if let Some(s) = session {
        out.push_str(&format!(
            "\n• running since {} ({}), started by {}",
            when(s.started_at),
            length(now - s.started_at),
            starter(s)
        ));
    }
    if let Some((at, why)) = next_stop {
        out.push_str(&format!(
            "\n• stops {} ({why}, in {})",
            when(at),
            length(at - now)
        ));
    }
    match (hourly, session) {
        (Some(Hourly::Known(h)), Some(s)) => out.push_str(&format!(
            "\n• costs {h} an hour; so far about {}",
            h.over(hours(now - s.started_at))
        )),
        (Some(other), _) => out.push_str(&hourly_line(&other)),
        (None, _) => {}
    }
    out
}

/// The hourly price line of a status, or which price is missing.
pub fn hourly_line(hourly: &Hourly) -> String {
    match hourly {
        Hourly::Known(h) => format!("\n• costs {h} an hour while it runs"),
        Hourly::Unpriced(missing) => format!(
            "\n• cost unknown: [cost] has no price for {}",
            missing.join(", ")
        ),
    }
}

pub fn extended(
    inst: &Instance,
    end: DateTime<Utc>,
    now: DateTime<Utc>,
    capped: Option<Lasting>,
    skipped: bool,
) -> String {
    let cap = capped
        .map(|max| format!(" That is as long as its `max_hours` ({max}) allows."))
        .unwrap_or_default();
    let skip = if skipped {
        " Its scheduled stop before then is skipped."
    } else {
        ""
    };
    format!(
        ":hourglass_flowing_sand: `{}` now stops {} (in {}).{skip}{cap}",
        inst.alias,
        when(end),
        length(end - now)
    )
}

/// Said when a start's time limit could not be stored.
pub fn no_lease_stored() -> String {
    "\n:warning: The bot could not store its time limit, so it will *not* stop on its own: stop it yourself when you are done, and tell the platform team.".to_owned()
}

/// `extend` or *Keep* that would run past `max_hours` by skipping a
/// scheduled stop: refused, and the scheduled stop stays.
pub fn cannot_skip_past_cap(
    inst: &Instance,
    max: Lasting,
    cap: DateTime<Utc>,
    due: DateTime<Utc>,
) -> String {
    format!(
        ":no_entry: `{}` cannot skip its scheduled stop {}: its `max_hours` ({max}) from the start of this session end {}, before then. The scheduled stop stays; ask the platform team to raise `max_hours` if this instance needs longer.",
        inst.alias,
        when(due),
        when(cap)
    )
}

/// *Keep* or `extend` that lost the race with an automatic stop.
pub fn stop_under_way(inst: &Instance) -> String {
    format!(
        ":stopwatch: The automatic stop of `{}` is already under way, so it was not kept. Start it again once it has stopped if you still need it.",
        inst.alias
    )
}

/// Why an automatic stop could not be sent now.
pub fn cannot_stop_now(inst: &Instance, state: &crate::act::State) -> String {
    format!(
        "`{}` is {state} (`{}`), and the bot only stops a running instance",
        inst.alias,
        state.as_api()
    )
}

/// A stop handed to GitHub whose workflow run never showed up.
pub fn no_run_found(request_id: &str) -> String {
    format!(
        "no workflow run for request `{request_id}` appeared in the ops repository in time (is the workflow there, its secrets set, and the bot's GitHub App allowed Actions: read?)"
    )
}

fn stop_name(inst: &Instance, reason: TimerReason, due: DateTime<Utc>) -> String {
    match reason {
        TimerReason::Lease => format!(
            "the stop of `{}` at its time limit ({})",
            inst.alias,
            when(due)
        ),
        TimerReason::Schedule => format!("the scheduled stop of `{}` ({})", inst.alias, when(due)),
        TimerReason::Idle => format!("the idle stop of `{}` ({})", inst.alias, when(due)),
    }
}

/// Told once per failure episode: the automatic stop did not go through.
pub fn stop_failed(
    inst: &Instance,
    reason: TimerReason,
    due: DateTime<Utc>,
    why: &str,
    next_try: DateTime<Utc>,
    now: DateTime<Utc>,
) -> String {
    format!(
        ":warning: {} did not go through, so `{}` is *still running*: {why}. The bot tries again {} (in {}) and keeps trying, without a message each time; you hear when it has stopped. To stop it now, press *Stop* or use the Google Cloud console.",
        capitalised(&stop_name(inst, reason, due)),
        inst.alias,
        when(next_try),
        length(next_try - now)
    )
}

/// Told to the operators once a stop has failed several times.
pub fn stop_keeps_failing(
    inst: &Instance,
    reason: TimerReason,
    due: DateTime<Utc>,
    why: &str,
    tries: u32,
) -> String {
    format!(
        ":rotating_light: {} has failed {tries} times, so `{}` is still running and costing money. Last failure: {why}. The bot keeps trying; as an operator you can stop it in the Google Cloud console, or fix what the failure names.",
        capitalised(&stop_name(inst, reason, due)),
        inst.alias
    )
}

/// A stop handed to GitHub whose run the bot cannot read.
pub fn stop_unconfirmed(inst: &Instance, due: DateTime<Utc>, why: &str) -> String {
    format!(
        ":grey_question: The bot handed the stop of `{}` (due {}) to GitHub but cannot confirm it ran: {why}. It does not send it again on a guess; check the ops repository's Actions tab, and the instance in the Google Cloud console.",
        inst.alias,
        when(due)
    )
}

/// A session whose instance Google reports deleted.
pub fn deleted(inst: &Instance) -> String {
    format!(
        ":wastebasket: Google reports `{}` as deleted, so its time limit and scheduled stops end here. The platform team should remove it from the config.",
        inst.alias
    )
}

/// After a stop that was confirmed later than it was sent.
pub fn confirmed_stop(inst: &Instance) -> String {
    format!(
        "`{}` is stopped: confirmed by Google or by the workflow run.",
        inst.alias
    )
}

/// Added when an automatic stop came later than it was due.
pub fn late(due: DateTime<Utc>, now: DateTime<Utc>) -> String {
    format!(
        "\n:hourglass: This stop is {} late: it was due {}, and no tick could carry it out before now.",
        length(now - due),
        when(due)
    )
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

pub fn at_cap(inst: &Instance, max: Lasting, end: DateTime<Utc>) -> String {
    format!(
        ":no_entry: `{}` already runs as long as its `max_hours` ({max}) allows; it stops {}. Ask the platform team to raise `max_hours` if this instance needs longer.",
        inst.alias,
        when(end)
    )
}

pub fn nothing_to_extend(inst: &Instance) -> String {
    format!(
        "`{}` has no stop coming up (no time limit and no scheduled stop soon): it keeps running, and the team is reminded again after {} of running with no time limit.",
        inst.alias, inst.remind_after
    )
}

/// The team channel's reminder about an instance running with no time limit.
pub fn reminder(
    inst: &Instance,
    session: &Session,
    now: DateTime<Utc>,
    hourly: Option<Hourly>,
) -> String {
    let cost = match hourly {
        Some(Hourly::Known(h)) => {
            format!(", about {} so far", h.over(hours(now - session.started_at)))
        }
        _ => String::new(),
    };
    format!(
        ":eyes: `{}` has been running for {}{cost} with no time limit (started by {}). Stop it if nobody is using it; *Keep it running* quiets this until another {} has passed.{}",
        inst.alias,
        length(now - session.started_at),
        starter(session),
        inst.remind_after,
        dry_tag(inst.backend)
    )
}

/// An instance running now, for `costs`.
pub struct CostLine {
    pub alias: String,
    pub since: Option<DateTime<Utc>>,
    pub so_far: Option<String>,
}

/// An instance's week, for `costs`.
pub struct WeekLine {
    pub alias: String,
    pub ran: chrono::Duration,
    pub spend: Option<f64>,
}

/// Hours the bot's own stops kept instances off this week, and their cost.
pub struct KeptOff {
    /// "time limits, schedules" or "idle stops".
    pub by: &'static str,
    pub off: chrono::Duration,
    pub cost: f64,
}

/// The `costs` report.
pub fn costs(
    running: &[CostLine],
    week: &[WeekLine],
    kept_off: &[KeptOff],
    currency: Option<&str>,
) -> String {
    let mut out = String::from(
        "*Costs* (compute only: a stopped instance still pays for its disks)\n*Running now*",
    );
    if running.is_empty() {
        out.push_str("\n• nothing you can see is running");
    }
    for r in running {
        out.push_str(&format!("\n• `{}`", r.alias));
        if let Some(t) = r.since {
            out.push_str(&format!(": since {}", when(t)));
        }
        match &r.so_far {
            Some(c) => out.push_str(&format!(", about {c} so far")),
            None => out.push_str(" (cost so far unknown)"),
        }
    }
    out.push_str("\n*This week* (since Monday 00:00 UTC)");
    for w in week {
        let spend = match w.spend {
            _ if w.ran <= chrono::Duration::zero() => String::new(),
            Some(s) => format!(", about {s:.2} {}", currency.unwrap_or("")),
            None => ", cost unknown (no price in [cost])".to_owned(),
        };
        out.push_str(&format!("\n• `{}`: {}{spend}", w.alias, length(w.ran)));
    }
    for k in kept_off.iter().filter(|k| k.off > chrono::Duration::zero()) {
        let cost = currency
            .map(|cur| format!(", about {:.2} {cur}", k.cost))
            .unwrap_or_default();
        out.push_str(&format!(
            "\nThe bot's own stops ({}) kept instances off for {}{cost} this week, counted until each was next started.",
            k.by,
            length(k.off)
        ));
    }
    out
}

/// What the stop of a timer adds in front of the result.
pub fn timer_stop_note(
    inst: &Instance,
    who: &crate::domain::Principal,
    session: Option<&crate::store::Session>,
) -> Option<String> {
    match who {
        crate::domain::Principal::Timer(reason) => Some(stopped_because(inst, *reason, session)),
        _ => None,
    }
}

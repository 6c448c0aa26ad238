//! The cost-control sections: `[scheduler]` (ticks, reminders, who may call
//! `POST /tasks/tick`), `[cost]` (the team's prices), and hours as written.

use super::lists::Problems;
use super::raw::{RawCost, RawIdle, RawInstance, RawReport, RawScheduler};
use super::{IdleRule, PriceTable, ReportConfig, SchedulerConfig};
use crate::domain::Lasting;
use std::collections::BTreeMap;
use std::time::Duration;
use toml::Spanned;

/// Minutes of warning before a lease ends or a scheduled stop, unless set.
pub(super) const DEFAULT_WARN_MINUTES: u32 = 15;

pub(super) fn scheduler(raw: &RawScheduler, p: &mut Problems) -> SchedulerConfig {
    let tick = *raw.tick_seconds.get_ref();
    if !(1..=3600).contains(&tick) {
        p.add(
            raw.tick_seconds.span(),
            "scheduler.tick_seconds must be between 1 and 3600".into(),
        );
    }
    let jwks_url = raw.jwks_url.get_ref();
    if url::Url::parse(jwks_url).is_err() {
        p.add(
            raw.jwks_url.span(),
            format!("scheduler.jwks_url \"{jwks_url}\" is not a URL"),
        );
    }
    let text = |v: &Option<Spanned<String>>| {
        v.as_ref()
            .map(|s| s.get_ref().trim().to_owned())
            .filter(|s| !s.is_empty())
    };
    let (audience, invoker) = (text(&raw.audience), text(&raw.invoker));
    if audience.is_some() != invoker.is_some() {
        let span = raw
            .audience
            .as_ref()
            .or(raw.invoker.as_ref())
            .map(|s| s.span())
            .unwrap_or(0..0);
        p.add(
            span,
            "scheduler.audience and scheduler.invoker go together: POST /tasks/tick checks both (the URL Cloud Scheduler calls, and its service account's email)".into(),
        );
    }
    if let Some(i) = &invoker
        && !i.contains('@')
    {
        let span = raw.invoker.as_ref().map(|s| s.span()).unwrap_or(0..0);
        p.add(
            span,
            format!("scheduler.invoker \"{i}\" must be a service account's email"),
        );
    }
    let remind_after = hours(&raw.remind_after_hours, "scheduler.remind_after_hours", p)
        .unwrap_or(Lasting::from_minutes(360).expect("six hours is a length"));
    SchedulerConfig {
        remind_after,
        tick: Duration::from_secs(tick.clamp(1, 3600)),
        jwks_url: jwks_url.clone(),
        audience,
        invoker,
    }
}

pub(super) fn cost(raw: &RawCost, p: &mut Problems) -> PriceTable {
    let currency = raw.currency.get_ref().trim().to_owned();
    if currency.is_empty() {
        p.add(
            raw.currency.span(),
            "cost.currency must name a currency, like \"USD\"".into(),
        );
    }
    let mut prices =
        |table: &BTreeMap<String, Spanned<f64>>, what: &str| -> BTreeMap<String, f64> {
            table
                .iter()
                .filter_map(|(name, price)| {
                    let v = *price.get_ref();
                    if v.is_finite() && v >= 0.0 {
                        Some((name.clone(), v))
                    } else {
                        p.add(
                            price.span(),
                            format!("cost.{what}.\"{name}\" must be a price per hour of 0 or more"),
                        );
                        None
                    }
                })
                .collect()
        };
    let machine_types = prices(&raw.machine_types, "machine_types");
    let accelerators = prices(&raw.accelerators, "accelerators");
    PriceTable {
        currency,
        machine_types,
        accelerators,
    }
}

/// `[idle] check_minutes`: from a minute (Monitoring aligns per minute) to an hour.
pub(super) fn idle_check(raw: &RawIdle, p: &mut Problems) -> Lasting {
    let minutes = *raw.check_minutes.get_ref();
    if !(1..=60).contains(&minutes) {
        p.add(
            raw.check_minutes.span(),
            "idle.check_minutes must be between 1 and 60".into(),
        );
    }
    Lasting::from_minutes(minutes.clamp(1, 60)).expect("1 to 60 minutes is a length")
}

/// `[report]`: a channel id, one day (`mon`…`sun`), a time and a zone.
pub(super) fn report(raw: &Spanned<RawReport>, p: &mut Problems) -> Option<ReportConfig> {
    let r = raw.get_ref();
    let channel = r.channel.trim();
    if !(channel.starts_with('C') || channel.starts_with('G'))
        || channel.len() < 9
        || !channel
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    {
        p.add(
            raw.span(),
            format!("report.channel \"{channel}\" must be a channel id like C0123ABCD (the bot must be a member)"),
        );
    }
    let day = r.day.trim().to_ascii_lowercase();
    let one_day = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"].contains(&day.as_str());
    if !one_day {
        p.add(
            raw.span(),
            format!(
                "report.day \"{}\" must be one day: mon, tue, wed, thu, fri, sat or sun",
                r.day
            ),
        );
    }
    let at = crate::schedule::StopSchedule::parse(&r.time, &day, &r.timezone)
        .map_err(|e| p.add(raw.span(), format!("report: {e}")))
        .ok()?;
    one_day.then(|| ReportConfig {
        channel: channel.to_owned(),
        at,
    })
}

/// The longest idle window: a day of per-minute figures in one read.
const MAX_IDLE_MINUTES: u32 = 24 * 60;

/// `idle_minutes` with its thresholds; thresholds without it are refused,
/// since they would silently do nothing.
pub(super) fn idle_rule(
    inst: &RawInstance,
    field: &dyn Fn(&str) -> String,
    p: &mut Problems,
) -> Option<IdleRule> {
    let mut percent = |v: &Option<Spanned<f64>>, key: &str| -> f64 {
        let Some(v) = v else { return 5.0 };
        if inst.idle_minutes.is_none() {
            p.add(
                v.span(),
                field(&format!("sets {key} but not idle_minutes, so it would do nothing; set idle_minutes to stop it when idle")),
            );
        }
        let x = *v.get_ref();
        if !(x.is_finite() && x > 0.0 && x <= 100.0) {
            p.add(
                v.span(),
                field(&format!("{key} must be a percent above 0 and at most 100")),
            );
        }
        x
    };
    let cpu_percent = percent(&inst.idle_cpu_percent, "idle_cpu_percent");
    let gpu_percent = percent(&inst.idle_gpu_percent, "idle_gpu_percent");
    let minutes = inst.idle_minutes.as_ref()?;
    let m = *minutes.get_ref();
    if !(1..=MAX_IDLE_MINUTES).contains(&m) {
        p.add(
            minutes.span(),
            field(&format!(
                "idle_minutes must be between 1 and {MAX_IDLE_MINUTES} (a day)"
            )),
        );
        return None;
    }
    Some(IdleRule {
        after: Lasting::from_minutes(m).ok()?,
        cpu_percent,
        gpu_percent,
    })
}

/// Hours as written (`8`, `1.5`), as whole minutes from one minute to a week.
pub(super) fn hours(h: &Spanned<f64>, what: &str, p: &mut Problems) -> Option<Lasting> {
    let minutes = h.get_ref() * 60.0;
    let whole = minutes.round();
    if !(minutes.is_finite() && (whole - minutes).abs() < 1e-6) {
        p.add(
            h.span(),
            format!("{what} must be a whole number of minutes, like 8 or 1.5"),
        );
        return None;
    }
    Lasting::from_minutes(whole.clamp(0.0, f64::from(u32::MAX)) as u32)
        .map_err(|e| p.add(h.span(), format!("{what}: {e}")))
        .ok()
}

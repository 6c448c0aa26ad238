//! `costs`: what the instances a person can see cost. Running now, with the
//! cost so far; this week's hours and spend per instance, read from the audit
//! trail; and the hours the bot's own stops kept instances off, counted
//! until the next start (or now), idle stops apart from time limits and
//! schedules: an upper bound on what they saved, since nobody knows when a
//! person would have stopped it.

use super::App;
use super::verdict::Verdict;
use crate::act::InstanceStatus;
use crate::config::Instance;
use crate::cost::Hourly;
use crate::domain::{Principal, TimerReason, Verb};
use crate::report::timers::{self as say, CostLine, KeptOff, WeekLine};
use crate::store::{AuditDecision, Change, OutcomeKind};
use chrono::{DateTime, Datelike, Duration, Utc};
use std::collections::HashMap;

impl App {
    pub(super) async fn costs(&self, who: &Principal) -> Verdict {
        let visible: Vec<&Instance> = self.policy.visible(who).collect();
        let now = self.now();
        let monday = (now - Duration::days(i64::from(now.weekday().num_days_from_monday())))
            .date_naive()
            .and_hms_opt(0, 0, 0)
            .expect("midnight exists")
            .and_utc();
        // Only the starts and stops of instances this person may see are read.
        let aliases: Vec<&str> = visible.iter().map(|i| i.alias.as_ref()).collect();
        let changes = match self
            .store
            .db()
            .changes_since(&aliases, &monday.to_rfc3339())
            .await
        {
            Ok(r) => r,
            Err(e) => {
                return Verdict::info(
                    format!(
                        ":x: The bot could not read its audit trail ({e}); no report now. This is on the bot's side; tell the platform team."
                    ),
                    OutcomeKind::Failed(crate::act::Side::Bot),
                );
            }
        };
        let mut trails: HashMap<&str, Vec<&Change>> = HashMap::new();
        for r in &changes {
            trails.entry(r.instance.as_str()).or_default().push(r);
        }
        let statuses = self.statuses(&visible).await;
        let mut running = Vec::new();
        let mut week = Vec::new();
        let mut kept_off = [
            KeptOff {
                by: "time limits, schedules",
                off: Duration::zero(),
                cost: 0.0,
            },
            KeptOff {
                by: "idle stops",
                off: Duration::zero(),
                cost: 0.0,
            },
        ];
        let mut currency = None;
        for (inst, status) in visible.iter().zip(&statuses) {
            let hourly = status.as_ref().ok().and_then(|s| self.hourly(s));
            let price = match &hourly {
                Some(Hourly::Known(m)) => {
                    currency = Some(m.currency.clone());
                    Some(m.amount)
                }
                _ => None,
            };
            if let Ok(s) = status
                && s.state.is_running_or_coming_up()
            {
                running.push(self.running_line(inst, s, now).await);
            }
            let mine = trails
                .get(inst.alias.as_ref())
                .map_or(&[][..], Vec::as_slice);
            let t = tally(mine, monday, now, inst.max_lease.is_some());
            let ran = t.ran;
            // Time limits and schedules together, idle stops apart.
            let off = [t.kept_off[0] + t.kept_off[1], t.kept_off[2]];
            for (k, off) in kept_off.iter_mut().zip(off) {
                k.off += off;
                k.cost += price.unwrap_or(0.0) * hours(off);
            }
            week.push(WeekLine {
                alias: inst.alias.to_string(),
                ran,
                spend: price.map(|p| p * hours(ran)),
            });
        }
        Verdict::info(
            say::costs(&running, &week, &kept_off, currency.as_deref()),
            OutcomeKind::Costs,
        )
    }

    async fn running_line(
        &self,
        inst: &Instance,
        status: &InstanceStatus,
        now: DateTime<Utc>,
    ) -> CostLine {
        let session = self.session_of(inst).await;
        let since = session.map(|s| s.started_at);
        let so_far = match (self.hourly(status), since) {
            (Some(Hourly::Known(h)), Some(t)) => Some(h.over(hours(now - t)).to_string()),
            _ => None,
        };
        CostLine {
            alias: inst.alias.to_string(),
            since,
            so_far,
        }
    }
}

pub(crate) fn hours(d: Duration) -> f64 {
    d.num_seconds().max(0) as f64 / 3600.0
}

/// Why the bot's own stop kept an instance off: the index into
/// [`Tally::kept_off`].
pub(crate) fn cause(principal: &str) -> Option<usize> {
    match Principal::parse(principal)? {
        Principal::Timer(TimerReason::Lease) => Some(0),
        Principal::Timer(TimerReason::Schedule) => Some(1),
        Principal::Timer(TimerReason::Idle) => Some(2),
        _ => None,
    }
}

/// One instance's week, read from its starts and stops.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    /// How long it ran.
    pub ran: Duration,
    /// How long the bot's own stops kept it off until its next start: by
    /// time limits, schedules and idle stops.
    pub kept_off: [Duration; 3],
    /// How long it ran on starts with no time limit.
    pub unbounded: Duration,
    /// How long it ran, by who started each run.
    pub by_starter: HashMap<String, Duration>,
}

/// One instance's week from its audit rows (oldest first, none at or after
/// `end`). `capped`: its config sets `max_hours`, so every start has a limit.
pub(crate) fn tally(
    rows: &[&Change],
    week_start: DateTime<Utc>,
    end: DateTime<Utc>,
    capped: bool,
) -> Tally {
    let mut t = Tally::default();
    // The run under way: since when, who started it, and whether it had a limit.
    let mut up: Option<(DateTime<Utc>, Option<String>, bool)> = None;
    // When the bot's stop took it down, and which cause it counts for.
    let mut off_since: Option<(DateTime<Utc>, usize)> = None;
    let mut seen_any = false;
    let end_run =
        |t: &mut Tally, (from, by, bounded): (DateTime<Utc>, Option<String>, bool), to| {
            let ran = to - from;
            t.ran += ran;
            if !bounded {
                t.unbounded += ran;
            }
            if let Some(by) = by {
                *t.by_starter.entry(by).or_default() += ran;
            }
        };
    for r in rows {
        if r.decision != AuditDecision::Allowed {
            continue;
        }
        let verb = r.command.split(' ').next().and_then(Verb::from_word);
        let took_effect = matches!(
            &r.outcome.kind,
            OutcomeKind::Done(_) | OutcomeKind::Unchanged(_) | OutcomeKind::HandedOff
        );
        match (verb, took_effect) {
            (Some(Verb::Start), true) => {
                if let Some((off, by)) = off_since.take() {
                    t.kept_off[by] += r.at - off;
                }
                let bounded = capped || r.command.contains(" for ");
                up.get_or_insert((r.at, Some(r.principal.clone()), bounded));
            }
            (Some(Verb::Stop), true) => {
                // A stop with no start before it this week: it ran since Monday.
                let run = up
                    .take()
                    .or((!seen_any).then_some((week_start, None, capped)));
                if let Some(run) = run {
                    end_run(&mut t, run, r.at);
                }
                if let Some(by) = cause(&r.principal) {
                    off_since = Some((r.at, by));
                }
            }
            _ => continue,
        }
        seen_any = true;
    }
    if let Some(run) = up {
        end_run(&mut t, run, end);
    }
    if let Some((off, by)) = off_since {
        t.kept_off[by] += end - off;
    }
    t
}

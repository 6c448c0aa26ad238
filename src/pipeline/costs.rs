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
            let running = self.running_before(inst, monday).await;
            let t = tally(mine, monday, now, inst.max_lease.is_some(), running);
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

impl App {
    /// The run of an instance whose session began before `from`: a week's
    /// rows alone cannot see it.
    pub(super) async fn running_before(&self, inst: &Instance, from: DateTime<Utc>) -> Option<Run> {
        let s = self.session_of(inst).await?;
        (s.started_at < from).then(|| {
            let bounded = inst.max_lease.is_some() || s.ends_at.is_some();
            (
                from,
                s.started_by.as_ref().map(ToString::to_string),
                bounded,
            )
        })
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

/// A run under way when a window begins: since when, who started it, and
/// whether it had a time limit (from the instance's session).
pub(crate) type Run = (DateTime<Utc>, Option<String>, bool);

/// One instance's week from its audit rows (oldest first, none at or after
/// `end`). `capped`: its config sets `max_hours`, so every start has a limit.
/// `running`: its session, when it was running before the window and its
/// rows there say nothing (a run started last week and never stopped).
pub(crate) fn tally(
    rows: &[&Change],
    week_start: DateTime<Utc>,
    end: DateTime<Utc>,
    capped: bool,
    running: Option<Run>,
) -> Tally {
    let mut t = Tally::default();
    // The run under way: since when, who started it, and whether it had a limit.
    let mut up: Option<Run> = None;
    // When the bot's stop took it down, and which cause it counts for.
    let mut off_since: Option<(DateTime<Utc>, usize)> = None;
    let mut seen_any = false;
    let end_run = |t: &mut Tally, (from, by, bounded): Run, to| {
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
        // A stop that found it stopped already ended no run and saved nothing.
        let changed = matches!(
            &r.outcome.kind,
            OutcomeKind::Done(_) | OutcomeKind::HandedOff
        );
        let unchanged = matches!(&r.outcome.kind, OutcomeKind::Unchanged(_));
        match (verb, changed, unchanged) {
            (Some(Verb::Start), true, _) | (Some(Verb::Start), _, true) => {
                if let Some((off, by)) = off_since.take() {
                    t.kept_off[by] += r.at - off;
                }
                // Only the words before `because` are the command's own.
                let own = r.command.split(" because ").next().unwrap_or_default();
                let bounded = capped || own.contains(" for ");
                up.get_or_insert((r.at, Some(r.principal.clone()), bounded));
            }
            (Some(Verb::Stop), true, _) => {
                // A stop with no start before it this week: it ran since Monday.
                let run = up.take().or_else(|| {
                    (!seen_any).then(|| running.clone().unwrap_or((week_start, None, capped)))
                });
                if let Some(run) = run {
                    end_run(&mut t, run, r.at);
                }
                if let Some(by) = cause(&r.principal) {
                    off_since = Some((r.at, by));
                }
            }
            (Some(Verb::Stop), _, true) => {
                if let Some(run) = up.take() {
                    end_run(&mut t, run, r.at);
                }
            }
            _ => continue,
        }
        seen_any = true;
    }
    if !seen_any {
        up = running;
    }
    if let Some(run) = up {
        end_run(&mut t, run, end);
    }
    if let Some((off, by)) = off_since {
        t.kept_off[by] += end - off;
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(h: i64) -> DateTime<Utc> {
        "2026-12-07T00:00:00Z".parse::<DateTime<Utc>>().unwrap() + Duration::hours(h)
    }

    fn change(h: i64, who: &str, command: &str, outcome: OutcomeKind) -> Change {
        Change {
            instance: "gpu".into(),
            at: at(h),
            principal: who.into(),
            command: command.into(),
            decision: AuditDecision::Allowed,
            outcome: outcome.into(),
        }
    }

    fn done(state: &str) -> OutcomeKind {
        OutcomeKind::Done(state.into())
    }

    #[test]
    fn a_stop_that_found_it_stopped_adds_no_hours_and_saves_nothing() {
        let rows = [
            change(
                10,
                "timer:schedule",
                "stop gpu",
                OutcomeKind::Unchanged("STOPPED".into()),
            ),
            change(
                20,
                "U01AAAAAAAA",
                "stop gpu",
                OutcomeKind::Unchanged("STOPPED".into()),
            ),
        ];
        let refs: Vec<&Change> = rows.iter().collect();
        let t = tally(&refs, at(0), at(100), false, None);
        assert_eq!(t.ran, Duration::zero());
        assert_eq!(t.kept_off, [Duration::zero(); 3]);
    }

    #[test]
    fn a_run_begun_before_the_week_with_no_rows_in_it_counts_the_whole_week() {
        let running = Some((at(0), Some("U01AAAAAAAA".to_owned()), false));
        let t = tally(&[], at(0), at(168), false, running);
        assert_eq!(t.ran, Duration::hours(168));
        assert_eq!(t.unbounded, Duration::hours(168));
        assert_eq!(t.by_starter["U01AAAAAAAA"], Duration::hours(168));
    }

    #[test]
    fn only_the_words_before_because_say_whether_a_start_had_a_limit() {
        let rows = [
            change(
                0,
                "U01AAAAAAAA",
                "start gpu because it is for training",
                done("ACTIVE"),
            ),
            change(5, "timer:idle", "stop gpu", done("STOPPED")),
            change(
                6,
                "U01BBBBBBBB",
                "start gpu for 2h because tests",
                done("ACTIVE"),
            ),
            change(8, "timer:lease", "stop gpu", done("STOPPED")),
        ];
        let refs: Vec<&Change> = rows.iter().collect();
        let t = tally(&refs, at(0), at(10), false, None);
        assert_eq!(t.ran, Duration::hours(7));
        assert_eq!(t.unbounded, Duration::hours(5));
        assert_eq!(
            t.kept_off,
            [Duration::hours(2), Duration::zero(), Duration::hours(1)]
        );
        assert_eq!(t.by_starter["U01BBBBBBBB"], Duration::hours(2));
    }
}

//! The weekly cost report: the week's figures from the audit trail (the same
//! tally `costs` reads, split by cause), the chart, and posting both to
//! `[report] channel`; `report now` (admins) posts it at once. When it is
//! due, a tick posts it (see `crate::timers`), claimed so one replica does.

use super::App;
use super::costs::{hours, tally};
use super::verdict::Verdict;
use crate::config::{Instance, ReportConfig};
use crate::cost::Hourly;
use crate::domain::Principal;
use crate::report::chart::{self, Bar};
use crate::report::upload::Picture;
use crate::report::weekly::{self as say, Line, Saved, Week};
use crate::report::{Reply, ReplyTo};
use crate::store::{Change, OutcomeKind, StoreError};
use chrono::{DateTime, Duration, Utc};
use std::collections::HashMap;

const CAUSES: [&str; 3] = ["time limits", "schedules", "idle stops"];

impl App {
    /// `report now`: the admins' way to post the report at once.
    pub(super) async fn report_now(&self, who: &Principal) -> Verdict {
        if !self.policy.is_admin(who) {
            return Verdict::info(say::only_admins(&self.policy.ask()), OutcomeKind::Nothing);
        }
        let Some(cfg) = &self.config.report else {
            return Verdict::info(say::no_channel(), OutcomeKind::Nothing);
        };
        match self.post_weekly(cfg, self.now(), String::new()).await {
            Ok(()) => Verdict::info(say::posted(&cfg.channel), OutcomeKind::Costs),
            Err(why) => Verdict::info(
                say::not_posted(&why),
                OutcomeKind::Failed(crate::act::Side::Bot),
            ),
        }
    }

    /// Posts the report of the week that ends at `end` to its channel: with
    /// its chart when Slack lets the bot upload one, else as text that says
    /// why there is no chart.
    pub(crate) async fn post_weekly(
        &self,
        cfg: &ReportConfig,
        end: DateTime<Utc>,
        note: String,
    ) -> Result<(), String> {
        // What this process queued moments ago belongs to the week too.
        self.store.flush().await;
        let week = self.week(end).await.map_err(|e| e.to_string())?;
        let mut text = say::text(&week);
        text.push_str(&note);
        let bars: Vec<Bar> = week
            .lines
            .iter()
            .map(|l| Bar {
                alias: l.alias.clone(),
                spend: l.spend.unwrap_or(0.0),
                saved: l.saved,
            })
            .collect();
        let currency = week.currency.clone().unwrap_or_else(|| "hours".into());
        let why_not = match chart::weekly(
            &bars,
            &currency,
            "Spend this week, and what the bot's stops saved",
        ) {
            Ok(png) => {
                let picture = Picture {
                    channel: &cfg.channel,
                    filename: "weekly-notebook-report.png",
                    title: "Notebook spend this week",
                    png,
                    comment: &text,
                };
                match self.reporter.upload_png(picture).await {
                    Ok(()) => return Ok(()),
                    Err(e) if e.code() == Some("missing_scope") => say::chart_needs_scope(),
                    Err(e) => {
                        tracing::warn!(error = %e, "could not upload the weekly report's chart; posting it as text");
                        say::no_chart(&e.to_string())
                    }
                }
            }
            Err(e) => say::no_chart(&e.to_string()),
        };
        text.push_str(&why_not);
        self.reporter
            .post(&ReplyTo::Channel(cfg.channel.clone()), &Reply::text(text))
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// The figures of the week that ends at `end`: since the report's
    /// previous occurrence (a week in its zone, whatever daylight saving did
    /// to it), or the last seven days for `report now`.
    async fn week(&self, end: DateTime<Utc>) -> Result<Week, StoreError> {
        let seven = end - Duration::days(7);
        let from = self
            .config
            .report
            .as_ref()
            .and_then(|r| r.at.last_at_or_before_utc(end - Duration::minutes(1)))
            .filter(|prev| (*prev - seven).num_hours().abs() <= 2)
            .unwrap_or(seven);
        let all: Vec<&Instance> = self.config.instances.iter().collect();
        let aliases: Vec<&str> = all.iter().map(|i| i.alias.as_ref()).collect();
        let changes = self
            .store
            .db()
            .changes_since(&aliases, &from.to_rfc3339())
            .await?;
        let mut trails: HashMap<&str, Vec<&Change>> = HashMap::new();
        for c in changes.iter().filter(|c| c.at < end) {
            trails.entry(c.instance.as_str()).or_default().push(c);
        }
        let statuses = self.statuses(&all).await;
        let mut week = Week {
            from,
            to: end,
            currency: self.config.prices.as_ref().map(|p| p.currency.clone()),
            lines: Vec::new(),
            saved: CAUSES
                .iter()
                .map(|by| Saved {
                    by,
                    off: Duration::zero(),
                    cost: 0.0,
                })
                .collect(),
            unbounded: Vec::new(),
            starters: Vec::new(),
        };
        let mut starters: HashMap<String, Duration> = HashMap::new();
        for (inst, status) in all.iter().zip(&statuses) {
            let price = match status.as_ref().ok().and_then(|s| self.hourly(s)) {
                Some(Hourly::Known(m)) => Some(m.amount),
                _ => None,
            };
            let rows = trails
                .get(inst.alias.as_ref())
                .map_or(&[][..], Vec::as_slice);
            let running = self.running_before(inst, from).await;
            let t = tally(rows, from, end, inst.max_lease.is_some(), running);
            for (s, off) in week.saved.iter_mut().zip(t.kept_off.iter().copied()) {
                s.off += off;
                s.cost += price.unwrap_or(0.0) * hours(off);
            }
            if t.unbounded > Duration::zero() {
                week.unbounded.push((inst.alias.to_string(), t.unbounded));
            }
            for (who, d) in t.by_starter {
                *starters.entry(who).or_default() += d;
            }
            let off: Duration = t.kept_off.iter().copied().sum();
            week.lines.push(Line {
                alias: inst.alias.to_string(),
                ran: t.ran,
                spend: price.map(|p| p * hours(t.ran)),
                saved: price.unwrap_or(0.0) * hours(off),
                off,
            });
        }
        week.unbounded.sort_by_key(|(_, d)| std::cmp::Reverse(*d));
        week.starters = starters.into_iter().collect();
        week.starters
            .sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        Ok(week)
    }
}

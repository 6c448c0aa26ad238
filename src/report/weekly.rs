//! The weekly report's words: the week's hours and spend per instance, what
//! the bot's own stops saved by cause, what ran longest without a time limit,
//! and who started the most hours.

use super::messages::named;
use super::timers::{length, when};
use crate::domain::Principal;
use chrono::{DateTime, Duration, Utc};

/// One instance's week.
pub struct Line {
    pub alias: String,
    pub ran: Duration,
    /// `None`: [cost] has no price for it (or its state could not be read).
    pub spend: Option<f64>,
    /// What the bot's own stops kept off, priced (0 without a price).
    pub saved: f64,
    /// How long the bot's own stops kept it off.
    pub off: Duration,
}

/// What the bot's stops kept off, by cause, with its cost.
pub struct Saved {
    pub by: &'static str,
    pub off: Duration,
    pub cost: f64,
}

/// Everything the report says.
pub struct Week {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub currency: Option<String>,
    pub lines: Vec<Line>,
    pub saved: Vec<Saved>,
    /// Instances by hours run on starts with no time limit, longest first.
    pub unbounded: Vec<(String, Duration)>,
    /// Starters by hours their starts ran, most first.
    pub starters: Vec<(String, Duration)>,
}

fn money(amount: f64, currency: Option<&str>) -> String {
    match currency {
        Some(c) => format!(", about {amount:.2} {c}"),
        None => String::new(),
    }
}

/// The report's text.
pub fn text(w: &Week) -> String {
    let cur = w.currency.as_deref();
    let mut out = format!(
        ":bar_chart: *Weekly notebook report*: {} to {}\n*Hours and spend*",
        when(w.from),
        when(w.to)
    );
    let mut total = 0.0;
    for l in &w.lines {
        let spend = match l.spend {
            _ if l.ran <= Duration::zero() => String::new(),
            Some(s) => {
                total += s;
                money(s, cur)
            }
            None => ", cost unknown (no price in [cost] for it, or Google did not say its machine)"
                .into(),
        };
        out.push_str(&format!("\n• `{}`: {}{spend}", l.alias, length(l.ran)));
    }
    if cur.is_some() {
        out.push_str(&format!("\nIn all{}.", money(total, cur)));
    }
    out.push_str("\n*What the bot's own stops saved* (hours off until each was next started: an upper bound)");
    for s in &w.saved {
        out.push_str(&format!(
            "\n• {}: {}{}",
            s.by,
            length(s.off),
            money(s.cost, cur)
        ));
    }
    out.push_str("\n*Ran longest without a time limit*");
    if w.unbounded.is_empty() {
        out.push_str("\n• nothing ran without one");
    }
    for (alias, d) in w.unbounded.iter().take(3) {
        out.push_str(&format!("\n• `{alias}`: {}", length(*d)));
    }
    out.push_str("\n*Started the most hours*");
    if w.starters.is_empty() {
        out.push_str("\n• nobody started anything through the bot");
    }
    for (who, d) in w.starters.iter().take(3) {
        let who = Principal::parse(who).map_or_else(|| who.clone(), |p| named(&p));
        out.push_str(&format!("\n• {who}: {}", length(*d)));
    }
    out
}

/// Said when the tick that should have posted it was missed.
pub fn late(due: DateTime<Utc>) -> String {
    format!(
        "\n_This report is late: it was due {}, when no tick reached the bot._",
        when(due)
    )
}

/// Said when the chart could not go up with the report.
pub fn no_chart(why: &str) -> String {
    format!("\n_No chart this week: {why}._")
}

/// Why there is no chart, for a workspace that did not grant `files:write`.
pub fn chart_needs_scope() -> String {
    no_chart(
        "the app may not upload files; add the optional `files:write` bot scope (OAuth & Permissions) and reinstall the app to get the chart",
    )
}

/// `report now` answered to an admin.
pub fn posted(channel: &str) -> String {
    format!(":white_check_mark: The weekly report was posted in <#{channel}>.")
}

pub fn no_channel() -> String {
    "No `[report] channel` is set in the config, so there is nowhere to post the weekly report."
        .into()
}

pub fn only_admins(ask: &str) -> String {
    format!(
        "Only the bot's admins may post the weekly report at once; ask {ask}. `costs` shows this week's figures to anyone."
    )
}

pub fn not_posted(e: &dyn std::fmt::Display) -> String {
    format!(
        ":x: The weekly report could not be posted: {e}. This is on Slack's side or the bot's; tell the platform team."
    )
}

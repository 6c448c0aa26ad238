//! The App Home tab: a person's own notebooks with the buttons they may
//! press, the approval requests waiting for them, and what could not be
//! read. Built as the `view` of `views.publish`; the action ids are the
//! cards' own, so a press from the Home takes the same path as any other.

use super::blocks::{ACTION_KEEP, ACTION_KEEP_IDLE, ACTION_START, ACTION_STOP};
use serde_json::{Value, json};

/// *Refresh* on the Home: reads everything again and publishes it.
pub const ACTION_HOME_REFRESH: &str = "home_refresh";

/// A button on an instance's part of the Home.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Press {
    Start,
    Stop,
    /// *Keep 1 h* of its time limit or scheduled stop.
    Keep,
    /// *Keep 1 h* of its idle stops.
    KeepIdle,
}

/// One instance as its Home part shows it.
pub struct Part {
    pub alias: String,
    /// Its state, who started it and since when, what stops it next, its
    /// cost so far and its activity, as `status` says them.
    pub text: String,
    pub presses: Vec<Press>,
}

/// Everything a Home shows.
pub struct Home {
    pub parts: Vec<Part>,
    /// Approval requests waiting for this person's decision: the request's
    /// text and its blocks (with *Approve* / *Deny*).
    pub approvals: Vec<Value>,
    /// For someone who may see nothing: whom to ask.
    pub nothing: Option<String>,
    /// What could not be read, and on whose side.
    pub problems: Vec<String>,
    /// When it was built, as Slack shows a time.
    pub built: String,
}

fn button(action: &str, label: &str, alias: &str, style: Option<&str>) -> Value {
    let mut b = json!({
        "type": "button",
        "action_id": action,
        "value": alias,
        "text": {"type": "plain_text", "text": label},
    });
    if let Some(s) = style {
        b["style"] = json!(s);
    }
    b
}

fn press(p: Press, alias: &str) -> Value {
    match p {
        Press::Start => button(ACTION_START, "Start", alias, Some("primary")),
        Press::Stop => {
            let mut b = button(ACTION_STOP, "Stop", alias, Some("danger"));
            b["confirm"] = json!({
                "title": {"type": "plain_text", "text": "Stop this notebook?"},
                "text": {"type": "mrkdwn", "text": format!("Stop `{alias}`? Unsaved work in its kernels is lost.")},
                "confirm": {"type": "plain_text", "text": "Stop it"},
                "deny": {"type": "plain_text", "text": "Keep it running"},
            });
            b
        }
        Press::Keep => button(ACTION_KEEP, "Keep 1 h", alias, None),
        Press::KeepIdle => button(ACTION_KEEP_IDLE, "Keep 1 h (idle stop)", alias, None),
    }
}

fn section(text: &str) -> Value {
    json!({"type": "section", "text": {"type": "mrkdwn", "text": text}})
}

/// The `view` for `views.publish`.
pub fn view(home: &Home) -> Value {
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": "Your notebooks"}}),
        json!({"type": "context", "elements": [{"type": "mrkdwn", "text": format!("As of {}. Results of presses come as direct messages.", home.built)}]}),
    ];
    for p in &home.problems {
        blocks.push(section(&format!(":warning: {p}")));
    }
    if let Some(n) = &home.nothing {
        blocks.push(section(n));
    }
    // Decisions first: a long list of instances must not push them out.
    if !home.approvals.is_empty() {
        blocks.push(json!({"type": "header", "text": {"type": "plain_text", "text": "Waiting for your decision"}}));
        blocks.extend(home.approvals.iter().cloned());
    }
    for part in &home.parts {
        blocks.push(json!({"type": "divider"}));
        blocks.push(section(&part.text));
        let mut buttons: Vec<Value> = part
            .presses
            .iter()
            .map(|p| press(*p, &part.alias))
            .collect();
        buttons.push(button(ACTION_HOME_REFRESH, "Refresh", &part.alias, None));
        blocks.push(json!({"type": "actions", "block_id": format!("home:{}", part.alias), "elements": buttons}));
    }
    if home.parts.is_empty() {
        blocks.push(json!({"type": "actions", "block_id": "home", "elements": [button(ACTION_HOME_REFRESH, "Refresh", "home", None)]}));
    }
    // Slack takes at most 100 blocks in a view: a long list is cut, saying so.
    if blocks.len() > 100 {
        blocks.truncate(99);
        blocks.push(section(
            "…and more: `/notebook list` shows every instance, `/notebook pending` every request.",
        ));
    }
    json!({"type": "home", "blocks": blocks})
}

/// What a Home says when a press or change could not be shown on it.
pub fn store_unreadable(e: &dyn std::fmt::Display) -> String {
    format!(
        "The bot could not read its own store ({e}): time limits, who started what and costs are not shown. This is on the bot's side; tell the platform team."
    )
}

pub fn approvals_unreadable(e: &dyn std::fmt::Display) -> String {
    format!(
        "The bot could not read the approval requests waiting for you ({e}); use `/notebook pending` later. This is on the bot's side."
    )
}

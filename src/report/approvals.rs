//! What approvals say: the request approvers see (with *Approve* / *Deny*),
//! what it turns into once decided, what the requester hears, `pending`, and
//! the small dialog that asks a denier why.

use super::messages::{escape, named};
use super::timers::{hourly_line, length, when};
use crate::config::{Guard, Instance};
use crate::cost::Hourly;
use crate::domain::Principal;
use crate::store::{Approval, ApprovalState, Asking};
use serde_json::{Value, json};
use slack_morphism::prelude::{
    SlackActionsBlock, SlackBlock, SlackBlockButtonElement, SlackBlockButtonStyle,
    SlackBlockMarkDownText, SlackSectionBlock,
};

/// `action_id`s of the request's buttons; the value of each is the request's id.
pub const ACTION_APPROVE: &str = "approval_approve";
pub const ACTION_DENY: &str = "approval_deny";
/// The deny dialog: its `callback_id` (the request's id rides as private
/// metadata) and its one input.
pub const DENY_CALLBACK: &str = "approval_deny_reason";
pub const DENY_BLOCK: &str = "reason";
pub const DENY_ACTION: &str = "reason_input";

fn who_decides(guard: &Guard) -> String {
    guard
        .approvers
        .written
        .iter()
        .map(|w| match w.as_str() {
            "*" => "anyone else in the workspace".to_owned(),
            w if w.starts_with('@') => format!("`{w}`"),
            w => format!("<@{w}>"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn asked_for(a: &Approval) -> String {
    match a.asked.lasting_minutes {
        Some(m) => format!("for {}", length(chrono::Duration::minutes(i64::from(m)))),
        None => "with no time given".to_owned(),
    }
}

/// "to start `gpu` for 2 h", "for 1 h more on `gpu`".
fn what(a: &Approval) -> String {
    match a.asked.kind {
        Asking::Start => format!("to start `{}` {}", a.alias, asked_for(a)),
        Asking::Extend => format!(
            "for {} more on `{}`, past what was approved",
            length(chrono::Duration::minutes(i64::from(
                a.asked.lasting_minutes.unwrap_or(60)
            ))),
            a.alias
        ),
    }
}

/// The requester's answer while more time waits for an approver.
pub fn waiting_more(inst: &Instance, guard: &Guard, a: &Approval) -> String {
    format!(
        ":hourglass_flowing_sand: More time on `{}` goes past what an approver allowed, so it needs a second person's yes: waiting for {}. The request expires {}; until someone approves, its time limit stays as it is.",
        inst.alias,
        who_decides(guard),
        when(a.expires_at),
    )
}

/// A press on a request whose instance this replica's config does not know
/// (a rolling deploy): nothing is decided, and nothing expires.
pub fn unknown_here(alias: &str) -> String {
    format!(
        ":hourglass: This copy of the bot does not know `{alias}` (its config may be changing right now), so nothing was decided. Press again in a minute."
    )
}

/// The request message once the approved start (or extension) has ended.
pub fn approved_end(a: &Approval, end: &str, ok: bool) -> String {
    let mark = if ok { ":white_check_mark:" } else { ":x:" };
    format!("{}\n{mark} How it ended: {end}", decided_text(a))
}

/// The requester's answer while it waits.
pub fn waiting(inst: &Instance, guard: &Guard, a: &Approval) -> String {
    format!(
        ":hourglass_flowing_sand: `{}` needs a second person's yes before it starts: waiting for approval by {}. The request expires {}; you will hear here when someone decides. Nothing has started yet.",
        inst.alias,
        who_decides(guard),
        when(a.expires_at),
    )
}

/// The request approvers see, with its buttons.
pub fn request_text(a: &Approval, hourly: Option<&Hourly>) -> String {
    let mut out = format!(
        ":raised_hand: {} asks {}.\n• Why: {}\n• Expires {} unless someone decides",
        named(&a.asked.requester),
        what(a),
        escape(&a.asked.reason),
        when(a.expires_at),
    );
    if let Some(h) = hourly {
        out.push_str(&hourly_line(h));
    }
    out
}

pub fn request_blocks(a: &Approval, text: &str) -> Vec<SlackBlock> {
    let button = |action: &str, label: &str, style| {
        let mut b = SlackBlockButtonElement::new(label.into())
            .with_action_id(action.into())
            .with_value(a.id.clone());
        b.style = Some(style);
        b.into()
    };
    vec![
        SlackSectionBlock::new()
            .with_text(SlackBlockMarkDownText::new(text.to_owned()).into())
            .into(),
        SlackActionsBlock::new(vec![
            button(ACTION_APPROVE, "Approve", SlackBlockButtonStyle::Primary),
            button(ACTION_DENY, "Deny", SlackBlockButtonStyle::Danger),
        ])
        .with_block_id(format!("approval:{}", a.id).into())
        .into(),
    ]
}

/// The request once decided: no buttons, and who decided.
pub fn decided_text(a: &Approval) -> String {
    let head = format!(
        "{} asked {}. Why: {}",
        named(&a.asked.requester),
        what(a),
        escape(&a.asked.reason),
    );
    let by = a.decided_by.as_ref().map(named).unwrap_or_default();
    match a.state {
        ApprovalState::Approved | ApprovalState::Started => {
            format!(":white_check_mark: *Approved by {by}*.\n{head}")
        }
        ApprovalState::Denied => format!(
            ":no_entry: *Denied by {by}*: {}\n{head}",
            escape(a.note.as_deref().unwrap_or_default())
        ),
        ApprovalState::Expired => format!(
            ":hourglass: *Expired*: {}\n{head}",
            a.note.as_deref().unwrap_or_default()
        ),
        ApprovalState::Waiting => head,
    }
}

/// Why a request expired, for the requester and the request message.
pub fn expired_because_time(waited: chrono::Duration) -> String {
    format!("nobody answered within {}", length(waited))
}

/// The approver's press found another process already carrying it out.
pub fn carried_out_elsewhere() -> String {
    "The start is already being carried out; the requester hears how it ends.".to_owned()
}

/// An approved start the bot could not carry out in time (it was down, or
/// the instance was busy, for longer than another approval timeout).
pub fn grant_lapsed() -> String {
    "the approved start could not be carried out in time, so it was not; ask again if you still need it".to_owned()
}

pub fn expired_because_unguarded(alias: &str) -> String {
    format!("`{alias}` no longer needs approval; start it yourself")
}

/// Told to the requester.
pub fn approved_note(a: &Approval) -> String {
    format!(
        ":white_check_mark: {} approved your start of `{}`.",
        a.decided_by.as_ref().map(named).unwrap_or_default(),
        a.alias
    )
}

pub fn denied_note(a: &Approval) -> String {
    format!(
        ":no_entry: {} denied your start of `{}`: {}\nNothing was started.",
        a.decided_by.as_ref().map(named).unwrap_or_default(),
        a.alias,
        escape(a.note.as_deref().unwrap_or_default()),
    )
}

pub fn expired_note(a: &Approval, why: &str) -> String {
    format!(
        ":hourglass: Your request to start `{}` expired: {why}. Nothing was started.",
        a.alias
    )
}

/// Told to the person who pressed.
pub fn you_approved(a: &Approval, start: &str) -> String {
    format!(
        "You approved {}'s start of `{}`. {}",
        named(&a.asked.requester),
        a.alias,
        start.lines().next().unwrap_or_default()
    )
}

pub fn you_denied(a: &Approval) -> String {
    format!(
        "You denied {}'s start of `{}`; they were told why.",
        named(&a.asked.requester),
        a.alias
    )
}

pub fn already_decided(a: &Approval) -> String {
    let by = a.decided_by.as_ref().map(named);
    match (a.state, by) {
        (ApprovalState::Approved | ApprovalState::Started, Some(by)) => {
            format!("{by} already approved this start of `{}`.", a.alias)
        }
        (ApprovalState::Denied, Some(by)) => {
            format!("{by} already denied this start of `{}`.", a.alias)
        }
        _ => format!(
            "This request to start `{}` has expired; nothing more to decide.",
            a.alias
        ),
    }
}

pub fn own_request(alias: &str) -> String {
    format!(
        ":no_entry_sign: You asked for this start of `{alias}`: another approver must say yes. Nobody approves their own request."
    )
}

pub fn not_approver(alias: &str, guard: &Guard) -> String {
    format!(
        ":no_entry_sign: Only {} may approve or deny starts of `{alias}`.",
        who_decides(guard)
    )
}

pub fn unknown_request() -> String {
    "I don't know that approval request (it may have been made before this bot's store was reset). Ask the requester to start again.".to_owned()
}

pub fn reason_needed(alias: &str, command: &str) -> String {
    format!(
        "`{alias}` needs a second person's yes before it starts, so say why: `{command} start {alias} because …` (or `start {alias} for 3h because …`)."
    )
}

pub fn approver_refused(alias: &str) -> String {
    format!(
        ":no_entry_sign: This start of `{alias}` names no approver that may approve it (one of the instance's approvers, not the requester), so nothing was done."
    )
}

/// A workflow's message asking for more time on a guarded instance.
pub fn more_needs_a_person(alias: &str) -> String {
    format!(
        ":no_entry_sign: More time on `{alias}` past what an approver allowed needs a person's request that an approver can check: use `/notebook extend {alias} 1h`, or the workflow step *Control a notebook* (it knows who runs it)."
    )
}

pub fn needs_a_person(alias: &str) -> String {
    format!(
        ":no_entry_sign: `{alias}` starts only with a person's request that an approver can check: use `/notebook start {alias} because …`, or the workflow step *Control a notebook* (it knows who runs it)."
    )
}

pub fn no_other_approver(alias: &str) -> String {
    format!(
        ":no_entry_sign: `{alias}` needs an approver other than you, and its config names nobody else; ask the platform team."
    )
}

pub fn store_unreadable() -> String {
    ":x: The bot could not read its store, so nothing was decided. This is on the bot's side: try again in a moment, or tell the platform team.".to_owned()
}

pub fn not_asked(alias: &str, e: &str) -> String {
    format!(
        ":x: I could not post the approval request for `{alias}` in Slack ({e}), so nobody was asked and nothing started. Try again; if it keeps failing, tell the platform team."
    )
}

/// One line of `pending`.
pub fn pending_line(a: &Approval, who: &Principal, guard: Option<&Guard>) -> String {
    let role = if a.asked.requester.same_as(who) {
        match guard {
            Some(g) => format!("yours, waiting for {}", who_decides(g)),
            None => "yours".to_owned(),
        }
    } else {
        format!("asked by {}, yours to decide", named(&a.asked.requester))
    };
    format!(
        "• `{}` {} ({role}); why: {}; expires {}",
        a.alias,
        asked_for(a),
        escape(&a.asked.reason),
        when(a.expires_at)
    )
}

pub fn pending(lines: &[String]) -> String {
    if lines.is_empty() {
        return "No approval requests are waiting for you.".to_owned();
    }
    format!("*Waiting for approval*\n{}", lines.join("\n"))
}

/// The deny dialog for `views.open`.
pub fn deny_view(trigger_id: &str, a: &Approval) -> Value {
    json!({
        "trigger_id": trigger_id,
        "view": {
            "type": "modal",
            "callback_id": DENY_CALLBACK,
            "private_metadata": a.id,
            "title": {"type": "plain_text", "text": "Deny this start"},
            "submit": {"type": "plain_text", "text": "Deny"},
            "close": {"type": "plain_text", "text": "Cancel"},
            "blocks": [
                {"type": "section", "text": {"type": "mrkdwn", "text": request_text(a, None)}},
                {"type": "input", "block_id": DENY_BLOCK,
                 "label": {"type": "plain_text", "text": "Why not? The requester is told."},
                 "element": {"type": "plain_text_input", "action_id": DENY_ACTION, "multiline": true,
                             "max_length": crate::parse::MAX_REASON}}
            ]
        }
    })
}

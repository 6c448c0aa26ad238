//! Block Kit: the card under a status or result, and the dialog. Every button's
//! `action_id` and the dialog's ids are here, so the transport that reads a
//! press and the code that drew the button agree.

use serde_json::{Value, json};
use slack_morphism::prelude::{
    SlackActionsBlock, SlackBlock, SlackBlockButtonElement, SlackBlockButtonStyle,
    SlackBlockConfirmItem, SlackBlockMarkDownText, SlackSectionBlock,
};

/// Buttons under a status or result, for someone who may operate the instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Card {
    pub alias: String,
    pub running: bool,
    pub stopped: bool,
    pub can_operate: bool,
    /// Before a stop or in a reminder: a *Keep* button and *Stop now*,
    /// instead of the usual buttons.
    pub keep: Option<Keep>,
}

/// What *Keep* means on a card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// Under a warning: an hour more ([`ACTION_KEEP`]).
    Hour,
    /// Under a reminder: nothing changes; the presser sees the status
    /// ([`ACTION_KEEP_RUNNING`]), and the next reminder waits a period.
    Running,
    /// Under an idle warning: no idle stop for an hour ([`ACTION_KEEP_IDLE`]).
    Idle,
}

/// `action_id`s of the card buttons; the value of each is the alias.
pub const ACTION_START: &str = "notebook_start";
pub const ACTION_STOP: &str = "notebook_stop";
pub const ACTION_REFRESH: &str = "notebook_refresh";
/// *Keep 1 h* under a warning: extends the lease (or skips the scheduled stop)
/// by [`KEEP_MINUTES`].
pub const ACTION_KEEP: &str = "notebook_keep";
pub const KEEP_MINUTES: u32 = 60;
/// *Keep 1 h* under an idle warning: pauses idle stops for [`KEEP_MINUTES`];
/// no time limit moves.
pub const ACTION_KEEP_IDLE: &str = "notebook_keep_idle";
/// *Keep it running* under a reminder: acknowledged with the status.
pub const ACTION_KEEP_RUNNING: &str = "notebook_keep_running";

impl Card {
    /// The card under a warning or reminder about a running instance: its
    /// *Keep* button and *Stop now*, for whoever may operate it.
    pub fn keeping(alias: &str, keep: Keep) -> Self {
        Card {
            alias: alias.to_owned(),
            running: true,
            stopped: false,
            can_operate: true,
            keep: Some(keep),
        }
    }

    /// Start when it is stopped, Stop (confirmed first) when it runs, Refresh
    /// always; or Keep and Stop now under a warning or reminder. Built as typed
    /// blocks: through JSON this was 7 % of the bot's time at saturation.
    pub fn blocks(&self, text: &str) -> Vec<SlackBlock> {
        let button = |action: &str, label: &str, style: Option<SlackBlockButtonStyle>| {
            let mut b = SlackBlockButtonElement::new(label.into())
                .with_action_id(action.into())
                .with_value(self.alias.clone());
            b.style = style;
            b
        };
        let mut buttons = Vec::with_capacity(3);
        if let Some(keep) = self.keep {
            let (action, label) = match keep {
                Keep::Hour => (ACTION_KEEP, "Keep 1 h"),
                Keep::Idle => (ACTION_KEEP_IDLE, "Keep 1 h"),
                Keep::Running => (ACTION_KEEP_RUNNING, "Keep it running"),
            };
            buttons.push(button(action, label, Some(SlackBlockButtonStyle::Primary)));
            buttons.push(button(
                ACTION_STOP,
                "Stop now",
                Some(SlackBlockButtonStyle::Danger),
            ));
        } else {
            if self.can_operate && self.stopped {
                buttons.push(button(
                    ACTION_START,
                    "Start",
                    Some(SlackBlockButtonStyle::Primary),
                ));
            }
            if self.can_operate && self.running {
                let confirm = SlackBlockConfirmItem::new(
                    "Stop this notebook?".into(),
                    SlackBlockMarkDownText::new(format!(
                        "Stop `{}`? Unsaved work in its kernels is lost.",
                        self.alias
                    ))
                    .into(),
                    "Stop it".into(),
                    "Keep it running".into(),
                );
                buttons.push(
                    button(ACTION_STOP, "Stop", Some(SlackBlockButtonStyle::Danger))
                        .with_confirm(confirm),
                );
            }
            buttons.push(button(ACTION_REFRESH, "Refresh", None));
        }
        vec![
            SlackSectionBlock::new()
                .with_text(SlackBlockMarkDownText::new(text.to_owned()).into())
                .into(),
            SlackActionsBlock::new(buttons.into_iter().map(Into::into).collect())
                .with_block_id(format!("card:{}", self.alias).into())
                .into(),
        ]
    }
}

/// The dialog's `callback_id`, and the ids of its two inputs.
pub const MODAL_CALLBACK: &str = "notebook_modal";
pub const MODAL_INSTANCE_BLOCK: &str = "instance";
pub const MODAL_INSTANCE_ACTION: &str = "instance_select";
pub const MODAL_ACTION_BLOCK: &str = "action";
pub const MODAL_ACTION_ACTION: &str = "action_select";
/// Optional in the dialog; a guarded instance's start needs it.
pub const MODAL_REASON_BLOCK: &str = "reason";
pub const MODAL_REASON_ACTION: &str = "reason_input";

/// The dialog for `views.open`: the instances this person may operate, Start
/// or Stop, and why (which a guarded instance's approvers read). `channel`
/// rides along as private metadata. With `preset`, that instance and Start are
/// already chosen (a card's Start on a guarded instance, which needs a reason).
pub fn modal_view(
    trigger_id: &str,
    aliases: &[&str],
    channel: Option<String>,
    preset: Option<&str>,
) -> Value {
    let option = |a: &str| json!({"text": {"type": "plain_text", "text": a}, "value": a});
    let options: Vec<Value> = aliases.iter().map(|a| option(a)).collect();
    let start = json!({"text": {"type": "plain_text", "text": "Start"}, "value": "start"});
    let mut view = json!({
        "trigger_id": trigger_id,
        "view": {
            "type": "modal",
            "callback_id": MODAL_CALLBACK,
            "private_metadata": channel.unwrap_or_default(),
            "title": {"type": "plain_text", "text": "Workbench notebook"},
            "submit": {"type": "plain_text", "text": "Go"},
            "close": {"type": "plain_text", "text": "Cancel"},
            "blocks": [
                {"type": "input", "block_id": MODAL_INSTANCE_BLOCK, "label": {"type": "plain_text", "text": "Instance"},
                 "element": {"type": "static_select", "action_id": MODAL_INSTANCE_ACTION,
                             "placeholder": {"type": "plain_text", "text": "Choose an instance"}, "options": options}},
                {"type": "input", "block_id": MODAL_ACTION_BLOCK, "label": {"type": "plain_text", "text": "Action"},
                 "element": {"type": "radio_buttons", "action_id": MODAL_ACTION_ACTION, "options": [
                     start.clone(),
                     {"text": {"type": "plain_text", "text": "Stop"}, "value": "stop"}]}},
                {"type": "input", "block_id": MODAL_REASON_BLOCK, "optional": true,
                 "label": {"type": "plain_text", "text": "Why"},
                 "hint": {"type": "plain_text", "text": "Needed to start a notebook that waits for an approver's yes"},
                 "element": {"type": "plain_text_input", "action_id": MODAL_REASON_ACTION,
                             "max_length": crate::parse::MAX_REASON}}
            ]
        }
    });
    if let Some(alias) = preset.filter(|a| aliases.contains(a)) {
        let blocks = &mut view["view"]["blocks"];
        blocks[0]["element"]["initial_option"] = option(alias);
        blocks[1]["element"]["initial_option"] = start;
    }
    view
}

/// A `view_submission` answer that shows `errors` under the dialog's inputs,
/// each a (block id, sentence) pair.
pub fn dialog_errors(errors: &[(&'static str, String)]) -> Value {
    let errors: serde_json::Map<String, Value> = errors
        .iter()
        .map(|(block, text)| ((*block).to_owned(), json!(text)))
        .collect();
    json!({"response_action": "errors", "errors": errors})
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The typed blocks serialise to the Block Kit JSON Slack documents.
    #[test]
    fn a_running_card_for_an_operator_is_the_documented_block_kit() {
        let card = Card {
            alias: "foo".into(),
            running: true,
            stopped: false,
            can_operate: true,
            keep: None,
        };
        let got = serde_json::to_value(card.blocks("`foo` is *running*")).unwrap();
        let want = json!([
            {"type": "section", "text": {"type": "mrkdwn", "text": "`foo` is *running*"}},
            {"type": "actions", "block_id": "card:foo", "elements": [
                {"type": "button", "action_id": ACTION_STOP, "value": "foo", "style": "danger",
                 "text": {"type": "plain_text", "text": "Stop"},
                 "confirm": {"title": {"type": "plain_text", "text": "Stop this notebook?"},
                     "text": {"type": "mrkdwn", "text": "Stop `foo`? Unsaved work in its kernels is lost."},
                     "confirm": {"type": "plain_text", "text": "Stop it"},
                     "deny": {"type": "plain_text", "text": "Keep it running"}}},
                {"type": "button", "action_id": ACTION_REFRESH, "value": "foo",
                 "text": {"type": "plain_text", "text": "Refresh"}}
            ]}
        ]);
        assert_eq!(got, want);
    }

    #[test]
    fn a_warning_offers_keep_and_stop_now_only() {
        let card = Card {
            alias: "foo".into(),
            running: true,
            stopped: false,
            can_operate: true,
            keep: Some(Keep::Hour),
        };
        let got = serde_json::to_value(card.blocks("soon")).unwrap();
        let ids: Vec<&str> = got[1]["elements"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["action_id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, [ACTION_KEEP, ACTION_STOP]);
        assert_eq!(got[1]["elements"][0]["style"], "primary");
    }
}

//! Block Kit: the card under a status or result, and the dialog. Every button's
//! `action_id` and the dialog's ids are here, so the transport that reads a
//! press and the code that drew the button agree.

use serde_json::{Value, json};
use slack_morphism::prelude::SlackBlock;

/// Buttons under a status or result, for someone who may operate the instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Card {
    pub alias: String,
    pub running: bool,
    pub stopped: bool,
    pub can_operate: bool,
    /// Before a stop or in a reminder: a *Keep* button with this label and
    /// *Stop now*, instead of the usual buttons.
    pub keep: Option<&'static str>,
}

/// `action_id`s of the card buttons; the value of each is the alias.
pub const ACTION_START: &str = "notebook_start";
pub const ACTION_STOP: &str = "notebook_stop";
pub const ACTION_REFRESH: &str = "notebook_refresh";
/// *Keep 1 h* under a warning: extends the lease (or skips the scheduled stop)
/// by [`KEEP_MINUTES`].
pub const ACTION_KEEP: &str = "notebook_keep";
pub const KEEP_MINUTES: u32 = 60;
pub const KEEP_HOUR: &str = "Keep 1 h";
pub const KEEP_RUNNING: &str = "Keep it running";

impl Card {
    /// Start when it is stopped, Stop (confirmed first) when it runs, Refresh always.
    pub fn blocks(&self, text: &str) -> Vec<SlackBlock> {
        let mut buttons = Vec::new();
        if let Some(label) = self.keep {
            buttons.push(
                json!({"type": "button", "action_id": ACTION_KEEP, "value": self.alias,
                "style": "primary", "text": {"type": "plain_text", "text": label}}),
            );
            buttons.push(
                json!({"type": "button", "action_id": ACTION_STOP, "value": self.alias,
                "style": "danger", "text": {"type": "plain_text", "text": "Stop now"}}),
            );
            return Self::layout(&self.alias, text, buttons);
        }
        if self.can_operate && self.stopped {
            buttons.push(
                json!({"type": "button", "action_id": ACTION_START, "value": self.alias,
                "style": "primary", "text": {"type": "plain_text", "text": "Start"}}),
            );
        }
        if self.can_operate && self.running {
            buttons.push(json!({"type": "button", "action_id": ACTION_STOP, "value": self.alias,
                "style": "danger", "text": {"type": "plain_text", "text": "Stop"},
                "confirm": {"title": {"type": "plain_text", "text": "Stop this notebook?"},
                    "text": {"type": "mrkdwn", "text": format!("Stop `{}`? Unsaved work in its kernels is lost.", self.alias)},
                    "confirm": {"type": "plain_text", "text": "Stop it"},
                    "deny": {"type": "plain_text", "text": "Keep it running"}}}));
        }
        buttons.push(
            json!({"type": "button", "action_id": ACTION_REFRESH, "value": self.alias,
            "text": {"type": "plain_text", "text": "Refresh"}}),
        );
        Self::layout(&self.alias, text, buttons)
    }

    fn layout(alias: &str, text: &str, buttons: Vec<Value>) -> Vec<SlackBlock> {
        let blocks = json!([
            {"type": "section", "text": {"type": "mrkdwn", "text": text}},
            {"type": "actions", "block_id": format!("card:{alias}"), "elements": buttons},
        ]);
        serde_json::from_value(blocks).expect("card blocks match slack-morphism's Block Kit model")
    }
}

/// The dialog's `callback_id`, and the ids of its two inputs.
pub const MODAL_CALLBACK: &str = "notebook_modal";
pub const MODAL_INSTANCE_BLOCK: &str = "instance";
pub const MODAL_INSTANCE_ACTION: &str = "instance_select";
pub const MODAL_ACTION_BLOCK: &str = "action";
pub const MODAL_ACTION_ACTION: &str = "action_select";

/// The dialog for `views.open`: the instances this person may operate, and Start
/// or Stop. `channel` rides along as private metadata.
pub fn modal_view(trigger_id: &str, aliases: &[&str], channel: Option<String>) -> Value {
    let options: Vec<Value> = aliases
        .iter()
        .map(|a| json!({"text": {"type": "plain_text", "text": a}, "value": a}))
        .collect();
    json!({
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
                     {"text": {"type": "plain_text", "text": "Start"}, "value": "start"},
                     {"text": {"type": "plain_text", "text": "Stop"}, "value": "stop"}]}}
            ]
        }
    })
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

//! Interaction payloads: card buttons (`block_actions`), the dialog
//! (`view_submission`) and the shortcut that opens it.
//!
//! Shared by the HTTP route and Socket Mode. Only the fields used are read, with
//! small structs of our own: slack-morphism refuses whole payloads of types it does
//! not model. A button press is authorised as the person who pressed it.

use crate::core::{App, EntryPoint, Input, Request};
use crate::domain::{Command, Principal, SlackUserId, Verb};
use crate::report::{ACTION_REFRESH, ACTION_START, ACTION_STOP, ReplyTo};
use crate::verify::{VerifyError, allowed_team};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use tokio_util::task::TaskTracker;

pub const MODAL_CALLBACK: &str = "notebook_modal";
/// The global and message shortcut that opens the dialog (see slack-manifest.yaml).
pub const SHORTCUT_CALLBACK: &str = "open_notebook_dialog";

#[derive(Deserialize)]
struct IdOnly {
    id: String,
}

#[derive(Deserialize)]
struct Interaction {
    #[serde(rename = "type")]
    kind: String,
    team: Option<IdOnly>,
    user: Option<IdOnly>,
    trigger_id: Option<String>,
    response_url: Option<String>,
    channel: Option<IdOnly>,
    callback_id: Option<String>,
    #[serde(default)]
    actions: Vec<ActionInfo>,
    view: Option<ViewInfo>,
}

#[derive(Deserialize)]
struct ActionInfo {
    action_id: String,
    value: Option<String>,
}

#[derive(Deserialize)]
struct ViewInfo {
    callback_id: Option<String>,
    state: Option<ViewState>,
}

#[derive(Deserialize)]
struct ViewState {
    values: HashMap<String, HashMap<String, Value>>,
}

/// What the transport answers Slack, at once.
#[derive(Debug)]
pub enum Answer {
    /// An empty 200 (closes a submitted dialog).
    Ack,
    /// A JSON body: dialog validation errors, or an ephemeral message.
    Json(Value),
    BadRequest(String),
    Refuse(VerifyError),
}

fn selected(state: &ViewState, block: &str, action: &str) -> Option<String> {
    state
        .values
        .get(block)?
        .get(action)?
        .get("selected_option")?
        .get("value")?
        .as_str()
        .map(str::to_owned)
}

pub fn handle(app: &Arc<App>, tasks: &TaskTracker, payload: &str) -> Answer {
    let it: Interaction = match serde_json::from_str(payload) {
        Ok(i) => i,
        Err(e) => return Answer::BadRequest(format!("interaction payload: {e}")),
    };
    let Some(team) = &it.team else {
        return Answer::Refuse(VerifyError::TeamNotAllowed("(none)".into()));
    };
    let team = match allowed_team(&app.config, &team.id) {
        Ok(t) => t,
        Err(e) => return Answer::Refuse(e),
    };
    let Some(user) = it
        .user
        .as_ref()
        .and_then(|u| SlackUserId::parse(&u.id).ok())
    else {
        return Answer::BadRequest("interaction without a user".into());
    };
    let principal = Principal::User(user.clone());
    let request = |entry, verb, alias: String, reply_to| Request {
        id: Request::new_id(),
        team: Some(team.clone()),
        principal: principal.clone(),
        entry,
        input: Input::Command(Command {
            verb,
            target: Some(alias),
        }),
        reply_to,
        place: crate::act::SlackPlace {
            channel: it.channel.as_ref().map(|c| c.id.clone()),
            thread_ts: None,
        },
    };
    match it.kind.as_str() {
        "block_actions" => {
            let Some((verb, alias)) = it.actions.iter().find_map(|a| {
                let verb = match a.action_id.as_str() {
                    ACTION_START => Verb::Start,
                    ACTION_STOP => Verb::Stop,
                    ACTION_REFRESH => Verb::Status,
                    _ => return None,
                };
                Some((verb, a.value.clone()?))
            }) else {
                return Answer::Ack;
            };
            let reply_to = match &it.response_url {
                Some(url) => ReplyTo::ResponseUrl(url.clone()),
                None => ReplyTo::Direct(user.to_string()),
            };
            super::http::spawn_request(
                app,
                tasks,
                None,
                request(EntryPoint::Button, verb, alias, reply_to),
            );
            Answer::Ack
        }
        "view_submission" => {
            let Some(view) = &it.view else {
                return Answer::BadRequest("view_submission without a view".into());
            };
            if view.callback_id.as_deref() != Some(MODAL_CALLBACK) {
                return Answer::Ack;
            }
            let state = view.state.as_ref();
            let alias = state.and_then(|s| selected(s, "instance", "instance_select"));
            let action = state.and_then(|s| selected(s, "action", "action_select"));
            let mut errors = serde_json::Map::new();
            let inst = alias.as_deref().and_then(|a| app.config.instance(a));
            match inst {
                None => {
                    errors.insert(
                        "instance".into(),
                        json!("Choose one of the instances in the list."),
                    );
                }
                Some(i) if !app.policy.may_operate(&principal, i) => {
                    errors.insert(
                        "instance".into(),
                        json!(format!(
                            "You may not start or stop {}; ask {}.",
                            i.alias,
                            app.policy.ask()
                        )),
                    );
                }
                Some(_) => {}
            }
            let verb = match action.as_deref() {
                Some("start") => Some(Verb::Start),
                Some("stop") => Some(Verb::Stop),
                _ => {
                    errors.insert("action".into(), json!("Choose Start or Stop."));
                    None
                }
            };
            if !errors.is_empty() {
                return Answer::Json(json!({"response_action": "errors", "errors": errors}));
            }
            let (Some(inst), Some(verb)) = (inst, verb) else {
                return Answer::Ack;
            };
            // The dialog has no response_url: answer in the person's DMs with the bot.
            let req = request(
                EntryPoint::Modal,
                verb,
                inst.alias.to_string(),
                ReplyTo::Direct(user.to_string()),
            );
            super::http::spawn_request(app, tasks, None, req);
            Answer::Ack
        }
        "shortcut" | "message_action" if it.callback_id.as_deref() == Some(SHORTCUT_CALLBACK) => {
            match &it.trigger_id {
                Some(trigger) => {
                    open_modal(app, tasks, &principal, trigger, it.channel.map(|c| c.id))
                }
                None => Answer::BadRequest("shortcut without a trigger_id".into()),
            }
        }
        _ => Answer::Ack,
    }
}

/// The dialog: the instances this person may operate, and Start or Stop. Opened in
/// a task (the `trigger_id` lives 3 s); someone who may operate nothing is told so
/// at once instead.
pub fn open_modal(
    app: &Arc<App>,
    tasks: &TaskTracker,
    who: &Principal,
    trigger_id: &str,
    channel: Option<String>,
) -> Answer {
    let options: Vec<Value> = app
        .operable(who)
        .iter()
        .map(|i| json!({"text": {"type": "plain_text", "text": i.alias.as_ref()}, "value": i.alias.as_ref()}))
        .collect();
    if options.is_empty() {
        return Answer::Json(json!({
            "response_type": "ephemeral",
            "text": format!("You may not start or stop any instance; ask {} for access.", app.policy.ask()),
        }));
    }
    let view = json!({
        "trigger_id": trigger_id,
        "view": {
            "type": "modal",
            "callback_id": MODAL_CALLBACK,
            "private_metadata": channel.unwrap_or_default(),
            "title": {"type": "plain_text", "text": "Workbench notebook"},
            "submit": {"type": "plain_text", "text": "Go"},
            "close": {"type": "plain_text", "text": "Cancel"},
            "blocks": [
                {"type": "input", "block_id": "instance", "label": {"type": "plain_text", "text": "Instance"},
                 "element": {"type": "static_select", "action_id": "instance_select",
                             "placeholder": {"type": "plain_text", "text": "Choose an instance"}, "options": options}},
                {"type": "input", "block_id": "action", "label": {"type": "plain_text", "text": "Action"},
                 "element": {"type": "radio_buttons", "action_id": "action_select", "options": [
                     {"text": {"type": "plain_text", "text": "Start"}, "value": "start"},
                     {"text": {"type": "plain_text", "text": "Stop"}, "value": "stop"}]}}
            ]
        }
    });
    let app = app.clone();
    tasks.spawn(async move {
        if let Err(e) = app.reporter.call_as_bot("views.open", &view).await {
            tracing::warn!(error = %e, "could not open the dialog");
        }
    });
    Answer::Ack
}

//! Interaction payloads: card buttons (`block_actions`), the dialog
//! (`view_submission`) and the shortcut that opens it.
//!
//! Shared by the HTTP route and Socket Mode. Only the fields used are read, with
//! small structs of our own: slack-morphism refuses whole payloads of types it does
//! not model. A button press is authorised as the person who pressed it.

use super::answer::{Answer, Spawner};
use super::dialog;
use crate::domain::{Command, EntryPoint, Lasting, Origin, Principal, SlackUserId, TeamId, Verb};
use crate::pipeline::Grant;
use crate::pipeline::{Input, Request};
use crate::report::approvals::{self, ACTION_APPROVE, ACTION_DENY};
use crate::report::blocks::{
    ACTION_KEEP, ACTION_KEEP_IDLE, ACTION_KEEP_RUNNING, ACTION_REFRESH, ACTION_START, ACTION_STOP,
    KEEP_MINUTES, MODAL_ACTION_ACTION, MODAL_ACTION_BLOCK, MODAL_CALLBACK, MODAL_INSTANCE_ACTION,
    MODAL_INSTANCE_BLOCK, MODAL_REASON_ACTION, MODAL_REASON_BLOCK,
};
use crate::report::home::ACTION_HOME_REFRESH;
use crate::report::{Reply, ReplyTo, messages};
use crate::settings::Secret;
use crate::verify::{Claimed, served};
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;

/// The global and message shortcut that opens the dialog (see slack-manifest.yaml).
pub const SHORTCUT_CALLBACK: &str = "open_notebook_dialog";

#[derive(Deserialize)]
struct IdOnly {
    id: String,
}

/// The person who pressed or submitted, with their own workspace (which, for a
/// Slack Connect guest, is not the `team` the payload names).
#[derive(Deserialize)]
struct UserInfo {
    id: String,
    team_id: Option<String>,
}

#[derive(Deserialize)]
struct Interaction {
    #[serde(rename = "type")]
    kind: String,
    /// Null from an Enterprise Grid org-wide install: then `user.team_id`
    /// names the workspace, and `enterprise` the org.
    team: Option<IdOnly>,
    enterprise: Option<IdOnly>,
    user: Option<UserInfo>,
    trigger_id: Option<String>,
    response_url: Option<String>,
    channel: Option<IdOnly>,
    callback_id: Option<String>,
    container: Option<Container>,
    #[serde(default)]
    actions: Vec<ActionInfo>,
    view: Option<ViewInfo>,
    /// Sent with presses on (and dialogs opened from) a message a workflow
    /// step posted: a fresh just-in-time token that can complete that step.
    bot_access_token: Option<String>,
}

/// Where the pressed button sits: an ephemeral message only its reader sees,
/// or a message in a channel or thread that others see too.
#[derive(Deserialize)]
struct Container {
    is_ephemeral: Option<bool>,
}

/// Whether a press came from the App Home tab (its `view` is the Home).
fn from_home(it: &Interaction) -> bool {
    it.view.as_ref().and_then(|v| v.kind.as_deref()) == Some("home")
}

#[derive(Deserialize)]
struct ActionInfo {
    action_id: String,
    value: Option<String>,
}

#[derive(Deserialize)]
struct ViewInfo {
    #[serde(rename = "type")]
    kind: Option<String>,
    callback_id: Option<String>,
    state: Option<ViewState>,
    private_metadata: Option<String>,
}

#[derive(Deserialize)]
struct ViewState {
    values: HashMap<String, HashMap<String, Value>>,
}

/// What was typed in a text input, trimmed; `None` when nothing was.
fn typed(state: &ViewState, block: &str, action: &str) -> Option<String> {
    state
        .values
        .get(block)?
        .get(action)?
        .get("value")?
        .as_str()
        .map(crate::parse::one_line)
        .filter(|v| !v.is_empty())
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

pub fn handle(spawner: &Spawner, payload: &str) -> Answer {
    let it: Interaction = match serde_json::from_str(payload) {
        Ok(i) => i,
        Err(e) => return Answer::BadRequest(format!("interaction payload: {e}")),
    };
    let own_team = it.user.as_ref().and_then(|u| u.team_id.as_deref());
    let claimed = Claimed {
        workspace: it.team.as_ref().map(|t| t.id.as_str()),
        user_team: own_team,
        enterprise: it.enterprise.as_ref().map(|e| e.id.as_str()),
    };
    let served = match served(spawner.app().config(), claimed) {
        Ok(s) => s,
        Err(e) => {
            // Signed by Slack: acknowledged, so Slack shows no error, and ignored.
            tracing::info!(reason = %e, "interaction from a workspace this bot does not serve; ignored");
            return Answer::Ack;
        }
    };
    let Some(user) = it
        .user
        .as_ref()
        .and_then(|u| SlackUserId::parse(&u.id).ok())
    else {
        return Answer::BadRequest("interaction without a user".into());
    };
    let actor = Actor {
        team: served.team.clone(),
        principal: served.person(user.clone()),
        user,
        channel: it.channel.as_ref().map(|c| c.id.clone()),
        step_token: it.bot_access_token.clone().map(Secret::new),
    };
    match it.kind.as_str() {
        "block_actions" => button(spawner, &it, actor),
        "view_submission" => submission(spawner, &it, actor),
        "shortcut" | "message_action" if it.callback_id.as_deref() == Some(SHORTCUT_CALLBACK) => {
            match &it.trigger_id {
                Some(trigger) => dialog::open(
                    spawner,
                    &actor.principal,
                    trigger,
                    actor.channel,
                    dialog::Door::Shortcut {
                        response_url: it.response_url.clone(),
                    },
                    None,
                ),
                None => Answer::BadRequest("shortcut without a trigger_id".into()),
            }
        }
        _ => Answer::Ack,
    }
}

/// Who pressed or submitted, and where.
struct Actor {
    team: TeamId,
    principal: Principal,
    user: SlackUserId,
    channel: Option<String>,
    step_token: Option<Secret>,
}

impl Actor {
    /// A press or submission is authorised as the person who made it.
    fn request(self, entry: EntryPoint, command: Command, reply_to: ReplyTo) -> Request {
        let user_id = self.user.to_string();
        Request {
            id: Request::new_id(),
            team: Some(self.team),
            principal: self.principal,
            entry,
            input: Input::Command(command),
            reply_to,
            grant: Grant {
                approved_by: None,
                step_token: self.step_token,
                ..Default::default()
            },
            origin: Origin::Direct { user: user_id },
        }
    }
}

/// A card button: Start, Stop or Refresh, its value the alias; or an
/// approval request's Approve or Deny, its value the request's id.
fn button(spawner: &Spawner, it: &Interaction, actor: Actor) -> Answer {
    if it
        .actions
        .iter()
        .any(|a| a.action_id == ACTION_HOME_REFRESH)
    {
        let (user, who) = (actor.user.to_string(), actor.principal.clone());
        let refreshed = spawner.spawn_once(None, |app| async move {
            // It reads Google for every instance: it counts against the
            // person's budget like any request, and past it does nothing.
            match app.policy.admit(&who) {
                Ok(()) => app.publish_home(&user, &who).await,
                Err(refusal) => tracing::info!(reason = %refusal, "a Home refresh past the person's rate limit; ignored"),
            }
        });
        if refreshed.is_err() {
            tracing::warn!("too busy to refresh a Home tab");
        }
        return Answer::Ack;
    }
    let Some((verb, alias)) = it.actions.iter().find_map(|a| {
        let verb = match a.action_id.as_str() {
            ACTION_START => Verb::Start,
            ACTION_APPROVE => Verb::Approve,
            ACTION_DENY => Verb::Deny,
            ACTION_STOP => Verb::Stop,
            ACTION_REFRESH => Verb::Status,
            ACTION_KEEP => Verb::Extend,
            ACTION_KEEP_IDLE => Verb::KeepIdle,
            // Keeping an instance with no time limit changes nothing: show it.
            ACTION_KEEP_RUNNING => Verb::Status,
            _ => return None,
        };
        Some((verb, a.value.clone()?))
    }) else {
        return Answer::Ack;
    };
    let shared = !it
        .container
        .as_ref()
        .and_then(|c| c.is_ephemeral)
        .unwrap_or(false);
    let reply_to = match &it.response_url {
        Some(url) => ReplyTo::Card {
            response_url: url.clone(),
            shared,
        },
        None => ReplyTo::Direct(actor.user.to_string()),
    };
    if verb == Verb::Deny {
        return deny_dialog(spawner, it, actor, alias, reply_to);
    }
    let guarded = |a: &str| {
        spawner
            .app()
            .config()
            .instance(a)
            .is_some_and(|i| i.guard.is_some())
    };
    if verb == Verb::Start
        && guarded(&alias)
        && let Some(trigger) = &it.trigger_id
    {
        // A start that waits for an approver needs a reason: the dialog asks.
        return dialog::open(
            spawner,
            &actor.principal,
            trigger,
            actor.channel.clone(),
            dialog::Door::Button,
            Some(&alias),
        );
    }
    let mut command = Command::new(verb, Some(alias));
    if verb == Verb::Extend {
        command.lasting = Lasting::from_minutes(KEEP_MINUTES).ok();
    }
    let home = from_home(it).then(|| (actor.user.to_string(), actor.principal.clone()));
    let req = actor.request(EntryPoint::Button, command, reply_to);
    let spawned = match home {
        // A press on the Home is answered in a DM, and the Home shows its end
        // (followed from now on, even if this process never saw it opened).
        Some((user, who)) => {
            let turned_away = req.clone();
            spawner
                .spawn_once(None, |app| async move {
                    app.homes.opened(&user, &who);
                    app.handle(req).await;
                    app.homes.touch_user(&user);
                })
                .inspect_err(|_| spawner.turn_away(&turned_away))
        }
        None => spawner.spawn(None, req),
    };
    if spawned.is_err() {
        tracing::warn!("too busy to act on a button; it is on record as turned away");
    }
    Answer::Ack
}

/// *Deny* on an approval request: the dialog that asks why, opened only
/// for someone who may decide (anyone else is told so at once).
fn deny_dialog(
    spawner: &Spawner,
    it: &Interaction,
    actor: Actor,
    id: String,
    reply_to: ReplyTo,
) -> Answer {
    let Some(trigger) = it.trigger_id.clone() else {
        return Answer::BadRequest("block_actions without a trigger_id".into());
    };
    let token = actor.step_token.clone();
    let press = actor.request(
        EntryPoint::Button,
        Command::new(Verb::Deny, Some(id)),
        reply_to.clone(),
    );
    let opened = spawner.spawn_once(None, |app| async move {
        match app.may_decide(&press).await {
            Ok(approval) => {
                let view = approvals::deny_view(&trigger, &approval);
                // A dialog opened with a step's token submits with one too.
                let opened = match &token {
                    Some(t) => app.reporter.call("views.open", t.expose(), &view).await,
                    None => app.reporter.call_as_bot("views.open", &view).await,
                };
                if let Err(e) = opened {
                    tracing::warn!(error = %e, "could not open the deny dialog");
                    let again = Reply::text(messages::deny_dialog_failed());
                    if let Err(e) = app.reporter.post(&reply_to, &again).await {
                        tracing::warn!(error = %e, "could not say the deny dialog did not open");
                    }
                }
            }
            Err(why) => {
                if let Err(e) = app.reporter.post(&reply_to, &why).await {
                    tracing::warn!(error = %e, "could not say why no deny dialog opened");
                }
            }
        }
    });
    if opened.is_err() {
        tracing::warn!("too busy to open the deny dialog");
    }
    Answer::Ack
}

/// The deny dialog's submit: the reason is required, then the denial runs
/// like any request, as the person who submitted.
fn deny_submission(spawner: &Spawner, view: &ViewInfo, actor: Actor) -> Answer {
    let Some(id) = view.private_metadata.clone().filter(|m| !m.is_empty()) else {
        return Answer::BadRequest("deny dialog without its request id".into());
    };
    let Some(reason) = view
        .state
        .as_ref()
        .and_then(|s| typed(s, approvals::DENY_BLOCK, approvals::DENY_ACTION))
    else {
        return Answer::DialogErrors(vec![(approvals::DENY_BLOCK, messages::deny_needs_reason())]);
    };
    if reason.chars().count() > crate::parse::MAX_REASON {
        return Answer::DialogErrors(vec![(approvals::DENY_BLOCK, messages::reason_too_long())]);
    }
    let reply_to = ReplyTo::Direct(actor.user.to_string());
    let command = Command {
        reason: Some(reason),
        ..Command::new(Verb::Deny, Some(id))
    };
    match spawner.spawn(None, actor.request(EntryPoint::Modal, command, reply_to)) {
        Ok(()) => Answer::Ack,
        Err(_) => Answer::DialogErrors(vec![(approvals::DENY_BLOCK, messages::busy())]),
    }
}

/// The dialog's Go: checked in place first, then run like any request.
fn submission(spawner: &Spawner, it: &Interaction, actor: Actor) -> Answer {
    let Some(view) = &it.view else {
        return Answer::BadRequest("view_submission without a view".into());
    };
    match view.callback_id.as_deref() {
        Some(MODAL_CALLBACK) => {}
        Some(approvals::DENY_CALLBACK) => return deny_submission(spawner, view, actor),
        _ => return Answer::Ack,
    }
    let state = view.state.as_ref();
    let alias = state.and_then(|s| selected(s, MODAL_INSTANCE_BLOCK, MODAL_INSTANCE_ACTION));
    let action = state.and_then(|s| selected(s, MODAL_ACTION_BLOCK, MODAL_ACTION_ACTION));
    let reason = state.and_then(|s| typed(s, MODAL_REASON_BLOCK, MODAL_REASON_ACTION));
    let who = actor.principal.clone();
    match spawner
        .app()
        .dialog_choice(&who, alias.as_deref(), action.as_deref(), reason)
    {
        Err(errors) => Answer::DialogErrors(errors),
        Ok(command) => {
            // The dialog has no response_url: answer in the person's DMs with the bot.
            let reply_to = ReplyTo::Direct(actor.user.to_string());
            match spawner.spawn(None, actor.request(EntryPoint::Modal, command, reply_to)) {
                Ok(()) => Answer::Ack,
                // The dialog stays open and says so, where the person is looking.
                Err(_) => Answer::DialogErrors(vec![(MODAL_INSTANCE_BLOCK, messages::busy())]),
            }
        }
    }
}

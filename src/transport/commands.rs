//! Slash commands, from the HTTP route or Socket Mode: the form Slack sends
//! becomes a pipeline request, or the dialog when the text is empty.

use super::answer::{Answer, Busy, Spawner};
use super::dialog;
use crate::domain::{EntryPoint, Origin, SlackUserId};
use crate::pipeline::{Input, Request};
use crate::report::{ReplyTo, messages};
use crate::verify::{Claimed, served};
use serde::Deserialize;

/// The fields of a slash command the bot uses: a form over HTTP, the same
/// names as JSON over Socket Mode. An org-wide install adds `enterprise_id`,
/// which slack-morphism's model drops.
#[derive(Debug, Deserialize)]
pub struct SlashCommand {
    team_id: Option<String>,
    enterprise_id: Option<String>,
    user_id: String,
    channel_id: Option<String>,
    text: Option<String>,
    response_url: String,
    trigger_id: Option<String>,
}

pub fn slash_command(spawner: &Spawner, form: SlashCommand) -> Answer {
    let claimed = Claimed {
        workspace: form.team_id.as_deref(),
        user_team: None,
        enterprise: form.enterprise_id.as_deref(),
    };
    let served = match served(spawner.app().config(), claimed) {
        Ok(s) => s,
        Err(e) => {
            // Signed by Slack, so a person is waiting: tell them, politely.
            tracing::info!(reason = %e, "slash command from a workspace this bot does not serve");
            return Answer::Ephemeral(messages::foreign_workspace());
        }
    };
    let Ok(user) = SlackUserId::parse(&form.user_id) else {
        return Answer::BadRequest("user_id is not a Slack user id".into());
    };
    // The form is this request's own: its strings are moved, not copied.
    let text = form.text.unwrap_or_default();
    if text.trim().is_empty() {
        // A bare `/notebook` opens the dialog.
        let Some(trigger) = form.trigger_id.as_deref() else {
            return Answer::BadRequest("a slash command without a trigger_id".into());
        };
        return dialog::open(
            spawner,
            &served.person(user),
            trigger,
            form.channel_id,
            dialog::Door::SlashCommand,
            None,
        );
    }
    let spawned = spawner.spawn(
        None,
        Request {
            id: Request::new_id(),
            principal: served.person(user),
            team: Some(served.team),
            entry: EntryPoint::SlashCommand,
            input: Input::Text(text),
            reply_to: ReplyTo::ResponseUrl(form.response_url),
            // The response_url is a capability: another process tells the end in DM.
            grant: Default::default(),
            origin: Origin::Direct { user: form.user_id },
        },
    );
    match spawned {
        Ok(()) => Answer::Ack,
        // The acknowledgement itself says so: no extra work for a busy bot.
        Err(Busy) => Answer::Ephemeral(messages::busy()),
    }
}

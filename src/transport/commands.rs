//! Slash commands, from the HTTP route or Socket Mode: the form Slack sends
//! becomes a pipeline request, or the dialog when the text is empty.

use super::answer::{Answer, Busy, Spawner};
use super::dialog;
use crate::domain::{EntryPoint, Origin, Principal, SlackUserId};
use crate::pipeline::{Input, Request};
use crate::report::{ReplyTo, messages};
use crate::verify::allowed_team;
use slack_morphism::prelude::*;

pub fn slash_command(spawner: &Spawner, form: SlackCommandEvent) -> Answer {
    let team = match allowed_team(spawner.app().config(), form.team_id.as_ref()) {
        Ok(t) => t,
        Err(e) => {
            // Signed by Slack, so a person is waiting: tell them, politely.
            tracing::info!(reason = %e, "slash command from a workspace this bot does not serve");
            return Answer::Ephemeral(messages::foreign_workspace());
        }
    };
    let Ok(user) = SlackUserId::parse(form.user_id.as_ref()) else {
        return Answer::BadRequest("user_id is not a Slack user id".into());
    };
    let text = form.text.clone().unwrap_or_default();
    if text.trim().is_empty() {
        // A bare `/notebook` opens the dialog.
        return dialog::open(
            spawner,
            &Principal::User(user),
            form.trigger_id.as_ref(),
            Some(form.channel_id.to_string()),
            dialog::Door::SlashCommand,
            None,
        );
    }
    let spawned = spawner.spawn(
        None,
        Request {
            id: Request::new_id(),
            team: Some(team),
            principal: Principal::User(user),
            entry: EntryPoint::SlashCommand,
            input: Input::Text(text),
            reply_to: ReplyTo::ResponseUrl(form.response_url.value().to_string()),
            // The response_url is a capability: another process tells the end in DM.
            grant: Default::default(),
            origin: Origin::Direct {
                user: form.user_id.to_string(),
            },
        },
    );
    match spawned {
        Ok(()) => Answer::Ack,
        // The acknowledgement itself says so: no extra work for a busy bot.
        Err(Busy) => Answer::Ephemeral(messages::busy()),
    }
}

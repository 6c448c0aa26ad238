//! Opening the dialog: from a bare slash command or a shortcut.

use super::answer::{Answer, Spawner};
use crate::domain::Principal;
use crate::report::{Reply, ReplyTo, blocks, messages};

/// Where the dialog was asked for, which decides how "nothing to operate" is told.
pub enum Door {
    /// The acknowledgement itself carries an ephemeral message.
    SlashCommand,
    /// Slack shows nothing a shortcut's acknowledgement carries: a message
    /// shortcut has a `response_url`, a global one only the person's DMs.
    Shortcut { response_url: Option<String> },
    /// A card's Start on an instance whose starts need a reason.
    Button,
}

/// Opens the dialog in a task (the `trigger_id` lives 3 s); someone who may
/// operate nothing is told so instead, through the door they used.
pub fn open(
    spawner: &Spawner,
    who: &Principal,
    trigger_id: &str,
    channel: Option<String>,
    door: Door,
    preset: Option<&str>,
) -> Answer {
    let app = spawner.app();
    let aliases: Vec<&str> = app
        .operable(who)
        .into_iter()
        .map(|i| i.alias.as_ref())
        .collect();
    if aliases.is_empty() {
        let text = messages::may_operate_nothing(&app.policy.ask());
        let response_url = match door {
            Door::SlashCommand => return Answer::Ephemeral(text),
            Door::Shortcut { response_url } => response_url,
            Door::Button => None,
        };
        let to = match (response_url, who) {
            (Some(url), _) => ReplyTo::ResponseUrl(url),
            (None, Principal::User(u) | Principal::Guest(u)) => ReplyTo::Direct(u.to_string()),
            (None, Principal::Workflow(_) | Principal::Timer(_)) => ReplyTo::Nowhere,
        };
        let told = spawner.spawn_once(None, |app| async move {
            if let Err(e) = app.reporter.post(&to, &Reply::text(text)).await {
                tracing::warn!(error = %e, "could not tell the person why no dialog opened");
            }
        });
        if told.is_err() {
            tracing::warn!("too busy to say why no dialog opened");
        }
        return Answer::Ack;
    }
    let view = blocks::modal_view(trigger_id, &aliases, channel, preset);
    let opened = spawner.spawn_once(None, |app| async move {
        if let Err(e) = app.reporter.call_as_bot("views.open", &view).await {
            tracing::warn!(error = %e, "could not open the dialog");
        }
    });
    match (opened, door) {
        (Ok(()), _) => Answer::Ack,
        (Err(_), Door::SlashCommand) => Answer::Ephemeral(messages::busy()),
        (Err(_), Door::Shortcut { .. }) => {
            tracing::warn!("too busy to open the dialog");
            Answer::Ack
        }
        (Err(_), Door::Button) => Answer::Ack,
    }
}

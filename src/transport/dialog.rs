//! Opening the dialog: from a bare slash command or a shortcut.

use super::answer::{Answer, Spawner};
use crate::domain::Principal;
use crate::report::{blocks, messages};

/// Opens the dialog in a task (the `trigger_id` lives 3 s); someone who may
/// operate nothing is told so at once instead.
pub fn open(
    spawner: &Spawner,
    who: &Principal,
    trigger_id: &str,
    channel: Option<String>,
) -> Answer {
    let app = spawner.app();
    let aliases: Vec<&str> = app
        .operable(who)
        .into_iter()
        .map(|i| i.alias.as_ref())
        .collect();
    if aliases.is_empty() {
        return Answer::Ephemeral(messages::may_operate_nothing(&app.policy.ask()));
    }
    let view = blocks::modal_view(trigger_id, &aliases, channel);
    spawner.spawn_once(None, |app| async move {
        if let Err(e) = app.reporter.call_as_bot("views.open", &view).await {
            tracing::warn!(error = %e, "could not open the dialog");
        }
    });
    Answer::Ack
}

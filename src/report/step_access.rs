//! Who may build workflows with the *Control a notebook* step. Whoever may add
//! the step to a workflow can share that workflow under any title, and whoever
//! runs it acts as themselves: so the platform team names the builders
//! (`slack.step_builders`) and, at start-up, the bot sets the step's
//! distribution to exactly them with `functions.distributions.permissions.set`.
//! Unset, the bot leaves Slack's setting alone (Slack's default for a new step
//! is the app's collaborators only).

use super::{Reporter, SlackError};
use crate::transport::FUNCTION_CALLBACK;
use slack_morphism::prelude::*;

/// Why the step's distribution was not set. The bot keeps serving either way:
/// the step's setting in Slack stays what it was.
#[derive(Debug, thiserror::Error)]
pub enum StepAccessError {
    #[error("SLACK_BOT_TOKEN is not set, so the bot cannot set who may use the step")]
    NoBotToken,
    #[error(
        "could not learn the app's id ({0}): check that SLACK_BOT_TOKEN is this app's bot token; \
         where auth.test names no app, bots.info needs the users:read scope"
    )]
    Lookup(#[source] SlackError),
    #[error(
        "Slack named neither an app nor a bot for SLACK_BOT_TOKEN (auth.test), so the step's \
         distribution cannot be set: check that the token is a bot token (xoxb-)"
    )]
    NoAppId,
    #[error(
        "Slack refused to set who may use the step `{FUNCTION_CALLBACK}` ({source}): check that the \
         app's manifest defines that function and every slack.step_builders entry is a member of \
         the workspace; where Slack takes this only from an app collaborator, run \
         `slack function distribute --name {FUNCTION_CALLBACK}` from the Slack CLI instead"
    )]
    Refused {
        #[source]
        source: SlackError,
    },
    #[error(
        "Slack answered that the step `{FUNCTION_CALLBACK}` is open to `{0}`, not to the named \
         people: check its distribution in the app's settings"
    )]
    NotNamed(String),
}

#[derive(serde::Deserialize)]
struct AuthTest {
    app_id: Option<String>,
    bot_id: Option<String>,
}

#[derive(serde::Deserialize)]
struct Distribution {
    permission_type: Option<String>,
}

impl Reporter {
    /// Sets the step's distribution to exactly `people` (user ids); answers
    /// the permission type Slack reports back.
    pub async fn set_step_builders(&self, people: &[String]) -> Result<String, StepAccessError> {
        let app_id = self.app_id().await?;
        let body = serde_json::json!({
            "function_app_id": app_id,
            "function_callback_id": FUNCTION_CALLBACK,
            "permission_type": "named_entities",
            // Slack's own reference writes its arrays as comma-separated
            // ids, which it reads in form and JSON bodies alike.
            "user_ids": people.join(","),
        });
        let answer = self
            .call_as_bot("functions.distributions.permissions.set", &body)
            .await
            .map_err(|source| match source {
                SlackError::NoBotToken => StepAccessError::NoBotToken,
                source => StepAccessError::Refused { source },
            })?;
        // Only Slack saying back what was asked counts as done.
        let set: Distribution = serde_json::from_value(answer).unwrap_or(Distribution {
            permission_type: None,
        });
        match set.permission_type {
            Some(p) if p == "named_entities" => Ok(p),
            other => Err(StepAccessError::NotNamed(
                other.unwrap_or_else(|| "(not said)".into()),
            )),
        }
    }

    /// The app's own id (A…), which Slack's function methods name it by:
    /// `auth.test` names it for some tokens, and `bots.info` for every bot.
    async fn app_id(&self) -> Result<String, StepAccessError> {
        let token = self.bot_token.as_ref().ok_or(StepAccessError::NoBotToken)?;
        let session = self.client.open_session(token);
        let none: Vec<(&str, Option<&str>)> = Vec::new();
        let me: AuthTest = self
            .timed("auth.test", || {
                session.http_session_api.http_get("auth.test", &none, None)
            })
            .await
            .map_err(StepAccessError::Lookup)?;
        if let Some(app) = me.app_id.filter(|a| !a.is_empty()) {
            return Ok(app);
        }
        let bot = me.bot_id.ok_or(StepAccessError::NoAppId)?;
        let request = SlackApiBotsInfoRequest::new().with_bot(bot);
        let info = self
            .timed("bots.info", || session.bots_info(&request))
            .await
            .map_err(StepAccessError::Lookup)?;
        Ok(info.bot.app_id)
    }
}

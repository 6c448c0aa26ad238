//! The report step: tells the person in Slack what happened.
//!
//! A slash command is answered through its `response_url` (ephemeral, and a later
//! message replaces the "working on it" one); a mention is answered in its thread
//! with `chat.postMessage` and updated with `chat.update`. All calls go through
//! slack-morphism's client with `SLACK_API_URL` as base, so tests point it at a fake.

use slack_morphism::prelude::*;
use std::sync::Arc;

pub type SlackHttpClient = SlackClient<SlackClientHyperHttpsConnector>;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("Slack refused the reply: {0}")]
    Slack(String),
    #[error("cannot reply in a thread without SLACK_BOT_TOKEN set")]
    NoBotToken,
    #[error("cannot build the Slack client: {0}")]
    Client(String),
}

/// Where a reply goes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ReplyTo {
    /// A slash command's or interaction's `response_url`: ephemeral to the person.
    ResponseUrl(String),
    /// A thread in a channel (mentions, workflow messages, dispatch results).
    Thread { channel: String, thread_ts: String },
    /// The person's direct messages with the bot (modal submissions).
    Direct(String),
    /// Nowhere in Slack (a dispatch with no Slack context); the caller prints it.
    Nowhere,
}

/// Buttons under a status or result, for someone who may operate the instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Card {
    pub alias: String,
    pub running: bool,
    pub stopped: bool,
    pub can_operate: bool,
}

/// `action_id`s of the card buttons; the value of each is the alias.
pub const ACTION_START: &str = "notebook_start";
pub const ACTION_STOP: &str = "notebook_stop";
pub const ACTION_REFRESH: &str = "notebook_refresh";

impl Card {
    /// Start when it is stopped, Stop (confirmed first) when it runs, Refresh always.
    pub fn blocks(&self, text: &str) -> Vec<SlackBlock> {
        let mut buttons = Vec::new();
        if self.can_operate && self.stopped {
            buttons.push(
                serde_json::json!({"type": "button", "action_id": ACTION_START, "value": self.alias,
                "style": "primary", "text": {"type": "plain_text", "text": "Start"}}),
            );
        }
        if self.can_operate && self.running {
            buttons.push(serde_json::json!({"type": "button", "action_id": ACTION_STOP, "value": self.alias,
                "style": "danger", "text": {"type": "plain_text", "text": "Stop"},
                "confirm": {"title": {"type": "plain_text", "text": "Stop this notebook?"},
                    "text": {"type": "mrkdwn", "text": format!("Stop `{}`? Unsaved work in its kernels is lost.", self.alias)},
                    "confirm": {"type": "plain_text", "text": "Stop it"},
                    "deny": {"type": "plain_text", "text": "Keep it running"}}}));
        }
        buttons.push(
            serde_json::json!({"type": "button", "action_id": ACTION_REFRESH, "value": self.alias,
            "text": {"type": "plain_text", "text": "Refresh"}}),
        );
        let blocks = serde_json::json!([
            {"type": "section", "text": {"type": "mrkdwn", "text": text}},
            {"type": "actions", "block_id": format!("card:{}", self.alias), "elements": buttons},
        ]);
        serde_json::from_value(blocks).expect("card blocks match slack-morphism's Block Kit model")
    }
}

/// A message, independent of where it goes.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub text: String,
    pub card: Option<Card>,
}

impl Reply {
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            card: None,
        }
    }

    fn content(&self) -> SlackMessageContent {
        let mut c = SlackMessageContent::new().with_text(self.text.clone());
        if let Some(card) = &self.card {
            c = c.with_blocks(card.blocks(&self.text));
        }
        c
    }
}

/// A message already posted, so it can be updated in place.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Posted {
    ResponseUrl,
    Message { channel: String, ts: String },
    Nowhere,
}

#[derive(Clone)]
pub struct Reporter {
    client: Arc<SlackHttpClient>,
    bot_token: Option<SlackApiToken>,
}

/// Builds slack-morphism's client for `base` (http allowed, for local fakes).
pub fn slack_client(base: &str) -> Result<SlackHttpClient, ReportError> {
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_native_roots()
        .map_err(|e| {
            ReportError::Client(format!(
                "no trusted CA certificates found ({e}); install the ca-certificates package"
            ))
        })?
        // Tests and local fakes speak plain http; Slack itself is always https.
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .build();
    let connector =
        SlackClientHyperConnector::from(https).with_slack_api_url(base.trim_end_matches('/'));
    Ok(SlackClient::new(connector))
}

impl Reporter {
    pub fn new(client: Arc<SlackHttpClient>, bot_token: Option<String>) -> Self {
        Self {
            client,
            bot_token: bot_token.map(|t| SlackApiToken::new(SlackApiTokenValue::new(t))),
        }
    }

    /// Sends a new message.
    pub async fn post(&self, to: &ReplyTo, reply: &Reply) -> Result<Posted, ReportError> {
        match to {
            ReplyTo::ResponseUrl(url) => {
                self.respond(url, reply, false).await?;
                Ok(Posted::ResponseUrl)
            }
            ReplyTo::Thread { channel, thread_ts } => {
                self.post_message(channel, Some(thread_ts), reply).await
            }
            ReplyTo::Direct(user) => self.post_message(user, None, reply).await,
            ReplyTo::Nowhere => Ok(Posted::Nowhere),
        }
    }

    /// Calls a Web API method slack-morphism does not model (or models too
    /// narrowly), with a JSON body and the given token.
    pub async fn call(
        &self,
        method: &str,
        token: &str,
        body: &serde_json::Value,
    ) -> Result<serde_json::Value, ReportError> {
        let token = SlackApiToken::new(SlackApiTokenValue::new(token.to_owned()));
        self.client
            .open_session(&token)
            .http_session_api
            .http_post(method, body, None)
            .await
            .map_err(|e| ReportError::Slack(format!("{method}: {e}")))
    }

    /// Calls a Web API method with the bot token.
    pub async fn call_as_bot(
        &self,
        method: &str,
        body: &serde_json::Value,
    ) -> Result<serde_json::Value, ReportError> {
        let token = self.bot_token.as_ref().ok_or(ReportError::NoBotToken)?;
        let token = token.token_value.to_string();
        self.call(method, &token, body).await
    }

    /// Replaces a message posted earlier with its final text.
    pub async fn update(
        &self,
        to: &ReplyTo,
        posted: &Posted,
        reply: &Reply,
    ) -> Result<Posted, ReportError> {
        match (to, posted) {
            (ReplyTo::ResponseUrl(url), _) => {
                self.respond(url, reply, true).await?;
                Ok(Posted::ResponseUrl)
            }
            (_, Posted::Message { channel, ts }) => {
                let token = self.bot_token.as_ref().ok_or(ReportError::NoBotToken)?;
                let req = SlackApiChatUpdateRequest::new(
                    channel.clone().into(),
                    reply.content(),
                    ts.clone().into(),
                );
                self.client
                    .open_session(token)
                    .chat_update(&req)
                    .await
                    .map_err(|e| ReportError::Slack(e.to_string()))?;
                Ok(posted.clone())
            }
            _ => self.post(to, reply).await,
        }
    }

    /// Posts a top-level message in a channel (announcements).
    pub async fn announce(&self, channel: &str, reply: &Reply) -> Result<(), ReportError> {
        self.post_message(channel, None, reply).await.map(|_| ())
    }

    /// `chat.postMessage` with the bot token; a user id as channel means their DMs.
    async fn post_message(
        &self,
        channel: &str,
        thread_ts: Option<&String>,
        reply: &Reply,
    ) -> Result<Posted, ReportError> {
        let token = self.bot_token.as_ref().ok_or(ReportError::NoBotToken)?;
        let mut req =
            SlackApiChatPostMessageRequest::new(channel.to_owned().into(), reply.content());
        if let Some(ts) = thread_ts {
            req = req.with_thread_ts(ts.clone().into());
        }
        let res = self
            .client
            .open_session(token)
            .chat_post_message(&req)
            .await
            .map_err(|e| ReportError::Slack(e.to_string()))?;
        Ok(Posted::Message {
            channel: res.channel.to_string(),
            ts: res.ts.to_string(),
        })
    }

    async fn respond(&self, url: &str, reply: &Reply, replace: bool) -> Result<(), ReportError> {
        let url: url::Url = url
            .parse()
            .map_err(|e| ReportError::Slack(format!("response_url is not a URL: {e}")))?;
        let req =
            SlackApiPostWebhookMessageRequest::new(reply.content()).with_replace_original(replace);
        self.client
            .respond_to_event(&SlackResponseUrl::new(url), &req)
            .await
            .map_err(|e| ReportError::Slack(e.to_string()))?;
        Ok(())
    }
}

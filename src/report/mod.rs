//! The report step: tells the person in Slack what happened.
//!
//! A slash command is answered through its `response_url` (ephemeral, and a later
//! message replaces the "working on it" one); a mention is answered in its thread
//! with `chat.postMessage` and updated with `chat.update`. All calls go through
//! slack-morphism's client with `SLACK_API_URL` as base, so tests point it at a fake.
//! What the messages say is in [`messages`]; how they look in Block Kit, in
//! [`blocks`].

pub mod blocks;
pub mod messages;

pub use blocks::Card;

use slack_morphism::prelude::*;
use std::sync::Arc;

pub type SlackHttpClient = SlackClient<SlackClientHyperHttpsConnector>;

/// A failure talking to Slack, with the method that failed.
#[derive(Debug, thiserror::Error)]
pub enum SlackError {
    #[error("Slack refused {method}: {source}")]
    Api {
        method: &'static str,
        source: slack_morphism::errors::SlackClientError,
    },
    #[error("response_url is not a URL: {0}")]
    ResponseUrl(#[source] url::ParseError),
    #[error("cannot open a Socket Mode connection (check SLACK_APP_TOKEN): {source}")]
    SocketMode {
        source: slack_morphism::errors::SlackClientError,
    },
    #[error("cannot reply in a thread without SLACK_BOT_TOKEN set")]
    NoBotToken,
    #[error("no trusted CA certificates found ({0}); install the ca-certificates package")]
    NoCaCertificates(#[source] std::io::Error),
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
pub fn slack_client(base: &str) -> Result<SlackHttpClient, SlackError> {
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_native_roots()
        .map_err(SlackError::NoCaCertificates)?
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
    pub async fn post(&self, to: &ReplyTo, reply: &Reply) -> Result<Posted, SlackError> {
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
        method: &'static str,
        token: &str,
        body: &serde_json::Value,
    ) -> Result<serde_json::Value, SlackError> {
        let token = SlackApiToken::new(SlackApiTokenValue::new(token.to_owned()));
        self.client
            .open_session(&token)
            .http_session_api
            .http_post(method, body, None)
            .await
            .map_err(|source| SlackError::Api { method, source })
    }

    /// Calls a Web API method with the bot token.
    pub async fn call_as_bot(
        &self,
        method: &'static str,
        body: &serde_json::Value,
    ) -> Result<serde_json::Value, SlackError> {
        let token = self.bot_token.as_ref().ok_or(SlackError::NoBotToken)?;
        let token = token.token_value.to_string();
        self.call(method, &token, body).await
    }

    /// Replaces a message posted earlier with its final text.
    pub async fn update(
        &self,
        to: &ReplyTo,
        posted: &Posted,
        reply: &Reply,
    ) -> Result<Posted, SlackError> {
        match (to, posted) {
            (ReplyTo::ResponseUrl(url), _) => {
                self.respond(url, reply, true).await?;
                Ok(Posted::ResponseUrl)
            }
            (_, Posted::Message { channel, ts }) => {
                let token = self.bot_token.as_ref().ok_or(SlackError::NoBotToken)?;
                let req = SlackApiChatUpdateRequest::new(
                    channel.clone().into(),
                    reply.content(),
                    ts.clone().into(),
                );
                self.client
                    .open_session(token)
                    .chat_update(&req)
                    .await
                    .map_err(|source| SlackError::Api {
                        method: "chat.update",
                        source,
                    })?;
                Ok(posted.clone())
            }
            _ => self.post(to, reply).await,
        }
    }

    /// Posts a top-level message in a channel (announcements).
    pub async fn announce(&self, channel: &str, reply: &Reply) -> Result<(), SlackError> {
        self.post_message(channel, None, reply).await.map(|_| ())
    }

    /// `chat.postMessage` with the bot token; a user id as channel means their DMs.
    async fn post_message(
        &self,
        channel: &str,
        thread_ts: Option<&String>,
        reply: &Reply,
    ) -> Result<Posted, SlackError> {
        let token = self.bot_token.as_ref().ok_or(SlackError::NoBotToken)?;
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
            .map_err(|source| SlackError::Api {
                method: "chat.postMessage",
                source,
            })?;
        Ok(Posted::Message {
            channel: res.channel.to_string(),
            ts: res.ts.to_string(),
        })
    }

    async fn respond(&self, url: &str, reply: &Reply, replace: bool) -> Result<(), SlackError> {
        let url: url::Url = url.parse().map_err(SlackError::ResponseUrl)?;
        let req =
            SlackApiPostWebhookMessageRequest::new(reply.content()).with_replace_original(replace);
        self.client
            .respond_to_event(&SlackResponseUrl::new(url), &req)
            .await
            .map_err(|source| SlackError::Api {
                method: "response_url",
                source,
            })?;
        Ok(())
    }
}

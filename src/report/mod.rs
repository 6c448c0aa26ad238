//! The report step: tells the person in Slack what happened.
//!
//! A slash command is answered through its `response_url` (ephemeral, and a later
//! message replaces the "working on it" one); a mention is answered in its thread
//! with `chat.postMessage` and updated with `chat.update`. Web API calls go through
//! slack-morphism's client with `SLACK_API_URL` as base, so tests point it at a fake;
//! `response_url` answers are a plain POST on a shared client ([`hook`]).
//! What the messages say is in [`messages`]; how they look in Block Kit, in
//! [`blocks`].

pub mod approvals;
pub mod blocks;
pub mod chart;
pub mod home;
mod hook;
pub mod idle;
pub mod messages;
pub mod step_access;
pub mod timers;
pub mod upload;
pub mod weekly;

pub use blocks::Card;

use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;
use std::sync::Arc;
use std::time::Duration;

pub type SlackHttpClient = SlackClient<SlackClientHyperHttpsConnector>;

/// A failure talking to Slack, with the method that failed.
#[derive(Debug, thiserror::Error)]
pub enum SlackError {
    #[error("Slack refused {method}: {source}")]
    Api {
        method: &'static str,
        source: slack_morphism::errors::SlackClientError,
    },
    #[error("Slack did not answer {method} within {secs} s")]
    Timeout { method: &'static str, secs: f32 },
    #[error("response_url is not an absolute http(s) URL")]
    ResponseUrl,
    #[error("cannot open a Socket Mode connection (check SLACK_APP_TOKEN): {source}")]
    SocketMode {
        source: slack_morphism::errors::SlackClientError,
    },
    #[error("cannot reply in a thread without SLACK_BOT_TOKEN set")]
    NoBotToken,
}

/// Where a reply goes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ReplyTo {
    /// A slash command's `response_url`: ephemeral to the person.
    ResponseUrl(String),
    /// The `response_url` of a card's button. A card only the presser sees is
    /// replaced in place; a card others see (`shared`) is left as it is, and
    /// the presser alone is answered.
    Card { response_url: String, shared: bool },
    /// A thread in a channel (mentions, workflow messages, dispatch results).
    Thread { channel: String, thread_ts: String },
    /// The person's direct messages with the bot (modal submissions).
    Direct(String),
    /// A top-level message in a channel (timer warnings with nobody to tell).
    Channel(String),
    /// Each person's direct messages: an instance's operators, where its news
    /// must not reach a channel that people who may not see it read.
    People(Vec<String>),
    /// Nowhere in Slack (a dispatch with no Slack context); the caller prints it.
    Nowhere,
}

impl From<crate::config::Audience> for ReplyTo {
    fn from(a: crate::config::Audience) -> Self {
        match a {
            crate::config::Audience::Channel(c) => ReplyTo::Channel(c),
            crate::config::Audience::People(p) => ReplyTo::People(p),
            crate::config::Audience::Nobody => ReplyTo::Nowhere,
        }
    }
}

impl ReplyTo {
    /// Whether a "Starting…" note can be shown and later replaced. An ephemeral
    /// note under a shared card could never be replaced, so none is sent.
    pub fn takes_progress(&self) -> bool {
        !matches!(
            self,
            ReplyTo::Card { shared: true, .. } | ReplyTo::People(_)
        )
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

/// How a Workflow Builder step's request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepEnd {
    pub ok: bool,
    /// The instance's state in a person's words ("running"), empty if unknown.
    pub state: String,
    pub message: String,
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
    /// `response_url` answers (see [`hook`]); pooled, shared by every clone.
    hooks: hook::HookClient,
    bot_token: Option<SlackApiToken>,
    timeout: Duration,
}

/// How long one Slack call may take before the bot gives up on it.
pub const SLACK_TIMEOUT: Duration = Duration::from_secs(10);

/// Builds slack-morphism's client for `base` (http allowed, for local fakes).
/// The trust store is read on the first TLS handshake, not here (see `tls`).
pub fn slack_client(base: &str) -> Result<SlackHttpClient, SlackError> {
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(crate::tls::client_config(&[]))
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
            hooks: hook::client(),
            bot_token: bot_token.map(|t| SlackApiToken::new(SlackApiTokenValue::new(t))),
            timeout: SLACK_TIMEOUT,
        }
    }

    /// A shorter bound, for tests and for a shutdown that must finish in time.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sends a new message.
    pub async fn post(&self, to: &ReplyTo, reply: &Reply) -> Result<Posted, SlackError> {
        // The Web API calls are boxed: their futures are twice a response_url
        // answer's, and every request's future would carry that size.
        match to {
            ReplyTo::ResponseUrl(url) => {
                self.respond(url, reply, false).await?;
                Ok(Posted::ResponseUrl)
            }
            ReplyTo::Card {
                response_url,
                shared,
            } => {
                self.respond(response_url, reply, !shared).await?;
                Ok(Posted::ResponseUrl)
            }
            ReplyTo::Thread { channel, thread_ts } => {
                Box::pin(self.post_message(channel, Some(thread_ts), reply)).await
            }
            ReplyTo::Direct(user) => Box::pin(self.post_message(user, None, reply)).await,
            ReplyTo::Channel(channel) => Box::pin(self.post_message(channel, None, reply)).await,
            ReplyTo::People(users) => {
                // Everyone is tried; one closed DM does not silence the rest.
                let (mut told, mut failure) = (false, None);
                for user in users {
                    match Box::pin(self.post_message(user, None, reply)).await {
                        Ok(_) => told = true,
                        Err(e) => {
                            tracing::warn!(error = %e, "could not tell an operator in their DMs");
                            failure = Some(e);
                        }
                    }
                }
                match (told, failure) {
                    (false, Some(e)) => Err(e),
                    _ => Ok(Posted::Nowhere),
                }
            }
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
        let session = self.client.open_session(&token);
        self.timed(method, || {
            session.http_session_api.http_post(method, body, None)
        })
        .await
    }

    /// Completes a Workflow Builder step with how its request ended:
    /// `functions.completeSuccess` with the state and message as outputs, or
    /// `functions.completeError` with the message. `token` is the step's own
    /// `bot_access_token` when it is still fresh, else the bot token.
    pub async fn complete_step(
        &self,
        token: Option<&str>,
        execution_id: &str,
        end: &StepEnd,
    ) -> Result<(), SlackError> {
        let (method, body) = if end.ok {
            (
                "functions.completeSuccess",
                serde_json::json!({"function_execution_id": execution_id,
                                   "outputs": {"state": end.state, "message": end.message}}),
            )
        } else {
            (
                "functions.completeError",
                serde_json::json!({"function_execution_id": execution_id, "error": end.message}),
            )
        };
        match token {
            Some(t) => self.call(method, t, &body).await,
            None => self.call_as_bot(method, &body).await,
        }
        .map(|_| ())
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
            (ReplyTo::Card { .. }, _) => self.post(to, reply).await,
            (_, Posted::Message { channel, ts }) => {
                let token = self.bot_token.as_ref().ok_or(SlackError::NoBotToken)?;
                let req = SlackApiChatUpdateRequest::new(
                    channel.clone().into(),
                    reply.content(),
                    ts.clone().into(),
                );
                let session = self.client.open_session(token);
                self.timed("chat.update", || session.chat_update(&req))
                    .await?;
                Ok(posted.clone())
            }
            _ => self.post(to, reply).await,
        }
    }

    /// Posts a top-level message in a channel (announcements).
    pub async fn announce(&self, channel: &str, reply: &Reply) -> Result<(), SlackError> {
        self.post_message(channel, None, reply).await.map(|_| ())
    }

    /// Posts a message with its own blocks in a channel (or a user's DMs),
    /// with `token` when given (a workflow step's, so presses on it come back
    /// with the step's context), else the bot token.
    pub async fn post_blocks(
        &self,
        token: Option<&str>,
        channel: &str,
        text: &str,
        blocks: Vec<SlackBlock>,
    ) -> Result<Posted, SlackError> {
        let content = SlackMessageContent::new()
            .with_text(text.to_owned())
            .with_blocks(blocks);
        let token = match token {
            Some(t) => SlackApiToken::new(SlackApiTokenValue::new(t.to_owned())),
            None => self.bot_token.clone().ok_or(SlackError::NoBotToken)?,
        };
        self.send_message(&token, channel, None, content).await
    }

    /// Replaces a posted message's text and removes its buttons.
    pub async fn rewrite(&self, posted: &Posted, text: &str) -> Result<(), SlackError> {
        let Posted::Message { channel, ts } = posted else {
            return Ok(());
        };
        let token = self.bot_token.as_ref().ok_or(SlackError::NoBotToken)?;
        let content = Reply::text(text).content().with_blocks(vec![
            SlackSectionBlock::new()
                .with_text(SlackBlockMarkDownText::new(text.to_owned()).into())
                .into(),
        ]);
        let req =
            SlackApiChatUpdateRequest::new(channel.clone().into(), content, ts.clone().into());
        let session = self.client.open_session(token);
        self.timed("chat.update", || session.chat_update(&req))
            .await?;
        Ok(())
    }

    /// `chat.postMessage` with the bot token; a user id as channel means their DMs.
    async fn post_message(
        &self,
        channel: &str,
        thread_ts: Option<&String>,
        reply: &Reply,
    ) -> Result<Posted, SlackError> {
        let token = self.bot_token.as_ref().ok_or(SlackError::NoBotToken)?;
        self.send_message(token, channel, thread_ts, reply.content())
            .await
    }

    async fn send_message(
        &self,
        token: &SlackApiToken,
        channel: &str,
        thread_ts: Option<&String>,
        content: SlackMessageContent,
    ) -> Result<Posted, SlackError> {
        let mut req = SlackApiChatPostMessageRequest::new(channel.to_owned().into(), content);
        if let Some(ts) = thread_ts {
            req = req.with_thread_ts(ts.clone().into());
        }
        let session = self.client.open_session(token);
        let res = self
            .timed("chat.postMessage", || session.chat_post_message(&req))
            .await?;
        Ok(Posted::Message {
            channel: res.channel.to_string(),
            ts: res.ts.to_string(),
        })
    }

    async fn respond(&self, url: &str, reply: &Reply, replace: bool) -> Result<(), SlackError> {
        let url = hook::parse(url).ok_or(SlackError::ResponseUrl)?;
        let req =
            SlackApiPostWebhookMessageRequest::new(reply.content()).with_replace_original(replace);
        // Serialised once; a try after a 429 sends the same bytes.
        // A card is well under 1 KiB; sized once instead of grown by doubling.
        let mut body = Vec::with_capacity(1024);
        serde_json::to_writer(&mut body, &req).map_err(|json_error| SlackError::Api {
            method: "response_url",
            source: SlackClientError::ProtocolError(
                slack_morphism::errors::SlackClientProtocolError::new(json_error),
            ),
        })?;
        let body = bytes::Bytes::from(body);
        self.timed("response_url", || {
            hook::post(&self.hooks, &url, body.clone())
        })
        .await
    }

    /// Every call to Slack is bounded: a Slack that does not answer must not
    /// hold a request (or the shutdown drain) forever. A `429` is waited out as
    /// its `Retry-After` says, within the same bound, and tried again.
    async fn timed<T, F, Fut>(&self, method: &'static str, mut call: F) -> Result<T, SlackError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, SlackClientError>>,
    {
        let deadline = tokio::time::Instant::now() + self.timeout;
        let timed_out = || {
            crate::metrics::slack_error(method);
            SlackError::Timeout {
                method,
                secs: self.timeout.as_secs_f32(),
            }
        };
        loop {
            let result = tokio::time::timeout_at(deadline, call())
                .await
                .map_err(|_| timed_out())?;
            match result {
                Err(SlackClientError::RateLimitError(limit)) => {
                    let wait = limit.retry_after.unwrap_or(Duration::from_secs(1));
                    if tokio::time::Instant::now() + wait >= deadline {
                        crate::metrics::slack_error(method);
                        return Err(SlackError::Api {
                            method,
                            source: SlackClientError::RateLimitError(limit),
                        });
                    }
                    tracing::info!(method, ?wait, "Slack asked the bot to slow down; waiting");
                    tokio::time::sleep(wait).await;
                }
                other => {
                    return other.map_err(|source| {
                        crate::metrics::slack_error(method);
                        SlackError::Api { method, source }
                    });
                }
            }
        }
    }
}

//! Answers through a `response_url`: one plain JSON POST on a pooled,
//! keep-alive client the whole process shares, with the body serialised once.
//!
//! slack-morphism's webhook call parses the URL again, opens a tracing span,
//! serialises per try and goes through its rate-control path for every answer;
//! a slash command's reply is the bot's hottest Slack call, so it is sent
//! directly. Slack's answers are read as slack-morphism reads them, so a
//! failure is the same `SlackClientError` whichever path sent it.

use bytes::Bytes;
use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};
use slack_morphism::errors::{
    SlackClientApiError, SlackClientError, SlackClientHttpError, SlackClientHttpProtocolError,
    SlackRateLimitError,
};
use std::time::Duration;

/// The client every `response_url` answer goes through. No timeout of its
/// own: the caller bounds each call (`Reporter::timed`).
pub(super) fn client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .tls_backend_preconfigured(crate::tls::client_config(&[b"h2", b"http/1.1"]))
        .connect_timeout(Duration::from_secs(10))
        // Slack never redirects an answer; following one would hand the
        // message (and the URL it came for) to wherever it pointed.
        .redirect(reqwest::redirect::Policy::none())
        .pool_idle_timeout(Duration::from_secs(60))
        .user_agent(concat!("workbench-bot/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// POSTs `body` (JSON) to `url` and reads Slack's answer.
pub(super) async fn post(
    client: &reqwest::Client,
    url: &url::Url,
    body: Bytes,
) -> Result<(), SlackClientError> {
    let res = client
        .post(url.clone())
        .header(CONTENT_TYPE, "application/json; charset=utf-8")
        .body(body)
        .send()
        .await
        .map_err(unreachable_hook)?;
    let status = res.status();
    let retry_after = res
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.trim().parse().ok())
        .map(Duration::from_secs);
    let text = res.text().await.map_err(unreachable_hook)?;
    match status.as_u16() {
        // Slack answers `ok` or `{"ok": true}`; `{"ok": false, "error": …}` is a refusal.
        200..=299 => match slack_error(&text) {
            None => Ok(()),
            Some(code) => Err(SlackClientError::ApiError(
                SlackClientApiError::new(code).with_http_response_body(text),
            )),
        },
        429 => Err(SlackClientError::RateLimitError(
            SlackRateLimitError::new()
                .opt_retry_after(retry_after)
                .opt_code(slack_error(&text))
                .with_http_response_body(text),
        )),
        _ => Err(SlackClientError::HttpError(
            SlackClientHttpError::new(status).with_http_response_body(text),
        )),
    }
}

/// The `error` of an answer `{"ok": false, "error": "…"}`, if it is one.
fn slack_error(body: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Envelope {
        ok: Option<bool>,
        error: Option<String>,
    }
    let envelope: Envelope = serde_json::from_str(body).ok()?;
    match (envelope.ok, envelope.error) {
        (_, Some(error)) => Some(error),
        (Some(false), None) => Some("ok: false".into()),
        _ => None,
    }
}

/// A transport failure. The URL is a capability (anyone holding it may post
/// as the bot to that person until it expires), so it never reaches a log.
fn unreachable_hook(e: reqwest::Error) -> SlackClientError {
    SlackClientError::HttpProtocolError(
        SlackClientHttpProtocolError::new().with_cause(Box::new(e.without_url())),
    )
}

#[cfg(test)]
mod tests {
    use super::slack_error;

    #[test]
    fn slacks_answers_are_read_as_delivered_or_refused() {
        assert_eq!(slack_error("ok"), None);
        assert_eq!(slack_error(r#"{"ok":true}"#), None);
        assert_eq!(slack_error(""), None);
        assert_eq!(
            slack_error(r#"{"ok":false,"error":"expired_url"}"#).as_deref(),
            Some("expired_url")
        );
        assert_eq!(slack_error(r#"{"ok":false}"#).as_deref(), Some("ok: false"));
    }
}

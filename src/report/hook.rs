//! Answers through a `response_url`: one plain JSON POST on a pooled,
//! keep-alive client the whole process shares, with the body serialised once.
//!
//! A slash command's answer is the bot's hottest Slack call. slack-morphism's
//! webhook call parses the URL again, opens a tracing span, serialises per
//! try and goes through its rate-control path; reqwest adds its redirect,
//! retry and proxy layers. This is hyper's pooled client alone, with the
//! process's TLS (`tls`). Slack's answers are read as slack-morphism reads
//! them, so a failure is the same `SlackClientError` whichever path sent it.

use bytes::Bytes;
use http::header::{CONTENT_TYPE, RETRY_AFTER, USER_AGENT};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use slack_morphism::errors::{
    SlackClientApiError, SlackClientError, SlackClientHttpError, SlackClientHttpProtocolError,
    SlackRateLimitError,
};
use std::time::Duration;

pub(super) type HookClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Slack answers `ok`; anything longer than this is not an answer worth reading.
const MAX_ANSWER: usize = 64 * 1024;

/// The client every `response_url` answer goes through. No timeout of its
/// own beyond connecting: the caller bounds each call (`Reporter::timed`).
/// It never follows a redirect: Slack sends none, and following one would
/// hand the message to wherever it pointed.
pub(super) fn client() -> HookClient {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(Duration::from_secs(10)));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(crate::tls::client_config(&[]))
        // Tests and local fakes speak plain http; Slack itself is always https.
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(http);
    Client::builder(TokioExecutor::new())
        // Without a timer the idle timeout is only checked when a connection
        // is next wanted: after a burst, its connections would stay open.
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .build(https)
}

/// A `response_url` as the client takes it: absolute, http or https.
pub(super) fn parse(url: &str) -> Option<http::Uri> {
    let uri: http::Uri = url.parse().ok()?;
    let web = matches!(uri.scheme_str(), Some("https" | "http"));
    (web && uri.authority().is_some()).then_some(uri)
}

/// POSTs `body` (JSON) to `uri` and reads Slack's answer.
pub(super) async fn post(
    client: &HookClient,
    uri: &http::Uri,
    body: Bytes,
) -> Result<(), SlackClientError> {
    let request = http::Request::post(uri.clone())
        .header(CONTENT_TYPE, "application/json; charset=utf-8")
        .header(
            USER_AGENT,
            concat!("workbench-bot/", env!("CARGO_PKG_VERSION")),
        )
        .body(Full::new(body))
        .map_err(|e| protocol(Box::new(e)))?;
    // hyper's errors name no URL: the URL is a capability (anyone holding
    // it may post as the bot to that person until it expires).
    let res = client
        .request(request)
        .await
        .map_err(|e| protocol(Box::new(e)))?;
    let status = res.status();
    let retry_after = res
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.trim().parse().ok())
        .map(Duration::from_secs);
    let answer = Limited::new(res.into_body(), MAX_ANSWER)
        .collect()
        .await
        .map_err(protocol)?
        .to_bytes();
    let text = String::from_utf8_lossy(&answer).into_owned();
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

fn protocol(e: Box<dyn std::error::Error + Send + Sync>) -> SlackClientError {
    SlackClientError::HttpProtocolError(SlackClientHttpProtocolError::new().with_cause(e))
}

#[cfg(test)]
mod tests {
    use super::{parse, slack_error};

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

    #[test]
    fn a_response_url_is_an_absolute_web_url() {
        assert!(parse("https://hooks.slack.com/commands/T0/1/abc").is_some());
        assert!(parse("http://127.0.0.1:9/r").is_some());
        for bad in [
            "/commands/T0/1",
            "hooks.slack.com/x",
            "ftp://h/x",
            "",
            "not a url",
        ] {
            assert!(parse(bad).is_none(), "{bad}");
        }
    }
}

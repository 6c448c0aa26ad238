//! Slack's external upload flow, for the weekly report's chart:
//! `files.getUploadURLExternal`, a POST of the bytes to the URL it returns,
//! then `files.completeUploadExternal` into the channel with the report as
//! its comment. `files:write` is an optional scope: without it the first
//! call answers `missing_scope`, which the caller turns into a text report.

use super::{Reporter, SlackError};
use slack_morphism::prelude::*;

/// A PNG to share in a channel, with the message that introduces it.
pub struct Picture<'a> {
    pub channel: &'a str,
    pub filename: &'a str,
    pub title: &'a str,
    pub png: Vec<u8>,
    pub comment: &'a str,
}

impl SlackError {
    /// Slack's own error code, when Slack answered with one (`missing_scope`).
    pub fn code(&self) -> Option<&str> {
        match self {
            SlackError::Api {
                source: slack_morphism::errors::SlackClientError::ApiError(e),
                ..
            } => Some(e.code.as_str()),
            _ => None,
        }
    }
}

impl Reporter {
    /// Uploads `picture` and shares it in its channel: the three calls, in order.
    pub async fn upload_png(&self, picture: Picture<'_>) -> Result<(), SlackError> {
        let token = self.bot_token.as_ref().ok_or(SlackError::NoBotToken)?;
        let session = self.client.open_session(token);
        let ask = SlackApiFilesGetUploadUrlExternalRequest::new(
            picture.filename.to_owned(),
            picture.png.len(),
        );
        let place = self
            .timed("files.getUploadURLExternal", || {
                session.get_upload_url_external(&ask)
            })
            .await?;
        let bytes = SlackApiFilesUploadViaUrlRequest::new(
            place.upload_url.clone(),
            picture.png,
            "image/png".into(),
        );
        self.timed("files.upload", || session.files_upload_via_url(&bytes))
            .await?;
        let body = serde_json::json!({
            "files": [{"id": place.file_id, "title": picture.title}],
            "channel_id": picture.channel,
            "initial_comment": picture.comment,
        });
        self.call_as_bot("files.completeUploadExternal", &body)
            .await
            .map(|_| ())
    }
}

//! The Slack Web API and `response_url`, answering in the shapes Slack documents.

use super::http::{Call, Fake};
use serde_json::{Value, json};
use std::sync::Arc;

/// Slack Web API and response_url fake, with answers shaped as Slack documents them.
pub async fn fake_slack() -> Fake {
    Fake::start(Arc::new(slack_answer)).await
}

/// How the fake Slack answers a call.
pub fn slack_answer(call: &Call) -> (u16, Value) {
    {
        let body = call.json();
        let channel = body.get("channel").cloned().unwrap_or(json!("C0CHANNEL"));
        match call.path.as_str() {
            "/api/chat.postMessage" => (
                200,
                json!({"ok": true, "channel": channel, "ts": "1700000100.000200",
                       "message": {"type": "message", "ts": "1700000100.000200", "text": body.get("text"), "bot_id": "B0OURBOT"}}),
            ),
            "/api/chat.update" => (
                200,
                json!({"ok": true, "channel": channel, "ts": body.get("ts"), "text": body.get("text"),
                       "message": {"text": body.get("text")}}),
            ),
            // The external upload flow: a URL on this fake, then the bytes, then sharing.
            "/api/files.getUploadURLExternal" => (
                200,
                json!({"ok": true, "file_id": "F0CHART1",
                       "upload_url": format!("http://{}/upload/F0CHART1", call.header("host").unwrap_or("127.0.0.1"))}),
            ),
            "/api/files.completeUploadExternal" => (
                200,
                json!({"ok": true, "files": [{"id": "F0CHART1", "title": body["files"][0]["title"]}]}),
            ),
            p if p.starts_with("/response/") => (200, json!({"ok": true})),
            _ => (200, json!({"ok": true})),
        }
    }
}

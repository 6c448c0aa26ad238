//! The `repository_dispatch` contract between the bot and `handle-dispatch`:
//! the payload's shape, and the signature that proves the bot sent it.
//!
//! Anyone who can send a dispatch to the ops repository (a token with contents
//! write, any workflow's `GITHUB_TOKEN` there) could otherwise name any
//! requester. So the bot signs every field `handle-dispatch` relies on, plus the
//! time it was issued, with `WORKBENCH_DISPATCH_SECRET`, which only the bot and
//! the ops workflow hold; the workflow refuses unsigned, re-signed, edited and
//! stale payloads. GitHub accepts at most 10 top-level `client_payload` keys: the
//! documented five stay where existing workflows read them, and everything new
//! is nested under `workbench`.

use crate::domain::Origin;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// The signature scheme's version, part of what is signed.
const SCHEME: &str = "v1";

/// Where the requester waits, as the payload carries it. No capability URL
/// (`response_url`) ever goes in: the ops repository's Actions logs show it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackPlace {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_ts: Option<String>,
}

/// What the bot adds beyond the documented fields.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workbench {
    /// Seconds since the epoch when the bot signed the payload.
    pub issued_at: i64,
    /// A user to tell in a direct message (slash command, dialog, button).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dm: Option<String>,
    /// A Workflow Builder step to complete when the work ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// Who approved a guarded start (`handle-dispatch` checks they are one
    /// of the instance's approvers, and not the requester).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
    /// An automatic stop's try, from 2 on: the workflow puts it in the run's
    /// name, so the bot finds each try's run by its own title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    /// `v1=` and the hex HMAC-SHA256 of the signed fields.
    #[serde(default)]
    pub signature: String,
}

/// Exactly what the bot sends; `handle-dispatch` refuses anything else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DispatchPayload {
    pub notebook: String,
    pub command: String,
    pub request_id: String,
    pub requested_by: String,
    #[serde(default)]
    pub slack: SlackPlace,
    #[serde(default)]
    pub workbench: Workbench,
}

/// Why a payload's signature does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the payload carries no signature (was it sent by workbench-bot?)")]
    Unsigned,
    #[error(
        "the payload's signature does not match (edited, or signed with another WORKBENCH_DISPATCH_SECRET)"
    )]
    Mismatch,
    #[error(
        "the payload was issued {age_minutes} minutes ago, over the {max_minutes}-minute limit"
    )]
    Stale { age_minutes: i64, max_minutes: i64 },
    #[error("the payload claims to be issued in the future")]
    FromTheFuture,
}

impl DispatchPayload {
    /// The payload for one request, signed with `secret` at `now`.
    pub fn signed(
        notebook: &str,
        command: &str,
        request_id: &str,
        requested_by: &str,
        origin: &Origin,
        secret: &str,
        now: i64,
    ) -> Self {
        let (slack, dm, step) = match origin {
            Origin::Thread { channel, thread_ts } => (
                SlackPlace {
                    channel: Some(channel.clone()),
                    thread_ts: Some(thread_ts.clone()),
                },
                None,
                None,
            ),
            Origin::Direct { user } => (SlackPlace::default(), Some(user.clone()), None),
            Origin::Step { execution_id } => {
                (SlackPlace::default(), None, Some(execution_id.clone()))
            }
            Origin::Nowhere => (SlackPlace::default(), None, None),
        };
        let mut p = Self {
            notebook: notebook.to_owned(),
            command: command.to_owned(),
            request_id: request_id.to_owned(),
            requested_by: requested_by.to_owned(),
            slack,
            workbench: Workbench {
                issued_at: now,
                dm,
                step,
                approved_by: None,
                attempt: None,
                signature: String::new(),
            },
        };
        p.workbench.signature = p.signature_with(secret);
        p
    }

    /// The same payload naming who approved it, signed again.
    pub fn approved(mut self, by: &str, secret: &str) -> Self {
        self.workbench.approved_by = Some(by.to_owned());
        self.workbench.signature = self.signature_with(secret);
        self
    }

    /// The same payload as try `attempt` (from 2 on), signed again.
    pub fn attempt(mut self, attempt: u32, secret: &str) -> Self {
        self.workbench.attempt = (attempt > 1).then_some(attempt);
        self.workbench.signature = self.signature_with(secret);
        self
    }

    /// Every field `handle-dispatch` relies on, each length-prefixed so no
    /// value can pose as the next. The approver is signed only when there is
    /// one, so payloads without it sign as they always did.
    fn signed_text(&self) -> String {
        let w = &self.workbench;
        let fields = [
            SCHEME,
            &self.notebook,
            &self.command,
            &self.request_id,
            &self.requested_by,
            self.slack.channel.as_deref().unwrap_or_default(),
            self.slack.thread_ts.as_deref().unwrap_or_default(),
            &w.issued_at.to_string(),
            w.dm.as_deref().unwrap_or_default(),
            w.step.as_deref().unwrap_or_default(),
        ];
        let approved = w.approved_by.as_deref().map(|a| ["approved_by", a]);
        let attempt = w.attempt.map(|n| n.to_string());
        let attempt = attempt.as_deref().map(|n| ["attempt", n]);
        fields
            .iter()
            .chain(approved.iter().flatten())
            .chain(attempt.iter().flatten())
            .map(|f| format!("{}:{f}\n", f.len()))
            .collect()
    }

    fn mac(&self, secret: &str) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
        mac.update(self.signed_text().as_bytes());
        mac
    }

    fn signature_with(&self, secret: &str) -> String {
        format!(
            "{SCHEME}={}",
            hex::encode(self.mac(secret).finalize().into_bytes())
        )
    }

    /// Checks the signature against each secret in turn (current, then the
    /// previous one during a rotation), then the payload's age.
    pub fn verify(
        &self,
        secrets: &[&str],
        now: i64,
        max_age_minutes: i64,
    ) -> Result<(), SignatureError> {
        let presented = self
            .workbench
            .signature
            .strip_prefix(&format!("{SCHEME}="))
            .ok_or(SignatureError::Unsigned)?;
        let presented = hex::decode(presented).map_err(|_| SignatureError::Mismatch)?;
        let matches = secrets
            .iter()
            .any(|s| self.mac(s).verify_slice(&presented).is_ok());
        if !matches {
            return Err(SignatureError::Mismatch);
        }
        let age = now - self.workbench.issued_at;
        // A little clock skew between the bot and GitHub's runners is normal.
        if age < -300 {
            return Err(SignatureError::FromTheFuture);
        }
        if age > max_age_minutes * 60 {
            return Err(SignatureError::Stale {
                age_minutes: age / 60,
                max_minutes: max_age_minutes,
            });
        }
        Ok(())
    }

    /// Where `handle-dispatch` tells the requester how it ended.
    pub fn origin(&self) -> Origin {
        if let Some(execution_id) = &self.workbench.step {
            return Origin::Step {
                execution_id: execution_id.clone(),
            };
        }
        if let Some(user) = &self.workbench.dm {
            return Origin::Direct { user: user.clone() };
        }
        match (&self.slack.channel, &self.slack.thread_ts) {
            (Some(channel), Some(thread_ts)) => Origin::Thread {
                channel: channel.clone(),
                thread_ts: thread_ts.clone(),
            },
            _ => Origin::Nowhere,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn thread() -> Origin {
        Origin::Thread {
            channel: "C0CHANNEL".into(),
            thread_ts: "1700000000.000100".into(),
        }
    }

    fn signed() -> DispatchPayload {
        DispatchPayload::signed(
            "foo",
            "start",
            "req1",
            "U01AAAAAAAA",
            &thread(),
            "s3cret",
            NOW,
        )
    }

    #[test]
    fn the_bots_own_payload_verifies_and_round_trips_through_json() {
        let p = signed();
        let json = serde_json::to_value(&p).unwrap();
        assert!(json.as_object().unwrap().len() <= 10, "GitHub's limit");
        let back: DispatchPayload = serde_json::from_value(json).unwrap();
        assert_eq!(back.verify(&["s3cret"], NOW + 60, 60), Ok(()));
        assert_eq!(back.origin(), thread());
    }

    /// The approver is signed when there is one; a payload without one signs
    /// exactly as before approvals existed, so older jobs still verify it.
    #[test]
    fn an_approver_is_signed_in_and_cannot_be_changed() {
        let plain = signed();
        let approved = signed().approved("U02CCCCCCCC", "s3cret");
        assert_eq!(approved.verify(&["s3cret"], NOW, 60), Ok(()));
        assert_ne!(approved.workbench.signature, plain.workbench.signature);
        let mut swapped = approved.clone();
        swapped.workbench.approved_by = Some("U01BBBBBBBB".into());
        assert_eq!(
            swapped.verify(&["s3cret"], NOW, 60),
            Err(SignatureError::Mismatch)
        );
        assert!(
            !serde_json::to_string(&plain)
                .unwrap()
                .contains("approved_by")
        );
    }

    #[test]
    fn every_signed_field_is_covered() {
        let edits: [fn(&mut DispatchPayload); 10] = [
            |p| p.notebook = "gpu".into(),
            |p| p.command = "stop".into(),
            |p| p.request_id = "req2".into(),
            |p| p.requested_by = "U02CCCCCCCC".into(),
            |p| p.slack.channel = Some("C0OTHER".into()),
            |p| p.workbench.issued_at += 1,
            |p| p.workbench.dm = Some("U02CCCCCCCC".into()),
            |p| p.workbench.step = Some("Fx123".into()),
            |p| p.workbench.approved_by = Some("U02CCCCCCCC".into()),
            |p| p.workbench.attempt = Some(2),
        ];
        for edit in edits {
            let mut p = signed();
            edit(&mut p);
            assert_eq!(
                p.verify(&["s3cret"], NOW, 60),
                Err(SignatureError::Mismatch)
            );
        }
    }

    /// A retried stop's try number is signed in and only from the second try.
    #[test]
    fn a_try_number_is_signed_from_the_second_try_on() {
        assert_eq!(signed().attempt(1, "s3cret"), signed());
        let second = signed().attempt(2, "s3cret");
        assert_eq!(second.workbench.attempt, Some(2));
        assert_eq!(second.verify(&["s3cret"], NOW, 60), Ok(()));
        let mut bumped = second.clone();
        bumped.workbench.attempt = Some(3);
        assert_eq!(
            bumped.verify(&["s3cret"], NOW, 60),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn unsigned_resigned_and_stale_payloads_are_refused() {
        let mut unsigned = signed();
        unsigned.workbench.signature.clear();
        assert_eq!(
            unsigned.verify(&["s3cret"], NOW, 60),
            Err(SignatureError::Unsigned)
        );
        let resigned = DispatchPayload::signed(
            "foo",
            "start",
            "req1",
            "U01AAAAAAAA",
            &thread(),
            "other",
            NOW,
        );
        assert_eq!(
            resigned.verify(&["s3cret"], NOW, 60),
            Err(SignatureError::Mismatch)
        );
        assert!(matches!(
            signed().verify(&["s3cret"], NOW + 61 * 60, 60),
            Err(SignatureError::Stale { .. })
        ));
        assert_eq!(
            signed().verify(&["s3cret"], NOW - 3600, 60),
            Err(SignatureError::FromTheFuture)
        );
    }

    #[test]
    fn the_previous_secret_verifies_during_a_rotation() {
        assert_eq!(signed().verify(&["new", "s3cret"], NOW, 60), Ok(()));
        assert_eq!(
            signed().verify(&["new"], NOW, 60),
            Err(SignatureError::Mismatch)
        );
    }
}

//! What the load generator and the ceiling servers share: Slack's request
//! signature, computed and checked the way Slack documents it.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::time::{SystemTime, UNIX_EPOCH};

type HmacSha256 = Hmac<Sha256>;

/// Slack refuses (and so does every verifier here) a timestamp further than
/// this from now, in either direction.
pub const MAX_SKEW_SECONDS: i64 = 300;

pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn mac(secret: &[u8], ts: &str, body: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(b"v0:");
    mac.update(ts.as_bytes());
    mac.update(b":");
    mac.update(body);
    mac
}

/// The `X-Slack-Signature` value for `body` sent at `ts`.
pub fn sign(secret: &[u8], ts: i64, body: &[u8]) -> String {
    let tag = mac(secret, &ts.to_string(), body).finalize().into_bytes();
    format!("v0={}", hex::encode(tag))
}

/// Checks `X-Slack-Request-Timestamp` and `X-Slack-Signature` against the raw
/// body: the timestamp within five minutes of now, the HMAC compared in
/// constant time.
pub fn verify(secret: &[u8], ts: Option<&[u8]>, sig: Option<&[u8]>, body: &[u8]) -> bool {
    let (Some(ts), Some(sig)) = (ts, sig) else {
        return false;
    };
    let Ok(ts) = std::str::from_utf8(ts) else {
        return false;
    };
    let Ok(when) = ts.parse::<i64>() else {
        return false;
    };
    if (unix_now() - when).abs() > MAX_SKEW_SECONDS {
        return false;
    }
    let Some(hex_tag) = sig.strip_prefix(b"v0=") else {
        return false;
    };
    let Ok(tag) = hex::decode(hex_tag) else {
        return false;
    };
    mac(secret, ts, body).verify_slice(&tag).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slacks_documented_example_signs_as_documented() {
        // https://api.slack.com/authentication/verifying-requests-from-slack
        let secret = b"8f742231b10e8888abcd99yyyzzz85a5";
        let body = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        assert_eq!(
            sign(secret, 1531420618, body),
            "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
        );
    }

    #[test]
    fn verify_accepts_its_own_signature_and_nothing_else() {
        let ts = unix_now();
        let sig = sign(b"s", ts, b"body");
        let ts_s = ts.to_string();
        assert!(verify(
            b"s",
            Some(ts_s.as_bytes()),
            Some(sig.as_bytes()),
            b"body"
        ));
        assert!(!verify(
            b"t",
            Some(ts_s.as_bytes()),
            Some(sig.as_bytes()),
            b"body"
        ));
        assert!(!verify(
            b"s",
            Some(ts_s.as_bytes()),
            Some(sig.as_bytes()),
            b"bodz"
        ));
        let old = (ts - 301).to_string();
        let old_sig = sign(b"s", ts - 301, b"body");
        assert!(!verify(
            b"s",
            Some(old.as_bytes()),
            Some(old_sig.as_bytes()),
            b"body"
        ));
        assert!(!verify(b"s", None, Some(sig.as_bytes()), b"body"));
    }
}

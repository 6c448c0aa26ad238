//! The verify step: is this request really from Slack, recent, and from a
//! workspace we serve?
//!
//! Slack signs `v0:{timestamp}:{raw body}` with HMAC-SHA256 under the app's signing
//! secret. slack-morphism's verifier does the constant-time compare and the
//! five-minute window (both directions, so a replay from the future fails too).
//! Nothing is parsed before this passes.

use crate::config::Config;
use crate::domain::{Principal, SlackUserId, TeamId};
use hmac::{Hmac, Mac};
use http::HeaderMap;
use sha2::Sha256;
use slack_morphism::prelude::*;
use slack_morphism::signature_verifier::{
    SlackEventSignatureVerifier, SlackEventSignatureVerifierError,
};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the request has no Slack signature or timestamp")]
    Unsigned,
    #[error("the Slack signature does not match")]
    BadSignature,
    #[error("the Slack timestamp is missing, malformed or more than 5 minutes from now")]
    Stale,
    #[error("the body is not UTF-8")]
    NotUtf8,
    #[error("workspace {0} is not one this bot serves")]
    TeamNotAllowed(String),
}

impl VerifyError {
    pub fn metric(&self) -> &'static str {
        match self {
            VerifyError::Unsigned => "unsigned",
            VerifyError::BadSignature => "bad_signature",
            VerifyError::Stale => "stale",
            VerifyError::NotUtf8 => "not_utf8",
            VerifyError::TeamNotAllowed(_) => "team_not_allowed",
        }
    }
}

/// Checks Slack's signature with the current signing secret, and with the
/// previous one while a rotation is under way.
#[derive(Clone)]
pub struct Verifier {
    current: SlackEventSignatureVerifier,
    previous: Option<SlackEventSignatureVerifier>,
}

fn verifier(secret: &str) -> SlackEventSignatureVerifier {
    SlackEventSignatureVerifier::new(&SlackSigningSecret::new(secret.to_owned()))
}

impl Verifier {
    pub fn new(signing_secret: &str) -> Self {
        Self {
            current: verifier(signing_secret),
            previous: None,
        }
    }

    /// Also accepts `previous` (`SLACK_SIGNING_SECRET_PREVIOUS`) while it is set.
    pub fn with_previous(mut self, previous: Option<&str>) -> Self {
        self.previous = previous.map(verifier);
        self
    }

    /// Checks the signature headers against the raw body.
    pub fn verify<'b>(&self, headers: &HeaderMap, body: &'b [u8]) -> Result<&'b str, VerifyError> {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let (Some(sig), Some(ts)) = (
            header(SlackEventSignatureVerifier::SLACK_SIGNED_HASH_HEADER),
            header(SlackEventSignatureVerifier::SLACK_SIGNED_TIMESTAMP),
        ) else {
            return Err(VerifyError::Unsigned);
        };
        let body = std::str::from_utf8(body).map_err(|_| VerifyError::NotUtf8)?;
        let checked = match (self.current.verify(sig, body, ts), &self.previous) {
            (Err(SlackEventSignatureVerifierError::WrongSignatureError(_)), Some(previous)) => {
                previous.verify(sig, body, ts)
            }
            (first, _) => first,
        };
        match checked {
            Ok(()) => Ok(body),
            Err(SlackEventSignatureVerifierError::IncorrectOrExpiredTimestampError(_)) => {
                Err(VerifyError::Stale)
            }
            Err(_) => Err(VerifyError::BadSignature),
        }
    }
}

/// Where a payload says it comes from. A workspace install fills `workspace`
/// (`team.id`, `team_id`); an Enterprise Grid org-wide install may leave it
/// null and name the person's workspace in `user.team_id` instead, with the
/// org in `enterprise.id` / `enterprise_id`. A Slack Connect guest's own
/// workspace is `user_team`, unlike the channel's.
#[derive(Debug, Default, Clone, Copy)]
pub struct Claimed<'a> {
    pub workspace: Option<&'a str>,
    pub user_team: Option<&'a str>,
    pub enterprise: Option<&'a str>,
}

/// A payload from a served workspace or org.
#[derive(Debug, Clone)]
pub struct Served {
    /// The workspace it came from, for the audit (the org's id when Slack
    /// named no workspace).
    pub team: TeamId,
    /// The person's own workspace is not served: a Slack Connect guest.
    guest: bool,
}

impl Served {
    /// The person who asked, as the config's rules see them.
    pub fn person(&self, user: SlackUserId) -> Principal {
        match self.guest {
            true => Principal::Guest(user),
            false => Principal::User(user),
        }
    }
}

/// Only workspaces and orgs listed in `slack.teams` are served, whichever
/// field of the payload carries them. An org id (`E…`) in `slack.teams` serves
/// every workspace of that org.
pub fn served(config: &Config, claimed: Claimed<'_>) -> Result<Served, VerifyError> {
    fn given(t: Option<&str>) -> Option<&str> {
        t.filter(|t| !t.is_empty())
    }
    let listed = |t: Option<&str>| given(t).is_some_and(|t| config.team_allowed(t));
    let org_served = listed(claimed.enterprise);
    let from = given(claimed.workspace)
        .or(given(claimed.user_team))
        .or(given(claimed.enterprise));
    let Some(from) = from else {
        return Err(VerifyError::TeamNotAllowed("(none named)".into()));
    };
    if !(org_served || listed(claimed.workspace) || listed(claimed.user_team)) {
        return Err(VerifyError::TeamNotAllowed(from.to_owned()));
    }
    let team = TeamId::parse(from).map_err(|_| VerifyError::TeamNotAllowed(from.to_owned()))?;
    // A listed org does not make everyone whose payload names it a member: a
    // Slack Connect outsider's payload names the host org too, and nothing in
    // it says whether a workspace belongs to the org. Only a listed workspace
    // (or the org's own id as the person's team) makes a member.
    let guest = given(claimed.user_team).is_some() && !listed(claimed.user_team);
    Ok(Served { team, guest })
}

/// The `X-Slack-Signature` value for a body: what Slack sends, and what
/// `workbench-bot simulate` and the tests send.
pub fn sign(secret: &str, timestamp: i64, body: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(format!("v0:{timestamp}:{body}").as_bytes());
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(sig: &str, ts: i64) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-slack-signature", sig.parse().unwrap());
        h.insert("x-slack-request-timestamp", ts.to_string().parse().unwrap());
        h
    }

    #[test]
    fn a_correctly_signed_recent_body_is_accepted() {
        let now = chrono::Utc::now().timestamp();
        let v = Verifier::new("s3cret");
        let body = "token=x&text=start+foo";
        assert_eq!(
            v.verify(&headers(&sign("s3cret", now, body), now), body.as_bytes()),
            Ok(body)
        );
    }

    #[test]
    fn a_body_signed_with_another_secret_is_refused() {
        let now = chrono::Utc::now().timestamp();
        let v = Verifier::new("s3cret");
        let body = "text=start+foo";
        assert_eq!(
            v.verify(&headers(&sign("other", now, body), now), body.as_bytes()),
            Err(VerifyError::BadSignature)
        );
    }

    #[test]
    fn a_six_minute_old_or_future_timestamp_is_refused() {
        let v = Verifier::new("s3cret");
        let body = "text=start+foo";
        for ts in [
            chrono::Utc::now().timestamp() - 360,
            chrono::Utc::now().timestamp() + 360,
        ] {
            assert_eq!(
                v.verify(&headers(&sign("s3cret", ts, body), ts), body.as_bytes()),
                Err(VerifyError::Stale)
            );
        }
    }

    #[test]
    fn the_previous_secret_is_accepted_only_while_it_is_set() {
        let now = chrono::Utc::now().timestamp();
        let body = "a=1";
        let signed_with_old = headers(&sign("old", now, body), now);
        assert_eq!(
            Verifier::new("new").verify(&signed_with_old, body.as_bytes()),
            Err(VerifyError::BadSignature)
        );
        let rotating = Verifier::new("new").with_previous(Some("old"));
        assert_eq!(rotating.verify(&signed_with_old, body.as_bytes()), Ok(body));
        let signed_with_new = headers(&sign("new", now, body), now);
        assert_eq!(rotating.verify(&signed_with_new, body.as_bytes()), Ok(body));
        let signed_with_other = headers(&sign("other", now, body), now);
        assert_eq!(
            rotating.verify(&signed_with_other, body.as_bytes()),
            Err(VerifyError::BadSignature)
        );
    }

    #[test]
    fn missing_headers_are_refused() {
        assert_eq!(
            Verifier::new("s").verify(&HeaderMap::new(), b"x"),
            Err(VerifyError::Unsigned)
        );
    }

    fn serving(teams: &str) -> Config {
        Config::parse(&format!(
            "[slack]\nteams = [{teams}]\n[backend]\ndefault = \"dry-run\"\n\
             [[instance]]\nalias = \"foo\"\n\
             name = \"projects/example-project/locations/us-central1-a/instances/foo\"\noperators = [\"*\"]\n"
        ))
        .unwrap()
    }

    fn claim<'a>(
        workspace: Option<&'a str>,
        user_team: Option<&'a str>,
        enterprise: Option<&'a str>,
    ) -> Claimed<'a> {
        Claimed {
            workspace,
            user_team,
            enterprise,
        }
    }

    fn who(served: &Served) -> Principal {
        served.person(SlackUserId::parse("U01AAAAAAAA").unwrap())
    }

    /// An org-wide install names no workspace on shortcuts and buttons
    /// (`team: null`): the person's own workspace decides.
    #[test]
    fn an_org_wide_install_is_served_by_the_persons_workspace() {
        let c = serving("\"T0123ABCD\"");
        let s = served(&c, claim(None, Some("T0123ABCD"), Some("E0ORG"))).unwrap();
        assert_eq!(s.team.as_ref(), "T0123ABCD");
        assert!(matches!(who(&s), Principal::User(_)));
        let other = served(&c, claim(None, Some("T0OTHER"), Some("E0ORG")));
        assert_eq!(
            other.unwrap_err(),
            VerifyError::TeamNotAllowed("T0OTHER".into())
        );
        let nothing = served(&c, claim(None, None, None));
        assert!(matches!(nothing, Err(VerifyError::TeamNotAllowed(_))));
        let empty = served(&c, claim(Some(""), Some(""), None));
        assert!(matches!(empty, Err(VerifyError::TeamNotAllowed(_))));
    }

    /// Its people count as members where Slack names the org as their team,
    /// or their workspace is listed too; anyone else is served as a guest,
    /// since a Slack Connect outsider's payload names the host org as well.
    #[test]
    fn an_org_id_serves_every_workspace_of_that_org_and_no_other() {
        let c = serving("\"E0ORG\"");
        let s = served(&c, claim(Some("T0ANY"), Some("T0ANY"), Some("E0ORG"))).unwrap();
        assert_eq!(s.team.as_ref(), "T0ANY");
        assert!(matches!(who(&s), Principal::Guest(_)));
        let org_user = served(&c, claim(Some("T0ANY"), Some("E0ORG"), Some("E0ORG"))).unwrap();
        assert!(matches!(who(&org_user), Principal::User(_)));
        let both = serving("\"E0ORG\", \"T0ANY\"");
        let listed = served(&both, claim(None, Some("T0ANY"), Some("E0ORG"))).unwrap();
        assert!(matches!(who(&listed), Principal::User(_)));
        let org_only = served(&c, claim(None, None, Some("E0ORG"))).unwrap();
        assert_eq!(org_only.team.as_ref(), "E0ORG");
        assert!(served(&c, claim(Some("T0ANY"), None, Some("E0OTHER"))).is_err());
        assert!(served(&c, claim(Some("T0ANY"), None, None)).is_err());
    }

    /// A Slack Connect guest is served where the channel's workspace is, and
    /// the config's rules see them as a guest.
    #[test]
    fn a_person_from_an_unserved_workspace_in_a_served_one_is_a_guest() {
        let c = serving("\"T0123ABCD\"");
        let s = served(&c, claim(Some("T0123ABCD"), Some("T0GUEST"), None)).unwrap();
        assert!(matches!(who(&s), Principal::Guest(_)));
        let home = served(&c, claim(Some("T0123ABCD"), None, None)).unwrap();
        assert!(matches!(who(&home), Principal::User(_)));
    }
}

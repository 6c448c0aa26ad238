//! Cloud Scheduler's OIDC ID tokens: is this `POST /tasks/tick` really from our
//! scheduler job?
//!
//! Google signs the token (RS256) with a key it publishes as a JWKS. We check the
//! signature, then that Google issued the token, for our audience, on behalf of
//! the one service account allowed to tick, and that it is current. Keys are
//! cached for as long as Google's `Cache-Control` says, and fetched again when a
//! token names a key we do not hold (Google rotates them), but at most once every
//! 30 s: the `kid` is the caller's to choose, and a flood of made-up ones must
//! not become a flood of requests to Google.
//!
//! Time is the caller's `now` (unix seconds), for the token and the cache alike,
//! so tests move the clock instead of sleeping.

use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod keys;
mod token;

use keys::{KeyCache, chain, keys_lifetime};
use token::*;

/// Where Google publishes the keys that sign its ID tokens.
pub const GOOGLE_JWKS_URL: &str = "https://www.googleapis.com/oauth2/v3/certs";
/// Google writes either form into `iss`.
pub const GOOGLE_ISSUERS: [&str; 2] = ["https://accounts.google.com", "accounts.google.com"];
/// Clock skew forgiven between Google and this host, both ways.
pub const LEEWAY_SECS: i64 = 60;
/// The least time between two JWKS fetches, whatever tokens arrive.
pub const MIN_REFETCH_SECS: i64 = 30;
/// How long keys are kept when Google's answer carries no `max-age`.
const DEFAULT_KEYS_LIFETIME: i64 = 3600;
/// Even a proxy's generous `max-age` should not pin old keys for days; an
/// unknown `kid` refetches anyway, so this only bounds how long a removed key
/// is still honoured.
const MAX_KEYS_LIFETIME: i64 = 24 * 3600;
/// How long past their lifetime keys still serve while every fetch fails;
/// after that each tick is refused (503) until Google answers again.
const MAX_STALE_SECS: i64 = 24 * 3600;
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// Google's ID tokens are about 1 KiB; anything far larger is not one, and is
/// not worth decoding.
const MAX_TOKEN_LEN: usize = 16 * 1024;

/// What a verified token says. Google's ID tokens for a service account carry
/// these; `sub` and `azp` are the account's numeric id.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Claims {
    pub email: String,
    pub aud: String,
    pub iss: String,
    pub exp: i64,
    pub iat: i64,
    #[serde(default)]
    pub sub: String,
    #[serde(default)]
    pub azp: Option<String>,
    #[serde(deserialize_with = "bool_or_string")]
    pub email_verified: bool,
}

/// Why a token was refused. Each message names what to check, and none repeats
/// the token.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error(
        "the request has no Authorization header: the Cloud Scheduler job must send an OIDC token \
         (--oidc-service-account-email and --oidc-token-audience)"
    )]
    Missing,
    #[error(
        "the Authorization header does not use the Bearer scheme: Cloud Scheduler sends \
         `Bearer <OIDC token>` when the job has an OIDC token configured"
    )]
    NotBearer,
    #[error("the bearer token is not a Google ID token: {0}")]
    Malformed(String),
    #[error(
        "the token names signing key {0:?}, which Google's key set does not list (fetched again \
         within the last {MIN_REFETCH_SECS} s): the token was not signed by Google, or \
         scheduler.jwks_url is not Google's key set"
    )]
    UnknownKey(String),
    #[error(
        "the token's signature does not verify against Google's key of the same id: it was not \
         signed by Google, or it was altered"
    )]
    BadSignature,
    #[error("the token is signed with {0:?}, but Google signs ID tokens with RS256 only")]
    WrongAlgorithm(String),
    #[error(
        "the token expired {} s ago (exp {exp}, now {now}, {LEEWAY_SECS} s leeway): Cloud \
         Scheduler mints a fresh token for every attempt, so check this host's clock, or the \
         request is a replay", now - exp
    )]
    Expired { exp: i64, now: i64 },
    #[error(
        "the token's {claim} is {} s in the future (now {now}, {LEEWAY_SECS} s leeway): check \
         this host's clock", at - now
    )]
    NotYetValid {
        claim: &'static str,
        at: i64,
        now: i64,
    },
    #[error(
        "the token was issued by {}, not by Google (https://accounts.google.com)",
        shown(.found)
    )]
    WrongIssuer { found: Option<String> },
    #[error(
        "the token's audience is {}, but scheduler.audience is {expected:?}: the job's \
         --oidc-token-audience and scheduler.audience must be the same string",
        shown(.found)
    )]
    WrongAudience {
        found: Option<String>,
        expected: String,
    },
    #[error(
        "the token was minted for {}, but scheduler.invoker is {expected:?}: the Cloud \
         Scheduler job must run as that service account (--oidc-service-account-email)",
        shown(.found)
    )]
    WrongInvoker {
        found: Option<String>,
        expected: String,
    },
    #[error("the token's email {email:?} is not marked verified (email_verified is not true)")]
    EmailUnverified { email: String },
    /// Google's keys could not be had: not the caller's fault.
    #[error("Google's signing keys are unavailable, so no token can be checked: {0}")]
    Keys(String),
}

impl OidcError {
    /// True when the fault is ours or Google's rather than the caller's: answer
    /// 503 so Cloud Scheduler retries, not 401.
    pub fn is_server_side(&self) -> bool {
        matches!(self, OidcError::Keys(_))
    }

    /// A short label for metrics and logs.
    pub fn metric(&self) -> &'static str {
        match self {
            OidcError::Missing => "missing",
            OidcError::NotBearer => "not_bearer",
            OidcError::Malformed(_) => "malformed",
            OidcError::UnknownKey(_) => "unknown_key",
            OidcError::BadSignature => "bad_signature",
            OidcError::WrongAlgorithm(_) => "wrong_algorithm",
            OidcError::Expired { .. } => "expired",
            OidcError::NotYetValid { .. } => "not_yet_valid",
            OidcError::WrongIssuer { .. } => "wrong_issuer",
            OidcError::WrongAudience { .. } => "wrong_audience",
            OidcError::WrongInvoker { .. } => "wrong_invoker",
            OidcError::EmailUnverified { .. } => "email_unverified",
            OidcError::Keys(_) => "keys_unavailable",
        }
    }
}

fn shown(value: &Option<String>) -> String {
    match value {
        Some(v) => format!("{:?}", clip(v)),
        None => "nothing (the claim is absent)".to_owned(),
    }
}

/// Values the caller chose (a `kid`, an `alg`, a claim) go into messages and
/// logs; a bound keeps a hostile one from filling them.
fn clip(s: &str) -> &str {
    match s.char_indices().nth(100) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// Checks Cloud Scheduler's ID tokens. Cheap to clone: clones share the key
/// cache.
#[derive(Clone)]
pub struct OidcVerifier {
    inner: Arc<Inner>,
}

struct Inner {
    jwks_url: String,
    audience: String,
    invoker: String,
    http: reqwest::Client,
    cache: Mutex<KeyCache>,
    /// One fetch at a time: tokens that arrive together with a new `kid` wait
    /// for the one fetch rather than each making their own.
    refresh: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for OidcVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcVerifier")
            .field("jwks_url", &self.inner.jwks_url)
            .field("audience", &self.inner.audience)
            .field("invoker", &self.inner.invoker)
            .finish_non_exhaustive()
    }
}

impl OidcVerifier {
    /// `jwks_url` is normally [`GOOGLE_JWKS_URL`]; `audience` is what the job's
    /// `--oidc-token-audience` says; `invoker` is the job's service account.
    pub fn new(jwks_url: String, audience: String, invoker: String, http: reqwest::Client) -> Self {
        Self {
            inner: Arc::new(Inner {
                jwks_url,
                audience,
                invoker,
                http,
                cache: Mutex::default(),
                refresh: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// `authorization` is the raw header value, if any; `now` is unix seconds.
    pub async fn verify(&self, authorization: Option<&str>, now: i64) -> Result<Claims, OidcError> {
        let token = bearer(authorization)?;
        let header = peek_header(token)?;
        // Before any key is touched: `none` and HS256-with-the-public-key are
        // refused by name, not by whatever a key would make of them.
        if header.alg != "RS256" {
            return Err(OidcError::WrongAlgorithm(clip(&header.alg).to_owned()));
        }
        let kid = header.kid.ok_or_else(|| {
            OidcError::Malformed("its header names no signing key (kid)".to_owned())
        })?;
        let key = self.key_for(&kid, now).await?;

        // jsonwebtoken checks the signature only; its clock is the system's,
        // so every claim is checked below against `now`.
        let mut validation = Validation::new(Algorithm::RS256);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        let claims = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation)
            .map_err(decode_error)?
            .claims;
        self.check(&claims, now)
    }

    fn check(&self, claims: &Map<String, Value>, now: i64) -> Result<Claims, OidcError> {
        let iss = string_claim(claims, "iss")?;
        if !iss.as_deref().is_some_and(|i| GOOGLE_ISSUERS.contains(&i)) {
            return Err(OidcError::WrongIssuer { found: iss });
        }
        let aud = match claims.get("aud") {
            // Google names one audience; a list is not what the job sends.
            Some(Value::Array(list)) => Some(Value::Array(list.clone()).to_string()),
            _ => string_claim(claims, "aud")?,
        };
        if aud.as_deref() != Some(self.inner.audience.as_str()) {
            return Err(OidcError::WrongAudience {
                found: aud,
                expected: self.inner.audience.clone(),
            });
        }

        let exp = int_claim(claims, "exp")?
            .ok_or_else(|| OidcError::Malformed("it has no expiry (exp)".to_owned()))?;
        if now >= exp.saturating_add(LEEWAY_SECS) {
            return Err(OidcError::Expired { exp, now });
        }
        let iat = int_claim(claims, "iat")?
            .ok_or_else(|| OidcError::Malformed("it has no issue time (iat)".to_owned()))?;
        for (claim, at) in [("iat", Some(iat)), ("nbf", int_claim(claims, "nbf")?)] {
            if let Some(at) = at
                && at > now.saturating_add(LEEWAY_SECS)
            {
                return Err(OidcError::NotYetValid { claim, at, now });
            }
        }

        let email = string_claim(claims, "email")?;
        let Some(email) = email.filter(|e| *e == self.inner.invoker) else {
            return Err(OidcError::WrongInvoker {
                found: string_claim(claims, "email")?,
                expected: self.inner.invoker.clone(),
            });
        };
        let verified = match claims.get("email_verified") {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => s == "true",
            _ => false,
        };
        if !verified {
            return Err(OidcError::EmailUnverified { email });
        }

        Ok(Claims {
            email,
            aud: self.inner.audience.clone(),
            iss: iss.unwrap_or_default(),
            exp,
            iat,
            sub: string_claim(claims, "sub")?.unwrap_or_default(),
            azp: string_claim(claims, "azp")?,
            email_verified: true,
        })
    }

    /// The key named `kid`: from the cache while fresh, else after a fetch, if
    /// the rate limit allows one.
    async fn key_for(&self, kid: &str, now: i64) -> Result<DecodingKey, OidcError> {
        if let Some(key) = self.fresh_key(kid, now) {
            return Ok(key);
        }
        let _one_fetch = self.inner.refresh.lock().await;
        // Whoever held the lock may just have fetched what we need.
        if let Some(key) = self.fresh_key(kid, now) {
            return Ok(key);
        }
        let may_fetch = self.cache().may_fetch(now);
        if may_fetch {
            let fetched = self.fetch().await;
            let mut cache = self.cache();
            cache.attempted_at = Some(now);
            match fetched {
                Ok((keys, lifetime)) => {
                    tracing::info!(
                        url = %self.inner.jwks_url,
                        keys = keys.len(),
                        lifetime_secs = lifetime,
                        "fetched Google's token signing keys"
                    );
                    cache.keys = keys;
                    cache.fresh_until = now.saturating_add(lifetime);
                    cache.last_error = None;
                    cache.fetched_at = Some(now);
                }
                Err(reason) => {
                    tracing::warn!(
                        url = %self.inner.jwks_url,
                        error = %reason,
                        "could not fetch Google's token signing keys; keeping the ones held"
                    );
                    cache.last_error = Some(reason);
                }
            }
        }

        // Stale keys are still Google's: better than refusing every tick while
        // Google's endpoint is unreachable, for a day.
        let cache = self.cache();
        if let Some(key) = cache.keys.get(kid)
            && now < cache.fresh_until.saturating_add(MAX_STALE_SECS)
        {
            return Ok(key.clone());
        }
        match &cache.last_error {
            // We could not ask Google, so we cannot say the key is not Google's.
            Some(reason) => Err(OidcError::Keys(reason.clone())),
            None if cache.fetched_at.is_none() => Err(OidcError::Keys(format!(
                "no fetch of {} has succeeded yet",
                self.inner.jwks_url
            ))),
            None => Err(OidcError::UnknownKey(clip(kid).to_owned())),
        }
    }

    fn fresh_key(&self, kid: &str, now: i64) -> Option<DecodingKey> {
        let cache = self.cache();
        if cache.fresh(now) {
            cache.keys.get(kid).cloned()
        } else {
            None
        }
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, KeyCache> {
        // Nothing panics while holding it; a poisoned cache is still a cache.
        self.inner.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Google's RS256 keys by `kid`, and how long to keep them.
    async fn fetch(&self) -> Result<(HashMap<String, DecodingKey>, i64), String> {
        let url = &self.inner.jwks_url;
        let failed = |what: String| format!("GET {url} {what}");
        let response = self
            .inner
            .http
            .get(url)
            .timeout(FETCH_TIMEOUT)
            .send()
            .await
            .map_err(|e| failed(format!("failed: {}", chain(&e))))?;
        let status = response.status();
        if !status.is_success() {
            return Err(failed(format!("answered HTTP {status}")));
        }
        let lifetime = keys_lifetime(response.headers());
        let body = response
            .bytes()
            .await
            .map_err(|e| failed(format!("failed while reading the body: {}", chain(&e))))?;

        #[derive(serde::Deserialize)]
        struct RawSet {
            keys: Vec<Value>,
        }
        let set: RawSet = serde_json::from_slice(&body)
            .map_err(|e| failed(format!("answered something other than a JWKS: {e}")))?;
        // One key of a kind we do not use must not cost us the others, so each
        // is read on its own.
        let keys: HashMap<String, DecodingKey> = set
            .keys
            .into_iter()
            .filter_map(|raw| serde_json::from_value::<Jwk>(raw).ok())
            .filter(|jwk| matches!(jwk.algorithm, AlgorithmParameters::RSA(_)))
            .filter(|jwk| {
                jwk.common
                    .key_algorithm
                    .is_none_or(|a| a == KeyAlgorithm::RS256)
            })
            .filter(|jwk| {
                jwk.common
                    .public_key_use
                    .as_ref()
                    .is_none_or(|u| *u == PublicKeyUse::Signature)
            })
            .filter_map(|jwk| {
                let kid = jwk.common.key_id.clone()?;
                Some((kid, DecodingKey::from_jwk(&jwk).ok()?))
            })
            .collect();
        if keys.is_empty() {
            return Err(failed(
                "answered a key set with no RS256 signing key".to_owned(),
            ));
        }
        Ok((keys, lifetime))
    }
}

#[cfg(test)]
mod tests;

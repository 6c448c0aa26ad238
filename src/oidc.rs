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

#[derive(Default)]
struct KeyCache {
    keys: HashMap<String, DecodingKey>,
    /// Unix seconds until which `keys` are fresh.
    fresh_until: i64,
    /// Unix seconds of the last fetch, successful or not: the rate limit.
    attempted_at: Option<i64>,
    /// Why the last fetch failed; cleared by a successful one.
    last_error: Option<String>,
    /// Unix seconds of the last successful fetch.
    fetched_at: Option<i64>,
}

impl KeyCache {
    /// Requests race, so one may bring a `now` a little before the last
    /// fetch's; a clock that jumped back further than that must not freeze the
    /// cache (and its rate limit) until it catches up.
    fn jumped_back(now: i64, then: i64) -> bool {
        then - now >= MIN_REFETCH_SECS
    }

    fn fresh(&self, now: i64) -> bool {
        now < self.fresh_until
            && self
                .fetched_at
                .is_some_and(|at| !Self::jumped_back(now, at))
    }

    fn may_fetch(&self, now: i64) -> bool {
        self.attempted_at
            .is_none_or(|at| now - at >= MIN_REFETCH_SECS || Self::jumped_back(now, at))
    }
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

/// Seconds to keep the keys: `max-age` less `Age` when Google says, else an hour.
fn keys_lifetime(headers: &reqwest::header::HeaderMap) -> i64 {
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let Some(cache_control) = header(reqwest::header::CACHE_CONTROL) else {
        return DEFAULT_KEYS_LIFETIME;
    };
    let mut max_age = None;
    for directive in cache_control.split(',').map(str::trim) {
        let (name, value) = directive.split_once('=').unwrap_or((directive, ""));
        let name = name.trim();
        if name.eq_ignore_ascii_case("no-store") || name.eq_ignore_ascii_case("no-cache") {
            // Still fetched at most every MIN_REFETCH_SECS.
            return 0;
        }
        if name.eq_ignore_ascii_case("max-age") {
            max_age = value.trim().trim_matches('"').parse::<i64>().ok();
        }
    }
    let Some(max_age) = max_age else {
        return DEFAULT_KEYS_LIFETIME;
    };
    let age = header(reqwest::header::AGE)
        .and_then(|a| a.trim().parse::<i64>().ok())
        .unwrap_or(0);
    max_age
        .saturating_sub(age.max(0))
        .clamp(0, MAX_KEYS_LIFETIME)
}

/// reqwest's own message says only "error sending request"; the causes say why.
fn chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let text = e.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = e.source();
    }
    out
}

fn bearer(authorization: Option<&str>) -> Result<&str, OidcError> {
    let value = authorization
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or(OidcError::Missing)?;
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(OidcError::NotBearer);
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(OidcError::Malformed("the Bearer token is empty".to_owned()));
    }
    Ok(token)
}

struct PeekedHeader {
    alg: String,
    kid: Option<String>,
}

/// The header's `alg` and `kid`, read before any key is chosen. jsonwebtoken's
/// own `decode_header` cannot read `"alg": "none"` (not an algorithm it knows),
/// and that one must be refused as such.
fn peek_header(token: &str) -> Result<PeekedHeader, OidcError> {
    let malformed = |why: &str| OidcError::Malformed(why.to_owned());
    if token.len() > MAX_TOKEN_LEN {
        return Err(malformed("it is far longer than any Google ID token"));
    }
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3
        || !token
            .bytes()
            .all(|b| b == b'.' || b == b'-' || b == b'_' || b.is_ascii_alphanumeric())
    {
        return Err(malformed(
            "it is not a JWT (three base64url parts joined by dots); is the job sending an \
             OAuth access token (--oauth-service-account-email) instead of an OIDC token?",
        ));
    }
    let header = base64url_decode(parts[0])
        .and_then(|bytes| serde_json::from_slice::<Map<String, Value>>(&bytes).ok())
        .ok_or_else(|| malformed("its header is not base64url-encoded JSON"))?;
    let alg = match header.get("alg") {
        Some(Value::String(alg)) => alg.clone(),
        _ => return Err(malformed("its header names no algorithm (alg)")),
    };
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(kid)) => Some(kid.clone()),
        Some(_) => return Err(malformed("its header's key id (kid) is not a string")),
    };
    Ok(PeekedHeader { alg, kid })
}

/// Unpadded base64url, as JWTs use; `None` for anything else.
fn base64url_decode(text: &str) -> Option<Vec<u8>> {
    if text.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

fn decode_error(error: jsonwebtoken::errors::Error) -> OidcError {
    use jsonwebtoken::errors::ErrorKind;
    match error.kind() {
        ErrorKind::InvalidSignature => OidcError::BadSignature,
        ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => {
            OidcError::WrongAlgorithm("an algorithm other than RS256".to_owned())
        }
        ErrorKind::Json(e) => {
            OidcError::Malformed(format!("its claims are not a JSON object: {e}"))
        }
        ErrorKind::Base64(_) | ErrorKind::Utf8(_) | ErrorKind::InvalidToken => {
            OidcError::Malformed("a part of it is not valid base64url".to_owned())
        }
        other => OidcError::Malformed(format!("it could not be decoded: {other:?}")),
    }
}

fn string_claim(claims: &Map<String, Value>, name: &str) -> Result<Option<String>, OidcError> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(OidcError::Malformed(format!(
            "its {name} claim is not a string"
        ))),
    }
}

fn int_claim(claims: &Map<String, Value>, name: &str) -> Result<Option<i64>, OidcError> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_i64().map(Some).ok_or_else(|| {
            OidcError::Malformed(format!("its {name} claim is not a whole number of seconds"))
        }),
    }
}

/// Google sends `email_verified` as a JSON boolean; some older tokens carried
/// the string `"true"`.
fn bool_or_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    match <Value as serde::Deserialize>::deserialize(d)? {
        Value::Bool(b) => Ok(b),
        Value::String(s) => Ok(s == "true"),
        other => Err(serde::de::Error::custom(format!(
            "email_verified is {other}, not a boolean"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::extract::State;
    use axum::http::{HeaderValue, StatusCode, header};
    use axum::response::{IntoResponse, Response};
    use jsonwebtoken::{EncodingKey, Header};
    use rsa::RsaPrivateKey;
    use rsa::pkcs1::{EncodeRsaPrivateKey, EncodeRsaPublicKey};
    use serde_json::json;
    use std::sync::OnceLock;

    const AUDIENCE: &str = "https://bot.example.org/tasks/tick";
    const INVOKER: &str = "scheduler@example-project.iam.gserviceaccount.com";
    const KID: &str = "key-1";
    /// Any fixed instant: nothing here reads the real clock.
    const NOW: i64 = 1_800_000_000;

    /// Debug builds take seconds per RSA key, so two serve every test.
    fn rsa_key(which: usize) -> &'static RsaPrivateKey {
        static KEYS: [OnceLock<RsaPrivateKey>; 2] = [OnceLock::new(), OnceLock::new()];
        KEYS[which].get_or_init(|| RsaPrivateKey::new(&mut rand_core::OsRng, 2048).unwrap())
    }

    fn encoding_key(which: usize) -> EncodingKey {
        EncodingKey::from_rsa_der(rsa_key(which).to_pkcs1_der().unwrap().as_bytes())
    }

    fn jwk(which: usize, kid: &str) -> Value {
        let mut jwk = Jwk::from_encoding_key(&encoding_key(which), Algorithm::RS256).unwrap();
        jwk.common.key_id = Some(kid.to_owned());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        serde_json::to_value(jwk).unwrap()
    }

    fn claims(now: i64) -> Value {
        json!({
            "iss": "https://accounts.google.com",
            "aud": AUDIENCE,
            "azp": "100000000000000000002",
            "sub": "100000000000000000002",
            "email": INVOKER,
            "email_verified": true,
            "iat": now,
            "exp": now + 3600,
        })
    }

    fn sign(which: usize, kid: &str, claims: &Value) -> String {
        let header = Header {
            kid: Some(kid.to_owned()),
            ..Header::new(Algorithm::RS256)
        };
        jsonwebtoken::encode(&header, claims, &encoding_key(which)).unwrap()
    }

    fn bearer_of(token: &str) -> String {
        format!("Bearer {token}")
    }

    fn b64url(bytes: &[u8]) -> String {
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
            for i in 0..=chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            }
        }
        out
    }

    /// A JWKS endpoint that counts its fetches and answers what the test sets.
    #[derive(Clone)]
    struct Jwks {
        state: Arc<Mutex<Served>>,
        url: String,
    }

    struct Served {
        status: u16,
        keys: Vec<Value>,
        cache_control: Option<&'static str>,
        fetches: usize,
    }

    impl Jwks {
        async fn start(keys: Vec<Value>) -> Self {
            let state = Arc::new(Mutex::new(Served {
                status: 200,
                keys,
                cache_control: None,
                fetches: 0,
            }));
            async fn serve(State(state): State<Arc<Mutex<Served>>>) -> Response {
                let mut s = state.lock().unwrap();
                s.fetches += 1;
                let mut response = (
                    StatusCode::from_u16(s.status).unwrap(),
                    axum::Json(json!({ "keys": s.keys })),
                )
                    .into_response();
                if let Some(cc) = s.cache_control {
                    response
                        .headers_mut()
                        .insert(header::CACHE_CONTROL, HeaderValue::from_static(cc));
                }
                response
            }
            let router = Router::new()
                .route("/oauth2/v3/certs", axum::routing::get(serve))
                .with_state(state.clone());
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}/oauth2/v3/certs", listener.local_addr().unwrap());
            tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
            Self { state, url }
        }

        fn fetches(&self) -> usize {
            self.state.lock().unwrap().fetches
        }

        fn set(&self, f: impl FnOnce(&mut Served)) {
            f(&mut self.state.lock().unwrap());
        }

        fn verifier(&self) -> OidcVerifier {
            verifier_at(&self.url)
        }
    }

    fn verifier_at(url: &str) -> OidcVerifier {
        // The bot installs this in main; reqwest panics without one.
        let _ = rustls::crypto::ring::default_provider().install_default();
        OidcVerifier::new(
            url.to_owned(),
            AUDIENCE.to_owned(),
            INVOKER.to_owned(),
            reqwest::Client::new(),
        )
    }

    async fn served() -> (Jwks, OidcVerifier) {
        let jwks = Jwks::start(vec![jwk(0, KID)]).await;
        let verifier = jwks.verifier();
        (jwks, verifier)
    }

    /// Verifies `claims` signed by key 0 under `KID`.
    async fn verify_claims(claims: Value, now: i64) -> Result<Claims, OidcError> {
        let (_jwks, v) = served().await;
        v.verify(Some(&bearer_of(&sign(0, KID, &claims))), now)
            .await
    }

    #[tokio::test]
    async fn a_valid_token_passes_and_says_who_sent_it() {
        let c = verify_claims(claims(NOW), NOW).await.unwrap();
        assert_eq!(c.email, INVOKER);
        assert_eq!(c.aud, AUDIENCE);
        assert_eq!(c.iss, "https://accounts.google.com");
        assert_eq!(c.exp, NOW + 3600);
        assert_eq!(c.iat, NOW);
        assert_eq!(c.sub, "100000000000000000002");
        assert!(c.email_verified);
    }

    #[tokio::test]
    async fn the_bare_issuer_form_and_a_lowercase_scheme_pass_too() {
        let (_jwks, v) = served().await;
        let mut c = claims(NOW);
        c["iss"] = json!("accounts.google.com");
        let token = sign(0, KID, &c);
        assert!(
            v.verify(Some(&format!("bearer  {token} ")), NOW)
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn a_missing_or_empty_header_is_missing() {
        let (jwks, v) = served().await;
        assert!(matches!(v.verify(None, NOW).await, Err(OidcError::Missing)));
        assert!(matches!(
            v.verify(Some("  "), NOW).await,
            Err(OidcError::Missing)
        ));
        assert_eq!(
            jwks.fetches(),
            0,
            "nothing is fetched for a request with no token"
        );
    }

    #[tokio::test]
    async fn another_scheme_is_not_bearer() {
        let (_jwks, v) = served().await;
        let token = sign(0, KID, &claims(NOW));
        for header in [
            format!("Basic {token}"),
            token.clone(),
            "Bearer-ish x".into(),
        ] {
            let err = v.verify(Some(&header), NOW).await.unwrap_err();
            assert!(matches!(err, OidcError::NotBearer), "{header}: {err:?}");
        }
    }

    #[tokio::test]
    async fn garbage_is_malformed() {
        let (jwks, v) = served().await;
        let good = sign(0, KID, &claims(NOW));
        let parts: Vec<&str> = good.split('.').collect();
        let cases = [
            "Bearer".to_owned(),
            "Bearer ya29.a0AfH6SMBx-an-oauth-access-token".to_owned(),
            "Bearer not a jwt".to_owned(),
            "Bearer a.b.c".to_owned(),
            format!("Bearer {}.{}", parts[0], parts[1]),
            format!("Bearer {good}.extra"),
            format!("Bearer {}", "A".repeat(20_000)),
            format!("Bearer {}.{}.{}", b64url(b"[1,2]"), parts[1], parts[2]),
            format!(
                "Bearer {}.{}.{}",
                b64url(br#"{"alg":"RS256"}"#),
                parts[1],
                parts[2]
            ),
            format!(
                "Bearer {}.{}.{}",
                b64url(br#"{"kid":"key-1"}"#),
                parts[1],
                parts[2]
            ),
        ];
        for case in &cases {
            let err = v.verify(Some(case), NOW).await.unwrap_err();
            assert!(
                matches!(err, OidcError::Malformed(_)),
                "{case:.60}: {err:?}"
            );
        }
        assert_eq!(jwks.fetches(), 0);
        // A well-signed token whose claims are not JSON.
        let header = b64url(br#"{"alg":"RS256","kid":"key-1"}"#);
        let body = b64url(b"not json");
        let signature = jsonwebtoken::crypto::sign(
            format!("{header}.{body}").as_bytes(),
            &encoding_key(0),
            Algorithm::RS256,
        )
        .unwrap();
        let err = v
            .verify(Some(&format!("Bearer {header}.{body}.{signature}")), NOW)
            .await
            .unwrap_err();
        assert!(matches!(err, OidcError::Malformed(_)), "{err:?}");
    }

    #[tokio::test]
    async fn an_expired_token_is_refused_after_the_leeway() {
        let issued = NOW - 3600 - LEEWAY_SECS;
        let err = verify_claims(claims(issued), NOW).await.unwrap_err();
        assert!(matches!(err, OidcError::Expired { .. }), "{err:?}");
        assert!(err.to_string().contains("expired 60 s ago"), "{err}");
        // Within the leeway it still passes.
        assert!(verify_claims(claims(issued + 1), NOW).await.is_ok());
        let mut no_exp = claims(NOW);
        no_exp.as_object_mut().unwrap().remove("exp");
        let err = verify_claims(no_exp, NOW).await.unwrap_err();
        assert!(matches!(err, OidcError::Malformed(_)), "{err:?}");
    }

    #[tokio::test]
    async fn a_token_from_the_future_is_refused() {
        let mut c = claims(NOW + 120);
        let err = verify_claims(c.clone(), NOW).await.unwrap_err();
        assert!(
            matches!(err, OidcError::NotYetValid { claim: "iat", .. }),
            "{err:?}"
        );
        c = claims(NOW + 30);
        assert!(verify_claims(c, NOW).await.is_ok(), "within the leeway");
        let mut c = claims(NOW);
        c["nbf"] = json!(NOW + 600);
        let err = verify_claims(c, NOW).await.unwrap_err();
        assert!(
            matches!(err, OidcError::NotYetValid { claim: "nbf", .. }),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn another_key_under_the_same_kid_is_a_bad_signature() {
        let (_jwks, v) = served().await;
        let forged = sign(1, KID, &claims(NOW));
        let err = v.verify(Some(&bearer_of(&forged)), NOW).await.unwrap_err();
        assert!(matches!(err, OidcError::BadSignature), "{err:?}");
        // And a good token with its claims swapped for someone else's.
        let good = sign(0, KID, &claims(NOW));
        let other = sign(0, KID, &json!({"email": "mallory@example.org"}));
        let parts: Vec<&str> = good.split('.').collect();
        let spliced = format!(
            "{}.{}.{}",
            parts[0],
            other.split('.').nth(1).unwrap(),
            parts[2]
        );
        let err = v.verify(Some(&bearer_of(&spliced)), NOW).await.unwrap_err();
        assert!(matches!(err, OidcError::BadSignature), "{err:?}");
    }

    #[tokio::test]
    async fn an_unknown_kid_refetches_once_then_waits_out_the_rate_limit() {
        let (jwks, v) = served().await;
        let good = bearer_of(&sign(0, KID, &claims(NOW)));
        v.verify(Some(&good), NOW).await.unwrap();
        assert_eq!(jwks.fetches(), 1);

        let stranger = bearer_of(&sign(1, "key-unknown", &claims(NOW)));
        // Within 30 s of the last fetch: no fetch, straight refusal.
        let err = v.verify(Some(&stranger), NOW + 5).await.unwrap_err();
        assert!(
            matches!(&err, OidcError::UnknownKey(k) if k == "key-unknown"),
            "{err:?}"
        );
        assert_eq!(jwks.fetches(), 1);
        // Later, one fetch in case Google rotated...
        let t = NOW + MIN_REFETCH_SECS + 5;
        let err = v.verify(Some(&stranger), t).await.unwrap_err();
        assert!(matches!(err, OidcError::UnknownKey(_)), "{err:?}");
        assert_eq!(jwks.fetches(), 2);
        // ...and a flood right after makes no more.
        for i in 0..20 {
            let err = v.verify(Some(&stranger), t + i).await.unwrap_err();
            assert!(matches!(err, OidcError::UnknownKey(_)), "{err:?}");
        }
        assert_eq!(jwks.fetches(), 2);
        // The known key still works meanwhile, from the cache.
        v.verify(Some(&good), t + 20).await.unwrap();
        assert_eq!(jwks.fetches(), 2);
        let err = v
            .verify(Some(&stranger), t + MIN_REFETCH_SECS)
            .await
            .unwrap_err();
        assert!(matches!(err, OidcError::UnknownKey(_)), "{err:?}");
        assert_eq!(jwks.fetches(), 3);
    }

    #[tokio::test]
    async fn concurrent_tokens_with_an_unknown_kid_share_one_fetch() {
        let (jwks, v) = served().await;
        let stranger = bearer_of(&sign(1, "key-unknown", &claims(NOW)));
        let mut all = tokio::task::JoinSet::new();
        for _ in 0..10 {
            let (v, stranger) = (v.clone(), stranger.clone());
            all.spawn(async move { v.verify(Some(&stranger), NOW).await });
        }
        for result in all.join_all().await {
            assert!(
                matches!(result, Err(OidcError::UnknownKey(_))),
                "{result:?}"
            );
        }
        assert_eq!(jwks.fetches(), 1);
    }

    #[tokio::test]
    async fn a_rotated_key_is_picked_up() {
        let (jwks, v) = served().await;
        v.verify(Some(&bearer_of(&sign(0, KID, &claims(NOW)))), NOW)
            .await
            .unwrap();
        jwks.set(|s| s.keys.push(jwk(1, "key-2")));
        let rotated = bearer_of(&sign(1, "key-2", &claims(NOW)));
        let later = NOW + MIN_REFETCH_SECS;
        assert_eq!(
            v.verify(Some(&rotated), later).await.unwrap().email,
            INVOKER
        );
        assert_eq!(jwks.fetches(), 2);
    }

    #[tokio::test]
    async fn a_wrong_audience_is_refused_naming_both() {
        let mut c = claims(NOW);
        c["aud"] = json!("https://elsewhere.example.org");
        let err = verify_claims(c, NOW).await.unwrap_err();
        assert!(matches!(err, OidcError::WrongAudience { .. }), "{err:?}");
        let text = err.to_string();
        assert!(
            text.contains("https://elsewhere.example.org") && text.contains(AUDIENCE),
            "{text}"
        );
        // A list holding ours is still not exactly ours.
        let mut c = claims(NOW);
        c["aud"] = json!([AUDIENCE, "other"]);
        let err = verify_claims(c, NOW).await.unwrap_err();
        assert!(matches!(err, OidcError::WrongAudience { .. }), "{err:?}");
    }

    #[tokio::test]
    async fn a_wrong_or_missing_issuer_is_refused() {
        for iss in [
            json!("https://evil.example.org"),
            json!("http://accounts.google.com"),
            Value::Null,
        ] {
            let mut c = claims(NOW);
            c["iss"] = iss.clone();
            let err = verify_claims(c, NOW).await.unwrap_err();
            assert!(
                matches!(err, OidcError::WrongIssuer { .. }),
                "{iss}: {err:?}"
            );
        }
    }

    #[tokio::test]
    async fn another_service_account_is_the_wrong_invoker() {
        let mut c = claims(NOW);
        c["email"] = json!("someone-else@example-project.iam.gserviceaccount.com");
        let err = verify_claims(c, NOW).await.unwrap_err();
        assert!(matches!(err, OidcError::WrongInvoker { .. }), "{err:?}");
        let text = err.to_string();
        assert!(
            text.contains("someone-else@") && text.contains(INVOKER),
            "{text}"
        );
        let mut c = claims(NOW);
        c.as_object_mut().unwrap().remove("email");
        let err = verify_claims(c, NOW).await.unwrap_err();
        assert!(
            matches!(err, OidcError::WrongInvoker { found: None, .. }),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn an_unverified_email_is_refused() {
        for verified in [json!(false), json!("false"), Value::Null] {
            let mut c = claims(NOW);
            c["email_verified"] = verified.clone();
            let err = verify_claims(c, NOW).await.unwrap_err();
            assert!(
                matches!(err, OidcError::EmailUnverified { .. }),
                "{verified}: {err:?}"
            );
        }
        let mut c = claims(NOW);
        c["email_verified"] = json!("true");
        assert!(verify_claims(c, NOW).await.is_ok());
    }

    #[tokio::test]
    async fn hs256_signed_with_the_public_key_is_the_wrong_algorithm() {
        let (jwks, v) = served().await;
        let public = rsa_key(0).to_public_key().to_pkcs1_der().unwrap();
        let header = Header {
            kid: Some(KID.to_owned()),
            ..Header::new(Algorithm::HS256)
        };
        let token = jsonwebtoken::encode(
            &header,
            &claims(NOW),
            &EncodingKey::from_secret(public.as_bytes()),
        )
        .unwrap();
        let err = v.verify(Some(&bearer_of(&token)), NOW).await.unwrap_err();
        assert!(
            matches!(&err, OidcError::WrongAlgorithm(a) if a == "HS256"),
            "{err:?}"
        );
        assert_eq!(jwks.fetches(), 0);
    }

    #[tokio::test]
    async fn alg_none_is_the_wrong_algorithm() {
        let (_jwks, v) = served().await;
        let body = b64url(claims(NOW).to_string().as_bytes());
        for header in [
            r#"{"alg":"none","kid":"key-1"}"#,
            r#"{"alg":"RS512","kid":"key-1"}"#,
        ] {
            let token = format!("{}.{body}.", b64url(header.as_bytes()));
            let err = v.verify(Some(&bearer_of(&token)), NOW).await.unwrap_err();
            assert!(
                matches!(err, OidcError::WrongAlgorithm(_)),
                "{header}: {err:?}"
            );
        }
    }

    #[tokio::test]
    async fn keys_are_cached_for_an_hour_by_default() {
        let (jwks, v) = served().await;
        let token = bearer_of(&sign(0, KID, &claims(NOW)));
        v.verify(Some(&token), NOW).await.unwrap();
        v.verify(Some(&token), NOW + 1).await.unwrap();
        v.clone().verify(Some(&token), NOW + 3599).await.unwrap();
        assert_eq!(jwks.fetches(), 1, "the second verify used the cache");
        let token = bearer_of(&sign(0, KID, &claims(NOW + 3600)));
        v.verify(Some(&token), NOW + 3600).await.unwrap();
        assert_eq!(jwks.fetches(), 2, "stale after an hour");
    }

    #[tokio::test]
    async fn racing_requests_a_little_behind_the_last_fetch_use_the_cache() {
        let (jwks, v) = served().await;
        let token = bearer_of(&sign(0, KID, &claims(NOW)));
        v.verify(Some(&token), NOW + 10).await.unwrap();
        v.verify(Some(&token), NOW).await.unwrap();
        assert_eq!(jwks.fetches(), 1);
        // But a clock set back by an hour fetches again rather than wait an
        // hour for its rate limit.
        let stranger = bearer_of(&sign(1, "key-unknown", &claims(NOW - 3600)));
        let err = v.verify(Some(&stranger), NOW - 3600).await.unwrap_err();
        assert!(matches!(err, OidcError::UnknownKey(_)), "{err:?}");
        assert_eq!(jwks.fetches(), 2);
        let err = v.verify(Some(&stranger), NOW - 3599).await.unwrap_err();
        assert!(matches!(err, OidcError::UnknownKey(_)), "{err:?}");
        assert_eq!(jwks.fetches(), 2);
    }

    #[tokio::test]
    async fn keys_are_cached_as_long_as_max_age_says() {
        let (jwks, v) = served().await;
        jwks.set(|s| s.cache_control = Some("public, max-age=120, must-revalidate, no-transform"));
        let token = bearer_of(&sign(0, KID, &claims(NOW)));
        v.verify(Some(&token), NOW).await.unwrap();
        v.verify(Some(&token), NOW + 119).await.unwrap();
        assert_eq!(jwks.fetches(), 1);
        v.verify(Some(&token), NOW + 120).await.unwrap();
        assert_eq!(jwks.fetches(), 2);
    }

    #[tokio::test]
    async fn unreachable_keys_are_a_server_side_fault() {
        // A port that was free a moment ago: nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let v = verifier_at(&format!("http://127.0.0.1:{port}/certs"));
        let err = v
            .verify(Some(&bearer_of(&sign(0, KID, &claims(NOW)))), NOW)
            .await
            .unwrap_err();
        assert!(matches!(err, OidcError::Keys(_)), "{err:?}");
        assert!(err.is_server_side());
        assert!(
            err.to_string().contains(&format!("127.0.0.1:{port}")),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_failing_or_empty_key_set_is_a_server_side_fault() {
        let (jwks, v) = served().await;
        jwks.set(|s| s.status = 500);
        let token = bearer_of(&sign(0, KID, &claims(NOW)));
        let err = v.verify(Some(&token), NOW).await.unwrap_err();
        assert!(
            matches!(err, OidcError::Keys(_)) && err.is_server_side(),
            "{err:?}"
        );
        assert!(err.to_string().contains("500"), "{err}");
        // Still failing inside the rate limit: still ours, and no new fetch.
        let err = v.verify(Some(&token), NOW + 1).await.unwrap_err();
        assert!(matches!(err, OidcError::Keys(_)), "{err:?}");
        assert_eq!(jwks.fetches(), 1);
        // Keys of other kinds only: nothing usable.
        jwks.set(|s| {
            s.status = 200;
            s.keys = vec![json!({"kty": "EC", "crv": "P-256", "kid": "ec", "x": "AA", "y": "AA"})];
        });
        let err = v.verify(Some(&token), NOW + 60).await.unwrap_err();
        assert!(matches!(err, OidcError::Keys(_)), "{err:?}");
        // One odd key does not spoil the rest.
        jwks.set(|s| s.keys.push(jwk(0, KID)));
        v.verify(Some(&token), NOW + 120).await.unwrap();
    }

    #[tokio::test]
    async fn stale_keys_serve_while_google_is_unreachable() {
        let (jwks, v) = served().await;
        jwks.set(|s| s.cache_control = Some("max-age=60"));
        let token = bearer_of(&sign(0, KID, &claims(NOW)));
        v.verify(Some(&token), NOW).await.unwrap();
        jwks.set(|s| s.status = 503);
        v.verify(Some(&token), NOW + 100).await.unwrap();
        assert_eq!(jwks.fetches(), 2, "a refresh was tried");
        // Not for ever.
        let later = NOW + 60 + 24 * 3600;
        let token = bearer_of(&sign(0, KID, &claims(later)));
        let err = v.verify(Some(&token), later).await.unwrap_err();
        assert!(matches!(err, OidcError::Keys(_)), "{err:?}");
    }

    #[tokio::test]
    async fn no_message_repeats_the_token() {
        let (_jwks, v) = served().await;
        let mut errors = Vec::new();
        let mut c = claims(NOW);
        c["aud"] = json!("x");
        let tokens = [
            sign(0, KID, &c),
            sign(1, KID, &claims(NOW)),
            sign(0, KID, &claims(NOW - 7200)),
        ];
        for token in &tokens {
            let err = v.verify(Some(&bearer_of(token)), NOW).await.unwrap_err();
            errors.push((token.clone(), err));
        }
        errors.push((
            "abc.def".into(),
            v.verify(Some("Bearer abc.def"), NOW).await.unwrap_err(),
        ));
        for (token, err) in &errors {
            let text = err.to_string();
            for part in token.split('.').filter(|p| p.len() > 2) {
                assert!(!text.contains(part), "{text}");
            }
        }
    }

    #[test]
    fn lifetimes_follow_cache_control() {
        use reqwest::header::{AGE, CACHE_CONTROL, HeaderMap};
        let lifetime = |cc: Option<&str>, age: Option<&str>| {
            let mut h = HeaderMap::new();
            if let Some(cc) = cc {
                h.insert(CACHE_CONTROL, cc.parse().unwrap());
            }
            if let Some(age) = age {
                h.insert(AGE, age.parse().unwrap());
            }
            keys_lifetime(&h)
        };
        assert_eq!(lifetime(None, None), 3600);
        assert_eq!(
            lifetime(Some("public, max-age=19868, must-revalidate"), None),
            19868
        );
        assert_eq!(lifetime(Some("public, Max-Age=300"), Some("100")), 200);
        assert_eq!(lifetime(Some("max-age=10"), Some("100")), 0);
        assert_eq!(lifetime(Some("public"), None), 3600);
        assert_eq!(lifetime(Some("no-store"), None), 0);
        assert_eq!(lifetime(Some("max-age=99999999"), None), MAX_KEYS_LIFETIME);
    }

    #[test]
    fn base64url_round_trips() {
        for n in 0..40 {
            let bytes: Vec<u8> = (0..n).map(|i| (i * 37 + 11) as u8).collect();
            assert_eq!(base64url_decode(&b64url(&bytes)).unwrap(), bytes);
        }
        assert_eq!(
            base64url_decode("eyJhbGciOiJub25lIn0").unwrap(),
            br#"{"alg":"none"}"#
        );
        assert!(base64url_decode("a+b/").is_none());
        assert!(base64url_decode("abcde").is_none());
    }
}

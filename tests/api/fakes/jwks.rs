//! A fake of Google's JWKS endpoint (`/oauth2/v3/certs`) and the ID tokens
//! Cloud Scheduler sends: the run's test RSA key is published as `test-key-1`,
//! and tokens are signed with it, or with another key under the same id for a
//! forgery.

use super::http::{Call, Fake};
use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::DecodePrivateKey;
use serde_json::{Value, json};
use std::sync::{Arc, OnceLock};

pub const KID: &str = "test-key-1";
const PATH: &str = "/oauth2/v3/certs";

#[derive(Clone)]
pub struct FakeJwks {
    /// The JWKS URL, for the bot's `scheduler.jwks_url`.
    pub url: String,
    fake: Fake,
}

impl FakeJwks {
    /// Serves `{"keys": [...]}` holding the public half of the run's test key.
    pub async fn start() -> Self {
        let mut jwk = Jwk::from_encoding_key(test_key(), Algorithm::RS256).unwrap();
        jwk.common.key_id = Some(KID.to_owned());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        let body = serde_json::to_value(JwkSet { keys: vec![jwk] }).unwrap();
        let fake = Fake::start(Arc::new(move |call: &Call| {
            if call.method == "GET" && call.path == PATH {
                (200, body.clone())
            } else {
                (404, json!({"error": "not found"}))
            }
        }))
        .await;
        Self {
            url: format!("{}{PATH}", fake.url),
            fake,
        }
    }

    /// An RS256 token over `claims`, signed with the published key.
    pub fn token(&self, claims: Value) -> String {
        sign(test_key(), &claims)
    }

    /// The same, but signed with a key Google never published, under the
    /// published key's id: a forgery.
    pub fn token_with_other_key(&self, claims: Value) -> String {
        sign(other_key(), &claims)
    }

    /// How many times the key set was fetched.
    pub fn fetches(&self) -> usize {
        self.fake.calls_to(PATH).len()
    }
}

/// What Cloud Scheduler's token for `invoker` carries, issued at `now` and
/// good for an hour, as Google mints it.
pub fn scheduler_claims(audience: &str, invoker: &str, now: i64) -> Value {
    json!({
        "iss": "https://accounts.google.com",
        "aud": audience,
        "azp": "100000000000000000002",
        "sub": "100000000000000000002",
        "email": invoker,
        "email_verified": true,
        "iat": now,
        "exp": now + 3600,
    })
}

fn sign(key: &EncodingKey, claims: &Value) -> String {
    let header = Header {
        kid: Some(KID.to_owned()),
        ..Header::new(Algorithm::RS256)
    };
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

/// The run's test key (the one `super::google` uses), as jsonwebtoken wants an
/// RSA key without its PEM feature: PKCS#1 DER.
fn test_key() -> &'static EncodingKey {
    static KEY: OnceLock<EncodingKey> = OnceLock::new();
    KEY.get_or_init(|| {
        let key =
            rsa::RsaPrivateKey::from_pkcs8_pem(super::google::test_private_key_pem()).unwrap();
        EncodingKey::from_rsa_der(key.to_pkcs1_der().unwrap().as_bytes())
    })
}

fn other_key() -> &'static EncodingKey {
    static KEY: OnceLock<EncodingKey> = OnceLock::new();
    KEY.get_or_init(|| {
        let key = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 2048).unwrap();
        EncodingKey::from_rsa_der(key.to_pkcs1_der().unwrap().as_bytes())
    })
}

//! The verifier against a local JWKS server and freshly made keys.

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
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
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

mod claims;
mod keys;

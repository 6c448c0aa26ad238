//! Google's keys: caching, rotation, rate limits, and Google being away.

use super::*;

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

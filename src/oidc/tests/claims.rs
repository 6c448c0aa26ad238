//! A token's form, signature and claims.

use super::*;

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

//! Reading a token before and after its signature is checked: the bearer
//! header, the JOSE header, and the claims' types.

use super::*;

pub(super) fn bearer(authorization: Option<&str>) -> Result<&str, OidcError> {
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

pub(super) struct PeekedHeader {
    pub(super) alg: String,
    pub(super) kid: Option<String>,
}

/// The header's `alg` and `kid`, read before any key is chosen. jsonwebtoken's
/// own `decode_header` cannot read `"alg": "none"` (not an algorithm it knows),
/// and that one must be refused as such.
pub(super) fn peek_header(token: &str) -> Result<PeekedHeader, OidcError> {
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
pub(super) fn base64url_decode(text: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .ok()
}

pub(super) fn decode_error(error: jsonwebtoken::errors::Error) -> OidcError {
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

pub(super) fn string_claim(
    claims: &Map<String, Value>,
    name: &str,
) -> Result<Option<String>, OidcError> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(OidcError::Malformed(format!(
            "its {name} claim is not a string"
        ))),
    }
}

pub(super) fn int_claim(claims: &Map<String, Value>, name: &str) -> Result<Option<i64>, OidcError> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_i64().map(Some).ok_or_else(|| {
            OidcError::Malformed(format!("its {name} claim is not a whole number of seconds"))
        }),
    }
}

/// Google sends `email_verified` as a JSON boolean; some older tokens carried
/// the string `"true"`.
pub(super) fn bool_or_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    match <Value as serde::Deserialize>::deserialize(d)? {
        Value::Bool(b) => Ok(b),
        Value::String(s) => Ok(s == "true"),
        other => Err(serde::de::Error::custom(format!(
            "email_verified is {other}, not a boolean"
        ))),
    }
}

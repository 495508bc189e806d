//! The compact JWS (RFC 7515 §7.1): parsing the three parts, the header rules, choosing the
//! keys and checking the signature. Claims are not looked at here.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value};

use super::{
    TokenError, MAX_HEADER_LEN, MAX_JSON_DEPTH, MAX_KEYS_TRIED, MAX_QUOTED, MAX_SIGNATURE_LEN,
    MAX_TOKEN_LEN,
};
use crate::jwks::{b64url_decode_strict, json_depth_within, printable, Alg, Key, KeySet};

/// A compact JWS whose signature verified; the payload is not interpreted yet.
#[derive(Debug)]
pub(super) struct Signed<'t> {
    pub(super) payload_b64: &'t str,
    pub(super) alg: Alg,
    pub(super) kid: Option<String>,
}

/// Parses the compact JWS, checks the header and the signature. Claims are not looked at (the
/// payload need not even be JSON): this is the part RFC test vectors exercise.
pub(super) fn check_signature<'t>(keys: &KeySet, token: &'t str) -> Result<Signed<'t>, TokenError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(TokenError::TooLarge {
            what: "token",
            len: token.len(),
            max: MAX_TOKEN_LEN,
        });
    }
    if token.is_empty() {
        return Err(TokenError::Malformed("the token is empty"));
    }
    if !token
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    {
        return Err(TokenError::Malformed("characters outside base64url"));
    }
    let mut parts = token.split('.');
    let (header_b64, payload_b64, signature_b64) =
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(h), Some(p), Some(s), None) => (h, p, s),
            _ => {
                return Err(TokenError::Malformed(if token.split('.').count() == 5 {
                    "encrypted tokens (JWE) are not supported"
                } else {
                    "not three dot-separated parts"
                }))
            }
        };
    let signing_input = token
        .get(..header_b64.len() + 1 + payload_b64.len())
        .ok_or(TokenError::Malformed("not three dot-separated parts"))?;

    // Header.
    let header_json = decode_part(header_b64, "header", MAX_HEADER_LEN)?;
    if !json_depth_within(&header_json, MAX_JSON_DEPTH) {
        return Err(TokenError::TooDeep { what: "header" });
    }
    let header = parse_object(&header_json)
        .map_err(|()| TokenError::Malformed("the header is not one JSON object"))?;
    let alg = match header.get("alg") {
        Some(Value::String(name)) => {
            if name.eq_ignore_ascii_case("none") {
                return Err(TokenError::AlgNone);
            }
            Alg::from_name(name).ok_or_else(|| TokenError::UnsupportedAlgorithm {
                alg: printable(name, MAX_QUOTED),
            })?
        }
        Some(_) => return Err(TokenError::Malformed("alg is not a string")),
        None => return Err(TokenError::Malformed("the header has no alg")),
    };
    if header.contains_key("crit") {
        return Err(TokenError::CriticalHeader);
    }
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(kid)) => Some(kid.as_str()),
        Some(_) => return Err(TokenError::Malformed("kid is not a string")),
    };
    // jku, x5u, jwk, x5c: deliberately ignored.

    // Signature.
    let signature = decode_part(signature_b64, "signature", MAX_SIGNATURE_LEN)?;

    // The payload must at least be base64url before any crypto is spent on it.
    if payload_b64.is_empty() || !plausible_b64_len(payload_b64) {
        return Err(TokenError::Malformed("the payload is not base64url"));
    }

    let candidates = select_keys(keys, alg, kid)?;
    for key in candidates {
        if verify_with(key, alg, signing_input.as_bytes(), &signature) {
            return Ok(Signed {
                payload_b64,
                alg,
                kid: key.kid().map(str::to_owned),
            });
        }
    }
    Err(TokenError::BadSignature)
}

/// A base64url text whose length can be canonical (a length of 1 mod 4 never is).
fn plausible_b64_len(text: &str) -> bool {
    text.len() % 4 != 1
}

/// The configured keys that may verify a token with this `alg` and `kid`.
fn select_keys<'k>(
    keys: &'k KeySet,
    alg: Alg,
    kid: Option<&str>,
) -> Result<Vec<&'k Key>, TokenError> {
    if keys.is_empty() {
        return Err(TokenError::NoKeys);
    }
    let all = keys.keys();
    let quoted_kid = || kid.map(|k| printable(k, MAX_QUOTED));
    let named: Vec<&Key> = match kid {
        Some(kid) => all.iter().filter(|k| k.kid() == Some(kid)).collect(),
        None => Vec::new(),
    };
    let pool: Vec<&Key> = if !named.is_empty() {
        named
    } else if kid.is_some() {
        // No key has that kid: only anonymous keys may still answer for it.
        all.iter().filter(|k| k.kid().is_none()).collect()
    } else {
        all.iter().collect()
    };
    let fitting: Vec<&Key> = pool
        .iter()
        .copied()
        .filter(|k| k.allows(alg))
        .take(MAX_KEYS_TRIED)
        .collect();
    if !fitting.is_empty() {
        return Ok(fitting);
    }
    // Nothing fits: was there a key that would have been used, but not for this alg?
    let named_exists = kid.is_some_and(|kid| keys.has_kid(kid));
    if let Some(other) = pool.first().filter(|_| named_exists) {
        return Err(TokenError::AlgorithmNotAllowed {
            alg,
            kid: quoted_kid(),
            family: other.family(),
        });
    }
    if let Some(same_family) = pool.iter().find(|k| k.family() == alg.family()) {
        return Err(TokenError::AlgorithmNotAllowed {
            alg,
            kid: same_family.kid().map(|k| printable(k, MAX_QUOTED)),
            family: same_family.family(),
        });
    }
    Err(TokenError::UnknownKey {
        kid: quoted_kid(),
        alg,
    })
}

/// Checks one signature with aws-lc-rs, with the key as prepared at load ([`Key::prepared`]:
/// public keys parsed once per algorithm, HMAC keys keyed once). A key that may not verify
/// `alg`, or whose material aws-lc refused, verifies nothing.
fn verify_with(key: &Key, alg: Alg, message: &[u8], signature: &[u8]) -> bool {
    use crate::jwks::Prepared;
    if !key.allows(alg) {
        return false;
    }
    match key.prepared(alg) {
        Some(Prepared::Public(public)) => public.verify_sig(message, signature).is_ok(),
        Some(Prepared::Hmac(secret)) => aws_lc_rs::hmac::verify(secret, message, signature).is_ok(),
        None => false,
    }
}

/// One JSON object whose top-level members are all distinct (RFC 7515 §5.2 / RFC 8725 §3.6:
/// a duplicate could be read differently by another parser).
pub(super) fn parse_object(json: &[u8]) -> Result<Map<String, Value>, ()> {
    serde_json::from_slice::<StrictObject>(json)
        .map(|o| o.0)
        .map_err(|_| ())
}

struct StrictObject(Map<String, Value>);

impl<'de> Deserialize<'de> for StrictObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor;
        impl<'de> Visitor<'de> for ObjectVisitor {
            type Value = StrictObject;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<StrictObject, A::Error> {
                let mut map = Map::new();
                while let Some(name) = access.next_key::<String>()? {
                    let value: Value = access.next_value()?;
                    if map.contains_key(&name) {
                        return Err(de::Error::custom("duplicate member"));
                    }
                    map.insert(name, value);
                }
                Ok(StrictObject(map))
            }
        }
        deserializer.deserialize_map(ObjectVisitor)
    }
}

/// Decodes one part of a compact JWS (`header` or `signature`): non-empty, at most `max`
/// bytes once decoded (checked before decoding), strict base64url.
fn decode_part(b64: &str, what: &'static str, max: usize) -> Result<Vec<u8>, TokenError> {
    let (empty, not_b64) = match what {
        "header" => ("the header is empty", "the header is not base64url"),
        _ => ("the signature is empty", "the signature is not base64url"),
    };
    if b64.is_empty() {
        return Err(TokenError::Malformed(empty));
    }
    let len = b64.len() / 4 * 3 + (b64.len() % 4).saturating_sub(1);
    if len > max {
        return Err(TokenError::TooLarge { what, len, max });
    }
    b64url_decode_strict(b64.as_bytes()).ok_or(TokenError::Malformed(not_b64))
}

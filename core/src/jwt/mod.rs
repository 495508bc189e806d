//! JWT verification (RFC 7519, RFC 7515 compact JWS, RFC 8725 best practices).
//!
//! The compact serialisation is parsed here, not by a library: three base64url parts
//! (strict: URL-safe alphabet, no padding, canonical), bounded sizes, bounded JSON nesting,
//! duplicate top-level members refused. Only the signature arithmetic is delegated to
//! aws-lc-rs, with each key prepared once when the key set is loaded ([`crate::jwks`]).
//!
//! Header rules:
//! - `alg: none` is always refused; `alg` must be one of [`Alg`] (case-sensitive);
//! - `crit` is refused whatever it lists (no extension is understood);
//! - `jku`, `x5u`, `jwk`, `x5c` (keys or key URLs carried by the token) are ignored: keys come
//!   only from the configured [`KeySet`];
//! - `kid` selects among the configured keys. When no configured key has that kid, keys
//!   without a kid (a hand-written JWKS, the client secret) are tried; when none fits either,
//!   the token is refused with `unknown_key` (the glue re-fetches the JWKS, rate-limited).
//!   Without `kid`, every configured key that allows the `alg` is tried (at most
//!   [`MAX_KEYS_TRIED`]).
//! - the `alg` must be allowed by the key ([`crate::jwks::Key::allows`]): its family, and its
//!   own `alg` when the JWK names one.
//!
//! The signature is checked before any claim is looked at. Claims: `exp` required; `exp`,
//! `nbf`, `iat` (in the future) checked with the leeway; `iss` equal to the configured issuer
//! when one is configured; `aud` (string or array) must contain one of the accepted audiences,
//! and an empty accepted list refuses everything (fail closed).
//!
//! Limits ([`MAX_TOKEN_LEN`], [`MAX_HEADER_LEN`], [`MAX_SIGNATURE_LEN`], [`MAX_JSON_DEPTH`])
//! are far above what any provider issues; going over is `too_large`.
//!
//! `$sso_reason` words ([`TokenError::reason`]):
//!
//! | word | when |
//! |---|---|
//! | `malformed` | not a compact JWS; bad base64url; header/claims not a JSON object or with a duplicate member; `kid` not a string; `crit` present; `exp` missing; `exp`/`nbf`/`iat` not numbers; `aud` not a string or array of strings; an encrypted token (JWE) |
//! | `too_large` | token, header or signature over the size limits, or JSON nested too deep |
//! | `unsupported_algorithm` | `alg: none`, an unknown `alg`, or an `alg` the selected key does not allow (algorithm confusion) |
//! | `no_keys` | the key set is empty (e.g. the JWKS has not been fetched yet) |
//! | `unknown_key` | no configured key has the token's `kid`, or no key exists for its `alg` |
//! | `bad_signature` | the signature does not verify |
//! | `expired` | `exp` (+ leeway) has passed |
//! | `not_yet_valid` | `nbf` is in the future, or `iat` is in the future, beyond the leeway |
//! | `wrong_issuer` | `iss` missing or not the configured issuer |
//! | `wrong_audience` | `aud` missing or none of the accepted audiences, or none configured |

use std::hash::BuildHasher;

use serde_json::{Map, Value};

use crate::identity::Identity;
use crate::jwks::{
    b64url_decode_strict, json_depth_within, printable, process_hasher, Alg, KeySet,
};

mod error;
mod jws;

pub use error::TokenError;
use jws::{check_signature, parse_object};

/// Longest compact token accepted, in bytes.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;
/// Longest decoded JOSE header accepted, in bytes.
pub const MAX_HEADER_LEN: usize = 1024;
/// Longest decoded signature accepted, in bytes (an RSA-8192 signature is 1024).
pub const MAX_SIGNATURE_LEN: usize = 1024;
/// Deepest nesting of arrays/objects accepted in the header or the claims. Checked by a
/// linear scan before parsing (serde_json's own limit is 128).
pub const MAX_JSON_DEPTH: usize = 32;
/// Most keys a token without a usable `kid` is tried against.
pub const MAX_KEYS_TRIED: usize = 16;

/// Longest piece of token-controlled text (alg, kid, iss) kept in an error.
const MAX_QUOTED: usize = 64;

/// A token that passed every check.
///
/// The claims are kept as their JSON text (one allocation) rather than parsed: a cached token
/// is mostly used for its [`Identity`], and a parsed claims map costs some 50 allocations and
/// 3-4 KB per token in the verified-token cache. [`Verified::claims`] parses on demand.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The claims as sent (the decoded payload: one JSON object, checked when verified).
    pub payload: Box<str>,
    /// The identity (README "Identity headers"), from the claims.
    pub identity: Identity,
    /// `exp`, in seconds since the epoch.
    pub exp: u64,
    /// The algorithm the signature was checked with.
    pub alg: Alg,
    /// The `kid` of the key that verified the signature, when it had one.
    pub kid: Option<String>,
    /// The claims parsed, only once something needs them on every request
    /// (`sso_require_claim`, `sso_basic_auth_attributes`): [`Verified::parsed_claims`].
    pub parsed: crate::rules::ClaimsCell,
}

impl Verified {
    /// Every claim (parsed from [`Verified::payload`]; empty only if it could not be, which
    /// verification excludes).
    pub fn claims(&self) -> Map<String, Value> {
        parse_object(self.payload.as_bytes()).unwrap_or_default()
    }

    /// `$sso_claim_NAME`: the top-level claim rendered ([`crate::identity::render_claim`]).
    pub fn claim(&self, name: &str) -> Option<String> {
        crate::identity::claim_variable(&self.claims(), name)
    }

    /// Every claim, parsed on first use and kept with this (cached) token.
    pub fn parsed_claims(&self) -> &Map<String, Value> {
        self.parsed.get_or_init(|| self.claims())
    }
}

/// The checks of one context (a location): who must have issued the token, for whom, and how
/// much clock skew is tolerated. Keys are passed to [`Verifier::verify`] because the glue
/// swaps key sets at runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verifier {
    issuer: Option<String>,
    audiences: Vec<String>,
    leeway: u64,
    /// A keyed hash of the three above, for [`crate::cache::token_context`].
    checks_id: u64,
}

impl Verifier {
    /// `issuer`: the exact `iss` required (`None`: not checked). `audiences`: accepted `aud`
    /// values (empty: every token is refused). `leeway_secs`: skew allowed on exp/nbf/iat.
    pub fn new(issuer: Option<String>, audiences: Vec<String>, leeway_secs: u64) -> Verifier {
        let checks_id =
            process_hasher().hash_one(("sso-verifier-v1", &issuer, &audiences, leeway_secs));
        Verifier {
            issuer,
            audiences,
            leeway: leeway_secs,
            checks_id,
        }
    }

    pub fn issuer(&self) -> Option<&str> {
        self.issuer.as_deref()
    }

    pub fn audiences(&self) -> &[String] {
        &self.audiences
    }

    pub fn leeway(&self) -> u64 {
        self.leeway
    }

    /// Identifies the checks (issuer, audiences, leeway) within this process.
    pub(crate) fn checks_id(&self) -> u64 {
        self.checks_id
    }

    /// Verifies `token` (a compact JWS) against `keys` at `now_unix` seconds.
    pub fn verify(
        &self,
        keys: &KeySet,
        token: &str,
        now_unix: u64,
    ) -> Result<Verified, TokenError> {
        let signed = check_signature(keys, token)?;
        let payload = b64url_decode_strict(signed.payload_b64.as_bytes())
            .ok_or(TokenError::Malformed("the payload is not base64url"))?;
        if !json_depth_within(&payload, MAX_JSON_DEPTH) {
            return Err(TokenError::TooDeep { what: "claims" });
        }
        let claims = parse_object(&payload)
            .map_err(|()| TokenError::Malformed("the claims are not one JSON object"))?;
        let exp = self.check_claims(&claims, now_unix)?;
        let identity = Identity::from_claims(&claims);
        // A JSON object parsed from it: valid UTF-8.
        let payload = String::from_utf8(payload)
            .map_err(|_| TokenError::Malformed("the claims are not UTF-8"))?;
        Ok(Verified {
            payload: payload.into_boxed_str(),
            identity,
            exp,
            alg: signed.alg,
            kid: signed.kid,
            parsed: Default::default(),
        })
    }

    /// [`Verifier::verify`] for a token still in bytes (as nginx hands it over).
    pub fn verify_bytes(
        &self,
        keys: &KeySet,
        token: &[u8],
        now_unix: u64,
    ) -> Result<Verified, TokenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::TooLarge {
                what: "token",
                len: token.len(),
                max: MAX_TOKEN_LEN,
            });
        }
        let text = std::str::from_utf8(token)
            .map_err(|_| TokenError::Malformed("characters outside base64url"))?;
        self.verify(keys, text, now_unix)
    }

    /// The claim checks; returns `exp`.
    fn check_claims(&self, claims: &Map<String, Value>, now: u64) -> Result<u64, TokenError> {
        let exp = match claims.get("exp") {
            None => return Err(TokenError::Malformed("the token has no exp claim")),
            Some(v) => numeric_date(v).ok_or(TokenError::Malformed("exp is not a number"))?,
        };
        if now >= exp.saturating_add(self.leeway) {
            return Err(TokenError::Expired { exp, now });
        }
        let horizon = now.saturating_add(self.leeway);
        if let Some(v) = claims.get("nbf") {
            let nbf = numeric_date(v).ok_or(TokenError::Malformed("nbf is not a number"))?;
            if nbf > horizon {
                return Err(TokenError::NotYetValid {
                    claim: "nbf",
                    at: nbf,
                    now,
                });
            }
        }
        if let Some(v) = claims.get("iat") {
            let iat = numeric_date(v).ok_or(TokenError::Malformed("iat is not a number"))?;
            if iat > horizon {
                return Err(TokenError::NotYetValid {
                    claim: "iat",
                    at: iat,
                    now,
                });
            }
        }
        if let Some(expected) = &self.issuer {
            match claims.get("iss") {
                Some(Value::String(got)) if got == expected => {}
                Some(Value::String(got)) => {
                    return Err(TokenError::WrongIssuer {
                        trailing_slash: got.trim_end_matches('/') == expected.trim_end_matches('/'),
                        got: Some(printable(got, MAX_QUOTED * 2)),
                        expected: printable(expected, MAX_QUOTED * 2),
                    })
                }
                Some(_) => return Err(TokenError::Malformed("iss is not a string")),
                None => {
                    return Err(TokenError::WrongIssuer {
                        got: None,
                        expected: printable(expected, MAX_QUOTED * 2),
                        trailing_slash: false,
                    })
                }
            }
        }
        if self.audiences.is_empty() {
            return Err(TokenError::WrongAudience { configured: false });
        }
        let accepted = |aud: &str| self.audiences.iter().any(|a| a == aud);
        let ok = match claims.get("aud") {
            None => false,
            Some(Value::String(aud)) => accepted(aud),
            Some(Value::Array(list)) => {
                let mut found = false;
                for item in list {
                    match item {
                        Value::String(aud) => found |= accepted(aud),
                        _ => return Err(TokenError::Malformed("aud lists a non-string")),
                    }
                }
                found
            }
            Some(_) => return Err(TokenError::Malformed("aud is not a string or an array")),
        };
        if !ok {
            return Err(TokenError::WrongAudience { configured: true });
        }
        Ok(exp)
    }
}

/// NumericDate (RFC 7519 §2) as whole seconds: negative is 0, fractions are cut.
fn numeric_date(value: &Value) -> Option<u64> {
    let Value::Number(n) = value else {
        return None;
    };
    if let Some(u) = n.as_u64() {
        return Some(u);
    }
    if let Some(i) = n.as_i64() {
        return Some(if i < 0 { 0 } else { i as u64 });
    }
    let f = n.as_f64()?;
    if !f.is_finite() {
        return None;
    }
    Some(if f <= 0.0 {
        0
    } else if f >= u64::MAX as f64 {
        u64::MAX
    } else {
        f as u64
    })
}

#[cfg(test)]
pub(crate) mod tests;

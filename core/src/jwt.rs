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

use std::fmt;
use std::hash::{BuildHasher, Hash, Hasher};

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value};

use crate::identity::Identity;
use crate::jwks::{
    b64url_decode_strict, json_depth_within, printable, process_hasher, Alg, Key, KeyFamily, KeySet,
};

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

/// Why a token was refused. [`TokenError::reason`] is the `$sso_reason` word,
/// [`TokenError::description`] is safe for `WWW-Authenticate: ... error_description="..."`.
///
/// Token-controlled text kept here (alg, kid, iss) is already made printable and cut short;
/// the token itself is never kept.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenError {
    /// `what` (token, header, signature) is `len` bytes, over `max`.
    TooLarge {
        what: &'static str,
        len: usize,
        max: usize,
    },
    /// The `what` (header, claims) JSON nests deeper than [`MAX_JSON_DEPTH`].
    TooDeep { what: &'static str },
    /// Not a well-formed JWT; the text says what is wrong.
    Malformed(&'static str),
    /// The header has `crit` (no extension is understood).
    CriticalHeader,
    /// `alg: none`.
    AlgNone,
    /// An `alg` this verifier does not implement.
    UnsupportedAlgorithm { alg: String },
    /// The `alg` is not allowed for the key(s) that would verify it (algorithm confusion).
    AlgorithmNotAllowed {
        alg: Alg,
        kid: Option<String>,
        family: KeyFamily,
    },
    /// The key set is empty.
    NoKeys,
    /// No key has this `kid`, or (without kid) no key exists for `alg`.
    UnknownKey { kid: Option<String>, alg: Alg },
    /// The signature does not verify.
    BadSignature,
    /// `exp` + leeway has passed.
    Expired { exp: u64, now: u64 },
    /// `claim` (`nbf` or `iat`) is in the future beyond the leeway.
    NotYetValid {
        claim: &'static str,
        at: u64,
        now: u64,
    },
    /// `iss` is missing (`got: None`) or not the configured issuer.
    WrongIssuer {
        got: Option<String>,
        expected: String,
        /// The only difference is a trailing slash.
        trailing_slash: bool,
    },
    /// `aud` does not name an accepted audience (`configured: false`: none is configured).
    WrongAudience { configured: bool },
}

impl TokenError {
    /// The `$sso_reason` word (SPEC §6); see the module documentation for each.
    pub fn reason(&self) -> &'static str {
        match self {
            TokenError::TooLarge { .. } | TokenError::TooDeep { .. } => "too_large",
            TokenError::Malformed(_) | TokenError::CriticalHeader => "malformed",
            TokenError::AlgNone
            | TokenError::UnsupportedAlgorithm { .. }
            | TokenError::AlgorithmNotAllowed { .. } => "unsupported_algorithm",
            TokenError::NoKeys => "no_keys",
            TokenError::UnknownKey { .. } => "unknown_key",
            TokenError::BadSignature => "bad_signature",
            TokenError::Expired { .. } => "expired",
            TokenError::NotYetValid { .. } => "not_yet_valid",
            TokenError::WrongIssuer { .. } => "wrong_issuer",
            TokenError::WrongAudience { .. } => "wrong_audience",
        }
    }

    /// True for `unknown_key` with a `kid`: the JWKS may have rotated, re-fetch it
    /// (rate-limited) and try again.
    pub fn is_unknown_kid(&self) -> bool {
        matches!(self, TokenError::UnknownKey { kid: Some(_), .. })
    }

    /// One line for `error_description` and the log: printable ASCII only, never `"` or `\`,
    /// never the token, at most 200 characters.
    pub fn description(&self) -> String {
        let text = match self {
            TokenError::TooLarge { what, len, max } => {
                format!("the {what} is {len} bytes, more than the {max} accepted")
            }
            TokenError::TooDeep { what } => {
                format!("the {what} JSON nests deeper than {MAX_JSON_DEPTH} levels")
            }
            TokenError::Malformed(detail) => format!("malformed token: {detail}"),
            TokenError::CriticalHeader => {
                "the token header lists critical extensions (crit), none is supported".into()
            }
            TokenError::AlgNone => "unsigned tokens (alg none) are not accepted".into(),
            TokenError::UnsupportedAlgorithm { alg } => {
                format!("algorithm {alg} is not supported")
            }
            TokenError::AlgorithmNotAllowed { alg, kid, family } => match kid {
                Some(kid) => format!(
                    "algorithm {alg} is not allowed for key {kid} ({} key)",
                    family.name()
                ),
                None => format!(
                    "algorithm {alg} is not allowed for the configured {} keys",
                    family.name()
                ),
            },
            TokenError::NoKeys => "no signature verification key is available".into(),
            TokenError::UnknownKey { kid: Some(kid), .. } => {
                format!("no key with kid {kid} is configured")
            }
            TokenError::UnknownKey { kid: None, alg } => {
                format!("no key for algorithm {alg} is configured")
            }
            TokenError::BadSignature => "the signature does not verify".into(),
            TokenError::Expired { exp, now } => {
                format!("the token expired {} seconds ago", now.saturating_sub(*exp))
            }
            TokenError::NotYetValid { claim, at, now } => match *claim {
                "iat" => format!(
                    "the token is issued {} seconds in the future (iat)",
                    at.saturating_sub(*now)
                ),
                _ => format!(
                    "the token is not valid for another {} seconds ({claim})",
                    at.saturating_sub(*now)
                ),
            },
            TokenError::WrongIssuer {
                got: None,
                expected,
                ..
            } => format!("the token has no issuer (iss), expected {expected}"),
            TokenError::WrongIssuer {
                got: Some(got),
                expected,
                trailing_slash: true,
            } => format!(
                "issuer {got} differs from the expected {expected} only by a trailing slash"
            ),
            TokenError::WrongIssuer {
                got: Some(got),
                expected,
                trailing_slash: false,
            } => format!("issuer {got} is not the expected {expected}"),
            TokenError::WrongAudience { configured: true } => {
                "the token is not meant for this audience (aud)".into()
            }
            TokenError::WrongAudience { configured: false } => {
                "no accepted audience is configured".into()
            }
        };
        printable(&text, 200)
    }
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.description(), self.reason())
    }
}

impl std::error::Error for TokenError {}

/// A token that passed every check.
///
/// The claims are kept as their JSON text (one allocation) rather than parsed: a cached token
/// is mostly used for its [`Identity`], and a parsed claims map costs some 50 allocations and
/// 3-4 KB per token in the verified-token cache. [`Verified::claims`] parses on demand.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The claims as sent (the decoded payload: one JSON object, checked when verified).
    pub payload: Box<str>,
    /// The identity of SPEC §4, from the claims.
    pub identity: Identity,
    /// `exp`, in seconds since the epoch.
    pub exp: u64,
    /// The algorithm the signature was checked with.
    pub alg: Alg,
    /// The `kid` of the key that verified the signature, when it had one.
    pub kid: Option<String>,
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
}

/// The checks of one context (a location): who must have issued the token, for whom, and how
/// much clock skew is tolerated. Keys are passed to [`Verifier::verify`] because the glue
/// swaps key sets at runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verifier {
    issuer: Option<String>,
    audiences: Vec<String>,
    leeway: u64,
}

impl Verifier {
    /// `issuer`: the exact `iss` required (`None`: not checked). `audiences`: accepted `aud`
    /// values (empty: every token is refused). `leeway_secs`: skew allowed on exp/nbf/iat.
    pub fn new(issuer: Option<String>, audiences: Vec<String>, leeway_secs: u64) -> Verifier {
        Verifier {
            issuer,
            audiences,
            leeway: leeway_secs,
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

    /// The cache context for this verifier with these keys ([`crate::cache::TokenCache`]):
    /// changes when the issuer, the audiences, the leeway or any key changes, so a token
    /// accepted in one location is not accepted from the cache in another.
    pub fn context_id(&self, keys: &KeySet) -> u64 {
        let mut h = process_hasher().build_hasher();
        "sso-verifier-v1".hash(&mut h);
        self.issuer.hash(&mut h);
        self.audiences.hash(&mut h);
        self.leeway.hash(&mut h);
        keys.fingerprint().hash(&mut h);
        h.finish()
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

/// A compact JWS whose signature verified; the payload is not interpreted yet.
#[derive(Debug)]
struct Signed<'t> {
    payload_b64: &'t str,
    alg: Alg,
    kid: Option<String>,
}

/// Parses the compact JWS, checks the header and the signature. Claims are not looked at (the
/// payload need not even be JSON): this is the part RFC test vectors exercise.
fn check_signature<'t>(keys: &KeySet, token: &'t str) -> Result<Signed<'t>, TokenError> {
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

/// One JSON object whose top-level members are all distinct (RFC 7515 §5.2 / RFC 8725 §3.6:
/// a duplicate could be read differently by another parser).
fn parse_object(json: &[u8]) -> Result<Map<String, Value>, ()> {
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::jwks::{Secret, B64URL_STRICT};
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{self as sig, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
    use base64::Engine;
    use serde_json::json;
    use std::sync::OnceLock;

    // ---- vectors -------------------------------------------------------------------------

    const RFC7515_PAYLOAD: &str =
        "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
    const RFC7515_EXP: u64 = 1_300_819_380;
    const RFC7515_A2_N: &str = "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ";
    const RFC7515_A2_SIG: &str = "cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw";
    const RFC7515_A3_X: &str = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
    const RFC7515_A3_Y: &str = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
    const RFC7515_A3_SIG: &str =
        "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";
    const RFC8037_D: &str = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
    const RFC8037_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
    const RFC8037_A4: &str = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";
    const RFC7520_HMAC_K: &str = "hJtXIZ2uSN5kbQfbtTNWbpdmhkV8FJG-Onbc6mxCcYg";
    const RFC7520_HMAC_KID: &str = "018c0ae5-4d9b-471b-bfd6-eef314bc7037";
    const RFC7520_4_4: &str = "eyJhbGciOiJIUzI1NiIsImtpZCI6IjAxOGMwYWU1LTRkOWItNDcxYi1iZmQ2LWVlZjMxNGJjNzAzNyJ9.SXTigJlzIGEgZGFuZ2Vyb3VzIGJ1c2luZXNzLCBGcm9kbywgZ29pbmcgb3V0IHlvdXIgZG9vci4gWW91IHN0ZXAgb250byB0aGUgcm9hZCwgYW5kIGlmIHlvdSBkb24ndCBrZWVwIHlvdXIgZmVldCwgdGhlcmXigJlzIG5vIGtub3dpbmcgd2hlcmUgeW91IG1pZ2h0IGJlIHN3ZXB0IG9mZiB0by4.s0h6KThzkfBBBkLspW1h84VsJZFTsPPqMDA7g1Md7p0";

    // ---- minting -------------------------------------------------------------------------

    pub(crate) const NOW: u64 = 1_700_000_000;
    pub(crate) const ISS: &str = "https://auth.example.com/application/o/app/";
    pub(crate) const AUD: &str = "client-id";
    pub(crate) const SECRET: &[u8] = b"the-client-secret-of-an-authentik-proxy-provider";

    fn b64(bytes: &[u8]) -> String {
        B64URL_STRICT.encode(bytes)
    }

    fn jwks_of(keys: Vec<Value>) -> KeySet {
        let doc = serde_json::to_vec(&json!({ "keys": keys })).unwrap_or_default();
        KeySet::from_jwks(&doc).expect("test JWKS is usable")
    }

    /// The RFC 8037 Ed25519 key pair.
    fn ed_pair() -> Ed25519KeyPair {
        let d = b64url_decode_strict(RFC8037_D.as_bytes()).unwrap_or_default();
        let x = b64url_decode_strict(RFC8037_X.as_bytes()).unwrap_or_default();
        Ed25519KeyPair::from_seed_and_public_key(&d, &x).expect("RFC 8037 key")
    }

    fn rsa_pair() -> &'static RsaKeyPair {
        static PAIR: OnceLock<RsaKeyPair> = OnceLock::new();
        PAIR.get_or_init(|| {
            RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("RSA keygen")
        })
    }

    fn ec_pair() -> &'static EcdsaKeyPair {
        static PAIR: OnceLock<EcdsaKeyPair> = OnceLock::new();
        PAIR.get_or_init(|| {
            EcdsaKeyPair::generate(&sig::ECDSA_P256_SHA256_FIXED_SIGNING).expect("EC keygen")
        })
    }

    fn rsa_jwk(kid: &str) -> Value {
        let public = sig::RsaPublicKeyComponents::<Vec<u8>>::from(rsa_pair().public_key());
        json!({"kty":"RSA","kid":kid,"n":b64(&public.n),"e":b64(&public.e)})
    }

    fn ec_jwk(kid: &str) -> Value {
        let point = ec_pair().public_key().as_ref().to_vec();
        let x = point.get(1..33).unwrap_or_default();
        let y = point.get(33..65).unwrap_or_default();
        json!({"kty":"EC","crv":"P-256","kid":kid,"x":b64(x),"y":b64(y)})
    }

    /// A key set with one key of each family: kids "rsa", "ec", "ed", plus the client secret.
    pub(crate) fn test_keys() -> KeySet {
        let mut set = jwks_of(vec![
            rsa_jwk("rsa"),
            ec_jwk("ec"),
            json!({"kty":"OKP","crv":"Ed25519","kid":"ed","x":RFC8037_X}),
        ]);
        set.add_client_secret(&Secret::new(SECRET.to_vec()))
            .expect("secret");
        set
    }

    fn signature_for(alg: &str, input: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match alg {
            "HS256" => aws_lc_rs::hmac::sign(
                &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, SECRET),
                input,
            )
            .as_ref()
            .to_vec(),
            "HS512" => aws_lc_rs::hmac::sign(
                &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA512, SECRET),
                input,
            )
            .as_ref()
            .to_vec(),
            "EdDSA" => ed_pair().sign(input).as_ref().to_vec(),
            "ES256" => ec_pair()
                .sign(&rng, input)
                .map(|s| s.as_ref().to_vec())
                .unwrap_or_default(),
            "RS256" | "PS256" | "RS512" => {
                let pair = rsa_pair();
                let mut out = vec![0; pair.public_modulus_len()];
                let encoding: &'static dyn sig::RsaEncoding = match alg {
                    "RS256" => &sig::RSA_PKCS1_SHA256,
                    "RS512" => &sig::RSA_PKCS1_SHA512,
                    _ => &sig::RSA_PSS_SHA256,
                };
                pair.sign(encoding, &rng, input, &mut out)
                    .expect("RSA sign");
                out
            }
            _ => Vec::new(),
        }
    }

    /// A compact JWS over arbitrary header and claims JSON text.
    fn mint_raw(alg: &str, header: &str, claims: &str) -> String {
        let input = format!("{}.{}", b64(header.as_bytes()), b64(claims.as_bytes()));
        let signature = signature_for(alg, input.as_bytes());
        format!("{input}.{}", b64(&signature))
    }

    pub(crate) fn mint(header: Value, claims: Value) -> String {
        let alg = header["alg"].as_str().unwrap_or("none").to_owned();
        mint_raw(&alg, &header.to_string(), &claims.to_string())
    }

    pub(crate) fn good_claims() -> Value {
        json!({
            "iss": ISS, "aud": AUD, "sub": "u-1", "exp": NOW + 300, "iat": NOW - 10,
            "nbf": NOW - 10, "preferred_username": "akadmin", "groups": ["admins", "ops"],
        })
    }

    pub(crate) fn verifier() -> Verifier {
        Verifier::new(Some(ISS.into()), vec![AUD.into()], 30)
    }

    fn with(mut claims: Value, name: &str, value: Value) -> Value {
        if let Some(map) = claims.as_object_mut() {
            if value.is_null() {
                map.remove(name);
            } else {
                map.insert(name.into(), value);
            }
        }
        claims
    }

    fn reason(token: &str) -> &'static str {
        match verifier().verify(&test_keys(), token, NOW) {
            Ok(_) => "ok",
            Err(e) => e.reason(),
        }
    }

    fn err(token: &str) -> TokenError {
        verifier()
            .verify(&test_keys(), token, NOW)
            .expect_err("must be refused")
    }

    // ---- RFC vectors ---------------------------------------------------------------------

    #[test]
    fn rfc7515_a2_rs256() {
        let keys = jwks_of(vec![json!({"kty":"RSA","n":RFC7515_A2_N,"e":"AQAB"})]);
        let token = format!("eyJhbGciOiJSUzI1NiJ9.{RFC7515_PAYLOAD}.{RFC7515_A2_SIG}");
        let signed = check_signature(&keys, &token).expect("A.2 signature verifies");
        assert_eq!(signed.alg, Alg::RS256);
        // Full verification gets past signature, exp and iss, and stops at aud (A.2 has none).
        let v = Verifier::new(Some("joe".into()), vec!["x".into()], 0);
        assert_eq!(
            v.verify(&keys, &token, RFC7515_EXP - 1).map(|_| ()),
            Err(TokenError::WrongAudience { configured: true })
        );
        assert_eq!(
            v.verify(&keys, &token, RFC7515_EXP)
                .map(|_| ())
                .map_err(|e| e.reason()),
            Err("expired")
        );
        // The same signature over a tampered payload.
        let tampered = token.replacen("eyJpc3MiOiJqb2Ui", "eyJpc3MiOiJqb2Ki", 1);
        assert_eq!(
            check_signature(&keys, &tampered).map(|_| ()),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn rfc7515_a3_es256() {
        let keys = jwks_of(vec![
            json!({"kty":"EC","crv":"P-256","x":RFC7515_A3_X,"y":RFC7515_A3_Y}),
        ]);
        let token = format!("eyJhbGciOiJFUzI1NiJ9.{RFC7515_PAYLOAD}.{RFC7515_A3_SIG}");
        let signed = check_signature(&keys, &token).expect("A.3 signature verifies");
        assert_eq!(signed.alg, Alg::ES256);
        let v = Verifier::new(Some("joe".into()), vec!["x".into()], 0);
        assert_eq!(
            v.verify(&keys, &token, RFC7515_EXP - 1).map(|_| ()),
            Err(TokenError::WrongAudience { configured: true })
        );
        // Claiming ES384 instead: no P-384 key is configured.
        let mut wrong = token.clone();
        wrong.replace_range(..20, "eyJhbGciOiJFUzM4NCJ9");
        assert_eq!(
            check_signature(&keys, &wrong)
                .map(|_| ())
                .map_err(|e| e.reason()),
            Err("unknown_key")
        );
    }

    #[test]
    fn rfc8037_a4_ed25519() {
        let keys = jwks_of(vec![json!({"kty":"OKP","crv":"Ed25519","x":RFC8037_X})]);
        let signed = check_signature(&keys, RFC8037_A4).expect("A.4 signature verifies");
        assert_eq!(signed.alg, Alg::EdDSA);
        // Our signer reproduces the RFC's (deterministic) signature.
        let input = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
        assert_eq!(
            format!("{input}.{}", b64(ed_pair().sign(input.as_bytes()).as_ref())),
            RFC8037_A4
        );
        // The payload is not claims: the signature passes, the claims do not.
        assert_eq!(
            verifier().verify(&keys, RFC8037_A4, NOW).map(|_| ()),
            Err(TokenError::Malformed("the claims are not one JSON object"))
        );
        let flipped = RFC8037_A4.replacen(".hgyY", ".hgyZ", 1);
        assert_eq!(
            check_signature(&keys, &flipped).map(|_| ()),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn rfc7520_4_4_hs256_with_kid() {
        let keys = jwks_of(vec![
            json!({"kty":"oct","kid":RFC7520_HMAC_KID,"use":"sig","alg":"HS256","k":RFC7520_HMAC_K}),
        ]);
        let signed = check_signature(&keys, RFC7520_4_4).expect("4.4 signature verifies");
        assert_eq!(signed.kid.as_deref(), Some(RFC7520_HMAC_KID));
        // Another kid: unknown_key (the only key has a kid, so nothing anonymous to fall back on).
        let other = jwks_of(vec![json!({"kty":"oct","kid":"other","k":RFC7520_HMAC_K})]);
        let e = check_signature(&other, RFC7520_4_4)
            .map(|_| ())
            .expect_err("x");
        assert!(e.is_unknown_kid());
        assert_eq!(e.reason(), "unknown_key");
        // An anonymous key with the same secret answers for any kid.
        let anon = jwks_of(vec![json!({"kty":"oct","k":RFC7520_HMAC_K})]);
        assert!(check_signature(&anon, RFC7520_4_4).is_ok());
    }

    // ---- accepted tokens -----------------------------------------------------------------

    #[test]
    fn every_family_verifies_end_to_end() {
        for (alg, kid) in [
            ("RS256", Some("rsa")),
            ("RS512", None),
            ("PS256", Some("rsa")),
            ("ES256", Some("ec")),
            ("ES256", None),
            ("EdDSA", Some("ed")),
            ("HS256", None),
            ("HS512", None),
        ] {
            let header = match kid {
                Some(kid) => json!({"alg": alg, "kid": kid, "typ": "JWT"}),
                None => json!({"alg": alg}),
            };
            let token = mint(header, good_claims());
            let v = verifier()
                .verify(&test_keys(), &token, NOW)
                .unwrap_or_else(|e| panic!("{alg} {kid:?}: {e}"));
            assert_eq!(v.alg.name(), alg);
            assert_eq!(v.exp, NOW + 300);
            assert_eq!(v.identity.username, "akadmin");
            assert_eq!(v.identity.groups, ["admins", "ops"]);
            assert_eq!(v.claim("sub").as_deref(), Some("u-1"));
        }
    }

    #[test]
    fn audience_array_and_leeway() {
        let claims = with(good_claims(), "aud", json!(["other", AUD]));
        assert_eq!(reason(&mint(json!({"alg":"HS256"}), claims)), "ok");
        let claims = with(good_claims(), "aud", json!(["other", "more"]));
        assert_eq!(
            reason(&mint(json!({"alg":"HS256"}), claims)),
            "wrong_audience"
        );
        let claims = with(good_claims(), "aud", json!(["other", 7]));
        assert_eq!(reason(&mint(json!({"alg":"HS256"}), claims)), "malformed");
        // Within the 30 s leeway on every side.
        let claims = with(good_claims(), "exp", json!(NOW - 29));
        let claims = with(claims, "nbf", json!(NOW + 29));
        let claims = with(claims, "iat", json!(NOW + 29));
        assert_eq!(reason(&mint(json!({"alg":"HS256"}), claims)), "ok");
        // Fractional NumericDate.
        let claims = with(good_claims(), "exp", json!((NOW + 10) as f64 + 0.5));
        assert_eq!(reason(&mint(json!({"alg":"HS256"}), claims)), "ok");
    }

    #[test]
    fn issuer_is_optional_when_not_configured() {
        let v = Verifier::new(None, vec![AUD.into()], 0);
        let token = mint(
            json!({"alg":"HS256"}),
            with(good_claims(), "iss", Value::Null),
        );
        assert!(v.verify(&test_keys(), &token, NOW).is_ok());
    }

    // ---- refusals ------------------------------------------------------------------------

    #[test]
    fn alg_none_is_refused() {
        let claims = b64(good_claims().to_string().as_bytes());
        for header in [
            r#"{"alg":"none"}"#,
            r#"{"alg":"None"}"#,
            r#"{"alg":"NONE"}"#,
        ] {
            let h = b64(header.as_bytes());
            assert_eq!(err(&format!("{h}.{claims}.")), TokenError::AlgNone);
            assert_eq!(err(&format!("{h}.{claims}.c2ln")), TokenError::AlgNone);
            assert_eq!(
                err(&format!("{h}.{claims}.")).reason(),
                "unsupported_algorithm"
            );
        }
        let unknown = mint_raw("HS256", r#"{"alg":"HS1024"}"#, &good_claims().to_string());
        assert_eq!(err(&unknown).reason(), "unsupported_algorithm");
        let not_string = mint_raw("HS256", r#"{"alg":256}"#, &good_claims().to_string());
        assert_eq!(err(&not_string).reason(), "malformed");
        let missing = mint_raw("HS256", r#"{"typ":"JWT"}"#, &good_claims().to_string());
        assert_eq!(err(&missing).reason(), "malformed");
    }

    #[test]
    fn algorithm_confusion_is_refused() {
        // The classic attack: HS256 with the RSA public key (as the attacker can get it) as
        // the HMAC secret, naming the RSA key.
        let rsa = rsa_jwk("rsa");
        let n =
            b64url_decode_strict(rsa["n"].as_str().unwrap_or("").as_bytes()).unwrap_or_default();
        let header = json!({"alg":"HS256","kid":"rsa"}).to_string();
        let input = format!(
            "{}.{}",
            b64(header.as_bytes()),
            b64(good_claims().to_string().as_bytes())
        );
        for secret in [n.clone(), rsa.to_string().into_bytes()] {
            let mac = aws_lc_rs::hmac::sign(
                &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &secret),
                input.as_bytes(),
            );
            let forged = format!("{input}.{}", b64(mac.as_ref()));
            let e = err(&forged);
            assert_eq!(e.reason(), "unsupported_algorithm", "{e:?}");
            assert!(
                e.description().contains("not allowed for key rsa"),
                "{}",
                e.description()
            );
            // Without the kid and without an HMAC key in the set: no key for HS256.
            let keys = jwks_of(vec![rsa_jwk("rsa")]);
            let header = b64(br#"{"alg":"HS256"}"#);
            let input2 = format!("{header}.{}", b64(good_claims().to_string().as_bytes()));
            let mac2 = aws_lc_rs::hmac::sign(
                &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &secret),
                input2.as_bytes(),
            );
            let forged2 = format!("{input2}.{}", b64(mac2.as_ref()));
            assert_eq!(
                verifier()
                    .verify(&keys, &forged2, NOW)
                    .map(|_| ())
                    .map_err(|e| e.reason()),
                Err("unknown_key")
            );
        }
        // A JWK pinned to RS256 does not verify PS256, even with a valid PS256 signature.
        let mut pinned = rsa_jwk("rsa");
        pinned["alg"] = json!("RS256");
        let keys = jwks_of(vec![pinned]);
        let token = mint(json!({"alg":"PS256","kid":"rsa"}), good_claims());
        assert_eq!(
            verifier()
                .verify(&keys, &token, NOW)
                .map(|_| ())
                .map_err(|e| e.reason()),
            Err("unsupported_algorithm")
        );
        let token = mint(json!({"alg":"PS256"}), good_claims());
        assert_eq!(
            verifier()
                .verify(&keys, &token, NOW)
                .map(|_| ())
                .map_err(|e| e.reason()),
            Err("unsupported_algorithm")
        );
        // ES256 signed by the EC key but claiming the Ed25519 kid.
        let token = mint(json!({"alg":"ES256","kid":"ed"}), good_claims());
        assert_eq!(reason(&token), "unsupported_algorithm");
    }

    #[test]
    fn unknown_kid_and_no_keys() {
        // kid unknown and no anonymous key of the family: unknown_key.
        let token = mint(json!({"alg":"EdDSA","kid":"rotated"}), good_claims());
        let e = err(&token);
        assert_eq!(e.reason(), "unknown_key");
        assert!(e.is_unknown_kid());
        assert!(e.description().contains("rotated"));
        // An unknown kid on an HS256 token falls back on the (anonymous) client secret.
        let token = mint(json!({"alg":"HS256","kid":"whatever"}), good_claims());
        assert_eq!(reason(&token), "ok");
        // No keys at all.
        let token = mint(json!({"alg":"HS256"}), good_claims());
        assert_eq!(
            verifier().verify(&KeySet::new(), &token, NOW).map(|_| ()),
            Err(TokenError::NoKeys)
        );
        let kid_not_string = mint(json!({"alg":"HS256","kid":5}), good_claims());
        assert_eq!(reason(&kid_not_string), "malformed");
    }

    #[test]
    fn crit_is_refused_and_token_keys_are_ignored() {
        let token = mint(json!({"alg":"HS256","crit":["exp"],"exp":1}), good_claims());
        assert_eq!(err(&token), TokenError::CriticalHeader);
        assert_eq!(err(&token).reason(), "malformed");
        let token = mint(json!({"alg":"HS256","crit":[]}), good_claims());
        assert_eq!(err(&token), TokenError::CriticalHeader);
        // An embedded jwk / jku / x5u / x5c changes nothing: the configured keys decide.
        let token = mint(
            json!({"alg":"EdDSA","kid":"ed","jku":"https://evil.example/jwks",
                   "x5u":"https://evil.example/cert","x5c":["AAAA"],
                   "jwk":{"kty":"OKP","crv":"Ed25519","x":"AAAA"}}),
            good_claims(),
        );
        assert_eq!(reason(&token), "ok");
    }

    #[test]
    fn time_claims() {
        let h = || json!({"alg":"HS256"});
        assert_eq!(
            reason(&mint(h(), with(good_claims(), "exp", json!(NOW - 31)))),
            "expired"
        );
        assert_eq!(
            reason(&mint(h(), with(good_claims(), "exp", json!(NOW - 30)))),
            "expired"
        );
        assert_eq!(
            reason(&mint(h(), with(good_claims(), "exp", json!(-5)))),
            "expired"
        );
        assert_eq!(
            reason(&mint(h(), with(good_claims(), "exp", Value::Null))),
            "malformed"
        );
        assert_eq!(
            reason(&mint(h(), with(good_claims(), "exp", json!("tomorrow")))),
            "malformed"
        );
        let e = err(&mint(h(), with(good_claims(), "nbf", json!(NOW + 31))));
        assert_eq!(e.reason(), "not_yet_valid");
        assert!(e.description().contains("nbf"));
        let e = err(&mint(h(), with(good_claims(), "iat", json!(NOW + 3600))));
        assert_eq!(e.reason(), "not_yet_valid");
        assert!(e.description().contains("iat"), "{}", e.description());
        assert_eq!(
            reason(&mint(h(), with(good_claims(), "iat", json!("x")))),
            "malformed"
        );
        let e = err(&mint(h(), with(good_claims(), "exp", json!(NOW - 100))));
        assert_eq!(e.description(), "the token expired 100 seconds ago");
    }

    #[test]
    fn issuer_checks() {
        let h = || json!({"alg":"HS256"});
        let e = err(&mint(
            h(),
            with(good_claims(), "iss", json!("https://evil.example/")),
        ));
        assert_eq!(e.reason(), "wrong_issuer");
        assert!(!e.description().contains("trailing slash"));
        let e = err(&mint(
            h(),
            with(good_claims(), "iss", json!(ISS.trim_end_matches('/'))),
        ));
        assert_eq!(e.reason(), "wrong_issuer");
        assert!(
            e.description().contains("only by a trailing slash"),
            "{}",
            e.description()
        );
        let e = err(&mint(h(), with(good_claims(), "iss", Value::Null)));
        assert_eq!(e.reason(), "wrong_issuer");
        assert_eq!(
            reason(&mint(h(), with(good_claims(), "iss", json!(1)))),
            "malformed"
        );
    }

    #[test]
    fn audience_checks() {
        let h = || json!({"alg":"HS256"});
        assert_eq!(
            reason(&mint(h(), with(good_claims(), "aud", json!("other")))),
            "wrong_audience"
        );
        assert_eq!(
            reason(&mint(h(), with(good_claims(), "aud", Value::Null))),
            "wrong_audience"
        );
        assert_eq!(
            reason(&mint(h(), with(good_claims(), "aud", json!({})))),
            "malformed"
        );
        // No accepted audience configured: fail closed.
        let v = Verifier::new(Some(ISS.into()), Vec::new(), 30);
        let e = v
            .verify(&test_keys(), &mint(h(), good_claims()), NOW)
            .map(|_| ())
            .expect_err("fail closed");
        assert_eq!(e, TokenError::WrongAudience { configured: false });
    }

    #[test]
    fn structure_and_encoding() {
        let good = mint(json!({"alg":"HS256"}), good_claims());
        let parts: Vec<&str> = good.split('.').collect();
        let [h, p, s] = parts.as_slice() else {
            panic!("three parts")
        };
        for bad in [
            String::new(),
            format!("{h}.{p}"),
            format!("{h}.{p}.{s}.{s}"),
            format!("{h}.{p}.{s}.{s}.{s}"),
            format!("{h}.{p}.{s}="),
            format!("{h}=.{p}.{s}"),
            format!("{h}.{p}+.{s}"),
            format!("{h}.{p}.{s} "),
            format!(" {h}.{p}.{s}"),
            format!("{h}.{p}.{}", s.replace('-', "+")),
            format!("{h}.{p}."),
            format!(".{p}.{s}"),
            format!("{h}..{s}"),
            format!("{h}.{p}.{s}\u{e9}"),
            "a.b.c".to_string(),
            "...".to_string(),
        ] {
            let e = err(&bad);
            assert!(
                matches!(e.reason(), "malformed" | "bad_signature"),
                "{bad:?}: {e:?}"
            );
        }
        assert_eq!(
            err(&format!("{h}.{p}.{s}.{s}.{s}")).description(),
            "malformed token: encrypted tokens (JWE) are not supported"
        );
        // A non-canonical last character (trailing bits set) is not base64url.
        let last = s.chars().last().unwrap_or('A');
        let twisted = if last == 'A' { 'B' } else { 'A' };
        let mut bent = format!("{h}.{p}.{s}");
        bent.pop();
        bent.push(twisted);
        assert!(matches!(reason(&bent), "malformed" | "bad_signature"));
        // Duplicate top-level members.
        let dup = mint_raw(
            "HS256",
            r#"{"alg":"HS256"}"#,
            &format!(
                r#"{{"iss":"{ISS}","aud":"{AUD}","exp":{},"aud":"{AUD}"}}"#,
                NOW + 60
            ),
        );
        assert_eq!(err(&dup).reason(), "malformed");
        let dup_header = mint_raw(
            "HS256",
            r#"{"alg":"HS256","alg":"none"}"#,
            &good_claims().to_string(),
        );
        assert_eq!(err(&dup_header).reason(), "malformed");
        // Claims that are JSON but not an object.
        let array = mint_raw("HS256", r#"{"alg":"HS256"}"#, "[1,2]");
        assert_eq!(err(&array).reason(), "malformed");
        assert_eq!(
            verifier()
                .verify_bytes(&test_keys(), b"\xff\xfe.a.b", NOW)
                .map(|_| ())
                .map_err(|e| e.reason()),
            Err("malformed")
        );
        assert_eq!(
            verifier()
                .verify_bytes(&test_keys(), good.as_bytes(), NOW)
                .map(|_| ()),
            Ok(())
        );
    }

    #[test]
    fn tampering() {
        let good = mint(json!({"alg":"RS256","kid":"rsa"}), good_claims());
        let parts: Vec<&str> = good.split('.').collect();
        let [h, _, s] = parts.as_slice() else {
            panic!("three parts")
        };
        let forged_claims = with(good_claims(), "preferred_username", json!("root"));
        let tampered = format!("{h}.{}.{s}", b64(forged_claims.to_string().as_bytes()));
        assert_eq!(err(&tampered), TokenError::BadSignature);
        let mut sig = b64url_decode_strict(s.as_bytes()).unwrap_or_default();
        if let Some(b) = sig.get_mut(10) {
            *b ^= 1;
        }
        let parts2: Vec<&str> = good.rsplitn(2, '.').collect();
        let input = parts2.get(1).copied().unwrap_or_default();
        assert_eq!(
            err(&format!("{input}.{}", b64(&sig))),
            TokenError::BadSignature
        );
        // Truncated signature.
        assert_eq!(
            err(&format!(
                "{input}.{}",
                b64(sig.get(..100).unwrap_or_default())
            )),
            TokenError::BadSignature
        );
        // The header swapped for another alg the key allows.
        let other_header = b64(br#"{"alg":"RS512","kid":"rsa"}"#);
        let swapped = format!(
            "{other_header}.{}",
            good.split_once('.').map(|x| x.1).unwrap_or("")
        );
        assert_eq!(err(&swapped), TokenError::BadSignature);
    }

    #[test]
    fn size_and_depth_limits() {
        // Over the token limit.
        let big = with(good_claims(), "pad", json!("x".repeat(MAX_TOKEN_LEN)));
        let e = err(&mint(json!({"alg":"HS256"}), big));
        assert_eq!(e.reason(), "too_large");
        assert!(e.description().contains("token"));
        // Over the header limit.
        let e = err(&mint(
            json!({"alg":"HS256","pad":"y".repeat(MAX_HEADER_LEN)}),
            good_claims(),
        ));
        assert_eq!(e.reason(), "too_large");
        assert!(e.description().contains("header"), "{}", e.description());
        // Over the signature limit.
        let h = b64(br#"{"alg":"HS256"}"#);
        let p = b64(good_claims().to_string().as_bytes());
        let e = err(&format!("{h}.{p}.{}", b64(&[7u8; MAX_SIGNATURE_LEN + 1])));
        assert_eq!(e.reason(), "too_large");
        // Too deep: claims (signed, so it is the depth that refuses it) and header.
        let deep = format!(
            r#"{{"iss":"{ISS}","aud":"{AUD}","exp":{},"x":{}1{}}}"#,
            NOW + 60,
            "[".repeat(MAX_JSON_DEPTH + 1),
            "]".repeat(MAX_JSON_DEPTH + 1)
        );
        let e = err(&mint_raw("HS256", r#"{"alg":"HS256"}"#, &deep));
        assert_eq!(e, TokenError::TooDeep { what: "claims" });
        assert_eq!(e.reason(), "too_large");
        let deep_header = format!(
            r#"{{"alg":"HS256","x":{}{}}}"#,
            "[".repeat(40),
            "]".repeat(40)
        );
        assert_eq!(
            err(&mint_raw("HS256", &deep_header, &good_claims().to_string())),
            TokenError::TooDeep { what: "header" }
        );
        // Just under the depth limit is fine.
        let ok_depth = format!(
            r#"{{"iss":"{ISS}","aud":"{AUD}","exp":{},"x":{}1{}}}"#,
            NOW + 60,
            "[".repeat(MAX_JSON_DEPTH - 1),
            "]".repeat(MAX_JSON_DEPTH - 1)
        );
        assert_eq!(
            reason(&mint_raw("HS256", r#"{"alg":"HS256"}"#, &ok_depth)),
            "ok"
        );
    }

    /// Every error description is header-safe and never repeats the token.
    #[test]
    fn descriptions_are_safe_under_mutation() {
        let base = mint(json!({"alg":"ES256","kid":"ec\"\\\r\n"}), good_claims());
        let keys = test_keys();
        let v = verifier();
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let alphabet = b"AZaz09-_.=+/\"\\\r\n\0 {}[]:,";
        for round in 0..3000 {
            let mut bytes = base.clone().into_bytes();
            for _ in 0..(1 + next() % 4) {
                let len = bytes.len().max(1) as u64;
                let at = (next() % len) as usize;
                let b = alphabet[(next() % alphabet.len() as u64) as usize];
                match next() % 3 {
                    0 => {
                        if let Some(slot) = bytes.get_mut(at) {
                            *slot = b;
                        }
                    }
                    1 => bytes.insert(at.min(bytes.len()), b),
                    _ => {
                        if at < bytes.len() {
                            bytes.remove(at);
                        }
                    }
                }
            }
            if let Err(e) = v.verify_bytes(&keys, &bytes, NOW) {
                let d = e.description();
                assert!(
                    d.bytes()
                        .all(|c| (0x20..0x7f).contains(&c) && c != b'"' && c != b'\\'),
                    "round {round}: {d:?}"
                );
                assert!(d.len() <= 203);
                assert!(!d.contains(&base[..40]));
            }
        }
        // The kid with quotes and CRLF shows up sanitised.
        let token = mint(json!({"alg":"EdDSA","kid":"a\"b\r\nc"}), good_claims());
        let d = err(&token).description();
        assert!(d.contains("a?b??c"), "{d}");
    }

    #[test]
    fn context_ids_separate_locations() {
        let keys = test_keys();
        let a = verifier().context_id(&keys);
        assert_eq!(a, verifier().context_id(&keys));
        assert_ne!(
            a,
            Verifier::new(Some(ISS.into()), vec!["other".into()], 30).context_id(&keys)
        );
        assert_ne!(
            a,
            Verifier::new(None, vec![AUD.into()], 30).context_id(&keys)
        );
        assert_ne!(a, verifier().context_id(&KeySet::new()));
    }

    #[test]
    fn reasons_are_the_documented_words() {
        let all = [
            TokenError::TooLarge {
                what: "token",
                len: 1,
                max: 0,
            },
            TokenError::TooDeep { what: "claims" },
            TokenError::Malformed("x"),
            TokenError::CriticalHeader,
            TokenError::AlgNone,
            TokenError::UnsupportedAlgorithm { alg: "X".into() },
            TokenError::AlgorithmNotAllowed {
                alg: Alg::HS256,
                kid: None,
                family: KeyFamily::Rsa,
            },
            TokenError::NoKeys,
            TokenError::UnknownKey {
                kid: None,
                alg: Alg::RS256,
            },
            TokenError::BadSignature,
            TokenError::Expired { exp: 1, now: 2 },
            TokenError::NotYetValid {
                claim: "nbf",
                at: 3,
                now: 2,
            },
            TokenError::WrongIssuer {
                got: None,
                expected: "e".into(),
                trailing_slash: false,
            },
            TokenError::WrongAudience { configured: true },
        ];
        let words: std::collections::BTreeSet<&str> = all.iter().map(TokenError::reason).collect();
        let expected: std::collections::BTreeSet<&str> = [
            "too_large",
            "malformed",
            "unsupported_algorithm",
            "no_keys",
            "unknown_key",
            "bad_signature",
            "expired",
            "not_yet_valid",
            "wrong_issuer",
            "wrong_audience",
        ]
        .into_iter()
        .collect();
        assert_eq!(words, expected);
    }
}

//! OpenID Connect Back-Channel Logout 1.0: the checks of §2.6 on a logout token (README
//! "Session lifecycle").
//!
//! The provider POSTs `logout_token=<JWT>` as a form ([`logout_token_from_form`]). The
//! token is verified as an ID token is ([`crate::jwt::Verifier`], with the key sets of
//! [`crate::jwks::verification_keys`] in their order: no algorithm or key comes from the
//! token), then:
//!
//! - `iss` is the issuer, `aud` names the client id, `iat` is present and not in the
//!   future; `exp`, when present, has not passed. A token without `exp` (the claim came
//!   with the final version of the specification; earlier providers omit it) is accepted
//!   for [`MAX_AGE_WITHOUT_EXP`] seconds after its `iat`, so a replay window always ends;
//! - `jti` is a non-empty string (the glue refuses a second use through the used-ids table:
//!   [`LogoutToken::replay_id`] until [`LogoutToken::replay_until`]);
//! - `events` is an object with the member [`EVENT`], itself an object;
//! - `sid` and/or `sub` are present (strings); `nonce` is absent (an ID token is never a
//!   logout token);
//! - the header's `typ`, when present, is `logout+jwt` (RFC 8725 §3.11 explicit typing; the
//!   `application/` prefix and case are ignored, RFC 7515 §4.1.9).
//!
//! The result names what to revoke ([`Target`]): the session with that `sid` when the token
//! has one, otherwise every session of `sub` issued at or before the token's `iat`. Every
//! refusal is a distinct [`LogoutError`] answered `400` with an RFC 6749-style JSON body
//! ([`LogoutError::json_body`]).

use percent_encoding::percent_decode;
use serde_json::{Map, Value};

use crate::jwks::KeySet;
use crate::jwt::{TokenError, Verifier};
use crate::revocations::Revocation;

/// The member of `events` that makes a JWT a logout token.
pub const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// How long a token without `exp` is accepted after its `iat`, in seconds (plus the leeway).
pub const MAX_AGE_WITHOUT_EXP: u64 = 300;
/// Largest form body read, in bytes (a token is at most [`crate::jwt::MAX_TOKEN_LEN`]).
pub const MAX_FORM_LEN: usize = 64 * 1024;
/// Longest `jti`, `sid` or `sub` accepted, in bytes.
pub const MAX_VALUE_LEN: usize = 1024;

/// What [`Verifier::verify`] answers for a token without `exp` once its signature verified.
const NO_EXP: TokenError = TokenError::Malformed("the token has no exp claim");

/// What a logout token ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The session with this provider session id (the token may name its `sub` too).
    Session { sid: String, sub: Option<String> },
    /// Every session of this subject issued at or before `issued_through` (the token's
    /// `iat`).
    Subject { sub: String, issued_through: u64 },
}

/// A logout token that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutToken {
    pub target: Target,
    pub jti: String,
    pub iat: u64,
    pub exp: Option<u64>,
}

impl LogoutToken {
    /// The key of this token in the used-ids table (its own namespace there: no login
    /// `state` can collide with it).
    pub fn replay_id(&self, issuer: &str) -> Vec<u8> {
        let mut id = Vec::with_capacity(16 + issuer.len() + self.jti.len());
        id.extend_from_slice(b"logout-jti\0");
        id.extend_from_slice(issuer.as_bytes());
        id.push(0);
        id.extend_from_slice(self.jti.as_bytes());
        id
    }

    /// Until when a second use must be refused: as long as the token itself is accepted.
    pub fn replay_until(&self, leeway: u64) -> u64 {
        self.exp
            .unwrap_or(self.iat.saturating_add(MAX_AGE_WITHOUT_EXP))
            .saturating_add(leeway)
    }

    /// The revocation to record at `now`, kept as long as a session it covers can live
    /// (`session_lifetime` seconds from its login, which was at the latest now, or for a
    /// subject at the latest the token's `iat`).
    pub fn revocation(&self, issuer: &str, session_lifetime: u64, now: u64) -> Revocation {
        match &self.target {
            Target::Session { sid, .. } => {
                Revocation::session(issuer, sid.as_bytes(), now.saturating_add(session_lifetime))
            }
            Target::Subject {
                sub,
                issued_through,
            } => Revocation::subject(
                issuer,
                sub.as_bytes(),
                *issued_through,
                issued_through.saturating_add(session_lifetime),
            ),
        }
    }
}

/// Why a logout token (or the request carrying it) was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LogoutError {
    /// The body is over [`MAX_FORM_LEN`].
    FormTooLarge { len: usize },
    /// The body is not `application/x-www-form-urlencoded` text.
    FormMalformed,
    /// No `logout_token` field.
    NoToken,
    /// More than one `logout_token` field.
    SeveralTokens,
    /// The JWT checks (signature, `iss`, `aud`, `exp`, `nbf`, `iat` in the future, syntax).
    Token(TokenError),
    /// The header's `typ` is not `logout+jwt`.
    WrongType,
    /// No `iat`.
    NoIssuedAt,
    /// No `exp`, and `iat` is older than [`MAX_AGE_WITHOUT_EXP`].
    TooOld { age: u64 },
    /// `jti` missing, empty, not a string or too long.
    NoJti,
    /// `events` missing or not an object.
    NoEvents,
    /// `events` lacks the back-channel logout member.
    NoLogoutEvent,
    /// The back-channel logout member is not an object.
    EventNotObject,
    /// Neither `sid` nor `sub`.
    NoSidOrSub,
    /// `sid` or `sub` (named) not a non-empty string of at most [`MAX_VALUE_LEN`] bytes.
    BadClaim { claim: &'static str },
    /// A `nonce` claim (an ID token, or a token minted to look like one).
    Nonce,
}

impl LogoutError {
    /// A short word for logs and counters.
    pub fn reason(&self) -> &'static str {
        match self {
            LogoutError::FormTooLarge { .. } => "too_large",
            LogoutError::FormMalformed => "bad_form",
            LogoutError::NoToken => "no_token",
            LogoutError::SeveralTokens => "several_tokens",
            LogoutError::Token(e) => e.reason(),
            LogoutError::WrongType => "wrong_type",
            LogoutError::NoIssuedAt => "no_iat",
            LogoutError::TooOld { .. } => "too_old",
            LogoutError::NoJti => "no_jti",
            LogoutError::NoEvents => "no_events",
            LogoutError::NoLogoutEvent => "no_logout_event",
            LogoutError::EventNotObject => "bad_logout_event",
            LogoutError::NoSidOrSub => "no_sid_or_sub",
            LogoutError::BadClaim { .. } => "bad_claim",
            LogoutError::Nonce => "nonce",
        }
    }

    /// True when the key set may have rotated (re-fetch the JWKS, rate-limited, and retry).
    pub fn is_unknown_kid(&self) -> bool {
        matches!(self, LogoutError::Token(e) if e.is_unknown_kid())
    }

    /// One printable line for `error_description` and the log; never the token.
    pub fn description(&self) -> String {
        match self {
            LogoutError::FormTooLarge { len } => {
                format!("the request body is {len} bytes, more than the {MAX_FORM_LEN} accepted")
            }
            LogoutError::FormMalformed => "the request body is not a form".into(),
            LogoutError::NoToken => "the form has no logout_token".into(),
            LogoutError::SeveralTokens => "the form has more than one logout_token".into(),
            LogoutError::Token(e) => format!("logout token refused: {}", e.description()),
            LogoutError::WrongType => "the logout token's typ is not logout+jwt".into(),
            LogoutError::NoIssuedAt => "the logout token has no iat".into(),
            LogoutError::TooOld { age } => format!(
                "the logout token has no exp and was issued {age} seconds ago, \
                 more than the {MAX_AGE_WITHOUT_EXP} accepted"
            ),
            LogoutError::NoJti => "the logout token has no jti".into(),
            LogoutError::NoEvents => "the logout token has no events object".into(),
            LogoutError::NoLogoutEvent => format!("the logout token's events lack {EVENT}"),
            LogoutError::EventNotObject => {
                "the logout token's back-channel logout event is not an object".into()
            }
            LogoutError::NoSidOrSub => "the logout token has neither sid nor sub".into(),
            LogoutError::BadClaim { claim } => {
                format!("the logout token's {claim} is not a usable string")
            }
            LogoutError::Nonce => "a logout token must not carry a nonce".into(),
        }
    }

    /// The `400` body: `{"error":"invalid_request","error_description":"..."}`.
    pub fn json_body(&self) -> String {
        serde_json::json!({
            "error": "invalid_request",
            "error_description": self.description(),
        })
        .to_string()
    }
}

impl std::fmt::Display for LogoutError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.description(), self.reason())
    }
}

impl std::error::Error for LogoutError {}

/// The `logout_token` of an `application/x-www-form-urlencoded` body: exactly one, not
/// empty; other fields are ignored.
pub fn logout_token_from_form(body: &[u8]) -> Result<String, LogoutError> {
    if body.len() > MAX_FORM_LEN {
        return Err(LogoutError::FormTooLarge { len: body.len() });
    }
    let mut found: Option<String> = None;
    for field in body.split(|&b| b == b'&').filter(|f| !f.is_empty()) {
        let (name, value) = match field.iter().position(|&b| b == b'=') {
            Some(i) => (&field[..i], &field[i + 1..]),
            None => (field, &[][..]),
        };
        if form_decode(name)?.as_slice() != b"logout_token" {
            continue;
        }
        if found.is_some() {
            return Err(LogoutError::SeveralTokens);
        }
        let value =
            String::from_utf8(form_decode(value)?).map_err(|_| LogoutError::FormMalformed)?;
        found = Some(value);
    }
    found.filter(|t| !t.is_empty()).ok_or(LogoutError::NoToken)
}

/// One form component: `+` is a space, `%XX` a byte.
fn form_decode(part: &[u8]) -> Result<Vec<u8>, LogoutError> {
    let plus: Vec<u8> = part
        .iter()
        .map(|&b| if b == b'+' { b' ' } else { b })
        .collect();
    Ok(percent_decode(&plus).collect())
}

/// The checks of one client at one provider.
#[derive(Debug, Clone)]
pub struct LogoutVerifier {
    verifier: Verifier,
    issuer: String,
    client_id: String,
}

impl LogoutVerifier {
    /// Tokens from `issuer` for `client_id`, with `leeway_secs` of clock skew.
    pub fn new(issuer: &str, client_id: &str, leeway_secs: u64) -> LogoutVerifier {
        LogoutVerifier {
            verifier: Verifier::new(
                Some(issuer.to_owned()),
                vec![client_id.to_owned()],
                leeway_secs,
            ),
            issuer: issuer.to_owned(),
            client_id: client_id.to_owned(),
        }
    }

    /// Verifies `token` at `now` against `key_sets`, tried in order (a later set only when
    /// an earlier one has no key with the token's `kid`), as ID tokens are.
    pub fn verify<'k>(
        &self,
        key_sets: impl IntoIterator<Item = &'k KeySet>,
        token: &str,
        now: u64,
    ) -> Result<LogoutToken, LogoutError> {
        let mut result = Err(TokenError::NoKeys);
        for keys in key_sets {
            result = self.verifier.verify(keys, token, now);
            match &result {
                Err(e) if e.is_unknown_kid() => continue,
                _ => break,
            }
        }
        // The signature verified either way; without `exp` the issuer, audience and times
        // are checked here.
        let (claims, exp) = match result {
            Ok(verified) => (verified.claims(), Some(verified.exp)),
            Err(e) if e == NO_EXP => {
                let claims = payload_claims(token).ok_or(LogoutError::Token(NO_EXP))?;
                self.check_without_exp(&claims, now)?;
                (claims, None)
            }
            Err(e) => return Err(LogoutError::Token(e)),
        };
        check_type(token)?;
        let iat = match claims.get("iat") {
            Some(Value::Number(n)) => n.as_f64().map_or(0, |f| f.max(0.0) as u64),
            Some(_) => {
                return Err(LogoutError::Token(TokenError::Malformed(
                    "iat is not a number",
                )))
            }
            None => return Err(LogoutError::NoIssuedAt),
        };
        if exp.is_none() {
            let age = now.saturating_sub(iat);
            if age > MAX_AGE_WITHOUT_EXP.saturating_add(self.verifier.leeway()) {
                return Err(LogoutError::TooOld { age });
            }
        }
        if claims.contains_key("nonce") {
            return Err(LogoutError::Nonce);
        }
        let jti = match claims.get("jti") {
            Some(Value::String(j)) if !j.is_empty() && j.len() <= MAX_VALUE_LEN => j.clone(),
            _ => return Err(LogoutError::NoJti),
        };
        match claims.get("events") {
            Some(Value::Object(events)) => match events.get(EVENT) {
                Some(Value::Object(_)) => {}
                Some(_) => return Err(LogoutError::EventNotObject),
                None => return Err(LogoutError::NoLogoutEvent),
            },
            _ => return Err(LogoutError::NoEvents),
        }
        let sid = string_claim(&claims, "sid")?;
        let sub = string_claim(&claims, "sub")?;
        let target = match (sid, sub) {
            (Some(sid), sub) => Target::Session { sid, sub },
            (None, Some(sub)) => Target::Subject {
                sub,
                issued_through: iat,
            },
            (None, None) => return Err(LogoutError::NoSidOrSub),
        };
        Ok(LogoutToken {
            target,
            jti,
            iat,
            exp,
        })
    }

    /// `iss`, `aud`, `nbf` and `iat` of a token without `exp` whose signature verified
    /// ([`Verifier::verify`] stops at the missing `exp`).
    fn check_without_exp(&self, claims: &Map<String, Value>, now: u64) -> Result<(), LogoutError> {
        let horizon = now.saturating_add(self.verifier.leeway());
        for (claim, value) in [("nbf", claims.get("nbf")), ("iat", claims.get("iat"))] {
            let Some(value) = value else { continue };
            let at = value
                .as_f64()
                .ok_or(LogoutError::Token(TokenError::Malformed(
                    "a time claim is not a number",
                )))?
                .max(0.0) as u64;
            if at > horizon {
                return Err(LogoutError::Token(TokenError::NotYetValid {
                    claim,
                    at,
                    now,
                }));
            }
        }
        if claims.get("iss").and_then(Value::as_str) != Some(self.issuer.as_str()) {
            // Let the JWT module word it (trailing slash hints included): a token with this
            // issuer and a far `exp` is refused for its issuer and nothing else.
            return Err(LogoutError::Token(self.issuer_error(claims)));
        }
        let names_client = match claims.get("aud") {
            Some(Value::String(a)) => *a == self.client_id,
            Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(&self.client_id)),
            _ => false,
        };
        if !names_client {
            return Err(LogoutError::Token(TokenError::WrongAudience {
                configured: true,
            }));
        }
        Ok(())
    }

    fn issuer_error(&self, claims: &Map<String, Value>) -> TokenError {
        let got = claims.get("iss").and_then(Value::as_str);
        TokenError::WrongIssuer {
            got: got.map(|g| g.chars().filter(|c| !c.is_control()).take(128).collect()),
            expected: self.issuer.clone(),
            trailing_slash: got
                .is_some_and(|g| g.trim_end_matches('/') == self.issuer.trim_end_matches('/')),
        }
    }
}

/// The claims of a compact JWS, not verified (only called once the signature verified).
fn payload_claims(token: &str) -> Option<Map<String, Value>> {
    let payload = token.split('.').nth(1)?;
    decode_json_object(payload)
}

fn decode_json_object(b64: &str) -> Option<Map<String, Value>> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(b64)
        .ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

/// The header's `typ`, when present, is `logout+jwt` (RFC 7515 §4.1.9: case-insensitive,
/// `application/` may be left out).
fn check_type(token: &str) -> Result<(), LogoutError> {
    let header = token
        .split('.')
        .next()
        .and_then(decode_json_object)
        .ok_or(LogoutError::Token(TokenError::Malformed(
            "the header is not one JSON object",
        )))?;
    match header.get("typ") {
        None => Ok(()),
        Some(Value::String(t)) => {
            let t = t.to_ascii_lowercase();
            let t = t.strip_prefix("application/").unwrap_or(&t);
            if t == "logout+jwt" {
                Ok(())
            } else {
                Err(LogoutError::WrongType)
            }
        }
        Some(_) => Err(LogoutError::WrongType),
    }
}

/// `sid` or `sub`: absent, or a non-empty string of at most [`MAX_VALUE_LEN`] bytes.
fn string_claim(
    claims: &Map<String, Value>,
    claim: &'static str,
) -> Result<Option<String>, LogoutError> {
    match claims.get(claim) {
        None => Ok(None),
        Some(Value::String(s)) if !s.is_empty() && s.len() <= MAX_VALUE_LEN => Ok(Some(s.clone())),
        Some(_) => Err(LogoutError::BadClaim { claim }),
    }
}

//! Why a token was refused: [`TokenError`], its `$sso_reason` word and its description.

use std::fmt;

use super::MAX_JSON_DEPTH;
use crate::jwks::{printable, Alg, KeyFamily};

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
    /// The `$sso_reason` word (README "Variables"); see the module documentation for each.
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

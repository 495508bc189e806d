//! The stateless session cookie (README "Sessions"): what it carries ([`Session`]), sealing
//! it into chunked cookies and opening it again ([`SessionKeys::seal`],
//! [`SessionKeys::open`]), and what it is bound to ([`binding`]). The AEAD, the keys and the
//! sealed format are in [`crate::seal`].
//!
//! The sealed value is split into chunks of at most [`CHUNK_LEN`] bytes, set as cookies
//! `NAME`, `NAME_1`, `NAME_2`, … (see [`chunk_cookie_name`]), at most [`MAX_CHUNKS`] of them.
//!
//! Operators beware: HTTP/1.1 browsers send all cookies in one `Cookie` line and nginx's
//! default `large_client_header_buffers 4 8k` refuses a line over 8 KiB, so in practice a
//! session must fit in two chunks unless that buffer is raised. Compression makes a user
//! with 200 groups of 20–40 character names fit in two chunks (see the tests); the ID token
//! (kept for `id_token_hint`) is dropped when it alone would cost too much, see
//! [`MAX_ID_TOKEN_LEN`] and [`SessionKeys::seal`].

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::identity::{CompactJws, Identity};
pub use crate::seal::{
    KeyError, Purpose, SessionKeys, CHUNK_LEN, CLIENT_SECRET_INFO, CLIENT_SECRET_SALT, MAX_CHUNKS,
    MIN_KEY_LEN, PURPOSE_SALT,
};

/// An ID token longer than this is not kept in the session (sign-out then goes without
/// `id_token_hint`). Keeps a typical session in one or two chunks.
pub const MAX_ID_TOKEN_LEN: usize = 2048;

/// What a session cookie carries.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    #[serde(rename = "i", default)]
    pub identity: Identity,
    /// Issued at, Unix seconds.
    #[serde(rename = "a", default)]
    pub iat: u64,
    /// Expires at, Unix seconds (absolute lifetime, `sso_session_lifetime`).
    #[serde(rename = "x", default)]
    pub exp: u64,
    /// The raw ID token, kept for `id_token_hint` at sign-out (and as `X-authentik-jwt` if the
    /// glue wants it). `None` when unknown or too large (see [`MAX_ID_TOKEN_LEN`]).
    #[serde(rename = "t", default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

/// Base64url parts separated by dots, nothing else (a header-safe value).
pub fn is_compact_jws(token: &str) -> bool {
    !token.is_empty()
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

impl crate::cache::Weigh for Session {
    fn heap_bytes(&self) -> usize {
        crate::cache::identity_bytes(&self.identity)
            + self.id_token.as_ref().map_or(0, |t| t.len() + 24)
    }
}

impl Session {
    /// `$sso_claim_NAME` for a session: the claim of the ID token the session was minted
    /// from (verified at login, and sealed since). None when no ID token was kept.
    pub fn claim(&self, name: &str) -> Option<String> {
        let token = self.id_token.as_deref()?;
        let payload = token.split('.').nth(1)?;
        let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
        let claims: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&bytes).ok()?;
        crate::identity::claim_variable(&claims, name)
    }

    /// A session issued at `now_unix` for `lifetime_secs`; an ID token longer than
    /// [`MAX_ID_TOKEN_LEN`], or not a compact JWS, is not kept.
    pub fn new(
        identity: Identity,
        now_unix: u64,
        lifetime_secs: u64,
        id_token: Option<String>,
    ) -> Self {
        Session {
            identity,
            iat: now_unix,
            exp: now_unix.saturating_add(lifetime_secs),
            id_token: id_token.filter(|t| t.len() <= MAX_ID_TOKEN_LEN && is_compact_jws(t)),
        }
    }

    /// The ID token, for `X-authentik-jwt` and `id_token_hint`, as a [`CompactJws`] without
    /// a rescan on every request: [`Session::new`] and [`SessionKeys::open`] keep it only in
    /// that shape (code setting the field directly must keep it too; debug builds check).
    pub fn id_token_jws(&self) -> Option<CompactJws<'_>> {
        self.id_token.as_deref().map(CompactJws::proven)
    }

    /// Seconds left at `now_unix` (0 when expired): the cookie's `Max-Age`.
    pub fn max_age(&self, now_unix: u64) -> u64 {
        self.exp.saturating_sub(now_unix)
    }
}

/// Why sealing or opening failed. The glue treats every opening failure as "no credentials"
/// and reports [`SessionError::reason`] in `$sso_reason`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionError {
    /// Authentic but past its `exp`.
    Expired,
    /// Absent, truncated, tampered with, sealed with an unknown key or for another app, a
    /// chunk missing or extra, or not a cookie of ours at all.
    Malformed,
    /// Sealing: the sealed value needs more than [`MAX_CHUNKS`] chunks.
    TooLarge {
        /// Length of the encoded value.
        encoded_len: usize,
    },
    /// Sealing: the CSPRNG or the cipher failed, or the payload would not serialise.
    Internal(&'static str),
}

impl SessionError {
    /// A short token for `$sso_reason`: `expired`, `malformed`, `session_too_large`,
    /// `internal_error`.
    pub fn reason(&self) -> &'static str {
        match self {
            SessionError::Expired => "expired",
            SessionError::Malformed => "malformed",
            SessionError::TooLarge { .. } => "session_too_large",
            SessionError::Internal(_) => "internal_error",
        }
    }
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionError::Expired => f.write_str("session expired"),
            SessionError::Malformed => f.write_str("session cookie malformed or not ours"),
            SessionError::TooLarge { encoded_len } => write!(
                f,
                "session too large for a cookie: {encoded_len} bytes encoded, at most {} \
                 ({MAX_CHUNKS} chunks of {CHUNK_LEN}); the user has too many groups or claims",
                MAX_CHUNKS * CHUNK_LEN
            ),
            SessionError::Internal(what) => write!(f, "session sealing failed: {what}"),
        }
    }
}

impl std::error::Error for SessionError {}

impl SessionKeys {
    /// Seals `session` for `app` (the OAuth client id) into cookie values, in order: the
    /// first is set as `NAME`, the next as `NAME_1`, … (see [`chunk_cookie_name`]). The
    /// glue must also expire any `NAME_k` the browser sent for `k >= values.len()` (a stale
    /// chunk makes the cookie unreadable).
    ///
    /// If the session is too large with its ID token, it is sealed without it (sign-out then
    /// lacks `id_token_hint`); if still too large, [`SessionError::TooLarge`].
    pub fn seal(&self, session: &Session, app: &str) -> Result<Vec<String>, SessionError> {
        let first = self.seal_chunked(session, app);
        match first {
            Err(SessionError::TooLarge { .. }) if session.id_token.is_some() => {
                let slim = Session {
                    id_token: None,
                    ..session.clone()
                };
                self.seal_chunked(&slim, app)
            }
            other => other,
        }
    }

    fn seal_chunked(&self, session: &Session, app: &str) -> Result<Vec<String>, SessionError> {
        let json = Zeroizing::new(
            serde_json::to_vec(session)
                .map_err(|_| SessionError::Internal("session does not serialise"))?,
        );
        let encoded = self.seal_value(Purpose::Session, app, &json)?;
        if encoded.len() > MAX_CHUNKS * CHUNK_LEN {
            return Err(SessionError::TooLarge {
                encoded_len: encoded.len(),
            });
        }
        let mut out = Vec::with_capacity(encoded.len().div_ceil(CHUNK_LEN));
        for piece in encoded.as_bytes().chunks(CHUNK_LEN) {
            let s = std::str::from_utf8(piece)
                .map_err(|_| SessionError::Internal("base64 is not ASCII"))?;
            out.push(s.to_owned());
        }
        Ok(out)
    }

    /// Opens a session from its chunk values, in cookie order (`NAME`, `NAME_1`, …: the
    /// glue collects `NAME_k` for k = 1, 2, … until one is absent, at most [`MAX_CHUNKS`]).
    /// Any failure (missing or extra chunk, tampering, truncation, unknown key, other app,
    /// expired at `now_unix`) is an error; treat it as "no credentials".
    pub fn open(
        &self,
        chunks: &[&[u8]],
        app: &str,
        now_unix: u64,
    ) -> Result<Session, SessionError> {
        let plain = self.open_value(Purpose::Session, app, chunks)?;
        let mut session: Session =
            serde_json::from_slice(&plain).map_err(|_| SessionError::Malformed)?;
        if now_unix >= session.exp {
            return Err(SessionError::Expired);
        }
        // The ID token goes out as a header value on every request (`X-authentik-jwt`) and
        // into `id_token_hint`: only a compact JWS shape is kept, so neither needs checking
        // again.
        if session
            .id_token
            .as_deref()
            .is_some_and(|t| !is_compact_jws(t))
        {
            session.id_token = None;
        }
        Ok(session)
    }
}

/// What a session is sealed to (the `app` of [`SessionKeys::seal`] and [`SessionKeys::open`]):
/// the client id and the issuer, so a session minted for another client or by another
/// provider (sharing the session keys) never opens.
pub fn binding(client_id: &str, issuer: &str) -> String {
    format!("{client_id}\0{issuer}")
}

/// The cookie name of chunk `index` of session cookie `name`: `name`, `name_1`, `name_2`, …
pub fn chunk_cookie_name(name: &str, index: usize) -> String {
    if index == 0 {
        name.to_owned()
    } else {
        format!("{name}_{index}")
    }
}

#[cfg(test)]
pub(crate) mod tests;

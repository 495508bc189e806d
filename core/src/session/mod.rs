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
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use crate::identity::{render_claim, CompactJws, Identity};
pub use crate::seal::{
    KeyError, Purpose, SessionKeys, CHUNK_LEN, CLIENT_SECRET_INFO, CLIENT_SECRET_SALT, MAX_CHUNKS,
    MIN_KEY_LEN, PURPOSE_SALT,
};

mod codec;
pub use codec::FORMAT;

/// An ID token longer than this is not kept in the session (sign-out then goes without
/// `id_token_hint`). Keeps a typical session in one or two chunks.
pub const MAX_ID_TOKEN_LEN: usize = 2048;

/// What a session cookie carries (its layout: [`Session::encode`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Session {
    pub identity: Identity,
    /// When the session was minted (the login), Unix seconds.
    pub iat: u64,
    /// Expires at, Unix seconds (absolute lifetime, `sso_session_lifetime`).
    pub exp: u64,
    /// When this cookie was issued (the login, or the last re-issue), Unix seconds: the
    /// idle timeout counts from here ([`Session::is_idle`]).
    pub issued: u64,
    /// When the provider last vouched for the session (the login, or the last refresh),
    /// Unix seconds.
    pub vouched: u64,
    /// The raw ID token, kept for `id_token_hint` at sign-out and as `X-authentik-jwt`
    /// (`sso_jwt_header on`). `None` when unknown, not kept, or too large (see
    /// [`MAX_ID_TOKEN_LEN`]).
    pub id_token: Option<String>,
    /// When the ID token is not kept (`sso_jwt_header off`): the verified claims that the
    /// identity does not carry exactly, as a compact JSON object, for `$sso_claim_NAME`
    /// (see [`Session::keep_claims`]).
    pub claims: Option<String>,
    /// The refresh token, when the provider granted one. Sealed, never logged.
    pub refresh_token: Option<RefreshToken>,
    /// The provider's session id (the ID token's `sid` claim), when it gave one: what a
    /// back-channel logout names (README "Session lifecycle").
    pub sid: Option<String>,
    /// A random id minted at login when the provider gave no `sid` ([`local_session_id`]),
    /// so that `sign_out` can revoke exactly this session.
    pub local_id: Option<String>,
    /// What the revocation check looks up, computed once per opened session (the worker's
    /// session cache keeps it with the session). Never encoded.
    pub probe: std::sync::OnceLock<crate::revocations::Probe>,
    /// [`Session::all_claims`], parsed on first use and kept with the cached session. Never
    /// encoded; a clone starts without it (a renewed session reads its fresh claims).
    pub parsed: crate::rules::ClaimsCell,
}

/// A fresh random session id (16 bytes from the CSPRNG, base64url) for [`Session::local_id`];
/// None when the system's random source fails.
pub fn local_session_id() -> Option<String> {
    let mut id = [0u8; 16];
    aws_lc_rs::rand::fill(&mut id).ok()?;
    Some(URL_SAFE_NO_PAD.encode(id))
}

/// The value a session's revocation entry is keyed by when it has no provider `sid`: its
/// local id in a namespace no provider `sid` of printable characters can reach.
pub fn local_revocation_value(local_id: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(8 + local_id.len());
    v.extend_from_slice(b"\0local\0");
    v.extend_from_slice(local_id.as_bytes());
    v
}

/// A refresh token: a secret. `Debug` shows no byte of it, it has no `Display`, and its
/// memory is zeroed when dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshToken(Zeroizing<String>);

impl RefreshToken {
    pub fn new(token: String) -> RefreshToken {
        RefreshToken(Zeroizing::new(token))
    }

    /// The token, for the token request that uses it (and nothing else).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RefreshToken(<redacted>)")
    }
}

/// Claims of the login's ID token that a session never needs again: the login's own
/// bookkeeping (OIDC Core 3.1.3.6, 3.3.2.11) and the ID token's own validity (the session
/// has its own: `$sso_session_expires`).
const BOOKKEEPING_CLAIMS: [&str; 8] = [
    "nonce", "at_hash", "c_hash", "s_hash", "exp", "iat", "nbf", "jti",
];

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
            + self.claims.as_ref().map_or(0, |c| c.len() + 24)
            + self
                .refresh_token
                .as_ref()
                .map_or(0, |t| t.expose().len() + 24)
    }
}

impl Session {
    /// `$sso_claim_NAME` for a session: the claim of the ID token the session was minted
    /// from (verified at login, and sealed since); without the ID token, the claims kept by
    /// [`Session::keep_claims`]. None when neither was kept.
    pub fn claim(&self, name: &str) -> Option<String> {
        if let Some(token) = self.id_token.as_deref() {
            let payload = token.split('.').nth(1)?;
            let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
            let claims: Map<String, Value> = serde_json::from_slice(&bytes).ok()?;
            return crate::identity::claim_variable(&claims, name);
        }
        let kept: Map<String, Value> = serde_json::from_str(self.claims.as_deref()?).ok()?;
        if let Some(v) = kept.get(name) {
            return Some(render_claim(v));
        }
        self.identity_claim(name).map(|v| render_claim(&v))
    }

    /// Every claim the session knows, for `sso_require_claim` and `sso_basic_auth_attributes`
    /// (parsed once per cached session): the ID token's claims, or the kept claims
    /// ([`Session::keep_claims`]), and the identity's (username, email, name, sub, groups,
    /// entitlements: also those merged from userinfo) where those lack them.
    pub fn all_claims(&self) -> &Map<String, Value> {
        self.parsed.get_or_init(|| {
            let from_token = self.id_token.as_deref().and_then(|token| {
                token
                    .split('.')
                    .nth(1)
                    .and_then(|p| URL_SAFE_NO_PAD.decode(p).ok())
                    .and_then(|b| serde_json::from_slice::<Map<String, Value>>(&b).ok())
            });
            // The identity's claims fill what the token lacks: a provider may send `groups`
            // (or the others) from userinfo only, and the identity merged them at login.
            let mut claims: Map<String, Value> = from_token
                .or_else(|| {
                    self.claims
                        .as_deref()
                        .and_then(|c| serde_json::from_str(c).ok())
                })
                .unwrap_or_default();
            for name in [
                "preferred_username",
                "email",
                "name",
                "sub",
                "groups",
                "entitlements",
            ] {
                if !claims.contains_key(name) {
                    if let Some(v) = self.identity_claim(name) {
                        claims.insert(name.to_owned(), v);
                    }
                }
            }
            claims
        })
    }

    /// The claims [`Session::keep_claims`] leaves out because the identity holds them
    /// exactly, rebuilt from it.
    fn identity_claim(&self, name: &str) -> Option<Value> {
        let id = &self.identity;
        let text = |s: &str| (!s.is_empty()).then(|| Value::String(s.to_owned()));
        let list = |l: &[String]| {
            (!l.is_empty()).then(|| Value::Array(l.iter().cloned().map(Value::String).collect()))
        };
        match name {
            "preferred_username" => text(&id.username),
            "email" => text(&id.email),
            "name" => text(&id.name),
            "sub" => text(&id.uid),
            "groups" => list(&id.groups),
            "entitlements" => list(&id.entitlements),
            _ => None,
        }
    }

    /// Keeps the verified `claims` for `$sso_claim_NAME` in a session that does not keep
    /// its ID token: every claim but the login's bookkeeping (`nonce`, `at_hash`, `c_hash`,
    /// `s_hash`), the ID token's validity (`exp`, `iat`, `nbf`, `jti`) and those the identity holds exactly (a non-empty `preferred_username`,
    /// `email`, `name`, `sub` string, a non-empty `groups` or `entitlements` array of
    /// strings), which [`Session::claim`] rebuilds from it. Call after the identity is set.
    pub fn keep_claims(&mut self, claims: &Map<String, Value>) {
        let id = &self.identity;
        let held = |name: &str, v: &Value| -> bool {
            let same_text = |s: &str| matches!(v, Value::String(c) if !c.is_empty() && c == s);
            let same_list = |l: &[String]| match v {
                Value::Array(items) => {
                    !items.is_empty()
                        && items.len() == l.len()
                        && items.iter().zip(l).all(|(i, s)| i.as_str() == Some(s))
                }
                _ => false,
            };
            match name {
                "preferred_username" => same_text(&id.username),
                "email" => same_text(&id.email),
                "name" => same_text(&id.name),
                "sub" => same_text(&id.uid),
                "groups" => same_list(&id.groups),
                "entitlements" => same_list(&id.entitlements),
                _ => false,
            }
        };
        let rest: Map<String, Value> = claims
            .iter()
            .filter(|(k, v)| !BOOKKEEPING_CLAIMS.contains(&k.as_str()) && !held(k, v))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        self.claims = serde_json::to_string(&rest).ok();
    }

    /// A session minted at `now_unix` for `lifetime_secs` (issued and vouched for now); an
    /// ID token longer than [`MAX_ID_TOKEN_LEN`] is not kept.
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
            issued: now_unix,
            vouched: now_unix,
            id_token: id_token.filter(|t| t.len() <= MAX_ID_TOKEN_LEN && is_compact_jws(t)),
            claims: None,
            refresh_token: None,
            sid: None,
            local_id: None,
            probe: std::sync::OnceLock::new(),
            parsed: Default::default(),
        }
    }

    /// The ID token, for `X-authentik-jwt` and `id_token_hint`, as a [`CompactJws`] without
    /// a rescan on every request: [`Session::new`] and [`SessionKeys::open`] keep it only in
    /// that shape (code setting the field directly must keep it too; debug builds check).
    pub fn id_token_jws(&self) -> Option<CompactJws<'_>> {
        self.id_token.as_deref().map(CompactJws::proven)
    }

    /// The revocation that ends this session (and every other of its provider session) on
    /// every worker: by its provider `sid` until every session of that `sid` minted by now
    /// has expired (`now` + `lifetime`, at least this one's `exp`), else by its local id until
    /// its `exp`. None for a session without either (minted before sessions had ids).
    pub fn revocation(
        &self,
        issuer: &str,
        now: u64,
        lifetime: u64,
    ) -> Option<crate::revocations::Revocation> {
        use crate::revocations::Revocation;
        match (&self.sid, &self.local_id) {
            (Some(sid), _) => Some(Revocation::session(
                issuer,
                sid.as_bytes(),
                now.saturating_add(lifetime).max(self.exp),
            )),
            (None, Some(id)) => Some(Revocation::session(
                issuer,
                &local_revocation_value(id),
                self.exp,
            )),
            (None, None) => None,
        }
    }

    /// What the revocation table is asked about this session of `issuer` (computed once,
    /// then kept): its provider `sid` or its local id, its `sub`, its login time.
    pub fn revocation_probe(&self, issuer: &str) -> &crate::revocations::Probe {
        self.probe.get_or_init(|| {
            let local = self.local_id.as_deref().map(local_revocation_value);
            let session = self.sid.as_deref().map(str::as_bytes).or(local.as_deref());
            let sub = Some(self.identity.uid.as_bytes()).filter(|s| !s.is_empty());
            crate::revocations::Probe::new(issuer, session, sub, self.iat)
        })
    }

    /// Seconds left at `now_unix` (0 when expired): the cookie's `Max-Age`.
    pub fn max_age(&self, now_unix: u64) -> u64 {
        self.exp.saturating_sub(now_unix)
    }

    /// `sso_session_idle_timeout`: more than `timeout_secs` have passed since the cookie was
    /// issued (whole seconds, so a session never ends before `timeout_secs` of disuse).
    pub fn is_idle(&self, now_unix: u64, timeout_secs: u64) -> bool {
        now_unix.saturating_sub(self.issued) > timeout_secs
    }

    /// Whether a request at `now_unix` re-issues the cookie (sliding the idle timeout):
    /// once [`reissue_interval`] has passed since it was issued.
    pub fn reissue_due(&self, now_unix: u64, timeout_secs: u64) -> bool {
        now_unix.saturating_sub(self.issued) >= reissue_interval(timeout_secs)
    }

    /// The same session, issued again at `now_unix`.
    pub fn reissued(&self, now_unix: u64) -> Session {
        Session {
            issued: now_unix,
            ..self.clone()
        }
    }
}

/// How often a session in use is re-issued under an idle timeout of `timeout_secs`: a tenth
/// of it, at most a minute, at least a second.
pub fn reissue_interval(timeout_secs: u64) -> u64 {
    (timeout_secs / 10).clamp(1, 60)
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
        let encoded = self.seal_value(Purpose::Session, app, &session.encode())?;
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
        let mut session = Session::decode(&plain)?;
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

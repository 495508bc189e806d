//! Renewing a session at the token endpoint (README "Session lifecycle"): the refresh grant
//! (RFC 6749 §6, OIDC Core 12), what its answer means for the session, and the single-flight
//! table that keeps the workers of one nginx from refreshing one session twice at once.
//!
//! **The grant.** [`refresh_request`] builds `grant_type=refresh_token&refresh_token=…` with
//! the same client authentication as the code exchange; [`parse_refresh_response`] reads the
//! answer: a new access token, a new refresh token when the provider rotates (else the old one
//! stays valid, RFC 6749 §6: [`Refreshed::refresh_token_after`]) and an ID token when the
//! provider sends one (optional, OIDC Core 12.2). The glue verifies that ID token as at login
//! (signature, `iss`, `aud`, `exp`, `iat`) but without the nonce check: a refreshed ID token
//! may repeat the login's nonce (oidc-provider does) or carry none. [`refreshed_identity`]
//! then requires the `iss` and `sub` of the session (OIDC Core 12.2) and takes the fresh
//! claims; without an ID token the session keeps its identity.
//!
//! **Errors.** [`RefreshError::ends_session`]: `invalid_grant` (the user disabled or deleted,
//! the grant revoked, a logout at the provider) and an ID token about another subject end the
//! session; everything else (the provider unreachable, a 5xx, another OAuth error, a malformed
//! answer, an ID token that does not verify) keeps the still-valid session until its absolute
//! lifetime.
//!
//! **Single flight** ([`RefreshTable`]). A provider that rotates refresh tokens treats the same
//! token used twice as stolen and revokes the whole grant (tests/provider/README.md, "Refresh
//! token rotation race"), so one nginx must never send one token twice. Requests of a session
//! due for a refresh call [`RefreshTable::begin`] with a key naming that session's refresh
//! (its refresh token and the time the provider last vouched for it, [`refresh_key`]): the
//! first becomes the owner, the others pass on the old session. The owner records the outcome
//! ([`RefreshTable::finish`]): a renewal is remembered for [`DONE_HOLD_SECS`] so that requests
//! still carrying the old cookie (sent before the new one arrived) do not send the consumed
//! token again, a refusal as long so that they end too; a failure sets a retry time ([`RETRY_SECS`]) and remembers that
//! it was logged, so a provider that is down is logged once per session. An owner that never
//! finishes (its worker died) loses the entry after [`IN_FLIGHT_SECS`].
//!
//! Table layout (integers little-endian), over a plain byte slice in the shared zone, every
//! call under the zone's mutex:
//!
//! ```text
//! header   magic u32 | version u32 | slots u32 | reserved u32 | key [u8; 32]   (48 bytes)
//! slots    slots × { tag [u8; 16] | until u64 | retry u64 | state u8 | flags u8 | pad [u8; 6] }
//! ```
//!
//! A key is stored as a 16-byte tag, the start of SHA-256(table key ‖ key), the table key
//! random per zone (no refresh token is stored). Slots are open addressing with a bounded
//! linear probe ([`PROBE`]); an entry past its `until` is free. When the probe window is full
//! of live entries, [`Begin::Full`]: the request passes on its session and a later one
//! retries.

use std::fmt;

use aws_lc_rs::rand;
use serde_json::{Map, Value};

use super::token::{authenticated_request, parse_grant_response};
use super::{sanitize_text, ClientAuth, ExchangeError, TokenRequest};
use crate::identity::Identity;
use crate::session::RefreshToken;
use crate::used_ids::{keyed_tag, rd32, rd64, wr32, wr64, TAG_LEN};

/// Builds the refresh grant's request (RFC 6749 §6) with the code exchange's client
/// authentication (RFC 6749 §2.3.1).
pub fn refresh_request(
    refresh_token: &str,
    client_id: &str,
    client_secret: Option<&str>,
    auth: ClientAuth,
) -> TokenRequest {
    authenticated_request(
        vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ],
        client_id,
        client_secret,
        auth,
    )
}

/// A successful refresh answer. `Debug` redacts the tokens.
#[derive(Clone, PartialEq, Eq)]
pub struct Refreshed {
    pub access_token: String,
    /// A new refresh token (the provider rotates), or None (the old one stays valid).
    pub refresh_token: Option<RefreshToken>,
    /// The new ID token, when the provider sent one (OIDC Core 12.2: optional).
    pub id_token: Option<String>,
    pub expires_in: Option<u64>,
}

impl Refreshed {
    /// The refresh token the session keeps: the new one when rotated, else `old` (RFC 6749
    /// §6: the client keeps using the token it has when the answer brings none).
    pub fn refresh_token_after(&self, old: &RefreshToken) -> RefreshToken {
        self.refresh_token.clone().unwrap_or_else(|| old.clone())
    }
}

impl fmt::Debug for Refreshed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn redact<T>(t: &Option<T>) -> Option<&'static str> {
            t.as_ref().map(|_| "<redacted>")
        }
        f.debug_struct("Refreshed")
            .field("access_token", &"<redacted>")
            .field("refresh_token", &redact(&self.refresh_token))
            .field("id_token", &redact(&self.id_token))
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// Why a refresh did not renew the session. [`RefreshError::ends_session`] says what the glue
/// does with the session.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RefreshError {
    /// `invalid_grant` (RFC 6749 §5.2): the provider refuses to renew (user disabled or
    /// deleted, grant revoked, logged out). Ends the session.
    Refused { description: Option<String> },
    /// The refreshed ID token is about another subject or from another issuer (OIDC Core
    /// 12.2). Ends the session.
    SubjectChanged,
    /// Another OAuth error (`invalid_client`, `unauthorized_client`, ...): a configuration
    /// problem, not the user's; the session stays.
    Provider {
        status: u16,
        error: String,
        description: Option<String>,
    },
    /// No answer (connection, TLS, timeout), or a non-2xx answer without an OAuth error.
    Unavailable(String),
    /// A 2xx answer that is not a usable token response.
    Malformed(String),
    /// The refreshed ID token does not verify (signature, `aud`, `exp`, ...).
    IdToken(String),
}

impl RefreshError {
    /// True when the session must end (the provider refused, or vouches for someone else);
    /// false when it stays valid until its absolute lifetime.
    pub fn ends_session(&self) -> bool {
        matches!(
            self,
            RefreshError::Refused { .. } | RefreshError::SubjectChanged
        )
    }

    /// A short token for logs.
    pub fn reason(&self) -> &'static str {
        match self {
            RefreshError::Refused { .. } => "invalid_grant",
            RefreshError::SubjectChanged => "subject_changed",
            RefreshError::Provider { .. } => "provider_error",
            RefreshError::Unavailable(_) => "provider_unavailable",
            RefreshError::Malformed(_) => "malformed",
            RefreshError::IdToken(_) => "bad_id_token",
        }
    }
}

impl fmt::Display for RefreshError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RefreshError::Refused { description } => {
                f.write_str("the token endpoint refused the refresh: invalid_grant")?;
                if let Some(d) = description {
                    write!(f, " ({d})")?;
                }
                Ok(())
            }
            RefreshError::SubjectChanged => {
                f.write_str("the refreshed ID token names another issuer or subject")
            }
            RefreshError::Provider {
                status,
                error,
                description,
            } => {
                write!(
                    f,
                    "the token endpoint refused the refresh (HTTP {status}): {error}"
                )?;
                if let Some(d) = description {
                    write!(f, " ({d})")?;
                }
                Ok(())
            }
            RefreshError::Unavailable(what) => write!(f, "the token endpoint failed: {what}"),
            RefreshError::Malformed(what) => write!(f, "bad refresh response: {what}"),
            RefreshError::IdToken(what) => write!(f, "refreshed ID token refused: {what}"),
        }
    }
}

impl std::error::Error for RefreshError {}

/// Parses the token endpoint's answer to [`refresh_request`].
pub fn parse_refresh_response(status: u16, body: &[u8]) -> Result<Refreshed, RefreshError> {
    match parse_grant_response(status, body) {
        Ok(g) => Ok(Refreshed {
            access_token: g.access_token,
            refresh_token: g.refresh_token,
            id_token: g.id_token,
            expires_in: g.expires_in,
        }),
        Err(ExchangeError::Provider {
            error, description, ..
        }) if error == "invalid_grant" => Err(RefreshError::Refused { description }),
        // A provider failing with an OAuth body (`server_error`, `temporarily_unavailable`,
        // RFC 6749 §5.2 and its registry) or a 5xx is an outage, not a refusal.
        Err(ExchangeError::Provider { status, error, .. })
            if status >= 500 || error == "server_error" || error == "temporarily_unavailable" =>
        {
            Err(RefreshError::Unavailable(format!("HTTP {status}: {error}")))
        }
        Err(ExchangeError::Provider {
            status,
            error,
            description,
        }) => Err(RefreshError::Provider {
            status,
            error,
            description,
        }),
        Err(ExchangeError::Http { status }) => {
            Err(RefreshError::Unavailable(format!("HTTP {status}")))
        }
        Err(e) => Err(RefreshError::Malformed(sanitize_text(&e.to_string()))),
    }
}

/// The identity a refresh brings, from the claims of its verified ID token: OIDC Core 12.2
/// requires `iss` to be `issuer` and `sub` the session's (`session_uid`, the `sub` the login
/// recorded as [`Identity::uid`]); anything else is [`RefreshError::SubjectChanged`].
pub fn refreshed_identity(
    claims: &Map<String, Value>,
    issuer: &str,
    session_uid: &str,
) -> Result<Identity, RefreshError> {
    if claims.get("iss").and_then(Value::as_str) != Some(issuer) {
        return Err(RefreshError::SubjectChanged);
    }
    let identity = Identity::from_claims(claims);
    if identity.uid.is_empty() || identity.uid != session_uid {
        return Err(RefreshError::SubjectChanged);
    }
    Ok(identity)
}

// ---------------------------------------------------------------------------------------------
// The single-flight table
// ---------------------------------------------------------------------------------------------

/// How long a refresh may be in flight before its entry is taken over (a worker that died
/// mid-refresh): above the provider calls' own deadlines (token endpoint, a JWKS re-fetch
/// for an unknown `kid`, userinfo).
pub const IN_FLIGHT_SECS: u64 = 60;
/// How long a finished refresh (renewed or refused) is remembered, so that requests still
/// carrying the old cookie pass on it instead of sending its consumed refresh token again.
pub const DONE_HOLD_SECS: u64 = 120;
/// After a failed refresh (provider unreachable, 5xx, ...), the next attempt for the same
/// session waits this long.
pub const RETRY_SECS: u64 = 30;
/// How long a failed session's entry is kept (so its failure is logged once, not at each
/// retry).
pub const FAILED_HOLD_SECS: u64 = 3600;
/// Slots looked at from a key's home slot.
pub const PROBE: usize = 32;

const MAGIC: u32 = 0x5353_4f52; // "SSOR"
const VERSION: u32 = 1;
/// Header bytes before the slots.
pub const HEADER_LEN: usize = 48;
/// Bytes of one slot.
pub const SLOT_LEN: usize = 40;
const OFF_MAGIC: usize = 0;
const OFF_VERSION: usize = 4;
const OFF_SLOTS: usize = 8;
const OFF_KEY: usize = 16;
// Slot field offsets.
const S_UNTIL: usize = TAG_LEN;
const S_RETRY: usize = TAG_LEN + 8;
const S_STATE: usize = TAG_LEN + 16;
const S_FLAGS: usize = TAG_LEN + 17;

const IN_FLIGHT: u8 = 1;
const DONE: u8 = 2;
const FAILED: u8 = 3;
const REFUSED: u8 = 4;
/// Flag: a failure of this session was logged already.
const WARNED: u8 = 1;

/// What [`RefreshTable::begin`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Begin {
    /// This request refreshes; it must call [`RefreshTable::finish`]. `warned`: an earlier
    /// failure of this session was logged already (log the next one quietly).
    Owner { warned: bool },
    /// Another request is refreshing this session: pass on the old session.
    InFlight,
    /// This session was renewed and its token consumed: pass on the old session (its
    /// request got the new cookie).
    Done,
    /// The provider refused to renew this session: it is over for this request too.
    Refused,
    /// The last attempt failed; the next one waits: pass on the old session.
    Later,
    /// No free slot near the key: pass on the old session, a later request retries.
    Full,
}

/// How a refresh ended, for [`RefreshTable::finish`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// Renewed: remembered for [`DONE_HOLD_SECS`].
    Done,
    /// Refused (the session ends): remembered for [`DONE_HOLD_SECS`].
    Refused,
    /// Failed, the session stays: retried after [`RETRY_SECS`].
    Failed,
}

/// The key of one refresh of one session: its refresh token and when the provider last
/// vouched for it. A renewed session has a new `vouched`, so its next refresh has a new key
/// even when the provider does not rotate the token.
pub fn refresh_key(refresh_token: &str, vouched: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(refresh_token.len() + 8);
    key.extend_from_slice(&vouched.to_le_bytes());
    key.extend_from_slice(refresh_token.as_bytes());
    key
}

/// The name of one refresh across nodes (README "Many nodes (Redis)"): the SHA-256 of
/// [`refresh_key`] in hex, the same on every node and never the token itself.
pub fn flight_id(refresh_token: &str, vouched: u64) -> String {
    let sum = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        &refresh_key(refresh_token, vouched),
    );
    sum.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// The single-flight table, borrowed over its bytes (a locked shared-memory region in nginx).
pub struct RefreshTable<'a> {
    buf: &'a mut [u8],
    slots: usize,
}

impl<'a> RefreshTable<'a> {
    /// How many slots a region of `len` bytes holds (0 when fewer than [`PROBE`]).
    pub fn slots_for(len: usize) -> usize {
        let n = len.saturating_sub(HEADER_LEN) / SLOT_LEN;
        if n < PROBE || n > u32::MAX as usize {
            0
        } else {
            n
        }
    }

    /// Formats `buf` as an empty table with a fresh random key. None when `buf` is too small
    /// or the system's random source fails.
    pub fn format(buf: &'a mut [u8]) -> Option<RefreshTable<'a>> {
        let mut key = [0u8; 32];
        rand::fill(&mut key).ok()?;
        Self::format_with_key(buf, key)
    }

    /// [`RefreshTable::format`] with a given key (tests).
    pub fn format_with_key(buf: &'a mut [u8], key: [u8; 32]) -> Option<RefreshTable<'a>> {
        let slots = Self::slots_for(buf.len());
        if slots == 0 {
            return None;
        }
        buf.fill(0);
        wr32(buf, OFF_MAGIC, MAGIC);
        wr32(buf, OFF_VERSION, VERSION);
        wr32(buf, OFF_SLOTS, slots as u32);
        buf[OFF_KEY..OFF_KEY + 32].copy_from_slice(&key);
        Some(RefreshTable { buf, slots })
    }

    /// The table formatted in `buf`, or a freshly formatted one when `buf` holds none of this
    /// version and size.
    pub fn attach_or_format(buf: &'a mut [u8]) -> Option<RefreshTable<'a>> {
        let slots = Self::slots_for(buf.len());
        let formatted = slots > 0
            && rd32(buf, OFF_MAGIC) == MAGIC
            && rd32(buf, OFF_VERSION) == VERSION
            && rd32(buf, OFF_SLOTS) as usize == slots;
        if formatted {
            Some(RefreshTable { buf, slots })
        } else {
            Self::format(buf)
        }
    }

    /// Number of slots.
    pub fn slots(&self) -> usize {
        self.slots
    }

    fn tag(&self, key: &[u8]) -> [u8; TAG_LEN] {
        keyed_tag(&self.buf[OFF_KEY..OFF_KEY + 32], key)
    }

    fn off(&self, slot: usize) -> usize {
        HEADER_LEN + slot * SLOT_LEN
    }

    fn live(&self, slot: usize, now: u64) -> bool {
        let off = self.off(slot);
        self.buf[off + S_STATE] != 0 && rd64(self.buf, off + S_UNTIL) > now
    }

    /// The slot holding `tag` (live or not), else the first free slot of the probe window.
    fn find(&self, tag: &[u8; TAG_LEN], now: u64) -> (Option<usize>, Option<usize>) {
        let home = u32::from_le_bytes([tag[0], tag[1], tag[2], tag[3]]) as usize % self.slots;
        let mut free = None;
        for i in 0..PROBE.min(self.slots) {
            let slot = (home + i) % self.slots;
            let off = self.off(slot);
            if self.buf[off + S_STATE] != 0 && &self.buf[off..off + TAG_LEN] == tag {
                return (Some(slot), free);
            }
            if free.is_none() && !self.live(slot, now) {
                free = Some(slot);
            }
        }
        (None, free)
    }

    fn write(&mut self, slot: usize, tag: &[u8; TAG_LEN], state: u8, until: u64, retry: u64) {
        let off = self.off(slot);
        self.buf[off..off + TAG_LEN].copy_from_slice(tag);
        wr64(self.buf, off + S_UNTIL, until);
        wr64(self.buf, off + S_RETRY, retry);
        self.buf[off + S_STATE] = state;
    }

    /// Claims the refresh named `key` at `now`, or says why not (see [`Begin`]).
    pub fn begin(&mut self, key: &[u8], now: u64) -> Begin {
        let tag = self.tag(key);
        let (found, free) = self.find(&tag, now);
        let in_flight_until = now.saturating_add(IN_FLIGHT_SECS);
        if let Some(slot) = found {
            let off = self.off(slot);
            let live = self.live(slot, now);
            let warned = live && self.buf[off + S_FLAGS] & WARNED != 0;
            if live {
                // For an entry in flight `retry` is its owner's deadline; for a failed one,
                // the time of the next attempt.
                let due = rd64(self.buf, off + S_RETRY) <= now;
                match self.buf[off + S_STATE] {
                    DONE => return Begin::Done,
                    REFUSED => return Begin::Refused,
                    IN_FLIGHT if !due => return Begin::InFlight,
                    FAILED if !due => return Begin::Later,
                    _ => {}
                }
            }
            // A failed refresh due again, or a dead owner's entry: take it over, keeping the
            // memory of a logged failure.
            let until = if live {
                rd64(self.buf, off + S_UNTIL).max(in_flight_until)
            } else {
                in_flight_until
            };
            self.write(slot, &tag, IN_FLIGHT, until, in_flight_until);
            self.buf[off + S_FLAGS] = if warned { WARNED } else { 0 };
            return Begin::Owner { warned };
        }
        match free {
            Some(slot) => {
                self.write(slot, &tag, IN_FLIGHT, in_flight_until, in_flight_until);
                let off = self.off(slot);
                self.buf[off + S_FLAGS] = 0;
                Begin::Owner { warned: false }
            }
            None => Begin::Full,
        }
    }

    /// Records how the refresh named `key` ended. For [`Finish::Failed`], returns true when
    /// this is the session's first logged failure (log it at `warn`; later ones quieter).
    pub fn finish(&mut self, key: &[u8], now: u64, how: Finish) -> bool {
        let tag = self.tag(key);
        let (found, free) = self.find(&tag, now);
        // The entry normally still exists; if it was lost, record the outcome anew.
        let Some(slot) = found.or(free) else {
            return how == Finish::Failed;
        };
        let off = self.off(slot);
        let warned = found.is_some() && self.buf[off + S_FLAGS] & WARNED != 0;
        match how {
            Finish::Done | Finish::Refused => {
                let state = if how == Finish::Done { DONE } else { REFUSED };
                self.write(slot, &tag, state, now.saturating_add(DONE_HOLD_SECS), 0);
                self.buf[off + S_FLAGS] = 0;
                false
            }
            Finish::Failed => {
                self.write(
                    slot,
                    &tag,
                    FAILED,
                    now.saturating_add(FAILED_HOLD_SECS),
                    now.saturating_add(RETRY_SECS),
                );
                self.buf[off + S_FLAGS] = WARNED;
                !warned
            }
        }
    }
}

//! The stateless sealed session cookie (SPEC §2 `sso_session_*`, §7 "sessions are stateless").
//!
//! # Keys
//! [`SessionKeys`] holds one or more *master keys*: parsed from the contents of
//! `sso_session_secret_file` ([`SessionKeys::parse`]) or derived from the client secret
//! ([`SessionKeys::derive_from_client_secret`]). The first key seals, every key opens, so a
//! key is rotated by prepending a new line and removing the old one a session lifetime later.
//!
//! A master key is never used directly: for each purpose ([`Purpose::Session`],
//! [`Purpose::Flow`]) an AEAD key is derived with HKDF-SHA256
//! (salt [`PURPOSE_SALT`], info `"<purpose label>"`), so a login-flow cookie can never be
//! opened as a session and vice versa. The decoded master bytes are zeroized as soon as the
//! purpose keys exist; only aws-lc's key schedules are kept (and `Debug` shows no key).
//!
//! # Cookie format (version 1)
//! ```text
//! value  = base64url-nopad( VERSION(1) || nonce(12) || AEAD(plaintext) || tag(16) )
//! plaintext = flags(1) || payload        flags bit 0: payload is raw-deflated
//! payload   = compact JSON of [`Session`] (or of the flow state, see flow.rs)
//! AAD    = VERSION || "ngx_http_sso_module" || 0 || purpose label || 0 || app
//! ```
//! `app` is the OAuth client id: a cookie minted for one client id is refused by another.
//! The nonce is 96 random bits from aws-lc's CSPRNG, fresh for every seal (with random
//! nonces, NIST's 2^32 messages-per-key bound is far beyond what a session key seals).
//!
//! The value is split into chunks of at most [`CHUNK_LEN`] bytes, set as cookies `NAME`,
//! `NAME_1`, `NAME_2`, … (see [`chunk_cookie_name`]), at most [`MAX_CHUNKS`] of them.
//! 3800 bytes of value plus the name and attributes (`Path`, `Domain`, `Max-Age`, `HttpOnly`,
//! `Secure`, `SameSite`) stays under the ~4096 bytes browsers accept per cookie.
//!
//! Operators beware: HTTP/1.1 browsers send all cookies in one `Cookie` line and nginx's
//! default `large_client_header_buffers 4 8k` refuses a line over 8 KiB, so in practice a
//! session must fit in two chunks unless that buffer is raised. Compression makes a user
//! with 200 groups of 20–40 character names fit in two chunks (see the tests); the ID token
//! (kept for `id_token_hint`) is dropped when it alone would cost too much, see
//! [`MAX_ID_TOKEN_LEN`] and [`SessionKeys::seal`].
//!
//! # Algorithm choice and speed
//! AES-256-GCM. Measured with `cargo test --release -p sso-core -- --ignored --nocapture
//! session::tests::measure` on the development machine (x86-64 with AES-NI), seal+open of a
//! typical 584 byte session JSON payload, crypto only: AES-256-GCM 0.43 µs,
//! ChaCha20-Poly1305 1.67 µs. A whole [`SessionKeys::open`] of such a cookie (base64, AEAD,
//! JSON into [`Session`]) takes 2.4 µs, [`SessionKeys::seal`] 2.0 µs; most of it is JSON and
//! the strings it allocates. A 200-group session (compressed, ~3.5 KB cookie) opens in
//! ~27 µs (inflate plus 200 strings). Payloads under 700 bytes (the common case) are stored
//! uncompressed, so `open` does not inflate them. `open` allocates the decoded buffer, the
//! plaintext buffer (and the inflated one when compressed), then what serde builds.
//!
//! # Compression note
//! Deflating before encrypting can leak through the length (CRIME-style) when an attacker
//! controls part of the plaintext next to a secret. The payload here is the user's own
//! identity from the provider (and their own ID token); there is no third-party secret
//! mixed with attacker-chosen bytes, so the size saving is worth it.

use std::fmt;

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::{hkdf, rand};
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

use crate::identity::Identity;

/// Largest value of one cookie chunk, in bytes. A multiple of 4, so every non-final chunk
/// is an independently decodable run of base64.
pub const CHUNK_LEN: usize = 3800;
/// At most this many chunks (`NAME`, `NAME_1` … `NAME_7`); sealing a larger session fails.
pub const MAX_CHUNKS: usize = 8;
/// An ID token longer than this is not kept in the session (sign-out then goes without
/// `id_token_hint`). Keeps a typical session in one or two chunks.
pub const MAX_ID_TOKEN_LEN: usize = 2048;
/// Minimum length of a master key, in bytes.
pub const MIN_KEY_LEN: usize = 32;
/// HKDF salt for deriving purpose keys from a master key.
pub const PURPOSE_SALT: &[u8] = b"ngx_http_sso_module cookie keys v1";
/// HKDF salt used by [`SessionKeys::derive_from_client_secret`].
pub const CLIENT_SECRET_SALT: &[u8] = b"ngx_http_sso_module session key from client secret v1";
/// HKDF info used by [`SessionKeys::derive_from_client_secret`].
pub const CLIENT_SECRET_INFO: &[u8] = b"master key";

const VERSION: u8 = 1;
const FLAG_DEFLATE: u8 = 0x01;
const TAG_LEN: usize = 16;
const HEADER_LEN: usize = 1 + NONCE_LEN;
/// Largest inflated payload accepted when opening (the payload is authenticated, this only
/// bounds memory).
const MAX_PLAIN_LEN: usize = 256 * 1024;
/// Compress payloads of at least this many bytes (smaller ones rarely shrink and keep
/// `open` cheaper).
const COMPRESS_MIN: usize = 700;
const DEFLATE_LEVEL: u8 = 6;

/// What a sealed value is for; each purpose has its own derived key and AAD label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Purpose {
    /// The session cookie.
    Session,
    /// The short-lived login-flow cookie (flow.rs).
    Flow,
}

impl Purpose {
    fn label(self) -> &'static [u8] {
        match self {
            Purpose::Session => b"session",
            Purpose::Flow => b"flow",
        }
    }
}

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
    /// [`MAX_ID_TOKEN_LEN`] is not kept.
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
            id_token: id_token.filter(|t| !t.is_empty() && t.len() <= MAX_ID_TOKEN_LEN),
        }
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

/// A bad line in the session secret file, or no usable key. Never contains key material.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyError {
    /// 1-based line number, 0 when the error is not about one line.
    pub line: usize,
    /// Why, in words.
    pub reason: String,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            f.write_str(&self.reason)
        } else {
            write!(f, "line {}: {}", self.line, self.reason)
        }
    }
}

impl std::error::Error for KeyError {}

/// The purpose keys derived from one master key.
struct KeySet {
    session: LessSafeKey,
    flow: LessSafeKey,
}

impl KeySet {
    fn from_master(master: &[u8]) -> Result<Self, KeyError> {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, PURPOSE_SALT).extract(master);
        let derive = |purpose: Purpose| -> Result<LessSafeKey, KeyError> {
            let mut bytes = Zeroizing::new([0u8; 32]);
            let info = [purpose.label()];
            prk.expand(&info, hkdf::HKDF_SHA256)
                .and_then(|okm| okm.fill(&mut bytes[..]))
                .map_err(|_| internal_key_error("key derivation failed"))?;
            let unbound = UnboundKey::new(&AES_256_GCM, &bytes[..])
                .map_err(|_| internal_key_error("cipher key setup failed"))?;
            Ok(LessSafeKey::new(unbound))
        };
        Ok(KeySet {
            session: derive(Purpose::Session)?,
            flow: derive(Purpose::Flow)?,
        })
    }

    fn key(&self, purpose: Purpose) -> &LessSafeKey {
        match purpose {
            Purpose::Session => &self.session,
            Purpose::Flow => &self.flow,
        }
    }
}

fn internal_key_error(reason: &str) -> KeyError {
    KeyError {
        line: 0,
        reason: reason.to_owned(),
    }
}

/// The keys sealing and opening session and flow cookies. Cheap to share (`&self` only).
pub struct SessionKeys {
    /// Never empty; `sets[0]` seals.
    sets: Vec<KeySet>,
}

impl fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionKeys")
            .field("keys", &self.sets.len())
            .field("material", &"<redacted>")
            .finish()
    }
}

impl SessionKeys {
    /// Parses the contents of `sso_session_secret_file`: one key per line, blank lines and
    /// lines starting with `#` ignored, surrounding whitespace trimmed. A key is hex (when
    /// the line is only hex digits, of even length) or else base64 (standard or URL-safe
    /// alphabet, padded or not), and must decode to at least [`MIN_KEY_LEN`] bytes.
    pub fn parse(contents: &[u8]) -> Result<Self, KeyError> {
        let mut sets = Vec::new();
        for (idx, raw) in contents.split(|&b| b == b'\n').enumerate() {
            let line_no = idx + 1;
            let line = raw.trim_ascii();
            if line.is_empty() || line.first() == Some(&b'#') {
                continue;
            }
            let bad = |reason: String| KeyError {
                line: line_no,
                reason,
            };
            let key = decode_key(line).map_err(|r| bad(r.to_owned()))?;
            if key.len() < MIN_KEY_LEN {
                return Err(bad(format!(
                    "key decodes to {} bytes, at least {MIN_KEY_LEN} random bytes are needed \
                     (e.g. `openssl rand -hex 32`)",
                    key.len()
                )));
            }
            sets.push(KeySet::from_master(&key).map_err(|e| bad(e.reason))?);
        }
        if sets.is_empty() {
            return Err(internal_key_error(
                "no key found (one key per line, hex or base64, at least 32 bytes)",
            ));
        }
        Ok(SessionKeys { sets })
    }

    /// A key derived from the OAuth client secret with HKDF-SHA256 (salt
    /// [`CLIENT_SECRET_SALT`], info [`CLIENT_SECRET_INFO`]), for when no secret file is
    /// configured. Every node with the same client secret derives the same key.
    pub fn derive_from_client_secret(secret: &[u8]) -> Result<Self, KeyError> {
        if secret.is_empty() {
            return Err(internal_key_error(
                "the client secret is empty: cannot derive a session key from it",
            ));
        }
        let mut master = Zeroizing::new([0u8; 32]);
        hkdf::Salt::new(hkdf::HKDF_SHA256, CLIENT_SECRET_SALT)
            .extract(secret)
            .expand(&[CLIENT_SECRET_INFO], hkdf::HKDF_SHA256)
            .and_then(|okm| okm.fill(&mut master[..]))
            .map_err(|_| internal_key_error("key derivation failed"))?;
        Ok(SessionKeys {
            sets: vec![KeySet::from_master(&master[..])?],
        })
    }

    /// Builds keys from raw master keys (each at least [`MIN_KEY_LEN`] bytes), first seals.
    pub fn from_raw_keys(keys: &[&[u8]]) -> Result<Self, KeyError> {
        let mut sets = Vec::with_capacity(keys.len());
        for (i, k) in keys.iter().enumerate() {
            if k.len() < MIN_KEY_LEN {
                return Err(KeyError {
                    line: i + 1,
                    reason: format!("key is {} bytes, at least {MIN_KEY_LEN} needed", k.len()),
                });
            }
            sets.push(KeySet::from_master(k)?);
        }
        if sets.is_empty() {
            return Err(internal_key_error("no key given"));
        }
        Ok(SessionKeys { sets })
    }

    /// How many keys open (the first of them seals).
    pub fn len(&self) -> usize {
        self.sets.len()
    }

    /// Always false: a `SessionKeys` has at least one key.
    pub fn is_empty(&self) -> bool {
        self.sets.is_empty()
    }

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

    /// Seals `payload` for `purpose` and `app` into one base64url string (not chunked).
    pub fn seal_value(
        &self,
        purpose: Purpose,
        app: &str,
        payload: &[u8],
    ) -> Result<String, SessionError> {
        let set = self
            .sets
            .first()
            .ok_or(SessionError::Internal("no sealing key"))?;

        // flags || payload, deflated when that saves bytes.
        let mut plain: Zeroizing<Vec<u8>> = Zeroizing::new(Vec::with_capacity(payload.len() + 1));
        let mut compressed = false;
        if payload.len() >= COMPRESS_MIN {
            let deflated = Zeroizing::new(miniz_oxide::deflate::compress_to_vec(
                payload,
                DEFLATE_LEVEL,
            ));
            if deflated.len() < payload.len() {
                plain.push(FLAG_DEFLATE);
                plain.extend_from_slice(&deflated);
                compressed = true;
            }
        }
        if !compressed {
            plain.push(0);
            plain.extend_from_slice(payload);
        }

        let mut nonce_bytes = [0u8; NONCE_LEN];
        rand::fill(&mut nonce_bytes).map_err(|_| SessionError::Internal("CSPRNG failed"))?;

        let mut blob = Vec::with_capacity(HEADER_LEN + plain.len() + TAG_LEN);
        blob.push(VERSION);
        blob.extend_from_slice(&nonce_bytes);
        blob.extend_from_slice(&plain);
        let aad = build_aad(purpose, app);
        let body = blob
            .get_mut(HEADER_LEN..)
            .ok_or(SessionError::Internal("buffer"))?;
        let tag = set
            .key(purpose)
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce_bytes),
                Aad::from(&aad[..]),
                body,
            )
            .map_err(|_| SessionError::Internal("sealing failed"))?;
        blob.extend_from_slice(tag.as_ref());
        Ok(URL_SAFE_NO_PAD.encode(&blob))
    }

    /// Opens what [`seal_value`](Self::seal_value) produced (split into `chunks`, in order),
    /// returning the payload. Tries every key, first to last.
    pub fn open_value(
        &self,
        purpose: Purpose,
        app: &str,
        chunks: &[&[u8]],
    ) -> Result<Zeroizing<Vec<u8>>, SessionError> {
        if chunks.is_empty() || chunks.len() > MAX_CHUNKS {
            return Err(SessionError::Malformed);
        }
        // Decode each chunk straight into one buffer: non-final chunks are whole base64
        // quanta (CHUNK_LEN is a multiple of 4), so no concatenated copy is needed.
        let total: usize = chunks.iter().map(|c| c.len()).sum();
        let mut blob = vec![0u8; total / 4 * 3 + 3];
        let mut filled = 0usize;
        let last = chunks.len() - 1;
        for (i, chunk) in chunks.iter().enumerate() {
            if i != last && chunk.len() != CHUNK_LEN {
                return Err(SessionError::Malformed);
            }
            let out = blob.get_mut(filled..).ok_or(SessionError::Malformed)?;
            filled += URL_SAFE_NO_PAD
                .decode_slice(chunk, out)
                .map_err(|_| SessionError::Malformed)?;
        }
        blob.truncate(filled);

        if blob.len() < HEADER_LEN + 1 + TAG_LEN || blob.first() != Some(&VERSION) {
            return Err(SessionError::Malformed);
        }
        let (header, rest) = blob.split_at(HEADER_LEN);
        let (ciphertext, tag) = rest.split_at(rest.len() - TAG_LEN);
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(header.get(1..).ok_or(SessionError::Malformed)?);
        let aad = build_aad(purpose, app);

        let mut plain = Zeroizing::new(vec![0u8; ciphertext.len()]);
        let mut opened = false;
        for set in &self.sets {
            if set
                .key(purpose)
                .open_separate_gather(
                    Nonce::assume_unique_for_key(nonce),
                    Aad::from(&aad[..]),
                    ciphertext,
                    tag,
                    &mut plain[..],
                )
                .is_ok()
            {
                opened = true;
                break;
            }
        }
        if !opened {
            plain.zeroize();
            return Err(SessionError::Malformed);
        }
        match plain.split_first() {
            Some((&0, _)) => {
                plain.remove(0);
                Ok(plain)
            }
            Some((&FLAG_DEFLATE, deflated)) => {
                miniz_oxide::inflate::decompress_to_vec_with_limit(deflated, MAX_PLAIN_LEN)
                    .map(Zeroizing::new)
                    .map_err(|_| SessionError::Malformed)
            }
            _ => Err(SessionError::Malformed),
        }
    }
}

/// What a session is sealed to (the `app` of [`SessionKeys::seal`] and [`SessionKeys::open`]):
/// the client id and the issuer, so a session minted for another client or by another
/// provider (sharing the session keys) never opens.
pub fn binding(client_id: &str, issuer: &str) -> String {
    format!("{client_id}\0{issuer}")
}

fn build_aad(purpose: Purpose, app: &str) -> Vec<u8> {
    const DOMAIN: &[u8] = b"ngx_http_sso_module";
    let label = purpose.label();
    let mut aad = Vec::with_capacity(1 + DOMAIN.len() + 1 + label.len() + 1 + app.len());
    aad.push(VERSION);
    aad.extend_from_slice(DOMAIN);
    aad.push(0);
    aad.extend_from_slice(label);
    aad.push(0);
    aad.extend_from_slice(app.as_bytes());
    aad
}

/// The cookie name of chunk `index` of session cookie `name`: `name`, `name_1`, `name_2`, …
pub fn chunk_cookie_name(name: &str, index: usize) -> String {
    if index == 0 {
        name.to_owned()
    } else {
        format!("{name}_{index}")
    }
}

fn decode_key(line: &[u8]) -> Result<Zeroizing<Vec<u8>>, &'static str> {
    if line.iter().any(|b| b.is_ascii_whitespace()) {
        return Err("a key line must not contain spaces");
    }
    if line.len() % 2 == 0 && line.iter().all(u8::is_ascii_hexdigit) {
        let mut out = Zeroizing::new(Vec::with_capacity(line.len() / 2));
        for pair in line.chunks_exact(2) {
            let (hi, lo) = match pair {
                [hi, lo] => (hex_val(*hi), hex_val(*lo)),
                _ => return Err("not hex"),
            };
            out.push((hi << 4) | lo);
        }
        return Ok(out);
    }
    // base64: accept either alphabet and optional padding by normalising to standard,
    // unpadded form first (into a zeroized copy).
    let mut norm = Zeroizing::new(Vec::with_capacity(line.len()));
    let mut saw_std = false;
    let mut saw_url = false;
    let body = {
        let mut end = line.len();
        while end > 0 && line.get(end - 1) == Some(&b'=') {
            end -= 1;
        }
        line.get(..end).unwrap_or(&[])
    };
    if line.len() - body.len() > 2 {
        return Err("neither hex nor base64 (too much `=` padding)");
    }
    for &b in body {
        let c = match b {
            b'+' | b'/' => {
                saw_std = true;
                b
            }
            b'-' => {
                saw_url = true;
                b'+'
            }
            b'_' => {
                saw_url = true;
                b'/'
            }
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' => b,
            _ => return Err("neither hex nor base64 (unexpected character)"),
        };
        norm.push(c);
    }
    if saw_std && saw_url {
        return Err("base64 mixes the standard and URL-safe alphabets");
    }
    STANDARD_NO_PAD
        .decode(&norm[..])
        .map(Zeroizing::new)
        .map_err(|_| "neither hex nor base64 (bad length or trailing bits)")
}

fn hex_val(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        b'A'..=b'F' => b - b'A' + 10,
        _ => 0,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    const K1: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    const K2: &str = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";

    pub(crate) fn keys() -> SessionKeys {
        SessionKeys::parse(K1.as_bytes()).unwrap()
    }

    #[test]
    fn only_compact_jws_id_tokens_survive_opening() {
        assert!(is_compact_jws("eyJh.eyJ-_0.c2ln"));
        for bad in ["", "a b.c.d", "a.b.c\r\nX-Evil: 1", "a.b.c\u{85}", "a=.b.c"] {
            assert!(!is_compact_jws(bad), "{bad:?}");
        }
        let keys = SessionKeys::from_raw_keys(&[[7u8; 32].as_slice()]).unwrap();
        let now = 1_800_000_000;
        for (id_token, kept) in [("eyJh.eyJi.c2ln", true), ("eyJh.eyJi.c2ln\r\nX: y", false)] {
            let mut s = sample(now);
            s.id_token = Some(id_token.into());
            let chunks = keys.seal(&s, "app").unwrap();
            let refs: Vec<&[u8]> = chunks.iter().map(|c| c.as_bytes()).collect();
            let opened = keys.open(&refs, "app", now + 1).unwrap();
            assert_eq!(opened.id_token.is_some(), kept, "{id_token:?}");
            assert_eq!(opened.identity, s.identity);
        }
    }

    fn sample(now: u64) -> Session {
        Session::new(
            Identity {
                username: "akadmin".into(),
                email: "root@example.com".into(),
                name: "authentik Default Admin".into(),
                uid: "f1d6c1c0a3b24d5c9c7e0b7d7e2b9a4f0e6c1d2b3a4f5e6d7c8b9a0f1e2d3c4b".into(),
                groups: vec!["authentik Admins".into(), "users".into()],
                entitlements: vec!["app-admin".into()],
                ..Identity::default()
            },
            now,
            86_400,
            None,
        )
    }

    fn refs(v: &[String]) -> Vec<&[u8]> {
        v.iter().map(|s| s.as_bytes()).collect()
    }

    /// Deterministic pseudo-random group names, 20–40 characters.
    fn groups(n: usize) -> Vec<String> {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let alphabet = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -_";
        (0..n)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let len = 20 + (x % 21) as usize;
                let mut s = format!("authentik Team-{i}-");
                while s.len() < len {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    s.push(alphabet[(x % alphabet.len() as u64) as usize] as char);
                }
                s
            })
            .collect()
    }

    #[test]
    fn round_trip() {
        let k = keys();
        let s = sample(1000);
        let v = k.seal(&s, "client-a").unwrap();
        assert_eq!(v.len(), 1);
        assert!(v[0]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(k.open(&refs(&v), "client-a", 1001).unwrap(), s);
        // fresh nonce every time
        assert_ne!(k.seal(&s, "client-a").unwrap(), v);
    }

    #[test]
    fn round_trip_with_id_token() {
        let k = keys();
        let mut s = sample(1000);
        s.id_token = Some("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln".into());
        let v = k.seal(&s, "c").unwrap();
        assert_eq!(k.open(&refs(&v), "c", 1001).unwrap(), s);
    }

    #[test]
    fn oversized_id_token_not_kept() {
        let s = Session::new(
            Identity::default(),
            0,
            10,
            Some("x".repeat(MAX_ID_TOKEN_LEN + 1)),
        );
        assert_eq!(s.id_token, None);
    }

    #[test]
    fn rotation() {
        let old = SessionKeys::parse(K1.as_bytes()).unwrap();
        let v = old.seal(&sample(10), "c").unwrap();
        let rotated =
            SessionKeys::parse(format!("# new first\n{K2}\n\n{K1}\n").as_bytes()).unwrap();
        assert_eq!(rotated.len(), 2);
        assert!(rotated.open(&refs(&v), "c", 11).is_ok());
        // new sessions are sealed with the new key: the old key alone cannot open them
        let v2 = rotated.seal(&sample(10), "c").unwrap();
        assert_eq!(old.open(&refs(&v2), "c", 11), Err(SessionError::Malformed));
        // once the old key is removed, old cookies are refused
        let only_new = SessionKeys::parse(K2.as_bytes()).unwrap();
        assert_eq!(
            only_new.open(&refs(&v), "c", 11),
            Err(SessionError::Malformed)
        );
    }

    #[test]
    fn wrong_app_refused() {
        let k = keys();
        let v = k.seal(&sample(10), "client-a").unwrap();
        let e = k.open(&refs(&v), "client-b", 11).unwrap_err();
        assert_eq!(e.reason(), "malformed");
        assert!(k.open(&refs(&v), "client-a", 11).is_ok());
    }

    #[test]
    fn bound_to_client_and_issuer() {
        let k = keys();
        let iss = "https://auth.example.com/application/o/app/";
        let v = k.seal(&sample(10), &binding("app", iss)).unwrap();
        assert!(k.open(&refs(&v), &binding("app", iss), 11).is_ok());
        for other in [
            binding("app", "https://evil.example.com/application/o/app/"),
            binding("app", "https://auth.example.com/application/o/app"),
            binding("other", iss),
            binding("app", ""),
        ] {
            assert!(k.open(&refs(&v), &other, 11).is_err(), "{other:?}");
        }
    }

    #[test]
    fn flow_value_not_openable_as_session() {
        let k = keys();
        let json = serde_json::to_vec(&sample(10)).unwrap();
        let flow = k.seal_value(Purpose::Flow, "c", &json).unwrap();
        assert_eq!(
            k.open(&[flow.as_bytes()], "c", 11),
            Err(SessionError::Malformed)
        );
        let sess = k.seal(&sample(10), "c").unwrap();
        assert!(k.open_value(Purpose::Flow, "c", &refs(&sess)).is_err());
    }

    #[test]
    fn expiry() {
        let k = keys();
        let s = sample(1000);
        let v = k.seal(&s, "c").unwrap();
        assert!(k.open(&refs(&v), "c", s.exp - 1).is_ok());
        let e = k.open(&refs(&v), "c", s.exp).unwrap_err();
        assert_eq!(e, SessionError::Expired);
        assert_eq!(e.reason(), "expired");
    }

    #[test]
    fn tampered_truncated_garbage_refused() {
        let k = keys();
        let v = k.seal(&sample(10), "c").unwrap();
        let s = &v[0];
        for i in 0..s.len() {
            let mut b = s.clone().into_bytes();
            b[i] = if b[i] == b'A' { b'B' } else { b'A' };
            assert!(k.open(&[&b], "c", 11).is_err(), "flip at {i}");
        }
        for cut in [0, 1, 5, 16, 30, s.len() - 1] {
            assert_eq!(
                k.open(&[&s.as_bytes()[..cut]], "c", 11),
                Err(SessionError::Malformed)
            );
        }
        for junk in [
            &b""[..],
            b"=",
            b"%%%",
            b"\xff\xfe",
            b"AAAA",
            &[b'A'; 5000][..],
        ] {
            assert!(k.open(&[junk], "c", 11).is_err());
        }
        assert!(k.open(&[], "c", 11).is_err());
    }

    fn big_session() -> Session {
        let mut s = sample(1000);
        s.identity.groups = groups(200);
        s
    }

    #[test]
    fn two_hundred_groups_fit() {
        let k = keys();
        let s = big_session();
        let raw = serde_json::to_vec(&s).unwrap().len();
        let v = k.seal(&s, "c").unwrap();
        let total: usize = v.iter().map(String::len).sum();
        eprintln!(
            "200 groups: json {raw} bytes -> {} chunk(s), {total} bytes",
            v.len()
        );
        assert!(v.len() <= MAX_CHUNKS);
        assert!(v.len() <= 2, "should fit two chunks (nginx 8k header line)");
        assert!(v.iter().all(|c| c.len() <= CHUNK_LEN));
        assert_eq!(k.open(&refs(&v), "c", 1001).unwrap(), s);
    }

    #[test]
    fn two_hundred_random_groups_fit() {
        // worst case: no shared prefix, 20-40 random characters each
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let alphabet = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -_";
        let mut s = sample(1000);
        s.identity.groups = (0..200)
            .map(|_| {
                let len = 20 + (next() % 21) as usize;
                (0..len)
                    .map(|_| alphabet[(next() % alphabet.len() as u64) as usize] as char)
                    .collect()
            })
            .collect();
        s.id_token = Some("h.p.s".repeat(200));
        let k = keys();
        let v = k.seal(&s, "c").unwrap();
        let total: usize = v.iter().map(String::len).sum();
        eprintln!(
            "200 random groups + 1 KB id_token -> {} chunk(s), {total} bytes",
            v.len()
        );
        assert!(v.len() <= 3 && v.iter().all(|c| c.len() <= CHUNK_LEN));
        assert_eq!(k.open(&refs(&v), "c", 1001).unwrap(), s);
    }

    #[test]
    fn arbitrary_input_never_panics() {
        let k = keys();
        let mut x: u64 = 1;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let valid = k.seal(&sample(1), "c").unwrap().remove(0).into_bytes();
        for round in 0..3000 {
            let len = (next() % 200) as usize;
            let mut buf: Vec<u8> = if round % 2 == 0 {
                (0..len).map(|_| next() as u8).collect()
            } else {
                let mut b = valid.clone();
                b.truncate(len.min(b.len()));
                b
            };
            if let Some(b) = buf.get_mut(len / 2) {
                *b = b'A' + (next() % 26) as u8;
            }
            assert!(k.open(&[&buf], "c", 2).is_err() || buf == valid);
            let _ = k.open(&[&valid, &buf], "c", 2);
            let _ = SessionKeys::parse(&buf);
        }
    }

    #[test]
    fn missing_extra_reordered_chunk_refused() {
        let k = keys();
        let mut s = big_session();
        s.identity.groups = groups(600);
        let v = k.seal(&s, "c").unwrap();
        assert!(v.len() >= 3, "{} chunks", v.len());
        let r = refs(&v);
        assert!(k.open(&r, "c", 1001).is_ok());
        assert!(k.open(&r[..r.len() - 1], "c", 1001).is_err());
        assert!(k.open(&r[1..], "c", 1001).is_err());
        let mut extra = r.clone();
        extra.push(b"AAAA");
        assert!(k.open(&extra, "c", 1001).is_err());
        let mut stale = r.clone();
        stale.push(r[1]);
        assert!(k.open(&stale, "c", 1001).is_err());
        let mut swapped = r.clone();
        swapped.swap(0, 1);
        assert!(k.open(&swapped, "c", 1001).is_err());
        let nine: Vec<&[u8]> = std::iter::repeat_n(r[0], MAX_CHUNKS + 1).collect();
        assert!(k.open(&nine, "c", 1001).is_err());
    }

    #[test]
    fn too_large_is_a_clear_error_and_id_token_dropped_first() {
        let k = keys();
        let mut s = sample(1000);
        s.identity.groups = groups(5000);
        let e = k.seal(&s, "c").unwrap_err();
        assert!(matches!(e, SessionError::TooLarge { .. }));
        assert_eq!(e.reason(), "session_too_large");
        assert!(e.to_string().contains("too large"));

        // find a size that fits only without the ID token
        let token: String = groups(60).concat().chars().take(MAX_ID_TOKEN_LEN).collect();
        let mut n = 200;
        loop {
            let mut t = sample(1000);
            t.identity.groups = groups(n);
            t.id_token = Some(token.clone());
            let with = k.seal_chunked(&t, "c");
            if matches!(with, Err(SessionError::TooLarge { .. })) {
                let v = k.seal(&t, "c").unwrap();
                let opened = k.open(&refs(&v), "c", 1001).unwrap();
                assert_eq!(opened.id_token, None);
                assert_eq!(opened.identity.groups.len(), n);
                break;
            }
            n += 10;
            assert!(n < 5000);
        }
    }

    #[test]
    fn key_file_parsing() {
        use base64::engine::general_purpose::{STANDARD, URL_SAFE};
        let raw: Vec<u8> = (0u8..40).map(|i| i.wrapping_mul(37) ^ 0xfb).collect();
        for line in [
            STANDARD.encode(&raw),
            STANDARD_NO_PAD.encode(&raw),
            URL_SAFE.encode(&raw),
            URL_SAFE_NO_PAD.encode(&raw),
            raw.iter().map(|b| format!("{b:02X}")).collect(),
        ] {
            let a = SessionKeys::parse(format!("  {line}  \r\n").as_bytes()).unwrap();
            let b = SessionKeys::from_raw_keys(&[&raw]).unwrap();
            let v = a.seal(&sample(1), "c").unwrap();
            assert!(b.open(&refs(&v), "c", 2).is_ok(), "{line}");
        }

        let e = SessionKeys::parse(b"# comment\n\n00112233\n").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.reason.contains("4 bytes"), "{e}");
        assert!(!e.to_string().contains("00112233"));

        let e = SessionKeys::parse(format!("{K1}\nnot a key!\n").as_bytes()).unwrap_err();
        assert_eq!(e.line, 2);
        assert!(!e.to_string().contains("not a key"));
        let e = SessionKeys::parse(b"abc$def").unwrap_err();
        assert!(
            e.to_string().starts_with("line 1: neither hex nor base64"),
            "{e}"
        );

        assert_eq!(
            SessionKeys::parse(b"# only a comment\n\n")
                .unwrap_err()
                .line,
            0
        );
        assert!(SessionKeys::parse(b"").is_err());
        assert!(SessionKeys::parse(b"\xff\xfe\n").is_err());
    }

    #[test]
    fn derived_from_client_secret() {
        let a = SessionKeys::derive_from_client_secret(b"s3cret").unwrap();
        let b = SessionKeys::derive_from_client_secret(b"s3cret").unwrap();
        let c = SessionKeys::derive_from_client_secret(b"other").unwrap();
        let v = a.seal(&sample(1), "c").unwrap();
        assert!(b.open(&refs(&v), "c", 2).is_ok());
        assert!(c.open(&refs(&v), "c", 2).is_err());
        assert!(SessionKeys::derive_from_client_secret(b"").is_err());
    }

    #[test]
    fn debug_is_redacted() {
        let d = format!("{:?}", keys());
        assert!(d.contains("redacted"));
        assert!(!d.contains("0001"));
    }

    #[test]
    fn chunk_names() {
        assert_eq!(chunk_cookie_name("sso_session", 0), "sso_session");
        assert_eq!(chunk_cookie_name("sso_session", 3), "sso_session_3");
    }

    /// Quick timing loop, not an assertion:
    /// `cargo test --release -p sso-core -- --ignored --nocapture session::tests::measure`
    #[test]
    #[ignore]
    fn measure() {
        use aws_lc_rs::aead::CHACHA20_POLY1305;
        use std::time::Instant;
        let mut s = sample(1000);
        s.identity.groups = groups(12);
        let json = serde_json::to_vec(&s).unwrap();
        eprintln!("payload {} bytes", json.len());
        const N: u32 = 20_000;
        for (name, alg) in [
            ("AES-256-GCM", &AES_256_GCM),
            ("ChaCha20-Poly1305", &CHACHA20_POLY1305),
        ] {
            let key = LessSafeKey::new(UnboundKey::new(alg, &[7u8; 32]).unwrap());
            let mut buf = json.clone();
            let t = Instant::now();
            for _ in 0..N {
                let tag = key
                    .seal_in_place_separate_tag(
                        Nonce::assume_unique_for_key([1; 12]),
                        Aad::from(b"aad"),
                        &mut buf,
                    )
                    .unwrap();
                key.open_in_place_separate_tag(
                    Nonce::assume_unique_for_key([1; 12]),
                    Aad::from(b"aad"),
                    tag.as_ref(),
                    &mut buf,
                )
                .unwrap();
            }
            eprintln!("{name}: seal+open {:?}", t.elapsed() / N);
        }
        let k = keys();
        let v = k.seal(&s, "c").unwrap();
        eprintln!("cookie {} bytes", v[0].len());
        let r = refs(&v);
        let t = Instant::now();
        for _ in 0..N {
            std::hint::black_box(k.open(std::hint::black_box(&r), "c", 1001).unwrap());
        }
        eprintln!("SessionKeys::open: {:?}", t.elapsed() / N);
        let t = Instant::now();
        for _ in 0..N {
            std::hint::black_box(k.seal(std::hint::black_box(&s), "c").unwrap());
        }
        eprintln!("SessionKeys::seal: {:?}", t.elapsed() / N);
        let big = big_session();
        let v = k.seal(&big, "c").unwrap();
        let r = refs(&v);
        let t = Instant::now();
        for _ in 0..N / 10 {
            std::hint::black_box(k.open(std::hint::black_box(&r), "c", 1001).unwrap());
        }
        eprintln!(
            "SessionKeys::open, 200 groups: {:?}",
            t.elapsed() / (N / 10)
        );
    }
}

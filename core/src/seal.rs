//! Sealing a value into cookies and opening it again: the AEAD behind the session cookie
//! ([`crate::session`]) and the login-flow cookie ([`crate::flow`]), README "Sessions".
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
//! # Sealed format (version 1)
//! ```text
//! value  = base64url-nopad( VERSION(1) || nonce(12) || AEAD(plaintext) || tag(16) )
//! plaintext = flags(1) || payload        flags bit 0: payload is raw-deflated
//! payload   = the session's binary layout (session/codec.rs) or the flow state's JSON (flow/start.rs)
//! AAD    = VERSION || "ngx_http_sso_module" || 0 || purpose label || 0 || app
//! ```
//! `app` is what the value is bound to (the session's [`crate::session::binding`], the
//! client id for a flow): a value sealed for one is refused by another. The nonce is 96 random
//! bits from aws-lc's CSPRNG, fresh for every seal (with random nonces, NIST's 2^32
//! messages-per-key bound is far beyond what a session key seals).
//!
//! A sealed value longer than [`CHUNK_LEN`] is split by the caller into cookies of at most
//! that many bytes ([`SessionKeys::open_value`] takes the chunks in order, at most
//! [`MAX_CHUNKS`]). 3800 bytes of value plus the name and attributes (`Path`, `Domain`,
//! `Max-Age`, `HttpOnly`, `Secure`, `SameSite`) stays under the ~4096 bytes browsers accept
//! per cookie.
//!
//! # Algorithm choice and speed
//! AES-256-GCM. Measured with `cargo test --release -p sso-core -- --ignored --nocapture
//! session::tests::measure` on the development machine (x86-64 with AES-NI), seal+open of a
//! typical 584 byte session JSON payload, crypto only: AES-256-GCM 0.43 µs,
//! ChaCha20-Poly1305 1.67 µs. A whole [`SessionKeys::open`] of such a cookie (base64, AEAD,
//! JSON into [`crate::session::Session`]) takes 2.4 µs, [`SessionKeys::seal`] 2.0 µs; most of it is JSON and
//! the strings it allocates. A 200-group session (compressed, ~3.5 KB cookie) opens in
//! ~27 µs (inflate plus 200 strings). These were measured with the JSON layout before the
//! binary one (session/codec.rs). Payloads of at least 128 bytes are deflated when that
//! saves bytes: every cookie byte is parsed by nginx on every request, while `open` runs
//! once per cookie and worker (opened sessions are cached). `open` allocates the decoded
//! buffer, the plaintext buffer (and the inflated one when compressed), then the session.
//!
//! # Compression note
//! Deflating before encrypting can leak through the length (CRIME-style) when an attacker
//! controls part of the plaintext next to a secret. The payload here is the user's own
//! identity from the provider (and their own ID token); there is no third-party secret
//! mixed with attacker-chosen bytes, so the size saving is worth it. The refresh token
//! is a secret in the same payload, but only of the same user: whoever could choose part of
//! the identity (the user, editing their own profile) and watch the cookie's length learns
//! at best their own token.

use std::fmt;
use std::hash::BuildHasher;

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::{hkdf, rand};
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use base64::Engine;
use zeroize::{Zeroize, Zeroizing};

use crate::jwks::process_hasher;
use crate::session::SessionError;

/// Largest value of one cookie chunk, in bytes. A multiple of 4, so every non-final chunk
/// is an independently decodable run of base64.
pub const CHUNK_LEN: usize = 3800;
/// At most this many chunks (`NAME`, `NAME_1` … `NAME_7`); sealing a larger session fails.
pub const MAX_CHUNKS: usize = 8;
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
const COMPRESS_MIN: usize = 128;
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
    pub(crate) fn label(self) -> &'static [u8] {
        match self {
            Purpose::Session => b"session",
            Purpose::Flow => b"flow",
        }
    }
}

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
struct PurposeKeys {
    session: LessSafeKey,
    flow: LessSafeKey,
    /// A keyed hash of the master key (per-process random key: reveals nothing), for
    /// [`SessionKeys::fingerprint`].
    material_id: u64,
}

impl PurposeKeys {
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
        Ok(PurposeKeys {
            session: derive(Purpose::Session)?,
            flow: derive(Purpose::Flow)?,
            material_id: process_hasher().hash_one(("sso-session-key-v1", master)),
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
    sets: Vec<PurposeKeys>,
    /// See [`SessionKeys::fingerprint`].
    fingerprint: u64,
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
    fn from_sets(sets: Vec<PurposeKeys>) -> SessionKeys {
        let ids: Vec<u64> = sets.iter().map(|s| s.material_id).collect();
        SessionKeys {
            fingerprint: process_hasher().hash_one(("sso-session-keys-v1", ids)),
            sets,
        }
    }

    /// A value that changes whenever the keys change (which, and in which order). A keyed
    /// hash with a per-process random key, so it reveals nothing about them; the session
    /// cache's context ([`crate::cache::session_context`]) is derived from it.
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

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
            sets.push(PurposeKeys::from_master(&key).map_err(|e| bad(e.reason))?);
        }
        if sets.is_empty() {
            return Err(internal_key_error(
                "no key found (one key per line, hex or base64, at least 32 bytes)",
            ));
        }
        Ok(SessionKeys::from_sets(sets))
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
        Ok(SessionKeys::from_sets(vec![PurposeKeys::from_master(
            &master[..],
        )?]))
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
            sets.push(PurposeKeys::from_master(k)?);
        }
        if sets.is_empty() {
            return Err(internal_key_error("no key given"));
        }
        Ok(SessionKeys::from_sets(sets))
    }

    /// How many keys open (the first of them seals).
    pub fn len(&self) -> usize {
        self.sets.len()
    }

    /// Always false: a `SessionKeys` has at least one key.
    pub fn is_empty(&self) -> bool {
        self.sets.is_empty()
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

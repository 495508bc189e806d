//! JSON Web Key Sets (RFC 7517) -> the set of verification keys a token may be checked with.
//!
//! Key families and the algorithms each admits (RFC 7518 §3, RFC 8037):
//!
//! | JWK                         | family              | algorithms            |
//! |-----------------------------|---------------------|-----------------------|
//! | `kty: RSA`                  | [`KeyFamily::Rsa`]  | RS256/384/512, PS256/384/512 |
//! | `kty: EC`, `crv: P-256`     | [`KeyFamily::EcP256`] | ES256               |
//! | `kty: EC`, `crv: P-384`     | [`KeyFamily::EcP384`] | ES384               |
//! | `kty: OKP`, `crv: Ed25519`  | [`KeyFamily::Ed25519`] | EdDSA              |
//! | `kty: oct`                  | [`KeyFamily::Hmac`] | HS256/384/512         |
//!
//! A token's `alg` must belong to the family of the key it is checked with AND equal the key's
//! own `alg` when the JWK names one ([`Key::allows`]): this is what makes algorithm confusion
//! (an RSA public key used as an HMAC secret, `alg: none`, ...) impossible by construction.
//!
//! Parsing is forgiving about the set and strict about each key: a key that is not for
//! signatures (`use` other than `sig`, or `key_ops` without `verify`), whose `alg` is unknown or
//! contradicts its family, whose `kty`/`crv` is not supported, or whose material is invalid is
//! skipped (the reason is kept in [`KeySet::skipped`] for the log). A set left with no usable
//! key is an error ([`JwksError::NoUsableKeys`]).
//!
//! Limits: a JWKS document is at most [`MAX_JWKS_LEN`] bytes, nests at most
//! [`MAX_JWKS_DEPTH`] levels, and at most [`MAX_KEYS`] keys are kept. RSA moduli must be
//! 2048..=8192 bits (what the verifier accepts), `oct` keys at least [`MIN_OCT_KEY_LEN`] bytes.
//!
//! authentik proxy providers without a signing key sign with HS256 and the OAuth client
//! secret: [`KeySet::from_client_secret`] makes that secret an HMAC key (no `kid`).
//! Whether it may verify anything, and which of the provider's keys, `sso_jwks_file` and the
//! secret verify a token, is decided in one place: [`verification_keys`] (`policy.rs`, README
//! "Security" → "Which keys verify a token").
//!
//! Files: `alg.rs` (algorithms and key families), `key.rs` (one key: JWK parsing, the
//! prepared aws-lc material, [`Secret`]), `policy.rs` ([`verification_keys`]), `helpers.rs`
//! (strict base64url, bounded JSON depth, printable text: shared with [`crate::jwt`]).

use std::fmt;
use std::hash::{BuildHasher, Hash, Hasher};

use serde_json::Value;

mod alg;
mod helpers;
mod key;
mod policy;

pub use alg::{Alg, KeyFamily};
#[cfg(test)]
pub(crate) use helpers::B64URL_STRICT;
pub(crate) use helpers::{b64url_decode_strict, json_depth_within, printable, process_hasher};
pub(crate) use key::Prepared;
use key::{hmac_material, material_id, parse_jwk};
pub use key::{Key, KeySource, Secret};
pub use policy::{verification_keys, KeyOrigin, ProviderKeys};

/// Largest JWKS document accepted, in bytes.
pub const MAX_JWKS_LEN: usize = 1024 * 1024;
/// Deepest nesting of arrays/objects accepted in a JWKS document.
pub const MAX_JWKS_DEPTH: usize = 32;
/// Most keys kept from one set (further usable keys are skipped).
pub const MAX_KEYS: usize = 100;
/// Shortest `oct` key accepted from a JWKS (RFC 7518 §3.2: at least the hash size; 32 bytes
/// is HS256's). The client secret ([`KeySet::add_client_secret`]) is exempt: it is whatever
/// the provider signs with.
pub const MIN_OCT_KEY_LEN: usize = 32;
/// RSA modulus bounds, in bits (the range aws-lc verifies).
const RSA_MIN_BITS: usize = 2048;
const RSA_MAX_BITS: usize = 8192;
/// Longest `kid` kept (longer keys are skipped: no real provider uses such ids).
const MAX_KID_LEN: usize = 256;

/// Why a JWKS could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum JwksError {
    /// The document is over [`MAX_JWKS_LEN`] bytes.
    TooLarge { len: usize },
    /// The document nests deeper than [`MAX_JWKS_DEPTH`].
    TooDeep,
    /// Not JSON (the text is serde_json's message: positions, never content).
    Json(String),
    /// JSON, but not a JWK Set (`{"keys": [...]}`).
    NotAJwks,
    /// No key in the set can verify anything; `skipped` says why each was left out.
    NoUsableKeys { skipped: Vec<String> },
    /// [`KeySet::add_client_secret`] was given an empty secret.
    EmptySecret,
}

impl fmt::Display for JwksError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JwksError::TooLarge { len } => {
                write!(
                    f,
                    "JWKS is {len} bytes, more than the {MAX_JWKS_LEN} accepted"
                )
            }
            JwksError::TooDeep => write!(f, "JWKS nests deeper than {MAX_JWKS_DEPTH} levels"),
            JwksError::Json(e) => write!(f, "JWKS is not valid JSON: {e}"),
            JwksError::NotAJwks => {
                f.write_str("JWKS is not a JWK Set: expected an object with a \"keys\" array")
            }
            JwksError::NoUsableKeys { skipped } => {
                if skipped.is_empty() {
                    f.write_str("JWKS has no keys")
                } else {
                    write!(
                        f,
                        "JWKS has no usable signature verification key ({} skipped: {})",
                        skipped.len(),
                        skipped.join("; ")
                    )
                }
            }
            JwksError::EmptySecret => f.write_str("the client secret is empty"),
        }
    }
}

impl std::error::Error for JwksError {}

/// The keys a token may be verified with. Cheap to share behind an `Arc`; the glue swaps
/// whole sets when it re-fetches the JWKS.
#[derive(Debug, Clone)]
pub struct KeySet {
    keys: Vec<Key>,
    skipped: Vec<String>,
    fingerprint: u64,
}

impl Default for KeySet {
    /// The same as [`KeySet::new`].
    fn default() -> Self {
        KeySet::new()
    }
}

impl KeySet {
    /// An empty set (verifies nothing: every token is refused with `no_keys`).
    pub fn new() -> KeySet {
        let mut set = KeySet {
            keys: Vec::new(),
            skipped: Vec::new(),
            fingerprint: 0,
        };
        set.refresh_fingerprint();
        set
    }

    /// Parses a JWK Set document. Unusable keys are skipped (see [`KeySet::skipped`]); a set
    /// without any usable key is [`JwksError::NoUsableKeys`].
    pub fn from_jwks(json: &[u8]) -> Result<KeySet, JwksError> {
        let set = KeySet::parse_jwks(json)?;
        if set.keys.is_empty() {
            return Err(JwksError::NoUsableKeys {
                skipped: set.skipped,
            });
        }
        Ok(set)
    }

    /// The client secret alone, as an HMAC key set (see [`verification_keys`] for when it
    /// may verify anything).
    pub fn from_client_secret(secret: &Secret) -> Result<KeySet, JwksError> {
        let mut set = KeySet::new();
        set.add_client_secret(secret)?;
        Ok(set)
    }

    /// Adds the OAuth client secret as an HMAC key (family `oct`: HS256/384/512, no `kid`).
    pub fn add_client_secret(&mut self, secret: &Secret) -> Result<(), JwksError> {
        if secret.is_empty() {
            return Err(JwksError::EmptySecret);
        }
        self.keys.push(Key {
            kid: None,
            family: KeyFamily::Hmac,
            alg: None,
            source: KeySource::ClientSecret,
            material: hmac_material(secret.expose(), None),
            material_id: material_id(0, &[secret.expose()]),
        });
        self.refresh_fingerprint();
        Ok(())
    }

    /// Every usable key, in document order (the client secret last).
    pub fn keys(&self) -> &[Key] {
        &self.keys
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// One line per skipped key, saying which and why (safe to log: no key material).
    pub fn skipped(&self) -> &[String] {
        &self.skipped
    }

    /// True when some key carries this `kid` (the glue re-fetches the JWKS, rate-limited,
    /// when a token names a kid the set lacks).
    pub fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }

    /// A value that changes whenever the keys change (kid, family, alg, material). It is a
    /// keyed hash with a per-process random key, so it reveals nothing about secrets; use it
    /// to derive cache context ids ([`crate::cache::token_context`]).
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    fn parse_jwks(json: &[u8]) -> Result<KeySet, JwksError> {
        if json.len() > MAX_JWKS_LEN {
            return Err(JwksError::TooLarge { len: json.len() });
        }
        if !json_depth_within(json, MAX_JWKS_DEPTH) {
            return Err(JwksError::TooDeep);
        }
        let doc: Value = serde_json::from_slice(json).map_err(|e| {
            // serde_json's message names a line and column, never the input.
            JwksError::Json(e.to_string())
        })?;
        let list = match doc.get("keys") {
            Some(Value::Array(list)) => list,
            _ => return Err(JwksError::NotAJwks),
        };
        let mut set = KeySet::new();
        for (index, jwk) in list.iter().enumerate() {
            if set.keys.len() >= MAX_KEYS {
                set.skipped
                    .push(format!("key #{index} and later: more than {MAX_KEYS} keys"));
                break;
            }
            match parse_jwk(jwk) {
                Ok(key) => set.keys.push(key),
                Err(why) => {
                    let kid = jwk
                        .get("kid")
                        .and_then(Value::as_str)
                        .map(|k| format!(" (kid {})", printable(k, 64)))
                        .unwrap_or_default();
                    set.skipped.push(format!("key #{index}{kid}: {why}"));
                }
            }
        }
        set.refresh_fingerprint();
        Ok(set)
    }

    fn refresh_fingerprint(&mut self) {
        let mut h = process_hasher().build_hasher();
        "sso-keyset-v1".hash(&mut h);
        self.keys.len().hash(&mut h);
        for key in &self.keys {
            key.kid.hash(&mut h);
            key.family.hash(&mut h);
            key.alg.hash(&mut h);
            key.material_id.hash(&mut h);
        }
        self.fingerprint = h.finish();
    }
}

#[cfg(test)]
mod tests;

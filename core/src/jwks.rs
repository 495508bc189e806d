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
//! secret: [`KeySet::add_client_secret`] adds that secret as an HMAC key (no `kid`).

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::OnceLock;

use aws_lc_rs::hmac;
use aws_lc_rs::signature as lc_sig;
use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use serde_json::Value;

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

/// Strict base64url: the URL-safe alphabet, no padding accepted, no non-canonical trailing bits.
pub(crate) const B64URL_STRICT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone)
        .with_decode_allow_trailing_bits(false),
);

/// Decodes strict base64url (RFC 7515 §2: no padding, no whitespace, canonical).
pub(crate) fn b64url_decode_strict(input: &[u8]) -> Option<Vec<u8>> {
    B64URL_STRICT.decode(input).ok()
}

/// A JWS algorithm this verifier implements (RFC 7518 §3.1 names, case-sensitive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Alg {
    HS256,
    HS384,
    HS512,
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
    ES256,
    ES384,
    EdDSA,
}

impl Alg {
    /// The algorithm named exactly `name` (RFC 7518 names are case-sensitive); `none` and
    /// anything unknown give `None`.
    pub fn from_name(name: &str) -> Option<Alg> {
        Some(match name {
            "HS256" => Alg::HS256,
            "HS384" => Alg::HS384,
            "HS512" => Alg::HS512,
            "RS256" => Alg::RS256,
            "RS384" => Alg::RS384,
            "RS512" => Alg::RS512,
            "PS256" => Alg::PS256,
            "PS384" => Alg::PS384,
            "PS512" => Alg::PS512,
            "ES256" => Alg::ES256,
            "ES384" => Alg::ES384,
            "EdDSA" => Alg::EdDSA,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Alg::HS256 => "HS256",
            Alg::HS384 => "HS384",
            Alg::HS512 => "HS512",
            Alg::RS256 => "RS256",
            Alg::RS384 => "RS384",
            Alg::RS512 => "RS512",
            Alg::PS256 => "PS256",
            Alg::PS384 => "PS384",
            Alg::PS512 => "PS512",
            Alg::ES256 => "ES256",
            Alg::ES384 => "ES384",
            Alg::EdDSA => "EdDSA",
        }
    }

    /// The one key family this algorithm can be verified with.
    pub fn family(self) -> KeyFamily {
        match self {
            Alg::HS256 | Alg::HS384 | Alg::HS512 => KeyFamily::Hmac,
            Alg::RS256 | Alg::RS384 | Alg::RS512 | Alg::PS256 | Alg::PS384 | Alg::PS512 => {
                KeyFamily::Rsa
            }
            Alg::ES256 => KeyFamily::EcP256,
            Alg::ES384 => KeyFamily::EcP384,
            Alg::EdDSA => KeyFamily::Ed25519,
        }
    }

    /// The aws-lc RSA verification parameters and their slot in [`RsaMaterial::parsed`]
    /// (moduli of 2048..=8192 bits; PSS with a salt as long as the hash, RFC 7518 §3.5).
    fn rsa_params(self) -> Option<(usize, &'static lc_sig::RsaParameters)> {
        Some(match self {
            Alg::RS256 => (0, &lc_sig::RSA_PKCS1_2048_8192_SHA256),
            Alg::RS384 => (1, &lc_sig::RSA_PKCS1_2048_8192_SHA384),
            Alg::RS512 => (2, &lc_sig::RSA_PKCS1_2048_8192_SHA512),
            Alg::PS256 => (3, &lc_sig::RSA_PSS_2048_8192_SHA256),
            Alg::PS384 => (4, &lc_sig::RSA_PSS_2048_8192_SHA384),
            Alg::PS512 => (5, &lc_sig::RSA_PSS_2048_8192_SHA512),
            _ => return None,
        })
    }

    /// The aws-lc HMAC algorithm and its slot in [`KeyMaterial::Hmac`].
    fn hmac_algorithm(self) -> Option<(usize, hmac::Algorithm)> {
        Some(match self {
            Alg::HS256 => (0, hmac::HMAC_SHA256),
            Alg::HS384 => (1, hmac::HMAC_SHA384),
            Alg::HS512 => (2, hmac::HMAC_SHA512),
            _ => return None,
        })
    }
}

impl fmt::Display for Alg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A family of keys; each admits a fixed set of algorithms ([`KeyFamily::algorithms`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyFamily {
    Rsa,
    EcP256,
    EcP384,
    Ed25519,
    Hmac,
}

impl KeyFamily {
    /// The algorithms a key of this family may verify.
    pub fn algorithms(self) -> &'static [Alg] {
        match self {
            KeyFamily::Rsa => &[
                Alg::RS256,
                Alg::RS384,
                Alg::RS512,
                Alg::PS256,
                Alg::PS384,
                Alg::PS512,
            ],
            KeyFamily::EcP256 => &[Alg::ES256],
            KeyFamily::EcP384 => &[Alg::ES384],
            KeyFamily::Ed25519 => &[Alg::EdDSA],
            KeyFamily::Hmac => &[Alg::HS256, Alg::HS384, Alg::HS512],
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            KeyFamily::Rsa => "RSA",
            KeyFamily::EcP256 => "EC P-256",
            KeyFamily::EcP384 => "EC P-384",
            KeyFamily::Ed25519 => "OKP Ed25519",
            KeyFamily::Hmac => "oct",
        }
    }
}

/// Key material, ready for aws-lc: public keys parsed once (not for every token), HMAC keys
/// keyed once. Each parsed key is bound to one algorithm, so a key can only ever check the
/// algorithms it was prepared for. Debug never shows it (HMAC keys are secrets).
#[derive(Clone)]
pub(crate) enum KeyMaterial {
    Rsa(Box<RsaMaterial>),
    /// An EC (fixed-size `r || s` signatures) or Ed25519 public key, parsed at load for the
    /// one algorithm its family admits.
    Parsed {
        alg: Alg,
        key: lc_sig::ParsedPublicKey,
    },
    /// One aws-lc HMAC key per algorithm (HS256, HS384, HS512), keyed at load; `None` for an
    /// algorithm the JWK's own `alg` excludes. The secret itself is not kept.
    Hmac(Box<[Option<hmac::Key>; 3]>),
}

/// An RSA public key: its components and one parsed aws-lc key per algorithm
/// ([`Alg::rsa_params`] slots), each built on first use (a provider signs with one or two of
/// the six). The slot for the JWK's `alg` (RS256 without one) is built at load, which is where
/// components aws-lc refuses are reported; a later build that fails stores `None`, which
/// never verifies.
#[derive(Clone)]
pub(crate) struct RsaMaterial {
    n: Box<[u8]>,
    e: Box<[u8]>,
    parsed: [OnceLock<Option<lc_sig::ParsedPublicKey>>; 6],
}

impl RsaMaterial {
    /// `n` and `e` big-endian without leading zeros; `first` is the algorithm to build at once.
    fn new(n: &[u8], e: &[u8], first: Alg) -> Option<RsaMaterial> {
        let material = RsaMaterial {
            n: n.into(),
            e: e.into(),
            parsed: Default::default(),
        };
        material.parsed(first)?;
        Some(material)
    }

    fn parsed(&self, alg: Alg) -> Option<&lc_sig::ParsedPublicKey> {
        let (slot, params) = alg.rsa_params()?;
        self.parsed
            .get(slot)?
            .get_or_init(|| {
                lc_sig::RsaPublicKeyComponents {
                    n: &self.n[..],
                    e: &self.e[..],
                }
                .to_parsed_public_key(params)
                .ok()
            })
            .as_ref()
    }
}

/// A key prepared for one algorithm ([`Key::prepared`]).
pub(crate) enum Prepared<'k> {
    /// An asymmetric public key parsed for that algorithm: `verify_sig` it.
    Public(&'k lc_sig::ParsedPublicKey),
    /// An HMAC key for that algorithm: `hmac::verify` it (constant time).
    Hmac(&'k hmac::Key),
}

impl fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyMaterial([redacted])")
    }
}

/// Where a key came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    Jwks,
    ClientSecret,
}

/// One verification key.
#[derive(Clone)]
pub struct Key {
    kid: Option<String>,
    family: KeyFamily,
    alg: Option<Alg>,
    source: KeySource,
    material: KeyMaterial,
    /// A keyed hash of the key material (for [`KeySet::fingerprint`]; the secret of an HMAC key
    /// is not kept).
    material_id: u64,
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not the material, nor its keyed hash.
        f.debug_struct("Key")
            .field("kid", &self.kid)
            .field("family", &self.family)
            .field("alg", &self.alg)
            .field("source", &self.source)
            .field("material", &self.material)
            .finish_non_exhaustive()
    }
}

impl Key {
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }
    pub fn family(&self) -> KeyFamily {
        self.family
    }
    /// The JWK's own `alg`, when it named one.
    pub fn alg(&self) -> Option<Alg> {
        self.alg
    }
    pub fn source(&self) -> KeySource {
        self.source
    }
    /// May a token signed with `alg` be verified with this key? Only when `alg` belongs to
    /// the key's family and equals the key's own `alg` if it has one.
    pub fn allows(&self, alg: Alg) -> bool {
        alg.family() == self.family && self.alg.map_or(true, |own| own == alg)
    }
    /// The key prepared for `alg`, when this key may verify it ([`Key::allows`]) and aws-lc
    /// accepted the material; `None` means the signature must be refused.
    pub(crate) fn prepared(&self, alg: Alg) -> Option<Prepared<'_>> {
        if !self.allows(alg) {
            return None;
        }
        match &self.material {
            KeyMaterial::Rsa(rsa) => rsa.parsed(alg).map(Prepared::Public),
            KeyMaterial::Parsed { alg: own, key } => (*own == alg).then_some(Prepared::Public(key)),
            KeyMaterial::Hmac(keys) => {
                let (slot, _) = alg.hmac_algorithm()?;
                keys.get(slot)?.as_ref().map(Prepared::Hmac)
            }
        }
    }
}

/// A secret (the OAuth client secret) on its way into a key set. Debug is redacted; the bytes
/// are overwritten when dropped.
pub struct Secret(Vec<u8>);

impl Secret {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Secret {
        Secret(bytes.into())
    }
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        wipe(&mut self.0);
    }
}

/// Overwrites a buffer with zeros in a way the optimiser keeps.
pub(crate) fn wipe(buf: &mut [u8]) {
    zeroize::Zeroize::zeroize(buf);
}

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
    /// to derive cache context ids ([`crate::jwt::Verifier::context_id`]).
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

/// A keyed hash (see [`process_hasher`]) of key material: a `tag` for its kind, then its parts.
fn material_id(tag: u8, parts: &[&[u8]]) -> u64 {
    let mut h = process_hasher().build_hasher();
    tag.hash(&mut h);
    for part in parts {
        part.hash(&mut h);
    }
    h.finish()
}

/// HMAC keys for every algorithm `pinned` allows (all three without a pin).
fn hmac_material(secret: &[u8], pinned: Option<Alg>) -> KeyMaterial {
    let key = |alg: Alg| {
        let (_, algorithm) = alg.hmac_algorithm()?;
        pinned
            .map_or(true, |pin| pin == alg)
            .then(|| hmac::Key::new(algorithm, secret))
    };
    KeyMaterial::Hmac(Box::new([
        key(Alg::HS256),
        key(Alg::HS384),
        key(Alg::HS512),
    ]))
}

/// A per-process randomly keyed hasher (SipHash): fingerprints and context ids.
pub(crate) fn process_hasher() -> &'static RandomState {
    static STATE: OnceLock<RandomState> = OnceLock::new();
    STATE.get_or_init(RandomState::new)
}

/// Makes untrusted text safe for a log line or an error description: printable ASCII except
/// `"` and `\`, everything else as `?`, cut at `max` characters (marked with `...`).
pub(crate) fn printable(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max) + 3);
    for (i, c) in s.chars().enumerate() {
        if i >= max {
            out.push_str("...");
            break;
        }
        if (c.is_ascii_graphic() && c != '"' && c != '\\') || c == ' ' {
            out.push(c);
        } else {
            out.push('?');
        }
    }
    out
}

/// True when `json` never nests arrays/objects deeper than `max`. A linear scan without
/// allocation that runs before serde_json (whose own limit is 128 and recursion-costly).
/// Brackets inside strings do not count. Malformed JSON is left for the parser to refuse.
pub(crate) fn json_depth_within(json: &[u8], max: usize) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in json {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return false;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    true
}

/// Base64url for JWK members: the strict form, tolerating `=` padding (a common mistake in
/// hand-written JWKS files; the key material is the same).
fn jwk_b64(value: &str) -> Option<Vec<u8>> {
    b64url_decode_strict(value.trim_end_matches('=').as_bytes())
}

fn jwk_str<'a>(jwk: &'a Value, name: &str) -> Result<Option<&'a str>, String> {
    match jwk.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("\"{name}\" is not a string")),
    }
}

fn jwk_bytes(jwk: &Value, name: &str) -> Result<Vec<u8>, String> {
    let text = jwk_str(jwk, name)?.ok_or_else(|| format!("\"{name}\" is missing"))?;
    jwk_b64(text).ok_or_else(|| format!("\"{name}\" is not base64url"))
}

fn parse_jwk(jwk: &Value) -> Result<Key, String> {
    if !jwk.is_object() {
        return Err("not an object".into());
    }
    let kty = jwk_str(jwk, "kty")?.ok_or("\"kty\" is missing")?;
    if let Some(usage) = jwk_str(jwk, "use")? {
        if usage != "sig" {
            return Err(format!("\"use\" is {}, not sig", printable(usage, 16)));
        }
    }
    match jwk.get("key_ops") {
        None | Some(Value::Null) => {}
        Some(Value::Array(ops)) => {
            if !ops.iter().any(|op| op.as_str() == Some("verify")) {
                return Err("\"key_ops\" does not include verify".into());
            }
        }
        Some(_) => return Err("\"key_ops\" is not an array".into()),
    }
    let kid = match jwk_str(jwk, "kid")? {
        Some(kid) if kid.len() > MAX_KID_LEN => return Err("\"kid\" is too long".into()),
        Some(kid) => Some(kid.to_owned()),
        None => None,
    };
    let alg = match jwk_str(jwk, "alg")? {
        Some(name) => Some(
            Alg::from_name(name)
                .ok_or_else(|| format!("\"alg\" {} is not supported", printable(name, 16)))?,
        ),
        None => None,
    };

    let (family, material, material_id) = match kty {
        "RSA" => {
            let n = jwk_bytes(jwk, "n")?;
            let e = jwk_bytes(jwk, "e")?;
            let n_trimmed = strip_leading_zeros(&n);
            let bits = n_trimmed.len() * 8
                - n_trimmed
                    .first()
                    .map_or(0, |first| first.leading_zeros() as usize);
            if !(RSA_MIN_BITS..=RSA_MAX_BITS).contains(&bits) {
                return Err(format!(
                    "RSA modulus of {bits} bits is outside {RSA_MIN_BITS}..={RSA_MAX_BITS}"
                ));
            }
            let e_trimmed = strip_leading_zeros(&e);
            if e_trimmed.is_empty() || e_trimmed.len() > 8 {
                return Err("RSA exponent is invalid".into());
            }
            // Only an `alg` of the family counts here; a contradicting one is refused below.
            let first = alg
                .filter(|a| a.family() == KeyFamily::Rsa)
                .unwrap_or(Alg::RS256);
            let material =
                RsaMaterial::new(n_trimmed, e_trimmed, first).ok_or("RSA public key is invalid")?;
            (
                KeyFamily::Rsa,
                KeyMaterial::Rsa(Box::new(material)),
                material_id(1, &[n_trimmed, e_trimmed]),
            )
        }
        "EC" => {
            let crv = jwk_str(jwk, "crv")?.ok_or("\"crv\" is missing")?;
            // JWS ECDSA signatures are the fixed-size `r || s` (RFC 7518 §3.4), never DER.
            let (family, size, algorithm): (_, _, &'static lc_sig::EcdsaVerificationAlgorithm) =
                match crv {
                    "P-256" => (KeyFamily::EcP256, 32, &lc_sig::ECDSA_P256_SHA256_FIXED),
                    "P-384" => (KeyFamily::EcP384, 48, &lc_sig::ECDSA_P384_SHA384_FIXED),
                    other => {
                        return Err(format!(
                            "EC curve {} is not supported",
                            printable(other, 16)
                        ))
                    }
                };
            let x = jwk_bytes(jwk, "x")?;
            let y = jwk_bytes(jwk, "y")?;
            if x.len() != size || y.len() != size {
                return Err(format!("EC {crv} coordinates are not {size} bytes"));
            }
            let mut point = Vec::with_capacity(1 + 2 * size);
            point.push(0x04);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            let Ok(key) = lc_sig::ParsedPublicKey::new(algorithm, &point) else {
                return Err(format!("EC {crv} point is not on the curve"));
            };
            (
                family,
                KeyMaterial::Parsed {
                    alg: if family == KeyFamily::EcP256 {
                        Alg::ES256
                    } else {
                        Alg::ES384
                    },
                    key,
                },
                material_id(0, &[&point]),
            )
        }
        "OKP" => {
            let crv = jwk_str(jwk, "crv")?.ok_or("\"crv\" is missing")?;
            if crv != "Ed25519" {
                return Err(format!("OKP curve {} is not supported", printable(crv, 16)));
            }
            let x = jwk_bytes(jwk, "x")?;
            let parsed = match x.len() {
                32 => lc_sig::ParsedPublicKey::new(&lc_sig::ED25519, &x).ok(),
                _ => None,
            };
            let Some(key) = parsed else {
                return Err("Ed25519 public key is invalid".into());
            };
            (
                KeyFamily::Ed25519,
                KeyMaterial::Parsed {
                    alg: Alg::EdDSA,
                    key,
                },
                material_id(0, &[&x]),
            )
        }
        "oct" => {
            let mut k = jwk_bytes(jwk, "k")?;
            if k.len() < MIN_OCT_KEY_LEN {
                wipe(&mut k);
                return Err(format!("oct key is shorter than {MIN_OCT_KEY_LEN} bytes"));
            }
            let pinned = alg.filter(|a| a.family() == KeyFamily::Hmac);
            let material = hmac_material(&k, pinned);
            let id = material_id(0, &[&k]);
            wipe(&mut k);
            (KeyFamily::Hmac, material, id)
        }
        other => return Err(format!("kty {} is not supported", printable(other, 16))),
    };

    if let Some(alg) = alg {
        if alg.family() != family {
            return Err(format!(
                "\"alg\" {} does not fit a {} key",
                alg.name(),
                family.name()
            ));
        }
    }
    Ok(Key {
        kid,
        family,
        alg,
        source: KeySource::Jwks,
        material,
        material_id,
    })
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    bytes.get(start..).unwrap_or_default()
}

/// Where the provider's published keys stand, for [`verification_keys`].
#[derive(Debug, Clone, Copy)]
pub enum ProviderKeys<'a> {
    /// No `sso_issuer` in this context: no provider publishes keys for it.
    NotConfigured,
    /// A provider is configured, but its JWKS has not been fetched yet.
    Pending,
    /// The provider's current JWKS (possibly empty: authentik without a signing key).
    Known(&'a KeySet),
}

/// Where a key set of [`verification_keys`] comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyOrigin {
    /// The provider's JWKS (discovery).
    Provider,
    /// `sso_jwks_file`.
    File,
    /// The OAuth client secret as an HMAC key.
    ClientSecret,
}

/// The one rule for which keys verify a token (bearer, token cookie, ID token at login),
/// README "Security" → "Which keys verify a token": the provider's published keys (when it
/// publishes any), then `sso_jwks_file`; the client secret only when there is no other key
/// source at all: no `sso_jwks_file`, and either no provider or a provider whose JWKS is
/// known to be empty. While a provider's keys are not yet known, the secret verifies nothing
/// (holding the client secret must never let anyone mint tokens beside real signing keys).
///
/// The sets are tried in order; a later one only when an earlier one has no key for the
/// token's `kid` (see [`crate::jwt::TokenError::is_unknown_kid`]). Empty: nothing verifies
/// (`no_keys`).
pub fn verification_keys<'a>(
    provider: ProviderKeys<'a>,
    jwks_file: Option<&'a KeySet>,
    client_secret: Option<&'a KeySet>,
) -> impl Iterator<Item = (KeyOrigin, &'a KeySet)> {
    let published = match provider {
        ProviderKeys::Known(set) if !set.is_empty() => Some(set),
        _ => None,
    };
    let no_other_source = jwks_file.is_none()
        && match provider {
            ProviderKeys::NotConfigured => true,
            ProviderKeys::Pending => false,
            ProviderKeys::Known(set) => set.is_empty(),
        };
    let secret = client_secret.filter(|s| no_other_source && !s.is_empty());
    [
        published.map(|s| (KeyOrigin::Provider, s)),
        jwks_file
            .filter(|s| !s.is_empty())
            .map(|s| (KeyOrigin::File, s)),
        secret.map(|s| (KeyOrigin::ClientSecret, s)),
    ]
    .into_iter()
    .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7515 A.2's RSA public key.
    pub(crate) const RFC7515_A2_N: &str = "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ";
    /// RFC 7515 A.3's P-256 public key.
    const A3_X: &str = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
    const A3_Y: &str = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
    /// RFC 8037 A.2's Ed25519 public key.
    const ED_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";

    fn jwks(keys: &[Value]) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({ "keys": keys })).unwrap_or_default()
    }

    #[test]
    fn parses_every_family() {
        let doc = jwks(&[
            serde_json::json!({"kty":"RSA","kid":"r","use":"sig","alg":"RS256","n":RFC7515_A2_N,"e":"AQAB"}),
            serde_json::json!({"kty":"EC","kid":"e","crv":"P-256","x":A3_X,"y":A3_Y}),
            serde_json::json!({"kty":"OKP","kid":"d","crv":"Ed25519","x":ED_X}),
            serde_json::json!({"kty":"oct","kid":"h","k":"hJtXIZ2uSN5kbQfbtTNWbpdmhkV8FJG-Onbc6mxCcYg"}),
        ]);
        let set = KeySet::from_jwks(&doc).expect("usable");
        let families: Vec<_> = set.keys().iter().map(Key::family).collect();
        assert_eq!(
            families,
            [
                KeyFamily::Rsa,
                KeyFamily::EcP256,
                KeyFamily::Ed25519,
                KeyFamily::Hmac
            ]
        );
        assert!(set.skipped().is_empty(), "{:?}", set.skipped());
        assert!(set.has_kid("e"));
        assert!(!set.has_kid("zz"));
        let rsa = &set.keys()[0];
        assert!(rsa.allows(Alg::RS256));
        assert!(!rsa.allows(Alg::PS256), "pinned by the JWK's alg");
        assert!(!rsa.allows(Alg::HS256));
        assert!(set.keys()[3].allows(Alg::HS512));
        assert!(!set.keys()[1].allows(Alg::ES384));
    }

    #[test]
    fn skips_unusable_keys_and_says_why() {
        let doc = jwks(&[
            serde_json::json!({"kty":"RSA","kid":"enc","use":"enc","n":RFC7515_A2_N,"e":"AQAB"}),
            serde_json::json!({"kty":"RSA","kid":"conf","alg":"ES256","n":RFC7515_A2_N,"e":"AQAB"}),
            serde_json::json!({"kty":"RSA","kid":"none","alg":"none","n":RFC7515_A2_N,"e":"AQAB"}),
            serde_json::json!({"kty":"RSA","kid":"small","n":"AQAB","e":"AQAB"}),
            serde_json::json!({"kty":"EC","kid":"p521","crv":"P-521","x":A3_X,"y":A3_Y}),
            serde_json::json!({"kty":"EC","kid":"offcurve","crv":"P-256","x":A3_X,"y":A3_X}),
            serde_json::json!({"kty":"OKP","kid":"x448","crv":"Ed448","x":ED_X}),
            serde_json::json!({"kty":"oct","kid":"short","k":"c2hvcnQ"}),
            serde_json::json!({"kty":"weird","kid":"w"}),
            serde_json::json!({"kid":"nokty"}),
            serde_json::json!("not an object"),
            serde_json::json!({"kty":"RSA","kid":"ops","key_ops":["encrypt"],"n":RFC7515_A2_N,"e":"AQAB"}),
            serde_json::json!({"kty":"OKP","kid":"ok","crv":"Ed25519","x":ED_X}),
        ]);
        let set = KeySet::from_jwks(&doc).expect("one usable key");
        assert_eq!(set.len(), 1);
        assert_eq!(set.keys()[0].kid(), Some("ok"));
        assert_eq!(set.skipped().len(), 12, "{:#?}", set.skipped());
        assert!(set.skipped()[0].contains("use"));
        assert!(set.skipped()[1].contains("does not fit"));
        assert!(set.skipped()[5].contains("curve"));
    }

    #[test]
    fn no_usable_keys_is_an_error_with_a_clear_message() {
        let doc = jwks(&[serde_json::json!({"kty":"RSA","use":"enc","n":RFC7515_A2_N,"e":"AQAB"})]);
        let err = KeySet::from_jwks(&doc).expect_err("nothing usable");
        assert!(matches!(err, JwksError::NoUsableKeys { .. }));
        let text = err.to_string();
        assert!(text.contains("no usable"), "{text}");
        assert!(text.contains("not sig"), "{text}");
        assert_eq!(
            KeySet::from_jwks(br#"{"keys":[]}"#)
                .expect_err("empty")
                .to_string(),
            "JWKS has no keys"
        );
        assert_eq!(
            KeySet::from_jwks(b"{}").expect_err("x"),
            JwksError::NotAJwks
        );
        assert!(matches!(
            KeySet::from_jwks(b"{nope").expect_err("x"),
            JwksError::Json(_)
        ));
        let deep = format!("{}{}", "[".repeat(40), "]".repeat(40));
        assert_eq!(
            KeySet::from_jwks(deep.as_bytes()).expect_err("x"),
            JwksError::TooDeep
        );
        let huge = vec![b' '; MAX_JWKS_LEN + 1];
        assert!(matches!(
            KeySet::from_jwks(&huge).expect_err("x"),
            JwksError::TooLarge { .. }
        ));
    }

    #[test]
    fn client_secret_key_set() {
        let secret = Secret::new(b"s3cret-from-authentik".to_vec());
        let set = KeySet::from_client_secret(&secret).expect("a secret is a key set");
        assert_eq!(set.len(), 1);
        assert_eq!(set.keys()[0].source(), KeySource::ClientSecret);
        assert!(set.keys()[0].allows(Alg::HS256));
        assert!(!set.keys()[0].allows(Alg::RS256));
        assert_eq!(
            KeySet::new().add_client_secret(&Secret::new(Vec::new())),
            Err(JwksError::EmptySecret)
        );
        assert_eq!(format!("{secret:?}"), "Secret([redacted])");
        assert!(!format!("{set:?}").contains("s3cret"));
    }

    #[test]
    fn fingerprint_follows_the_keys() {
        let a = KeySet::from_jwks(&jwks(&[
            serde_json::json!({"kty":"OKP","kid":"a","crv":"Ed25519","x":ED_X}),
        ]))
        .expect("ok");
        let a2 = KeySet::from_jwks(&jwks(&[
            serde_json::json!({"kty":"OKP","kid":"a","crv":"Ed25519","x":ED_X}),
        ]))
        .expect("ok");
        let b = KeySet::from_jwks(&jwks(&[
            serde_json::json!({"kty":"OKP","kid":"b","crv":"Ed25519","x":ED_X}),
        ]))
        .expect("ok");
        assert_eq!(a.fingerprint(), a2.fingerprint());
        assert_ne!(a.fingerprint(), b.fingerprint());
        assert_eq!(KeySet::default().fingerprint(), KeySet::new().fingerprint());
        assert_ne!(KeySet::new().fingerprint(), a.fingerprint());
        let mut c = a.clone();
        c.add_client_secret(&Secret::new(b"x".to_vec()))
            .expect("ok");
        assert_ne!(a.fingerprint(), c.fingerprint());
    }

    #[test]
    fn padded_jwk_members_are_tolerated_but_tokens_are_strict() {
        let doc = jwks(&[serde_json::json!({"kty":"OKP","crv":"Ed25519","x":format!("{ED_X}=")})]);
        assert_eq!(KeySet::from_jwks(&doc).expect("ok").len(), 1);
        assert!(b64url_decode_strict(b"QQ==").is_none());
        assert!(
            b64url_decode_strict(b"QR").is_none(),
            "non-canonical trailing bits"
        );
        assert_eq!(b64url_decode_strict(b"QQ"), Some(b"A".to_vec()));
        assert!(b64url_decode_strict(b"Q+").is_none());
    }

    fn verifies(key: &Key, alg: Alg, message: &[u8], signature: &[u8]) -> bool {
        match key.prepared(alg) {
            Some(Prepared::Public(public)) => public.verify_sig(message, signature).is_ok(),
            Some(Prepared::Hmac(secret)) => hmac::verify(secret, message, signature).is_ok(),
            None => false,
        }
    }

    #[test]
    fn keys_are_prepared_for_exactly_their_algorithms() {
        use aws_lc_rs::rand::SystemRandom;
        use aws_lc_rs::signature::{KeyPair, RsaKeyPair};

        let pair = RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("keygen");
        let public = lc_sig::RsaPublicKeyComponents::<Vec<u8>>::from(pair.public_key());
        let b64 = |bytes: &[u8]| B64URL_STRICT.encode(bytes);
        let rsa_jwk =
            serde_json::json!({"kty":"RSA","kid":"r","n":b64(&public.n),"e":b64(&public.e)});
        let mut pinned_jwk = rsa_jwk.clone();
        pinned_jwk["alg"] = serde_json::json!("PS384");
        let set = KeySet::from_jwks(&jwks(&[
            rsa_jwk,
            pinned_jwk,
            serde_json::json!({"kty":"oct","alg":"HS384","k":b64(&[7; 48])}),
            serde_json::json!({"kty":"EC","crv":"P-256","x":A3_X,"y":A3_Y}),
        ]))
        .expect("usable");
        let (rsa, pinned, hs384, ec) = (
            &set.keys()[0],
            &set.keys()[1],
            &set.keys()[2],
            &set.keys()[3],
        );

        let message = b"header.payload";
        let rng = SystemRandom::new();
        let encodings: [(Alg, &'static dyn lc_sig::RsaEncoding); 6] = [
            (Alg::RS256, &lc_sig::RSA_PKCS1_SHA256),
            (Alg::RS384, &lc_sig::RSA_PKCS1_SHA384),
            (Alg::RS512, &lc_sig::RSA_PKCS1_SHA512),
            (Alg::PS256, &lc_sig::RSA_PSS_SHA256),
            (Alg::PS384, &lc_sig::RSA_PSS_SHA384),
            (Alg::PS512, &lc_sig::RSA_PSS_SHA512),
        ];
        for (alg, encoding) in encodings {
            let mut signature = vec![0; pair.public_modulus_len()];
            pair.sign(encoding, &rng, message, &mut signature)
                .expect("sign");
            // Each parsed key checks its own algorithm and no other.
            for (other, _) in encodings {
                assert_eq!(
                    verifies(rsa, other, message, &signature),
                    other == alg,
                    "{alg} as {other}"
                );
            }
            assert_eq!(
                verifies(pinned, alg, message, &signature),
                alg == Alg::PS384,
                "pinned, {alg}"
            );
            assert!(!verifies(rsa, alg, b"header.payloaD", &signature));
        }
        for alg in [Alg::HS256, Alg::ES256, Alg::EdDSA] {
            assert!(rsa.prepared(alg).is_none(), "{alg}");
        }
        assert!(pinned.prepared(Alg::PS256).is_none());

        let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA384, &[7; 48]), message);
        assert!(verifies(hs384, Alg::HS384, message, tag.as_ref()));
        assert!(
            !verifies(hs384, Alg::HS384, message, &tag.as_ref()[..32]),
            "truncated"
        );
        assert!(hs384.prepared(Alg::HS256).is_none() && hs384.prepared(Alg::HS512).is_none());
        assert!(ec.prepared(Alg::ES256).is_some() && ec.prepared(Alg::ES384).is_none());
        assert!(
            !format!("{set:?}").contains("BwcH"),
            "no key bytes in Debug"
        );
    }

    #[test]
    fn rsa_components_aws_lc_refuses_verify_nothing() {
        // aws-lc refuses a component with a leading zero: refused at load, and a slot built
        // later from such components stays empty.
        assert!(RsaMaterial::new(&[0, 1, 2], &[1, 0, 1], Alg::RS256).is_none());
        let broken = RsaMaterial {
            n: vec![0, 1, 2].into(),
            e: vec![1, 0, 1].into(),
            parsed: Default::default(),
        };
        for alg in KeyFamily::Rsa.algorithms() {
            assert!(broken.parsed(*alg).is_none(), "{alg}");
        }
        let key = Key {
            kid: None,
            family: KeyFamily::Rsa,
            alg: None,
            source: KeySource::Jwks,
            material: KeyMaterial::Rsa(Box::new(broken)),
            material_id: 0,
        };
        assert!(key.allows(Alg::RS256) && key.prepared(Alg::RS256).is_none());
    }

    #[test]
    fn fingerprint_follows_secret_material() {
        let oct = |k: &[u8]| {
            KeySet::from_jwks(&jwks(&[
                serde_json::json!({"kty":"oct","kid":"h","k":B64URL_STRICT.encode(k)}),
            ]))
            .expect("ok")
        };
        assert_eq!(oct(&[1; 32]).fingerprint(), oct(&[1; 32]).fingerprint());
        assert_ne!(oct(&[1; 32]).fingerprint(), oct(&[2; 32]).fingerprint());
    }

    #[test]
    fn depth_scanner() {
        assert!(json_depth_within(br#"{"a":[1,{"b":2}]}"#, 3));
        assert!(!json_depth_within(br#"{"a":[1,{"b":2}]}"#, 2));
        assert!(json_depth_within(br#"{"a":"[[[[[[\"[[["}"#, 1));
        assert!(json_depth_within(b"", 0));
    }

    #[test]
    fn printable_is_safe() {
        assert_eq!(printable("a\"b\\c\r\nd\u{7f}é", 100), "a?b?c??d??");
        assert_eq!(printable("abcdef", 3), "abc...");
    }

    #[test]
    fn which_keys_verify() {
        let secret = KeySet::from_client_secret(&Secret::new(b"s3cret".to_vec())).unwrap();
        let file = KeySet::from_jwks(br#"{"keys":[{"kty":"oct","kid":"f","k":"c2VjcmV0LWtleS1mb3ItdGVzdHMtb25seS0xMjM0NTY3OA"}]}"#).unwrap();
        let published = file.clone();
        let empty = KeySet::new();
        let origins =
            |p: ProviderKeys<'_>, f: Option<&KeySet>, s: Option<&KeySet>| -> Vec<KeyOrigin> {
                verification_keys(p, f, s).map(|(o, _)| o).collect()
            };
        use KeyOrigin::*;
        use ProviderKeys::*;
        // The secret alone only when there is no other key source at all.
        assert_eq!(origins(NotConfigured, None, Some(&secret)), [ClientSecret]);
        assert_eq!(origins(Known(&empty), None, Some(&secret)), [ClientSecret]);
        // Never beside real keys, never while the provider's keys are unknown.
        assert_eq!(origins(Known(&published), None, Some(&secret)), [Provider]);
        assert_eq!(
            origins(Pending, None, Some(&secret)),
            Vec::<KeyOrigin>::new()
        );
        assert_eq!(origins(NotConfigured, Some(&file), Some(&secret)), [File]);
        assert_eq!(origins(Known(&empty), Some(&file), Some(&secret)), [File]);
        assert_eq!(origins(Pending, Some(&file), Some(&secret)), [File]);
        assert_eq!(
            origins(Known(&published), Some(&file), Some(&secret)),
            [Provider, File]
        );
        assert_eq!(origins(NotConfigured, None, None), Vec::<KeyOrigin>::new());
    }
}

//! One verification key: a JWK (RFC 7517 §4) parsed and prepared for aws-lc once, or the
//! client secret as an HMAC key; and the [`Secret`] wrapper that wipes it.

use std::fmt;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::OnceLock;

use aws_lc_rs::hmac;
use aws_lc_rs::signature as lc_sig;
use serde_json::Value;

use super::{
    b64url_decode_strict, printable, process_hasher, Alg, KeyFamily, MAX_KID_LEN, MIN_OCT_KEY_LEN,
    RSA_MAX_BITS, RSA_MIN_BITS,
};

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
    pub(super) n: Box<[u8]>,
    pub(super) e: Box<[u8]>,
    pub(super) parsed: [OnceLock<Option<lc_sig::ParsedPublicKey>>; 6],
}

impl RsaMaterial {
    /// `n` and `e` big-endian without leading zeros; `first` is the algorithm to build at once.
    pub(super) fn new(n: &[u8], e: &[u8], first: Alg) -> Option<RsaMaterial> {
        let material = RsaMaterial {
            n: n.into(),
            e: e.into(),
            parsed: Default::default(),
        };
        material.parsed(first)?;
        Some(material)
    }

    pub(super) fn parsed(&self, alg: Alg) -> Option<&lc_sig::ParsedPublicKey> {
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
    pub(super) kid: Option<String>,
    pub(super) family: KeyFamily,
    pub(super) alg: Option<Alg>,
    pub(super) source: KeySource,
    pub(super) material: KeyMaterial,
    /// A keyed hash of the key material (for [`KeySet::fingerprint`]; the secret of an HMAC key
    /// is not kept).
    pub(super) material_id: u64,
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

/// A keyed hash (see [`process_hasher`]) of key material: a `tag` for its kind, then its parts.
pub(super) fn material_id(tag: u8, parts: &[&[u8]]) -> u64 {
    let mut h = process_hasher().build_hasher();
    tag.hash(&mut h);
    for part in parts {
        part.hash(&mut h);
    }
    h.finish()
}

/// HMAC keys for every algorithm `pinned` allows (all three without a pin).
pub(super) fn hmac_material(secret: &[u8], pinned: Option<Alg>) -> KeyMaterial {
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

pub(super) fn parse_jwk(jwk: &Value) -> Result<Key, String> {
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

//! The JWS algorithms (RFC 7518 §3.1, RFC 8037) and the key families that admit them.

use std::fmt;

use aws_lc_rs::hmac;
use aws_lc_rs::signature as lc_sig;

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
    pub(super) fn rsa_params(self) -> Option<(usize, &'static lc_sig::RsaParameters)> {
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
    pub(super) fn hmac_algorithm(self) -> Option<(usize, hmac::Algorithm)> {
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

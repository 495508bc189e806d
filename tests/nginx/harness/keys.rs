//! The test keys (tests/nginx/keys: RSA, EC P-256 and P-384, Ed25519, an HMAC secret, and
//! jwks.json publishing them) and tokens signed with them, for sites that verify tokens
//! without a provider.

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::Value;

use super::repo_root;

/// The issuer of the tokens minted here ([`jwks_sso`] expects it).
pub const ISSUER: &str = "https://auth.example.com/application/o/app/";
/// Their audience, the client id of [`jwks_sso`].
pub const CLIENT_ID: &str = "app-client";

/// A file of tests/nginx/keys.
pub fn key_file(name: &str) -> Vec<u8> {
    std::fs::read(repo_root().join("tests/nginx/keys").join(name)).unwrap()
}

/// tests/nginx/keys/jwks.json: every public key of [`signing_key`].
pub fn jwks_path() -> PathBuf {
    repo_root().join("tests/nginx/keys/jwks.json")
}

/// The directives of a site that verifies tokens of [`ISSUER`] for [`CLIENT_ID`] with the
/// keys of jwks.json (no provider, no `sso_protect`).
pub fn jwks_sso() -> String {
    format!(
        "sso_issuer {ISSUER};\n        sso_client_id {CLIENT_ID};\n        sso_jwks_file {};",
        jwks_path().display()
    )
}

/// Seconds since the epoch.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A token for `alg` signed with the matching test key (kid set unless `kid` is None).
pub fn mint(alg: Algorithm, claims: &Value, kid: Option<&str>) -> String {
    let (key, default_kid) = signing_key(alg);
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned).or(default_kid);
    encode(&header, claims, &key).unwrap()
}

/// The test key for `alg` and the kid jwks.json publishes it under.
pub fn signing_key(alg: Algorithm) -> (EncodingKey, Option<String>) {
    use Algorithm::*;
    match alg {
        RS256 | RS384 | RS512 | PS256 | PS384 | PS512 => (
            EncodingKey::from_rsa_pem(&key_file("rsa-1.pem")).unwrap(),
            Some("rsa-1".into()),
        ),
        ES256 => (
            EncodingKey::from_ec_pem(&key_file("ec-p256.pem")).unwrap(),
            Some("ec-p256".into()),
        ),
        ES384 => (
            EncodingKey::from_ec_pem(&key_file("ec-p384.pem")).unwrap(),
            Some("ec-p384".into()),
        ),
        EdDSA => (
            EncodingKey::from_ed_pem(&key_file("ed-1.pem")).unwrap(),
            Some("ed-1".into()),
        ),
        HS256 | HS384 | HS512 => {
            let k = B64
                .decode(String::from_utf8(key_file("hmac.key")).unwrap().trim())
                .unwrap();
            (EncodingKey::from_secret(&k), Some("hmac-1".into()))
        }
        _ => unreachable!(),
    }
}

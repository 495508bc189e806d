//! Fixed inputs shared by the fuzz targets (fuzz_targets/) and the seed-corpus generator
//! (examples/gen_corpus.rs): one provider's keys, one verifier, one pair of session keys, one
//! clock. A seed sealed or signed by the generator opens or verifies in the targets.
//!
//! The private keys in keys/ are test keys made for this folder only (`openssl genpkey`, see
//! keys/README.md); nothing else trusts them.

use std::sync::OnceLock;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self as sig, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sso_core::jwks::{KeySet, Secret};
use sso_core::jwt::Verifier;
use sso_core::session::SessionKeys;

/// The targets' clock (2023-11-14): tokens and sessions are judged at this instant.
pub const NOW: u64 = 1_700_000_000;
/// An authentik-style issuer (`…/application/o/<slug>/`).
pub const ISSUER: &str = "https://auth.example.com/application/o/app/";
/// The OAuth client id (the session's and flow cookie's `app`), authentik-like.
pub const CLIENT_ID: &str = "Qm3sJ0c1bFz8x2yW4vT7uR9pL5kN6hG0aD1eS2fQ";
/// The client secret: also an HMAC key of the key set (authentik signs HS256 with it when the
/// provider has no signing key).
pub const CLIENT_SECRET: &[u8] =
    b"the-client-secret-of-an-authentik-proxy-provider-0123456789abcdef";
/// Clock skew the verifier allows.
pub const LEEWAY: u64 = 30;
/// Session master keys: the first seals, both open (a rotation in progress).
pub const SESSION_KEYS: [&[u8]; 2] = [
    b"fuzz session key 1: 32+ bytes of test material",
    b"fuzz session key 2 (the previous one, still opens)",
];

pub const RSA_KID: &str = "d2c1a9f0e4b7c3a85f6e1d0b9a8c7f6e";
pub const EC_KID: &str = "ec-p256-2023";
pub const ED_KID: &str = "ed25519-rfc8037";
pub const OCT_KID: &str = "oct-hs256";

const RSA_PK8: &[u8] = include_bytes!("../keys/rsa2048.pk8");
const P256_PK8: &[u8] = include_bytes!("../keys/p256.pk8");
/// RFC 8037 appendix A.1 Ed25519 key pair.
const ED25519_D: &str = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
const ED25519_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
/// A JWKS `oct` key (kid [`OCT_KID`], pinned to HS256).
pub const OCT_KEY: &[u8] = b"an oct key from the jwks, pinned to HS256 (32+ bytes)";

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn b64_decode(s: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(s).expect("fixture base64")
}

pub fn rsa_pair() -> &'static RsaKeyPair {
    static PAIR: OnceLock<RsaKeyPair> = OnceLock::new();
    PAIR.get_or_init(|| RsaKeyPair::from_pkcs8(RSA_PK8).expect("keys/rsa2048.pk8"))
}

pub fn ec_pair() -> &'static EcdsaKeyPair {
    static PAIR: OnceLock<EcdsaKeyPair> = OnceLock::new();
    PAIR.get_or_init(|| {
        EcdsaKeyPair::from_pkcs8(&sig::ECDSA_P256_SHA256_FIXED_SIGNING, P256_PK8)
            .expect("keys/p256.pk8")
    })
}

pub fn ed_pair() -> &'static Ed25519KeyPair {
    static PAIR: OnceLock<Ed25519KeyPair> = OnceLock::new();
    PAIR.get_or_init(|| {
        Ed25519KeyPair::from_seed_and_public_key(&b64_decode(ED25519_D), &b64_decode(ED25519_X))
            .expect("RFC 8037 key")
    })
}

/// The provider's JWKS as authentik publishes it (RSA with `use`/`alg`), plus an EC, an
/// Ed25519 and an `oct` key.
pub fn jwks_json() -> String {
    let rsa = sig::RsaPublicKeyComponents::<Vec<u8>>::from(rsa_pair().public_key());
    let point = ec_pair().public_key().as_ref();
    serde_json::json!({
        "keys": [
            {"kty": "RSA", "alg": "RS256", "use": "sig", "kid": RSA_KID,
             "n": b64(&rsa.n), "e": b64(&rsa.e)},
            {"kty": "EC", "crv": "P-256", "use": "sig", "kid": EC_KID,
             "x": b64(&point[1..33]), "y": b64(&point[33..65])},
            {"kty": "OKP", "crv": "Ed25519", "kid": ED_KID, "x": ED25519_X},
            {"kty": "oct", "alg": "HS256", "kid": OCT_KID, "k": b64(OCT_KEY)},
        ]
    })
    .to_string()
}

/// The JWKS plus the client secret in one set: every key family the verifier has, so one
/// target reaches every verification path (the glue never puts both in one set: see
/// `sso_core::jwks::verification_keys`).
pub fn key_set() -> &'static KeySet {
    static SET: OnceLock<KeySet> = OnceLock::new();
    SET.get_or_init(|| {
        let mut set = KeySet::from_jwks(jwks_json().as_bytes()).expect("fixture key set");
        set.add_client_secret(&Secret::new(CLIENT_SECRET.to_vec()))
            .expect("fixture secret");
        set
    })
}

pub fn verifier() -> &'static Verifier {
    static V: OnceLock<Verifier> = OnceLock::new();
    V.get_or_init(|| Verifier::new(Some(ISSUER.to_owned()), vec![CLIENT_ID.to_owned()], LEEWAY))
}

pub fn session_keys() -> &'static SessionKeys {
    static K: OnceLock<SessionKeys> = OnceLock::new();
    K.get_or_init(|| SessionKeys::from_raw_keys(&SESSION_KEYS).expect("fixture session keys"))
}

/// A signature over `input` for `alg` with the fixture keys: HS* with the client secret
/// (or, with `kid` = [`OCT_KID`], the JWKS `oct` key), RS*/PS* with the RSA key, ES256,
/// EdDSA. `None` for any other name.
pub fn sign(alg: &str, kid: Option<&str>, input: &[u8]) -> Option<Vec<u8>> {
    use aws_lc_rs::hmac;
    let secret = if kid == Some(OCT_KID) {
        OCT_KEY
    } else {
        CLIENT_SECRET
    };
    let hmac_with = |a: hmac::Algorithm| {
        hmac::sign(&hmac::Key::new(a, secret), input)
            .as_ref()
            .to_vec()
    };
    let rsa_with = |enc: &'static dyn sig::RsaEncoding| {
        let pair = rsa_pair();
        let mut out = vec![0; pair.public_modulus_len()];
        pair.sign(enc, &SystemRandom::new(), input, &mut out).ok()?;
        Some(out)
    };
    match alg {
        "HS256" => Some(hmac_with(hmac::HMAC_SHA256)),
        "HS384" => Some(hmac_with(hmac::HMAC_SHA384)),
        "HS512" => Some(hmac_with(hmac::HMAC_SHA512)),
        "RS256" => rsa_with(&sig::RSA_PKCS1_SHA256),
        "RS384" => rsa_with(&sig::RSA_PKCS1_SHA384),
        "RS512" => rsa_with(&sig::RSA_PKCS1_SHA512),
        "PS256" => rsa_with(&sig::RSA_PSS_SHA256),
        "PS384" => rsa_with(&sig::RSA_PSS_SHA384),
        "PS512" => rsa_with(&sig::RSA_PSS_SHA512),
        "ES256" => ec_pair()
            .sign(&SystemRandom::new(), input)
            .ok()
            .map(|s| s.as_ref().to_vec()),
        "EdDSA" => Some(ed_pair().sign(input).as_ref().to_vec()),
        _ => None,
    }
}

/// A compact JWS over the header and claims bytes as given, signed for the header's `alg`
/// (and `kid`) when the header is JSON naming one the fixtures can sign, else with HS256.
pub fn mint(header: &[u8], claims: &[u8]) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_slice(header).ok();
    let field = |name: &str| {
        parsed
            .as_ref()
            .and_then(|h| h.get(name))
            .and_then(|v| v.as_str())
            .map(str::to_owned)
    };
    let alg = field("alg").unwrap_or_else(|| "HS256".to_owned());
    let kid = field("kid");
    let input = format!("{}.{}", b64(header), b64(claims));
    let signature = sign(&alg, kid.as_deref(), input.as_bytes())
        .or_else(|| sign("HS256", None, input.as_bytes()))
        .unwrap_or_default();
    format!("{input}.{}", b64(&signature))
}

/// Splits a fuzz input into at most `n` fields at NUL bytes (the last field keeps any
/// further NULs). Missing fields are empty.
pub fn fields(data: &[u8], n: usize) -> Vec<&[u8]> {
    let mut out: Vec<&[u8]> = data.splitn(n, |&b| b == 0).collect();
    out.resize(n, &[]);
    out
}

/// True when `s` holds no byte that could end or split a log line or a header
/// (CR, LF, NUL, other C0 controls, DEL).
pub fn log_safe(s: &str) -> bool {
    !s.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f)
}

/// What [`Verifier::verify`] promises about a token it accepted, checked on the claims
/// independently parsed from the payload.
pub fn check_verified(v: &sso_core::jwt::Verified) {
    use serde_json::Value;
    let claims: serde_json::Map<String, Value> =
        serde_json::from_str(&v.payload).expect("accepted claims are a JSON object");
    let exp = claims
        .get("exp")
        .and_then(Value::as_f64)
        .expect("exp is a number");
    assert!(
        exp + LEEWAY as f64 > NOW as f64,
        "accepted an expired token: exp {exp}"
    );
    for name in ["nbf", "iat"] {
        if let Some(t) = claims.get(name) {
            let t = t.as_f64().expect("nbf/iat are numbers");
            assert!(
                t <= (NOW + LEEWAY) as f64,
                "accepted {name} {t} in the future"
            );
        }
    }
    assert_eq!(claims.get("iss").and_then(Value::as_str), Some(ISSUER));
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => a == CLIENT_ID,
        Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(CLIENT_ID)),
        _ => false,
    };
    assert!(
        aud_ok,
        "accepted a token not for this client: {:?}",
        claims.get("aud")
    );
    // What the glue does with an accepted token: identity headers, $sso_claim_*.
    check_identity(&v.identity);
    for name in ["sub", "email", "groups", "ak_proxy", "nonce", "missing"] {
        if let Some(value) = v.claim(name) {
            assert!(
                header_safe(&value),
                "$sso_claim_{name} is not header-safe: {value:?}"
            );
        }
    }
    assert_eq!(v.claims().len(), claims.len());
}

/// A refusal's reason is one documented word and its description is log-safe.
pub fn check_token_error(e: &sso_core::jwt::TokenError) {
    let reason = e.reason();
    assert!(
        [
            "malformed",
            "too_large",
            "unsupported_algorithm",
            "no_keys",
            "unknown_key",
            "bad_signature",
            "expired",
            "not_yet_valid",
            "wrong_issuer",
            "wrong_audience",
        ]
        .contains(&reason),
        "undocumented reason {reason:?}"
    );
    let d = e.description();
    assert!(log_safe(&d), "description is not log-safe: {d:?}");
    let s = e.to_string();
    assert!(log_safe(&s), "display is not log-safe: {s:?}");
}

/// True when `s` has no control character at all (C0, DEL, C1): what may go into a header
/// value nginx sends upstream.
pub fn header_safe(s: &str) -> bool {
    !s.chars().any(char::is_control)
}

/// The identity headers rendered from an identity (the glue copies them into every proxied
/// request) have token names and control-free values.
pub fn check_identity(identity: &sso_core::identity::Identity) {
    let block = identity.header_block();
    for i in 0..block.len() {
        let (name, value) = block.get(i).expect("item in range");
        let name = std::str::from_utf8(name).expect("header name is UTF-8");
        assert!(
            sso_core::identity::is_header_token(name),
            "identity header name {name:?} is not a token"
        );
        let value = std::str::from_utf8(value).expect("header value is UTF-8");
        assert!(header_safe(value), "identity header {name} = {value:?}");
    }
}

/// What the glue does with an opened session, and what opening promises: unexpired, an ID
/// token kept only in compact-JWS form, header-safe identity headers, and re-sealing then
/// re-opening gives the same session back (without its ID token when that no longer fits).
pub fn check_session(session: &sso_core::session::Session) {
    use sso_core::session::{is_compact_jws, SessionError};
    assert!(
        session.exp > NOW,
        "opened an expired session: exp {}",
        session.exp
    );
    if let Some(t) = &session.id_token {
        assert!(
            is_compact_jws(t),
            "kept an ID token that is not a compact JWS"
        );
    }
    check_identity(&session.identity);
    for name in ["sub", "email", "groups", "missing"] {
        if let Some(v) = session.claim(name) {
            assert!(
                header_safe(&v),
                "$sso_claim_{name} is not header-safe: {v:?}"
            );
        }
    }
    let _ = session.max_age(NOW);
    let keys = session_keys();
    let chunks = match keys.seal(session, CLIENT_ID) {
        Ok(c) => c,
        Err(SessionError::TooLarge { .. }) => return,
        Err(e) => panic!("re-sealing an opened session failed: {e}"),
    };
    let refs: Vec<&[u8]> = chunks.iter().map(|c| c.as_bytes()).collect();
    let again = keys
        .open(&refs, CLIENT_ID, NOW)
        .expect("a re-sealed session opens");
    if again.id_token.is_none() && session.id_token.is_some() {
        let slim = sso_core::session::Session {
            id_token: None,
            ..session.clone()
        };
        assert_eq!(again, slim, "re-sealed session differs");
    } else {
        assert_eq!(&again, session, "re-sealed session differs");
    }
}

/// The `<` count of the error page template: a page with more has markup from its input.
pub fn check_html_page(page: &str) {
    static TEMPLATE: OnceLock<usize> = OnceLock::new();
    let template = *TEMPLATE.get_or_init(|| {
        sso_core::flow::error_page("Sign-in failed", "x")
            .matches('<')
            .count()
    });
    assert_eq!(
        page.matches('<').count(),
        template,
        "markup in the page: {page:?}"
    );
}

/// The callback checks of the `flow` and `flow_json` targets.
pub fn check_callback(query: &str, cookie: Option<&[u8]>) {
    use sso_core::flow::{callback, parse_callback_query};
    let params = parse_callback_query(query);
    match callback(session_keys(), CLIENT_ID, ISSUER, &params, cookie, NOW) {
        Ok(cb) => {
            assert!(params.error.is_none(), "accepted a provider error");
            assert!(!cb.code.is_empty());
            assert_eq!(Some(&cb.code), params.code.as_ref());
            assert_eq!(
                Some(&cb.flow.state),
                params.state.as_ref(),
                "state mismatch"
            );
            assert!(cb.flow.exp > NOW, "accepted an expired flow");
            if let Some(iss) = &params.iss {
                assert_eq!(iss, ISSUER);
            }
            let _ = format!("{:?}", cb.flow);
        }
        Err(e) => {
            assert!(
                [
                    "provider_error",
                    "malformed",
                    "no_flow_cookie",
                    "expired",
                    "state_mismatch",
                    "wrong_issuer",
                ]
                .contains(&e.reason()),
                "reason {:?}",
                e.reason()
            );
            assert_eq!(e.http_status(), 400);
            let text = e.to_string();
            assert!(log_safe(&text), "error not log-safe: {text:?}");
            check_html_page(&e.html_page());
        }
    }
}

/// Claims that verify at [`NOW`] with [`verifier`]: an authentik-like ID token.
pub fn authentik_claims(nonce: &str) -> serde_json::Value {
    serde_json::json!({
        "iss": ISSUER,
        "sub": "3f1c1b9f6a8e4c2d9b7a5e3c1f0d2b4a6c8e0f1a3b5c7d9e1f2a4b6c8d0e2f4a",
        "aud": CLIENT_ID,
        "exp": NOW + 300,
        "iat": NOW - 5,
        "auth_time": NOW - 60,
        "acr": "goauthentik.io/providers/oauth2/default",
        "amr": ["pwd", "mfa"],
        "nonce": nonce,
        "at_hash": "Vh1dzP2dCn-2hY7lJXWzUw",
        "email": "akadmin@example.com",
        "email_verified": true,
        "name": "authentik Default Admin",
        "given_name": "authentik Default Admin",
        "preferred_username": "akadmin",
        "nickname": "akadmin",
        "groups": ["authentik Admins", "ops"],
        "ak_proxy": {
            "user_attributes": {"additionalHeaders": {"X-Team": "infra"}},
            "is_superuser": true
        },
        "entitlements": ["grafana-admin"],
        "sid": "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b2"
    })
}

/// One valid token per signing key of the fixture set (RS256, ES256, EdDSA, HS256
/// with the JWKS oct key, HS256/HS512 with the client secret).
pub fn fixture_tokens() -> &'static [String] {
    static TOKENS: OnceLock<Vec<String>> = OnceLock::new();
    TOKENS.get_or_init(|| {
        let claims = authentik_claims("n-0S6_WzA2Mj").to_string();
        [
            ("RS256", Some(RSA_KID)),
            ("ES256", Some(EC_KID)),
            ("EdDSA", Some(ED_KID)),
            ("HS256", Some(OCT_KID)),
            ("HS256", None),
            ("HS512", None),
        ]
        .iter()
        .map(|(alg, kid)| {
            let header = match kid {
                Some(k) => serde_json::json!({"alg": alg, "kid": k, "typ": "JWT"}),
                None => serde_json::json!({"alg": alg, "typ": "JWT"}),
            };
            mint(header.to_string().as_bytes(), claims.as_bytes())
        })
        .collect()
    })
}

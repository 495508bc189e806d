use super::*;
use crate::jwks::{KeyFamily, Secret, B64URL_STRICT};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self as sig, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use base64::Engine;
use serde_json::json;
use std::sync::OnceLock;

// ---- vectors -------------------------------------------------------------------------

const RFC7515_PAYLOAD: &str =
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
const RFC7515_EXP: u64 = 1_300_819_380;
const RFC7515_A2_N: &str = "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ";
const RFC7515_A2_SIG: &str = "cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw";
const RFC7515_A3_X: &str = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
const RFC7515_A3_Y: &str = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
const RFC7515_A3_SIG: &str =
    "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";
const RFC8037_D: &str = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
const RFC8037_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
const RFC8037_A4: &str = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";
const RFC7520_HMAC_K: &str = "hJtXIZ2uSN5kbQfbtTNWbpdmhkV8FJG-Onbc6mxCcYg";
const RFC7520_HMAC_KID: &str = "018c0ae5-4d9b-471b-bfd6-eef314bc7037";
const RFC7520_4_4: &str = "eyJhbGciOiJIUzI1NiIsImtpZCI6IjAxOGMwYWU1LTRkOWItNDcxYi1iZmQ2LWVlZjMxNGJjNzAzNyJ9.SXTigJlzIGEgZGFuZ2Vyb3VzIGJ1c2luZXNzLCBGcm9kbywgZ29pbmcgb3V0IHlvdXIgZG9vci4gWW91IHN0ZXAgb250byB0aGUgcm9hZCwgYW5kIGlmIHlvdSBkb24ndCBrZWVwIHlvdXIgZmVldCwgdGhlcmXigJlzIG5vIGtub3dpbmcgd2hlcmUgeW91IG1pZ2h0IGJlIHN3ZXB0IG9mZiB0by4.s0h6KThzkfBBBkLspW1h84VsJZFTsPPqMDA7g1Md7p0";

// ---- minting -------------------------------------------------------------------------

pub(crate) const NOW: u64 = 1_700_000_000;
pub(crate) const ISS: &str = "https://auth.example.com/application/o/app/";
pub(crate) const AUD: &str = "client-id";
pub(crate) const SECRET: &[u8] = b"the-client-secret-of-an-authentik-proxy-provider";

fn b64(bytes: &[u8]) -> String {
    B64URL_STRICT.encode(bytes)
}

fn jwks_of(keys: Vec<Value>) -> KeySet {
    let doc = serde_json::to_vec(&json!({ "keys": keys })).unwrap_or_default();
    KeySet::from_jwks(&doc).expect("test JWKS is usable")
}

/// The RFC 8037 Ed25519 key pair.
fn ed_pair() -> Ed25519KeyPair {
    let d = b64url_decode_strict(RFC8037_D.as_bytes()).unwrap_or_default();
    let x = b64url_decode_strict(RFC8037_X.as_bytes()).unwrap_or_default();
    Ed25519KeyPair::from_seed_and_public_key(&d, &x).expect("RFC 8037 key")
}

fn rsa_pair() -> &'static RsaKeyPair {
    static PAIR: OnceLock<RsaKeyPair> = OnceLock::new();
    PAIR.get_or_init(|| RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("RSA keygen"))
}

fn ec_pair() -> &'static EcdsaKeyPair {
    static PAIR: OnceLock<EcdsaKeyPair> = OnceLock::new();
    PAIR.get_or_init(|| {
        EcdsaKeyPair::generate(&sig::ECDSA_P256_SHA256_FIXED_SIGNING).expect("EC keygen")
    })
}

fn rsa_jwk(kid: &str) -> Value {
    let public = sig::RsaPublicKeyComponents::<Vec<u8>>::from(rsa_pair().public_key());
    json!({"kty":"RSA","kid":kid,"n":b64(&public.n),"e":b64(&public.e)})
}

fn ec_jwk(kid: &str) -> Value {
    let point = ec_pair().public_key().as_ref().to_vec();
    let x = point.get(1..33).unwrap_or_default();
    let y = point.get(33..65).unwrap_or_default();
    json!({"kty":"EC","crv":"P-256","kid":kid,"x":b64(x),"y":b64(y)})
}

/// A key set with one key of each family: kids "rsa", "ec", "ed", plus the client secret.
pub(crate) fn test_keys() -> KeySet {
    let mut set = jwks_of(vec![
        rsa_jwk("rsa"),
        ec_jwk("ec"),
        json!({"kty":"OKP","crv":"Ed25519","kid":"ed","x":RFC8037_X}),
    ]);
    set.add_client_secret(&Secret::new(SECRET.to_vec()))
        .expect("secret");
    set
}

fn signature_for(alg: &str, input: &[u8]) -> Vec<u8> {
    let rng = SystemRandom::new();
    match alg {
        "HS256" => aws_lc_rs::hmac::sign(
            &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, SECRET),
            input,
        )
        .as_ref()
        .to_vec(),
        "HS512" => aws_lc_rs::hmac::sign(
            &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA512, SECRET),
            input,
        )
        .as_ref()
        .to_vec(),
        "EdDSA" => ed_pair().sign(input).as_ref().to_vec(),
        "ES256" => ec_pair()
            .sign(&rng, input)
            .map(|s| s.as_ref().to_vec())
            .unwrap_or_default(),
        "RS256" | "PS256" | "RS512" => {
            let pair = rsa_pair();
            let mut out = vec![0; pair.public_modulus_len()];
            let encoding: &'static dyn sig::RsaEncoding = match alg {
                "RS256" => &sig::RSA_PKCS1_SHA256,
                "RS512" => &sig::RSA_PKCS1_SHA512,
                _ => &sig::RSA_PSS_SHA256,
            };
            pair.sign(encoding, &rng, input, &mut out)
                .expect("RSA sign");
            out
        }
        _ => Vec::new(),
    }
}

/// A compact JWS over arbitrary header and claims JSON text.
fn mint_raw(alg: &str, header: &str, claims: &str) -> String {
    let input = format!("{}.{}", b64(header.as_bytes()), b64(claims.as_bytes()));
    let signature = signature_for(alg, input.as_bytes());
    format!("{input}.{}", b64(&signature))
}

pub(crate) fn mint(header: Value, claims: Value) -> String {
    let alg = header["alg"].as_str().unwrap_or("none").to_owned();
    mint_raw(&alg, &header.to_string(), &claims.to_string())
}

pub(crate) fn good_claims() -> Value {
    json!({
        "iss": ISS, "aud": AUD, "sub": "u-1", "exp": NOW + 300, "iat": NOW - 10,
        "nbf": NOW - 10, "preferred_username": "akadmin", "groups": ["admins", "ops"],
    })
}

pub(crate) fn verifier() -> Verifier {
    Verifier::new(Some(ISS.into()), vec![AUD.into()], 30)
}

fn with(mut claims: Value, name: &str, value: Value) -> Value {
    if let Some(map) = claims.as_object_mut() {
        if value.is_null() {
            map.remove(name);
        } else {
            map.insert(name.into(), value);
        }
    }
    claims
}

fn reason(token: &str) -> &'static str {
    match verifier().verify(&test_keys(), token, NOW) {
        Ok(_) => "ok",
        Err(e) => e.reason(),
    }
}

fn err(token: &str) -> TokenError {
    verifier()
        .verify(&test_keys(), token, NOW)
        .expect_err("must be refused")
}

// ---- RFC vectors ---------------------------------------------------------------------

#[test]
fn rfc7515_a2_rs256() {
    let keys = jwks_of(vec![json!({"kty":"RSA","n":RFC7515_A2_N,"e":"AQAB"})]);
    let token = format!("eyJhbGciOiJSUzI1NiJ9.{RFC7515_PAYLOAD}.{RFC7515_A2_SIG}");
    let signed = check_signature(&keys, &token).expect("A.2 signature verifies");
    assert_eq!(signed.alg, Alg::RS256);
    // Full verification gets past signature, exp and iss, and stops at aud (A.2 has none).
    let v = Verifier::new(Some("joe".into()), vec!["x".into()], 0);
    assert_eq!(
        v.verify(&keys, &token, RFC7515_EXP - 1).map(|_| ()),
        Err(TokenError::WrongAudience { configured: true })
    );
    assert_eq!(
        v.verify(&keys, &token, RFC7515_EXP)
            .map(|_| ())
            .map_err(|e| e.reason()),
        Err("expired")
    );
    // The same signature over a tampered payload.
    let tampered = token.replacen("eyJpc3MiOiJqb2Ui", "eyJpc3MiOiJqb2Ki", 1);
    assert_eq!(
        check_signature(&keys, &tampered).map(|_| ()),
        Err(TokenError::BadSignature)
    );
}

#[test]
fn rfc7515_a3_es256() {
    let keys = jwks_of(vec![
        json!({"kty":"EC","crv":"P-256","x":RFC7515_A3_X,"y":RFC7515_A3_Y}),
    ]);
    let token = format!("eyJhbGciOiJFUzI1NiJ9.{RFC7515_PAYLOAD}.{RFC7515_A3_SIG}");
    let signed = check_signature(&keys, &token).expect("A.3 signature verifies");
    assert_eq!(signed.alg, Alg::ES256);
    let v = Verifier::new(Some("joe".into()), vec!["x".into()], 0);
    assert_eq!(
        v.verify(&keys, &token, RFC7515_EXP - 1).map(|_| ()),
        Err(TokenError::WrongAudience { configured: true })
    );
    // Claiming ES384 instead: no P-384 key is configured.
    let mut wrong = token.clone();
    wrong.replace_range(..20, "eyJhbGciOiJFUzM4NCJ9");
    assert_eq!(
        check_signature(&keys, &wrong)
            .map(|_| ())
            .map_err(|e| e.reason()),
        Err("unknown_key")
    );
}

#[test]
fn rfc8037_a4_ed25519() {
    let keys = jwks_of(vec![json!({"kty":"OKP","crv":"Ed25519","x":RFC8037_X})]);
    let signed = check_signature(&keys, RFC8037_A4).expect("A.4 signature verifies");
    assert_eq!(signed.alg, Alg::EdDSA);
    // Our signer reproduces the RFC's (deterministic) signature.
    let input = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
    assert_eq!(
        format!("{input}.{}", b64(ed_pair().sign(input.as_bytes()).as_ref())),
        RFC8037_A4
    );
    // The payload is not claims: the signature passes, the claims do not.
    assert_eq!(
        verifier().verify(&keys, RFC8037_A4, NOW).map(|_| ()),
        Err(TokenError::Malformed("the claims are not one JSON object"))
    );
    let flipped = RFC8037_A4.replacen(".hgyY", ".hgyZ", 1);
    assert_eq!(
        check_signature(&keys, &flipped).map(|_| ()),
        Err(TokenError::BadSignature)
    );
}

#[test]
fn rfc7520_4_4_hs256_with_kid() {
    let keys = jwks_of(vec![
        json!({"kty":"oct","kid":RFC7520_HMAC_KID,"use":"sig","alg":"HS256","k":RFC7520_HMAC_K}),
    ]);
    let signed = check_signature(&keys, RFC7520_4_4).expect("4.4 signature verifies");
    assert_eq!(signed.kid.as_deref(), Some(RFC7520_HMAC_KID));
    // Another kid: unknown_key (the only key has a kid, so nothing anonymous to fall back on).
    let other = jwks_of(vec![json!({"kty":"oct","kid":"other","k":RFC7520_HMAC_K})]);
    let e = check_signature(&other, RFC7520_4_4)
        .map(|_| ())
        .expect_err("x");
    assert!(e.is_unknown_kid());
    assert_eq!(e.reason(), "unknown_key");
    // An anonymous key with the same secret answers for any kid.
    let anon = jwks_of(vec![json!({"kty":"oct","k":RFC7520_HMAC_K})]);
    assert!(check_signature(&anon, RFC7520_4_4).is_ok());
}

// ---- accepted tokens -----------------------------------------------------------------

#[test]
fn every_family_verifies_end_to_end() {
    for (alg, kid) in [
        ("RS256", Some("rsa")),
        ("RS512", None),
        ("PS256", Some("rsa")),
        ("ES256", Some("ec")),
        ("ES256", None),
        ("EdDSA", Some("ed")),
        ("HS256", None),
        ("HS512", None),
    ] {
        let header = match kid {
            Some(kid) => json!({"alg": alg, "kid": kid, "typ": "JWT"}),
            None => json!({"alg": alg}),
        };
        let token = mint(header, good_claims());
        let v = verifier()
            .verify(&test_keys(), &token, NOW)
            .unwrap_or_else(|e| panic!("{alg} {kid:?}: {e}"));
        assert_eq!(v.alg.name(), alg);
        assert_eq!(v.exp, NOW + 300);
        assert_eq!(v.identity.username, "akadmin");
        assert_eq!(v.identity.groups, ["admins", "ops"]);
        assert_eq!(v.claim("sub").as_deref(), Some("u-1"));
    }
}

#[test]
fn audience_array_and_leeway() {
    let claims = with(good_claims(), "aud", json!(["other", AUD]));
    assert_eq!(reason(&mint(json!({"alg":"HS256"}), claims)), "ok");
    let claims = with(good_claims(), "aud", json!(["other", "more"]));
    assert_eq!(
        reason(&mint(json!({"alg":"HS256"}), claims)),
        "wrong_audience"
    );
    let claims = with(good_claims(), "aud", json!(["other", 7]));
    assert_eq!(reason(&mint(json!({"alg":"HS256"}), claims)), "malformed");
    // Within the 30 s leeway on every side.
    let claims = with(good_claims(), "exp", json!(NOW - 29));
    let claims = with(claims, "nbf", json!(NOW + 29));
    let claims = with(claims, "iat", json!(NOW + 29));
    assert_eq!(reason(&mint(json!({"alg":"HS256"}), claims)), "ok");
    // Fractional NumericDate.
    let claims = with(good_claims(), "exp", json!((NOW + 10) as f64 + 0.5));
    assert_eq!(reason(&mint(json!({"alg":"HS256"}), claims)), "ok");
}

#[test]
fn issuer_is_optional_when_not_configured() {
    let v = Verifier::new(None, vec![AUD.into()], 0);
    let token = mint(
        json!({"alg":"HS256"}),
        with(good_claims(), "iss", Value::Null),
    );
    assert!(v.verify(&test_keys(), &token, NOW).is_ok());
}

// ---- refusals ------------------------------------------------------------------------

#[test]
fn alg_none_is_refused() {
    let claims = b64(good_claims().to_string().as_bytes());
    for header in [
        r#"{"alg":"none"}"#,
        r#"{"alg":"None"}"#,
        r#"{"alg":"NONE"}"#,
    ] {
        let h = b64(header.as_bytes());
        assert_eq!(err(&format!("{h}.{claims}.")), TokenError::AlgNone);
        assert_eq!(err(&format!("{h}.{claims}.c2ln")), TokenError::AlgNone);
        assert_eq!(
            err(&format!("{h}.{claims}.")).reason(),
            "unsupported_algorithm"
        );
    }
    let unknown = mint_raw("HS256", r#"{"alg":"HS1024"}"#, &good_claims().to_string());
    assert_eq!(err(&unknown).reason(), "unsupported_algorithm");
    let not_string = mint_raw("HS256", r#"{"alg":256}"#, &good_claims().to_string());
    assert_eq!(err(&not_string).reason(), "malformed");
    let missing = mint_raw("HS256", r#"{"typ":"JWT"}"#, &good_claims().to_string());
    assert_eq!(err(&missing).reason(), "malformed");
}

#[test]
fn algorithm_confusion_is_refused() {
    // The classic attack: HS256 with the RSA public key (as the attacker can get it) as
    // the HMAC secret, naming the RSA key.
    let rsa = rsa_jwk("rsa");
    let n = b64url_decode_strict(rsa["n"].as_str().unwrap_or("").as_bytes()).unwrap_or_default();
    let header = json!({"alg":"HS256","kid":"rsa"}).to_string();
    let input = format!(
        "{}.{}",
        b64(header.as_bytes()),
        b64(good_claims().to_string().as_bytes())
    );
    for secret in [n.clone(), rsa.to_string().into_bytes()] {
        let mac = aws_lc_rs::hmac::sign(
            &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &secret),
            input.as_bytes(),
        );
        let forged = format!("{input}.{}", b64(mac.as_ref()));
        let e = err(&forged);
        assert_eq!(e.reason(), "unsupported_algorithm", "{e:?}");
        assert!(
            e.description().contains("not allowed for key rsa"),
            "{}",
            e.description()
        );
        // Without the kid and without an HMAC key in the set: no key for HS256.
        let keys = jwks_of(vec![rsa_jwk("rsa")]);
        let header = b64(br#"{"alg":"HS256"}"#);
        let input2 = format!("{header}.{}", b64(good_claims().to_string().as_bytes()));
        let mac2 = aws_lc_rs::hmac::sign(
            &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &secret),
            input2.as_bytes(),
        );
        let forged2 = format!("{input2}.{}", b64(mac2.as_ref()));
        assert_eq!(
            verifier()
                .verify(&keys, &forged2, NOW)
                .map(|_| ())
                .map_err(|e| e.reason()),
            Err("unknown_key")
        );
    }
    // A JWK pinned to RS256 does not verify PS256, even with a valid PS256 signature.
    let mut pinned = rsa_jwk("rsa");
    pinned["alg"] = json!("RS256");
    let keys = jwks_of(vec![pinned]);
    let token = mint(json!({"alg":"PS256","kid":"rsa"}), good_claims());
    assert_eq!(
        verifier()
            .verify(&keys, &token, NOW)
            .map(|_| ())
            .map_err(|e| e.reason()),
        Err("unsupported_algorithm")
    );
    let token = mint(json!({"alg":"PS256"}), good_claims());
    assert_eq!(
        verifier()
            .verify(&keys, &token, NOW)
            .map(|_| ())
            .map_err(|e| e.reason()),
        Err("unsupported_algorithm")
    );
    // ES256 signed by the EC key but claiming the Ed25519 kid.
    let token = mint(json!({"alg":"ES256","kid":"ed"}), good_claims());
    assert_eq!(reason(&token), "unsupported_algorithm");
}

#[test]
fn unknown_kid_and_no_keys() {
    // kid unknown and no anonymous key of the family: unknown_key.
    let token = mint(json!({"alg":"EdDSA","kid":"rotated"}), good_claims());
    let e = err(&token);
    assert_eq!(e.reason(), "unknown_key");
    assert!(e.is_unknown_kid());
    assert!(e.description().contains("rotated"));
    // An unknown kid on an HS256 token falls back on the (anonymous) client secret.
    let token = mint(json!({"alg":"HS256","kid":"whatever"}), good_claims());
    assert_eq!(reason(&token), "ok");
    // No keys at all.
    let token = mint(json!({"alg":"HS256"}), good_claims());
    assert_eq!(
        verifier().verify(&KeySet::new(), &token, NOW).map(|_| ()),
        Err(TokenError::NoKeys)
    );
    let kid_not_string = mint(json!({"alg":"HS256","kid":5}), good_claims());
    assert_eq!(reason(&kid_not_string), "malformed");
}

#[test]
fn crit_is_refused_and_token_keys_are_ignored() {
    let token = mint(json!({"alg":"HS256","crit":["exp"],"exp":1}), good_claims());
    assert_eq!(err(&token), TokenError::CriticalHeader);
    assert_eq!(err(&token).reason(), "malformed");
    let token = mint(json!({"alg":"HS256","crit":[]}), good_claims());
    assert_eq!(err(&token), TokenError::CriticalHeader);
    // An embedded jwk / jku / x5u / x5c changes nothing: the configured keys decide.
    let token = mint(
        json!({"alg":"EdDSA","kid":"ed","jku":"https://evil.example/jwks",
               "x5u":"https://evil.example/cert","x5c":["AAAA"],
               "jwk":{"kty":"OKP","crv":"Ed25519","x":"AAAA"}}),
        good_claims(),
    );
    assert_eq!(reason(&token), "ok");
}

#[test]
fn time_claims() {
    let h = || json!({"alg":"HS256"});
    assert_eq!(
        reason(&mint(h(), with(good_claims(), "exp", json!(NOW - 31)))),
        "expired"
    );
    assert_eq!(
        reason(&mint(h(), with(good_claims(), "exp", json!(NOW - 30)))),
        "expired"
    );
    assert_eq!(
        reason(&mint(h(), with(good_claims(), "exp", json!(-5)))),
        "expired"
    );
    assert_eq!(
        reason(&mint(h(), with(good_claims(), "exp", Value::Null))),
        "malformed"
    );
    assert_eq!(
        reason(&mint(h(), with(good_claims(), "exp", json!("tomorrow")))),
        "malformed"
    );
    let e = err(&mint(h(), with(good_claims(), "nbf", json!(NOW + 31))));
    assert_eq!(e.reason(), "not_yet_valid");
    assert!(e.description().contains("nbf"));
    let e = err(&mint(h(), with(good_claims(), "iat", json!(NOW + 3600))));
    assert_eq!(e.reason(), "not_yet_valid");
    assert!(e.description().contains("iat"), "{}", e.description());
    assert_eq!(
        reason(&mint(h(), with(good_claims(), "iat", json!("x")))),
        "malformed"
    );
    let e = err(&mint(h(), with(good_claims(), "exp", json!(NOW - 100))));
    assert_eq!(e.description(), "the token expired 100 seconds ago");
}

#[test]
fn issuer_checks() {
    let h = || json!({"alg":"HS256"});
    let e = err(&mint(
        h(),
        with(good_claims(), "iss", json!("https://evil.example/")),
    ));
    assert_eq!(e.reason(), "wrong_issuer");
    assert!(!e.description().contains("trailing slash"));
    let e = err(&mint(
        h(),
        with(good_claims(), "iss", json!(ISS.trim_end_matches('/'))),
    ));
    assert_eq!(e.reason(), "wrong_issuer");
    assert!(
        e.description().contains("only by a trailing slash"),
        "{}",
        e.description()
    );
    let e = err(&mint(h(), with(good_claims(), "iss", Value::Null)));
    assert_eq!(e.reason(), "wrong_issuer");
    assert_eq!(
        reason(&mint(h(), with(good_claims(), "iss", json!(1)))),
        "malformed"
    );
}

#[test]
fn audience_checks() {
    let h = || json!({"alg":"HS256"});
    assert_eq!(
        reason(&mint(h(), with(good_claims(), "aud", json!("other")))),
        "wrong_audience"
    );
    assert_eq!(
        reason(&mint(h(), with(good_claims(), "aud", Value::Null))),
        "wrong_audience"
    );
    assert_eq!(
        reason(&mint(h(), with(good_claims(), "aud", json!({})))),
        "malformed"
    );
    // No accepted audience configured: fail closed.
    let v = Verifier::new(Some(ISS.into()), Vec::new(), 30);
    let e = v
        .verify(&test_keys(), &mint(h(), good_claims()), NOW)
        .map(|_| ())
        .expect_err("fail closed");
    assert_eq!(e, TokenError::WrongAudience { configured: false });
}

#[test]
fn structure_and_encoding() {
    let good = mint(json!({"alg":"HS256"}), good_claims());
    let parts: Vec<&str> = good.split('.').collect();
    let [h, p, s] = parts.as_slice() else {
        panic!("three parts")
    };
    for bad in [
        String::new(),
        format!("{h}.{p}"),
        format!("{h}.{p}.{s}.{s}"),
        format!("{h}.{p}.{s}.{s}.{s}"),
        format!("{h}.{p}.{s}="),
        format!("{h}=.{p}.{s}"),
        format!("{h}.{p}+.{s}"),
        format!("{h}.{p}.{s} "),
        format!(" {h}.{p}.{s}"),
        format!("{h}.{p}.{}", s.replace('-', "+")),
        format!("{h}.{p}."),
        format!(".{p}.{s}"),
        format!("{h}..{s}"),
        format!("{h}.{p}.{s}\u{e9}"),
        "a.b.c".to_string(),
        "...".to_string(),
    ] {
        let e = err(&bad);
        assert!(
            matches!(e.reason(), "malformed" | "bad_signature"),
            "{bad:?}: {e:?}"
        );
    }
    assert_eq!(
        err(&format!("{h}.{p}.{s}.{s}.{s}")).description(),
        "malformed token: encrypted tokens (JWE) are not supported"
    );
    // A non-canonical last character (trailing bits set) is not base64url.
    let last = s.chars().last().unwrap_or('A');
    let twisted = if last == 'A' { 'B' } else { 'A' };
    let mut bent = format!("{h}.{p}.{s}");
    bent.pop();
    bent.push(twisted);
    assert!(matches!(reason(&bent), "malformed" | "bad_signature"));
    // Duplicate top-level members.
    let dup = mint_raw(
        "HS256",
        r#"{"alg":"HS256"}"#,
        &format!(
            r#"{{"iss":"{ISS}","aud":"{AUD}","exp":{},"aud":"{AUD}"}}"#,
            NOW + 60
        ),
    );
    assert_eq!(err(&dup).reason(), "malformed");
    let dup_header = mint_raw(
        "HS256",
        r#"{"alg":"HS256","alg":"none"}"#,
        &good_claims().to_string(),
    );
    assert_eq!(err(&dup_header).reason(), "malformed");
    // Claims that are JSON but not an object.
    let array = mint_raw("HS256", r#"{"alg":"HS256"}"#, "[1,2]");
    assert_eq!(err(&array).reason(), "malformed");
    assert_eq!(
        verifier()
            .verify_bytes(&test_keys(), b"\xff\xfe.a.b", NOW)
            .map(|_| ())
            .map_err(|e| e.reason()),
        Err("malformed")
    );
    assert_eq!(
        verifier()
            .verify_bytes(&test_keys(), good.as_bytes(), NOW)
            .map(|_| ()),
        Ok(())
    );
}

#[test]
fn tampering() {
    let good = mint(json!({"alg":"RS256","kid":"rsa"}), good_claims());
    let parts: Vec<&str> = good.split('.').collect();
    let [h, _, s] = parts.as_slice() else {
        panic!("three parts")
    };
    let forged_claims = with(good_claims(), "preferred_username", json!("root"));
    let tampered = format!("{h}.{}.{s}", b64(forged_claims.to_string().as_bytes()));
    assert_eq!(err(&tampered), TokenError::BadSignature);
    let mut sig = b64url_decode_strict(s.as_bytes()).unwrap_or_default();
    if let Some(b) = sig.get_mut(10) {
        *b ^= 1;
    }
    let parts2: Vec<&str> = good.rsplitn(2, '.').collect();
    let input = parts2.get(1).copied().unwrap_or_default();
    assert_eq!(
        err(&format!("{input}.{}", b64(&sig))),
        TokenError::BadSignature
    );
    // Truncated signature.
    assert_eq!(
        err(&format!(
            "{input}.{}",
            b64(sig.get(..100).unwrap_or_default())
        )),
        TokenError::BadSignature
    );
    // The header swapped for another alg the key allows.
    let other_header = b64(br#"{"alg":"RS512","kid":"rsa"}"#);
    let swapped = format!(
        "{other_header}.{}",
        good.split_once('.').map(|x| x.1).unwrap_or("")
    );
    assert_eq!(err(&swapped), TokenError::BadSignature);
}

#[test]
fn size_and_depth_limits() {
    // Over the token limit.
    let big = with(good_claims(), "pad", json!("x".repeat(MAX_TOKEN_LEN)));
    let e = err(&mint(json!({"alg":"HS256"}), big));
    assert_eq!(e.reason(), "too_large");
    assert!(e.description().contains("token"));
    // Over the header limit.
    let e = err(&mint(
        json!({"alg":"HS256","pad":"y".repeat(MAX_HEADER_LEN)}),
        good_claims(),
    ));
    assert_eq!(e.reason(), "too_large");
    assert!(e.description().contains("header"), "{}", e.description());
    // Over the signature limit.
    let h = b64(br#"{"alg":"HS256"}"#);
    let p = b64(good_claims().to_string().as_bytes());
    let e = err(&format!("{h}.{p}.{}", b64(&[7u8; MAX_SIGNATURE_LEN + 1])));
    assert_eq!(e.reason(), "too_large");
    // Too deep: claims (signed, so it is the depth that refuses it) and header.
    let deep = format!(
        r#"{{"iss":"{ISS}","aud":"{AUD}","exp":{},"x":{}1{}}}"#,
        NOW + 60,
        "[".repeat(MAX_JSON_DEPTH + 1),
        "]".repeat(MAX_JSON_DEPTH + 1)
    );
    let e = err(&mint_raw("HS256", r#"{"alg":"HS256"}"#, &deep));
    assert_eq!(e, TokenError::TooDeep { what: "claims" });
    assert_eq!(e.reason(), "too_large");
    let deep_header = format!(
        r#"{{"alg":"HS256","x":{}{}}}"#,
        "[".repeat(40),
        "]".repeat(40)
    );
    assert_eq!(
        err(&mint_raw("HS256", &deep_header, &good_claims().to_string())),
        TokenError::TooDeep { what: "header" }
    );
    // Just under the depth limit is fine.
    let ok_depth = format!(
        r#"{{"iss":"{ISS}","aud":"{AUD}","exp":{},"x":{}1{}}}"#,
        NOW + 60,
        "[".repeat(MAX_JSON_DEPTH - 1),
        "]".repeat(MAX_JSON_DEPTH - 1)
    );
    assert_eq!(
        reason(&mint_raw("HS256", r#"{"alg":"HS256"}"#, &ok_depth)),
        "ok"
    );
}

/// Every error description is header-safe and never repeats the token.
#[test]
fn descriptions_are_safe_under_mutation() {
    let base = mint(json!({"alg":"ES256","kid":"ec\"\\\r\n"}), good_claims());
    let keys = test_keys();
    let v = verifier();
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let alphabet = b"AZaz09-_.=+/\"\\\r\n\0 {}[]:,";
    for round in 0..3000 {
        let mut bytes = base.clone().into_bytes();
        for _ in 0..(1 + next() % 4) {
            let len = bytes.len().max(1) as u64;
            let at = (next() % len) as usize;
            let b = alphabet[(next() % alphabet.len() as u64) as usize];
            match next() % 3 {
                0 => {
                    if let Some(slot) = bytes.get_mut(at) {
                        *slot = b;
                    }
                }
                1 => bytes.insert(at.min(bytes.len()), b),
                _ => {
                    if at < bytes.len() {
                        bytes.remove(at);
                    }
                }
            }
        }
        if let Err(e) = v.verify_bytes(&keys, &bytes, NOW) {
            let d = e.description();
            assert!(
                d.bytes()
                    .all(|c| (0x20..0x7f).contains(&c) && c != b'"' && c != b'\\'),
                "round {round}: {d:?}"
            );
            assert!(d.len() <= 203);
            assert!(!d.contains(&base[..40]));
        }
    }
    // The kid with quotes and CRLF shows up sanitised.
    let token = mint(json!({"alg":"EdDSA","kid":"a\"b\r\nc"}), good_claims());
    let d = err(&token).description();
    assert!(d.contains("a?b??c"), "{d}");
}

#[test]
fn context_ids_separate_locations() {
    use crate::cache::token_context;
    let keys = test_keys();
    let a = token_context(&verifier(), &keys);
    assert_eq!(a, token_context(&verifier(), &keys));
    assert_ne!(
        a,
        token_context(
            &Verifier::new(Some(ISS.into()), vec!["other".into()], 30),
            &keys
        )
    );
    assert_ne!(
        a,
        token_context(&Verifier::new(None, vec![AUD.into()], 30), &keys)
    );
    assert_ne!(
        a,
        token_context(
            &Verifier::new(Some(ISS.into()), vec![AUD.into()], 31),
            &keys
        )
    );
    assert_ne!(a, token_context(&verifier(), &KeySet::new()));
}

/// One error of each kind (also the status counters' tests: `metrics`).
pub(crate) fn one_of_each() -> Vec<TokenError> {
    vec![
        TokenError::TooLarge {
            what: "token",
            len: 1,
            max: 0,
        },
        TokenError::TooDeep { what: "claims" },
        TokenError::Malformed("x"),
        TokenError::CriticalHeader,
        TokenError::AlgNone,
        TokenError::UnsupportedAlgorithm { alg: "X".into() },
        TokenError::AlgorithmNotAllowed {
            alg: Alg::HS256,
            kid: None,
            family: KeyFamily::Rsa,
        },
        TokenError::NoKeys,
        TokenError::UnknownKey {
            kid: None,
            alg: Alg::RS256,
        },
        TokenError::BadSignature,
        TokenError::Expired { exp: 1, now: 2 },
        TokenError::NotYetValid {
            claim: "nbf",
            at: 3,
            now: 2,
        },
        TokenError::WrongIssuer {
            got: None,
            expected: "e".into(),
            trailing_slash: false,
        },
        TokenError::WrongAudience { configured: true },
    ]
}

#[test]
fn reasons_are_the_documented_words() {
    let all = one_of_each();
    let words: std::collections::BTreeSet<&str> = all.iter().map(TokenError::reason).collect();
    let expected: std::collections::BTreeSet<&str> = [
        "too_large",
        "malformed",
        "unsupported_algorithm",
        "no_keys",
        "unknown_key",
        "bad_signature",
        "expired",
        "not_yet_valid",
        "wrong_issuer",
        "wrong_audience",
    ]
    .into_iter()
    .collect();
    assert_eq!(words, expected);
}

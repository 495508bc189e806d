//! OIDC Back-Channel Logout 1.0 §2.6 on real signed logout tokens (Ed25519 and RS256 keys
//! generated here, verified through the public JWKS path the module uses).

use std::sync::OnceLock;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self as sig, Ed25519KeyPair, KeyPair, RsaKeyPair};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use serde_json::{json, Value};
use sso_core::jwks::KeySet;
use sso_core::jwt::TokenError;
use sso_core::logout::{
    logout_token_from_form, LogoutError, LogoutVerifier, Target, EVENT, MAX_AGE_WITHOUT_EXP,
};
use sso_core::revocations::{self, Check, Kind, Probe, Revocations};

const ISS: &str = "http://127.0.0.1:9000/application/o/app/";
const CLIENT: &str = "app-client";
const NOW: u64 = 1_750_000_000;

fn ed_pair(n: usize) -> &'static Ed25519KeyPair {
    static PAIRS: OnceLock<Vec<Ed25519KeyPair>> = OnceLock::new();
    &PAIRS.get_or_init(|| {
        (0..2)
            .map(|_| {
                let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).expect("keygen");
                Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("key")
            })
            .collect()
    })[n]
}

fn rsa_pair() -> &'static RsaKeyPair {
    static PAIR: OnceLock<RsaKeyPair> = OnceLock::new();
    PAIR.get_or_init(|| RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("keygen"))
}

/// The provider's JWKS: the first Ed25519 key ("ed") and the RSA key ("rsa").
fn provider_keys() -> KeySet {
    let rsa = sig::RsaPublicKeyComponents::<Vec<u8>>::from(rsa_pair().public_key());
    let doc = json!({"keys": [
        {"kty": "OKP", "crv": "Ed25519", "kid": "ed", "x": B64.encode(ed_pair(0).public_key().as_ref())},
        {"kty": "RSA", "kid": "rsa", "n": B64.encode(&rsa.n), "e": B64.encode(&rsa.e)},
    ]});
    KeySet::from_jwks(doc.to_string().as_bytes()).expect("JWKS")
}

/// A compact JWS; `signer` "ed" (the provider's key), "other" (an Ed25519 key the provider
/// does not publish, announced with the provider's kid), "rsa", or "none" (unsigned).
fn mint(signer: &str, header: Value, claims: &Value) -> String {
    let input = format!(
        "{}.{}",
        B64.encode(header.to_string()),
        B64.encode(claims.to_string())
    );
    let signature = match signer {
        "ed" => ed_pair(0).sign(input.as_bytes()).as_ref().to_vec(),
        "other" => ed_pair(1).sign(input.as_bytes()).as_ref().to_vec(),
        "rsa" => {
            let pair = rsa_pair();
            let mut out = vec![0; pair.public_modulus_len()];
            pair.sign(
                &sig::RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                input.as_bytes(),
                &mut out,
            )
            .expect("sign");
            out
        }
        _ => Vec::new(),
    };
    format!("{input}.{}", B64.encode(signature))
}

fn good_claims() -> Value {
    json!({
        "iss": ISS, "aud": CLIENT, "iat": NOW - 5, "exp": NOW + 120, "jti": "jti-1",
        "sid": "sid-1", "sub": "user-1", "events": {EVENT: {}},
    })
}

fn edit(mut claims: Value, name: &str, value: Option<Value>) -> Value {
    let map = claims.as_object_mut().expect("object");
    match value {
        Some(v) => map.insert(name.to_owned(), v),
        None => map.remove(name),
    };
    claims
}

fn ed_header() -> Value {
    json!({"alg": "EdDSA", "kid": "ed", "typ": "logout+jwt"})
}

fn verify(token: &str) -> Result<sso_core::logout::LogoutToken, LogoutError> {
    let keys = provider_keys();
    LogoutVerifier::new(ISS, CLIENT, 30).verify([&keys], token, NOW)
}

fn refusal(claims: Value) -> LogoutError {
    verify(&mint("ed", ed_header(), &claims)).expect_err("refused")
}

#[test]
fn a_good_token_names_the_session_and_its_jti() {
    let got = verify(&mint("ed", ed_header(), &good_claims())).expect("accepted");
    assert_eq!(
        got.target,
        Target::Session {
            sid: "sid-1".into(),
            sub: Some("user-1".into())
        }
    );
    assert_eq!(got.jti, "jti-1");
    assert_eq!((got.iat, got.exp), (NOW - 5, Some(NOW + 120)));
    // replay refused for as long as the token is accepted
    assert_eq!(got.replay_until(30), NOW + 150);
    assert!(got.replay_id(ISS).ends_with(b"jti-1"));
    assert_ne!(got.replay_id(ISS), got.replay_id("https://other/"));
    // RS256 and typ spelled as a full media type, in another case
    let rsa = mint(
        "rsa",
        json!({"alg": "RS256", "kid": "rsa", "typ": "application/Logout+JWT"}),
        &good_claims(),
    );
    assert!(verify(&rsa).is_ok());
    // no typ at all, aud as an array
    let plain = mint(
        "ed",
        json!({"alg": "EdDSA", "kid": "ed"}),
        &edit(good_claims(), "aud", Some(json!(["x", CLIENT]))),
    );
    assert!(verify(&plain).is_ok());
}

#[test]
fn a_token_with_only_sub_covers_the_sessions_issued_until_its_iat() {
    let got = verify(&mint("ed", ed_header(), &edit(good_claims(), "sid", None))).expect("ok");
    assert_eq!(
        got.target,
        Target::Subject {
            sub: "user-1".into(),
            issued_through: NOW - 5
        }
    );
    // recorded in the revocation table, it refuses older sessions of that user only
    let region = revocations::heap_region(revocations::bytes_for(16));
    let table = Revocations::format(&region).expect("table");
    let r = got.revocation(ISS, 86_400, NOW);
    assert_eq!(r.expires, NOW - 5 + 86_400);
    table.revoke(r, NOW);
    let session = |issued| Probe::new(ISS, Some(b"any"), Some(b"user-1"), issued);
    assert_eq!(
        table.check(&session(NOW - 3600), NOW),
        Check::Revoked(Kind::Subject)
    );
    assert_eq!(table.check(&session(NOW), NOW), Check::Clear);
    // and a sid token revokes that session
    let sid = verify(&mint("ed", ed_header(), &good_claims())).expect("ok");
    table.revoke(sid.revocation(ISS, 86_400, NOW), NOW);
    let p = Probe::new(ISS, Some(b"sid-1"), Some(b"user-1"), NOW);
    assert_eq!(table.check(&p, NOW + 10), Check::Revoked(Kind::Session));
}

#[test]
fn unsigned_tokens_are_refused() {
    let e = verify(&mint(
        "none",
        json!({"alg": "none", "typ": "logout+jwt"}),
        &good_claims(),
    ))
    .expect_err("refused");
    assert_eq!(e, LogoutError::Token(TokenError::AlgNone));
    // alg none with an empty signature part, and a token with the signature cut off
    let token = mint("ed", ed_header(), &good_claims());
    let cut = &token[..token.rfind('.').expect("dot") + 1];
    assert!(matches!(
        verify(cut),
        Err(LogoutError::Token(TokenError::Malformed(_)))
    ));
}

#[test]
fn a_token_signed_by_another_key_is_refused() {
    let e = verify(&mint("other", ed_header(), &good_claims())).expect_err("refused");
    assert_eq!(e, LogoutError::Token(TokenError::BadSignature));
    // also without exp (the path that checks claims itself must not skip the signature)
    let e = verify(&mint(
        "other",
        ed_header(),
        &edit(good_claims(), "exp", None),
    ))
    .expect_err("refused");
    assert_eq!(e, LogoutError::Token(TokenError::BadSignature));
    // an unknown kid is reported as such (the glue re-fetches the JWKS)
    let e = verify(&mint(
        "other",
        json!({"alg": "EdDSA", "kid": "rotated", "typ": "logout+jwt"}),
        &good_claims(),
    ))
    .expect_err("refused");
    assert!(e.is_unknown_kid(), "{e}");
}

#[test]
fn a_token_for_another_audience_or_issuer_is_refused() {
    let e = refusal(edit(good_claims(), "aud", Some(json!("another-client"))));
    assert_eq!(e.reason(), "wrong_audience");
    let e = refusal(edit(
        good_claims(),
        "iss",
        Some(json!("https://evil.example/")),
    ));
    assert_eq!(e.reason(), "wrong_issuer");
    // the same without exp
    let no_exp = edit(good_claims(), "exp", None);
    let e = refusal(edit(no_exp.clone(), "aud", Some(json!(["another-client"]))));
    assert_eq!(e.reason(), "wrong_audience");
    let e = refusal(edit(
        no_exp.clone(),
        "iss",
        Some(json!(ISS.trim_end_matches('/'))),
    ));
    assert_eq!(e.reason(), "wrong_issuer");
    assert!(e.description().contains("trailing slash"), "{e}");
    let e = refusal(edit(no_exp, "aud", None));
    assert_eq!(e.reason(), "wrong_audience");
}

#[test]
fn an_expired_token_is_refused() {
    let e = refusal(edit(good_claims(), "exp", Some(json!(NOW - 31))));
    assert_eq!(e.reason(), "expired");
    // iat in the future
    let e = refusal(edit(good_claims(), "iat", Some(json!(NOW + 600))));
    assert_eq!(e.reason(), "not_yet_valid");
    // without exp: accepted for a while after iat, then refused
    let no_exp = edit(good_claims(), "exp", None);
    let ok = verify(&mint("ed", ed_header(), &no_exp)).expect("recent, no exp");
    assert_eq!(ok.exp, None);
    assert_eq!(ok.replay_until(30), NOW - 5 + MAX_AGE_WITHOUT_EXP + 30);
    let old = edit(
        no_exp.clone(),
        "iat",
        Some(json!(NOW - MAX_AGE_WITHOUT_EXP - 31)),
    );
    assert!(matches!(refusal(old), LogoutError::TooOld { .. }));
    let future = edit(no_exp, "iat", Some(json!(NOW + 600)));
    assert_eq!(refusal(future).reason(), "not_yet_valid");
}

#[test]
fn a_token_carrying_a_nonce_is_refused() {
    assert_eq!(
        refusal(edit(good_claims(), "nonce", Some(json!("n-1")))),
        LogoutError::Nonce
    );
}

#[test]
fn a_token_lacking_the_event_is_refused() {
    assert_eq!(
        refusal(edit(good_claims(), "events", None)),
        LogoutError::NoEvents
    );
    assert_eq!(
        refusal(edit(good_claims(), "events", Some(json!([EVENT])))),
        LogoutError::NoEvents
    );
    assert_eq!(
        refusal(edit(
            good_claims(),
            "events",
            Some(json!({"http://schemas.openid.net/event/other": {}}))
        )),
        LogoutError::NoLogoutEvent
    );
    assert_eq!(
        refusal(edit(good_claims(), "events", Some(json!({EVENT: "yes"})))),
        LogoutError::EventNotObject
    );
}

#[test]
fn a_token_lacking_both_sid_and_sub_is_refused() {
    let neither = edit(edit(good_claims(), "sid", None), "sub", None);
    assert_eq!(refusal(neither), LogoutError::NoSidOrSub);
    assert_eq!(
        refusal(edit(good_claims(), "sid", Some(json!(42)))),
        LogoutError::BadClaim { claim: "sid" }
    );
    assert_eq!(
        refusal(edit(good_claims(), "sub", Some(json!("")))),
        LogoutError::BadClaim { claim: "sub" }
    );
}

#[test]
fn a_token_of_another_type_is_refused() {
    for typ in [json!("JWT"), json!("at+jwt"), json!(1)] {
        let header = json!({"alg": "EdDSA", "kid": "ed", "typ": typ});
        let e = verify(&mint("ed", header, &good_claims())).expect_err("refused");
        assert_eq!(e, LogoutError::WrongType, "{typ}");
    }
}

#[test]
fn a_token_without_jti_or_iat_is_refused() {
    assert_eq!(
        refusal(edit(good_claims(), "jti", None)),
        LogoutError::NoJti
    );
    assert_eq!(
        refusal(edit(good_claims(), "jti", Some(json!("")))),
        LogoutError::NoJti
    );
    assert_eq!(
        refusal(edit(good_claims(), "jti", Some(json!(7)))),
        LogoutError::NoJti
    );
    assert_eq!(
        refusal(edit(good_claims(), "iat", None)),
        LogoutError::NoIssuedAt
    );
    let neither = edit(edit(good_claims(), "iat", None), "exp", None);
    assert_eq!(refusal(neither), LogoutError::NoIssuedAt);
}

#[test]
fn every_refusal_is_distinct_and_answers_rfc6749_json() {
    let errors = [
        verify(&mint("none", json!({"alg": "none"}), &good_claims())).expect_err("e"),
        verify(&mint("other", ed_header(), &good_claims())).expect_err("e"),
        refusal(edit(good_claims(), "aud", Some(json!("x")))),
        refusal(edit(good_claims(), "exp", Some(json!(NOW - 100)))),
        refusal(edit(good_claims(), "nonce", Some(json!("n")))),
        refusal(edit(good_claims(), "events", None)),
        refusal(edit(good_claims(), "events", Some(json!({"x": {}})))),
        refusal(edit(edit(good_claims(), "sid", None), "sub", None)),
        refusal(edit(good_claims(), "jti", None)),
        verify(&mint(
            "ed",
            json!({"alg": "EdDSA", "kid": "ed", "typ": "JWT"}),
            &good_claims(),
        ))
        .expect_err("e"),
    ];
    let mut descriptions: Vec<String> = Vec::new();
    for e in &errors {
        let body: Value = serde_json::from_str(&e.json_body()).expect("JSON");
        assert_eq!(body["error"], "invalid_request", "{e}");
        let d = body["error_description"]
            .as_str()
            .expect("description")
            .to_owned();
        assert!(d.bytes().all(|b| (0x20..0x7f).contains(&b)), "{d}");
        assert!(!descriptions.contains(&d), "{d} twice");
        descriptions.push(d);
    }
}

#[test]
fn the_form_field_is_read_exactly_once() {
    let token = mint("ed", ed_header(), &good_claims());
    let form = format!("logout_token={token}");
    assert_eq!(logout_token_from_form(form.as_bytes()), Ok(token.clone()));
    let encoded = format!("a=1&logout%5Ftoken={}&b", token.replace('.', "%2E"));
    assert_eq!(
        logout_token_from_form(encoded.as_bytes()),
        Ok(token.clone())
    );
    assert_eq!(logout_token_from_form(b""), Err(LogoutError::NoToken));
    assert_eq!(
        logout_token_from_form(b"logout_token="),
        Err(LogoutError::NoToken)
    );
    assert_eq!(
        logout_token_from_form(b"id_token=x"),
        Err(LogoutError::NoToken)
    );
    assert_eq!(
        logout_token_from_form(b"logout_token=a&logout_token=b"),
        Err(LogoutError::SeveralTokens)
    );
    assert_eq!(
        logout_token_from_form(b"logout_token=%ff"),
        Err(LogoutError::FormMalformed)
    );
    let big = vec![b'a'; sso_core::logout::MAX_FORM_LEN + 1];
    assert!(matches!(
        logout_token_from_form(&big),
        Err(LogoutError::FormTooLarge { .. })
    ));
}

#[test]
fn key_sets_are_tried_in_order_on_an_unknown_kid() {
    // A second set holding the key the first lacks (sso_jwks_file after the provider's).
    let rotated = json!({"keys": [
        {"kty": "OKP", "crv": "Ed25519", "kid": "new", "x": B64.encode(ed_pair(1).public_key().as_ref())},
    ]});
    let second = KeySet::from_jwks(rotated.to_string().as_bytes()).expect("JWKS");
    let first = provider_keys();
    let token = mint(
        "other",
        json!({"alg": "EdDSA", "kid": "new", "typ": "logout+jwt"}),
        &good_claims(),
    );
    let v = LogoutVerifier::new(ISS, CLIENT, 30);
    assert!(v
        .verify([&first], &token, NOW)
        .expect_err("unknown")
        .is_unknown_kid());
    assert!(v.verify([&first, &second], &token, NOW).is_ok());
    assert_eq!(
        v.verify(std::iter::empty(), &token, NOW),
        Err(LogoutError::Token(TokenError::NoKeys))
    );
}

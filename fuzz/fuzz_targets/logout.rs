//! Back-channel logout (`sso_core::logout`): `header NUL claims NUL form`. The header and
//! claims are signed by the harness with the fixture keys (as in `jwt_claims`), so the bytes
//! reach the logout token's own checks; the form is parsed as a POST body. Checks: no panic;
//! an accepted token holds what §2.6 requires, read back independently from the claims; every
//! refusal has a printable description and an RFC 6749 JSON body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use sso_core::logout::{logout_token_from_form, LogoutError, LogoutVerifier, Target, EVENT};
use sso_fuzz::{fields, key_set, log_safe, mint, CLIENT_ID, ISSUER, LEEWAY, NOW};

fn check_error(e: &LogoutError) {
    assert!(log_safe(&e.description()), "{e:?}");
    let body: Value = serde_json::from_str(&e.json_body()).expect("JSON body");
    assert_eq!(body["error"], "invalid_request");
    assert!(body["error_description"].is_string());
}

fuzz_target!(|data: &[u8]| {
    let f = fields(data, 3);
    let verifier = LogoutVerifier::new(ISSUER, CLIENT_ID, LEEWAY);
    match logout_token_from_form(f[2]) {
        Ok(token) => {
            assert!(!token.is_empty());
            if let Err(e) = verifier.verify([key_set()], &token, NOW) {
                check_error(&e);
            }
        }
        Err(e) => check_error(&e),
    }
    let token = mint(f[0], f[1]);
    match verifier.verify([key_set()], &token, NOW) {
        Ok(t) => {
            let claims: serde_json::Map<String, Value> =
                serde_json::from_slice(f[1]).expect("accepted claims are a JSON object");
            assert_eq!(claims.get("iss").and_then(Value::as_str), Some(ISSUER));
            let aud_ok = match claims.get("aud") {
                Some(Value::String(a)) => a == CLIENT_ID,
                Some(Value::Array(l)) => l.iter().any(|a| a.as_str() == Some(CLIENT_ID)),
                _ => false,
            };
            assert!(aud_ok, "aud");
            assert!(!claims.contains_key("nonce"));
            assert!(claims["events"][EVENT].is_object());
            assert_eq!(claims.get("jti").and_then(Value::as_str), Some(t.jti.as_str()));
            assert!(!t.jti.is_empty());
            assert!(t.iat <= NOW + LEEWAY);
            assert!(t.replay_until(LEEWAY) + LEEWAY >= NOW);
            match &t.target {
                Target::Session { sid, .. } => {
                    assert_eq!(claims.get("sid").and_then(Value::as_str), Some(sid.as_str()))
                }
                Target::Subject { sub, issued_through } => {
                    assert!(claims.get("sid").is_none());
                    assert_eq!(claims.get("sub").and_then(Value::as_str), Some(sub.as_str()));
                    assert_eq!(*issued_through, t.iat);
                }
            }
        }
        Err(e) => check_error(&e),
    }
});

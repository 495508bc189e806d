use super::key::{KeyMaterial, RsaMaterial};
use super::*;
use aws_lc_rs::hmac;
use aws_lc_rs::signature as lc_sig;
use base64::Engine;

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
    let rsa_jwk = serde_json::json!({"kty":"RSA","kid":"r","n":b64(&public.n),"e":b64(&public.e)});
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
    let origins = |p: ProviderKeys<'_>, f: Option<&KeySet>, s: Option<&KeySet>| -> Vec<KeyOrigin> {
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

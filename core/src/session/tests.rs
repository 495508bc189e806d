use super::*;
use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use base64::engine::general_purpose::STANDARD_NO_PAD;

const K1: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const K2: &str = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";

pub(crate) fn keys() -> SessionKeys {
    SessionKeys::parse(K1.as_bytes()).unwrap()
}

#[test]
fn only_compact_jws_id_tokens_survive_opening() {
    assert!(is_compact_jws("eyJh.eyJ-_0.c2ln"));
    for bad in ["", "a b.c.d", "a.b.c\r\nX-Evil: 1", "a.b.c\u{85}", "a=.b.c"] {
        assert!(!is_compact_jws(bad), "{bad:?}");
    }
    let keys = SessionKeys::from_raw_keys(&[[7u8; 32].as_slice()]).unwrap();
    let now = 1_800_000_000;
    for (id_token, kept) in [("eyJh.eyJi.c2ln", true), ("eyJh.eyJi.c2ln\r\nX: y", false)] {
        let mut s = sample(now);
        s.id_token = Some(id_token.into());
        let chunks = keys.seal(&s, "app").unwrap();
        let refs: Vec<&[u8]> = chunks.iter().map(|c| c.as_bytes()).collect();
        let opened = keys.open(&refs, "app", now + 1).unwrap();
        assert_eq!(opened.id_token.is_some(), kept, "{id_token:?}");
        assert_eq!(opened.identity, s.identity);
    }
}

fn sample(now: u64) -> Session {
    Session::new(
        Identity {
            username: "akadmin".into(),
            email: "root@example.com".into(),
            name: "authentik Default Admin".into(),
            uid: "f1d6c1c0a3b24d5c9c7e0b7d7e2b9a4f0e6c1d2b3a4f5e6d7c8b9a0f1e2d3c4b".into(),
            groups: vec!["authentik Admins".into(), "users".into()],
            entitlements: vec!["app-admin".into()],
            ..Identity::default()
        },
        now,
        86_400,
        None,
    )
}

fn refs(v: &[String]) -> Vec<&[u8]> {
    v.iter().map(|s| s.as_bytes()).collect()
}

/// Deterministic pseudo-random group names, 20–40 characters.
fn groups(n: usize) -> Vec<String> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let alphabet = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -_";
    (0..n)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = 20 + (x % 21) as usize;
            let mut s = format!("authentik Team-{i}-");
            while s.len() < len {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                s.push(alphabet[(x % alphabet.len() as u64) as usize] as char);
            }
            s
        })
        .collect()
}

#[test]
fn round_trip() {
    let k = keys();
    let s = sample(1000);
    let v = k.seal(&s, "client-a").unwrap();
    assert_eq!(v.len(), 1);
    assert!(v[0]
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    assert_eq!(k.open(&refs(&v), "client-a", 1001).unwrap(), s);
    // fresh nonce every time
    assert_ne!(k.seal(&s, "client-a").unwrap(), v);
}

#[test]
fn round_trip_with_id_token() {
    let k = keys();
    let mut s = sample(1000);
    s.id_token = Some("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln".into());
    let v = k.seal(&s, "c").unwrap();
    assert_eq!(k.open(&refs(&v), "c", 1001).unwrap(), s);
}

#[test]
fn oversized_id_token_not_kept() {
    let s = Session::new(
        Identity::default(),
        0,
        10,
        Some("x".repeat(MAX_ID_TOKEN_LEN + 1)),
    );
    assert_eq!(s.id_token, None);
}

#[test]
fn rotation() {
    let old = SessionKeys::parse(K1.as_bytes()).unwrap();
    let v = old.seal(&sample(10), "c").unwrap();
    let rotated = SessionKeys::parse(format!("# new first\n{K2}\n\n{K1}\n").as_bytes()).unwrap();
    assert_eq!(rotated.len(), 2);
    assert!(rotated.open(&refs(&v), "c", 11).is_ok());
    // new sessions are sealed with the new key: the old key alone cannot open them
    let v2 = rotated.seal(&sample(10), "c").unwrap();
    assert_eq!(old.open(&refs(&v2), "c", 11), Err(SessionError::Malformed));
    // once the old key is removed, old cookies are refused
    let only_new = SessionKeys::parse(K2.as_bytes()).unwrap();
    assert_eq!(
        only_new.open(&refs(&v), "c", 11),
        Err(SessionError::Malformed)
    );
}

#[test]
fn wrong_app_refused() {
    let k = keys();
    let v = k.seal(&sample(10), "client-a").unwrap();
    let e = k.open(&refs(&v), "client-b", 11).unwrap_err();
    assert_eq!(e.reason(), "malformed");
    assert!(k.open(&refs(&v), "client-a", 11).is_ok());
}

#[test]
fn bound_to_client_and_issuer() {
    let k = keys();
    let iss = "https://auth.example.com/application/o/app/";
    let v = k.seal(&sample(10), &binding("app", iss)).unwrap();
    assert!(k.open(&refs(&v), &binding("app", iss), 11).is_ok());
    for other in [
        binding("app", "https://evil.example.com/application/o/app/"),
        binding("app", "https://auth.example.com/application/o/app"),
        binding("other", iss),
        binding("app", ""),
    ] {
        assert!(k.open(&refs(&v), &other, 11).is_err(), "{other:?}");
    }
}

#[test]
fn flow_value_not_openable_as_session() {
    let k = keys();
    let json = sample(10).encode();
    let flow = k.seal_value(Purpose::Flow, "c", &json).unwrap();
    assert_eq!(
        k.open(&[flow.as_bytes()], "c", 11),
        Err(SessionError::Malformed)
    );
    let sess = k.seal(&sample(10), "c").unwrap();
    assert!(k.open_value(Purpose::Flow, "c", &refs(&sess)).is_err());
}

#[test]
fn expiry() {
    let k = keys();
    let s = sample(1000);
    let v = k.seal(&s, "c").unwrap();
    assert!(k.open(&refs(&v), "c", s.exp - 1).is_ok());
    let e = k.open(&refs(&v), "c", s.exp).unwrap_err();
    assert_eq!(e, SessionError::Expired);
    assert_eq!(e.reason(), "expired");
}

#[test]
fn tampered_truncated_garbage_refused() {
    let k = keys();
    let v = k.seal(&sample(10), "c").unwrap();
    let s = &v[0];
    for i in 0..s.len() {
        let mut b = s.clone().into_bytes();
        b[i] = if b[i] == b'A' { b'B' } else { b'A' };
        assert!(k.open(&[&b], "c", 11).is_err(), "flip at {i}");
    }
    for cut in [0, 1, 5, 16, 30, s.len() - 1] {
        assert_eq!(
            k.open(&[&s.as_bytes()[..cut]], "c", 11),
            Err(SessionError::Malformed)
        );
    }
    for junk in [
        &b""[..],
        b"=",
        b"%%%",
        b"\xff\xfe",
        b"AAAA",
        &[b'A'; 5000][..],
    ] {
        assert!(k.open(&[junk], "c", 11).is_err());
    }
    assert!(k.open(&[], "c", 11).is_err());
}

fn big_session() -> Session {
    let mut s = sample(1000);
    s.identity.groups = groups(200);
    s
}

#[test]
fn two_hundred_groups_fit() {
    let k = keys();
    let s = big_session();
    let raw = s.encode().len();
    let v = k.seal(&s, "c").unwrap();
    let total: usize = v.iter().map(String::len).sum();
    eprintln!(
        "200 groups: payload {raw} bytes -> {} chunk(s), {total} bytes",
        v.len()
    );
    assert!(v.len() <= MAX_CHUNKS);
    assert!(v.len() <= 2, "should fit two chunks (nginx 8k header line)");
    assert!(v.iter().all(|c| c.len() <= CHUNK_LEN));
    assert_eq!(k.open(&refs(&v), "c", 1001).unwrap(), s);
}

#[test]
fn two_hundred_random_groups_fit() {
    // worst case: no shared prefix, 20-40 random characters each
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let alphabet = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -_";
    let mut s = sample(1000);
    s.identity.groups = (0..200)
        .map(|_| {
            let len = 20 + (next() % 21) as usize;
            (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize] as char)
                .collect()
        })
        .collect();
    s.id_token = Some(random_jws(700));
    let k = keys();
    let v = k.seal(&s, "c").unwrap();
    let total: usize = v.iter().map(String::len).sum();
    eprintln!(
        "200 random groups + 1 KB id_token -> {} chunk(s), {total} bytes",
        v.len()
    );
    assert!(v.len() <= 3 && v.iter().all(|c| c.len() <= CHUNK_LEN));
    assert_eq!(k.open(&refs(&v), "c", 1001).unwrap(), s);
}

#[test]
fn arbitrary_input_never_panics() {
    let k = keys();
    let mut x: u64 = 1;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let valid = k.seal(&sample(1), "c").unwrap().remove(0).into_bytes();
    for round in 0..3000 {
        let len = (next() % 200) as usize;
        let mut buf: Vec<u8> = if round % 2 == 0 {
            (0..len).map(|_| next() as u8).collect()
        } else {
            let mut b = valid.clone();
            b.truncate(len.min(b.len()));
            b
        };
        if let Some(b) = buf.get_mut(len / 2) {
            *b = b'A' + (next() % 26) as u8;
        }
        assert!(k.open(&[&buf], "c", 2).is_err() || buf == valid);
        let _ = k.open(&[&valid, &buf], "c", 2);
        let _ = SessionKeys::parse(&buf);
    }
}

#[test]
fn missing_extra_reordered_chunk_refused() {
    let k = keys();
    let mut s = big_session();
    s.identity.groups = groups(600);
    let v = k.seal(&s, "c").unwrap();
    assert!(v.len() >= 3, "{} chunks", v.len());
    let r = refs(&v);
    assert!(k.open(&r, "c", 1001).is_ok());
    assert!(k.open(&r[..r.len() - 1], "c", 1001).is_err());
    assert!(k.open(&r[1..], "c", 1001).is_err());
    let mut extra = r.clone();
    extra.push(b"AAAA");
    assert!(k.open(&extra, "c", 1001).is_err());
    let mut stale = r.clone();
    stale.push(r[1]);
    assert!(k.open(&stale, "c", 1001).is_err());
    let mut swapped = r.clone();
    swapped.swap(0, 1);
    assert!(k.open(&swapped, "c", 1001).is_err());
    let nine: Vec<&[u8]> = std::iter::repeat_n(r[0], MAX_CHUNKS + 1).collect();
    assert!(k.open(&nine, "c", 1001).is_err());
}

#[test]
fn too_large_is_a_clear_error_and_id_token_dropped_first() {
    let k = keys();
    let mut s = sample(1000);
    s.identity.groups = groups(5000);
    let e = k.seal(&s, "c").unwrap_err();
    assert!(matches!(e, SessionError::TooLarge { .. }));
    assert_eq!(e.reason(), "session_too_large");
    assert!(e.to_string().contains("too large"));

    // find a size that fits only without the ID token
    let token = random_jws(1200);
    assert!(token.len() <= MAX_ID_TOKEN_LEN);
    let mut n = 200;
    loop {
        let mut t = sample(1000);
        t.identity.groups = groups(n);
        t.id_token = Some(token.clone());
        let with = k.seal_chunked(&t, "c");
        if matches!(with, Err(SessionError::TooLarge { .. })) {
            let v = k.seal(&t, "c").unwrap();
            let opened = k.open(&refs(&v), "c", 1001).unwrap();
            assert_eq!(opened.id_token, None);
            assert_eq!(opened.identity.groups.len(), n);
            break;
        }
        n += 10;
        assert!(n < 5000);
    }
}

#[test]
fn key_file_parsing() {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE};
    let raw: Vec<u8> = (0u8..40).map(|i| i.wrapping_mul(37) ^ 0xfb).collect();
    for line in [
        STANDARD.encode(&raw),
        STANDARD_NO_PAD.encode(&raw),
        URL_SAFE.encode(&raw),
        URL_SAFE_NO_PAD.encode(&raw),
        raw.iter().map(|b| format!("{b:02X}")).collect(),
    ] {
        let a = SessionKeys::parse(format!("  {line}  \r\n").as_bytes()).unwrap();
        let b = SessionKeys::from_raw_keys(&[&raw]).unwrap();
        let v = a.seal(&sample(1), "c").unwrap();
        assert!(b.open(&refs(&v), "c", 2).is_ok(), "{line}");
    }

    let e = SessionKeys::parse(b"# comment\n\n00112233\n").unwrap_err();
    assert_eq!(e.line, 3);
    assert!(e.reason.contains("4 bytes"), "{e}");
    assert!(!e.to_string().contains("00112233"));

    let e = SessionKeys::parse(format!("{K1}\nnot a key!\n").as_bytes()).unwrap_err();
    assert_eq!(e.line, 2);
    assert!(!e.to_string().contains("not a key"));
    let e = SessionKeys::parse(b"abc$def").unwrap_err();
    assert!(
        e.to_string().starts_with("line 1: neither hex nor base64"),
        "{e}"
    );

    assert_eq!(
        SessionKeys::parse(b"# only a comment\n\n")
            .unwrap_err()
            .line,
        0
    );
    assert!(SessionKeys::parse(b"").is_err());
    assert!(SessionKeys::parse(b"\xff\xfe\n").is_err());
}

#[test]
fn derived_from_client_secret() {
    let a = SessionKeys::derive_from_client_secret(b"s3cret").unwrap();
    let b = SessionKeys::derive_from_client_secret(b"s3cret").unwrap();
    let c = SessionKeys::derive_from_client_secret(b"other").unwrap();
    let v = a.seal(&sample(1), "c").unwrap();
    assert!(b.open(&refs(&v), "c", 2).is_ok());
    assert!(c.open(&refs(&v), "c", 2).is_err());
    assert!(SessionKeys::derive_from_client_secret(b"").is_err());
}

#[test]
fn debug_is_redacted() {
    let d = format!("{:?}", keys());
    assert!(d.contains("redacted"));
    assert!(!d.contains("0001"));
}

#[test]
fn chunk_names() {
    assert_eq!(chunk_cookie_name("sso_session", 0), "sso_session");
    assert_eq!(chunk_cookie_name("sso_session", 3), "sso_session_3");
}

/// Quick timing loop, not an assertion:
/// `cargo test --release -p sso-core -- --ignored --nocapture session::tests::measure`
#[test]
#[ignore]
fn measure() {
    use aws_lc_rs::aead::CHACHA20_POLY1305;
    use std::time::Instant;
    let mut s = sample(1000);
    s.identity.groups = groups(12);
    let json = s.encode().to_vec();
    eprintln!("payload {} bytes", json.len());
    const N: u32 = 20_000;
    for (name, alg) in [
        ("AES-256-GCM", &AES_256_GCM),
        ("ChaCha20-Poly1305", &CHACHA20_POLY1305),
    ] {
        let key = LessSafeKey::new(UnboundKey::new(alg, &[7u8; 32]).unwrap());
        let mut buf = json.clone();
        let t = Instant::now();
        for _ in 0..N {
            let tag = key
                .seal_in_place_separate_tag(
                    Nonce::assume_unique_for_key([1; 12]),
                    Aad::from(b"aad"),
                    &mut buf,
                )
                .unwrap();
            key.open_in_place_separate_tag(
                Nonce::assume_unique_for_key([1; 12]),
                Aad::from(b"aad"),
                tag.as_ref(),
                &mut buf,
            )
            .unwrap();
        }
        eprintln!("{name}: seal+open {:?}", t.elapsed() / N);
    }
    let k = keys();
    let v = k.seal(&s, "c").unwrap();
    eprintln!("cookie {} bytes", v[0].len());
    let r = refs(&v);
    let t = Instant::now();
    for _ in 0..N {
        std::hint::black_box(k.open(std::hint::black_box(&r), "c", 1001).unwrap());
    }
    eprintln!("SessionKeys::open: {:?}", t.elapsed() / N);
    let t = Instant::now();
    for _ in 0..N {
        std::hint::black_box(k.seal(std::hint::black_box(&s), "c").unwrap());
    }
    eprintln!("SessionKeys::seal: {:?}", t.elapsed() / N);
    let big = big_session();
    let v = k.seal(&big, "c").unwrap();
    let r = refs(&v);
    let t = Instant::now();
    for _ in 0..N / 10 {
        std::hint::black_box(k.open(std::hint::black_box(&r), "c", 1001).unwrap());
    }
    eprintln!(
        "SessionKeys::open, 200 groups: {:?}",
        t.elapsed() / (N / 10)
    );
}

/// An RS256-shaped ID token for `identity` (a real one's size: header with `kid`, the
/// identity's claims plus the registered ones, 256 bytes of signature).
fn id_token_for(identity: &Identity) -> String {
    let header = serde_json::json!({"alg": "RS256", "kid": "3b6a0f5c2d9e4f1a8b7c6d5e4f3a2b1c", "typ": "JWT"});
    let claims = serde_json::json!({
        "iss": "https://authentik.example.com/application/o/grafana/",
        "sub": identity.uid,
        "aud": "f9a5d3c0b1e24a7d8c6b5a4f3e2d1c0b9a8f7e6d",
        "exp": 1_800_086_400u64, "iat": 1_800_000_000u64, "auth_time": 1_799_999_990u64,
        "acr": "goauthentik.io/providers/oauth2/default",
        "nonce": "Hk3sV9pQ2xYzL7mN4bR8tW1cF6gJ0dA5",
        "at_hash": "x2Ql9cN7vB4mK8sP3dR6tA",
        "sid": "7d2f9e4c1b8a5f3e6d0c9b2a7f4e1d8c5b3a6f9e2d7c4b1a8f5e3d6c9b2a7f4e",
        "email": identity.email, "email_verified": true,
        "name": identity.name, "given_name": identity.name,
        "preferred_username": identity.username, "nickname": identity.username,
        "groups": identity.groups,
    });
    let mut x: u64 = 0x1234_5678_9abc_def1;
    let sig: Vec<u8> = (0..256)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        URL_SAFE_NO_PAD.encode(sig)
    )
}

/// A compact JWS with a payload of `n` incompressible bytes.
fn random_jws(n: usize) -> String {
    let mut x: u64 = 0x0bad_cafe_f00d_1234;
    let mut bytes = |n: usize| -> Vec<u8> {
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    };
    let (p, sig) = (bytes(n), bytes(256));
    format!(
        "eyJhbGciOiJSUzI1NiJ9.{}.{}",
        URL_SAFE_NO_PAD.encode(p),
        URL_SAFE_NO_PAD.encode(sig)
    )
}

/// A typical authentik user: 10 groups, email, name, the ID token kept.
fn typical_session() -> Session {
    let mut s = sample(1_800_000_000);
    s.identity.groups = groups(10);
    s.identity.name = "Jane Q. Example".into();
    s.identity.email = "jane.example@example.com".into();
    s.identity.username = "jane".into();
    let token = id_token_for(&s.identity);
    s.id_token = Some(token);
    s
}

fn cookie_bytes(k: &SessionKeys, s: &Session) -> usize {
    k.seal(s, "c").unwrap().iter().map(String::len).sum()
}

/// The claims of [`id_token_for`], as the login verified them.
fn claims_of(token: &str) -> serde_json::Map<String, serde_json::Value> {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// `sso_jwt_header off`: the session of [`typical_session`] without its ID token, its claims
/// kept instead.
fn claims_session() -> Session {
    let typical = typical_session();
    let mut s = Session {
        id_token: None,
        ..typical.clone()
    };
    s.keep_claims(&claims_of(typical.id_token.as_deref().unwrap()));
    s
}

#[test]
fn sizes() {
    let k = keys();
    let typical = typical_session();
    let claims = claims_session();
    let mut big = big_session();
    big.id_token = Some(id_token_for(&big.identity)).filter(|t| t.len() <= MAX_ID_TOKEN_LEN);
    let mut with_refresh = typical.clone();
    with_refresh.refresh_token = Some(RefreshToken::new("r".repeat(43)));
    let (t, c, b, r) = (
        cookie_bytes(&k, &typical),
        cookie_bytes(&k, &claims),
        cookie_bytes(&k, &big),
        cookie_bytes(&k, &with_refresh),
    );
    eprintln!(
        "typical {t} bytes (ID token {}), with a 43-byte refresh token {r}, \
         sso_jwt_header off {c}, 200 groups {b}",
        typical.id_token.as_ref().unwrap().len()
    );
    // The JSON layout before took 1916, 744 (without the ID token, claims not kept) and
    // 3.5 KB (200 groups): README "Sessions" has the table.
    assert!(t <= 1500, "typical session: {t} bytes");
    assert!(c <= 800 && c * 10 <= t * 6, "sso_jwt_header off: {c} bytes");
    assert!(b <= CHUNK_LEN, "200 groups in one chunk: {b} bytes");
    assert!(r - t <= 64, "a refresh token costs {} bytes", r - t);
}

fn every_field() -> Session {
    let mut s = typical_session();
    s.identity.additional_headers = vec![
        ("X-Team".into(), "infra".into()),
        ("X-N".into(), "5".into()),
    ];
    s.identity.unrendered_header_names = vec!["X-Object".into()];
    s.identity.backend_override = "http://10.0.0.1:8080".into();
    s.identity.entitlements = vec!["a".into(), "b|c".into()];
    s.issued = s.iat + 100;
    s.vouched = s.iat + 50;
    s.claims = Some(r#"{"k":[1,{"x":null}]}"#.into());
    s.refresh_token = Some(RefreshToken::new("rt-\u{e9}-0123456789".into()));
    s.sid = Some("provider-sid-1".into());
    s.local_id = Some("local-id-1".into());
    s
}

#[test]
fn codec_round_trips_every_field() {
    let s = every_field();
    assert_eq!(Session::decode(&s.encode()).unwrap(), s);
    let k = keys();
    let v = k.seal(&s, "c").unwrap();
    assert_eq!(k.open(&refs(&v), "c", s.iat + 1).unwrap(), s);
    // and the empty session, and one with only times
    for s in [
        Session::default(),
        Session::new(Identity::default(), 5, 10, None),
    ] {
        assert_eq!(Session::decode(&s.encode()).unwrap(), s);
    }
    assert_eq!(&Session::default().encode()[..], &[FORMAT]);
}

#[test]
fn codec_refuses_what_it_did_not_write() {
    let good = every_field().encode();
    // every prefix and every single-byte change: never a panic; a prefix that ends inside a
    // field is malformed
    for cut in 0..good.len() {
        let _ = Session::decode(&good[..cut]);
        let mut b = good.to_vec();
        b[cut] ^= 0x55;
        let _ = Session::decode(&b);
    }
    assert_eq!(Session::decode(&[]), Err(SessionError::Malformed));
    assert_eq!(Session::decode(&good[..3]), Err(SessionError::Malformed));
    let bad: [&[u8]; 9] = [
        &[FORMAT + 1],
        b"{\"i\":{\"u\":\"x\"},\"x\":99999999999}",
        &[FORMAT, 99, 0],                  // unknown tag
        &[FORMAT, 2, 1, b'a', 1, 1, b'b'], // out of order
        &[FORMAT, 1, 1, b'a', 1, 1, b'b'], // repeated
        &[FORMAT, 1, 5, b'a'],             // length past the end
        &[FORMAT, 1, 2, 0xff, 0xfe],       // not UTF-8
        &[
            FORMAT, 17, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02,
        ], // varint overflow
        &[FORMAT, 5, 0xff, 0xff, 0xff, 0xff, 0x0f], // a count larger than the bytes left
    ];
    for b in bad {
        assert_eq!(Session::decode(b), Err(SessionError::Malformed), "{b:?}");
    }
}

#[test]
fn old_format_cookie_is_malformed() {
    // what the JSON layout sealed: authentic, but not a session of this layout
    let k = keys();
    let json = format!(
        r#"{{"i":{{"u":"akadmin","g":["admins"]}},"a":1000,"x":{},"t":"eyJh.eyJi.c2ln"}}"#,
        u64::MAX / 2
    );
    let sealed = k
        .seal_value(Purpose::Session, "c", json.as_bytes())
        .unwrap();
    let e = k.open(&[sealed.as_bytes()], "c", 1001).unwrap_err();
    assert_eq!(e, SessionError::Malformed);
    assert_eq!(e.reason(), "malformed");
    // compressed (a large old session) too
    let big = format!(
        r#"{{"i":{{"g":[{}]}},"x":{}}}"#,
        vec!["\"group-name\""; 200].join(","),
        u64::MAX / 2
    );
    let sealed = k.seal_value(Purpose::Session, "c", big.as_bytes()).unwrap();
    assert_eq!(
        k.open(&[sealed.as_bytes()], "c", 1001),
        Err(SessionError::Malformed)
    );
}

#[test]
fn refresh_token_is_redacted() {
    let s = every_field();
    let shown = format!("{s:?} {:?}", s.refresh_token);
    assert!(!shown.contains("0123456789"), "{shown}");
    assert!(shown.contains("<redacted>"));
}

#[test]
fn claims_without_the_id_token_read_as_with_it() {
    // as at login: the identity comes from the claims the session keeps
    let mut with = typical_session();
    with.identity = Identity::from_claims(&claims_of(with.id_token.as_deref().unwrap()));
    let mut without = Session {
        id_token: None,
        ..with.clone()
    };
    without.keep_claims(&claims_of(with.id_token.as_deref().unwrap()));
    let kept = without.claims.as_deref().unwrap();
    for dropped in [
        "nonce",
        "at_hash",
        "preferred_username",
        "groups",
        "\"email\"",
    ] {
        assert!(!kept.contains(dropped), "{dropped} kept: {kept}");
    }
    let names = [
        "sub",
        "email",
        "name",
        "preferred_username",
        "groups",
        "iss",
        "aud",
        "auth_time",
        "sid",
        "email_verified",
        "nickname",
        "acr",
        "missing",
        "entitlements",
    ];
    for name in names {
        assert_eq!(without.claim(name), with.claim(name), "$sso_claim_{name}");
    }
    for name in ["nonce", "exp", "iat"] {
        assert_eq!(without.claim(name), None, "{name} is not kept");
        assert!(with.claim(name).is_some());
    }
    // a claim the identity holds only approximately is kept as it is
    let mut claims = claims_of(with.id_token.as_deref().unwrap());
    claims.insert("groups".into(), serde_json::json!(["a", 5, ""]));
    claims.insert("email".into(), serde_json::json!(" spaced "));
    let identity = Identity::from_claims(&claims);
    let mut s = Session::new(identity, 1, 100, None);
    s.keep_claims(&claims);
    assert_eq!(s.claim("groups").as_deref(), Some("a|5"));
    assert_eq!(s.claim("email").as_deref(), Some(""));
    // no ID token and no claims kept: nothing
    assert_eq!(
        Session::new(with.identity.clone(), 1, 100, None).claim("email"),
        None
    );
}

#[test]
fn idle_timeout_and_reissue() {
    assert_eq!(reissue_interval(2), 1);
    assert_eq!(reissue_interval(300), 30);
    assert_eq!(reissue_interval(3600), 60);
    let s = Session::new(Identity::default(), 1000, 86_400, None);
    assert_eq!((s.issued, s.vouched), (1000, 1000));
    // 30 min idle timeout: re-issued after 60 s, ended after more than 1800 s of disuse
    assert!(!s.reissue_due(1059, 1800));
    assert!(s.reissue_due(1060, 1800));
    assert!(!s.is_idle(2800, 1800));
    assert!(s.is_idle(2801, 1800));
    let again = s.reissued(2000);
    assert_eq!((again.iat, again.issued, again.exp), (1000, 2000, s.exp));
    assert!(!again.is_idle(3800, 1800));
    assert!(!again.reissue_due(2001, 1800));
}

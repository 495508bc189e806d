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
    let json = serde_json::to_vec(&sample(10)).unwrap();
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
    let raw = serde_json::to_vec(&s).unwrap().len();
    let v = k.seal(&s, "c").unwrap();
    let total: usize = v.iter().map(String::len).sum();
    eprintln!(
        "200 groups: json {raw} bytes -> {} chunk(s), {total} bytes",
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
    s.id_token = Some("h.p.s".repeat(200));
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
    let token: String = groups(60).concat().chars().take(MAX_ID_TOKEN_LEN).collect();
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
    let json = serde_json::to_vec(&s).unwrap();
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

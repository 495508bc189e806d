//! Mutation fuzzing on the stable toolchain: every parser that sees attacker bytes (tokens,
//! session cookies, cookie headers, `rd`, callback queries, discovery documents, JWKS) is fed
//! thousands of deterministic mutations of valid inputs. Nothing may panic, and a mutated
//! token or cookie must never be accepted as something it was not.

use aws_lc_rs::hmac;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use serde_json::json;
use sso_core::identity::Identity;
use sso_core::jwks::KeySet;
use sso_core::jwt::Verifier;
use sso_core::session::{Session, SessionKeys};

/// xorshift64*: deterministic, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const INTERESTING: &[u8] = b"\0\r\n\t .-_=/\\%\"'{}[]:,AaZz09~\xff\x7f";

/// One random edit: flip, replace, insert, delete, duplicate or truncate.
fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..=rng.below(3) {
        let len = v.len();
        match rng.below(6) {
            0 if len > 0 => {
                let i = rng.below(len);
                v[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                v[i] = INTERESTING[rng.below(INTERESTING.len())];
            }
            2 => {
                let i = rng.below(len + 1);
                v.insert(i, INTERESTING[rng.below(INTERESTING.len())]);
            }
            3 if len > 0 => {
                v.remove(rng.below(len));
            }
            4 if len > 0 => {
                let a = rng.below(len);
                let b = (a + rng.below(16)).min(len);
                let dup = v[a..b].to_vec();
                v.splice(a..a, dup);
            }
            _ => v.truncate(rng.below(len + 1)),
        }
    }
    v
}

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

fn hs256(claims: &serde_json::Value) -> String {
    let head = B64.encode(br#"{"alg":"HS256","typ":"JWT","kid":"k1"}"#);
    let body = B64.encode(serde_json::to_vec(claims).unwrap());
    let input = format!("{head}.{body}");
    let key = hmac::Key::new(hmac::HMAC_SHA256, SECRET);
    let sig = B64.encode(hmac::sign(&key, input.as_bytes()).as_ref());
    format!("{input}.{sig}")
}

fn key_set() -> KeySet {
    let jwks = json!({"keys": [{"kty": "oct", "kid": "k1", "k": B64.encode(SECRET)}]});
    KeySet::from_jwks(jwks.to_string().as_bytes()).unwrap()
}

#[test]
fn mutated_tokens_never_verify_and_never_panic() {
    let keys = key_set();
    let verifier = Verifier::new(Some("https://idp.example/".into()), vec!["app".into()], 30);
    let now = 1_800_000_000u64;
    let token = hs256(&json!({
        "iss": "https://idp.example/", "aud": "app", "sub": "u1", "exp": now + 600,
        "iat": now, "preferred_username": "alice", "groups": ["a", "b"]
    }));
    let original = verifier
        .verify(&keys, &token, now)
        .expect("the seed verifies");
    let mut rng = Rng(0x5eed_0001);
    for _ in 0..20_000 {
        let m = mutate(&mut rng, token.as_bytes());
        if let Ok(v) = verifier.verify_bytes(&keys, &m, now) {
            // Only an edit that leaves the same signed content may pass (e.g. none at all).
            assert_eq!(
                v.claims(),
                original.claims(),
                "a mutated token verified: {m:?}"
            );
            assert_eq!(
                m.split(|&b| b == b'.').nth(2).map(|s| s.to_vec()),
                token.split('.').nth(2).map(|s| s.as_bytes().to_vec()),
                "a different signature verified: {m:?}"
            );
        }
    }
}

#[test]
fn mutated_session_cookies_never_open_as_another_session() {
    let keys = SessionKeys::from_raw_keys(&[SECRET]).unwrap();
    let identity = Identity {
        username: "alice".into(),
        groups: vec!["admins".into()],
        ..Identity::default()
    };
    let session = Session::new(identity, 1_800_000_000, 3600, None);
    let chunks = keys.seal(&session, "app").unwrap();
    let cookie = chunks[0].clone();
    let mut rng = Rng(0x5eed_0002);
    for _ in 0..20_000 {
        let m = mutate(&mut rng, cookie.as_bytes());
        if let Ok(opened) = keys.open(&[&m], "app", 1_800_000_001) {
            assert_eq!(
                opened.identity, session.identity,
                "a tampered cookie opened: {m:?}"
            );
        }
        assert!(keys.open(&[&m], "other-app", 1_800_000_001).is_err());
    }
}

#[test]
fn other_parsers_never_panic() {
    let mut rng = Rng(0x5eed_0003);
    let cookie_header = b"a=1; sso_session=abc.def; CF_Authorization=eyJ.x.y";
    let rd = b"https://app.example.com/path?x=1#frag";
    let query = b"code=abc&state=0123456789abcdef&iss=https%3A%2F%2Fidp.example%2F";
    let discovery = json!({
        "issuer": "https://idp.example/",
        "authorization_endpoint": "https://idp.example/auth",
        "token_endpoint": "https://idp.example/token",
        "jwks_uri": "https://idp.example/jwks",
        "end_session_endpoint": "https://idp.example/end"
    })
    .to_string();
    let jwks = json!({"keys": [{"kty": "oct", "kid": "k1", "k": B64.encode(SECRET)},
        {"kty": "EC", "crv": "P-256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
         "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]})
    .to_string();
    for _ in 0..10_000 {
        let c = mutate(&mut rng, cookie_header);
        let _ = sso_core::cookie::find(&c, b"sso_session");
        let r = mutate(&mut rng, rd);
        let r = String::from_utf8_lossy(&r);
        let safe = sso_core::flow::validate_rd(&r, "app.example.com", Some("example.com"));
        assert!(rd_is_contained(&safe), "unsafe rd {safe:?} from {r:?}");
        let q = mutate(&mut rng, query);
        let _ = sso_core::flow::parse_callback_query(&String::from_utf8_lossy(&q));
        let d = mutate(&mut rng, discovery.as_bytes());
        let _ = sso_core::flow::parse_discovery(&d, "https://idp.example/");
        let j = mutate(&mut rng, jwks.as_bytes());
        let _ = KeySet::from_jwks(&j);
        let p = mutate(&mut rng, b"^/api/(v1|v2)/[a-z]+$");
        let _ = sso_core::paths::PatternSet::new(&[String::from_utf8_lossy(&p).into_owned()]);
    }
}

/// A relative path that cannot be read as another host, or an http(s) URL on the cookie
/// domain (at a dot boundary), with no user-info and no control characters.
fn rd_is_contained(rd: &str) -> bool {
    if rd.bytes().any(|b| b.is_ascii_control() || b == b'\\') {
        return false;
    }
    if let Some(path) = rd.strip_prefix('/') {
        return !path.starts_with('/');
    }
    let lower = rd.to_ascii_lowercase();
    let Some(rest) = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))
    else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return false;
    }
    let host = authority.split(':').next().unwrap_or("");
    host == "example.com" || host.ends_with(".example.com")
}

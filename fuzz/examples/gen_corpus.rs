//! Writes the seed corpora, fuzz/corpus/<target>/, from the fixtures of src/lib.rs: real
//! tokens signed with the fixture keys, the fixture JWKS, sealed sessions and flow cookies,
//! and the inputs of the core's unit tests. `scripts/fuzz corpus` runs it; the output is
//! committed (sealed values differ on every run: fresh nonces).
//!
//! Each target's folder is emptied first, so the folder holds exactly what this writes.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use sso_core::flow::{self, AuthRequest, FlowState};
use sso_core::identity::Identity;
use sso_core::session::{Purpose, RefreshToken, Session, FORMAT};
use sso_fuzz::*;

struct Corpus {
    dir: PathBuf,
    n: usize,
}

impl Corpus {
    fn new(root: &Path, target: &str) -> Corpus {
        let dir = root.join(target);
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create corpus dir");
        Corpus { dir, n: 0 }
    }

    fn add(&mut self, name: &str, bytes: impl AsRef<[u8]>) {
        self.n += 1;
        let file = self.dir.join(format!("{:02}-{name}", self.n));
        fs::write(&file, bytes.as_ref()).expect("write seed");
    }

    /// Fields joined with NUL (see sso_fuzz::fields).
    fn add_fields(&mut self, name: &str, parts: &[&[u8]]) {
        self.add(name, parts.join(&0u8));
    }

    /// A selector byte, then the bytes.
    fn add_pick(&mut self, name: &str, pick: u8, bytes: impl AsRef<[u8]>) {
        let mut v = vec![pick];
        v.extend_from_slice(bytes.as_ref());
        self.add(name, v);
    }

    fn done(self) {
        println!("{:>3} seeds in {}", self.n, self.dir.display());
    }
}

fn token(header: Value, claims: Value) -> String {
    mint(header.to_string().as_bytes(), claims.to_string().as_bytes())
}

fn with(mut claims: Value, name: &str, value: Value) -> Value {
    if let Some(map) = claims.as_object_mut() {
        if value.is_null() {
            map.remove(name);
        } else {
            map.insert(name.to_owned(), value);
        }
    }
    claims
}

fn rs256() -> Value {
    json!({"alg": "RS256", "kid": RSA_KID, "typ": "JWT"})
}

// RFC vectors (the same ones core/src/jwt.rs tests with).
const RFC7515_A2: &str = concat!(
    "eyJhbGciOiJSUzI1NiJ9.",
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.",
    "cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw"
);
const RFC7515_A3: &str = concat!(
    "eyJhbGciOiJFUzI1NiJ9.",
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.",
    "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q"
);
const RFC8037_A4: &str = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";
const RFC7520_4_4: &str = "eyJhbGciOiJIUzI1NiIsImtpZCI6IjAxOGMwYWU1LTRkOWItNDcxYi1iZmQ2LWVlZjMxNGJjNzAzNyJ9.SXTigJlzIGEgZGFuZ2Vyb3VzIGJ1c2luZXNzLCBGcm9kbywgZ29pbmcgb3V0IHlvdXIgZG9vci4gWW91IHN0ZXAgb250byB0aGUgcm9hZCwgYW5kIGlmIHlvdSBkb24ndCBrZWVwIHlvdXIgZmVldCwgdGhlcmXigJlzIG5vIGtub3dpbmcgd2hlcmUgeW91IG1pZ2h0IGJlIHN3ZXB0IG9mZiB0by4.s0h6KThzkfBBBkLspW1h84VsJZFTsPPqMDA7g1Md7p0";

fn jwt(root: &Path) {
    let mut c = Corpus::new(root, "jwt");
    for (i, t) in fixture_tokens().iter().enumerate() {
        c.add(&format!("fixture-{i}"), t);
    }
    let good = authentik_claims("n");
    c.add("rfc7515-a2-rs256", RFC7515_A2);
    c.add("rfc7515-a3-es256", RFC7515_A3);
    c.add("rfc8037-a4-eddsa", RFC8037_A4);
    c.add("rfc7520-4.4-hs256", RFC7520_4_4);
    c.add(
        "expired",
        token(rs256(), with(good.clone(), "exp", json!(NOW - 600))),
    );
    c.add(
        "wrong-aud",
        token(rs256(), with(good.clone(), "aud", json!("other"))),
    );
    c.add(
        "aud-array",
        token(rs256(), with(good.clone(), "aud", json!(["x", CLIENT_ID]))),
    );
    c.add(
        "wrong-iss",
        token(rs256(), with(good.clone(), "iss", json!("https://evil/"))),
    );
    c.add(
        "no-exp",
        token(rs256(), with(good.clone(), "exp", Value::Null)),
    );
    c.add(
        "nbf-future",
        token(rs256(), with(good.clone(), "nbf", json!(NOW + 3600))),
    );
    c.add(
        "unknown-kid",
        token(json!({"alg":"RS256","kid":"nope"}), good.clone()),
    );
    c.add("no-kid-hs256", token(json!({"alg":"HS256"}), good.clone()));
    c.add(
        "crit",
        token(
            json!({"alg":"HS256","crit":["b64"],"b64":false}),
            good.clone(),
        ),
    );
    c.add(
        "jku",
        token(
            json!({"alg":"RS256","kid":RSA_KID,"jku":"https://evil/jwks"}),
            good.clone(),
        ),
    );
    let body = format!(
        "{}.{}",
        b64(br#"{"alg":"none"}"#),
        b64(good.to_string().as_bytes())
    );
    c.add("alg-none", format!("{body}."));
    c.add(
        "alg-confusion-hs256-rsa-kid",
        token(json!({"alg":"HS256","kid":RSA_KID}), good.clone()),
    );
    c.add("jwe", "eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.OKOawDo13gRp2ojaHV7LFpZcgV7T6DVZKTyKOMTYUmKoTCVJRgckCL9kiMT03JGeipsEdY3mx_etLbbWSrFr05kLzcSr4qKAq7YN7e9jwQRb23nfa6c9d-StnImGyFDbSv04uVuxIp5Zms1gNxKKK2Da14B8S4rzVRltdYwam_lDp5XnZAYpQdb76FdIKLaVmqgfwX7XWRxv2322i-vDxRfqNzo_tETKzpVLzfiwQyeyPGLBIO56YJ7eObdv0je81860ppamavo35UgoRdbYaBcoh9QcfylQr66oc6vFWXRcZ_ZT2LawVCWTIy3brGPi6UklfCpIMfIjf7iGdXKHzg.48V1_ALb6US04U3b.5eym8TW_c8SuK0ltJ3rpYIzOeDQz7TALvtu6UG9oMo4vpzs9tX_EFShS8iB7j6jiSdiwkIr3ajwQzaBtQD_A.XFBoMYUZodetZdvTiFvSkQ");
    c.add("two-parts", "eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjF9");
    c.add("padding", format!("{}=", fixture_tokens()[5]));
    c.add("bearer-prefix", format!("Bearer {}", fixture_tokens()[0]));
    c.add("empty", "");
    c.add("dots", "...");
    c.done();
}

fn jwt_claims(root: &Path) {
    let mut c = Corpus::new(root, "jwt_claims");
    let good = authentik_claims("n");
    let hs = json!({"alg": "HS256", "typ": "JWT"});
    let add = |c: &mut Corpus, name: &str, h: &Value, claims: &str| {
        c.add_fields(name, &[h.to_string().as_bytes(), claims.as_bytes()]);
    };
    add(&mut c, "authentik-hs256", &hs, &good.to_string());
    add(
        &mut c,
        "authentik-eddsa",
        &json!({"alg":"EdDSA","kid":ED_KID}),
        &good.to_string(),
    );
    add(
        &mut c,
        "oct-kid",
        &json!({"alg":"HS256","kid":OCT_KID}),
        &good.to_string(),
    );
    add(&mut c, "hs512", &json!({"alg":"HS512"}), &good.to_string());
    add(
        &mut c,
        "minimal",
        &hs,
        &format!(
            r#"{{"iss":"{ISSUER}","aud":"{CLIENT_ID}","exp":{}}}"#,
            NOW + 60
        ),
    );
    add(
        &mut c,
        "aud-array",
        &hs,
        &with(good.clone(), "aud", json!(["a", CLIENT_ID, 3])).to_string(),
    );
    add(
        &mut c,
        "exp-float",
        &hs,
        &with(good.clone(), "exp", json!((NOW + 60) as f64 + 0.5)).to_string(),
    );
    add(
        &mut c,
        "exp-string",
        &hs,
        &with(good.clone(), "exp", json!("9999999999")).to_string(),
    );
    add(
        &mut c,
        "exp-huge",
        &hs,
        &good.to_string().replace(&format!("{}", NOW + 300), "1e400"),
    );
    add(
        &mut c,
        "exp-negative",
        &hs,
        &with(good.clone(), "exp", json!(-1)).to_string(),
    );
    add(
        &mut c,
        "iat-future",
        &hs,
        &with(good.clone(), "iat", json!(NOW + 3600)).to_string(),
    );
    add(
        &mut c,
        "nbf-null",
        &hs,
        &with(good.clone(), "nbf", json!(null)).to_string(),
    );
    add(
        &mut c,
        "dup-exp",
        &hs,
        &format!(
            r#"{{"iss":"{ISSUER}","aud":"{CLIENT_ID}","exp":{},"exp":1}}"#,
            NOW + 60
        ),
    );
    add(
        &mut c,
        "dup-alg",
        &json!({"alg":"HS256"}),
        &good.to_string(),
    );
    c.add_fields(
        "dup-alg-raw",
        &[
            br#"{"alg":"HS256","alg":"none"}"#,
            good.to_string().as_bytes(),
        ],
    );
    add(
        &mut c,
        "deep",
        &hs,
        &format!(
            r#"{{"iss":"{ISSUER}","aud":"{CLIENT_ID}","exp":{},"x":{}1{}}}"#,
            NOW + 60,
            "[".repeat(40),
            "]".repeat(40)
        ),
    );
    add(&mut c, "not-object", &hs, "[1,2,3]");
    add(
        &mut c,
        "controls-in-claims",
        &hs,
        &with(
            good.clone(),
            "preferred_username",
            json!("a\r\nX-Injected: 1\u{0}\u{85}"),
        )
        .to_string(),
    );
    add(
        &mut c,
        "groups-objects",
        &hs,
        &with(good.clone(), "groups", json!([{"name":"x"}, null, 1, [2]])).to_string(),
    );
    add(&mut c, "ak-proxy-headers", &hs, &with(good.clone(), "ak_proxy", json!({"user_attributes":{"additionalHeaders":{"X-A\r\n":"v\n","":"e","X-B":["1",2]}},"backend_override":"http://x"})).to_string());
    add(
        &mut c,
        "kid-number",
        &json!({"alg":"HS256","kid":5}),
        &good.to_string(),
    );
    add(
        &mut c,
        "crit-empty",
        &json!({"alg":"HS256","crit":[]}),
        &good.to_string(),
    );
    add(
        &mut c,
        "alg-lowercase",
        &json!({"alg":"hs256"}),
        &good.to_string(),
    );
    add(
        &mut c,
        "utf8-names",
        &hs,
        &with(good.clone(), "name", json!("Zoë \u{202e}رمز 🤖")).to_string(),
    );
    c.add_fields(
        "bom",
        &[
            b"\xef\xbb\xbf{\"alg\":\"HS256\"}",
            good.to_string().as_bytes(),
        ],
    );
    c.done();
}

fn jwks(root: &Path) {
    let mut c = Corpus::new(root, "jwks");
    c.add("fixture", jwks_json());
    let fixture: Value = serde_json::from_str(&jwks_json()).expect("fixture jwks");
    let keys = fixture["keys"].as_array().cloned().unwrap_or_default();
    for (i, k) in keys.iter().enumerate() {
        c.add(&format!("one-key-{i}"), json!({ "keys": [k] }).to_string());
    }
    // authentik publishes RSA keys with x5c/x5t.
    let mut ak = keys[0].clone();
    ak["x5c"] = json!(["MIIB"]);
    ak["x5t"] = json!("aGVsbG8");
    ak["x5t#S256"] = json!("aGVsbG8");
    c.add("authentik-rsa", json!({ "keys": [ak] }).to_string());
    let p384 = aws_lc_rs::signature::EcdsaKeyPair::generate(
        &aws_lc_rs::signature::ECDSA_P384_SHA384_FIXED_SIGNING,
    )
    .expect("P-384 keygen");
    let pt = aws_lc_rs::signature::KeyPair::public_key(&p384)
        .as_ref()
        .to_vec();
    c.add("p384", json!({"keys":[{"kty":"EC","crv":"P-384","kid":"p384","x":b64(&pt[1..49]),"y":b64(&pt[49..97])}]}).to_string());
    c.add("empty-keys", r#"{"keys":[]}"#);
    c.add("keys-not-array", r#"{"keys":{}}"#);
    c.add("not-jwks", r#"{"issuer":"x"}"#);
    c.add("short-oct", r#"{"keys":[{"kty":"oct","k":"c2hvcnQ"}]}"#);
    c.add(
        "enc-use",
        json!({"keys":[with(keys[0].clone(), "use", json!("enc"))]}).to_string(),
    );
    c.add(
        "key-ops",
        json!({"keys":[with(keys[1].clone(), "key_ops", json!(["verify"]))]}).to_string(),
    );
    c.add(
        "alg-mismatch",
        json!({"keys":[with(keys[0].clone(), "alg", json!("ES256"))]}).to_string(),
    );
    c.add(
        "dup-kid",
        json!({"keys":[keys[0].clone(), with(keys[1].clone(), "kid", json!(RSA_KID))]}).to_string(),
    );
    c.add(
        "rsa-small-e",
        json!({"keys":[with(keys[0].clone(), "e", json!("Aw"))]}).to_string(),
    );
    c.add(
        "rsa-1024",
        json!({"keys":[with(keys[0].clone(), "n", json!(b64(&[0xc5; 128])))]}).to_string(),
    );
    c.add(
        "ec-off-curve",
        json!({"keys":[with(keys[1].clone(), "y", json!(b64(&[1; 32])))]}).to_string(),
    );
    c.add("okp-x448", r#"{"keys":[{"kty":"OKP","crv":"X25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#);
    c.add("bad-base64", json!({"keys":[with(keys[2].clone(), "x", json!("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo="))]}).to_string());
    let many: Vec<Value> = (0..105)
        .map(|i| with(keys[3].clone(), "kid", json!(format!("k{i}"))))
        .collect();
    c.add("over-100-keys", json!({ "keys": many }).to_string());
    c.add(
        "deep",
        format!(r#"{{"keys":[{}]}}"#, "[".repeat(40) + &"]".repeat(40)),
    );
    c.add(
        "dup-member",
        r#"{"keys":[],"keys":[{"kty":"oct","k":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}]}"#,
    );
    c.add(
        "kid-controls",
        json!({"keys":[with(keys[3].clone(), "kid", json!("a\r\nb\u{1b}[31m"))]}).to_string(),
    );
    c.done();
}

fn sample_session(id_token: Option<String>, groups: usize) -> Session {
    let identity = Identity {
        username: "akadmin".into(),
        email: "akadmin@example.com".into(),
        name: "authentik Default Admin".into(),
        uid: "3f1c1b9f6a8e4c2d9b7a5e3c1f0d2b4a".into(),
        groups: (0..groups)
            .map(|i| format!("group-{i:04}-with-a-longish-name"))
            .collect(),
        entitlements: vec!["grafana-admin".into()],
        additional_headers: vec![("X-Team".into(), "infra".into())],
        backend_override: String::new(),
        ..Identity::default()
    };
    Session::new(identity, NOW - 60, 86_400, id_token)
}

fn session(root: &Path) {
    let keys = session_keys();
    let id_token = fixture_tokens()[0].clone();
    let mut c = Corpus::new(root, "session");
    let add_sealed = |c: &mut Corpus, name: &str, s: &Session, app: &str| {
        let chunks = keys.seal(s, app).expect("seal");
        c.add(name, chunks.join("\n"));
    };
    add_sealed(&mut c, "small", &sample_session(None, 2), CLIENT_ID);
    add_sealed(
        &mut c,
        "with-id-token",
        &sample_session(Some(id_token.clone()), 3),
        CLIENT_ID,
    );
    add_sealed(
        &mut c,
        "compressed",
        &sample_session(Some(id_token.clone()), 40),
        CLIENT_ID,
    );
    add_sealed(
        &mut c,
        "two-chunks",
        &sample_session(Some(id_token.clone()), 400),
        CLIENT_ID,
    );
    add_sealed(
        &mut c,
        "other-app",
        &sample_session(None, 2),
        "another-client",
    );
    let mut expired = sample_session(None, 1);
    expired.exp = NOW - 1;
    add_sealed(&mut c, "expired", &expired, CLIENT_ID);
    let old = sso_core::session::SessionKeys::from_raw_keys(&[SESSION_KEYS[1]]).expect("old key");
    c.add(
        "old-key",
        old.seal(&sample_session(None, 2), CLIENT_ID)
            .expect("seal")
            .join("\n"),
    );
    let flow_value = keys
        .seal_value(Purpose::Flow, CLIENT_ID, b"{}")
        .expect("seal");
    c.add("flow-purpose", flow_value);
    c.add(
        "garbage-b64",
        "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiMkJSYnKCkqKywtLi8w",
    );
    c.add("empty", "");
    c.add("nine-chunks", "QUFB\n".repeat(9));
    c.done();

    // session_json: the plaintext layout (core/src/session/codec.rs), sealed by the target.
    let mut c = Corpus::new(root, "session_json");
    let mut lifecycle = sample_session(None, 3);
    lifecycle.issued = NOW - 10;
    lifecycle.vouched = NOW - 30;
    lifecycle.refresh_token = Some(RefreshToken::new("rt-0123456789abcdef".into()));
    let mut with_claims = sample_session(None, 2);
    with_claims.keep_claims(
        &serde_json::from_value(json!({"iss": ISSUER, "sub": "x", "k": [1, {"a": null}]}))
            .expect("claims"),
    );
    for (name, s) in [
        ("small", sample_session(None, 2)),
        ("with-id-token", sample_session(Some(id_token.clone()), 3)),
        ("many-groups", sample_session(None, 60)),
        (
            "empty-identity",
            Session::new(Identity::default(), NOW, 60, None),
        ),
        ("lifecycle", lifecycle),
        ("claims", with_claims),
    ] {
        c.add(name, s.encode().to_vec());
    }
    let exp = |v: u64| {
        let mut b = vec![FORMAT, 17];
        let mut v = v;
        while v >= 0x80 {
            b.push((v as u8) | 0x80);
            v >>= 7;
        }
        b.push(v as u8);
        b
    };
    c.add("only-exp", exp(NOW + 10));
    c.add("exp-huge", exp(u64::MAX));
    let mut unknown = exp(NOW + 10);
    unknown.extend_from_slice(&[99, 1, b'x']);
    c.add("unknown-tag", unknown);
    let mut order = exp(NOW + 10);
    order.extend_from_slice(&[1, 1, b'x']);
    c.add("out-of-order", order);
    let mut jws = exp(NOW + 10);
    jws.extend_from_slice(&[32, 4, 1, b'{', 1, b'}']);
    c.add("short-id-token", jws);
    c.add(
        "old-json-layout",
        format!(r#"{{"x":{},"i":{{"u":"x"}},"t":"a.b.c"}}"#, NOW + 10),
    );
    c.add("empty", "");
    c.done();
}

fn flow_targets(root: &Path) {
    let keys = session_keys();
    let req = AuthRequest {
        authorization_endpoint: "https://auth.example.com/application/o/authorize/",
        client_id: CLIENT_ID,
        redirect_uri: "https://app.example.com/outpost.goauthentik.io/callback",
        scope: "openid email profile ak_proxy",
    };
    let s = flow::start(keys, CLIENT_ID, &req, "/dashboard?tab=1", NOW - 30).expect("start");
    let old = flow::start(keys, CLIENT_ID, &req, "/", NOW - 700).expect("start");
    let other = flow::start(keys, "another-client", &req, "/", NOW - 30).expect("start");
    let state = s.flow.state.clone();
    let iss = flow::form_encode(&[("iss", ISSUER)]);
    let mut c = Corpus::new(root, "flow");
    let q = |extra: &str| format!("code=9f2b1c&state={state}{extra}");
    let cookie = s.cookie_value.as_bytes();
    c.add_fields("ok", &[q("").as_bytes(), cookie]);
    c.add_fields("ok-iss", &[q(&format!("&{iss}")).as_bytes(), cookie]);
    c.add_fields(
        "wrong-iss",
        &[q("&iss=https%3A%2F%2Fevil%2F").as_bytes(), cookie],
    );
    c.add_fields(
        "state-mismatch",
        &[b"code=x&state=AAAAAAAAAAAAAAAAAAAAAA", cookie],
    );
    c.add_fields(
        "expired",
        &[
            format!("code=x&state={}", old.flow.state).as_bytes(),
            old.cookie_value.as_bytes(),
        ],
    );
    c.add_fields(
        "other-app",
        &[
            format!("code=x&state={}", other.flow.state).as_bytes(),
            other.cookie_value.as_bytes(),
        ],
    );
    c.add_fields(
        "provider-error",
        &[
            b"error=access_denied&error_description=%3Cb%3Edenied%3C%2Fb%3E%0D%0A&state=x",
            cookie,
        ],
    );
    c.add("no-cookie", q(""));
    c.add_fields("no-code", &[format!("state={state}").as_bytes(), cookie]);
    c.add_fields(
        "empty-code",
        &[
            q("&code=").replace("code=9f2b1c&", "code=&").as_bytes(),
            cookie,
        ],
    );
    c.add_fields(
        "tampered",
        &[
            q("").as_bytes(),
            s.cookie_value.replace('A', "B").as_bytes(),
        ],
    );
    c.done();

    let mut c = Corpus::new(root, "flow_json");
    let json_of = |f: &FlowState| serde_json::to_vec(f).expect("serialise");
    c.add_fields("ok", &[q("").as_bytes(), &json_of(&s.flow)]);
    c.add_fields(
        "ok-iss",
        &[q(&format!("&{iss}")).as_bytes(), &json_of(&s.flow)],
    );
    c.add_fields(
        "expired",
        &[
            format!("code=x&state={}", old.flow.state).as_bytes(),
            &json_of(&old.flow),
        ],
    );
    c.add_fields(
        "missing-fields",
        &[
            q("").as_bytes(),
            format!(r#"{{"s":"{state}","x":{}}}"#, NOW + 60).as_bytes(),
        ],
    );
    c.add_fields(
        "empty-state",
        &[
            b"code=x&state=",
            format!(r#"{{"s":"","n":"","v":"","r":"/","a":0,"x":{}}}"#, NOW + 60).as_bytes(),
        ],
    );
    c.add_fields(
        "rd-absolute",
        &[
            q("").as_bytes(),
            &json_of(&FlowState {
                rd: "https://evil.example/\r\n".into(),
                ..s.flow.clone()
            }),
        ],
    );
    c.add_fields("not-json", &[q("").as_bytes(), b"\x00\x01"]);
    c.done();
}

fn cookie(root: &Path) {
    let mut c = Corpus::new(root, "cookie");
    let sealed = session_keys()
        .seal(&sample_session(None, 2), CLIENT_ID)
        .expect("seal");
    let browser = format!(
        "_ga=GA1.2.1234567890.1700000000; sso_session={}; sso_flow_AbCdEfGh=xyz; theme=dark",
        sealed[0]
    );
    for pick in 0..7u8 {
        c.add_pick(&format!("browser-{pick}"), pick, &browser);
    }
    c.add_pick(
        "cf",
        3,
        format!(
            "CF_Authorization={}; CF_AppSession=abc",
            fixture_tokens()[0]
        ),
    );
    c.add_pick(
        "chunks",
        1,
        "sso_session=AAAA; sso_session_1=BBBB;sso_session_2=CCCC",
    );
    c.add_pick("spaces-tabs", 5, " \ta \t= \t1 \t;\t a=2");
    c.add_pick(
        "prefix-names",
        0,
        "sso_session_1=x; xsso_session=y; sso_session =z",
    );
    c.add_pick("empty-name", 6, "=v; a=1");
    c.add_pick("quoted", 5, "a=\"quoted value\"");
    c.add_pick("separators", 5, ";;;=;a;a=;");
    c.done();
}

fn rd(root: &Path) {
    let mut c = Corpus::new(root, "rd");
    let cases: &[(u8, &str)] = &[
        (0, "/"),
        (0, "/a/b?c=d&e=%2F#frag"),
        (0, "/..//x"),
        (0, "//evil.com"),
        (0, "/\\evil.com"),
        (0, "/\t/evil.com"),
        (0, "javascript:alert(1)"),
        (0, "https://app.example.com/x?y#z"),
        (0, "HTTPS://APP.EXAMPLE.COM:443/"),
        (0, "https://app.example.com.evil.com/"),
        (0, "https://evil.com\\@app.example.com/"),
        (0, "https://app.example.com@evil.com/"),
        (0, "https:///evil.com"),
        (1, "https://other.example.com/"),
        (1, "http://example.com:8080/x"),
        (1, "https://evilexample.com/"),
        (1, "https://.example.com/"),
        (2, "https://app.example.com:8443/"),
        (2, "https://app.example.com/"),
        (3, "http://app.example.com:8443/café"),
        (4, "http://127.0.0.1:8080/"),
        (4, "http://0x7f.1:8080/"),
        (5, "http://[::1]:8080/"),
        (5, "http://[0:0::1]:8080/"),
        (6, "http://localhost/a b<c>"),
        (6, "http://sub.localhost:1/"),
        (0, "/\u{fffd}\u{85}"),
        (0, "/%0d%0aSet-Cookie:x"),
    ];
    for (i, (pick, rd)) in cases.iter().enumerate() {
        c.add_pick(&format!("case-{i}"), *pick, rd);
    }
    c.done();
}

fn callback_query(root: &Path) {
    let mut c = Corpus::new(root, "callback_query");
    for q in [
        "code=9f2b1c&state=AbCdEfGhIjKlMnOpQrStUv",
        "code=a%2Bb&state=s&iss=https%3A%2F%2Fauth.example.com%2Fapplication%2Fo%2Fapp%2F",
        "error=access_denied&error_description=User+denied+access&state=x",
        "state=AbCdEfGh&state=second&code",
        "rd=%2F%2Fevil.com",
        "a=1&rd=%2Fa%20b+c&rd=second",
        "r%64=%2",
        "rd=%ff%fe",
        "&&=&code=&=x",
        "c%6fde=x&st%61te=y",
        "code=%E2%82%AC%F0%9F%A4%96&state=%2B%2b+",
        "",
    ] {
        c.add("q", q);
    }
    c.done();
}

fn discovery_doc() -> Value {
    json!({
        "issuer": ISSUER,
        "authorization_endpoint": "https://auth.example.com/application/o/authorize/",
        "token_endpoint": "https://auth.example.com/application/o/token/",
        "userinfo_endpoint": "https://auth.example.com/application/o/userinfo/",
        "end_session_endpoint": "https://auth.example.com/application/o/app/end-session/",
        "introspection_endpoint": "https://auth.example.com/application/o/introspect/",
        "revocation_endpoint": "https://auth.example.com/application/o/revoke/",
        "device_authorization_endpoint": "https://auth.example.com/application/o/device/",
        "response_types_supported": ["code", "id_token", "id_token token", "code token", "code id_token", "code id_token token"],
        "response_modes_supported": ["query", "fragment", "form_post"],
        "jwks_uri": "https://auth.example.com/application/o/app/jwks/",
        "grant_types_supported": ["authorization_code", "refresh_token", "implicit", "client_credentials", "password", "urn:ietf:params:oauth:grant-type:device_code"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "subject_types_supported": ["public"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "acr_values_supported": ["goauthentik.io/providers/oauth2/default"],
        "scopes_supported": ["openid", "email", "profile", "ak_proxy"],
        "request_parameter_supported": false,
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "acr", "amr", "nonce", "email", "email_verified", "name", "given_name", "preferred_username", "nickname", "groups"],
        "claims_parameter_supported": false,
        "code_challenge_methods_supported": ["plain", "S256"]
    })
}

fn discovery(root: &Path) {
    let mut c = Corpus::new(root, "discovery");
    let d = discovery_doc();
    c.add("authentik", d.to_string());
    c.add("minimal", json!({"issuer":ISSUER,"authorization_endpoint":"https://a/","token_endpoint":"http://t:9000/x"}).to_string());
    c.add(
        "wrong-issuer",
        with(
            d.clone(),
            "issuer",
            json!("https://auth.example.com/application/o/app"),
        )
        .to_string(),
    );
    c.add(
        "relative-endpoint",
        with(d.clone(), "token_endpoint", json!("/token")).to_string(),
    );
    c.add(
        "userinfo-at",
        with(d.clone(), "userinfo_endpoint", json!("https://user@evil/")).to_string(),
    );
    c.add(
        "ipv6",
        with(
            d.clone(),
            "token_endpoint",
            json!("http://[::1]:9000/token"),
        )
        .to_string(),
    );
    c.add(
        "crlf-endpoint",
        with(
            d.clone(),
            "authorization_endpoint",
            json!("https://auth.example.com/authorize\r\nSet-Cookie: a=b"),
        )
        .to_string(),
    );
    c.add(
        "space-endpoint",
        with(
            d.clone(),
            "end_session_endpoint",
            json!("https://auth.example.com/a b"),
        )
        .to_string(),
    );
    c.add(
        "fragment",
        with(
            d.clone(),
            "authorization_endpoint",
            json!("https://auth.example.com/authorize?x=1#frag"),
        )
        .to_string(),
    );
    c.add(
        "methods-wrong-type",
        with(
            d.clone(),
            "token_endpoint_auth_methods_supported",
            json!("client_secret_post"),
        )
        .to_string(),
    );
    c.add(
        "null-optional",
        with(d.clone(), "jwks_uri", json!(null)).to_string(),
    );
    c.add("not-json", "<html>");
    c.done();
}

fn token_response(root: &Path) {
    let mut c = Corpus::new(root, "token_response");
    let ok = json!({
        "access_token": fixture_tokens()[0],
        "token_type": "Bearer",
        "scope": "openid email profile ak_proxy",
        "expires_in": 300,
        "id_token": fixture_tokens()[0],
        "refresh_token": "a9Zx"
    });
    c.add_pick("authentik", 0, ok.to_string());
    c.add_pick(
        "expires-string",
        1,
        with(ok.clone(), "expires_in", json!("3599")).to_string(),
    );
    c.add_pick(
        "token-type-mac",
        0,
        with(ok.clone(), "token_type", json!("mac\r\n")).to_string(),
    );
    c.add_pick(
        "no-id-token",
        0,
        with(ok.clone(), "id_token", Value::Null).to_string(),
    );
    c.add_pick(
        "invalid-grant",
        5,
        r#"{"error":"invalid_grant","error_description":"code <b>expired</b>\n"}"#,
    );
    c.add_pick("error-on-200", 0, r#"{"error":"server_error"}"#);
    c.add_pick("bad-gateway", 9, "<html>Bad gateway</html>");
    c.add_pick("detail", 8, r#"{"detail":"x"}"#);
    c.add_pick("array", 0, "[]");
    c.add_pick(
        "long-description",
        6,
        json!({"error":"e","error_description":"é".repeat(400)}).to_string(),
    );
    c.done();
}

fn paths(root: &Path) {
    let mut c = Corpus::new(root, "paths");
    for p in [
        "/api/public/v1/items",
        "/x/api/public/",
        "/static/site.css",
        "/static/site.css.map",
        "/healthz",
        "/outpost.goauthentik.io/start?rd=%2F",
        "/WEBHOOKS/github-push",
        "/.well-known/openid-configuration",
        "/files/report.pdf/download",
        "/üñí/x",
        "https://app.example.com/public/index.html",
        "http://localhost:8080/",
        "/files/\u{0}/download",
    ] {
        c.add("path", p);
    }
    c.add("invalid-utf8", b"/files/\xff\xfe/download");
    c.done();
}

fn claim_rules(root: &Path) {
    let mut c = Corpus::new(root, "claim_rules");
    c.add_fields(
        "nested",
        &[
            b"realm_access.roles admin editor",
            br#"{"realm_access":{"roles":["x","admin"]},"a.b":1}"#,
            b"jdoe",
        ],
    );
    c.add_fields(
        "typed",
        &[b"level 42.0 true", br#"{"level":42,"staff":true}"#, b"<b>"],
    );
    c.add_fields(
        "basic",
        &[
            b"u p",
            br#"{"ak_proxy":{"user_attributes":{"u":"a","p":"b:c"}}}"#,
            b"x",
        ],
    );
    c.done();
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus");
    // The fixture tokens must verify, or the jwks target checks nothing past the signature.
    for t in fixture_tokens() {
        verifier()
            .verify(key_set(), t, NOW)
            .unwrap_or_else(|e| panic!("fixture token refused: {e}"));
    }
    jwt(&root);
    jwt_claims(&root);
    jwks(&root);
    session(&root);
    flow_targets(&root);
    cookie(&root);
    rd(&root);
    callback_query(&root);
    discovery(&root);
    token_response(&root);
    paths(&root);
    claim_rules(&root);
}

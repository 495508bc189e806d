//! SPEC §3 step 3 (bearer and token cookie), §4 headers and §6 variables against a real
//! nginx, with tokens the test mints itself for every algorithm, and the attacks RFC 8725
//! warns about.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use crate::harness::http::JSON_ACCEPT;
use crate::harness::keys::{jwks_sso, key_file, mint, now, signing_key, CLIENT_ID, ISSUER};
use crate::harness::site::Server;
use crate::harness::{Build, Nginx, Response, Upstream};
use crate::on_both_nginx;

/// Claims of a typical authentik user.
fn claims() -> Value {
    json!({
        "iss": ISSUER,
        "aud": CLIENT_ID,
        "sub": "b4f3c1d2e5",
        "exp": now() + 300,
        "iat": now() - 5,
        "preferred_username": "jdoe",
        "email": "jdoe@example.com",
        "name": "Jane Doe",
        "groups": ["authentik Admins", "ops"],
        "entitlements": ["app:read", "app:write"],
        "ak_proxy": {
            "user_attributes": {
                "additionalHeaders": {"X-Custom": "custom value", "X-Num": 42, "X-Obj": {"a": 1}}
            },
            "backend_override": "http://backend:8080"
        }
    })
}

/// A token assembled by hand (for headers no honest library would produce).
fn raw_token(header: &Value, claims: &Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        B64.encode(serde_json::to_vec(header).unwrap()),
        B64.encode(serde_json::to_vec(claims).unwrap()),
        B64.encode(signature)
    )
}

/// The protected site: a JWKS with RSA, EC (P-256, P-384), OKP and oct keys; variables
/// copied into request headers so the upstream shows them; `$sso_reason` on every answer.
fn site(up: &Upstream, extra: &str) -> String {
    Server::to(&up.addr())
        .name("app.example.com")
        .with("sso_protect on;")
        .with(&jwks_sso())
        .with("sso_app my-app;")
        .with("add_header X-Reason $sso_reason always;")
        .with("add_header X-Method $sso_auth_method always;")
        .with(extra)
        .in_root("proxy_set_header X-Var-User $sso_user;")
        .in_root("proxy_set_header X-Var-Email $sso_email;")
        .in_root("proxy_set_header X-Var-Name $sso_name;")
        .in_root("proxy_set_header X-Var-Uid $sso_uid;")
        .in_root("proxy_set_header X-Var-Groups $sso_groups;")
        .in_root("proxy_set_header X-Var-Entitlements $sso_entitlements;")
        .in_root("proxy_set_header X-Var-Method $sso_auth_method;")
        .in_root("proxy_set_header X-Var-Reason $sso_reason;")
        .in_root("proxy_set_header X-Var-Backend $sso_backend_override;")
        .in_root("proxy_set_header X-Var-Claim-Email $sso_claim_email;")
        .in_root("proxy_set_header X-Var-Claim-Groups $sso_claim_groups;")
        .in_root("proxy_set_header X-Var-Claim-Ak $sso_claim_ak_proxy;")
        .render()
}

fn bearer(n: &Nginx, token: &str) -> Response {
    n.get(
        "/app/data",
        &[JSON_ACCEPT, ("Authorization", &format!("Bearer {token}"))],
    )
}

/// Asserts a 401 whose `$sso_reason` is `reason`.
fn refused(n: &Nginx, token: &str, reason: &str) -> Response {
    let r = bearer(n, token);
    assert_eq!(
        r.status, 401,
        "token should be refused with {reason}: {:?}",
        r.headers
    );
    assert_eq!(r.header("X-Reason"), Some(reason), "{:?}", r.headers);
    let www = r.header("WWW-Authenticate").unwrap();
    assert!(
        www.starts_with("Bearer error=\"invalid_token\", error_description=\""),
        "{www}"
    );
    assert!(!www.contains(token), "the token must never be echoed");
    r
}

fn every_algorithm_verifies_and_sets_identity(build: Build) {
    let up = Upstream::start();
    let n = Nginx::start(build, &site(&up, ""));
    use Algorithm::*;
    for alg in [
        RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA, HS256, HS384, HS512,
    ] {
        let token = mint(alg, &claims(), None);
        let r = n.get(
            "/app/data?x=1",
            &[
                JSON_ACCEPT,
                ("Authorization", &format!("Bearer {token}")),
                // forged by the client: must be replaced by ours
                ("X-authentik-username", "akadmin"),
                ("X-Custom", "forged"),
            ],
        );
        assert_eq!(r.status, 200, "{alg:?}: {:?} {}", r.headers, n.error_log());
        assert_eq!(r.header("X-Reason"), Some("bearer"));
        assert_eq!(r.header("X-Method"), Some("bearer"));
        let got = r.upstream();
        let h = |name: &str| -> Vec<String> { got.headers.get(name).cloned().unwrap_or_default() };
        assert_eq!(h("x-authentik-username"), ["jdoe"], "{alg:?}");
        assert_eq!(h("x-authentik-groups"), ["authentik Admins|ops"]);
        assert_eq!(h("x-authentik-entitlements"), ["app:read|app:write"]);
        assert_eq!(h("x-authentik-email"), ["jdoe@example.com"]);
        assert_eq!(h("x-authentik-name"), ["Jane Doe"]);
        assert_eq!(h("x-authentik-uid"), ["b4f3c1d2e5"]);
        assert_eq!(h("x-authentik-jwt"), [token.clone()]);
        assert_eq!(h("x-authentik-meta-app"), ["my-app"]);
        assert_eq!(h("x-authentik-meta-provider"), ["my-app"]);
        assert_eq!(
            h("x-authentik-meta-version"),
            [format!("ngx_http_sso_module/{}", env!("CARGO_PKG_VERSION"))]
        );
        assert_eq!(h("x-authentik-meta-outpost").len(), 1);
        assert_eq!(
            h("x-custom"),
            ["custom value"],
            "additionalHeaders replace forged ones"
        );
        assert_eq!(h("x-num"), ["42"], "integers as decimal");
        assert!(h("x-obj").is_empty(), "objects are skipped");
        let identity: Vec<&str> = got.identity_headers().keys().copied().collect();
        assert_eq!(
            identity,
            [
                "x-authentik-email",
                "x-authentik-entitlements",
                "x-authentik-groups",
                "x-authentik-jwt",
                "x-authentik-meta-app",
                "x-authentik-meta-outpost",
                "x-authentik-meta-provider",
                "x-authentik-meta-version",
                "x-authentik-name",
                "x-authentik-uid",
                "x-authentik-username",
            ]
        );
        // variables
        assert_eq!(h("x-var-user"), ["jdoe"]);
        assert_eq!(h("x-var-email"), ["jdoe@example.com"]);
        assert_eq!(h("x-var-name"), ["Jane Doe"]);
        assert_eq!(h("x-var-uid"), ["b4f3c1d2e5"]);
        assert_eq!(h("x-var-groups"), ["authentik Admins|ops"]);
        assert_eq!(h("x-var-entitlements"), ["app:read|app:write"]);
        assert_eq!(h("x-var-method"), ["bearer"]);
        assert_eq!(h("x-var-reason"), ["bearer"]);
        assert_eq!(h("x-var-backend"), ["http://backend:8080"]);
        assert_eq!(h("x-var-claim-email"), ["jdoe@example.com"]);
        assert_eq!(h("x-var-claim-groups"), ["authentik Admins|ops"]);
        let ak: Value = serde_json::from_str(&h("x-var-claim-ak")[0]).unwrap();
        assert_eq!(ak["backend_override"], "http://backend:8080");
    }
    n.assert_no_crash();
}

/// `proxy_set_header` of an identity header replaces ours (nginx finds it by the hash the
/// module gives the header, as for any client header); without `sso_app`, meta-app and
/// meta-provider are the host the client asked for.
fn proxy_set_header_overrides_and_meta_app_defaults_to_host(build: Build) {
    let up = Upstream::start();
    let conf = Server::to(&up.addr())
        .name("app.example.com")
        .with("sso_protect on;")
        .with(&jwks_sso())
        .in_root(r#"proxy_set_header X-authentik-email "set by nginx";"#)
        .in_root(r#"proxy_set_header X-authentik-groups "";"#)
        .in_root(r#"proxy_set_header X-Custom "mine";"#)
        .render();
    let n = Nginx::start(build, &conf);
    let token = mint(Algorithm::RS256, &claims(), None);
    for host in ["app.example.com", "Other.Example.org:8443"] {
        let r = n.get(
            "/x",
            &[
                JSON_ACCEPT,
                ("Host", host),
                ("Authorization", &format!("Bearer {token}")),
            ],
        );
        assert_eq!(r.status, 200, "{:?} {}", r.headers, n.error_log());
        let got = r.upstream();
        let h = |name: &str| -> Vec<String> { got.headers.get(name).cloned().unwrap_or_default() };
        assert_eq!(
            h("x-authentik-email"),
            ["set by nginx"],
            "replaced, not added"
        );
        assert!(
            h("x-authentik-groups").is_empty(),
            "an empty value removes it"
        );
        assert_eq!(h("x-custom"), ["mine"], "additionalHeaders too");
        assert_eq!(h("x-authentik-username"), ["jdoe"], "the others stay");
        // nginx keeps the validated host: lowercase, without the port.
        let expected = host.split(':').next().unwrap().to_ascii_lowercase();
        assert_eq!(h("x-authentik-meta-app"), [expected.clone()]);
        assert_eq!(h("x-authentik-meta-provider"), [expected]);
    }
    n.assert_no_crash();
}

fn attacks_and_bad_tokens_get_401_with_reason(build: Build) {
    let up = Upstream::start();
    // large header buffers, so an oversized token reaches the module instead of nginx's 400
    let n = Nginx::start(build, &site(&up, "large_client_header_buffers 4 64k;"));
    let c = claims();

    // alg none, in any spelling
    for alg in ["none", "None", "NONE"] {
        let t = raw_token(&json!({"alg": alg, "typ": "JWT"}), &c, b"");
        refused(&n, &t, "unsupported_algorithm");
    }
    // RS256 -> HS256 confusion: HMAC keyed with the RSA public key, naming the RSA kid
    let pubkey = key_file("rsa-1.pub.pem");
    let mut h = Header::new(Algorithm::HS256);
    h.kid = Some("rsa-1".into());
    let t = encode(&h, &c, &EncodingKey::from_secret(&pubkey)).unwrap();
    refused(&n, &t, "unsupported_algorithm");
    // unknown kid, signed by a key nobody configured
    let mut h = Header::new(Algorithm::RS256);
    h.kid = Some("nope".into());
    let other = EncodingKey::from_rsa_pem(&key_file("rsa-unknown.pem")).unwrap();
    let t = encode(&h, &c, &other).unwrap();
    refused(&n, &t, "unknown_key");
    // a known kid, the wrong key: bad signature; and jku pointing at the attacker's keys is
    // never followed
    let mut h = Header::new(Algorithm::RS256);
    h.kid = Some("rsa-1".into());
    h.jku = Some("https://evil.example/jwks.json".into());
    let t = encode(&h, &c, &other).unwrap();
    refused(&n, &t, "bad_signature");
    // tampered payload
    let good = mint(Algorithm::ES256, &c, None);
    let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
    let mut tampered = c.clone();
    tampered["preferred_username"] = json!("akadmin");
    parts[1] = B64.encode(serde_json::to_vec(&tampered).unwrap());
    refused(&n, &parts.join("."), "bad_signature");
    // crit with an extension we do not understand
    let mut h = Header::new(Algorithm::RS256);
    h.kid = Some("rsa-1".into());
    h.crit = Some(vec!["exp".into()]);
    let (k, _) = signing_key(Algorithm::RS256);
    let t = encode(&h, &c, &k).unwrap();
    refused(&n, &t, "malformed");
    // claims
    let with = |f: &dyn Fn(&mut Value)| {
        let mut c = claims();
        f(&mut c);
        mint(Algorithm::RS256, &c, None)
    };
    let r = refused(&n, &with(&|c| c["exp"] = json!(now() - 3600)), "expired");
    assert!(r.header("WWW-Authenticate").unwrap().contains("expired"));
    refused(
        &n,
        &with(&|c| c["nbf"] = json!(now() + 3600)),
        "not_yet_valid",
    );
    refused(
        &n,
        &with(&|c| c["iat"] = json!(now() + 3600)),
        "not_yet_valid",
    );
    refused(
        &n,
        &with(&|c| {
            c.as_object_mut()
                .unwrap()
                .remove("exp")
                .map(|_| ())
                .unwrap()
        }),
        "malformed",
    );
    refused(
        &n,
        &with(&|c| c["iss"] = json!("https://evil.example/")),
        "wrong_issuer",
    );
    let r = refused(
        &n,
        &with(&|c| c["iss"] = json!(ISSUER.trim_end_matches('/'))),
        "wrong_issuer",
    );
    assert!(
        r.header("WWW-Authenticate").unwrap().contains("slash"),
        "a trailing-slash-only mismatch is called out: {:?}",
        r.header("WWW-Authenticate")
    );
    refused(
        &n,
        &with(&|c| c["aud"] = json!("other-client")),
        "wrong_audience",
    );
    // aud as an array containing ours is fine
    let t = with(&|c| c["aud"] = json!(["x", CLIENT_ID]));
    assert_eq!(bearer(&n, &t).status, 200);
    // garbage and shapes
    refused(&n, "not-a-jwt", "malformed");
    refused(&n, "a.b.c", "malformed");
    refused(&n, "eyJhbGciOiJSUzI1NiJ9.e30", "malformed");
    refused(
        &n,
        &format!(
            "{}.e30.",
            B64.encode("[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[")
        ),
        "too_large",
    );
    let huge = format!("{}.{}.{}", "a".repeat(10_000), "b".repeat(10_000), "c");
    refused(&n, &huge, "too_large");
    // refusals are logged at info level with the reason, never the token
    let log = n.error_log();
    assert!(log.contains("reason: \"expired\""), "{log}");
    assert!(!log.contains(&good), "the token must not be logged");
    n.assert_no_crash();
}

fn browser_with_bad_token_goes_to_login(build: Build) {
    let up = Upstream::start();
    let n = Nginx::start(build, &site(&up, ""));
    let mut c = claims();
    c["exp"] = json!(now() - 3600);
    let t = mint(Algorithm::RS256, &c, None);
    let r = n.get(
        "/page",
        &[
            ("Accept", "text/html"),
            ("Authorization", &format!("Bearer {t}")),
        ],
    );
    assert_eq!(r.status, 302);
    assert_eq!(r.header("X-Reason"), Some("expired"));
}

fn leeway_applies(build: Build) {
    let up = Upstream::start();
    let mut c = claims();
    c["exp"] = json!(now() - 10);
    let t = mint(Algorithm::ES256, &c, None);
    let n = Nginx::start(build, &site(&up, ""));
    assert_eq!(bearer(&n, &t).status, 200, "default leeway is 30s");
    drop(n);
    let n = Nginx::start(build, &site(&up, "sso_leeway 0s;"));
    refused(&n, &t, "expired");
}

fn token_cookie_and_bearer_off(build: Build) {
    let up = Upstream::start();
    let n = Nginx::start(
        build,
        &site(&up, "sso_token_cookie CF_Authorization; location /api/ { sso_bearer off; proxy_pass http://%UP%; }"),
    );
    let t = mint(Algorithm::ES384, &claims(), None);
    let r = n.get(
        "/app/x",
        &[
            JSON_ACCEPT,
            ("Cookie", &format!("theme=dark; CF_Authorization={t}; x=y")),
        ],
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("X-Method"), Some("token_cookie"));
    assert_eq!(r.upstream().header("x-authentik-username"), Some("jdoe"));
    // a bad bearer does not hide a good token cookie
    let r = n.get(
        "/app/x",
        &[
            JSON_ACCEPT,
            ("Authorization", "Bearer garbage"),
            ("Cookie", &format!("CF_Authorization={t}")),
        ],
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("X-Method"), Some("token_cookie"));
    // sso_bearer off: the Authorization header is not looked at
    let r = bearer(&n, &t);
    assert_eq!(r.status, 200, "bearer on at /app");
    let r = n.get(
        "/api/x",
        &[JSON_ACCEPT, ("Authorization", &format!("Bearer {t}"))],
    );
    assert_eq!(r.status, 401);
    assert_eq!(r.header("X-Reason"), Some("no_credentials"));
    assert_eq!(r.header("WWW-Authenticate"), Some("Bearer"));
}

fn require_group_gives_403(build: Build) {
    let up = Upstream::start();
    let n = Nginx::start(
        build,
        &site(
            &up,
            "location /admin/ { sso_require_group admins \"authentik Admins\"; proxy_pass http://%UP%; } \
             location /staff/ { sso_require_group staff; proxy_pass http://%UP%; }",
        ),
    );
    let t = mint(Algorithm::RS256, &claims(), None);
    let auth = format!("Bearer {t}");
    let r = n.get("/admin/x", &[JSON_ACCEPT, ("Authorization", &auth)]);
    assert_eq!(r.status, 200);
    for accept in ["application/json", "text/html"] {
        let r = n.get("/staff/x", &[("Accept", accept), ("Authorization", &auth)]);
        assert_eq!(r.status, 403, "outside the group: 403, not a login loop");
        assert_eq!(r.header("X-Reason"), Some("forbidden_group"));
    }
}

/// No provider and no JWKS file: the client secret is the only key (README "Which keys verify
/// a token"; with a provider, see hardening.rs).
fn client_secret_signs_hs256(build: Build) {
    let up = Upstream::start();
    let n = Nginx::start(
        build,
        &Server::to(&up.addr())
            .with("sso_protect on;")
            .with(&format!("sso_client_id {CLIENT_ID};"))
            .with("sso_client_secret s3cret-s3cret-s3cret;")
            .with("add_header X-Reason $sso_reason always;")
            .render(),
    );
    let t = encode(
        &Header::new(Algorithm::HS256),
        &claims(),
        &EncodingKey::from_secret(b"s3cret-s3cret-s3cret"),
    )
    .unwrap();
    let r = bearer(&n, &t);
    assert_eq!(r.status, 200, "{:?}", r.headers);
    let t = encode(
        &Header::new(Algorithm::HS256),
        &claims(),
        &EncodingKey::from_secret(b"wrong-secret-wrong"),
    )
    .unwrap();
    refused(&n, &t, "bad_signature");
    // no asymmetric keys at all here: an RS256 token has nothing to verify against
    refused(&n, &mint(Algorithm::RS256, &claims(), None), "unknown_key");
}

fn control_characters_never_reach_headers(build: Build) {
    let up = Upstream::start();
    let n = Nginx::start(build, &site(&up, ""));
    let mut c = claims();
    c["name"] = json!("Jane\r\nX-Evil: 1\u{0}\u{7f}Doe");
    c["preferred_username"] = json!("j\ndoe");
    c["ak_proxy"]["user_attributes"]["additionalHeaders"] =
        json!({"X-Custom": "a\r\nX-Evil2: 2", "Bad Name": "x", "X-Authentik-Username": "akadmin"});
    let t = mint(Algorithm::EdDSA, &c, None);
    let r = bearer(&n, &t);
    assert_eq!(r.status, 200);
    let got = r.upstream();
    assert!(got.header("x-evil").is_none() && got.header("x-evil2").is_none());
    for values in got.headers.values() {
        for v in values {
            assert!(
                !v.bytes().any(|b| b < 0x20 && b != b'\t' || b == 0x7f),
                "{v:?}"
            );
        }
    }
    assert_eq!(got.headers["x-authentik-username"].len(), 1);
    assert_ne!(got.header("x-authentik-username"), Some("akadmin"));
}

fn cache_is_per_context(build: Build) {
    let up = Upstream::start();
    let n = Nginx::start(
        build,
        &site(
            &up,
            "location /other/ { sso_audience other-client; proxy_pass http://%UP%; }",
        ),
    );
    let t = mint(Algorithm::RS256, &claims(), None);
    for _ in 0..3 {
        assert_eq!(bearer(&n, &t).status, 200, "accepted (and cached) at /app");
        let r = n.get(
            "/other/x",
            &[JSON_ACCEPT, ("Authorization", &format!("Bearer {t}"))],
        );
        assert_eq!(
            r.status, 401,
            "a token cached in one location is not valid in another"
        );
        assert_eq!(r.header("X-Reason"), Some("wrong_audience"));
    }
}

fn bad_token_config_is_emerg(build: Build) {
    use crate::harness::{temp_dir, test_config};
    // Its own directory: the vendored and Debian variants run in parallel.
    let dir = temp_dir("bad-jwks");
    let bad_jwks = dir.join("jwks.json");
    std::fs::write(&bad_jwks, r#"{"keys": [{"kty": "RSA", "n": "AQAB"}]}"#).unwrap();
    let cases = [
        (
            format!("sso_jwks_file {};", bad_jwks.display()),
            vec!["sso_jwks_file", "[emerg]"],
        ),
        (
            "sso_jwks_file /nonexistent/jwks.json;".to_owned(),
            vec!["sso_jwks_file", "/nonexistent/jwks.json"],
        ),
        (
            "sso_leeway forever;".to_owned(),
            vec!["sso_leeway", "forever"],
        ),
        (
            "sso_token_cookie \"bad name\";".to_owned(),
            vec!["sso_token_cookie", "bad name"],
        ),
        (
            "sso_issuer auth.example.com;".to_owned(),
            vec!["sso_issuer", "auth.example.com"],
        ),
        ("sso_bearer maybe;".to_owned(), vec!["sso_bearer", "maybe"]),
    ];
    for (directive, expect) in cases {
        let (ok, out) = test_config(
            build,
            &format!("server {{ listen 127.0.0.1:%PORT%; {directive} }}"),
        );
        assert!(!ok, "{directive}: {out}");
        for e in expect {
            assert!(out.contains(e), "{directive}: {e:?} missing in {out}");
        }
    }
    let _ = std::fs::remove_dir_all(dir);
}

on_both_nginx!(
    every_algorithm_verifies_and_sets_identity,
    proxy_set_header_overrides_and_meta_app_defaults_to_host,
    attacks_and_bad_tokens_get_401_with_reason,
    browser_with_bad_token_goes_to_login,
    leeway_applies,
    token_cookie_and_bearer_off,
    require_group_gives_403,
    client_secret_signs_hs256,
    control_characters_never_reach_headers,
    cache_is_per_context,
    bad_token_config_is_emerg,
);

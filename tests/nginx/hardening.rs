//! Regression tests of the request path against hostile requests (README "Security"): each
//! is a finding of an outside review, widened to its class. Real nginx, real upstream, tokens
//! minted here or by the real provider.

use std::io::ErrorKind;
use std::net::TcpListener;
use std::thread;
use std::time::Duration;

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use crate::harness::http::JSON_ACCEPT;
use crate::harness::keys::{jwks_sso, mint, now, CLIENT_ID, ISSUER};
use crate::harness::site::{sso, url, Server, Site, SECRET};
use crate::harness::{free_port, request, temp_dir, Build, Nginx, Response, Upstream};
use crate::on_both_nginx;
use crate::provider::{browser_login, CookieJar};

fn claims(extra: Value) -> Value {
    let mut c = json!({
        "iss": ISSUER,
        "aud": CLIENT_ID,
        "sub": "b4f3c1d2e5",
        "exp": now() + 300,
        "iat": now() - 5,
        "preferred_username": "jdoe",
        "email": "jdoe@example.com",
        "groups": ["ops"],
        "ak_proxy": {"user_attributes": {"additionalHeaders": {"X-Custom": "custom value"}}}
    });
    for (k, v) in extra.as_object().unwrap() {
        c[k] = v.clone();
    }
    c
}

/// An RS256 token signed with the key of tests/nginx/keys/jwks.json (kid `rsa-1`).
fn rs256(claims: &Value) -> String {
    mint(Algorithm::RS256, claims, None)
}

fn hs256(secret: &[u8], kid: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = kid.map(str::to_owned);
    encode(&header, claims, &EncodingKey::from_secret(secret)).unwrap()
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// A server protected with the test JWKS, proxying to `up` without a URI (so the upstream
/// gets the request line's path as the client sent it).
fn token_site(up: &Upstream, server_extra: &str, locations: &str) -> String {
    Server::to(&up.addr())
        .name("app.test status.test")
        .with("sso_protect on;")
        .with(&jwks_sso())
        .with("add_header X-Reason $sso_reason always;")
        .with(server_extra)
        .with(locations)
        .render()
}

fn assert_refused(r: &Response, what: &str, n: &Nginx) {
    assert_eq!(
        r.status,
        401,
        "{what}: must not pass unauthenticated: {:?}\n{}",
        r,
        n.error_log()
    );
    assert!(
        !r.text().contains("\"target\""),
        "{what}: the upstream answered: {}",
        r.text()
    );
}

// ---------------------------------------------------------------------------------------------
// Findings 1 and 4: what the unauthenticated rules are matched on
// ---------------------------------------------------------------------------------------------

fn dot_segments_and_encodings_never_escape_an_unauthenticated_prefix(build: Build) {
    let up = Upstream::start();
    let n = Nginx::start(
        build,
        &token_site(
            &up,
            r#"sso_unauthenticated_paths ^/open/;
               sso_unauthenticated_urls ^http://[^/]+/pub/;"#,
            r#"location /alias/ { rewrite ^/alias/(.*)$ /open/$1 break; proxy_pass http://%UP%; }"#,
        ),
    );
    let get = |target: &str| request(n.port, "GET", target, &[JSON_ACCEPT], b"");
    for (prefix, other) in [("/open", "/admin"), ("/pub", "/admin")] {
        for attack in [
            format!("{prefix}/../admin/x"),
            format!("{prefix}/%2e%2e/admin/x"),
            format!("{prefix}/%2E%2E/admin/x"),
            format!("{prefix}/..%2Fadmin/x"),
            format!("{prefix}/..%2fadmin/x"),
            format!("{prefix}/%2e%2e%2fadmin/x"),
            format!("{prefix}/.%2e/admin/x"),
            format!("{other}/..%2F{}/x", &prefix[1..]),
            format!("{other}/%2e%2e%2F{}/x", &prefix[1..]),
            format!("{other}/..%5C{}/x", &prefix[1..]),
            format!("{prefix}%2Fx"),
            format!("{prefix}/..;/admin/x"),
            format!("{prefix}/.;/x"),
            format!("{prefix}/./x"),
            format!("/{prefix}/x"),
            format!("{prefix}//../admin"),
        ] {
            assert_refused(&get(&attack), &attack, &n);
        }
        // What the rule means still passes, and the upstream gets exactly that path.
        for fine in [
            format!("{prefix}/x"),
            format!("{prefix}/a%20b?q=1"),
            format!("{prefix}/..x/.y/z."),
        ] {
            let r = get(&fine);
            assert_eq!(r.status, 200, "{fine}: {:?}\n{}", r, n.error_log());
            let target = r.upstream().target;
            assert!(target.starts_with(prefix), "{fine} reached {target}");
        }
    }
    // Decoded: an encoded letter is the same path to nginx and to the upstream.
    assert_eq!(get("/o%70en/x").status, 200);
    // A rewrite makes nginx forward the rewritten path: that is what counts then.
    let r = get("/alias/x");
    assert_eq!(r.status, 200, "{:?}", r);
    assert_eq!(r.upstream().target, "/open/x");
    // Refusals are uncacheable.
    assert_eq!(
        get("/open/../admin/x").header("Cache-Control"),
        Some("no-store")
    );
    n.assert_no_crash();
}

// ---------------------------------------------------------------------------------------------
// Finding 2: the host of the URL rules is the one nginx routed on
// ---------------------------------------------------------------------------------------------

fn unauthenticated_urls_use_the_routed_host_and_port(build: Build) {
    let up = Upstream::start();
    let n = Nginx::start(
        build,
        &token_site(
            &up,
            r#"sso_unauthenticated_urls "^http://status\.test(:[0-9]+)?/" "^http://app\.test:%PORT%/feed$";"#,
            "",
        ),
    );
    let send = |target: &str, host: &str| {
        request(n.port, "GET", target, &[JSON_ACCEPT, ("Host", host)], b"")
    };
    // Served as app.test (the request line's host wins over Host, as nginx routes it).
    for (target, host) in [
        ("http://app.test/secret", "status.test"),
        ("http://APP.test/secret", "status.test"),
        ("http://app.test:1/secret", "status.test"),
        ("https://app.test/secret", "status.test"),
    ] {
        assert_refused(&send(target, host), &format!("{target} Host: {host}"), &n);
    }
    // The rule's own host passes, whichever way it is named.
    assert_eq!(send("/secret", "status.test").status, 200);
    assert_eq!(send("/secret", "STATUS.test").status, 200);
    assert_eq!(send("http://status.test/secret", "app.test").status, 200);
    // The port is the one the connection came in on.
    assert_eq!(send("/feed", "app.test").status, 200);
    assert_eq!(send("/feed", &format!("app.test:{}", n.port)).status, 200);
    // The Host header's port is not what nginx routed on: the connection's port is.
    assert_eq!(send("/feed", "app.test:1").status, 200);
    n.assert_no_crash();
}

// ---------------------------------------------------------------------------------------------
// Finding 3: subrequests are decided and stripped as requests of their own
// ---------------------------------------------------------------------------------------------

fn subrequests_are_gated_and_stripped(build: Build) {
    let up = Upstream::start();
    let mirror = TcpListener::bind("127.0.0.1:0").unwrap();
    mirror.set_nonblocking(true).unwrap();
    let mport = mirror.local_addr().unwrap().port();
    let n = Nginx::start(
        build,
        &Server::to(&up.addr())
            .without_root()
            .name("app.test")
            .with(&jwks_sso())
            .with("root %DIR%/html;")
            .with("location /page.shtml { ssi on; ssi_types *; }")
            .with("location /ar/ { auth_request /protected/check; proxy_pass http://%UP%; }")
            .with("location /m/ { mirror /mirrored/; proxy_pass http://%UP%; }")
            .with(&format!(
                "location /mirrored/ {{ internal; sso_protect on; proxy_pass http://127.0.0.1:{mport}; }}"
            ))
            .with("location /protected/ { sso_protect on; proxy_pass http://%UP%; }")
            .render(),
    );
    n.write_file(
        "page.shtml",
        "<p>before</p><!--# include virtual=\"/protected/inc\" --><p>after</p>",
    );
    let forged = [
        ("X-authentik-username", "root"),
        ("X-authentik-groups", "admins"),
        ("X-Custom", "forged"),
    ];
    // SSI include: anonymous gets the page without the protected part.
    let mut headers = vec![JSON_ACCEPT];
    headers.extend(forged);
    let r = n.get("/page.shtml", &headers);
    assert_eq!(r.status, 200, "{:?}", r);
    let page = r.text();
    assert!(page.contains("before") && page.contains("after"), "{page}");
    assert!(page.contains("401"), "the include was refused: {page}");
    assert!(
        !page.contains("\"target\""),
        "the protected include was served to an anonymous client: {page}"
    );
    // With a valid token the include is served, with our identity and not the forged one.
    let token = rs256(&claims(json!({})));
    let auth = bearer(&token);
    let mut headers = vec![JSON_ACCEPT, ("Authorization", auth.as_str())];
    headers.extend(forged);
    let page = n.get("/page.shtml", &headers).text();
    let start = page.find('{').expect("the include's JSON");
    let end = page.rfind('}').unwrap();
    // The include's part of the page is the upstream's report.
    let seen = Response {
        status: 200,
        headers: Vec::new(),
        body: page.as_bytes()[start..=end].to_vec(),
    }
    .upstream();
    assert_eq!(seen.headers["x-authentik-username"], ["jdoe"], "{seen:?}");
    assert_eq!(seen.headers["x-authentik-groups"], ["ops"]);
    assert_eq!(seen.headers["x-custom"], ["custom value"]);

    // auth_request into a protected location: the anonymous client is refused.
    let r = n.get("/ar/x", &[JSON_ACCEPT]);
    assert_eq!(r.status, 401, "{:?}", r);
    assert!(!r.text().contains("\"target\""));
    let r = n.get("/ar/x", &[JSON_ACCEPT, ("Authorization", auth.as_str())]);
    assert_eq!(r.status, 200, "{:?}\n{}", r, n.error_log());

    // mirror into a protected location: nothing reaches its upstream for anonymous clients.
    let r = n.get("/m/x", &[JSON_ACCEPT, ("X-authentik-username", "root")]);
    assert_eq!(r.status, 200);
    assert_eq!(
        r.upstream().header("x-authentik-username"),
        Some("root"),
        "an unprotected location is the module's business only where sso_protect is on"
    );
    thread::sleep(Duration::from_millis(500));
    match mirror.accept() {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        other => panic!("the mirror subrequest reached its upstream anonymously: {other:?}"),
    }
    // The main request's own headers were not touched by the subrequest's list.
    let r = n.get(
        "/protected/y",
        &[JSON_ACCEPT, ("Authorization", auth.as_str())],
    );
    assert_eq!(r.upstream().header("x-authentik-username"), Some("jdoe"));
    n.assert_no_crash();
}

// ---------------------------------------------------------------------------------------------
// Findings 5 and 6: client-sent identity headers in every spelling, and every
// `additionalHeaders` name
// ---------------------------------------------------------------------------------------------

fn forged_headers_in_every_spelling_never_reach_the_upstream(build: Build) {
    let up = Upstream::start();
    let mut additional = serde_json::Map::new();
    additional.insert("X-Custom".into(), json!("custom value"));
    additional.insert("X-Role".into(), json!({"not": "a string"}));
    additional.insert("X-Flag".into(), json!(true));
    for i in 0..40 {
        additional.insert(format!("X-H{i:02}"), json!("v"));
    }
    let token = rs256(&claims(json!({
        "ak_proxy": {"user_attributes": {"additionalHeaders": additional}}
    })));
    let auth = bearer(&token);
    for server_extra in ["underscores_in_headers on;", "ignore_invalid_headers off;"] {
        let n = Nginx::start(
            build,
            &token_site(
                &up,
                &format!("{server_extra} sso_unauthenticated_paths ^/open/;"),
                "location /quiet/ { sso_identity_headers off; proxy_pass http://%UP%; }
                 location /seen/ { proxy_set_header X-Seen $http_x_authentik_username; proxy_pass http://%UP%; }",
            ),
        );
        let forged: Vec<(&str, &str)> = vec![
            ("X_authentik_username", "root"),
            ("x_AUTHENTIK_groups", "admins"),
            ("X-authentik_uid", "0"),
            ("X_authentik-email", "root@example.com"),
            ("X-AUTHENTIK-META-APP", "forged"),
            ("X_Custom", "forged"),
            ("x-custom", "forged"),
            ("X-Role", "root"),
            ("X_role", "root"),
            ("X-Flag", "1"),
            ("X-H39", "forged"),
            ("X_H35", "forged"),
        ];
        let forged_names: Vec<String> = forged
            .iter()
            .map(|(k, _)| k.to_lowercase().replace('_', "-"))
            .collect();
        let check = |path: &str, with_token: bool| {
            let mut headers = vec![JSON_ACCEPT];
            if with_token {
                headers.push(("Authorization", auth.as_str()));
            }
            headers.extend(forged.iter().copied());
            let r = n.get(path, &headers);
            assert_eq!(
                r.status,
                200,
                "{server_extra} {path}: {:?}\n{}",
                r,
                n.error_log()
            );
            let got = r.upstream();
            for (name, values) in &got.headers {
                let folded = name.replace('_', "-");
                // Without a user there are no `additionalHeaders` names to strip.
                let named = with_token && forged_names.contains(&folded);
                if named || folded.starts_with("x-authentik-") {
                    for v in values {
                        assert!(
                            !["root", "admins", "0", "root@example.com", "forged", "1"]
                                .contains(&v.as_str()),
                            "{server_extra} {path}: the client's {name}: {v} reached the upstream: {:?}",
                            got.headers
                        );
                    }
                }
            }
            got
        };
        let got = check("/x", true);
        assert_eq!(got.headers["x-authentik-username"], ["jdoe"]);
        assert_eq!(got.headers["x-custom"], ["custom value"]);
        assert!(!got.headers.contains_key("x-role"));
        check("/quiet/x", true);
        check("/open/x", false);
        check("/open/x", true);
        let got = check("/seen/x", true);
        assert_eq!(
            got.header("x-seen"),
            Some("jdoe"),
            "$http_x_authentik_username"
        );
        n.assert_no_crash();
    }
}

// ---------------------------------------------------------------------------------------------
// Finding 7: the client secret is a key only when there is no other key source
// ---------------------------------------------------------------------------------------------

fn client_secret_is_a_key_only_without_other_keys(build: Build) {
    // A provider that publishes its own keys (the real oidc-provider).
    let Site { provider, up, n } = Site::new(build).start();
    let claims = json!({
        "iss": provider.issuer, "aud": "app", "sub": "x", "preferred_username": "mallory",
        "exp": now() + 300, "iat": now() - 5,
    });
    let good =
        provider.sign_claims(json!({"aud": "app", "sub": "x", "preferred_username": "alice"}));
    let r = n.get("/x", &[JSON_ACCEPT, ("Authorization", &bearer(&good))]);
    assert_eq!(
        r.status,
        200,
        "the provider's own token: {:?}\n{}",
        r,
        n.error_log()
    );
    for kid in [None, Some("unknown"), Some("key0")] {
        let forged = hs256(SECRET.as_bytes(), kid, &claims);
        let r = n.get("/x", &[JSON_ACCEPT, ("Authorization", &bearer(&forged))]);
        assert_eq!(
            r.status, 401,
            "HS256 with the client secret, kid {kid:?}: {:?}",
            r
        );
        assert!(r.header("WWW-Authenticate").is_some());
    }
    drop(n);

    // A provider whose keys are not known yet (nothing listens there).
    let dead = format!("http://127.0.0.1:{}/dead/", free_port());
    let n = Nginx::start(build, &Server::app(&up.addr(), &sso(&dead, "")).render());
    let claims = json!({
        "iss": dead, "aud": "app", "sub": "x", "exp": now() + 300, "iat": now() - 5,
    });
    let forged = hs256(SECRET.as_bytes(), None, &claims);
    let r = n.get("/x", &[JSON_ACCEPT, ("Authorization", &bearer(&forged))]);
    assert_eq!(
        r.status, 401,
        "while the provider's keys are unknown: {:?}",
        r
    );
    assert_eq!(r.header("X-Reason"), Some("no_keys"));
    drop(n);

    // No other key source at all: the secret verifies (authentik without a signing key).
    let n = Nginx::start(
        build,
        &Server::app(
            &up.addr(),
            &format!("sso_client_id app; sso_client_secret {SECRET};"),
        )
        .render(),
    );
    let claims = json!({"aud": "app", "sub": "x", "exp": now() + 300, "iat": now() - 5});
    let ok = hs256(SECRET.as_bytes(), None, &claims);
    let r = n.get("/x", &[JSON_ACCEPT, ("Authorization", &bearer(&ok))]);
    assert_eq!(r.status, 200, "{:?}\n{}", r, n.error_log());
    n.assert_no_crash();
}

// ---------------------------------------------------------------------------------------------
// Finding 8: exact values; what cannot be sent is omitted, never rewritten
// ---------------------------------------------------------------------------------------------

fn control_characters_never_merge_identities(build: Build) {
    let up = Upstream::start();
    let n = Nginx::start(
        build,
        &token_site(
            &up,
            "",
            &format!(
                r#"location /admin/ {{
                    sso_require_group admins-only;
                    proxy_set_header X-Var-User $sso_user;
                    proxy_set_header X-Var-Groups $sso_groups;
                    proxy_pass http://{};
                }}"#,
                up.addr()
            ),
        ),
    );
    let get = |c: Value| {
        let auth = bearer(&rs256(&claims(c)));
        n.get("/admin/x", &[JSON_ACCEPT, ("Authorization", &auth)])
    };
    for group in [
        "admins-only\u{0}",
        "\tadmins-only",
        "admins-only ",
        " admins-only",
        "admins-only\r\n",
        "admins\u{0}-only",
        "admins-only\u{85}",
        "Admins-only",
    ] {
        let r = get(json!({ "groups": [group] }));
        assert_eq!(r.status, 403, "group {group:?}: {:?}", r);
        assert_eq!(r.header("X-Reason"), Some("forbidden_group"));
        assert_eq!(r.header("Cache-Control"), Some("no-store"));
    }
    let r = get(json!({ "groups": ["admins-only", "a|admin", "x\ny"] }));
    assert_eq!(r.status, 200);
    let got = r.upstream();
    assert_eq!(
        got.header("x-authentik-groups"),
        Some("admins-only"),
        "{:?}",
        got.headers
    );
    assert_eq!(got.header("x-var-groups"), Some("admins-only"));
    for name in [
        "ad\nmin",
        "ad\rmin",
        "admin\u{0}",
        " admin",
        "ad\u{7f}min",
        "ad\u{9b}min",
    ] {
        let r = get(json!({ "preferred_username": name, "groups": ["admins-only"] }));
        assert_eq!(r.status, 200);
        let got = r.upstream();
        let sent = got.header("x-authentik-username").unwrap_or("");
        assert_eq!(sent, "", "{name:?} was sent as {sent:?}");
        assert_eq!(got.header("x-var-user").unwrap_or(""), "");
    }
    assert!(
        n.error_log().contains("\"X-authentik-username\" omitted"),
        "the omission is logged:\n{}",
        n.error_log()
    );
    n.assert_no_crash();
}

// ---------------------------------------------------------------------------------------------
// Sessions are bound to the issuer too
// ---------------------------------------------------------------------------------------------

fn sessions_are_bound_to_the_issuer(build: Build) {
    let keys = temp_dir("session-keys").join("session.keys");
    std::fs::write(&keys, format!("{}\n", "ab".repeat(32))).unwrap();
    let keys_line = format!("sso_session_secret_file {};", keys.display());
    let site = Site::new(build).sso(&keys_line).start();
    let (n, up) = (&site.n, &site.up);
    let mut jar = CookieJar::new();
    let end = browser_login(&mut jar, &url(n, "/x"), "demo", "demo");
    assert_eq!(
        end.response.status,
        200,
        "{:#?}\n{}",
        end.hops,
        n.error_log()
    );
    let cookie = jar.header_for(&url(n, "/x")).expect("session cookie");
    // The same client id and session keys, another issuer: the cookie does not open.
    let other = format!("http://127.0.0.1:{}/other/", free_port());
    let m = Nginx::start(
        build,
        &Server::app(&up.addr(), &sso(&other, &keys_line)).render(),
    );
    let r = m.get("/x", &[JSON_ACCEPT, ("Cookie", &cookie)]);
    assert_eq!(r.status, 401, "a session of another issuer: {:?}", r);
    // ... while the first server still takes it.
    let r = n.get("/x", &[JSON_ACCEPT, ("Cookie", &cookie)]);
    assert_eq!(r.status, 200);
    n.assert_no_crash();
    m.assert_no_crash();
}

on_both_nginx!(
    dot_segments_and_encodings_never_escape_an_unauthenticated_prefix,
    unauthenticated_urls_use_the_routed_host_and_port,
    subrequests_are_gated_and_stripped,
    forged_headers_in_every_spelling_never_reach_the_upstream,
    client_secret_is_a_key_only_without_other_keys,
    control_characters_never_merge_identities,
    sessions_are_bound_to_the_issuer,
);

//! SPEC §3 steps 1, 2, 4, 5, 7 and §5 `ping` against a real nginx: who is sent to log in,
//! who gets 401, what passes unauthenticated, and which headers reach the upstream.

use crate::harness::http::{BROWSER_ACCEPT as BROWSER, JSON_ACCEPT as JSON};
use crate::harness::site::Server;
use crate::harness::url::percent_decode;
use crate::harness::{test_config, Build, Nginx, Upstream};
use crate::on_both_nginx;

/// `sso_protect on` in front of the upstream, with `server_extra`.
fn proxied(upstream: &Upstream, server_extra: &str) -> String {
    Server::protected(&upstream.addr())
        .with(server_extra)
        .render()
}

/// Splits a Location into (everything before `?rd=`/`&rd=`, the decoded rd).
fn split_rd(location: &str) -> (String, String) {
    let idx = location
        .find("?rd=")
        .or_else(|| location.find("&rd="))
        .unwrap_or_else(|| panic!("no rd in {location}"));
    (
        location[..idx].to_owned(),
        percent_decode(&location[idx + 4..]),
    )
}

fn browser_navigation_goes_to_login(build: Build) {
    let up = Upstream::start();
    let n = Nginx::start(build, &proxied(&up, ""));
    let r = n.get("/app/page?x=1&y=a%20b", &[BROWSER]);
    assert_eq!(r.status, 302, "{:?}", r);
    let (login, rd) = split_rd(r.header("Location").expect("Location"));
    assert!(
        login.ends_with("/outpost.goauthentik.io/start"),
        "login URL {login}"
    );
    assert_eq!(
        rd, "/app/page?x=1&y=a%20b",
        "rd is the original request URI"
    );
    // the rd value itself is percent-encoded: no raw '?', '&' or ' ' after rd=
    let raw_rd = r.header("Location").unwrap().split("rd=").nth(1).unwrap();
    assert!(!raw_rd.contains('?') && !raw_rd.contains('&') && !raw_rd.contains(' '));

    let head = n.request("HEAD", "/app", &[BROWSER]);
    assert_eq!(head.status, 302);
    n.assert_no_crash();
}

fn absolute_login_url_gets_full_url(build: Build) {
    let up = Upstream::start();
    let n = Nginx::start(
        build,
        &proxied(
            &up,
            "sso_login_url https://auth.example.com/outpost.goauthentik.io/start;",
        ),
    );
    let r = n.get("/docs/a?b=c", &[BROWSER, ("Host", "app.example.com:8443")]);
    assert_eq!(r.status, 302);
    let (login, rd) = split_rd(r.header("Location").unwrap());
    assert_eq!(
        login,
        "https://auth.example.com/outpost.goauthentik.io/start"
    );
    assert_eq!(rd, "http://app.example.com:8443/docs/a?b=c");
}

fn non_navigation_gets_401(build: Build) {
    let up = Upstream::start();
    let n = Nginx::start(build, &proxied(&up, ""));
    for (method, headers) in [
        ("GET", vec![JSON]),
        ("GET", vec![]),
        ("POST", vec![BROWSER]),
        ("DELETE", vec![BROWSER]),
        ("GET", vec![BROWSER, ("X-Requested-With", "XMLHttpRequest")]),
        ("GET", vec![("Accept", "text/html;q=0")]),
    ] {
        let r = n.request(method, "/api/thing", &headers);
        assert_eq!(r.status, 401, "{method} {headers:?}");
        assert_eq!(
            r.header("WWW-Authenticate"),
            Some("Bearer"),
            "{method} {headers:?}"
        );
        assert!(r.header("Location").is_none());
    }
    assert!(n.error_log().contains("reason: \"no_credentials\""));
}

fn unauthenticated_paths_pass(build: Build) {
    let up = Upstream::start();
    let n = Nginx::start(
        build,
        &proxied(
            &up,
            r#"sso_unauthenticated_paths ^/public/ "\.css$";
               sso_unauthenticated_paths open$;"#,
        ),
    );
    let pass = |path: &str| {
        let r = n.get(path, &[JSON]);
        assert_eq!(r.status, 200, "{path} should pass");
        assert_eq!(r.upstream().target, path);
    };
    let gated = |path: &str| {
        let r = n.get(path, &[JSON]);
        assert_eq!(r.status, 401, "{path} should be gated");
    };
    pass("/public/index.html");
    pass("/static/site.css");
    pass("/x/open");
    // matched decoded and without the query
    pass("/p%75blic/encoded");
    pass("/x/open?y=1");
    gated("/x?y=open");
    pass("/static/site.css?v=2");
    gated("/static/site.css2?v=.css");
    gated("/not/public/");
    gated("/private");
    // unanchored unless anchored: "open$" matches any path ending in open
    pass("/deep/reopen");
}

fn unauthenticated_urls_pass(build: Build) {
    let up = Upstream::start();
    let n = Nginx::start(
        build,
        &proxied(
            &up,
            r#"sso_unauthenticated_urls "^http://feeds\.example\.com:%PORT%/" "^http://localhost:%PORT%/feed\?format=rss$";"#,
        ),
    );
    let r = n.get("/feed?format=rss", &[JSON]);
    assert_eq!(r.status, 200);
    assert_eq!(n.get("/feed", &[JSON]).status, 401);
    assert_eq!(n.get("/feed?format=rss&x", &[JSON]).status, 401);
    let r = n.get("/anything", &[JSON, ("Host", "feeds.example.com")]);
    assert_eq!(r.status, 200, "host is part of the URL");
    assert_eq!(
        n.get("/anything", &[JSON, ("Host", "other.example.com")])
            .status,
        401
    );
}

fn client_identity_headers_never_reach_upstream(build: Build) {
    let up = Upstream::start();
    let n = Nginx::start(
        build,
        &proxied(
            &up,
            r#"sso_unauthenticated_paths ^/public/;
               location /allowed/ { satisfy any; allow 127.0.0.1; deny all; proxy_pass http://%UP%; }"#,
        ),
    );
    let forged = [
        ("X-authentik-username", "akadmin"),
        ("x-authentik-groups", "admins"),
        ("X-AUTHENTIK-UID", "1"),
        ("X-Authentik-Meta-App", "evil"),
        ("X-Other", "kept"),
        ("Cookie", "a=b"),
        ("User-Agent", "test-agent"),
    ];
    for path in ["/public/x", "/allowed/y"] {
        let r = n.get(path, &forged);
        assert_eq!(r.status, 200, "{path}");
        let got = r.upstream();
        assert!(
            got.identity_headers().is_empty(),
            "{path}: upstream got {:?}",
            got.identity_headers()
        );
        assert_eq!(got.header("x-other"), Some("kept"));
        assert_eq!(got.header("cookie"), Some("a=b"));
        assert_eq!(got.header("user-agent"), Some("test-agent"));
    }
    // more headers than one nginx list part holds (20), identity headers scattered across
    // parts, at the edges of parts and last: all of them go, all others stay in order.
    let mut many: Vec<(String, String)> = Vec::new();
    for i in 0..45 {
        if [0, 19, 20, 21, 39, 44].contains(&i) {
            many.push((format!("X-Authentik-Forged-{i}"), "x".into()));
        } else {
            many.push((format!("X-Keep-{i}"), i.to_string()));
        }
    }
    let refs: Vec<(&str, &str)> = many.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let r = n.get("/public/many", &refs);
    assert_eq!(r.status, 200);
    let got = r.upstream();
    assert!(
        got.identity_headers().is_empty(),
        "{:?}",
        got.identity_headers()
    );
    let kept: Vec<&String> = got
        .headers
        .keys()
        .filter(|k| k.starts_with("x-keep-"))
        .collect();
    assert_eq!(kept.len(), 39);
    for (i, (k, v)) in many.iter().enumerate() {
        if k.starts_with("X-Keep") {
            assert_eq!(got.header(k), Some(v.as_str()), "header {i}");
        }
    }
    n.assert_no_crash();
}

fn satisfy_any_composes_like_auth_basic(build: Build) {
    let up = Upstream::start();
    let n = Nginx::start(
        build,
        &Server::to(&up.addr())
            .without_root()
            .with("sso_protect on;")
            .with("location /lan/ { satisfy any; allow 127.0.0.1; deny all; proxy_pass http://%UP%; }")
            .with("location /other/ { satisfy any; allow 192.0.2.1; deny all; proxy_pass http://%UP%; }")
            .with("location /denied/ { deny all; proxy_pass http://%UP%; }")
            .with("location /public/ { sso_unauthenticated_paths .; satisfy any; allow 192.0.2.1; deny all; proxy_pass http://%UP%; }")
            .render(),
    );
    // allowed client: straight through, no login
    let r = n.get("/lan/app", &[BROWSER]);
    assert_eq!(r.status, 200);
    assert_eq!(r.upstream().target, "/lan/app");
    assert_eq!(n.get("/lan/api", &[JSON]).status, 200);
    // not allowed: must log in
    assert_eq!(n.get("/other/app", &[BROWSER]).status, 302);
    let r = n.get("/other/api", &[JSON]);
    assert_eq!(r.status, 401);
    assert_eq!(r.header("WWW-Authenticate"), Some("Bearer"));
    // satisfy all (default) with deny: 403 before any login
    assert_eq!(n.get("/denied/x", &[BROWSER]).status, 403);
    // an unauthenticated path is like `auth_basic off`: it grants nothing, deny still denies
    assert_eq!(n.get("/public/x", &[JSON]).status, 403);
}

fn ping_and_prefix(build: Build) {
    let up = Upstream::start();
    let n = Nginx::start(
        build,
        &proxied(
            &up,
            "location /custom/ { sso_outpost_prefix /custom/sso; proxy_pass http://%UP%; }
             location /open/ { sso_protect off; proxy_pass http://%UP%; }",
        ),
    );
    let r = n.get("/outpost.goauthentik.io/ping", &[JSON]);
    assert_eq!(r.status, 204);
    assert!(r.body.is_empty());
    assert_eq!(
        n.get("/outpost.goauthentik.io/ping", &[BROWSER]).status,
        204
    );
    assert_eq!(n.get("/outpost.goauthentik.io/nope", &[JSON]).status, 404);
    assert_eq!(n.get("/custom/sso/ping", &[JSON]).status, 204);
    let r = n.get("/custom/page", &[BROWSER]);
    let (login, rd) = split_rd(r.header("Location").unwrap());
    assert!(login.ends_with("/custom/sso/start"), "{login}");
    assert_eq!(rd, "/custom/page");
    // nested override: sso_protect off
    let r = n.get("/open/x", &[JSON]);
    assert_eq!(r.status, 200);
}

fn bad_config_is_emerg(build: Build) {
    let cases = [
        (
            "sso_unauthenticated_paths ^/ok ^/api/(v1;",
            vec![
                "[emerg]",
                "sso_unauthenticated_paths",
                "\"^/api/(v1\"",
                "position 6",
                "unclosed group",
            ],
        ),
        (
            r"sso_unauthenticated_urls (a)\1;",
            vec!["[emerg]", "sso_unauthenticated_urls", "position"],
        ),
        (
            "sso_protect maybe;",
            vec!["[emerg]", "sso_protect", "maybe"],
        ),
        (
            "sso_outpost_prefix noslash;",
            vec!["[emerg]", "sso_outpost_prefix", "\"noslash\""],
        ),
        (
            "sso_login_url ftp://x/;",
            vec!["[emerg]", "sso_login_url", "\"ftp://x/\""],
        ),
        (
            "sso_cookie_domain bad_domain!;",
            vec!["[emerg]", "sso_cookie_domain", "bad_domain!"],
        ),
        (
            "sso_protect on; sso_protect off;",
            vec!["[emerg]", "sso_protect", "duplicate"],
        ),
    ];
    for (directive, expect) in cases {
        let (ok, out) = test_config(
            build,
            &format!("server {{ listen 127.0.0.1:%PORT%; {directive} }}"),
        );
        assert!(!ok, "{directive} should fail nginx -t:\n{out}");
        for e in expect {
            assert!(out.contains(e), "{directive}: {e:?} missing in:\n{out}");
        }
        assert!(!out.contains("panicked"), "{out}");
    }
    let (ok, out) = test_config(
        build,
        "server { listen 127.0.0.1:%PORT%; sso_protect on; sso_unauthenticated_paths ^/a; \
         location /x { sso_unauthenticated_urls ^https://; sso_identity_headers off; } }",
    );
    assert!(ok, "{out}");
}

on_both_nginx!(
    browser_navigation_goes_to_login,
    absolute_login_url_gets_full_url,
    non_navigation_gets_401,
    unauthenticated_paths_pass,
    unauthenticated_urls_pass,
    client_identity_headers_never_reach_upstream,
    satisfy_any_composes_like_auth_basic,
    ping_and_prefix,
    bad_config_is_emerg,
);

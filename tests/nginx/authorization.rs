//! Authorization per location (README "Directives" → `sso_require_claim`, "How a request is
//! decided" step 6) and HTTP Basic to the upstream (`sso_basic_auth_attributes`, README
//! "Identity headers"), against the real provider: bearer tokens it signs (`/_test/sign`)
//! and login sessions of users it gives claims to.

use std::thread;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::{json, Value};

use crate::harness::http::JSON_ACCEPT;
use crate::harness::site::{start_provider, wait_ready, Site, CLIENT_ID, SECRET};
use crate::harness::{scaled, test_config, Build, Nginx, Response, Upstream};
use crate::on_both_nginx;
use crate::provider::{client, config, CookieJar, Provider, ANY_CALLBACK};

/// The locations the rule tests share (`%UP%` is the upstream). Nested locations inherit
/// their parent's rules unless they have their own.
const RULES: &str = "\
    location /realm/ { sso_require_claim realm_access.roles admin; proxy_pass http://%UP%; }\n\
    location /level/ { sso_require_claim level 42.0; proxy_pass http://%UP%; }\n\
    location /staff/ { sso_require_claim staff true; proxy_pass http://%UP%; }\n\
    location /dept/ { sso_require_claim ak_proxy.user_attributes.dept sales ops; proxy_pass http://%UP%; }\n\
    location /and/ {\n\
        sso_require_claim realm_access.roles admin;\n\
        sso_require_claim ak_proxy.user_attributes.dept ops;\n\
        proxy_pass http://%UP%;\n\
    }\n\
    location /both/ { sso_require_group ops; sso_require_claim staff true; proxy_pass http://%UP%; }\n\
    location /tenant/ {\n\
        sso_require_claim tenant acme;\n\
        proxy_pass http://%UP%;\n\
        location /tenant/inherit/ { proxy_pass http://%UP%; }\n\
        location /tenant/override/ { sso_require_claim tenant other; proxy_pass http://%UP%; }\n\
    }\n\
    location /custom/ {\n\
        sso_require_claim realm_access.roles admin;\n\
        error_page 403 /denied.html;\n\
        proxy_pass http://%UP%;\n\
    }\n\
    location = /denied.html { sso_protect off; root %DIR%/html; }\n\
    location /mixed/ {\n\
        satisfy any;\n\
        auth_basic \"staff\";\n\
        auth_basic_user_file %DIR%/html/htpasswd;\n\
        sso_require_claim realm_access.roles admin;\n\
        proxy_pass http://%UP%;\n\
    }\n";

fn rules_site(build: Build) -> Site {
    let site = Site::new(build)
        .sso("sso_token_cookie tok;")
        .server(RULES)
        .start();
    site.n.write_file("denied.html", "custom denied page\n");
    site.n.write_file("htpasswd", "staff:{PLAIN}staff-pw\n");
    site
}

/// A token the provider signs for this client with `claims` (over `sub` and `aud`).
fn token(provider: &Provider, claims: Value) -> String {
    let mut all = json!({"aud": CLIENT_ID, "sub": "svc-1", "preferred_username": "alice"});
    for (k, v) in claims.as_object().unwrap() {
        all[k] = v.clone();
    }
    provider.sign_claims(all)
}

fn api(site: &Site, path: &str, token: &str) -> Response {
    site.n.get(
        path,
        &[JSON_ACCEPT, ("Authorization", &format!("Bearer {token}"))],
    )
}

/// `path` answers 200 from the upstream, or 403 with `reason`, for `token`.
fn expect(site: &Site, path: &str, token: &str, reason: Option<&str>) {
    let r = api(site, path, token);
    match reason {
        None => {
            assert_eq!(
                r.status,
                200,
                "{path}: {}\n{}",
                r.text(),
                site.n.error_log()
            );
            assert_eq!(r.upstream().target, path);
            assert_eq!(r.header("X-Reason"), Some("bearer"), "{path}");
        }
        Some(reason) => {
            assert_eq!(r.status, 403, "{path}: {}", r.text());
            assert_eq!(r.header("X-Reason"), Some(reason), "{path}");
            assert!(r.location().is_none(), "{path}: never a redirect");
        }
    }
}

fn claim_rules_on_bearer_tokens(build: Build) {
    let site = rules_site(build);
    let p = &site.provider;
    let admin = token(
        p,
        json!({
            "realm_access": {"roles": ["offline_access", "admin"]},
            "level": 42,
            "staff": true,
            "groups": ["ops"],
            "tenant": "acme",
            "ak_proxy": {"user_attributes": {"dept": "ops"}}
        }),
    );
    let viewer = token(
        p,
        json!({
            "realm_access": {"roles": ["viewer"]},
            "level": "42",
            "staff": "yes",
            "groups": ["dev"],
            "tenant": "other",
            "ak_proxy": {"user_attributes": {"dept": "sales"}}
        }),
    );
    let bare = token(p, json!({}));
    // nested path + array membership
    expect(&site, "/realm/x", &admin, None);
    expect(&site, "/realm/x", &viewer, Some("forbidden_claim"));
    // a missing claim fails
    expect(&site, "/realm/x", &bare, Some("forbidden_claim"));
    // a number: 42 matches 42.0, the string "42" does not
    expect(&site, "/level/x", &admin, None);
    expect(&site, "/level/x", &viewer, Some("forbidden_claim"));
    // a boolean
    expect(&site, "/staff/x", &admin, None);
    expect(&site, "/staff/x", &viewer, Some("forbidden_claim"));
    // values of one directive: any of them
    expect(&site, "/dept/x", &admin, None);
    expect(&site, "/dept/x", &viewer, None);
    expect(&site, "/dept/x", &bare, Some("forbidden_claim"));
    // two directives: both
    expect(&site, "/and/x", &admin, None);
    let half = token(
        p,
        json!({"realm_access": {"roles": ["admin"]}, "ak_proxy": {"user_attributes": {"dept": "sales"}}}),
    );
    expect(&site, "/and/x", &half, Some("forbidden_claim"));
    // groups and claims compose: each one alone is not enough
    expect(&site, "/both/x", &admin, None);
    let group_only = token(p, json!({"groups": ["ops"], "staff": false}));
    expect(&site, "/both/x", &group_only, Some("forbidden_claim"));
    let claim_only = token(p, json!({"groups": ["dev"], "staff": true}));
    expect(&site, "/both/x", &claim_only, Some("forbidden_group"));
    // inherited by a nested location, replaced where it has its own
    expect(&site, "/tenant/x", &admin, None);
    expect(&site, "/tenant/inherit/x", &admin, None);
    expect(&site, "/tenant/inherit/x", &viewer, Some("forbidden_claim"));
    expect(&site, "/tenant/override/x", &viewer, None);
    expect(&site, "/tenant/override/x", &admin, Some("forbidden_claim"));
    // no rule at /: everyone authenticated passes
    expect(&site, "/app", &viewer, None);
    // a token cookie is held to the same rules
    let cookie = |t: &str, path: &str| {
        site.n
            .get(path, &[JSON_ACCEPT, ("Cookie", &format!("tok={t}"))])
    };
    let r = cookie(&admin, "/and/x");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("X-Reason"), Some("token_cookie"));
    let r = cookie(&half, "/and/x");
    assert_eq!(r.status, 403);
    assert_eq!(r.header("X-Reason"), Some("forbidden_claim"));

    // The API client's 403: JSON, not cached, naming the rule.
    let r = api(&site, "/realm/x", &viewer);
    assert_eq!(r.header("Content-Type"), Some("application/json"));
    assert_eq!(r.header("Cache-Control"), Some("no-store"));
    assert_eq!(
        r.json(),
        json!({"error": "forbidden", "reason": "forbidden_claim",
               "claim": "realm_access.roles", "values": ["admin"]})
    );
    let r = api(&site, "/both/x", &claim_only);
    assert_eq!(
        r.json(),
        json!({"error": "forbidden", "reason": "forbidden_group", "groups": ["ops"]})
    );
    // A browser with the token gets the page, still no redirect.
    let r = site.n.get(
        "/realm/x",
        &[
            ("Accept", "text/html"),
            ("Authorization", &format!("Bearer {viewer}")),
        ],
    );
    assert_eq!(r.status, 403);
    assert!(r.location().is_none());
    assert!(r.text().contains("realm_access.roles"), "{}", r.text());

    // The log says which rule and who, at info, and never carries the token.
    let log = site.n.error_log();
    assert!(
        log.contains("[info] ",)
            && log.contains(
                "sso: access forbidden, reason: \"forbidden_claim\", user: \"alice\", \
             claim \"realm_access.roles\" one of \"admin\""
            ),
        "{log}"
    );
    assert!(
        log.contains(
            "sso: access forbidden, reason: \"forbidden_group\", user: \"alice\", group one of \"ops\""
        ),
        "{log}"
    );
    assert!(
        log.contains("claim \"ak_proxy.user_attributes.dept\" one of \"sales\", \"ops\""),
        "{log}"
    );
    for t in [&admin, &viewer, &bare, &half, &group_only, &claim_only] {
        let payload = t.split('.').nth(1).unwrap();
        assert!(!log.contains(payload), "a token in the log:\n{log}");
    }
    site.n.assert_no_crash();
}

/// The user's own `error_page 403` wins over the module's page (nginx's way), for API
/// clients and browsers alike; under `satisfy any`, another handler's `401` too.
fn error_page_403_of_the_user_wins(build: Build) {
    let site = rules_site(build);
    let viewer = token(
        &site.provider,
        json!({"realm_access": {"roles": ["viewer"]}}),
    );
    for accept in ["application/json", "text/html"] {
        let r = site.n.get(
            "/custom/x",
            &[
                ("Accept", accept),
                ("Authorization", &format!("Bearer {viewer}")),
            ],
        );
        assert_eq!(r.status, 403, "{accept}");
        assert_eq!(r.text(), "custom denied page\n", "{accept}");
    }
    let admin = token(
        &site.provider,
        json!({"realm_access": {"roles": ["admin"]}}),
    );
    expect(&site, "/custom/x", &admin, None);
    // `satisfy any` with `auth_basic`: either one lets in; when both refuse, nginx answers
    // with auth_basic's challenge, as it would for any two refusing handlers.
    expect(&site, "/mixed/x", &admin, None);
    let r = api(&site, "/mixed/x", &viewer);
    assert_eq!(r.status, 401, "{}", r.text());
    assert_eq!(r.header("WWW-Authenticate"), Some("Basic realm=\"staff\""));
    let r = site.n.get(
        "/mixed/x",
        &[JSON_ACCEPT, ("Authorization", &basic("staff", "staff-pw"))],
    );
    assert_eq!(r.status, 200, "the password alone lets in");
    site.n.assert_no_crash();
}

/// A user of the provider: `username` / `pw`, with `claims` (top-level) and `ak_proxy`.
fn user(sub: &str, username: &str, claims: Value, ak_proxy: Value) -> Value {
    json!({
        "sub": sub,
        "username": username,
        "password": "pw",
        "email": format!("{sub}@example.org"),
        "groups": ["users"],
        "claims": claims,
        "ak_proxy": ak_proxy,
    })
}

fn login(site: &Site, username: &str) -> CookieJar {
    site.login(username, "pw")
}

/// A browser session refused by a rule: a 403 page saying who they are, what is needed, and
/// how to sign out; escaped; not cached; no login loop. The same rules hold for a session
/// without the ID token (`sso_jwt_header off`, the kept claims).
fn forbidden_page_for_a_browser_session(build: Build) {
    let nasty = "o'neil<i>&co";
    let users = vec![
        user(
            "u-viewer",
            nasty,
            json!({"realm_access": {"roles": ["viewer"]}}),
            json!({}),
        ),
        user(
            "u-admin",
            "root",
            json!({"realm_access": {"roles": ["admin"]}}),
            json!({}),
        ),
    ];
    for extra in ["", "sso_jwt_header off;"] {
        let site = Site::new(build)
            .users(users.clone())
            .sso(extra)
            .server(
                "location /admin/ { sso_require_group admins; proxy_pass http://%UP%; }\n\
                 location /realm/ { sso_require_claim realm_access.roles admin; proxy_pass http://%UP%; }",
            )
            .start();
        let mut jar = login(&site, nasty);
        let r = jar.get_url(&site.url("/realm/x"));
        assert_eq!(r.status, 403, "{extra}: {}", r.text());
        assert!(r.location().is_none(), "never a login loop");
        assert_eq!(r.header("X-Reason"), Some("forbidden_claim"));
        assert_eq!(r.header("Content-Type"), Some("text/html; charset=utf-8"));
        assert_eq!(r.header("Cache-Control"), Some("no-store"));
        let page = r.text();
        assert!(
            page.contains("signed in as <strong>o&#39;neil&lt;i&gt;&amp;co</strong>"),
            "{page}"
        );
        assert!(!page.contains("<i>"), "the user name is escaped: {page}");
        assert!(
            page.contains("<strong>realm_access.roles</strong>"),
            "{page}"
        );
        assert!(page.contains("<strong>admin</strong>"), "{page}");
        assert!(
            page.contains("<a href=\"/outpost.goauthentik.io/sign_out\">sign out</a>"),
            "{page}"
        );
        assert!(!page.contains("src="), "no external resources: {page}");
        // again: the same answer (no redirect, the session stays)
        let again = jar.get_url(&site.url("/realm/x"));
        assert_eq!(again.status, 403);
        let r = jar.get_url(&site.url("/admin/x"));
        assert_eq!(r.status, 403);
        assert_eq!(r.header("X-Reason"), Some("forbidden_group"));
        assert!(r.text().contains("<strong>admins</strong>"), "{}", r.text());
        // the session is fine elsewhere
        let r = jar.get_url(&site.url("/app"));
        assert_eq!(r.status, 200);
        // the sign-out link works
        let r = jar.get_url(&site.url("/outpost.goauthentik.io/sign_out"));
        assert_eq!(r.status, 302, "{}", r.text());
        let r = jar.request("GET", &site.url("/app"), &[JSON_ACCEPT], b"");
        assert_eq!(r.status, 401, "signed out");

        let mut jar = login(&site, "root");
        let r = jar.get_url(&site.url("/realm/x"));
        assert_eq!(r.status, 200, "{extra}: {}", site.n.error_log());
        assert_eq!(r.upstream().target, "/realm/x");
        site.n.assert_no_crash();
    }
}

/// After a refresh, a session's rules see the provider's fresh claims.
fn session_rules_use_the_refreshed_claims(build: Build) {
    let viewer = user(
        "u-viewer",
        "viewer",
        json!({"realm_access": {"roles": ["viewer"]}}),
        json!({}),
    );
    let mut c = config(
        vec![client(CLIENT_ID, SECRET, ANY_CALLBACK)],
        vec![viewer.clone()],
    );
    c["refresh_tokens"] = json!("always");
    let site = Site::new(build)
        .provider(Provider::start(c))
        .sso("sso_session_refresh 1s;")
        .server(
            "location /realm/ { sso_require_claim realm_access.roles admin; proxy_pass http://%UP%; }",
        )
        .start();
    let mut jar = login(&site, "viewer");
    let r = jar.get_url(&site.url("/realm/x"));
    assert_eq!(r.status, 403);
    let mut promoted = viewer;
    promoted["claims"] = json!({"realm_access": {"roles": ["viewer", "admin"]}});
    site.provider.upsert_user(promoted);
    thread::sleep(scaled(Duration::from_millis(1300)));
    let r = jar.get_url(&site.url("/realm/x"));
    assert_eq!(r.status, 200, "{}\n{}", r.text(), site.n.error_log());
    assert_eq!(r.header("X-Reason"), Some("session"));
    let r = jar.get_url(&site.url("/realm/x"));
    assert_eq!(
        r.status, 200,
        "the re-minted cookie carries the fresh claims"
    );
    site.n.assert_no_crash();
}

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", B64.encode(format!("{user}:{password}")))
}

/// `sso_basic_auth_attributes`: the upstream gets the user's Basic credentials and never the
/// client's `Authorization`; without them, no `Authorization` at all. Elsewhere the README's
/// `proxy_set_header Authorization "";` keeps a consumed bearer token from the upstream.
fn basic_auth_to_the_upstream(build: Build) {
    let users = vec![user(
        "u-basic",
        "basic",
        json!({}),
        json!({"user_attributes": {"svc_user": "jdoe", "svc_password": "s3cret:with:colons"}}),
    )];
    let site = Site::new(build)
        .users(users)
        .server(
            "location /basic/ { sso_basic_auth_attributes svc_user svc_password; proxy_pass http://%UP%; }\n\
             location /clean/ { proxy_set_header Authorization \"\"; proxy_pass http://%UP%; }",
        )
        .start();
    let p = &site.provider;
    let attrs = |u: Value, pw: Value| {
        token(
            p,
            json!({"ak_proxy": {"user_attributes": {"svc_user": u, "svc_password": pw}}}),
        )
    };
    // a bearer token with the attributes: its Basic credentials, the bearer token gone
    let t = attrs(json!("api-user"), json!("pa55"));
    let r = api(&site, "/basic/x", &t);
    assert_eq!(r.status, 200, "{}", site.n.error_log());
    assert_eq!(
        r.upstream().values("authorization"),
        [basic("api-user", "pa55")]
    );
    // without one of them: no Authorization at all
    for t in [
        attrs(json!("api-user"), Value::Null),
        attrs(Value::Null, json!("pa55")),
        token(p, json!({})),
    ] {
        let r = api(&site, "/basic/x", &t);
        assert_eq!(r.status, 200);
        assert_eq!(
            r.upstream().values("authorization"),
            Vec::<&str>::new(),
            "the consumed bearer token does not reach the upstream"
        );
    }
    // a user name with ':' cannot be sent: none, and the log says why
    let r = api(&site, "/basic/x", &attrs(json!("a:b"), json!("pa55")));
    assert_eq!(r.status, 200);
    assert_eq!(r.upstream().values("authorization"), Vec::<&str>::new());
    let log = site.n.error_log();
    assert!(
        log.contains(
            "sso: no basic credentials for the upstream, user: \"alice\": the user name \
             attribute contains \":\", which HTTP Basic cannot carry"
        ),
        "{log}"
    );
    assert!(
        log.contains("the user attribute \"svc_password\" is missing or not a string"),
        "{log}"
    );
    assert!(!log.contains("pa55"), "no password in the log:\n{log}");

    // a session, with a client-sent Authorization of its own (nginx itself refuses a second
    // one with 400)
    let mut jar = login(&site, "basic");
    let r = jar.request(
        "GET",
        &site.url("/basic/x"),
        &[("authorization", &basic("admin", "guess"))],
        b"",
    );
    assert_eq!(r.status, 200, "{}", site.n.error_log());
    assert_eq!(
        r.upstream().values("authorization"),
        [basic("jdoe", "s3cret:with:colons")],
        "only the module's credentials reach the upstream"
    );
    // where the module does not set one, the client's header is the client's business...
    let r = jar.request(
        "GET",
        &site.url("/app"),
        &[("Authorization", &basic("admin", "guess"))],
        b"",
    );
    assert_eq!(
        r.upstream().values("authorization"),
        [basic("admin", "guess")]
    );
    // ...and a bearer token the module consumed reaches the upstream unless the config
    // says otherwise (README "Identity headers")
    let t = token(p, json!({}));
    let r = api(&site, "/app", &t);
    assert_eq!(
        r.upstream().values("authorization"),
        [format!("Bearer {t}")]
    );
    let r = api(&site, "/clean/x", &t);
    assert_eq!(r.status, 200);
    assert_eq!(r.upstream().values("authorization"), Vec::<&str>::new());
    site.n.assert_no_crash();
}

fn bad_rules_fail_nginx_t(build: Build) {
    for (directive, expect) in [
        (
            "sso_require_claim roles;",
            "[emerg] sso_require_claim: takes a claim and one or more values",
        ),
        (
            "sso_require_claim realm_access..roles admin;",
            "[emerg] sso_require_claim: invalid claim \"realm_access..roles\": a dotted path \
             must not have an empty segment",
        ),
        (
            "sso_require_claim .roles admin;",
            "invalid claim \".roles\": a dotted path must not have an empty segment",
        ),
        (
            "sso_require_claim roles. admin;",
            "invalid claim \"roles.\": a dotted path must not have an empty segment",
        ),
        (
            "sso_require_claim \"\" admin;",
            "[emerg] sso_require_claim: the claim name is empty",
        ),
        (
            "sso_require_claim roles admin \"\";",
            "[emerg] sso_require_claim: an empty value for the claim \"roles\"",
        ),
        (
            "sso_basic_auth_attributes user;",
            "invalid number of arguments in \"sso_basic_auth_attributes\"",
        ),
        (
            "sso_basic_auth_attributes user \"\";",
            "[emerg] sso_basic_auth_attributes: an attribute name is empty",
        ),
        (
            "sso_basic_auth_attributes a b; sso_basic_auth_attributes c d;",
            "[emerg] sso_basic_auth_attributes: is duplicate",
        ),
    ] {
        let (ok, out) = test_config(
            build,
            &format!("server {{ listen 127.0.0.1:%PORT%; location / {{ {directive} }} }}"),
        );
        assert!(!ok, "{directive} should fail nginx -t:\n{out}");
        assert!(
            out.contains(expect),
            "{directive}: {expect:?} missing in:\n{out}"
        );
        assert!(!out.contains("panicked"), "{out}");
    }
    let (ok, out) = test_config(
        build,
        "sso_require_claim tenant acme; \
         server { listen 127.0.0.1:%PORT%; sso_require_claim a.b.c 1 true x; \
         sso_basic_auth_attributes u p; \
         location /x { sso_require_claim \"https://example.com/roles\" admin; } }",
    );
    assert!(ok, "{out}");
}

/// `nginx-conf/per-location-rules.conf` as shipped, with the test's provider, upstream and
/// port (and no TLS): each location does what its comment says.
fn the_example_config_does_what_it_says(build: Build) {
    let provider = start_provider(vec![]);
    let up = Upstream::start();
    let shipped = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/nginx-conf/per-location-rules.conf"
    ))
    .unwrap();
    let conf = shipped
        .lines()
        .filter(|l| {
            let l = l.trim_start();
            !l.starts_with("ssl_certificate") && !l.starts_with("sso_session_secret_file")
        })
        .collect::<Vec<_>>()
        .join("\n")
        .replace("listen 443 ssl;", "listen 127.0.0.1:%PORT%;")
        .replace(
            "https://auth.example.com/application/o/app/",
            &provider.issuer,
        )
        .replace(
            "sso_client_secret_file /etc/nginx/sso/app.secret;",
            &format!("sso_client_secret {SECRET};"),
        );
    let conf = ["127.0.0.1:3000", "127.0.0.1:8000", "127.0.0.1:8080"]
        .iter()
        .fold(conf, |c, addr| c.replace(addr, &up.addr()));
    assert!(!conf.contains("example.com/application"), "{conf}");
    let n = Nginx::start(build, &conf);
    wait_ready(&n, "app.example.com");
    let get = |path: &str, claims: Value| {
        let t = token(&provider, claims);
        n.get(
            path,
            &[JSON_ACCEPT, ("Authorization", &format!("Bearer {t}"))],
        )
    };
    let roles = |r: &[&str]| json!({"realm_access": {"roles": r}, "email_verified": true});
    let r = get("/", json!({}));
    assert_eq!(r.status, 200, "{}", n.error_log());
    // the admin area: one group
    assert_eq!(get("/admin/x", json!({"groups": ["admins"]})).status, 200);
    let r = get("/admin/x", json!({"groups": ["users"]}));
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["reason"], "forbidden_group");
    // the API: one of two roles, and the bearer token is not passed on
    let r = get("/api/items", roles(&["api-user"]));
    assert_eq!(r.status, 200);
    assert_eq!(r.upstream().values("authorization"), Vec::<&str>::new());
    let r = get("/api/items", roles(&["viewer"]));
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["reason"], "forbidden_claim");
    // writing: its own rules, both must hold
    assert_eq!(get("/api/admin/x", roles(&["api-user"])).status, 403);
    assert_eq!(get("/api/admin/x", roles(&["api-admin"])).status, 200);
    let unverified = json!({"realm_access": {"roles": ["api-admin"]}, "email_verified": false});
    assert_eq!(get("/api/admin/x", unverified).status, 403);
    // the legacy app: Basic from the attributes
    let r = get(
        "/legacy/x",
        json!({"ak_proxy": {"user_attributes": {"legacy_user": "jd", "legacy_password": "pw"}}}),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.upstream().values("authorization"), [basic("jd", "pw")]);
    n.assert_no_crash();
}

on_both_nginx!(
    the_example_config_does_what_it_says,
    claim_rules_on_bearer_tokens,
    error_page_403_of_the_user_wins,
    forbidden_page_for_a_browser_session,
    session_rules_use_the_refreshed_claims,
    basic_auth_to_the_upstream,
    bad_rules_fail_nginx_t,
);

//! The login flow against a real OpenID provider (npm `oidc-provider`, tests/provider):
//! start, callback, sealed session, sign_out, domain-level SSO, the docker backchannel case,
//! a slow provider that must not stall the worker, and the provider's JWKS for bearers.

use std::thread;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::site::{sso, start_provider, url, wait_ready, Server, Site, CLIENT_ID, SECRET};
use crate::harness::url::{query_params, url_encode};
use crate::harness::{free_port, scaled, Build, Nginx, Upstream};
use crate::on_both_nginx;
use crate::provider::{
    browser_login, client, config, confirm_logout, demo_user, find_login_form, login_form_submit,
    CookieJar, Provider, ANY_CALLBACK,
};

fn full_login_logout(build: Build) {
    let site = Site::new(build)
        .sso("sso_post_logout_redirect_uri /;")
        .start();
    let (provider, n) = (&site.provider, &site.n);
    let mut jar = CookieJar::new();
    let end = browser_login(&mut jar, &url(n, "/app/page?x=1&y=2"), "demo", "demo");
    assert_eq!(
        end.response.status,
        200,
        "{:#?}\n{}",
        end.hops,
        n.error_log()
    );
    assert!(
        end.visited(&provider.issuer),
        "went through the provider: {:#?}",
        end.hops
    );
    assert_eq!(
        end.url,
        url(n, "/app/page?x=1&y=2"),
        "back where the user wanted to go"
    );
    let got = end.response.upstream();
    let h = |name: &str| got.values(name);
    assert_eq!(h("x-authentik-username"), ["demo"]);
    assert_eq!(h("x-authentik-groups"), ["admins|users"]);
    assert_eq!(h("x-authentik-email"), ["demo@example.org"]);
    assert_eq!(h("x-authentik-uid"), ["b2f0c4a1-demo"]);
    assert_eq!(h("x-authentik-entitlements"), ["read"]);
    assert_eq!(h("x-custom"), ["v"]);
    assert_eq!(h("x-num"), ["5"]);
    assert_eq!(h("x-authentik-jwt").len(), 1, "the ID token is passed on");

    // the session cookie: HttpOnly, SameSite=Lax, not Secure on plain http, host-only
    let session = jar.cookie("sso_session").expect("session cookie").clone();
    assert!(session.http_only, "{}", session.raw);
    assert!(!session.secure, "{}", session.raw);
    assert!(session.host_only, "{}", session.raw);
    assert_eq!(session.same_site.as_deref(), Some("Lax"), "{}", session.raw);
    // the flow cookie is gone
    assert!(
        jar.cookies.iter().all(|c| !c.name.starts_with("sso_flow_")),
        "{:?}",
        jar.cookies
    );

    // next request: straight through on the session, no provider
    let r = jar.request("GET", &url(n, "/app/again"), &[], b"");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("X-Method"), Some("session"));
    let r = jar.request(
        "GET",
        &url(n, "/api"),
        &[("Accept", "application/json")],
        b"",
    );
    assert_eq!(
        r.status, 200,
        "an API call with the session cookie passes too"
    );

    // a tampered session cookie is no credentials: back to login
    let mut evil = CookieJar::new();
    let mut value = session.value.clone();
    let last = value.pop().unwrap();
    value.push(if last == 'A' { 'B' } else { 'A' });
    evil.set("localhost", "sso_session", &value);
    let r = evil.request("GET", &url(n, "/app"), &[], b"");
    assert_eq!(r.status, 302);
    assert!(r
        .header("Location")
        .unwrap()
        .contains("/outpost.goauthentik.io/start?rd="));

    // sign out: cookie cleared, provider end_session with id_token_hint
    let r = jar.request("GET", &url(n, "/outpost.goauthentik.io/sign_out"), &[], b"");
    assert_eq!(r.status, 302);
    let loc = r.header("Location").unwrap().to_owned();
    assert!(loc.starts_with(&provider.issuer), "{loc}");
    let q = query_params(&loc);
    assert!(q.contains_key("id_token_hint"), "{loc}");
    assert_eq!(
        q.get("post_logout_redirect_uri").map(String::as_str),
        Some(url(n, "/").as_str())
    );
    assert!(jar.get("sso_session").is_none(), "session cookie expired");
    let page = jar.browse(&loc);
    let done = confirm_logout(&mut jar, &page.url, &page.response.text());
    // back at the site's root, which is protected: logged out at nginx and at the provider,
    // so the provider's login form shows again
    assert!(done.visited(&url(n, "/")), "{:#?}", done.hops);
    assert!(
        done.response.text().contains("password"),
        "{}",
        done.response.text()
    );
    n.assert_no_crash();
}

fn rd_cannot_escape(build: Build) {
    let site = Site::start(build, vec![demo_user()]);
    let n = &site.n;
    for rd in [
        "https://evil.example/",
        "//evil.example/x",
        "/\\evil.example",
        "https://localhost.evil.example/",
    ] {
        let mut jar = CookieJar::new();
        let start = url(
            n,
            &format!("/outpost.goauthentik.io/start?rd={}", url_encode(rd)),
        );
        let end = browser_login(&mut jar, &start, "demo", "demo");
        assert_eq!(end.response.status, 200, "{rd}: {:#?}", end.hops);
        assert_eq!(end.url, url(n, "/"), "{rd} must fall back to /");
    }
}

fn provider_error_is_a_page_not_a_loop(build: Build) {
    let site = Site::start(build, vec![demo_user()]);
    let n = &site.n;
    let mut jar = CookieJar::new();
    let r = jar.request(
        "GET",
        &url(n, "/outpost.goauthentik.io/start?rd=/x"),
        &[],
        b"",
    );
    let state = query_params(r.header("Location").unwrap())["state"].clone();
    let cb = url(
        n,
        &format!(
            "/outpost.goauthentik.io/callback?error=access_denied&error_description=%3Cscript%3Ealert(1)%3C/script%3E&state={state}"
        ),
    );
    let r = jar.request("GET", &cb, &[], b"");
    assert_eq!(r.status, 400);
    let page = r.text();
    assert!(page.contains("access_denied"), "{page}");
    assert!(
        !page.contains("<script>"),
        "provider text is escaped: {page}"
    );
    assert!(r.header("Location").is_none());
    // a callback without a flow cookie (a replay, or another browser) is refused too
    let r = CookieJar::new().request(
        "GET",
        &url(
            n,
            &format!("/outpost.goauthentik.io/callback?code=x&state={state}"),
        ),
        &[],
        b"",
    );
    assert_eq!(r.status, 400);
    n.assert_no_crash();
}

fn several_tabs_log_in_at_once(build: Build) {
    let site = Site::start(build, vec![demo_user()]);
    let n = &site.n;
    let mut jar = CookieJar::new();
    // tab 1 and tab 2 both start a login before either finishes
    let tab1 = jar.request(
        "GET",
        &url(n, "/outpost.goauthentik.io/start?rd=/one"),
        &[],
        b"",
    );
    let tab2 = jar.request(
        "GET",
        &url(n, "/outpost.goauthentik.io/start?rd=/two"),
        &[],
        b"",
    );
    let (l1, l2) = (
        tab1.header("Location").unwrap().to_owned(),
        tab2.header("Location").unwrap().to_owned(),
    );
    assert_ne!(query_params(&l1)["state"], query_params(&l2)["state"]);
    // finish tab 1 first (log in at the provider), then tab 2 (provider session exists)
    let page = jar.browse(&l1);
    let end1 = login_form_submit(&mut jar, &page.url, &page.response.text(), "demo", "demo");
    assert_eq!(end1.url, url(n, "/one"), "{:#?}", end1.hops);
    let end2 = jar.browse(&l2);
    assert_eq!(end2.url, url(n, "/two"), "{:#?}", end2.hops);
}

fn two_hundred_groups_fit(build: Build) {
    let mut user = demo_user();
    let groups: Vec<String> = (0..200)
        .map(|i| format!("department-{i:03}-team-{}", "x".repeat(i % 17)))
        .collect();
    user["groups"] = json!(groups);
    let site = Site::start(build, vec![user]);
    let n = &site.n;
    let mut jar = CookieJar::new();
    let end = browser_login(&mut jar, &url(n, "/big"), "demo", "demo");
    assert_eq!(
        end.response.status,
        200,
        "{:#?}\n{}",
        end.hops,
        n.error_log()
    );
    let got = end.response.text();
    assert!(got.contains("department-199-team-"), "all groups arrive");
    for c in &jar.cookies {
        assert!(c.raw.len() < 4096, "{} is {} bytes", c.name, c.raw.len());
    }
    let r = jar.request("GET", &url(n, "/big2"), &[], b"");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("X-Method"), Some("session"));
}

fn slow_provider_does_not_block_the_worker(build: Build) {
    let site = Site::start(build, vec![demo_user()]);
    let (provider, n) = (&site.provider, &site.n);
    let mut jar = CookieJar::new();
    let first = jar.browse(&url(n, "/slow"));
    let form = find_login_form(&first.response.text(), &first.url).unwrap();
    // the provider now takes 3 s to answer the token request
    provider.set_token_delay(3000);
    let mut form = form;
    form.set("username", "demo").set("password", "demo");
    let started = Instant::now();
    let login = thread::spawn(move || {
        let end = jar.submit(&form);
        (end, Instant::now())
    });
    // while that callback waits on the provider, the same (single) worker serves others
    thread::sleep(Duration::from_millis(500));
    let mut slowest = Duration::ZERO;
    for _ in 0..20 {
        let t = Instant::now();
        let r = n.get("/outpost.goauthentik.io/ping", &[]);
        assert_eq!(r.status, 204);
        let r = n.get("/api", &[("Accept", "application/json")]);
        assert_eq!(r.status, 401);
        slowest = slowest.max(t.elapsed());
    }
    let others_done = Instant::now();
    let (end, login_done) = login.join().unwrap();
    assert_eq!(end.response.status, 200, "{:#?}", end.hops);
    assert!(
        others_done < login_done,
        "the other requests finished while the login was still waiting on the provider"
    );
    assert!(
        login_done.duration_since(started) >= Duration::from_millis(2900),
        "the provider really was slow"
    );
    assert!(
        slowest < scaled(Duration::from_secs(1)),
        "a request took {slowest:?}"
    );
}

fn bearer_with_provider_jwks(build: Build) {
    let site = Site::start(build, vec![demo_user()]);
    let (provider, n) = (&site.provider, &site.n);
    let claims = json!({"aud": CLIENT_ID, "sub": "svc", "preferred_username": "robot"});
    for alg in ["RS256", "ES256", "EdDSA"] {
        let token = provider.sign(json!({"claims": claims, "alg": alg}));
        let r = n.get(
            "/api",
            &[
                ("Accept", "application/json"),
                ("Authorization", &format!("Bearer {token}")),
            ],
        );
        assert_eq!(r.status, 200, "{alg}: {:?}", r.headers);
        assert_eq!(r.upstream().header("x-authentik-username"), Some("robot"));
    }
    // a key nobody published under a known kid: refused
    let forged = provider.sign(json!({"claims": claims, "foreign": true}));
    let r = n.get(
        "/api",
        &[
            ("Accept", "application/json"),
            ("Authorization", &format!("Bearer {forged}")),
        ],
    );
    assert_eq!(r.status, 401);
    assert_eq!(r.header("X-Reason"), Some("bad_signature"));
}

fn unreachable_provider_fails_closed(build: Build) {
    // nothing listens there: start and reload must not hang, bearers are refused
    let dead = format!("http://127.0.0.1:{}", free_port());
    let up = Upstream::start();
    let t = Instant::now();
    let n = &Nginx::start(build, &Server::app(&up.addr(), &sso(&dead, "")).render());
    assert!(
        t.elapsed() < scaled(Duration::from_secs(5)),
        "start took {:?}",
        t.elapsed()
    );
    let r = n.get(
        "/outpost.goauthentik.io/start?rd=/",
        &[("Accept", "text/html")],
    );
    assert_eq!(r.status, 503, "login waits for the provider: {}", r.text());
    let r = n.get(
        "/api",
        &[
            ("Accept", "application/json"),
            ("Authorization", "Bearer eyJhbGciOiJSUzI1NiJ9.e30.c2ln"),
        ],
    );
    assert_eq!(r.status, 401);
    let r = n.get("/page", &[("Accept", "text/html")]);
    assert_eq!(r.status, 302);
    assert_eq!(n.get("/outpost.goauthentik.io/ping", &[]).status, 204);
}

fn domain_level_sso(build: Build) {
    let provider = start_provider(vec![demo_user()]);
    let up = Upstream::start();
    let common = sso(&provider.issuer, "sso_cookie_domain sso.test;");
    let auth = Server::to(&up.addr())
        .name("auth.sso.test")
        .with(&common)
        .with("sso_protect on;");
    let apps = Server::to(&up.addr())
        .name("a.sso.test b.sso.test")
        .with(&common)
        .with("sso_protect on;")
        .with("sso_login_url http://auth.sso.test:%PORT%/outpost.goauthentik.io/start;")
        .with("add_header X-Method $sso_auth_method always;");
    let n = &Nginx::start(build, &format!("{}{}", auth.render(), apps.render()));
    wait_ready(n, &format!("auth.sso.test:{}", n.port));
    let a = format!("http://a.sso.test:{}/docs?p=1", n.port);
    let b = format!("http://b.sso.test:{}/other", n.port);
    let mut jar = CookieJar::new();
    let end = browser_login(&mut jar, &a, "demo", "demo");
    assert_eq!(end.response.status, 200, "{:#?}", end.hops);
    assert_eq!(
        end.url, a,
        "back on a.sso.test after logging in at auth.sso.test"
    );
    assert!(end.visited(&format!("http://auth.sso.test:{}/", n.port)));
    let r = jar.request("GET", &b, &[], b"");
    assert_eq!(r.status, 200, "b.sso.test shares the session");
    assert_eq!(r.header("X-Method"), Some("session"));
}

fn backchannel_for_docker_names(build: Build) {
    // The browser knows the provider as idp.sso.test (resolvable only by the test client);
    // nginx reaches it at 127.0.0.1 through sso_backchannel_url, like a docker service name.
    let mut cfg = config(
        vec![client(CLIENT_ID, SECRET, ANY_CALLBACK)],
        vec![demo_user()],
    );
    cfg["issuer"] = json!("http://idp.sso.test:{port}");
    let provider = Provider::start(cfg);
    let backchannel = format!("sso_backchannel_url http://127.0.0.1:{};", provider.port);
    let site = Site::new(build)
        .provider(provider)
        .sso(&backchannel)
        .start();
    let n = &site.n;
    let mut jar = CookieJar::new();
    let r = jar.request(
        "GET",
        &url(n, "/outpost.goauthentik.io/start?rd=/"),
        &[],
        b"",
    );
    assert!(
        r.header("Location")
            .unwrap()
            .starts_with("http://idp.sso.test:"),
        "the browser is sent to the public URL"
    );
    let end = browser_login(&mut jar, &url(n, "/bc"), "demo", "demo");
    assert_eq!(
        end.response.status,
        200,
        "{:#?}\n{}",
        end.hops,
        n.error_log()
    );
    assert_eq!(end.url, url(n, "/bc"));
}

fn sessions_are_bound_to_the_client(build: Build) {
    let provider = Provider::start(config(
        vec![
            client(CLIENT_ID, SECRET, ANY_CALLBACK),
            client("other", SECRET, ANY_CALLBACK),
        ],
        vec![demo_user()],
    ));
    let other = sso(&provider.issuer, "")
        .replace(&format!("sso_client_id {CLIENT_ID}"), "sso_client_id other");
    let site = Site::new(build)
        .provider(provider)
        .server(&format!(
            "location /other/ {{ {other} proxy_pass http://%UP%; }}"
        ))
        .start();
    let n = &site.n;
    let mut jar = CookieJar::new();
    let end = browser_login(&mut jar, &url(n, "/mine"), "demo", "demo");
    assert_eq!(end.response.status, 200);
    // same secret, same cookie name, other client id: the cookie is not accepted there
    let r = jar.request("GET", &url(n, "/other/x"), &[], b"");
    assert_eq!(
        r.status, 302,
        "a session minted for one client id is refused by another"
    );
}

on_both_nginx!(
    full_login_logout,
    rd_cannot_escape,
    provider_error_is_a_page_not_a_loop,
    several_tabs_log_in_at_once,
    two_hundred_groups_fit,
    slow_provider_does_not_block_the_worker,
    bearer_with_provider_jwks,
    unreachable_provider_fails_closed,
    domain_level_sso,
    backchannel_for_docker_names,
    sessions_are_bound_to_the_client,
);

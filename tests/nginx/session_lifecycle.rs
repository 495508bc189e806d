//! The session's lifecycle against the real provider (README "Session lifecycle"):
//! `sso_session_idle_timeout` ends an unused session and slides for a used one (the cookie
//! re-issued on proxied and static responses, not on every request), `sso_jwt_header off`
//! (no `X-authentik-jwt`, a smaller cookie, `$sso_claim_*` still there, sign-out with
//! `client_id`), and `$sso_session_expires`.

use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;

use crate::harness::site::{sso, start_provider, url, Server, Site, CLIENT_ID};
use crate::harness::url::query_params;
use crate::harness::{Build, Nginx, Response};
use crate::on_both_nginx;
use crate::provider::{browser_login, demo_user, CookieJar};

const API: [(&str, &str); 1] = [("Accept", "application/json")];

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The `Set-Cookie` lines of `r` that set the session cookie (not expire it).
fn session_set(r: &Response) -> Vec<&str> {
    r.headers_named("set-cookie")
        .into_iter()
        .filter(|l| l.starts_with("sso_session=") && !l.contains("Max-Age=0"))
        .collect()
}

/// Bytes of session cookie the browser sends on every request (`name=value` of each chunk).
fn cookie_size(jar: &CookieJar) -> usize {
    jar.cookies
        .iter()
        .filter(|c| c.name.starts_with("sso_session"))
        .map(|c| c.name.len() + 1 + c.value.len())
        .sum()
}

/// The usual site with the session's variables on every answer, a static file, and `extra`.
fn site(build: Build, extra: &str) -> Site {
    let site = Site::new(build)
        .sso(extra)
        .server(
            "add_header X-Expires $sso_session_expires always;\n\
             add_header X-Claim-Email $sso_claim_email always;\n\
             location = /file.txt { root %DIR%/html; }",
        )
        .start();
    site.n.write_file("file.txt", "static");
    site
}

/// Logs `jar` in as the demo user at `app_url` (a protected URL of `n`).
fn login(n: &Nginx, jar: &mut CookieJar, app_url: &str) {
    let end = browser_login(jar, app_url, "demo", "demo");
    let why = format!("{:#?}\n{}", end.hops, n.error_log());
    assert_eq!(end.response.status, 200, "{why}");
}

fn idle_timeout_ends_an_unused_session(build: Build) {
    let site = site(build, "sso_session_idle_timeout 2s;");
    let mut jar = CookieJar::new();
    login(&site.n, &mut jar, &site.url("/app"));
    let first = jar.get("sso_session").unwrap().to_owned();
    // In use: a request every 1.1 s, past the 2 s timeout, alternately proxied and a static
    // file; each one comes a second or more after the cookie was issued, so each re-issues it.
    for i in 0..4 {
        thread::sleep(Duration::from_millis(1100));
        let path = if i % 2 == 0 { "/app/used" } else { "/file.txt" };
        let r = jar.request("GET", &site.url(path), &[], b"");
        assert_eq!(r.status, 200, "{path}: {}", site.n.error_log());
        assert_eq!(r.header("X-Method"), Some("session"), "{path}");
        assert_eq!(
            session_set(&r).len(),
            1,
            "{path} re-issued: {:?}",
            r.headers
        );
        if path == "/file.txt" {
            assert_eq!(r.text(), "static");
        } else {
            assert_eq!(r.upstream().header("x-authentik-username"), Some("demo"));
        }
    }
    assert_ne!(jar.get("sso_session").unwrap(), first, "the cookie slid");
    // The first cookie was last issued more than 2 s ago: ended.
    let mut stale = CookieJar::new();
    stale.set("localhost", "sso_session", &first);
    let r = stale.request("GET", &site.url("/app"), &API, b"");
    assert_eq!(r.status, 401);
    assert_eq!(r.header("X-Reason"), Some("idle"));
    // Now unused for 3.5 s: a browser goes to login, an API call gets 401, both say `idle`.
    thread::sleep(Duration::from_millis(3500));
    let r = jar.request("GET", &site.url("/app/later"), &[], b"");
    assert_eq!(r.status, 302);
    assert!(r
        .header("Location")
        .unwrap()
        .contains("/outpost.goauthentik.io/start?rd="));
    assert_eq!(r.header("X-Reason"), Some("idle"));
    assert!(session_set(&r).is_empty());
    let r = jar.request("GET", &site.url("/api"), &API, b"");
    assert_eq!(r.status, 401);
    assert_eq!(r.header("WWW-Authenticate"), Some("Bearer"));
    assert_eq!(r.header("X-Reason"), Some("idle"));
    assert!(site.n.error_log().contains("reason: \"idle\""));
    site.n.assert_no_crash();
}

fn reissued_once_per_interval_and_expires_variable(build: Build) {
    // 20 s idle timeout: re-issued once 2 s have passed since the cookie was issued.
    let site = site(build, "sso_session_idle_timeout 20s;");
    let mut jar = CookieJar::new();
    let before = now();
    login(&site.n, &mut jar, &site.url("/app"));
    let r = jar.request("GET", &site.url("/app/right-after"), &[], b"");
    assert_eq!(r.status, 200);
    assert!(
        session_set(&r).is_empty(),
        "not re-issued right after login"
    );
    // $sso_session_expires: the login plus sso_session_lifetime (24h)
    let expires: u64 = r.header("X-Expires").unwrap().parse().unwrap();
    assert!(
        (before + 86_400..=now() + 86_400).contains(&expires),
        "{expires}"
    );
    assert_eq!(r.header("X-Claim-Email"), Some("demo@example.org"));
    thread::sleep(Duration::from_millis(2200));
    let r = jar.request("GET", &site.url("/app/later"), &[], b"");
    assert_eq!(r.status, 200);
    let set = session_set(&r);
    assert_eq!(set.len(), 1, "re-issued: {:?}", r.headers);
    assert!(
        set[0].contains("HttpOnly") && set[0].contains("SameSite=Lax"),
        "{}",
        set[0]
    );
    let max_age: u64 = set[0]
        .split("Max-Age=")
        .nth(1)
        .and_then(|v| v.split(';').next())
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        max_age <= 86_400 && max_age + 10 >= expires - now(),
        "{}",
        set[0]
    );
    let r = jar.request("GET", &site.url("/file.txt"), &[], b"");
    assert_eq!(r.status, 200);
    assert!(
        session_set(&r).is_empty(),
        "not re-issued again right after"
    );
    assert_eq!(
        r.header("X-Expires").unwrap().parse::<u64>().unwrap(),
        expires,
        "the absolute lifetime does not slide"
    );
    // a bearer token: no session, empty
    let token = site
        .provider
        .sign(json!({"claims": {"aud": CLIENT_ID, "sub": "svc"}}));
    let r = site.n.get(
        "/api",
        &[
            ("Accept", "application/json"),
            ("Authorization", &format!("Bearer {token}")),
        ],
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("X-Method"), Some("bearer"));
    assert_eq!(
        r.header("X-Expires"),
        None,
        "empty for tokens: {:?}",
        r.headers
    );
    site.n.assert_no_crash();
}

fn jwt_header_off(build: Build) {
    let provider = start_provider(vec![demo_user()]);
    let off = Server::app(
        "%UP%",
        &sso(
            &provider.issuer,
            "sso_jwt_header off; sso_post_logout_redirect_uri /;",
        ),
    )
    .name("off.test")
    .with("add_header X-Claim-Email $sso_claim_email always;")
    .with("add_header X-Claim-Iss $sso_claim_iss always;")
    .with("add_header X-Claim-Nonce $sso_claim_nonce always;")
    .render();
    let site = Site::new(build)
        .provider(provider)
        .server(
            "add_header X-Claim-Email $sso_claim_email always;\n\
             add_header X-Claim-Iss $sso_claim_iss always;",
        )
        .http(&off)
        .start();
    let n = &site.n;
    let off_url = |path: &str| format!("http://off.test:{}{path}", n.port);

    let mut on_jar = CookieJar::new();
    login(n, &mut on_jar, &url(n, "/app"));
    let r = on_jar.request("GET", &url(n, "/app"), &[], b"");
    assert_eq!(r.upstream().values("x-authentik-jwt").len(), 1);
    let on_size = cookie_size(&on_jar);

    let mut jar = CookieJar::new();
    login(n, &mut jar, &off_url("/app"));
    let r = jar.request("GET", &off_url("/app"), &[], b"");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("X-Method"), Some("session"));
    let got = r.upstream();
    assert_eq!(got.header("x-authentik-username"), Some("demo"));
    assert!(
        got.values("x-authentik-jwt").is_empty(),
        "no X-authentik-jwt upstream"
    );
    // $sso_claim_* read as with the ID token; the login's nonce is not kept
    assert_eq!(r.header("X-Claim-Email"), Some("demo@example.org"));
    let on = on_jar.request("GET", &url(n, "/app"), &[], b"");
    assert_eq!(r.header("X-Claim-Iss"), on.header("X-Claim-Iss"));
    assert!(r.header("X-Claim-Iss").is_some_and(|i| !i.is_empty()));
    assert_eq!(r.header("X-Claim-Nonce"), None);
    let off_size = cookie_size(&jar);
    eprintln!("session cookie: {on_size} bytes with the ID token, {off_size} without");
    assert!(
        off_size < 600 && off_size * 2 < on_size,
        "sso_jwt_header off: {off_size} bytes, on: {on_size}"
    );

    // sign-out: client_id instead of id_token_hint (OIDC RP-Initiated Logout 1.0 §2)
    let r = jar.request(
        "GET",
        &off_url("/outpost.goauthentik.io/sign_out"),
        &[],
        b"",
    );
    assert_eq!(r.status, 302);
    let loc = r.header("Location").unwrap().to_owned();
    assert!(loc.starts_with(&site.provider.issuer), "{loc}");
    let q = query_params(&loc);
    assert!(!q.contains_key("id_token_hint"), "{loc}");
    assert_eq!(
        q.get("client_id").map(String::as_str),
        Some(CLIENT_ID),
        "{loc}"
    );
    assert!(jar.get("sso_session").is_none());
    n.assert_no_crash();
}

on_both_nginx!(
    idle_timeout_ends_an_unused_session,
    reissued_once_per_interval_and_expires_variable,
    jwt_header_off,
);

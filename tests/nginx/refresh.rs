//! Session refresh (README "Session lifecycle", `sso_session_refresh`): the directive, and
//! (pending, see [`pending`]) the request path against the real provider.

use crate::harness::{test_config, Build};
use crate::on_both_nginx;

fn refresh_directive_is_checked(build: Build) {
    let server = |d: &str| format!("server {{ listen 127.0.0.1:%PORT%; {d} }}");
    for (directive, expect) in [
        ("sso_session_refresh 0s;", "\"0s\" is shorter than 1s"),
        ("sso_session_refresh 0;", "\"0\" is shorter than 1s"),
        ("sso_session_refresh soon;", "invalid time \"soon\""),
        ("sso_session_refresh 5m 1m;", "invalid number of arguments"),
        (
            "sso_session_refresh 5m; sso_session_refresh off;",
            "is duplicate",
        ),
    ] {
        let (ok, out) = test_config(build, &server(directive));
        assert!(!ok, "{directive} should fail nginx -t:\n{out}");
        assert!(
            out.contains("[emerg]") && out.contains("sso_session_refresh") && out.contains(expect),
            "{directive}: {expect:?} missing in:\n{out}"
        );
        assert!(!out.contains("panicked"), "{out}");
    }
    for ok_value in ["1s", "5m", "off", "1h"] {
        let (ok, out) = test_config(
            build,
            &server(&format!(
                "sso_session_refresh {ok_value}; location /x {{ sso_session_refresh 2s; }}"
            )),
        );
        assert!(ok, "sso_session_refresh {ok_value}: {out}");
    }
}

on_both_nginx!(refresh_directive_is_checked);

/// The request-path tests: a real provider granting and rotating refresh tokens.
pub(crate) mod request_path {
    use std::thread;
    use std::time::Duration;

    use serde_json::{json, Value};

    use crate::harness::http::http_request;
    use crate::harness::site::{Site, CLIENT_ID, SECRET};
    use crate::harness::{scaled, Build};
    use crate::provider::{
        browser_login, client, config, demo_user, CookieJar, Provider, ANY_CALLBACK,
    };

    /// The provider granting refresh tokens to every login (`refresh_tokens: always`), rotating
    /// them (its default).
    pub(crate) fn refreshing_provider() -> Provider {
        let mut c = config(
            vec![client(CLIENT_ID, SECRET, ANY_CALLBACK)],
            vec![demo_user()],
        );
        c["refresh_tokens"] = json!("always");
        Provider::start(c)
    }

    /// Two workers, sessions refreshed after 1 s, `$sso_reason` on every response.
    fn site(build: Build) -> Site {
        Site::new(build)
            .provider(refreshing_provider())
            .workers(2)
            .listen("reuseport")
            .sso("sso_session_refresh 1s;")
            .server("add_header X-Reason $sso_reason always;")
            .start()
    }

    pub(crate) fn login(site: &Site) -> CookieJar {
        let mut jar = CookieJar::new();
        let end = browser_login(&mut jar, &site.url("/app"), "demo", "demo");
        assert_eq!(
            end.response.status,
            200,
            "{:#?}\n{}",
            end.hops,
            site.n.error_log()
        );
        jar
    }

    fn refresh_stats(p: &Provider) -> (u64, Value) {
        let s = p.stats();
        (
            s["refresh_grants"].as_u64().unwrap_or(0),
            s["refresh_refused"].clone(),
        )
    }

    fn past_refresh_time() {
        thread::sleep(scaled(Duration::from_millis(1300)));
    }

    fn refresh_brings_new_groups_and_a_new_cookie(build: Build) {
        let site = site(build);
        let mut jar = login(&site);
        let before = jar.get("sso_session").unwrap().to_owned();
        let r = jar.get_url(&site.url("/app"));
        assert_eq!(r.upstream().values("x-authentik-groups"), ["admins|users"]);
        assert!(r.header("Set-Cookie").is_none(), "no refresh before 1 s");

        let mut user = demo_user();
        user["groups"] = json!(["admins", "users", "auditors"]);
        site.provider.upsert_user(user);
        past_refresh_time();
        let r = jar.get_url(&site.url("/app"));
        assert_eq!(r.status, 200, "{}", site.n.error_log());
        assert_eq!(
            r.upstream().values("x-authentik-groups"),
            ["admins|users|auditors"],
            "the refreshed claims reach the upstream on the refreshing request"
        );
        let after = jar.get("sso_session").unwrap().to_owned();
        assert_ne!(after, before, "the cookie is re-minted on that response");
        assert_eq!(refresh_stats(&site.provider).0, 1);
        // right after: the new cookie, no refresh
        let r = jar.get_url(&site.url("/app"));
        assert_eq!(
            r.upstream().values("x-authentik-groups"),
            ["admins|users|auditors"]
        );
        assert_eq!(refresh_stats(&site.provider).0, 1);
        // the rotated refresh token works for the next refresh
        past_refresh_time();
        let r = jar.get_url(&site.url("/app"));
        assert_eq!(r.status, 200);
        let (grants, refused) = refresh_stats(&site.provider);
        assert_eq!(grants, 2, "{refused}");
        assert!(
            refused.as_object().map_or(true, |m| m.is_empty()),
            "{refused}"
        );
        site.n.assert_no_crash();
    }

    fn concurrent_requests_refresh_once(build: Build) {
        let site = site(build);
        let jar = login(&site);
        let cookie = jar.header_for(&site.url("/app")).unwrap();
        // a slow token endpoint: the 30 requests overlap the refresh in flight
        site.provider.set_token_delay(500);
        past_refresh_time();
        // (On a slow machine the login's own last request may already have refreshed.)
        let (grants_before, _) = refresh_stats(&site.provider);
        let handles: Vec<_> = (0..30)
            .map(|i| {
                let (url, cookie) = (site.url(&format!("/asset/{i}")), cookie.clone());
                thread::spawn(move || http_request("GET", &url, &[("Cookie", &cookie)], b""))
            })
            .collect();
        let responses: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        for r in &responses {
            assert_eq!(r.status, 200, "no 5xx, no login redirect: {}", r.head());
        }
        assert!(responses.iter().any(|r| r.header("Set-Cookie").is_some()));
        let (grants, refused) = refresh_stats(&site.provider);
        assert_eq!(
            grants - grants_before,
            1,
            "one refresh for 30 requests on two workers"
        );
        assert!(
            refused.as_object().map_or(true, |m| m.is_empty()),
            "{refused}"
        );
        site.n.assert_no_crash();
    }

    fn disabled_user_is_logged_out(build: Build) {
        let site = site(build);
        let mut jar = login(&site);
        let r = http_request(
            "POST",
            &site.provider.url("/_test/disable"),
            &[("Content-Type", "application/json")],
            json!({"sub": "b2f0c4a1-demo"}).to_string().as_bytes(),
        );
        assert_eq!(r.status, 200, "{}", r.text());
        past_refresh_time();
        let r = jar.request("GET", &site.url("/app"), &[("Accept", "text/html")], b"");
        assert_eq!(r.status, 302, "a browser goes to login");
        assert!(r
            .header("Location")
            .unwrap()
            .contains("/outpost.goauthentik.io/start"));
        assert_eq!(r.header("X-Reason"), Some("refresh_failed"));
        let r = jar.request(
            "GET",
            &site.url("/api"),
            &[("Accept", "application/json")],
            b"",
        );
        // The refusal revoked the session: the same cookie is refused from then on, on
        // every worker, as revoked.
        assert_eq!(r.status, 401, "an API call gets 401");
        assert_eq!(r.header("X-Reason"), Some("revoked"));
        site.n.assert_no_crash();
    }

    fn unreachable_provider_keeps_the_session(build: Build) {
        let mut site = site(build);
        let mut jar = login(&site);
        site.provider.stop();
        past_refresh_time();
        for _ in 0..5 {
            let r = jar.get_url(&site.url("/app"));
            assert_eq!(r.status, 200, "{}", site.n.error_log());
            assert_eq!(r.upstream().values("x-authentik-username"), ["demo"]);
        }
        let log = site.n.error_log();
        let warns = log
            .lines()
            .filter(|l| l.contains("[warn]") && l.contains("not refreshed"))
            .count();
        assert_eq!(warns, 1, "one warn per session:\n{log}");
        site.n.assert_no_crash();
    }

    crate::on_both_nginx!(
        refresh_brings_new_groups_and_a_new_cookie,
        concurrent_requests_refresh_once,
        disabled_user_is_logged_out,
        unreachable_provider_keeps_the_session,
    );
}

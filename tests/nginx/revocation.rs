//! Revocation (README "Session lifecycle"): `sign_out` kills a copied cookie on every
//! worker, `backchannel_logout` (OpenID Connect Back-Channel Logout 1.0) with tokens from
//! the real provider, the whole chain from a logout at the provider to a session refused on
//! every worker, after `nginx -s reload` and after a restart with `sso_shared_zone ...
//! state=`, a corrupt state file, and a full zone.

use std::collections::BTreeSet;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::harness::http::http_request;
use crate::harness::site::{sso, url, wait_ready, Server, Site, CLIENT_ID};
use crate::harness::{hang_limit, temp_dir, test_config, Build, Nginx, Response, Upstream};
use crate::on_both_nginx;
use crate::provider::{browser_login, CookieJar, Provider};

const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
pub(crate) const LOGOUT: &str = "/outpost.goauthentik.io/backchannel_logout";
pub(crate) const DEMO_SUB: &str = "b2f0c4a1-demo";

pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Extra server config of every site here: the worker's pid and the session's `$sso_sid`.
pub(crate) const SHOW: &str =
    "add_header X-Worker $pid always;\n        add_header X-Sid $sso_sid always;";

/// nginx protecting `up` for `provider` with `workers` workers (`reuseport`, so connections
/// reach every worker) and `http` at the `http {}` level.
pub(crate) fn start_nginx(
    build: Build,
    provider: &Provider,
    up: &Upstream,
    http: &str,
    workers: usize,
) -> Nginx {
    let server = Server::app(&up.addr(), &sso(&provider.issuer, ""))
        .listen("reuseport")
        .with(SHOW);
    let n = Nginx::start_workers(build, &format!("{http}\n{}", server.render()), workers);
    wait_ready(&n, &format!("localhost:{}", n.port));
    n
}

/// Sends `req` until every one of `workers` workers answered, checking each answer.
pub(crate) fn on_every_worker(
    workers: usize,
    mut req: impl FnMut() -> Response,
    check: impl Fn(&Response),
) {
    let mut seen = BTreeSet::new();
    let deadline = Instant::now() + hang_limit();
    while seen.len() < workers {
        let r = req();
        check(&r);
        seen.insert(r.header("X-Worker").unwrap_or("").to_owned());
        assert!(Instant::now() < deadline, "only workers {seen:?} answered");
    }
}

/// A browser navigation to `/app` with `jar`'s cookies.
pub(crate) fn page(jar: &mut CookieJar, n: &Nginx) -> Response {
    jar.request("GET", &url(n, "/app"), &[("Accept", "text/html")], b"")
}

/// An API call to `/api` with `jar`'s cookies.
pub(crate) fn api(jar: &mut CookieJar, n: &Nginx) -> Response {
    jar.request(
        "GET",
        &url(n, "/api"),
        &[("Accept", "application/json")],
        b"",
    )
}

pub(crate) fn assert_session(r: &Response, what: &str) {
    assert_eq!(r.status, 200, "{what}: {}", r.head());
    assert_eq!(r.header("X-Reason"), Some("session"), "{what}");
}

/// A revoked session: a browser goes to login, an API call gets 401; `$sso_reason` says why.
pub(crate) fn assert_revoked(jar: &mut CookieJar, n: &Nginx, workers: usize) {
    on_every_worker(
        workers,
        || page(jar, n),
        |r| {
            assert_eq!(r.status, 302, "{}\n{}", r.head(), n.error_log());
            assert!(r
                .header("Location")
                .unwrap()
                .contains("/outpost.goauthentik.io/start?rd="));
            assert_eq!(r.header("X-Reason"), Some("revoked"));
        },
    );
    on_every_worker(
        workers,
        || api(jar, n),
        |r| {
            assert_eq!(r.status, 401, "{}", r.head());
            assert_eq!(r.header("X-Reason"), Some("revoked"));
            assert!(r.header("WWW-Authenticate").unwrap().starts_with("Bearer"));
        },
    );
}

pub(crate) fn login(n: &Nginx) -> CookieJar {
    let mut jar = CookieJar::new();
    let end = browser_login(&mut jar, &url(n, "/app"), "demo", "demo");
    let trail = format!("{:#?}\n{}", end.hops, n.error_log());
    assert_eq!(end.response.status, 200, "logged in: {trail}");
    jar
}

/// A second browser holding a copy of `jar`'s session cookie.
pub(crate) fn copy_of(jar: &CookieJar) -> CookieJar {
    let mut copy = CookieJar::new();
    copy.set(
        "localhost",
        "sso_session",
        jar.get("sso_session").expect("session"),
    );
    copy
}

/// The workers write the state file: when the tests run as root, nginx's workers run as
/// `nobody`, so the state directory must be theirs to write (README "Shared zone").
pub(crate) fn writable_by_workers(dir: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777)).unwrap();
}

// ------------------------------------------------------------------ sign_out

/// `sign_out` revokes the session it ends: a copy of the cookie (another browser, a thief)
/// is refused by every worker from then on, as a browser (login) and as an API call (401).
fn sign_out_kills_a_copied_cookie(build: Build) {
    let site = Site::new(build)
        .listen("reuseport")
        .server(SHOW)
        .workers(2)
        .start();
    let n = &site.n;
    let mut jar = login(n);
    let mut thief = copy_of(&jar);
    on_every_worker(
        2,
        || page(&mut thief, n),
        |r| assert_session(r, "the copy before"),
    );
    // the provider gave no sid (no back-channel URI registered): nothing in $sso_sid
    assert_eq!(page(&mut thief, n).header("X-Sid"), None);
    let r = jar.request("GET", &url(n, "/outpost.goauthentik.io/sign_out"), &[], b"");
    assert_eq!(r.status, 302);
    assert!(jar.get("sso_session").is_none());
    assert_revoked(&mut thief, n, 2);
    let log = n.error_log();
    assert!(log.contains("signed out, session revoked"), "{log}");
    assert!(log.contains("reason: \"revoked\""), "{log}");
    // another login of the same user is a new session: not revoked
    let mut again = login(n);
    assert_session(&page(&mut again, n), "a new login");
    n.assert_no_crash();
}

// ------------------------------------------------------------------ back-channel logout

/// POSTs `body` as a form to the endpoint.
fn post_form(n: &Nginx, body: &str) -> Response {
    http_request(
        "POST",
        &url(n, LOGOUT),
        &[("Content-Type", "application/x-www-form-urlencoded")],
        body.as_bytes(),
    )
}

pub(crate) fn post_token(n: &Nginx, token: &str) -> Response {
    post_form(n, &format!("logout_token={token}"))
}

/// The claims of a good logout token for the site's client: `sid`, a fresh `jti`, the event.
fn good_claims(sid: &str) -> Value {
    json!({
        "aud": CLIENT_ID,
        "jti": format!("jti-{}-{sid}", now()),
        "sid": sid,
        "sub": DEMO_SUB,
        "events": { EVENT: {} },
    })
}

/// A logout token signed by the provider: `claims` merged into [`good_claims`] (a `null`
/// leaves the claim out), `extra` merged into the `/_test/sign` request.
pub(crate) fn logout_token(p: &Provider, sid: &str, claims: Value, extra: Value) -> String {
    let mut all = good_claims(sid);
    for (k, v) in claims.as_object().unwrap() {
        all[k] = v.clone();
    }
    let mut req = json!({ "claims": all, "header": { "typ": "logout+jwt" } });
    for (k, v) in extra.as_object().unwrap() {
        req[k] = v.clone();
    }
    p.sign(req)
}

/// `400`, `no-store`, a JSON `invalid_request` whose description contains `says`.
fn assert_refused(r: &Response, says: &str, what: &str) {
    assert_eq!(r.status, 400, "{what}: {}", r.head());
    assert_eq!(r.header("Cache-Control"), Some("no-store"), "{what}");
    assert_eq!(r.header("Content-Type"), Some("application/json"), "{what}");
    let body = r.json();
    assert_eq!(body["error"], "invalid_request", "{what}: {body}");
    let description = body["error_description"].as_str().unwrap();
    assert!(description.contains(says), "{what}: {description}");
}

/// Every §2.6 check with the real provider's tokens: each refusal `400` with its JSON error,
/// a good token `200` with `no-store`, once.
fn backchannel_refusals(build: Build) {
    let site = Site::new(build).start();
    let (p, n) = (&site.provider, &site.n);
    let cases: Vec<(&str, String, &str, &str)> = vec![
        (
            "unsigned",
            logout_token(p, "s1", json!({}), json!({ "alg": "none" })),
            "logout token refused",
            "unsupported_algorithm",
        ),
        (
            "signed by another key",
            logout_token(p, "s2", json!({}), json!({ "foreign": true })),
            "signature",
            "bad_signature",
        ),
        (
            "another audience",
            logout_token(p, "s3", json!({ "aud": "other-app" }), json!({})),
            "aud",
            "wrong_audience",
        ),
        (
            "expired",
            logout_token(
                p,
                "s4",
                json!({ "iat": now() - 4000, "exp": now() - 3600 }),
                json!({}),
            ),
            "expired",
            "expired",
        ),
        (
            "with a nonce",
            logout_token(p, "s5", json!({ "nonce": "n-1" }), json!({})),
            "must not carry a nonce",
            "nonce",
        ),
        (
            "without the event",
            logout_token(p, "s6", json!({ "events": { "other": {} } }), json!({})),
            "events lack",
            "no_logout_event",
        ),
        (
            "without events",
            logout_token(p, "s7", json!({ "events": null }), json!({})),
            "no events",
            "no_events",
        ),
        (
            "neither sid nor sub",
            logout_token(p, "s8", json!({ "sid": null, "sub": null }), json!({})),
            "neither sid nor sub",
            "no_sid_or_sub",
        ),
        (
            "wrong typ",
            logout_token(p, "s9", json!({}), json!({ "header": { "typ": "JWT" } })),
            "typ is not logout+jwt",
            "wrong_type",
        ),
        (
            "without jti",
            logout_token(p, "s10", json!({ "jti": null }), json!({})),
            "no jti",
            "no_jti",
        ),
        (
            "not a JWT",
            "not-a-jwt".to_owned(),
            "logout token refused",
            "malformed",
        ),
    ];
    for (what, token, says, reason) in &cases {
        let logged = format!("back-channel logout refused, reason: \"{reason}\"");
        let before = n.error_log().matches(&logged).count();
        assert_refused(&post_token(n, token), says, what);
        assert_eq!(
            n.error_log().matches(&logged).count(),
            before + 1,
            "{what}: {}",
            n.error_log()
        );
    }
    assert_refused(
        &post_form(n, "other=1"),
        "no logout_token",
        "no token field",
    );
    // a body over the 64 KiB cap
    let big = format!("logout_token={}", "a".repeat(70 * 1024));
    assert_refused(&post_form(n, &big), "more than the", "oversized body");
    // GET: 405, Allow: POST, JSON
    let r = http_request("GET", &url(n, LOGOUT), &[], b"");
    assert_eq!(r.status, 405, "{}", r.head());
    assert_eq!(r.header("Allow"), Some("POST"));
    assert_eq!(r.header("Cache-Control"), Some("no-store"));
    assert_eq!(r.json()["error"], "invalid_request");
    // a good token: 200 + no-store, once; its replay is refused
    let good = logout_token(p, "s-good", json!({}), json!({}));
    let r = post_token(n, &good);
    assert_eq!(r.status, 200, "{}\n{}", r.head(), n.error_log());
    assert_eq!(r.header("Cache-Control"), Some("no-store"));
    assert_refused(&post_token(n, &good), "used before", "replayed jti");
    // a body past client_body_buffer_size (16k: nginx keeps it in a temporary file), other
    // fields around the token
    let padded = logout_token(p, "s-file", json!({}), json!({}));
    let r = post_form(
        n,
        &format!("pad={}&logout_token={padded}&more=1", "x".repeat(30 * 1024)),
    );
    assert_eq!(r.status, 200, "{}\n{}", r.head(), n.error_log());
    let log = n.error_log();
    assert!(log.contains("provider session \"s-file\" revoked"), "{log}");
    assert!(
        log.contains("a client request body is buffered to a temporary file"),
        "{log}"
    );
    assert!(log.contains("provider session \"s-good\" revoked"), "{log}");
    assert!(log.contains("reason: \"bad_signature\""), "{log}");
    n.assert_no_crash();
}

/// A logout token signed by a key the provider published only after nginx fetched its key
/// set (a key rotation): the unknown `kid` makes nginx re-fetch the JWKS once, and the
/// token is then accepted.
fn logout_token_with_a_new_key_refetches(build: Build) {
    let p = crate::harness::site::start_provider(vec![crate::provider::demo_user()]);
    let jwks = http_request("GET", p.discovery()["jwks_uri"].as_str().unwrap(), &[], b"").json();
    let rsa = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kty"] == "RSA")
        .expect("an RSA key")["kid"]
        .clone();
    let settings = |hidden: Value| {
        let r = http_request(
            "POST",
            &p.url("/_test/settings"),
            &[("Content-Type", "application/json")],
            json!({ "hidden_kids": hidden }).to_string().as_bytes(),
        );
        assert_eq!(r.status, 200, "{}", r.text());
    };
    settings(json!([rsa]));
    let up = Upstream::start();
    let n = start_nginx(build, &p, &up, "", 1);
    // nginx has the key set without the RSA key (the test's own GET above was a hit too)
    let deadline = Instant::now() + hang_limit();
    while !n.error_log().contains("keys loaded: 2 signing keys") {
        assert!(Instant::now() < deadline, "no JWKS: {}", n.error_log());
        thread::sleep(Duration::from_millis(50));
    }
    settings(json!([]));
    let before = p.hits("/jwks");
    let token = logout_token(&p, "unused", json!({ "sid": null }), json!({}));
    let r = post_token(&n, &token);
    assert_eq!(r.status, 200, "{}\n{}", r.head(), n.error_log());
    assert_eq!(
        p.hits("/jwks"),
        before + 1,
        "one re-fetch for the unknown kid"
    );
    assert!(n
        .error_log()
        .contains(&format!("every session of \"{DEMO_SUB}\" issued through")));
    n.assert_no_crash();
}

/// Registers nginx's back-channel URI for the site's client at the provider (then ID tokens
/// carry `sid`).
pub(crate) fn register_backchannel(p: &Provider, n: &Nginx) {
    let r = http_request(
        "POST",
        &p.url("/_test/clients"),
        &[("Content-Type", "application/json")],
        json!({
            "client_id": CLIENT_ID,
            "backchannel_logout_uri": format!("http://127.0.0.1:{}{LOGOUT}", n.port),
        })
        .to_string()
        .as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
}

/// The `$sso_sid` of `jar`'s session.
pub(crate) fn sid_of(jar: &mut CookieJar, n: &Nginx) -> String {
    let r = page(jar, n);
    assert_session(&r, "sid");
    let sid = r.header("X-Sid").unwrap_or("").to_owned();
    assert!(!sid.is_empty(), "the ID token carried a sid: {}", r.head());
    sid
}

/// A token with a `sid` ends exactly that session on every worker; a token with only `sub`
/// ends every session of the user issued up to its `iat`, not one minted after it.
fn backchannel_sid_and_sub(build: Build) {
    let site = Site::new(build)
        .listen("reuseport")
        .server(SHOW)
        .workers(2)
        .start();
    let (p, n) = (&site.provider, &site.n);
    register_backchannel(p, n);
    let mut a = login(n);
    let mut b = login(n);
    let sid_a = sid_of(&mut a, n);
    assert_ne!(
        sid_a,
        sid_of(&mut b, n),
        "two browsers, two provider sessions"
    );
    let r = post_token(
        n,
        &logout_token(p, &sid_a, json!({ "sub": null }), json!({})),
    );
    assert_eq!(r.status, 200, "{}\n{}", r.head(), n.error_log());
    assert_revoked(&mut a, n, 2);
    on_every_worker(
        2,
        || page(&mut b, n),
        |r| assert_session(r, "the other session"),
    );

    // sub only: every session of the user issued up to the token's iat
    let token = logout_token(p, "unused", json!({ "sid": null }), json!({}));
    let r = post_token(n, &token);
    assert_eq!(r.status, 200, "{}\n{}", r.head(), n.error_log());
    assert_revoked(&mut b, n, 2);
    thread::sleep(Duration::from_millis(1100));
    let mut c = login(n);
    on_every_worker(
        2,
        || page(&mut c, n),
        |r| assert_session(r, "minted after the token"),
    );
    assert!(n
        .error_log()
        .contains(&format!("every session of \"{DEMO_SUB}\" issued through")));
    n.assert_no_crash();
}

// ------------------------------------------------------------------ the whole chain

/// The provider's logout of the user (`/_test/logout`), which POSTs the logout token to
/// nginx; every back-channel call succeeded.
pub(crate) fn logout_at_provider(p: &Provider) {
    let r = http_request(
        "POST",
        &p.url("/_test/logout"),
        &[("Content-Type", "application/json")],
        json!({ "sub": DEMO_SUB }).to_string().as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let sent = r.json();
    let calls = sent["backchannel"].as_array().unwrap();
    assert!(!calls.is_empty(), "{sent}");
    assert!(calls.iter().all(|c| c["ok"] == true), "{sent}");
}

/// Login, logout at the provider, back-channel logout received: the session is refused on
/// every worker, after `nginx -s reload`, and after a restart that reads `state=`; a new
/// login works on the restarted nginx.
fn provider_logout_survives_reload_and_restart(build: Build) {
    let state_dir = temp_dir("revocation-state");
    std::fs::create_dir_all(&state_dir).unwrap();
    writable_by_workers(&state_dir);
    let state = state_dir.join("revocations.state");
    let zone = format!("sso_shared_zone zone=sso:1m state={};", state.display());
    let provider = crate::harness::site::start_provider(vec![crate::provider::demo_user()]);
    let up = Upstream::start();
    let n = start_nginx(build, &provider, &up, &zone, 2);
    register_backchannel(&provider, &n);
    let mut jar = login(&n);
    let mut copy = copy_of(&jar);
    sid_of(&mut jar, &n);
    logout_at_provider(&provider);
    assert_revoked(&mut copy, &n, 2);
    assert!(n.error_log().contains("revoked"), "{}", n.error_log());

    // nginx -s reload: the zone (and its revocations) carry over to the new workers
    let before = n.error_log().matches("gracefully shutting down").count();
    n.reload();
    let deadline = Instant::now() + hang_limit();
    while n.error_log().matches("gracefully shutting down").count() < before + 2 {
        assert!(Instant::now() < deadline, "no reload: {}", n.error_log());
        thread::sleep(Duration::from_millis(50));
    }
    assert_revoked(&mut copy, &n, 2);

    // a restart: the old workers wrote the state file, the new nginx reads it
    let mut n = n;
    n.stop();
    assert!(state.exists(), "the state file was written");
    let n2 = start_nginx(build, &provider, &up, &zone, 2);
    assert!(
        n2.error_log().contains("revocations restored from"),
        "{}",
        n2.error_log()
    );
    register_backchannel(&provider, &n2);
    assert_revoked(&mut copy, &n2, 2);
    let mut fresh = login(&n2);
    on_every_worker(
        2,
        || page(&mut fresh, &n2),
        |r| assert_session(r, "a new login"),
    );
    n2.assert_no_crash();
    let _ = std::fs::remove_dir_all(&state_dir);
}

// ------------------------------------------------------------------ the zone

/// A corrupt state file is logged and nginx starts with no revocations; a missing one is
/// a notice.
fn corrupt_state_file_logs_and_starts(build: Build) {
    let dir = temp_dir("revocation-corrupt");
    std::fs::create_dir_all(&dir).unwrap();
    writable_by_workers(&dir);
    let state = dir.join("revocations.state");
    std::fs::write(&state, b"SSOREVOC garbage that is not a state file").unwrap();
    let provider = crate::harness::site::start_provider(vec![crate::provider::demo_user()]);
    let up = Upstream::start();
    let zone = format!("sso_shared_zone zone=z:1m state={};", state.display());
    let n = start_nginx(build, &provider, &up, &zone, 1);
    let log = n.error_log();
    assert!(log.contains("[warn]"), "{log}");
    assert!(
        log.contains(&format!(
            "state file \"{}\" of zone \"z\" ignored",
            state.display()
        )),
        "{log}"
    );
    let mut jar = login(&n);
    assert_session(&page(&mut jar, &n), "works with an ignored state file");
    drop(n);
    let missing = dir.join("missing.state");
    let zone = format!("sso_shared_zone zone=z:1m state={};", missing.display());
    let n = start_nginx(build, &provider, &up, &zone, 1);
    assert!(
        n.error_log().contains("does not exist yet"),
        "{}",
        n.error_log()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// How many revocations a zone holds is logged at start (README "Shared zone": measured
/// with `sso_core::revocations::bytes_for`); when it is full the oldest revocation goes,
/// with a warn: a signed-out session's copy works again.
fn full_zone_evicts_the_oldest(build: Build) {
    let provider = crate::harness::site::start_provider(vec![crate::provider::demo_user()]);
    let up = Upstream::start();
    let n = start_nginx(build, &provider, &up, "sso_shared_zone zone=tiny:64k;", 1);
    let log = n.error_log();
    let capacity: usize = log
        .split("shared zone \"tiny\" holds ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{log}"));
    assert_eq!(capacity, 582, "a 64k zone's revocations");
    let mut jar = login(&n);
    let mut copy = copy_of(&jar);
    jar.request(
        "GET",
        &url(&n, "/outpost.goauthentik.io/sign_out"),
        &[],
        b"",
    );
    assert_revoked(&mut copy, &n, 1);
    for i in 0..capacity {
        let r = post_token(
            &n,
            &logout_token(&provider, &format!("fill-{i}"), json!({}), json!({})),
        );
        assert_eq!(r.status, 200, "{i}: {}", r.head());
    }
    let log = n.error_log();
    assert!(
        log.contains("shared zone \"tiny\" is full: the oldest revocation (session"),
        "{log}"
    );
    assert_session(&page(&mut copy, &n), "its revocation was evicted");
    n.assert_no_crash();
}

/// `sso_shared_zone` errors fail `nginx -t` with `[emerg] sso_shared_zone: reason`.
fn zone_directive_errors(build: Build) {
    for (line, says) in [
        (
            "sso_shared_zone zone=a;",
            "invalid zone \"a\", it must be NAME:SIZE",
        ),
        ("sso_shared_zone zone=a:1x;", "invalid zone size \"1x\""),
        ("sso_shared_zone zone=a:8k;", "zone \"a\" is too small"),
        (
            "sso_shared_zone state=/tmp/x;",
            "zone=NAME:SIZE is required",
        ),
        (
            "sso_shared_zone zone=a:1m other=1;",
            "invalid parameter \"other=1\"",
        ),
        ("sso_shared_zone zone=:1m;", "invalid zone name \"\""),
    ] {
        let (ok, out) = test_config(
            build,
            &format!("{line}\n    server {{ listen 127.0.0.1:1; }}"),
        );
        assert!(!ok, "{line}: {out}");
        assert!(out.contains("[emerg]"), "{line}: {out}");
        assert!(
            out.contains(&format!("sso_shared_zone: {says}")),
            "{line}: {out}"
        );
    }
    // where nginx itself refuses, and a relative state file that is fine
    for (http, refused) in [
        (
            "server { listen 127.0.0.1:1; sso_shared_zone zone=a:1m; }",
            Some("\"sso_shared_zone\" directive is not allowed here"),
        ),
        (
            "sso_shared_zone zone=a:1m;\n    sso_shared_zone zone=b:1m;",
            Some("sso_shared_zone: is duplicate"),
        ),
        (
            "sso_shared_zone zone=a:10m state=rel/revocations.state;",
            None,
        ),
    ] {
        let (ok, out) = test_config(build, http);
        match refused {
            Some(says) => assert!(!ok && out.contains(says), "{http}: {out}"),
            None => assert!(ok, "{http}: {out}"),
        }
    }
}

on_both_nginx!(
    sign_out_kills_a_copied_cookie,
    backchannel_refusals,
    logout_token_with_a_new_key_refetches,
    backchannel_sid_and_sub,
    provider_logout_survives_reload_and_restart,
    corrupt_state_file_logs_and_starts,
    full_zone_evicts_the_oldest,
    zone_directive_errors,
);

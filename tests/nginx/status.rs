//! The status endpoint (README "Observability", `sso_status`): with two workers and the real
//! provider, a run that produces every decision, every `$sso_reason` of a token (each
//! `TokenError` reason, on bearer tokens, a token cookie and a provider whose keys never
//! loaded) and of a session (valid, revoked, idle, refresh_failed, forbidden_group,
//! forbidden_claim; an expired session is `no_credentials`, see README), logins
//! started, completed and failed, a refresh done and one refused, back-channel logouts
//! accepted and refused; the counts read through a real Prometheus parser (Debian's
//! `python3-prometheus-client`) must equal what the test sent, the JSON form must carry the
//! same numbers, and `nginx -s reload` keeps them.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use serde_json::{json, Value};

use crate::harness::http::http_request;
use crate::harness::site::{Site, CLIENT_ID};
use crate::harness::{hang_limit, scaled, test_config, Build, Response};
use crate::on_both_nginx;
use crate::provider::CookieJar;

const PROMETHEUS: &str = "text/plain; version=0.0.4; charset=utf-8";
const LOGOUT: &str = "/outpost.goauthentik.io/backchannel_logout";
const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// Debian's python (the package installs there, not into another python on PATH).
const PYTHON: &str = "/usr/bin/python3";

/// Parses Prometheus text with `prometheus_client`'s own parser and prints every sample.
const PARSE: &str = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = []
for f in text_string_to_metric_families(sys.stdin.read()):
    for s in f.samples:
        out.append({"family": f.name, "type": f.type, "name": s.name, "labels": s.labels, "value": s.value})
print(json.dumps(out))
"#;

/// A series key: `name{k="v",...}` with the labels sorted.
fn key(name: &str, labels: &BTreeMap<String, String>) -> String {
    let l: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{name}{{{}}}", l.join(","))
}

/// Every sample of a Prometheus text body, as the real parser reads it.
fn parse(text: &str) -> BTreeMap<String, f64> {
    let mut child = Command::new(PYTHON)
        .args(["-c", PARSE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("{PYTHON}: {e}; run: ./scripts/apt-ensure python3-prometheus-client")
        });
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the Prometheus parser refused the body (run ./scripts/apt-ensure \
         python3-prometheus-client if it is missing): {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let samples: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let mut map = BTreeMap::new();
    for s in samples {
        let labels: BTreeMap<String, String> = s["labels"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
            .collect();
        let name = s["name"].as_str().unwrap();
        assert!(name.starts_with("sso_"), "{name}");
        if s["type"] == "counter" {
            assert!(s["family"].as_str().is_some(), "{s}");
        }
        let prev = map.insert(key(name, &labels), s["value"].as_f64().unwrap());
        assert!(prev.is_none(), "series {name} {labels:?} twice");
    }
    map
}

/// The status page as Prometheus text, parsed; checks the answer's headers.
fn scrape(site: &Site) -> BTreeMap<String, f64> {
    let r = http_request("GET", &site.url("/status"), &[], b"");
    assert_eq!(r.status, 200, "{}\n{}", r.head(), site.n.error_log());
    assert_eq!(r.header("Content-Type"), Some(PROMETHEUS));
    assert_eq!(r.header("Cache-Control"), Some("no-store"));
    parse(&r.text())
}

/// The status page as JSON.
fn scrape_json(site: &Site) -> Value {
    let r = http_request(
        "GET",
        &site.url("/status"),
        &[("Accept", "application/json")],
        b"",
    );
    assert_eq!(r.status, 200, "{}", r.head());
    assert_eq!(r.header("Content-Type"), Some("application/json"));
    assert_eq!(r.header("Cache-Control"), Some("no-store"));
    r.json()
}

fn requests_key(decision: &str, reason: &str) -> String {
    format!("sso_requests_total{{decision={decision:?},reason={reason:?}}}")
}

/// What the test sent: `(series key) -> count`, and the workers that answered counted
/// requests.
#[derive(Default)]
struct Sent {
    counts: BTreeMap<String, f64>,
    workers: BTreeSet<String>,
}

impl Sent {
    fn add(&mut self, key: String) {
        *self.counts.entry(key).or_default() += 1.0;
    }

    /// A request the gate decided: checks its `$sso_reason` and status, counts it.
    fn decided(&mut self, r: &Response, decision: &str, reason: &str) {
        let status = match decision {
            "allow" | "unauthenticated" => 200,
            "login" => 302,
            "unauthorized" => 401,
            _ => 403,
        };
        assert_eq!(r.status, status, "{decision}/{reason}: {}", r.head());
        assert_eq!(r.header("X-Reason"), Some(reason), "{}", r.head());
        self.workers
            .insert(r.header("X-Worker").unwrap_or("").to_owned());
        self.add(requests_key(decision, reason));
    }
}

fn site(build: Build) -> Site {
    Site::new(build)
        .provider(crate::refresh::request_path::refreshing_provider())
        .workers(2)
        .listen("reuseport")
        .sso(
            "sso_unauthenticated_paths ^/public/;\n        sso_token_cookie tok;\n        \
             sso_session_refresh 1h;",
        )
        .server(
            "add_header X-Worker $pid always;
        location /admin/ { sso_require_group nobody; proxy_pass http://%UP%; }
        location /claim/ { sso_require_claim realm_access.roles auditor; proxy_pass http://%UP%; }
        location /nokeys/ { sso_issuer http://127.0.0.1:9; proxy_pass http://%UP%; }
        location /idle/ { sso_session_idle_timeout 1s; proxy_pass http://%UP%; }
        location /refresh/ { sso_session_refresh 1s; proxy_pass http://%UP%; }
        location /err/ { error_page 401 = @refused; proxy_pass http://%UP%; }
        location @refused { sso_protect off; return 401 refused; }
        location = /status { sso_status; allow 127.0.0.1; deny all; }
        location = /status-closed { sso_status; deny all; }",
        )
        .start()
}

fn login(site: &Site, sent: &mut Sent) -> CookieJar {
    let jar = crate::refresh::request_path::login(site);
    // The anonymous navigation, then the session's first request.
    sent.add(requests_key("login", "no_credentials"));
    sent.add(requests_key("allow", "session"));
    sent.add("sso_logins_started_total{}".to_owned());
    sent.add("sso_logins_completed_total{}".to_owned());
    jar
}

fn api(jar: &mut CookieJar, url: &str) -> Response {
    jar.request("GET", url, &[("Accept", "application/json")], b"")
}

fn bearer(site: &Site, token: &str) -> Response {
    http_request(
        "GET",
        &site.url("/app"),
        &[("Authorization", &format!("Bearer {token}"))],
        b"",
    )
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn post_logout(site: &Site, token: &str) -> Response {
    http_request(
        "POST",
        &site.url(LOGOUT),
        &[("Content-Type", "application/x-www-form-urlencoded")],
        format!("logout_token={token}").as_bytes(),
    )
}

/// The counts after minus before, for every series the test sent to or that changed.
fn deltas(before: &BTreeMap<String, f64>, after: &BTreeMap<String, f64>) -> BTreeMap<String, f64> {
    after
        .iter()
        .filter(|(k, _)| {
            k.starts_with("sso_requests_total")
                || k.starts_with("sso_logins")
                || k.starts_with("sso_refreshes")
                || k.starts_with("sso_backchannel")
        })
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0.0)))
        .filter(|(_, d)| *d != 0.0)
        .collect()
}

fn counts_are_exact(build: Build) {
    let site = site(build);
    let p = &site.provider;
    let mut sent = Sent::default();
    let before = scrape(&site);
    // Every series of the fixed label sets is there from the start (at zero).
    assert_eq!(
        before.get(&requests_key("unauthorized", "revoked")),
        Some(&0.0),
        "{before:#?}"
    );

    // Anonymous: a browser is sent to log in, an API call gets 401, a public path passes.
    let nav = [("Accept", "text/html")];
    let r = http_request("GET", &site.url("/app"), &nav, b"");
    sent.decided(&r, "login", "no_credentials");
    for _ in 0..3 {
        let r = http_request("GET", &site.url("/app"), &[], b"");
        sent.decided(&r, "unauthorized", "no_credentials");
    }
    let r = http_request("GET", &site.url("/public/x"), &[], b"");
    sent.decided(&r, "unauthenticated", "unauthenticated_path");
    // A garbled session cookie is no credentials.
    let r = http_request(
        "GET",
        &site.url("/app"),
        &[("Cookie", "sso_session=garbage")],
        b"",
    );
    sent.decided(&r, "unauthorized", "no_credentials");
    // An internal redirect to an unprotected named location: counted once, as decided.
    let r = http_request("GET", &site.url("/err/x"), &[], b"");
    assert_eq!((r.status, r.text().as_str()), (401, "refused"));
    sent.add(requests_key("unauthorized", "no_credentials"));

    // Bearer tokens from the provider: good ones until both workers answered, then one
    // of each refusal.
    let good = p.sign_claims(json!({"aud": CLIENT_ID, "sub": "api-client"}));
    let deadline = std::time::Instant::now() + hang_limit();
    while sent.workers.len() < 2 || sent.counts.get(&requests_key("allow", "bearer")) < Some(&4.0) {
        sent.decided(&bearer(&site, &good), "allow", "bearer");
        assert!(std::time::Instant::now() < deadline, "one worker only");
    }
    for (token, reason) in [
        (
            p.sign(json!({"claims": {"aud": CLIENT_ID}, "foreign": true})),
            "bad_signature",
        ),
        (
            p.sign_claims(json!({"aud": CLIENT_ID, "exp": now() - 600})),
            "expired",
        ),
        (
            p.sign_claims(json!({"aud": CLIENT_ID, "nbf": now() + 600})),
            "not_yet_valid",
        ),
        (
            p.sign_claims(json!({"aud": "someone-else"})),
            "wrong_audience",
        ),
        (
            p.sign_claims(json!({"aud": CLIENT_ID, "iss": "https://elsewhere/"})),
            "wrong_issuer",
        ),
        (
            p.sign(json!({"claims": {"aud": CLIENT_ID}, "kid": "nope"})),
            "unknown_key",
        ),
        (
            p.sign(json!({"claims": {"aud": CLIENT_ID}, "alg": "none"})),
            "unsupported_algorithm",
        ),
        ("not-a-jwt".to_owned(), "malformed"),
        (
            // a header nested too deep
            format!("{}.e30.", B64.encode("[".repeat(48))),
            "too_large",
        ),
    ] {
        sent.decided(&bearer(&site, &token), "unauthorized", reason);
    }
    // A provider whose keys never loaded (nothing listens there).
    let r = http_request(
        "GET",
        &site.url("/nokeys/x"),
        &[("Authorization", &format!("Bearer {good}"))],
        b"",
    );
    sent.decided(&r, "unauthorized", "no_keys");
    // The token cookie.
    let r = http_request(
        "GET",
        &site.url("/app"),
        &[("Cookie", &format!("tok={good}"))],
        b"",
    );
    sent.decided(&r, "allow", "token_cookie");
    let r = http_request(
        "GET",
        &site.url("/app"),
        &[("Cookie", "tok=not-a-jwt")],
        b"",
    );
    sent.decided(&r, "unauthorized", "malformed");

    // Logins through the provider; sessions valid, forbidden, revoked, idle.
    let mut jar = login(&site, &mut sent);
    for _ in 0..3 {
        sent.decided(&api(&mut jar, &site.url("/app")), "allow", "session");
    }
    sent.decided(
        &api(&mut jar, &site.url("/admin/")),
        "forbidden",
        "forbidden_group",
    );
    sent.decided(
        &api(&mut jar, &site.url("/claim/")),
        "forbidden",
        "forbidden_claim",
    );
    let mut copy = CookieJar::new();
    copy.set("localhost", "sso_session", jar.get("sso_session").unwrap());
    let r = jar.request(
        "GET",
        &site.url("/outpost.goauthentik.io/sign_out"),
        &[],
        b"",
    );
    assert_eq!(r.status, 302);
    sent.decided(
        &api(&mut copy, &site.url("/app")),
        "unauthorized",
        "revoked",
    );
    let r = copy.request("GET", &site.url("/app"), &[("Accept", "text/html")], b"");
    sent.decided(&r, "login", "revoked");

    let mut idle = login(&site, &mut sent);
    thread::sleep(scaled(Duration::from_millis(2300)));
    sent.decided(&api(&mut idle, &site.url("/idle/")), "unauthorized", "idle");

    // A refresh done (after 1 s in /refresh/).
    let mut fresh = login(&site, &mut sent);
    thread::sleep(scaled(Duration::from_millis(1300)));
    sent.decided(&api(&mut fresh, &site.url("/refresh/")), "allow", "session");
    sent.add("sso_refreshes_total{}".to_owned());

    // Callbacks that fail: no flow cookie, and the provider's error.
    let r = http_request(
        "GET",
        &site.url("/outpost.goauthentik.io/callback?code=c&state=abcdefghijkl"),
        &[],
        b"",
    );
    assert_eq!(r.status, 400, "{}", r.head());
    sent.add("sso_logins_failed_total{reason=\"no_flow_cookie\"}".to_owned());

    // Back-channel logouts: one accepted, one with a foreign signature, one not a POST.
    let claims = json!({
        "aud": CLIENT_ID, "jti": format!("jti-status-{}", now()), "sid": "s-status",
        "sub": "b2f0c4a1-demo", "events": { EVENT: {} },
    });
    let token = p.sign(json!({"claims": claims, "header": {"typ": "logout+jwt"}}));
    assert_eq!(post_logout(&site, &token).status, 200);
    sent.add("sso_backchannel_logouts_accepted_total{}".to_owned());
    assert_eq!(post_logout(&site, &token).status, 400, "replayed");
    sent.add("sso_backchannel_logouts_refused_total{reason=\"replayed\"}".to_owned());
    let foreign =
        p.sign(json!({"claims": claims, "header": {"typ": "logout+jwt"}, "foreign": true}));
    assert_eq!(post_logout(&site, &foreign).status, 400);
    sent.add("sso_backchannel_logouts_refused_total{reason=\"bad_signature\"}".to_owned());
    let r = http_request("GET", &site.url(LOGOUT), &[], b"");
    assert_eq!(r.status, 405);
    sent.add("sso_backchannel_logouts_refused_total{reason=\"method_not_allowed\"}".to_owned());

    // A refresh the provider refuses (the user is disabled): the session ends. Last: no
    // login works after it.
    let r = http_request(
        "POST",
        &p.url("/_test/disable"),
        &[("Content-Type", "application/json")],
        json!({"sub": "b2f0c4a1-demo"}).to_string().as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    thread::sleep(scaled(Duration::from_millis(1300)));
    sent.decided(
        &api(&mut fresh, &site.url("/refresh/")),
        "unauthorized",
        "refresh_failed",
    );
    sent.add("sso_refreshes_failed_total{reason=\"refused\"}".to_owned());

    // The status location is not gated and not counted; `deny` guards it.
    let r = http_request("GET", &site.url("/status-closed"), &[], b"");
    assert_eq!(r.status, 403);
    let r = http_request("POST", &site.url("/status"), &[], b"");
    assert_eq!(r.status, 405);

    let after = scrape(&site);
    assert_eq!(
        deltas(&before, &after),
        sent.counts,
        "what the status endpoint counted (left) is what the test sent (right)\n{}",
        site.n.error_log()
    );
    assert_eq!(
        sent.workers.len(),
        2,
        "both workers counted: {:?}",
        sent.workers
    );
    // The revocations held: the sign-out, the back-channel logout, the refused refresh.
    assert_eq!(after.get("sso_revocations{}"), Some(&3.0), "{after:#?}");
    let provider_label = format!("{{provider={:?}}}", p.issuer);
    assert_eq!(
        after.get(&format!("sso_provider_fetch_failing{provider_label}")),
        Some(&0.0)
    );
    for age in ["discovery", "jwks"] {
        let v = after[&format!("sso_provider_{age}_age_seconds{provider_label}")];
        assert!((0.0..600.0).contains(&v), "{age}: {v}");
    }
    // Both caches were used: every session and bearer lookup is a hit or a miss.
    for cache in ["token", "session"] {
        let hits = after[&format!("sso_cache_hits_total{{cache={cache:?}}}")];
        let misses = after[&format!("sso_cache_misses_total{{cache={cache:?}}}")];
        assert!(
            hits >= 1.0 && misses >= 1.0,
            "{cache}: {hits} hits {misses} misses"
        );
    }

    // The JSON form carries the same numbers.
    let j = scrape_json(&site);
    let again = scrape(&site);
    for entry in j["requests"].as_array().unwrap() {
        let k = requests_key(
            entry["decision"].as_str().unwrap(),
            entry["reason"].as_str().unwrap(),
        );
        assert_eq!(entry["count"].as_f64(), Some(again[&k]), "{k}");
    }
    assert_eq!(
        j["logins"]["started"].as_f64(),
        Some(again["sso_logins_started_total{}"])
    );
    assert_eq!(
        j["logins"]["failed"]["no_flow_cookie"].as_f64(),
        Some(again["sso_logins_failed_total{reason=\"no_flow_cookie\"}"])
    );
    assert_eq!(j["refreshes"]["done"].as_f64(), Some(1.0));
    assert_eq!(j["refreshes"]["failed"]["refused"].as_f64(), Some(1.0));
    assert_eq!(j["backchannel_logouts"]["accepted"].as_f64(), Some(1.0));
    assert_eq!(
        j["backchannel_logouts"]["refused"]["replayed"].as_f64(),
        Some(1.0)
    );
    assert_eq!(j["revocations"].as_f64(), Some(3.0));
    assert_eq!(j["providers"][0]["provider"], p.issuer.as_str());
    assert_eq!(j["providers"][0]["last_error"], Value::Null);

    // A reload keeps every count (the zone survives it).
    site.n.reload();
    thread::sleep(scaled(Duration::from_millis(1500)));
    let reloaded = scrape(&site);
    assert_eq!(
        deltas(&again, &reloaded),
        BTreeMap::new(),
        "after the reload"
    );
    assert!(
        reloaded
            .iter()
            .any(|(k, v)| k.starts_with("sso_requests_total") && *v > 0.0),
        "{reloaded:#?}"
    );
    site.n.assert_no_crash();
}

fn status_directive_is_location_only(build: Build) {
    let (ok, out) = test_config(build, "server { listen 127.0.0.1:%PORT%; sso_status; }");
    assert!(!ok, "{out}");
    assert!(
        out.contains("[emerg]") && out.contains("\"sso_status\" directive is not allowed here"),
        "{out}"
    );
    let (ok, out) = test_config(
        build,
        "server { listen 127.0.0.1:%PORT%; location /s { sso_status on; } }",
    );
    assert!(!ok, "{out}");
    assert!(
        out.contains("invalid number of arguments in \"sso_status\""),
        "{out}"
    );
}

on_both_nginx!(counts_are_exact, status_directive_is_location_only);

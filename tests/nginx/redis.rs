//! Many nodes through Redis (README "Session lifecycle" → "Many nodes"): a real
//! `redis-server` (harness/redis.rs) and several nginx instances (two workers each) sharing
//! the provider, the session keys and Redis. A back-channel logout posted to one node is
//! enforced by the others within 1 s; a node started later refuses it; a Redis restarted
//! empty gets it back; Redis down breaks nothing else; AUTH, ACL users, a db number and
//! `rediss://` work; a bad URL fails `nginx -t`.

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::http::http_request;
use crate::harness::redis::RedisServer;
use crate::harness::site::{start_provider, url, CLIENT_ID, SECRET};
use crate::harness::{hang_limit, scaled, test_config, Build, Nginx, Upstream};
use crate::on_both_nginx;
use crate::provider::{client, config, demo_user, CookieJar, Provider, ANY_CALLBACK};
use crate::revocation::{
    api, assert_revoked, assert_session, copy_of, login, logout_token, on_every_worker, page,
    post_token, register_backchannel, sid_of, start_nginx,
};

/// What a node logs once its sync is connected (one worker per node syncs).
const CONNECTED: &str = "\" connected: ";
const UNREACHABLE: &str = "is unreachable";
const BACK: &str = "\" reachable again: ";

/// Waits until `n`'s error log holds `needle` `count` times.
fn wait_log(n: &Nginx, needle: &str, count: usize) {
    let deadline = Instant::now() + hang_limit();
    while n.error_log().matches(needle).count() < count {
        assert!(
            Instant::now() < deadline,
            "no {count} × {needle:?} in:\n{}",
            n.error_log()
        );
        thread::sleep(Duration::from_millis(50));
    }
}

/// What every node of a test shares: the provider (its client, hence the session keys)
/// and the upstream.
struct Shared {
    p: Provider,
    up: Upstream,
}

impl Shared {
    fn new() -> Shared {
        Shared {
            p: start_provider(vec![demo_user()]),
            up: Upstream::start(),
        }
    }

    /// A node of `workers` workers with `redis` (the `sso_redis` line), not waited for.
    fn start(&self, build: Build, redis: &str, workers: usize) -> Nginx {
        start_nginx(build, &self.p, &self.up, redis, workers)
    }

    /// A node of two workers whose sync is connected.
    fn node(&self, build: Build, redis: &str) -> Nginx {
        let n = self.start(build, redis, 2);
        wait_log(&n, CONNECTED, 1);
        n
    }
}

/// The `sso_redis` line for a plain `redis`.
fn plain(redis: &RedisServer) -> String {
    format!("sso_redis redis://127.0.0.1:{};", redis.port)
}

/// A logout posted to `a` is refused by `b` within 1 s of its answer; the copy.
fn logout_reaches_within_a_second(p: &Provider, a: &Nginx, b: &Nginx) -> CookieJar {
    let mut copy = login_and_logout(p, a, &[b]);
    let took = time_to_refusal(&mut copy, b);
    assert!(
        took <= Duration::from_secs(1),
        "the other node took {took:?}"
    );
    copy
}

/// Polls `jar`'s API call on `n` until it is refused as revoked; how long that took.
fn time_to_refusal(jar: &mut CookieJar, n: &Nginx) -> Duration {
    let start = Instant::now();
    loop {
        let r = api(jar, n);
        if r.status == 401 && r.header("X-Reason") == Some("revoked") {
            return start.elapsed();
        }
        assert_eq!(r.status, 200, "{}", r.head());
        assert!(
            start.elapsed() < hang_limit(),
            "never refused:\n{}",
            n.error_log()
        );
        thread::sleep(Duration::from_millis(10));
    }
}

/// Logs in on `a`, checks the session on every worker of `others`, posts a back-channel
/// logout of its `sid` to `a`; the copy of the cookie.
fn login_and_logout(p: &Provider, a: &Nginx, others: &[&Nginx]) -> CookieJar {
    register_backchannel(p, a);
    let mut jar = login(a);
    let sid = sid_of(&mut jar, a);
    let mut copy = copy_of(&jar);
    for n in others {
        on_every_worker(2, || page(&mut copy, n), |r| assert_session(r, "before"));
    }
    let r = post_token(a, &logout_token(p, &sid, json!({ "sub": null }), json!({})));
    assert_eq!(r.status, 200, "{}\n{}", r.head(), a.error_log());
    copy
}

/// A back-channel logout posted to one node is refused by the other within 1 s (measured
/// from the logout's answer); the revocation is a key in Redis expiring with the session; a
/// node started after the logout refuses the session at once (it read Redis on connect);
/// a Redis restarted empty gets the revocation back from the nodes (write-back); one sync
/// connection per node, not per worker.
fn logout_reaches_every_node(build: Build) {
    let mut redis = RedisServer::start(&[]);
    let (s, conf) = (Shared::new(), plain(&redis));
    let (a, b) = (s.node(build, &conf), s.node(build, &conf));
    let mut copy = logout_reaches_within_a_second(&s.p, &a, &b);
    assert_revoked(&mut copy, &a, 2);
    assert_revoked(&mut copy, &b, 2);

    let keys = redis.keys(0, "sso:rev:*");
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(keys[0].starts_with("sso:rev:session:"), "{keys:?}");
    let ttl: u64 = redis.cli(&["TTL", &keys[0]]).parse().unwrap();
    assert!(
        ttl > 23 * 3600 && ttl <= 24 * 3600,
        "expires with the session: {ttl}"
    );

    // a node started after the logout
    let c = s.node(build, &conf);
    assert!(
        c.error_log().contains(": 1 revocations read"),
        "{}",
        c.error_log()
    );
    assert_revoked(&mut copy, &c, 2);

    // Redis restarted empty: the nodes write the revocation back
    redis.restart();
    assert!(redis.keys(0, "sso:rev:*").is_empty());
    let deadline = Instant::now() + hang_limit();
    while redis.keys(0, "sso:rev:*") != keys {
        assert!(
            Instant::now() < deadline,
            "not written back:\n{}",
            a.error_log()
        );
        thread::sleep(Duration::from_millis(100));
    }
    for n in [&a, &b, &c] {
        wait_log(n, BACK, 1);
        let log = n.error_log();
        // one worker of the two syncs
        assert_eq!(log.matches(CONNECTED).count(), 1, "{log}");
        assert_eq!(log.matches(UNREACHABLE).count(), 1, "{log}");
        n.assert_no_crash();
    }
    assert!(
        a.error_log().contains("1 written back")
            || b.error_log().contains("1 written back")
            || c.error_log().contains("1 written back"),
        "{}",
        a.error_log()
    );
}

/// Redis stopped: both nodes keep serving sessions and logins, a local revocation works on
/// the node it was made on, each node warns once however long the outage; when Redis is
/// back they reconnect and the revocation made meanwhile reaches the other node.
fn redis_down_breaks_nothing_else(build: Build) {
    let mut redis = RedisServer::start(&[]);
    let (s, conf) = (Shared::new(), plain(&redis));
    let (a, b) = (s.node(build, &conf), s.node(build, &conf));
    redis.stop();
    wait_log(&a, UNREACHABLE, 1);
    wait_log(&b, UNREACHABLE, 1);
    let mut copy = login_and_logout(&s.p, &a, &[&a, &b]);
    assert_revoked(&mut copy, &a, 2);
    // the other node cannot know yet: the session still works there
    on_every_worker(
        2,
        || page(&mut copy, &b),
        |r| assert_session(r, "B, Redis down"),
    );
    // several retries later (the backoff doubles from 100 ms): still one warning each
    thread::sleep(Duration::from_secs(3));
    for n in [&a, &b] {
        let log = n.error_log();
        assert_eq!(log.matches(UNREACHABLE).count(), 1, "{log}");
        assert!(log.contains("[warn]"), "{log}");
    }
    redis.restart();
    wait_log(&a, BACK, 1);
    wait_log(&b, BACK, 1);
    time_to_refusal(&mut copy, &b);
    assert_revoked(&mut copy, &b, 2);
    assert_eq!(redis.keys(0, "sso:rev:*").len(), 1);
    a.assert_no_crash();
    b.assert_no_crash();
}

/// AUTH with `requirepass` (default user) and an ACL user, on database 3: the logout goes
/// from one to the other, the key lands in db 3 (db 0 stays empty); no log line carries a
/// password; a wrong password is an outage (one warn), with the password hidden.
fn auth_acl_user_and_db(build: Build) {
    let redis = RedisServer::start(&[
        "--requirepass",
        "default-pw-8u3",
        "--user",
        "nodeb",
        "on",
        ">acl-pw-5k2",
        "~sso:*",
        "&sso:*",
        "+@all",
    ])
    .cli_auth(&[
        "--user",
        "default",
        "--pass",
        "default-pw-8u3",
        "--no-auth-warning",
    ]);
    let (port, s) = (redis.port, Shared::new());
    let a = s.node(
        build,
        &format!("sso_redis redis://:default-pw-8u3@127.0.0.1:{port}/3;"),
    );
    let b = s.node(
        build,
        &format!("sso_redis redis://nodeb:acl-pw-5k2@127.0.0.1:{port}/3;"),
    );
    logout_reaches_within_a_second(&s.p, &a, &b);
    assert_eq!(redis.keys(3, "sso:rev:*").len(), 1);
    assert!(redis.keys(0, "*").is_empty());
    let wrong = s.start(
        build,
        &format!("sso_redis redis://nodeb:not-the-pw-7q@127.0.0.1:{port}/3;"),
        2,
    );
    wait_log(&wrong, UNREACHABLE, 1);
    let log = wrong.error_log();
    assert!(log.contains("redis://nodeb:***@127.0.0.1"), "{log}");
    for (n, secret) in [
        (&a, "default-pw-8u3"),
        (&b, "acl-pw-5k2"),
        (&wrong, "not-the-pw-7q"),
    ] {
        assert!(!n.error_log().contains(secret), "{}", n.error_log());
        n.assert_no_crash();
    }
}

/// Runs openssl with `args` in `dir`.
fn openssl(dir: &std::path::Path, args: &[&str]) {
    let out = std::process::Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl (make redis-deps)");
    assert!(out.status.success(), "openssl {args:?}: {out:?}");
}

/// `rediss://` with a private CA (`trusted_certificate=`): the logout goes from one node to
/// the other over TLS; a node trusting only the system store refuses the server's
/// certificate (one warn), so the certificate is checked.
fn tls_with_a_private_ca(build: Build) {
    let dir = crate::harness::temp_dir("redis-tls");
    openssl(
        &dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=sso test CA",
        ],
    );
    openssl(
        &dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )
    .unwrap();
    openssl(
        &dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "san.ext",
        ],
    );
    let file = |f: &str| dir.join(f).display().to_string();
    let redis = RedisServer::start_tls(&[
        "--tls-cert-file",
        &file("server.pem"),
        "--tls-key-file",
        &file("server.key"),
        "--tls-ca-cert-file",
        &file("ca.pem"),
        "--tls-auth-clients",
        "no",
    ]);
    let conf = format!(
        "sso_redis rediss://127.0.0.1:{} trusted_certificate={};",
        redis.port,
        file("ca.pem")
    );
    let s = Shared::new();
    let (a, b) = (s.node(build, &conf), s.node(build, &conf));
    logout_reaches_within_a_second(&s.p, &a, &b);
    let untrusting = s.start(
        build,
        &format!("sso_redis rediss://127.0.0.1:{};", redis.port),
        1,
    );
    wait_log(&untrusting, UNREACHABLE, 1);
    let log = untrusting.error_log();
    assert!(log.to_lowercase().contains("certificate"), "{log}");
    assert!(!log.contains(CONNECTED), "{log}");
    for n in [&a, &b, &untrusting] {
        n.assert_no_crash();
    }
    drop(redis);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A bad `sso_redis` fails `nginx -t` with `[emerg] sso_redis: ...`, the password hidden;
/// `http` only.
fn bad_url_fails_config_test(build: Build) {
    let cases = [
        (
            "sso_redis http://127.0.0.1:6379;",
            "invalid URL \"http://127.0.0.1:6379\": scheme \"http\"",
        ),
        (
            "sso_redis 127.0.0.1:6379;",
            "it must start with \"redis://\" or \"rediss://\"",
        ),
        (
            "sso_redis redis://u:hunter2@h:0;",
            "invalid URL \"redis://u:***@h:0\": invalid port \"0\"",
        ),
        ("sso_redis redis://h:6379/x1;", "invalid database \"x1\""),
        // an unencoded `/` in the password: the URL does not parse, the password stays hidden
        (
            "sso_redis redis://u:hunter2/x@h:6379;",
            "invalid URL \"redis://u:***@h:6379\": a \"/\" in the user or password must be percent-encoded",
        ),
        ("sso_redis redis://:6379;", "no host"),
        (
            "sso_redis redis://h?db=1;",
            "a query or fragment is not supported",
        ),
        (
            "sso_redis redis://h trusted_certificate=/dev/null;",
            "needs a \"rediss://\" URL",
        ),
        (
            "sso_redis rediss://h trusted_certificate=/dev/null;",
            "no PEM certificate in \"/dev/null\"",
        ),
        (
            "sso_redis redis://h tls=on;",
            "invalid parameter \"tls=on\"",
        ),
        (
            "sso_redis redis://a; sso_redis redis://b;",
            "sso_redis: is duplicate",
        ),
    ];
    for (conf, says) in cases {
        let (ok, out) = test_config(build, conf);
        assert!(!ok, "{conf}: {out}");
        assert!(
            out.contains(&format!("[emerg] sso_redis: ")),
            "{conf}: {out}"
        );
        assert!(out.contains(says), "{conf}: {out}");
        assert!(!out.contains("hunter2"), "{conf}: {out}");
    }
    let (ok, out) = test_config(
        build,
        "server { listen 127.0.0.1:1; sso_redis redis://127.0.0.1:6379; }",
    );
    assert!(
        !ok && out.contains("\"sso_redis\" directive is not allowed here"),
        "{out}"
    );
    // a good one: nginx -t does not connect (nothing listens on port 1)
    let (ok, out) = test_config(build, "sso_redis redis://user:pw@127.0.0.1:1/15;");
    assert!(ok, "{out}");
}

/// The `sso_session` cookie a response sets, when it sets one.
fn set_session(r: &crate::harness::http::Response) -> Option<String> {
    r.headers_named("Set-Cookie").iter().find_map(|c| {
        let v = c.strip_prefix("sso_session=")?;
        Some(v.split(';').next().unwrap_or("").to_owned())
    })
}

/// [`Shared`] with a provider granting refresh tokens to every login, rotating them.
fn refreshing() -> Shared {
    let mut c = config(
        vec![client(CLIENT_ID, SECRET, ANY_CALLBACK)],
        vec![demo_user()],
    );
    c["refresh_tokens"] = json!("always");
    Shared {
        p: Provider::start(c),
        up: Upstream::start(),
    }
}

/// Redis unreachable: sessions are refreshed as on one node (the grant, the new cookie),
/// logged once at `warn`, not per refresh.
fn refresh_without_a_reachable_redis(build: Build) {
    let s = refreshing();
    let conf = format!(
        "sso_redis redis://127.0.0.1:{};\nsso_session_refresh 1s;",
        crate::harness::free_port()
    );
    let n = s.start(build, &conf, 1);
    let mut jar = login(&n);
    for round in 0..2 {
        thread::sleep(scaled(Duration::from_millis(1300)));
        let before = s.p.stats()["refresh_grants"].as_u64().unwrap_or(0);
        let r = page(&mut jar, &n);
        assert_session(&r, "refreshed");
        assert!(set_session(&r).is_some(), "round {round}: a renewed cookie");
        let after = s.p.stats()["refresh_grants"].as_u64().unwrap_or(0);
        assert_eq!(after - before, 1, "round {round}\n{}", n.error_log());
    }
    let log = n.error_log();
    let warned = "sessions are refreshed without the cross-node flight";
    assert_eq!(log.matches(warned).count(), 1, "{log}");
    n.assert_no_crash();
}

/// One session's cookie sent to two nodes at the same moment after its refresh time, the
/// token endpoint slowed so that two refreshes would overlap (a rotating provider then
/// revokes the whole grant): with `sso_redis`, one refresh grant reaches the provider, both
/// requests pass, and the renewed session works on both nodes, its next refresh included.
fn refresh_runs_once_across_nodes(build: Build) {
    let redis = RedisServer::start(&[]);
    let s = refreshing();
    let conf = format!("{}\nsso_session_refresh 2s;", plain(&redis));
    let (a, b) = (s.node(build, &conf), s.node(build, &conf));
    let grants = || s.p.stats()["refresh_grants"].as_u64().unwrap_or(0);
    let refused = || s.p.stats()["refresh_refused"].clone();
    let jar = login(&a);
    let mut cookie = jar.get("sso_session").unwrap().to_owned();
    for round in 0..2 {
        s.p.set_token_delay(500);
        thread::sleep(scaled(Duration::from_millis(2300)));
        let before = grants();
        let start = Arc::new(Barrier::new(2));
        let handles: Vec<_> = [url(&a, "/app"), url(&b, "/app")]
            .into_iter()
            .map(|u| {
                let (start, cookie) = (Arc::clone(&start), format!("sso_session={cookie}"));
                thread::spawn(move || {
                    start.wait();
                    http_request(
                        "GET",
                        &u,
                        &[("Cookie", &cookie), ("Accept", "text/html")],
                        b"",
                    )
                })
            })
            .collect();
        let answers: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let logs = format!("{}\n{}", a.error_log(), b.error_log());
        for r in &answers {
            assert_eq!(r.status, 200, "round {round}: {}\n{logs}", r.head());
        }
        assert_eq!(
            grants() - before,
            1,
            "round {round}: one refresh grant\n{logs}"
        );
        let refused = refused();
        assert!(
            refused.as_object().is_none_or(|m| m.is_empty()),
            "round {round}: {refused}"
        );
        let renewed: Vec<String> = answers.iter().filter_map(set_session).collect();
        assert_eq!(renewed.len(), 1, "round {round}: one renewed cookie");
        cookie = renewed[0].clone();
        s.p.set_token_delay(0);
        // the renewed session works on every worker of both nodes
        let mut fresh = CookieJar::new();
        fresh.set("localhost", "sso_session", &cookie);
        for n in [&a, &b] {
            on_every_worker(2, || page(&mut fresh, n), |r| assert_session(r, "renewed"));
        }
    }
    let flights = redis.keys(0, "sso:refresh:*");
    assert_eq!(flights.len(), 2, "{flights:?}");
    for key in &flights {
        assert_eq!(redis.cli(&["GET", key]), "renewed", "{key}");
    }
    a.assert_no_crash();
    b.assert_no_crash();
}

on_both_nginx!(
    logout_reaches_every_node,
    redis_down_breaks_nothing_else,
    auth_acl_user_and_db,
    tls_with_a_private_ca,
    bad_url_fails_config_test,
    refresh_runs_once_across_nodes,
    refresh_without_a_reachable_redis,
);

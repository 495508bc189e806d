//! Regression tests of the endpoints against hostile clients: overload, request bodies,
//! single-use flows, caching (README "Security").

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::os::fd::FromRawFd;
use std::thread;
use std::time::{Duration, Instant};

use crate::harness::http::parse_response;
use crate::harness::site::{url, Site};
use crate::harness::url::{query_params, resolve_url};
use crate::harness::{skip_under_valgrind, Build, Nginx, Response};
use crate::on_both_nginx;
use crate::provider::{browser_login, find_login_form, login_form_submit, CookieJar};

const PREFIX: &str = "/outpost.goauthentik.io";

// ------------------------------------------------------------------ helpers

/// A TCP connection to nginx from a chosen loopback address (127.0.0.x).
fn connect_from(local: Ipv4Addr, port: u16) -> TcpStream {
    assert!(local.is_loopback());
    // SAFETY: plain socket calls on a fresh descriptor; it is owned by the TcpStream after.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0, "socket");
        let mut sa: libc::sockaddr_in = std::mem::zeroed();
        sa.sin_family = libc::AF_INET as _;
        sa.sin_addr.s_addr = u32::from(local).to_be();
        let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        let rc = libc::bind(fd, &sa as *const _ as *const libc::sockaddr, len);
        assert_eq!(rc, 0, "bind {local}: {}", std::io::Error::last_os_error());
        sa.sin_addr.s_addr = u32::from(Ipv4Addr::LOCALHOST).to_be();
        sa.sin_port = port.to_be();
        let rc = libc::connect(fd, &sa as *const _ as *const libc::sockaddr, len);
        assert_eq!(rc, 0, "connect: {}", std::io::Error::last_os_error());
        TcpStream::from_raw_fd(fd)
    }
}

/// Reads one response from `s` (within `wait`), then keeps reading for `linger` and returns
/// whatever else came on the connection.
fn read_response_and_rest(
    s: &mut TcpStream,
    wait: Duration,
    linger: Duration,
) -> (Response, Vec<u8>) {
    let deadline = Instant::now() + wait;
    let mut raw = Vec::new();
    let mut b = [0u8; 8192];
    let (resp, used) = loop {
        if let Some(done) = parse_response(&raw, false, false) {
            break done;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "no complete response in time: {:?}",
            String::from_utf8_lossy(&raw)
        );
        s.set_read_timeout(Some(left)).unwrap();
        match s.read(&mut b) {
            Ok(0) => panic!(
                "connection closed before a response: {:?}",
                String::from_utf8_lossy(&raw)
            ),
            Ok(n) => raw.extend_from_slice(&b[..n]),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(e) => panic!("read: {e}"),
        }
    };
    let mut rest = raw[used..].to_vec();
    let until = Instant::now() + linger;
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        s.set_read_timeout(Some(left)).unwrap();
        match s.read(&mut b) {
            Ok(0) => break,
            Ok(n) => rest.extend_from_slice(&b[..n]),
            Err(_) => break,
        }
    }
    (resp, rest)
}

/// Whether the connection answered nothing within `d` (still waiting, not closed).
fn silent_for(s: &mut TcpStream, d: Duration) -> bool {
    s.set_read_timeout(Some(d)).unwrap();
    let mut b = [0u8; 1];
    matches!(s.read(&mut b), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut)
}

/// A started flow: the flow cookie (name, value), the state, the authorization URL.
struct Flow {
    cookie: (String, String),
    state: String,
    authorize: String,
}

impl Flow {
    fn cookie_header(&self) -> String {
        format!("{}={}", self.cookie.0, self.cookie.1)
    }

    fn callback_target(&self, code: &str) -> String {
        format!("{PREFIX}/callback?code={code}&state={}", self.state)
    }
}

/// `start` from address `from`; the flow it began.
fn start_flow(n: &Nginx, from: Ipv4Addr) -> Flow {
    let mut s = connect_from(from, n.port);
    write!(
        s,
        "GET {PREFIX}/start?rd=/ HTTP/1.1\r\nHost: localhost:{}\r\nConnection: close\r\n\r\n",
        n.port
    )
    .unwrap();
    let (r, _) = read_response_and_rest(&mut s, Duration::from_secs(10), Duration::ZERO);
    assert_eq!(r.status, 302, "{}\n{}", r.head(), n.error_log());
    flow_from_start(
        &r.headers_named("set-cookie"),
        r.header("location").unwrap(),
    )
}

fn flow_from_start(set_cookies: &[&str], location: &str) -> Flow {
    let set = set_cookies
        .iter()
        .rev()
        .find(|c| c.starts_with("sso_flow_") && !c.contains("Max-Age=0"))
        .expect("a flow cookie");
    let pair = set.split(';').next().unwrap();
    let (name, value) = pair.split_once('=').unwrap();
    let state = query_params(location)["state"].clone();
    Flow {
        cookie: (name.to_owned(), value.to_owned()),
        state,
        authorize: location.to_owned(),
    }
}

fn raw_get(n: &Nginx, from: Ipv4Addr, target: &str, cookie: &str) -> TcpStream {
    let mut s = connect_from(from, n.port);
    write!(
        s,
        "GET {target} HTTP/1.1\r\nHost: localhost:{}\r\nCookie: {cookie}\r\n\r\n",
        n.port
    )
    .unwrap();
    s
}

fn assert_no_store(r: &Response, what: &str) {
    assert_eq!(
        r.header("cache-control"),
        Some("no-store"),
        "{what}: {}",
        r.head()
    );
}

/// The login site with `workers` workers, `reuseport` (so connections reach every worker),
/// `$pid` in `X-Worker`, two unauthenticated prefixes, and [`OTHER_SERVERS`].
fn site(build: Build, workers: usize) -> Site {
    Site::new(build)
        .listen("reuseport")
        .server("sso_unauthenticated_paths ^/smuggled ^/open;")
        .server("add_header X-Worker $pid always;")
        .http(OTHER_SERVERS)
        .workers(workers)
        .start()
}

/// `unconfigured`: login not configured; `down`: a provider that is not there.
const OTHER_SERVERS: &str = r#"
    server {
        listen 127.0.0.1:%PORT%;
        server_name unconfigured;
        sso_protect on;
        location / { root html; }
    }
    server {
        listen 127.0.0.1:%PORT%;
        server_name down;
        sso_issuer http://127.0.0.1:9/;
        sso_client_id app;
        sso_client_secret app-secret-0123456789-abcdefghij;
        sso_protect on;
        location / { root html; }
    }"#;

// ------------------------------------------------------------------ 1. availability

/// One address holding many callbacks against a slow token endpoint gets 503s beyond its
/// share (at once, with Retry-After and a page, never a 500), while another user's login
/// completes; once its clients hang up, their slots are free again.
fn one_client_cannot_block_logins(build: Build) {
    let site = site(build, 1);
    let (provider, n) = (&site.provider, &site.n);
    let attacker = Ipv4Addr::new(127, 0, 0, 2);
    let flows: Vec<Flow> = (0..10).map(|_| start_flow(n, attacker)).collect();
    provider.set_token_delay(4000);
    // four callbacks in flight: the cap
    let mut held: Vec<TcpStream> = flows[..4]
        .iter()
        .map(|f| raw_get(n, attacker, &f.callback_target("x"), &f.cookie_header()))
        .collect();
    thread::sleep(Duration::from_millis(400));
    for s in held.iter_mut() {
        assert!(
            silent_for(s, Duration::from_millis(50)),
            "a held callback waits"
        );
    }
    // the rest of this address: 503 at once
    for f in &flows[4..] {
        let t = Instant::now();
        let mut s = raw_get(n, attacker, &f.callback_target("x"), &f.cookie_header());
        let (r, _) = read_response_and_rest(&mut s, Duration::from_secs(2), Duration::ZERO);
        assert_eq!(r.status, 503, "{}\n{}", r.head(), n.error_log());
        assert!(t.elapsed() < Duration::from_secs(2), "answered at once");
        assert_eq!(r.header("retry-after"), Some("5"));
        assert!(r.header("content-type").unwrap().starts_with("text/html"));
        assert!(r.text().contains("Please try again"), "{}", r.text());
        assert_no_store(&r, "503");
        // the flow cookie is kept for a retry
        assert!(
            !r.headers_named("set-cookie")
                .iter()
                .any(|c| c.starts_with(&f.cookie.0)),
            "{}",
            r.head()
        );
    }
    assert!(n.error_log().contains("callbacks in progress already"));
    // the held clients hang up (their token calls are still running): their slots are free
    // again at once, and a retried callback is accepted (not 503)
    drop(held);
    thread::sleep(Duration::from_millis(300));
    assert!(
        n.error_log()
            .contains("client prematurely closed connection"),
        "{}",
        n.error_log()
    );
    let f = &flows[4];
    let mut retried = raw_get(n, attacker, &f.callback_target("x"), &f.cookie_header());
    assert!(
        silent_for(&mut retried, Duration::from_millis(500)),
        "the slot of a client that went away is free again"
    );
    // another user (127.0.0.1) logs in meanwhile
    let mut jar = CookieJar::new();
    let end = browser_login(&mut jar, &url(n, "/app"), "demo", "demo");
    assert_eq!(
        end.response.status,
        200,
        "{:#?}\n{}",
        end.hops,
        n.error_log()
    );
    let (r, _) = read_response_and_rest(&mut retried, Duration::from_secs(10), Duration::ZERO);
    assert_eq!(
        r.status,
        502,
        "the bad code fails at the provider: {}",
        r.head()
    );
    n.assert_no_crash();
}

/// More callbacks than pool threads from several addresses, all hanging up before the slow
/// token endpoint answers: the queued ones never reach the provider, and every slot is free
/// afterwards.
fn hung_up_callbacks_are_cancelled(build: Build) {
    if skip_under_valgrind(
        "hung_up_callbacks_are_cancelled",
        "timing: the hang-ups must reach nginx while the slow token calls still run, which \
         valgrind's slowdown on a busy machine does not leave time for",
    ) {
        return;
    }
    let site = site(build, 1);
    let (provider, n) = (&site.provider, &site.n);
    let mut flows = Vec::new();
    for host in 2..=7u8 {
        let from = Ipv4Addr::new(127, 0, 0, host);
        for _ in 0..4 {
            flows.push((from, start_flow(n, from)));
        }
    }
    // 24 callbacks: 16 pool threads take 16, 8 wait in the queue
    provider.set_token_delay(3000);
    let before = provider.hits("/token");
    let conns: Vec<TcpStream> = flows
        .iter()
        .map(|(from, f)| raw_get(n, *from, &f.callback_target("x"), &f.cookie_header()))
        .collect();
    thread::sleep(Duration::from_millis(700));
    drop(conns);
    thread::sleep(Duration::from_millis(4500));
    let calls = provider.hits("/token") - before;
    assert!(
        calls < flows.len() as u64,
        "{calls} token calls for {} callbacks whose clients hung up",
        flows.len()
    );
    assert!(calls <= 16, "only the ones already running: {calls}");
    // every address has all its slots again
    provider.set_token_delay(0);
    for host in 2..=7u8 {
        let from = Ipv4Addr::new(127, 0, 0, host);
        let more: Vec<Flow> = (0..4).map(|_| start_flow(n, from)).collect();
        let mut conns: Vec<TcpStream> = more
            .iter()
            .map(|f| raw_get(n, from, &f.callback_target("x"), &f.cookie_header()))
            .collect();
        for s in conns.iter_mut() {
            let (r, _) = read_response_and_rest(s, Duration::from_secs(10), Duration::ZERO);
            assert_eq!(r.status, 502, "{}", r.head());
        }
    }
    n.assert_no_crash();
}

// ------------------------------------------------------------------ 2. request bodies

const SMUGGLED: &str = "GET /smuggled HTTP/1.1\r\nHost: localhost\r\n\r\n";

fn chunked(body: &str) -> String {
    let mut out = String::new();
    // two chunks, to make the parser work
    let (a, b) = body.split_at(body.len() / 2);
    for part in [a, b] {
        out.push_str(&format!("{:x}\r\n{part}\r\n", part.len()));
    }
    out.push_str("0\r\n\r\n");
    out
}

/// Sends `POST target` with a body that is a complete request, on one keep-alive
/// connection; exactly one response comes back. Returns it.
fn post_with_smuggled_body(
    n: &Nginx,
    host: &str,
    target: &str,
    cookie: &str,
    use_chunked: bool,
) -> Response {
    let mut s = connect_from(Ipv4Addr::LOCALHOST, n.port);
    let cookie = if cookie.is_empty() {
        String::new()
    } else {
        format!("Cookie: {cookie}\r\n")
    };
    let framing = if use_chunked {
        "Transfer-Encoding: chunked\r\n".to_owned()
    } else {
        format!("Content-Length: {}\r\n", SMUGGLED.len())
    };
    let body = if use_chunked {
        chunked(SMUGGLED)
    } else {
        SMUGGLED.to_owned()
    };
    write!(
        s,
        "POST {target} HTTP/1.1\r\nHost: {host}\r\n{cookie}{framing}Content-Type: text/plain\r\n\r\n{body}"
    )
    .unwrap();
    let (r, rest) =
        read_response_and_rest(&mut s, Duration::from_secs(15), Duration::from_millis(600));
    assert!(
        rest.is_empty(),
        "{target} ({}): a second response came back: {:?}",
        if use_chunked {
            "chunked"
        } else {
            "content-length"
        },
        String::from_utf8_lossy(&rest)
    );
    r
}

/// Every endpoint and every answer it gives reads and drops a request body: a body that is a
/// request is never served as one (Content-Length and chunked), and nothing of it reaches
/// the upstream. Every answer is `Cache-Control: no-store`.
fn bodies_are_never_a_second_request(build: Build) {
    let site = site(build, 1);
    let (provider, up, n) = (&site.provider, &site.up, &site.n);
    let local = format!("localhost:{}", n.port);
    // the check can fail: a pipelined request (not a body) does reach the upstream
    {
        let mut s = connect_from(Ipv4Addr::LOCALHOST, n.port);
        write!(
            s,
            "GET {PREFIX}/ping HTTP/1.1\r\nHost: {local}\r\n\r\nGET /open/control HTTP/1.1\r\nHost: {local}\r\n\r\n"
        )
        .unwrap();
        let (r, rest) =
            read_response_and_rest(&mut s, Duration::from_secs(5), Duration::from_millis(800));
        assert_eq!(r.status, 204);
        assert!(
            String::from_utf8_lossy(&rest).contains("\"target\":\"/open/control\""),
            "control: {:?}",
            String::from_utf8_lossy(&rest)
        );
        assert!(up.saw("/open/control"));
    }
    for use_chunked in [false, true] {
        let check = |host: &str, target: &str, cookie: &str, want: u16| {
            let r = post_with_smuggled_body(n, host, target, cookie, use_chunked);
            assert_eq!(
                r.status,
                want,
                "{target} on {host}: {}\n{}",
                r.head(),
                n.error_log()
            );
            assert_no_store(&r, target);
            r
        };
        check(&local, &format!("{PREFIX}/ping"), "", 204);
        check(&local, &format!("{PREFIX}/start?rd=/"), "", 302);
        check(&local, &format!("{PREFIX}/sign_out"), "", 302);
        check(&local, &format!("{PREFIX}/nope"), "", 404);
        check("unconfigured", &format!("{PREFIX}/start?rd=/"), "", 500);
        check(
            "unconfigured",
            &format!("{PREFIX}/callback?code=x&state=y"),
            "",
            500,
        );
        check("down", &format!("{PREFIX}/start?rd=/"), "", 503);
        // callback: no flow cookie, a missing code, a foreign cookie, a state mismatch
        check(
            &local,
            &format!("{PREFIX}/callback?code=x&state=abcdefghijkl"),
            "",
            400,
        );
        let f = start_flow(n, Ipv4Addr::LOCALHOST);
        check(
            &local,
            &format!("{PREFIX}/callback?state={}", f.state),
            &f.cookie_header(),
            400,
        );
        check(
            &local,
            &format!("{PREFIX}/callback?code=x&state={}", f.state),
            &format!("{}=forged", f.cookie.0),
            400,
        );
        check(
            &local,
            &format!("{PREFIX}/callback?code=x&state={}X", f.state),
            &f.cookie_header(),
            400,
        );
        // callback that suspends (token endpoint refuses the code after a delay), then its
        // replay (refused: used)
        provider.set_token_delay(500);
        let r = check(&local, &f.callback_target("x"), &f.cookie_header(), 502);
        assert!(r.text().contains("Sign-in failed"));
        provider.set_token_delay(0);
        let r = check(&local, &f.callback_target("x"), &f.cookie_header(), 400);
        assert!(r.text().contains("already used"), "{}", r.text());
    }
    // a body that arrives while the callback waits is drained too
    {
        let f = start_flow(n, Ipv4Addr::LOCALHOST);
        provider.set_token_delay(1500);
        let mut s = connect_from(Ipv4Addr::LOCALHOST, n.port);
        write!(
            s,
            "POST {} HTTP/1.1\r\nHost: {local}\r\nCookie: {}\r\nContent-Length: {}\r\n\r\n",
            f.callback_target("x"),
            f.cookie_header(),
            SMUGGLED.len()
        )
        .unwrap();
        thread::sleep(Duration::from_millis(500));
        s.write_all(SMUGGLED.as_bytes()).unwrap();
        let (r, rest) =
            read_response_and_rest(&mut s, Duration::from_secs(10), Duration::from_millis(800));
        assert_eq!(r.status, 502, "{}", r.head());
        assert!(rest.is_empty(), "{:?}", String::from_utf8_lossy(&rest));
        provider.set_token_delay(0);
    }
    // a broken chunked body: 400, connection closed, nothing served from it
    {
        let mut s = connect_from(Ipv4Addr::LOCALHOST, n.port);
        write!(
            s,
            "POST {PREFIX}/ping HTTP/1.1\r\nHost: {local}\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{SMUGGLED}"
        )
        .unwrap();
        let (r, rest) =
            read_response_and_rest(&mut s, Duration::from_secs(5), Duration::from_millis(600));
        assert_eq!(r.status, 400, "{}", r.head());
        assert!(rest.is_empty(), "{:?}", String::from_utf8_lossy(&rest));
    }
    assert!(!up.saw("/smuggled"), "{:?}", up.request_lines());
    n.assert_no_crash();
}

// ------------------------------------------------------------------ 3. single-use flows

/// A login, then its callback replayed with a new code for the same authorization request
/// (same state), with the copied flow cookie, to both workers and after a reload: refused
/// every time, with a page that says so.
fn flows_are_single_use_across_workers(build: Build) {
    if skip_under_valgrind(
        "flows_are_single_use_across_workers",
        "needs two workers and a reload",
    ) {
        return;
    }
    let site = site(build, 2);
    let n = &site.n;
    let mut jar = CookieJar::new();
    // start by hand to keep the flow cookie and the authorization URL
    let start = jar.request("GET", &url(n, &format!("{PREFIX}/start?rd=/app")), &[], b"");
    assert_eq!(start.status, 302);
    let flow = flow_from_start(
        &start.headers_named("set-cookie"),
        start.location().unwrap(),
    );
    let end = {
        let first = jar.browse(&flow.authorize);
        let body = first.response.text();
        assert!(find_login_form(&body, &first.url).is_some(), "{body}");
        login_form_submit(&mut jar, &first.url, &body, "demo", "demo")
    };
    assert_eq!(
        end.response.status,
        200,
        "{:#?}\n{}",
        end.hops,
        n.error_log()
    );
    let callback_hop = end
        .hops
        .iter()
        .position(|(_, u)| u.contains("/callback?"))
        .expect("went through the callback");
    assert_eq!(end.hops[callback_hop].0, 302);
    assert!(jar.get("sso_session").is_some());
    // a new code for the same authorization request: the provider session answers at once
    let mut at = flow.authorize.clone();
    let replay = loop {
        let again = jar.get_url(&at);
        assert!(again.is_redirect(), "{} {}", again.status, again.text());
        let next = resolve_url(&at, again.location().unwrap());
        if next.contains("/callback?") {
            break next;
        }
        at = next;
    };
    assert!(
        replay.contains(&format!("state={}", flow.state)),
        "{replay}"
    );
    let target = replay
        .split_once(&format!("localhost:{}", n.port))
        .unwrap()
        .1
        .to_owned();
    let mut workers = std::collections::BTreeSet::new();
    for i in 0..60 {
        let mut s = raw_get(n, Ipv4Addr::LOCALHOST, &target, &flow.cookie_header());
        let (r, _) = read_response_and_rest(&mut s, Duration::from_secs(10), Duration::ZERO);
        assert_eq!(r.status, 400, "replay {i}: {}\n{}", r.head(), n.error_log());
        assert!(r.text().contains("already used"), "{}", r.text());
        assert!(r
            .headers_named("set-cookie")
            .iter()
            .all(|c| !c.starts_with("sso_session")));
        assert_no_store(&r, "replay");
        workers.insert(r.header("x-worker").unwrap().to_owned());
        if workers.len() == 2 && i >= 3 {
            break;
        }
    }
    assert_eq!(
        workers.len(),
        2,
        "replays reached both workers: {workers:?}"
    );
    assert!(n.error_log().contains("was used before"));
    // the set survives a reload
    n.reload();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut s = raw_get(n, Ipv4Addr::LOCALHOST, &target, &flow.cookie_header());
        let (r, _) = read_response_and_rest(&mut s, Duration::from_secs(10), Duration::ZERO);
        if r.status == 503 {
            // A new worker that has not loaded discovery yet answers 503 (retryable, the
            // flow is not consumed); wait for it.
            assert!(
                Instant::now() < deadline,
                "discovery never loaded after reload"
            );
            thread::sleep(Duration::from_millis(100));
            continue;
        }
        assert_eq!(r.status, 400, "after reload: {}", r.head());
        assert!(r.text().contains("already used"), "{}", r.text());
        if !workers.contains(r.header("x-worker").unwrap()) {
            break; // answered by a new worker
        }
        assert!(Instant::now() < deadline, "no new worker after reload");
        thread::sleep(Duration::from_millis(100));
    }
    n.assert_no_crash();
}

// ------------------------------------------------------------------ 5. flow cookie cap

/// 40 starts from one browser leave at most 4 flow cookies (a bounded Cookie header), and
/// the newest flow still completes.
fn flow_cookies_are_capped(build: Build) {
    let site = site(build, 1);
    let n = &site.n;
    let mut jar = CookieJar::new();
    let mut last = None;
    for i in 0..40 {
        let r = jar.request(
            "GET",
            &url(n, &format!("{PREFIX}/start?rd=/n{i}")),
            &[],
            b"",
        );
        assert_eq!(r.status, 302, "start {i}: {}", r.text());
        let flows = jar
            .cookies
            .iter()
            .filter(|c| c.name.starts_with("sso_flow_"))
            .count();
        assert!(flows <= 4, "start {i}: {flows} flow cookies");
        last = Some(r.location().unwrap().to_owned());
    }
    let header = jar.header_for(&url(n, "/")).unwrap();
    assert!(header.len() < 1500, "Cookie header {} bytes", header.len());
    // the newest flow completes
    let first = jar.browse(&last.unwrap());
    let body = first.response.text();
    let end = login_form_submit(&mut jar, &first.url, &body, "demo", "demo");
    assert_eq!(
        end.response.status,
        200,
        "{:#?}\n{}",
        end.hops,
        n.error_log()
    );
    assert_eq!(end.url, url(&n, "/n39"));
    n.assert_no_crash();
}

/// A request line in absolute form names the host nginx routes on; a `Host` header saying
/// otherwise is ignored by nginx, and so by the module: the callback URL it registers (and
/// the host `rd` is checked against) is the routed one.
fn urls_are_built_on_the_routed_host(build: Build) {
    let site = site(build, 1);
    let n = &site.n;
    for (target, host) in [
        (
            format!("http://localhost:{}{PREFIX}/start?rd=/", n.port),
            "evil.example".to_owned(),
        ),
        (
            format!("{PREFIX}/start?rd=/"),
            format!("localhost:{}", n.port),
        ),
    ] {
        let mut s = connect_from(Ipv4Addr::LOCALHOST, n.port);
        write!(
            s,
            "GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let (r, _) = read_response_and_rest(&mut s, Duration::from_secs(10), Duration::ZERO);
        assert_eq!(r.status, 302, "{}\n{}", r.head(), n.error_log());
        let q = query_params(r.header("location").unwrap());
        assert_eq!(
            q.get("redirect_uri").map(String::as_str),
            Some(format!("http://localhost:{}{PREFIX}/callback", n.port).as_str()),
            "GET {target} with Host: {host}"
        );
    }
}

on_both_nginx!(
    urls_are_built_on_the_routed_host,
    one_client_cannot_block_logins,
    hung_up_callbacks_are_cancelled,
    bodies_are_never_a_second_request,
    flows_are_single_use_across_workers,
    flow_cookies_are_capped,
);

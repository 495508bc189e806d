//! A real OpenID provider for the integration tests: `tests/provider/server.js` (npm's
//! OpenID-certified `oidc-provider`) run as a child process, plus a browserless "browser":
//! a cookie jar over a minimal HTTP/1.1 client and an HTML form submitter, enough to walk
//! the login flow nginx → provider login form → nginx callback by hand.
//!
//! Needs `scripts/provider-deps` to have run (Node.js and `tests/provider/node_modules`).
//! The provider's config schema and its `/_test/*` endpoints are documented in
//! `tests/provider/README.md`.
//!
//! Only loopback: the provider listens on 127.0.0.1, and the HTTP client connects to
//! 127.0.0.1 for every host name that is not an IP literal (see [`http_request`]).

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::harness::hang_limit;

use serde_json::{json, Value};

/// Redirect URI pattern accepted for any host and port (`*` = any run of characters other
/// than `/ ? #`), for tests whose nginx port is only known after the provider runs.
pub const ANY_CALLBACK: &str = "http://*/outpost.goauthentik.io/callback";
/// Post-logout redirect URI pattern: the root of any host and port.
pub const ANY_ROOT: &str = "http://*/";

pub fn provider_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/provider")
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A running `tests/provider/server.js`; killed on drop. Its log (stderr) is printed when the
/// test that owns it panics.
pub struct Provider {
    pub port: u16,
    /// Exactly what the provider puts in `iss` (what `sso_issuer` must be set to).
    pub issuer: String,
    child: Option<Child>,
    log: Arc<Mutex<String>>,
    config_path: PathBuf,
}

impl Provider {
    /// Starts the provider with `config` (schema: `tests/provider/README.md`) and waits for
    /// its `READY <issuer>` line: fails at once when it exits first, and after
    /// [`hang_limit`] when it does neither (a busy machine only makes the start slow).
    ///
    /// Without a `port` in the config the provider binds port 0 itself and reports the port
    /// it got (no race with other tests); give `"port": old.port` to restart one in place
    /// (e.g. with new `jwks`) after dropping the old one. Without an `issuer`, the issuer is
    /// `http://127.0.0.1:PORT`; `{port}` in a given issuer is replaced by the port.
    pub fn start(config: Value) -> Provider {
        let dir = provider_dir();
        assert!(
            dir.join("node_modules/oidc-provider").is_dir(),
            "{} is missing: run scripts/provider-deps",
            dir.join("node_modules/oidc-provider").display()
        );
        let mut config = config;
        assert!(config.is_object(), "provider config must be a JSON object");
        if config.get("port").is_none() {
            config["port"] = json!(0);
        }
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let config_path =
            std::env::temp_dir().join(format!("sso-provider-{}-{}.json", std::process::id(), n));
        std::fs::write(&config_path, serde_json::to_vec_pretty(&config).unwrap())
            .expect("write provider config");

        let mut child = Command::new("node")
            .arg(dir.join("server.js"))
            .arg(&config_path)
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run `node` ({e}): run scripts/provider-deps"));

        let log = Arc::new(Mutex::new(String::new()));
        {
            let log = log.clone();
            let stderr = child.stderr.take().unwrap();
            thread::spawn(move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    let mut l = log.lock().unwrap();
                    l.push_str(&line);
                    l.push('\n');
                }
            });
        }
        let (tx, rx) = mpsc::channel::<Option<String>>();
        {
            let stdout = child.stdout.take().unwrap();
            thread::spawn(move || {
                let mut sent = false;
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if !sent {
                        if let Some(issuer) = line.strip_prefix("READY ") {
                            let _ = tx.send(Some(issuer.trim().to_owned()));
                            sent = true;
                        }
                    }
                }
                if !sent {
                    let _ = tx.send(None);
                }
            });
        }

        let mut provider = Provider {
            port: 0,
            issuer: String::new(),
            child: Some(child),
            log,
            config_path,
        };
        // The READY line is the provider's own signal; the limit only catches a hang. An
        // exit before READY ends the wait at once (its stdout closes).
        let limit = hang_limit();
        let started = Instant::now();
        let got = loop {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(got) => break got,
                Err(mpsc::RecvTimeoutError::Disconnected) => break None,
                Err(mpsc::RecvTimeoutError::Timeout) if started.elapsed() > limit => {
                    provider.stop();
                    panic!(
                        "test provider printed no READY line within {limit:?} and did not exit \
                         (hung?)\nconfig: {config}\nstderr:\n{}",
                        provider.log()
                    );
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
        };
        let issuer = match got {
            Some(issuer) => issuer,
            None => {
                // Its stdout closed without READY: it exited (or is about to).
                let child = provider.child.as_mut().unwrap();
                let exit_wait = Instant::now();
                let status = loop {
                    match child.try_wait() {
                        Ok(Some(s)) => break Some(s),
                        Ok(None) if exit_wait.elapsed() < Duration::from_secs(10) => {
                            thread::sleep(Duration::from_millis(20))
                        }
                        _ => break None,
                    }
                };
                // Let the stderr reader catch up before reporting.
                thread::sleep(Duration::from_millis(200));
                panic!(
                    "test provider did not start: it exited ({}) before printing READY (did you \
                     run scripts/provider-deps?)\nconfig: {}\nstderr:\n{}",
                    status.map(|s| s.to_string()).unwrap_or_else(|| "?".into()),
                    config,
                    provider.log()
                );
            }
        };
        let (_, _, port, _) = split_url(&issuer);
        provider.port = port;
        provider.issuer = issuer;
        provider
    }

    /// Everything the provider logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// `http://127.0.0.1:PORT` + `path` (the provider's origin; the `/_test/*` endpoints are
    /// at the root even when the issuer has a path).
    pub fn url(&self, path: &str) -> String {
        let (scheme, host, port, _) = split_url(&self.issuer);
        format!("{scheme}://{host}:{port}{path}")
    }

    /// The issuer's discovery document.
    pub fn discovery(&self) -> Value {
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.issuer.trim_end_matches('/')
        );
        let r = http_request("GET", &url, &[], b"");
        assert_eq!(r.status, 200, "discovery: {}", r.text());
        serde_json::from_slice(&r.body).expect("discovery JSON")
    }

    fn post_test(&self, path: &str, body: &Value) -> Value {
        let r = http_request(
            "POST",
            &self.url(path),
            &[("Content-Type", "application/json")],
            body.to_string().as_bytes(),
        );
        assert_eq!(
            r.status,
            200,
            "{path}: {} (is test_endpoints off?)",
            r.text()
        );
        serde_json::from_slice(&r.body).expect("test endpoint JSON")
    }

    /// Delays every token-endpoint response by `ms` from now on (0 = none).
    pub fn set_token_delay(&self, ms: u64) {
        self.post_test("/_test/settings", &json!({ "delay_token_ms": ms }));
    }

    /// Delays responses per endpoint path relative to the issuer (`/token`, `/jwks`,
    /// `/.well-known/openid-configuration`, ...): `{"/jwks": 2000}`.
    pub fn set_delays(&self, delays: Value) {
        self.post_test("/_test/settings", &json!({ "delays": delays }));
    }

    /// Adds or replaces users (same schema as the config's `users`) at run time.
    pub fn upsert_user(&self, user: Value) {
        self.post_test("/_test/users", &user);
    }

    /// A JWT signed by the provider's published keys (or, with `"foreign": true`, by an
    /// unpublished key under the same `kid`): `{"claims": {...}, "alg": "RS256" | "ES256" |
    /// "EdDSA" | "none" | "HS256", "kid": "...", "secret": "...", "header": {...}}`.
    /// `iss`, `iat` and `exp` (+5 min) are filled in unless given; a claim set to `null` is
    /// left out.
    pub fn sign(&self, request: Value) -> String {
        self.post_test("/_test/sign", &request)["token"]
            .as_str()
            .expect("token")
            .to_owned()
    }

    /// `sign` with RS256 and these claims.
    pub fn sign_claims(&self, claims: Value) -> String {
        self.sign(json!({ "claims": claims }))
    }

    /// Requests served so far, by path: `{"/token": 2, "/jwks": 1, ...}`.
    pub fn stats(&self) -> Value {
        let r = http_request("GET", &self.url("/_test/stats"), &[], b"");
        assert_eq!(r.status, 200, "stats: {}", r.text());
        serde_json::from_slice(&r.body).unwrap()
    }

    /// How many requests the provider served on `path` (e.g. "/token", "/jwks").
    pub fn hits(&self, path: &str) -> u64 {
        self.stats()[path].as_u64().unwrap_or(0)
    }

    /// Stops the provider now (e.g. to test an unreachable provider).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_file(&self.config_path);
        if thread::panicking() {
            eprintln!("--- test provider log ({}):\n{}", self.issuer, self.log());
        }
    }
}

/// The demo user: `demo` / `demo`, groups `admins` and `users`, entitlement `read`, and an
/// `ak_proxy` claim with additionalHeaders `X-Custom: v` and `X-Num: 5` plus a
/// backend_override.
pub fn demo_user() -> Value {
    json!({
        "sub": "b2f0c4a1-demo",
        "username": "demo",
        "password": "demo",
        "email": "demo@example.org",
        "name": "Demo User",
        "groups": ["admins", "users"],
        "entitlements": ["read"],
        "ak_proxy": {
            "user_attributes": {
                "additionalHeaders": { "X-Custom": "v", "X-Num": 5 }
            },
            "backend_override": "http://127.0.0.1:9/override"
        }
    })
}

/// A confidential client (client_secret_basic, RS256 ID tokens) with one redirect URI
/// (may be a pattern such as [`ANY_CALLBACK`]); its post-logout redirect URI is the root of
/// the redirect URI's origin.
pub fn client(id: &str, secret: &str, redirect_uri: &str) -> Value {
    let root = match redirect_uri.find("://") {
        Some(i) => match redirect_uri[i + 3..].find('/') {
            Some(j) => format!("{}/", &redirect_uri[..i + 3 + j]),
            None => format!("{redirect_uri}/"),
        },
        None => ANY_ROOT.to_owned(),
    };
    json!({
        "client_id": id,
        "client_secret": secret,
        "redirect_uris": [redirect_uri],
        "post_logout_redirect_uris": [root],
        "token_endpoint_auth_method": "client_secret_basic",
        "id_token_signed_response_alg": "RS256"
    })
}

/// `{"clients": clients, "users": users}`.
pub fn config(clients: Vec<Value>, users: Vec<Value>) -> Value {
    json!({ "clients": clients, "users": users })
}

// ------------------------------------------------------------------ HTTP client

/// The harness's response type, with the redirect helpers the login flows need.
pub use crate::harness::Response as HttpResponse;

/// `(scheme, host, port, path_and_query)` of an absolute http(s) URL; the host keeps the
/// brackets of an IPv6 literal.
pub fn split_url(url: &str) -> (String, String, u16, String) {
    let (scheme, rest) = url
        .split_once("://")
        .unwrap_or_else(|| panic!("not an absolute URL: {url}"));
    let scheme = scheme.to_ascii_lowercase();
    let (authority, path) = match rest.find(['/', '?', '#']) {
        Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_owned()),
        Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
        None => (rest, "/".to_owned()),
    };
    let path = path.split('#').next().unwrap().to_owned();
    let authority = authority.rsplit('@').next().unwrap();
    let default_port = if scheme == "https" { 443 } else { 80 };
    let (host, port) = if let Some(end) = authority.strip_prefix('[').and_then(|a| a.find(']')) {
        let host = &authority[..end + 2];
        let port = authority[end + 2..]
            .strip_prefix(':')
            .map(|p| p.parse().expect("port"))
            .unwrap_or(default_port);
        (host.to_owned(), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), p.parse().expect("port")),
            None => (authority.to_owned(), default_port),
        }
    };
    (scheme, host.to_ascii_lowercase(), port, path)
}

/// Resolves a `Location` (absolute, scheme-relative, absolute-path or relative) against the
/// URL it came from.
pub fn resolve_url(base: &str, location: &str) -> String {
    if location.starts_with("http://") || location.starts_with("https://") {
        return location.to_owned();
    }
    let (scheme, host, port, path) = split_url(base);
    if let Some(rest) = location.strip_prefix("//") {
        return format!("{scheme}://{rest}");
    }
    let origin = format!("{scheme}://{host}:{port}");
    if location.starts_with('/') {
        return format!("{origin}{location}");
    }
    let path_only = path.split('?').next().unwrap();
    if location.starts_with('?') {
        return format!("{origin}{path_only}{location}");
    }
    let dir = &path_only[..=path_only.rfind('/').unwrap_or(0)];
    format!("{origin}{dir}{location}")
}

/// One HTTP/1.1 request to an absolute `http://` URL on a fresh connection
/// (`Connection: close`, no redirect following). The `Host` header is the URL's authority;
/// the connection goes to the URL's host when it is an IP literal and to 127.0.0.1
/// otherwise (`localhost`, `app.sso.test`, ...), like `curl --resolve '*:PORT:127.0.0.1'`,
/// so tests can use real-looking host names for domain-level SSO.
pub fn http_request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpResponse {
    let (scheme, host, port, target) = split_url(url);
    assert_eq!(scheme, "http", "only plain http is supported: {url}");
    let connect_host = if host.parse::<std::net::Ipv4Addr>().is_ok() {
        host.clone()
    } else if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        v6.to_owned()
    } else {
        "127.0.0.1".to_owned()
    };
    let addr: std::net::IpAddr = connect_host.parse().expect("IP");
    assert!(
        addr.is_loopback(),
        "tests talk to loopback only, not {addr}"
    );
    let mut s = TcpStream::connect((addr, port))
        .unwrap_or_else(|e| panic!("connect {addr}:{port} for {url}: {e}"));
    s.set_read_timeout(Some(hang_limit())).unwrap();
    let mut req = format!("{method} {target} HTTP/1.1\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        let default_port = port == 80;
        if default_port {
            req.push_str(&format!("Host: {host}\r\n"));
        } else {
            req.push_str(&format!("Host: {host}:{port}\r\n"));
        }
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method == "POST" || method == "PUT" {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("Connection: close\r\n\r\n");
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    read_response(&mut s, method == "HEAD", url)
}

fn read_response(s: &mut TcpStream, head: bool, url: &str) -> HttpResponse {
    let mut raw = Vec::new();
    let mut buf = [0u8; 16384];
    loop {
        let n = match s.read(&mut buf) {
            Ok(n) => n,
            Err(e) if raw.is_empty() => panic!("reading the response of {url}: {e}"),
            Err(_) => 0,
        };
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
        if let Some(resp) = try_parse_response(&raw, head, false) {
            return resp;
        }
    }
    try_parse_response(&raw, head, true).unwrap_or_else(|| {
        panic!(
            "incomplete response from {url}: {:?}",
            String::from_utf8_lossy(&raw)
        )
    })
}

/// Parses `raw` when it holds a complete response (or, with `eof`, whatever came).
fn try_parse_response(raw: &[u8], head: bool, eof: bool) -> Option<HttpResponse> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head_text = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head_text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line.split(' ').nth(1).and_then(|s| s.parse().ok())?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let get = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let rest = &raw[end + 4..];
    let no_body = head || status == 204 || status == 304 || (100..200).contains(&status);
    let body = if no_body {
        Vec::new()
    } else if get("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        match dechunk(rest) {
            Some(b) => b,
            None if eof => dechunk_partial(rest),
            None => return None,
        }
    } else if let Some(len) = get("content-length").and_then(|v| v.parse::<usize>().ok()) {
        if rest.len() < len && !eof {
            return None;
        }
        rest[..len.min(rest.len())].to_vec()
    } else if eof {
        rest.to_vec()
    } else {
        return None;
    };
    Some(HttpResponse {
        status,
        headers,
        body,
    })
}

/// A complete chunked body, or None while the last chunk has not arrived.
fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let nl = data.windows(2).position(|w| w == b"\r\n")?;
        let size_text = String::from_utf8_lossy(&data[..nl]);
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        data = &data[nl + 2..];
        if size == 0 {
            return Some(out);
        }
        if data.len() < size + 2 {
            return None;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

fn dechunk_partial(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(nl) = data.windows(2).position(|w| w == b"\r\n") {
        let size_text = String::from_utf8_lossy(&data[..nl]);
        let Ok(size) = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16)
        else {
            break;
        };
        data = &data[nl + 2..];
        if size == 0 {
            break;
        }
        out.extend_from_slice(&data[..size.min(data.len())]);
        data = &data[(size + 2).min(data.len())..];
    }
    out
}

// ------------------------------------------------------------------ cookie jar

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cookie {
    pub name: String,
    pub value: String,
    /// Lower-case host name (no port): the request's host for a host-only cookie, the
    /// `Domain` attribute (without a leading dot) otherwise.
    pub domain: String,
    pub host_only: bool,
    pub path: String,
    pub secure: bool,
    pub http_only: bool,
    /// `SameSite` as sent (`Lax`, `Strict`, `None`), if any.
    pub same_site: Option<String>,
    /// Seconds since the epoch; None for a session cookie.
    pub expires: Option<u64>,
    /// The `Set-Cookie` line it came from.
    pub raw: String,
}

/// A cookie store per RFC 6265 (host-only vs. `Domain` cookies, path matching, `Max-Age` /
/// `Expires` with deletion when in the past), and the requests that use it. Cookies are
/// matched by host name only (not port), as browsers do. `Secure` cookies are stored but
/// never sent (every test URL is plain http).
#[derive(Debug, Default, Clone)]
pub struct CookieJar {
    pub cookies: Vec<Cookie>,
    /// Headers added to every request of [`CookieJar::request`] unless the call gives the
    /// same header (default: a browser-like `Accept` and `User-Agent`).
    pub default_headers: Vec<(String, String)>,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn default_cookie_path(request_path: &str) -> String {
    let p = request_path.split('?').next().unwrap_or("/");
    if !p.starts_with('/') {
        return "/".into();
    }
    match p.rfind('/') {
        Some(0) | None => "/".into(),
        Some(i) => p[..i].to_owned(),
    }
}

fn path_matches(request_path: &str, cookie_path: &str) -> bool {
    let p = request_path.split('?').next().unwrap_or("/");
    p == cookie_path
        || (p.starts_with(cookie_path)
            && (cookie_path.ends_with('/') || p.as_bytes().get(cookie_path.len()) == Some(&b'/')))
}

fn domain_matches(host: &str, domain: &str) -> bool {
    host == domain
        || (host.ends_with(domain)
            && host.as_bytes()[host.len() - domain.len() - 1] == b'.'
            && host.parse::<std::net::IpAddr>().is_err())
}

impl CookieJar {
    pub fn new() -> CookieJar {
        CookieJar {
            cookies: Vec::new(),
            default_headers: vec![
                (
                    "Accept".into(),
                    "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8".into(),
                ),
                ("User-Agent".into(), "sso-test-browser/1".into()),
            ],
        }
    }

    /// Stores one `Set-Cookie` header value received for `url`.
    pub fn store_set_cookie(&mut self, url: &str, line: &str) {
        let (_, host, _, path) = split_url(url);
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let mut parts = line.split(';');
        let pair = parts.next().unwrap_or_default();
        let Some((name, value)) = pair.split_once('=') else {
            return;
        };
        let name = name.trim().to_owned();
        if name.is_empty() {
            return;
        }
        let mut value = value.trim().to_owned();
        if value.len() >= 2 && value.starts_with('"') && value.ends_with('"') {
            value = value[1..value.len() - 1].to_owned();
        }
        let mut cookie = Cookie {
            name,
            value,
            domain: host.clone(),
            host_only: true,
            path: default_cookie_path(&path),
            secure: false,
            http_only: false,
            same_site: None,
            expires: None,
            raw: line.to_owned(),
        };
        let mut max_age: Option<i64> = None;
        let mut expires: Option<u64> = None;
        for attr in parts {
            let (k, v) = match attr.split_once('=') {
                Some((k, v)) => (k.trim().to_ascii_lowercase(), v.trim()),
                None => (attr.trim().to_ascii_lowercase(), ""),
            };
            match k.as_str() {
                "path" if v.starts_with('/') => cookie.path = v.to_owned(),
                "domain" if !v.is_empty() => {
                    let d = v.trim_start_matches('.').to_ascii_lowercase();
                    if !domain_matches(&host, &d) {
                        return; // a browser rejects a cookie for a foreign domain
                    }
                    cookie.domain = d;
                    cookie.host_only = false;
                }
                "max-age" => max_age = v.parse().ok(),
                "expires" => expires = parse_http_date(v),
                "secure" => cookie.secure = true,
                "httponly" => cookie.http_only = true,
                "samesite" => cookie.same_site = Some(v.to_owned()),
                _ => {}
            }
        }
        let now = now_secs();
        cookie.expires = match (max_age, expires) {
            (Some(m), _) if m <= 0 => Some(0),
            (Some(m), _) => Some(now + m as u64),
            (None, e) => e,
        };
        self.cookies.retain(|c| {
            !(c.name == cookie.name && c.domain == cookie.domain && c.path == cookie.path)
        });
        if cookie.expires.is_some_and(|e| e <= now) {
            return; // deletion
        }
        self.cookies.push(cookie);
    }

    /// Stores every `Set-Cookie` of a response received for `url`.
    pub fn store(&mut self, url: &str, resp: &HttpResponse) {
        for line in resp.headers_named("set-cookie") {
            self.store_set_cookie(url, line);
        }
    }

    /// The `Cookie` header a browser would send to `url`, if any.
    pub fn header_for(&self, url: &str) -> Option<String> {
        let (scheme, host, _, path) = split_url(url);
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let now = now_secs();
        let mut matching: Vec<&Cookie> = self
            .cookies
            .iter()
            .filter(|c| !matches!(c.expires, Some(e) if e <= now))
            .filter(|c| !c.secure || scheme == "https")
            .filter(|c| {
                if c.host_only {
                    c.domain == host
                } else {
                    domain_matches(&host, &c.domain)
                }
            })
            .filter(|c| path_matches(&path, &c.path))
            .collect();
        if matching.is_empty() {
            return None;
        }
        matching.sort_by_key(|c| std::cmp::Reverse(c.path.len()));
        Some(
            matching
                .iter()
                .map(|c| format!("{}={}", c.name, c.value))
                .collect::<Vec<_>>()
                .join("; "),
        )
    }

    /// The value of the first live cookie of that name (any domain, any path).
    pub fn get(&self, name: &str) -> Option<&str> {
        let now = now_secs();
        self.cookies
            .iter()
            .find(|c| c.name == name && !matches!(c.expires, Some(e) if e <= now))
            .map(|c| c.value.as_str())
    }

    /// The whole stored cookie of that name (any domain, any path).
    pub fn cookie(&self, name: &str) -> Option<&Cookie> {
        self.cookies.iter().find(|c| c.name == name)
    }

    pub fn remove(&mut self, name: &str) {
        self.cookies.retain(|c| c.name != name);
    }

    /// Sets a host-only cookie by hand (e.g. a forged or stolen one).
    pub fn set(&mut self, host: &str, name: &str, value: &str) {
        self.remove(name);
        self.cookies.push(Cookie {
            name: name.into(),
            value: value.into(),
            domain: host.to_ascii_lowercase(),
            host_only: true,
            path: "/".into(),
            secure: false,
            http_only: false,
            same_site: None,
            expires: None,
            raw: String::new(),
        });
    }

    /// A request carrying the jar's cookies (plus `default_headers`); stores the response's
    /// cookies. No redirect following.
    pub fn request(
        &mut self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> HttpResponse {
        let cookie = self.header_for(url);
        let mut all: Vec<(&str, &str)> = headers.to_vec();
        for (k, v) in &self.default_headers {
            if !headers.iter().any(|(h, _)| h.eq_ignore_ascii_case(k)) {
                all.push((k, v));
            }
        }
        if let Some(c) = &cookie {
            if !headers
                .iter()
                .any(|(h, _)| h.eq_ignore_ascii_case("cookie"))
            {
                all.push(("Cookie", c));
            }
        }
        let resp = http_request(method, url, &all, body);
        self.store(url, &resp);
        resp
    }

    pub fn get_url(&mut self, url: &str) -> HttpResponse {
        self.request("GET", url, &[], b"")
    }

    /// POSTs `fields` as `application/x-www-form-urlencoded`.
    pub fn post_form(&mut self, url: &str, fields: &[(&str, &str)]) -> HttpResponse {
        let body = form_urlencode(fields);
        self.request(
            "POST",
            url,
            &[("Content-Type", "application/x-www-form-urlencoded")],
            body.as_bytes(),
        )
    }

    /// GETs `url` and follows redirects (GET, cookies kept) until a non-redirect response,
    /// at most 20 hops.
    pub fn browse(&mut self, url: &str) -> Browse {
        self.follow(Vec::new(), url.to_owned(), None)
    }

    fn follow(
        &mut self,
        mut hops: Vec<(u16, String)>,
        mut url: String,
        mut first: Option<HttpResponse>,
    ) -> Browse {
        loop {
            let resp = match first.take() {
                Some(r) => r,
                None => self.get_url(&url),
            };
            hops.push((resp.status, url.clone()));
            if !resp.is_redirect() {
                return Browse {
                    url,
                    response: resp,
                    hops,
                };
            }
            assert!(hops.len() <= 20, "redirect loop: {hops:#?}");
            url = resolve_url(&url, resp.location().unwrap());
        }
    }

    /// Submits `form` (its method and action) with its fields, then follows redirects.
    pub fn submit(&mut self, form: &Form) -> Browse {
        let fields: Vec<(&str, &str)> = form
            .fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        if form.method == "GET" {
            let sep = if form.action.contains('?') { '&' } else { '?' };
            let url = format!("{}{sep}{}", form.action, form_urlencode(&fields));
            return self.browse(&url);
        }
        let resp = self.post_form(&form.action, &fields);
        self.follow(Vec::new(), form.action.clone(), Some(resp))
    }
}

/// Where a [`CookieJar::browse`] ended: the last URL, its (non-redirect) response, and every
/// `(status, url)` visited on the way.
#[derive(Debug, Clone)]
pub struct Browse {
    pub url: String,
    pub response: HttpResponse,
    pub hops: Vec<(u16, String)>,
}

impl Browse {
    /// Whether a hop went to a URL starting with `prefix`.
    pub fn visited(&self, prefix: &str) -> bool {
        self.hops.iter().any(|(_, u)| u.starts_with(prefix))
    }
}

// ------------------------------------------------------------------ forms

/// An HTML form: absolute action URL, upper-case method, and its fields in order (inputs
/// with a name, including hidden ones; a named submit button's value too).
#[derive(Debug, Clone)]
pub struct Form {
    pub action: String,
    pub method: String,
    pub fields: Vec<(String, String)>,
}

impl Form {
    /// Sets (or adds) a field.
    pub fn set(&mut self, name: &str, value: &str) -> &mut Form {
        match self.fields.iter_mut().find(|(k, _)| k == name) {
            Some((_, v)) => *v = value.to_owned(),
            None => self.fields.push((name.to_owned(), value.to_owned())),
        }
        self
    }

    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

fn attr(tag: &str, name: &str) -> Option<String> {
    // name="v" | name='v' | name=v, case-insensitive name, word boundary before it.
    let lower = tag.to_ascii_lowercase();
    let mut from = 0;
    while let Some(i) = lower[from..].find(name) {
        let at = from + i;
        from = at + name.len();
        let before_ok = at == 0 || lower.as_bytes()[at - 1].is_ascii_whitespace();
        let rest = tag[at + name.len()..].trim_start();
        if !before_ok || !rest.starts_with('=') {
            continue;
        }
        let rest = rest[1..].trim_start();
        let value = if let Some(r) = rest.strip_prefix('"') {
            &r[..r.find('"')?]
        } else if let Some(r) = rest.strip_prefix('\'') {
            &r[..r.find('\'')?]
        } else {
            let end = rest
                .find(|c: char| c.is_ascii_whitespace() || c == '>' || c == '/')
                .unwrap_or(rest.len());
            &rest[..end]
        };
        return Some(html_unescape(value));
    }
    None
}

fn has_bool_attr(tag: &str, name: &str) -> bool {
    tag.to_ascii_lowercase()
        .split(|c: char| c.is_ascii_whitespace() || c == '>' || c == '/')
        .any(|w| w == name)
}

pub fn html_unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(end) = rest.find(';').filter(|&e| e <= 10) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ if entity.starts_with("#x") || entity.starts_with("#X") => {
                u32::from_str_radix(&entity[2..], 16)
                    .ok()
                    .and_then(char::from_u32)
            }
            _ if entity.starts_with('#') => entity[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Every `<form>` of a page, with actions resolved against `page_url`.
pub fn parse_forms(html: &str, page_url: &str) -> Vec<Form> {
    let lower = html.to_ascii_lowercase();
    let mut forms = Vec::new();
    let mut from = 0;
    while let Some(i) = lower[from..].find("<form") {
        let start = from + i;
        let Some(tag_end) = lower[start..].find('>').map(|e| start + e) else {
            break;
        };
        let tag = &html[start..tag_end];
        let close = lower[tag_end..]
            .find("</form")
            .map(|e| tag_end + e)
            .unwrap_or(html.len());
        let inner = &html[tag_end + 1..close];
        let inner_lower = &lower[tag_end + 1..close];
        let action = attr(tag, "action").unwrap_or_default();
        let action = if action.is_empty() {
            page_url.to_owned()
        } else {
            resolve_url(page_url, &action)
        };
        let method = attr(tag, "method")
            .unwrap_or_else(|| "GET".into())
            .to_ascii_uppercase();
        let mut fields = Vec::new();
        let mut pos = 0;
        while let Some(j) = inner_lower[pos..].find('<') {
            let t0 = pos + j;
            let t1 = inner_lower[t0..]
                .find('>')
                .map(|e| t0 + e)
                .unwrap_or(inner.len());
            let t = &inner[t0..t1];
            let tl = &inner_lower[t0..t1];
            pos = t1;
            if tl.starts_with("<input") {
                let ty = attr(t, "type").unwrap_or_default().to_ascii_lowercase();
                if let Some(name) = attr(t, "name") {
                    if ty == "submit" || ty == "button" || ty == "image" {
                        continue;
                    }
                    if (ty == "checkbox" || ty == "radio") && !has_bool_attr(t, "checked") {
                        continue;
                    }
                    fields.push((name, attr(t, "value").unwrap_or_default()));
                }
            } else if tl.starts_with("<textarea") {
                if let Some(name) = attr(t, "name") {
                    let end = inner_lower[t1..]
                        .find("</textarea")
                        .map(|e| t1 + e)
                        .unwrap_or(inner.len());
                    fields.push((name, html_unescape(&inner[(t1 + 1).min(end)..end])));
                }
            }
        }
        forms.push(Form {
            action,
            method,
            fields,
        });
        from = close.max(tag_end);
    }
    forms
}

/// The first form of a page that has a `password` input (else the first form).
pub fn find_login_form(html: &str, page_url: &str) -> Option<Form> {
    let forms = parse_forms(html, page_url);
    forms
        .iter()
        .find(|f| f.field("password").is_some())
        .or(forms.first())
        .cloned()
}

/// Given the provider's login page (its URL and HTML), fills `username` and `password` into
/// its form and submits it, following redirects (back to the application's callback and
/// beyond, as a browser would). A wrong password ends on the login page again (status 200,
/// "Invalid username or password.").
pub fn login_form_submit(
    jar: &mut CookieJar,
    page_url: &str,
    html: &str,
    username: &str,
    password: &str,
) -> Browse {
    let mut form = find_login_form(html, page_url)
        .unwrap_or_else(|| panic!("no login form at {page_url}:\n{html}"));
    form.set("username", username).set("password", password);
    jar.submit(&form)
}

/// The whole browser login: GET `url` (e.g. a protected nginx location), follow redirects to
/// the provider's login page, submit the credentials, follow redirects to the end. When the
/// provider session already exists no form shows up and the result is where the redirects
/// led. The result's `hops` list every URL visited.
pub fn browser_login(jar: &mut CookieJar, url: &str, username: &str, password: &str) -> Browse {
    let first = jar.browse(url);
    let body = first.response.text();
    if first.response.status == 200
        && find_login_form(&body, &first.url).is_some_and(|f| f.field("password").is_some())
    {
        let mut after = login_form_submit(jar, &first.url, &body, username, password);
        let mut hops = first.hops;
        hops.append(&mut after.hops);
        after.hops = hops;
        return after;
    }
    first
}

/// RP-initiated logout at the provider: given the provider's sign-out confirmation page
/// (where the module's `sign_out` redirect led), submits its form (which carries
/// `logout=yes` and the `xsrf` token) and follows redirects to the post-logout redirect URI
/// (or the provider's "Signed out" page).
pub fn confirm_logout(jar: &mut CookieJar, page_url: &str, html: &str) -> Browse {
    let forms = parse_forms(html, page_url);
    let form = forms
        .iter()
        .find(|f| f.field("logout").is_some())
        .unwrap_or_else(|| panic!("no logout form at {page_url}:\n{html}"));
    jar.submit(form)
}

pub fn form_urlencode(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", url_encode(k), url_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes `%XX` and `+` (form encoding).
pub fn url_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The query parameters of a URL, decoded.
pub fn query_params(url: &str) -> HashMap<String, String> {
    let q = url.split_once('?').map(|(_, q)| q).unwrap_or("");
    let q = q.split('#').next().unwrap();
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (url_decode(k), url_decode(v))
        })
        .collect()
}

/// Seconds since the epoch of an HTTP / cookie date: IMF-fixdate
/// (`Thu, 01 Jan 1970 00:00:00 GMT`), the dashed cookie form nginx and others use
/// (`Thu, 01-Jan-1970 00:00:01 GMT`), RFC 850 (`Thursday, 01-Jan-70 ...`) and asctime.
pub fn parse_http_date(s: &str) -> Option<u64> {
    let mut day = None;
    let mut month = None;
    let mut year = None;
    let mut time = None;
    for tok in s.split([' ', '-', ',']).filter(|t| !t.is_empty()) {
        if tok.contains(':') {
            let p: Vec<u64> = tok.split(':').filter_map(|x| x.parse().ok()).collect();
            if p.len() == 3 {
                time = Some(p[0] * 3600 + p[1] * 60 + p[2]);
            }
        } else if let Some(m) = [
            "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
        ]
        .iter()
        .position(|m| tok.len() >= 3 && tok[..3].eq_ignore_ascii_case(m))
        {
            month = Some(m as u64 + 1);
        } else if let Ok(n) = tok.parse::<u64>() {
            if tok.len() <= 2 && day.is_none() {
                day = Some(n);
            } else if tok.len() <= 2 {
                year = Some(if n < 70 { 2000 + n } else { 1900 + n });
            } else {
                year = Some(n);
            }
        }
    }
    let (d, m, y, t) = (day?, month?, year?, time.unwrap_or(0));
    // Days from civil (Howard Hinnant).
    let y = if m <= 2 { y as i64 - 1 } else { y as i64 };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    if days < 0 {
        return Some(0);
    }
    Some(days as u64 * 86_400 + t)
}

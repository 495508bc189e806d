//! The one HTTP/1.1 client of the nginx tests: [`request`] to nginx's port with a target sent
//! exactly as given, [`http_request`] to an absolute URL (any host name connects to
//! 127.0.0.1), both on a fresh connection (`Connection: close`, no redirect following);
//! [`Response`]; [`parse_response`] for tests that read raw connections; and the reporting
//! upstream's [`Received`].

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};

use super::hang_limit;
use super::url::split_url;

/// `Accept` of an API call.
pub const JSON_ACCEPT: (&str, &str) = ("Accept", "application/json");
/// `Accept` of a browser's navigation.
pub const BROWSER_ACCEPT: (&str, &str) = (
    "Accept",
    "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
);

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The status and the header lines, for a failure message.
    pub fn head(&self) -> String {
        let mut s = format!("HTTP {}", self.status);
        for (k, v) in &self.headers {
            s.push_str(&format!("\n{k}: {v}"));
        }
        s
    }

    pub fn location(&self) -> Option<&str> {
        self.header("location")
    }

    pub fn is_redirect(&self) -> bool {
        (300..400).contains(&self.status) && self.location().is_some()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.text()))
    }

    /// The upstream's report of what it received (see [`Upstream`]).
    pub fn upstream(&self) -> Received {
        let v: serde_json::Value = serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not an upstream report ({e}): status {} {}",
                self.status,
                self.text()
            )
        });
        let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for pair in v["headers"].as_array().unwrap() {
            let name = pair[0].as_str().unwrap().to_ascii_lowercase();
            headers
                .entry(name)
                .or_default()
                .push(pair[1].as_str().unwrap().to_owned());
        }
        Received {
            method: v["method"].as_str().unwrap().to_owned(),
            target: v["target"].as_str().unwrap().to_owned(),
            headers,
        }
    }
}

/// One request to nginx on 127.0.0.1:`port`: `target` goes on the request line exactly as
/// given (origin or absolute form, nothing decoded or normalised); `Host: localhost:PORT`
/// unless `headers` has one.
pub fn request(
    port: u16,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    exchange(
        SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        method,
        target,
        &format!("localhost:{port}"),
        headers,
        body,
        &format!("127.0.0.1:{port} {target}"),
    )
}

/// One request to an absolute `http://` URL. The `Host` header is the URL's authority;
/// the connection goes to the URL's host when it is an IP literal and to 127.0.0.1
/// otherwise (`localhost`, `app.sso.test`, ...), like `curl --resolve '*:PORT:127.0.0.1'`,
/// so tests can use real-looking host names for domain-level SSO.
pub fn http_request(method: &str, url: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
    let (scheme, host, port, target) = split_url(url);
    assert_eq!(scheme, "http", "only plain http is supported: {url}");
    let connect_host = if host.parse::<Ipv4Addr>().is_ok() {
        host.clone()
    } else if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        v6.to_owned()
    } else {
        "127.0.0.1".to_owned()
    };
    let addr: IpAddr = connect_host.parse().expect("IP");
    assert!(
        addr.is_loopback(),
        "tests talk to loopback only, not {addr}"
    );
    let authority = if port == 80 {
        host
    } else {
        format!("{host}:{port}")
    };
    exchange(
        SocketAddr::new(addr, port),
        method,
        &target,
        &authority,
        headers,
        body,
        url,
    )
}

/// Sends one request (a `Content-Length` with a body, and on every POST and PUT) and reads
/// its response; `what` names it in a failure.
fn exchange(
    addr: SocketAddr,
    method: &str,
    target: &str,
    host: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    what: &str,
) -> Response {
    let mut s =
        TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr} for {what}: {e}"));
    s.set_read_timeout(Some(hang_limit())).unwrap();
    let mut req = format!("{method} {target} HTTP/1.1\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req.push_str(&format!("Host: {host}\r\n"));
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
    read_response(&mut s, method == "HEAD", what)
}

/// Reads until one whole response came (or the server closed the connection).
fn read_response(s: &mut TcpStream, head: bool, what: &str) -> Response {
    let mut raw = Vec::new();
    let mut buf = [0u8; 16384];
    loop {
        let n = match s.read(&mut buf) {
            Ok(n) => n,
            Err(e) if raw.is_empty() => panic!("reading the response of {what}: {e}"),
            Err(_) => 0,
        };
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
        if let Some((resp, _)) = parse_response(&raw, head, false) {
            return resp;
        }
    }
    parse_response(&raw, head, true)
        .map(|(r, _)| r)
        .unwrap_or_else(|| {
            panic!(
                "incomplete response from {what}: {:?}",
                String::from_utf8_lossy(&raw)
            )
        })
}

/// The response at the start of `raw` and how many bytes it took, once it is complete
/// (`Content-Length` or chunked framing; with `eof`, whatever came is the body). `head`: the
/// answer to a HEAD request (no body).
pub fn parse_response(raw: &[u8], head: bool, eof: bool) -> Option<(Response, usize)> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head_text = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head_text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line.split(' ').nth(1).and_then(|s| s.parse().ok())?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut resp = Response {
        status,
        headers,
        body: Vec::new(),
    };
    let start = end + 4;
    let rest = &raw[start..];
    if head || status == 204 || status == 304 || (100..200).contains(&status) {
        return Some((resp, start));
    }
    let chunked = resp
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    let used = if chunked {
        match dechunk(rest) {
            Some((body, used)) => {
                resp.body = body;
                used
            }
            None if eof => {
                resp.body = dechunk_partial(rest);
                rest.len()
            }
            None => return None,
        }
    } else if let Some(len) = resp
        .header("content-length")
        .and_then(|v| v.parse::<usize>().ok())
    {
        if rest.len() < len && !eof {
            return None;
        }
        resp.body = rest[..len.min(rest.len())].to_vec();
        resp.body.len()
    } else if eof {
        resp.body = rest.to_vec();
        rest.len()
    } else {
        return None;
    };
    Some((resp, start + used))
}

/// A complete chunked body and the bytes it took (trailer included), or None while the last
/// chunk has not arrived.
fn dechunk(data: &[u8]) -> Option<(Vec<u8>, usize)> {
    let mut out = Vec::new();
    let mut at = 0;
    loop {
        let nl = data[at..].windows(2).position(|w| w == b"\r\n")? + at;
        let size_text = String::from_utf8_lossy(&data[at..nl]);
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        at = nl + 2;
        if size == 0 {
            let fin = data[at..].windows(2).position(|w| w == b"\r\n")? + at + 2;
            return Some((out, fin));
        }
        if data.len() < at + size + 2 {
            return None;
        }
        out.extend_from_slice(&data[at..at + size]);
        at += size + 2;
    }
}

/// Whatever whole chunks came before the connection closed.
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

/// What the upstream received.
#[derive(Debug)]
pub struct Received {
    pub method: String,
    pub target: String,
    /// Lowercased names; every value in arrival order.
    pub headers: BTreeMap<String, Vec<String>>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .and_then(|v| v.first())
            .map(String::as_str)
    }

    /// Every value of a header, in arrival order.
    pub fn values(&self, name: &str) -> Vec<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(|v| v.iter().map(String::as_str).collect())
            .unwrap_or_default()
    }

    /// Every header whose name starts with `x-authentik-`.
    pub fn identity_headers(&self) -> BTreeMap<&str, &Vec<String>> {
        self.headers
            .iter()
            .filter(|(k, _)| k.starts_with("x-authentik-"))
            .map(|(k, v)| (k.as_str(), v))
            .collect()
    }
}

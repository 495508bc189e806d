//! A small blocking HTTP/1.1 client for the calls to the identity provider (discovery, JWKS,
//! token endpoint).
//!
//! It runs on background threads only (the module's `net` glue offloads every call and wakes
//! the nginx event loop when it is done), so blocking here never stalls nginx. What it does:
//!
//! - `GET` and `POST` (a form body), one request per connection (`Connection: close`);
//! - a connect timeout (per address tried) and a total deadline covering everything after
//!   name resolution: connecting, the TLS handshake, sending, and reading the whole response;
//! - a cap on the response body ([`Options::max_body`], 1 MiB by default: larger answers are
//!   refused, not truncated) and on the response head ([`MAX_HEAD_LEN`], [`MAX_HEADERS`]);
//! - `Content-Length`, `chunked` and read-until-close bodies;
//! - redirects are *returned*, never followed (a provider call that redirects is a
//!   misconfiguration the caller reports);
//! - an optional `Host` override: connect to one origin (`sso_backchannel_url`) while telling
//!   the server the public host name (the issuer's), so it builds its public URLs;
//! - TLS through rustls with the aws-lc-rs provider (the module's one crypto library),
//!   verifying the certificate chain and the host name against the system trust store
//!   (`rustls-native-certs`: the platform bundle, `SSL_CERT_FILE`/`SSL_CERT_DIR` honoured) or,
//!   when configured, only the CA certificates of a PEM file (`sso_trusted_certificate`). The
//!   name verified is the host actually connected to (for a backchannel origin: its host, not
//!   the `Host` override).
//!
//! Names resolve through the system resolver (`getaddrinfo` via [`ToSocketAddrs`]: /etc/hosts,
//! /etc/resolv.conf, docker service names), which is what SPEC §7 asks for when no nginx
//! `resolver` is configured. nginx's `resolver` directive is not used by this client; name
//! resolution is not covered by the timeouts (the system resolver has its own, see
//! resolv.conf `timeout`/`attempts`), which only delays the background thread.
//!
//! Errors ([`HttpError`]) are lowercase, safe to log, and never contain a request body,
//! an `Authorization` value or a response body.

use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use zeroize::Zeroize;

/// Default time allowed to establish one TCP connection.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default total time for a call, from connecting to the last byte of the response.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);
/// Default cap on a response body.
pub const DEFAULT_MAX_BODY: usize = 1024 * 1024;
/// Cap on the status line plus all response headers.
pub const MAX_HEAD_LEN: usize = 64 * 1024;
/// Most response header fields accepted.
pub const MAX_HEADERS: usize = 128;
/// Longest chunk-size line accepted in a chunked body.
const MAX_CHUNK_LINE: usize = 4096;

/// Limits and identification for an [`HttpClient`].
#[derive(Clone, Debug)]
pub struct Options {
    pub connect_timeout: Duration,
    /// Total deadline of a call (connect, TLS, send, receive).
    pub timeout: Duration,
    /// Largest response body accepted; a larger one is [`HttpError::TooLarge`].
    pub max_body: usize,
    /// The `User-Agent` sent.
    pub user_agent: String,
    /// Sent as `X-Forwarded-Proto` on calls with a `Host` override (the backchannel): the
    /// public URL's scheme, so a provider behind its own proxy (authentik) builds its URLs
    /// and the `iss` of its tokens on the public scheme, not on the backchannel's plain http.
    pub forwarded_proto: Option<String>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            timeout: DEFAULT_TIMEOUT,
            max_body: DEFAULT_MAX_BODY,
            user_agent: "ngx_http_sso_module".to_owned(),
            forwarded_proto: None,
        }
    }
}

/// Which certificate authorities TLS connections trust.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trust {
    /// The system trust store.
    System,
    /// Only the CA certificates in this PEM file (`sso_trusted_certificate`).
    CaFile(std::path::PathBuf),
}

/// Why a call failed. Messages are lowercase and safe to log: they never contain a request
/// body, credentials or a response body.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HttpError {
    /// The URL is not an absolute `http(s)://host[:port]/...` URL (the reason says why).
    BadUrl(&'static str),
    /// A request header (e.g. the `Host` override) contains a control character.
    BadHeader(&'static str),
    /// The host name did not resolve.
    Resolve { host: String, reason: String },
    /// No address of the host accepted a connection.
    Connect {
        host: String,
        port: u16,
        reason: String,
    },
    /// Connecting took longer than the connect timeout (or the total deadline).
    ConnectTimeout { host: String, port: u16 },
    /// The call did not complete within the total deadline.
    Timeout,
    /// The TLS handshake failed (unknown CA, wrong host name, protocol error, ...).
    Tls(String),
    /// A socket error while sending or receiving.
    Io(String),
    /// The response body is larger than the cap.
    TooLarge { limit: usize },
    /// The response head (status line and headers) is larger than the caps.
    HeadTooLarge,
    /// The response is not valid HTTP/1.x.
    BadResponse(&'static str),
    /// The trust store could not be loaded (unreadable or empty CA file, ...).
    TrustStore(String),
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::BadUrl(why) => write!(f, "bad url: {why}"),
            HttpError::BadHeader(which) => {
                write!(f, "bad request header {which}: control characters")
            }
            HttpError::Resolve { host, reason } => {
                write!(f, "cannot resolve \"{host}\": {reason}")
            }
            HttpError::Connect { host, port, reason } => {
                write!(f, "cannot connect to \"{host}:{port}\": {reason}")
            }
            HttpError::ConnectTimeout { host, port } => {
                write!(f, "connecting to \"{host}:{port}\" timed out")
            }
            HttpError::Timeout => f.write_str("timed out"),
            HttpError::Tls(why) => write!(f, "tls: {why}"),
            HttpError::Io(why) => write!(f, "i/o error: {why}"),
            HttpError::TooLarge { limit } => {
                write!(f, "response body larger than {limit} bytes")
            }
            HttpError::HeadTooLarge => write!(
                f,
                "response headers larger than {MAX_HEAD_LEN} bytes or {MAX_HEADERS} fields"
            ),
            HttpError::BadResponse(why) => write!(f, "bad http response: {why}"),
            HttpError::TrustStore(why) => write!(f, "trusted certificates: {why}"),
        }
    }
}

impl std::error::Error for HttpError {}

/// The request method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
}

/// One request. `Debug` redacts the body and header values.
#[derive(Clone)]
pub struct Request<'a> {
    pub method: Method,
    /// Absolute `http://` or `https://` URL: where to connect and what to ask for.
    pub url: &'a str,
    /// Sent as `Host` instead of the URL's authority (backchannel calls).
    pub host: Option<&'a str>,
    /// Extra header fields (e.g. `Authorization`, `Accept`). Must not contain CR, LF or NUL.
    pub headers: &'a [(&'a str, &'a str)],
    /// `(content type, bytes)` for a POST.
    pub body: Option<(&'a str, &'a [u8])>,
}

impl fmt::Debug for Request<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| *n).collect();
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("host", &self.host)
            .field("headers", &names)
            .field("body", &self.body.map(|(t, b)| (t, b.len())))
            .finish()
    }
}

/// A complete response. `Debug` shows the body's length only (it may carry tokens).
#[derive(Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// Header fields in order, names as received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// 3xx with a `Location`: a redirect (never followed by this client).
    pub fn redirect_location(&self) -> Option<&str> {
        if (300..400).contains(&self.status) {
            self.header("location")
        } else {
            None
        }
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("headers", &self.headers.len())
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// Reads the CA certificates of a PEM file (`sso_trusted_certificate`) and checks that each
/// is usable as a trust anchor. For configuration time (`nginx -t`) as well as for
/// [`HttpClient::new`].
pub fn load_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, HttpError> {
    let shown = path.display();
    let pem = std::fs::read(path)
        .map_err(|e| HttpError::TrustStore(format!("cannot read \"{shown}\": {}", lower(&e))))?;
    let mut certs = Vec::new();
    for item in CertificateDer::pem_slice_iter(&pem) {
        let cert = item
            .map_err(|e| HttpError::TrustStore(format!("\"{shown}\" is not valid pem: {e:?}")))?;
        certs.push(cert);
    }
    if certs.is_empty() {
        return Err(HttpError::TrustStore(format!(
            "\"{shown}\" has no \"BEGIN CERTIFICATE\" block"
        )));
    }
    let mut store = RootCertStore::empty();
    for (i, cert) in certs.iter().enumerate() {
        store.add(cert.clone()).map_err(|e| {
            HttpError::TrustStore(format!(
                "certificate #{} in \"{shown}\" is not usable: {e}",
                i + 1
            ))
        })?;
    }
    Ok(certs)
}

/// A blocking HTTP/1.1 client. Cheap to share (`Arc`), safe to use from many threads.
pub struct HttpClient {
    tls: Arc<ClientConfig>,
    /// Set when the trust store is empty: every https call fails with this reason.
    no_roots: Option<String>,
    opts: Options,
}

impl fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClient")
            .field("opts", &self.opts)
            .field("no_roots", &self.no_roots)
            .finish()
    }
}

impl HttpClient {
    /// A client trusting `trust`. Loading the system store reads files (no network); a CA
    /// file that cannot be used is an error. An empty system store is not an error here:
    /// plain http still works, https calls fail saying why.
    pub fn new(trust: &Trust, opts: Options) -> Result<HttpClient, HttpError> {
        let mut roots = RootCertStore::empty();
        let mut no_roots = None;
        match trust {
            Trust::CaFile(path) => {
                for cert in load_ca_file(path)? {
                    // load_ca_file checked each one.
                    let _ = roots.add(cert);
                }
            }
            Trust::System => {
                let found = rustls_native_certs::load_native_certs();
                let (added, _ignored) = roots.add_parsable_certificates(found.certs);
                if added == 0 {
                    let why = match found.errors.first() {
                        Some(e) => format!(
                            "no trusted ca certificate found in the system store ({}); \
                             install ca-certificates or set sso_trusted_certificate",
                            lower(e)
                        ),
                        None => "no trusted ca certificate found in the system store; \
                                 install ca-certificates or set sso_trusted_certificate"
                            .to_owned(),
                    };
                    no_roots = Some(why);
                }
            }
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| HttpError::Tls(format!("configuration: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(HttpClient {
            tls: Arc::new(tls),
            no_roots,
            opts,
        })
    }

    pub fn options(&self) -> &Options {
        &self.opts
    }

    /// `GET url` (with `Accept: application/json`), `Host: host` when given.
    pub fn get(&self, url: &str, host: Option<&str>) -> Result<Response, HttpError> {
        self.send(&Request {
            method: Method::Get,
            url,
            host,
            headers: &[("Accept", "application/json")],
            body: None,
        })
    }

    /// `POST url` with an `application/x-www-form-urlencoded` body and an optional
    /// `Authorization` value (neither ever appears in an error or a `Debug` output).
    pub fn post_form(
        &self,
        url: &str,
        host: Option<&str>,
        body: &[u8],
        authorization: Option<&str>,
    ) -> Result<Response, HttpError> {
        let mut headers: Vec<(&str, &str)> = vec![("Accept", "application/json")];
        if let Some(a) = authorization {
            headers.push(("Authorization", a));
        }
        self.send(&Request {
            method: Method::Post,
            url,
            host,
            headers: &headers,
            body: Some(("application/x-www-form-urlencoded", body)),
        })
    }

    /// Sends one request and reads the whole response.
    pub fn send(&self, req: &Request<'_>) -> Result<Response, HttpError> {
        let url = parse_url(req.url)?;
        let head = self.request_head(req, &url)?;
        // Resolution first, outside the deadline (see the module documentation).
        let addrs = resolve(url.host, url.port)?;
        let deadline = Instant::now() + self.opts.timeout;
        let tcp = self.connect(&addrs, url.host, url.port, deadline)?;
        let stream = if url.https {
            if let Some(why) = &self.no_roots {
                return Err(HttpError::TrustStore(why.clone()));
            }
            let name = ServerName::try_from(url.host.to_owned())
                .map_err(|_| HttpError::BadUrl("host is not a valid tls server name"))?;
            let conn = ClientConnection::new(self.tls.clone(), name)
                .map_err(|e| HttpError::Tls(e.to_string()))?;
            Stream::Tls(Box::new(StreamOwned::new(conn, tcp)))
        } else {
            Stream::Plain(tcp)
        };
        let mut conn = Conn { stream, deadline };

        let mut out = head.into_bytes();
        if let Some((_, body)) = req.body {
            out.extend_from_slice(body);
        }
        conn.write_all(&out).map_err(io_error)?;
        conn.flush().map_err(io_error)?;
        // The request (with its body) is not needed any more: wipe it, it may hold a code or
        // a client secret.
        out.zeroize();

        let mut reader = BufReader::with_capacity(16 * 1024, conn);
        read_response(&mut reader, self.opts.max_body)
    }

    fn request_head(&self, req: &Request<'_>, url: &Url<'_>) -> Result<String, HttpError> {
        let host = req.host.unwrap_or(url.authority);
        if host.is_empty() || !header_value_ok(host) || host.contains(' ') {
            return Err(HttpError::BadHeader("host"));
        }
        if !header_value_ok(&self.opts.user_agent) {
            return Err(HttpError::BadHeader("user-agent"));
        }
        let method = match req.method {
            Method::Get => "GET",
            Method::Post => "POST",
        };
        let mut head = format!(
            "{method} {} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {}\r\n\
             Connection: close\r\nAccept-Encoding: identity\r\n",
            url.target, self.opts.user_agent
        );
        if let (Some(_), Some(proto)) = (req.host, self.opts.forwarded_proto.as_deref()) {
            if proto != "http" && proto != "https" {
                return Err(HttpError::BadHeader("x-forwarded-proto"));
            }
            head.push_str("X-Forwarded-Proto: ");
            head.push_str(proto);
            head.push_str("\r\n");
        }
        for (name, value) in req.headers {
            if name.is_empty() || !name.bytes().all(is_tchar) {
                return Err(HttpError::BadHeader("name"));
            }
            if !header_value_ok(value) {
                // The name is safe to show; the value (maybe a credential) is not.
                return Err(HttpError::BadHeader("value"));
            }
            head.push_str(name);
            head.push_str(": ");
            head.push_str(value);
            head.push_str("\r\n");
        }
        match (req.method, req.body) {
            (_, Some((content_type, body))) => {
                if !header_value_ok(content_type) {
                    return Err(HttpError::BadHeader("content-type"));
                }
                head.push_str(&format!(
                    "Content-Type: {content_type}\r\nContent-Length: {}\r\n",
                    body.len()
                ));
            }
            (Method::Post, None) => head.push_str("Content-Length: 0\r\n"),
            (Method::Get, None) => {}
        }
        head.push_str("\r\n");
        Ok(head)
    }

    fn connect(
        &self,
        addrs: &[std::net::SocketAddr],
        host: &str,
        port: u16,
        deadline: Instant,
    ) -> Result<TcpStream, HttpError> {
        let mut last: Option<io::Error> = None;
        for addr in addrs {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let budget = remaining.min(self.opts.connect_timeout);
            if budget.is_zero() {
                break;
            }
            match TcpStream::connect_timeout(addr, budget) {
                Ok(tcp) => {
                    let _ = tcp.set_nodelay(true);
                    return Ok(tcp);
                }
                Err(e) => last = Some(e),
            }
        }
        match last {
            Some(e)
                if e.kind() != io::ErrorKind::TimedOut && e.kind() != io::ErrorKind::WouldBlock =>
            {
                Err(HttpError::Connect {
                    host: host.to_owned(),
                    port,
                    reason: lower(&e),
                })
            }
            _ => Err(HttpError::ConnectTimeout {
                host: host.to_owned(),
                port,
            }),
        }
    }
}

fn resolve(host: &str, port: u16) -> Result<Vec<std::net::SocketAddr>, HttpError> {
    let addrs: Vec<_> = (host, port)
        .to_socket_addrs()
        .map_err(|e| HttpError::Resolve {
            host: host.to_owned(),
            reason: lower(&e),
        })?
        .collect();
    if addrs.is_empty() {
        return Err(HttpError::Resolve {
            host: host.to_owned(),
            reason: "no address".to_owned(),
        });
    }
    Ok(addrs)
}

/// An io::Error's text with a lowercase first letter (OS messages are capitalised).
fn lower(e: &dyn fmt::Display) -> String {
    let s = e.to_string();
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => s,
    }
}

fn header_value_ok(v: &str) -> bool {
    !v.bytes().any(|b| b < 0x20 && b != b'\t' || b == 0x7f)
}

/// RFC 9110 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Maps a socket/TLS error to an [`HttpError`].
fn io_error(e: io::Error) -> HttpError {
    if let Some(tls) = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        return HttpError::Tls(tls.to_string().to_lowercase());
    }
    match e.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => HttpError::Timeout,
        io::ErrorKind::UnexpectedEof => {
            HttpError::BadResponse("connection closed before the response was complete")
        }
        _ => HttpError::Io(lower(&e)),
    }
}

// ---------------------------------------------------------------------------------------------
// URL
// ---------------------------------------------------------------------------------------------

#[derive(Debug, PartialEq, Eq)]
struct Url<'a> {
    https: bool,
    /// `host[:port]` as written.
    authority: &'a str,
    /// The host to connect to: a name, an IPv4 address, or an IPv6 address without brackets.
    host: &'a str,
    port: u16,
    /// Path and query (`/` when empty), without the fragment.
    target: String,
}

fn parse_url(url: &str) -> Result<Url<'_>, HttpError> {
    if url.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(HttpError::BadUrl("spaces or control characters"));
    }
    let (https, rest) = if url.len() >= 8 && url[..8].eq_ignore_ascii_case("https://") {
        (true, &url[8..])
    } else if url.len() >= 7 && url[..7].eq_ignore_ascii_case("http://") {
        (false, &url[7..])
    } else {
        return Err(HttpError::BadUrl("not an http:// or https:// url"));
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    if authority.contains('@') {
        return Err(HttpError::BadUrl("user information is not allowed"));
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let close = v6
            .find(']')
            .ok_or(HttpError::BadUrl("unclosed ipv6 address"))?;
        let host = &v6[..close];
        if host.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(HttpError::BadUrl("bad ipv6 address"));
        }
        let after = &v6[close + 1..];
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or(HttpError::BadUrl("bad port"))?),
        };
        (host, port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(HttpError::BadUrl("empty host"));
    }
    if !authority.starts_with('[')
        && !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_')
    {
        return Err(HttpError::BadUrl("bad host name"));
    }
    let port = match port {
        None | Some("") => {
            if https {
                443
            } else {
                80
            }
        }
        Some(p) => {
            if p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(HttpError::BadUrl("bad port"));
            }
            match p.parse::<u16>() {
                Ok(n) if n != 0 => n,
                _ => return Err(HttpError::BadUrl("bad port")),
            }
        }
    };
    let tail = tail.split('#').next().unwrap_or("");
    let target = if tail.is_empty() {
        "/".to_owned()
    } else if tail.starts_with('?') {
        format!("/{tail}")
    } else {
        tail.to_owned()
    };
    Ok(Url {
        https,
        authority,
        host,
        port,
        target,
    })
}

// ---------------------------------------------------------------------------------------------
// Connection with a deadline
// ---------------------------------------------------------------------------------------------

enum Stream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

struct Conn {
    stream: Stream,
    deadline: Instant,
}

impl Conn {
    fn tcp(&self) -> &TcpStream {
        match &self.stream {
            Stream::Plain(s) => s,
            Stream::Tls(s) => &s.sock,
        }
    }

    /// Arms the socket timeouts with what is left of the deadline.
    fn arm(&self) -> io::Result<()> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        self.tcp().set_read_timeout(Some(left))?;
        self.tcp().set_write_timeout(Some(left))
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.arm()?;
        match &mut self.stream {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.arm()?;
        match &mut self.stream {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.arm()?;
        match &mut self.stream {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Response parsing
// ---------------------------------------------------------------------------------------------

/// Reads one line (up to `\n`) of at most `*budget` bytes, decrementing the budget; returns it
/// without the line ending. `Ok(None)` at a clean end of stream before any byte.
fn read_line<R: BufRead>(
    r: &mut R,
    budget: &mut usize,
    too_long: HttpError,
) -> Result<Option<Vec<u8>>, HttpError> {
    let mut line = Vec::new();
    let limit = (*budget as u64).saturating_add(1);
    r.by_ref()
        .take(limit)
        .read_until(b'\n', &mut line)
        .map_err(io_error)?;
    if line.is_empty() {
        return Ok(None);
    }
    // Over the budget whether or not the extra byte was the `\n` (the budget must never
    // underflow: it would lift the limit for the lines after).
    if line.len() > *budget {
        return Err(too_long);
    }
    if line.last() != Some(&b'\n') {
        return Err(HttpError::BadResponse(
            "connection closed in the middle of a line",
        ));
    }
    *budget -= line.len();
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(Some(line))
}

fn parse_status_line(line: &[u8]) -> Result<u16, HttpError> {
    let rest = line
        .strip_prefix(b"HTTP/1.")
        .ok_or(HttpError::BadResponse("not an http/1.x status line"))?;
    // "1 200 OK" / "0 404" (the reason phrase may be empty or absent)
    if rest.len() < 5 || !rest[0].is_ascii_digit() || rest[1] != b' ' {
        return Err(HttpError::BadResponse("bad status line"));
    }
    let code = &rest[2..5];
    if !code.iter().all(u8::is_ascii_digit) || (rest.len() > 5 && rest[5] != b' ') {
        return Err(HttpError::BadResponse("bad status code"));
    }
    let status =
        (code[0] - b'0') as u16 * 100 + (code[1] - b'0') as u16 * 10 + (code[2] - b'0') as u16;
    if !(100..=999).contains(&status) {
        return Err(HttpError::BadResponse("bad status code"));
    }
    Ok(status)
}

fn read_headers<R: BufRead>(
    r: &mut R,
    budget: &mut usize,
    headers: &mut Vec<(String, String)>,
) -> Result<(), HttpError> {
    loop {
        let line = read_line(r, budget, HttpError::HeadTooLarge)?
            .ok_or(HttpError::BadResponse("connection closed in the headers"))?;
        if line.is_empty() {
            return Ok(());
        }
        if line[0] == b' ' || line[0] == b'\t' {
            return Err(HttpError::BadResponse("obsolete header line folding"));
        }
        // RFC 9112 §2.2, RFC 9110 §5.5: a bare CR or a NUL makes the field invalid.
        if line.iter().any(|&b| b == b'\r' || b == 0) {
            return Err(HttpError::BadResponse("cr or nul inside a header line"));
        }
        let colon = line
            .iter()
            .position(|&b| b == b':')
            .ok_or(HttpError::BadResponse("header line without a colon"))?;
        let name = &line[..colon];
        if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
            return Err(HttpError::BadResponse("bad header name"));
        }
        if headers.len() >= MAX_HEADERS {
            return Err(HttpError::HeadTooLarge);
        }
        let value = String::from_utf8_lossy(&line[colon + 1..])
            .trim_matches([' ', '\t'])
            .to_owned();
        // name is all tchar: ASCII.
        headers.push((String::from_utf8_lossy(name).into_owned(), value));
    }
}

fn header<'h>(headers: &'h [(String, String)], name: &str) -> impl Iterator<Item = &'h str> + 'h {
    let name = name.to_owned();
    headers
        .iter()
        .filter(move |(n, _)| n.eq_ignore_ascii_case(&name))
        .map(|(_, v)| v.as_str())
}

fn read_response<R: BufRead>(r: &mut R, max_body: usize) -> Result<Response, HttpError> {
    let mut budget = MAX_HEAD_LEN;
    let mut headers = Vec::new();
    let status = loop {
        let line = read_line(r, &mut budget, HttpError::HeadTooLarge)?.ok_or(
            HttpError::BadResponse("connection closed without a response"),
        )?;
        let status = parse_status_line(&line)?;
        headers.clear();
        read_headers(r, &mut budget, &mut headers)?;
        // Interim responses (100 Continue, 103 Early Hints) precede the real one.
        if (100..200).contains(&status) && status != 101 {
            continue;
        }
        if status == 101 {
            return Err(HttpError::BadResponse("unexpected protocol switch"));
        }
        break status;
    };

    let body = if status == 204 || status == 304 {
        Vec::new()
    } else if let Some(te) = header(&headers, "transfer-encoding").last() {
        let last = te.rsplit(',').next().unwrap_or("").trim();
        if last.eq_ignore_ascii_case("chunked") {
            read_chunked(r, max_body)?
        } else {
            read_to_close(r, max_body)?
        }
    } else {
        let mut lengths = header(&headers, "content-length");
        match lengths.next() {
            Some(first) => {
                // Several fields (or a list) are fine only when all values agree.
                let mut len: Option<u64> = None;
                for v in std::iter::once(first).chain(lengths) {
                    for part in v.split(',') {
                        let part = part.trim();
                        if part.is_empty()
                            || part.len() > 19
                            || !part.bytes().all(|b| b.is_ascii_digit())
                        {
                            return Err(HttpError::BadResponse("bad content-length"));
                        }
                        let n: u64 = part
                            .parse()
                            .map_err(|_| HttpError::BadResponse("bad content-length"))?;
                        if len.is_some_and(|l| l != n) {
                            return Err(HttpError::BadResponse("conflicting content-length"));
                        }
                        len = Some(n);
                    }
                }
                let len = len.unwrap_or(0);
                if len > max_body as u64 {
                    return Err(HttpError::TooLarge { limit: max_body });
                }
                let mut body = vec![0; len as usize];
                r.read_exact(&mut body).map_err(io_error)?;
                body
            }
            None => read_to_close(r, max_body)?,
        }
    };
    Ok(Response {
        status,
        headers,
        body,
    })
}

/// Reads one response from `raw`, as if the server had sent exactly these bytes and closed
/// the connection: the reader [`HttpClient::send`] uses, without a socket (for the fuzz
/// targets and tests).
pub fn parse_response(raw: &[u8], max_body: usize) -> Result<Response, HttpError> {
    read_response(&mut BufReader::with_capacity(16 * 1024, raw), max_body)
}

fn read_to_close<R: Read>(r: &mut R, max_body: usize) -> Result<Vec<u8>, HttpError> {
    let mut body = Vec::new();
    r.take(max_body as u64 + 1)
        .read_to_end(&mut body)
        .map_err(io_error)?;
    if body.len() > max_body {
        return Err(HttpError::TooLarge { limit: max_body });
    }
    Ok(body)
}

fn read_chunked<R: BufRead>(r: &mut R, max_body: usize) -> Result<Vec<u8>, HttpError> {
    let mut body = Vec::new();
    loop {
        let mut budget = MAX_CHUNK_LINE;
        let line = read_line(
            r,
            &mut budget,
            HttpError::BadResponse("chunk size line too long"),
        )?
        .ok_or(HttpError::BadResponse(
            "connection closed in a chunked body",
        ))?;
        let size = line.split(|&b| b == b';').next().unwrap_or(&[]);
        let size = std::str::from_utf8(size)
            .map_err(|_| HttpError::BadResponse("bad chunk size"))?
            .trim_matches([' ', '\t']);
        if size.is_empty() || size.len() > 15 || !size.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(HttpError::BadResponse("bad chunk size"));
        }
        let size =
            u64::from_str_radix(size, 16).map_err(|_| HttpError::BadResponse("bad chunk size"))?;
        if size == 0 {
            // Trailer fields, then the final empty line.
            let mut budget = MAX_HEAD_LEN;
            let mut trailers = Vec::new();
            read_headers(r, &mut budget, &mut trailers)?;
            return Ok(body);
        }
        if body.len() as u64 + size > max_body as u64 {
            return Err(HttpError::TooLarge { limit: max_body });
        }
        let start = body.len();
        body.resize(start + size as usize, 0);
        r.read_exact(&mut body[start..]).map_err(io_error)?;
        let mut budget = 2;
        match read_line(
            r,
            &mut budget,
            HttpError::BadResponse("chunk not followed by crlf"),
        )? {
            Some(l) if l.is_empty() => {}
            _ => return Err(HttpError::BadResponse("chunk not followed by crlf")),
        }
    }
}

//! The blocking HTTP client for the calls to the identity provider (discovery, JWKS, token and
//! userinfo endpoints).
//!
//! HTTP/1.1 itself (the response head, `Content-Length`, `chunked` and read-until-close
//! bodies, the connection, the TLS plumbing) is [`ureq`] 3 on rustls; this module is the
//! module's policy around it (README "HTTP client"). It runs on background threads only (the
//! module's `net` glue offloads every call and wakes the nginx event loop when it is done),
//! so blocking here never stalls nginx. What it promises:
//!
//! - `GET` and `POST` (a form body), one request per connection (`Connection: close`, no
//!   connection pool), never through a proxy (`http_proxy` and the like in the environment
//!   are ignored), no compression (`Accept-Encoding: identity`), no cookies;
//! - a connect timeout ([`Options::connect_timeout`], shared by the addresses of a name) and a
//!   total deadline ([`Options::timeout`]) covering everything after name resolution:
//!   connecting, the TLS handshake, sending, and reading the whole response, also from a
//!   server that sends a byte now and then (checked before every wait on the socket);
//! - a cap on the response body ([`Options::max_body`], 1 MiB by default: larger answers are
//!   refused, not truncated; a `Content-Length` over the cap is refused before reading) and on
//!   the response head ([`MAX_HEAD_LEN`] bytes, [`MAX_HEADERS`] fields);
//! - redirects are *returned*, never followed (a provider call that redirects is a
//!   misconfiguration the caller reports); a `100 Continue` before the response is skipped,
//!   any other 1xx is refused;
//! - an optional `Host` override: connect to one origin (`sso_backchannel_url`) while telling
//!   the server the public host name (the issuer's), so it builds its public URLs; such a call
//!   also sends [`Options::forwarded_proto`] as `X-Forwarded-Proto`;
//! - TLS through rustls with the aws-lc-rs provider (the module's one crypto library),
//!   verifying the certificate chain and the host name against the system trust store
//!   (`rustls-native-certs`: the platform bundle, `SSL_CERT_FILE`/`SSL_CERT_DIR` honoured) or,
//!   when configured, only the CA certificates of a PEM file (`sso_trusted_certificate`). The
//!   name verified is the host actually connected to (for a backchannel origin: its host, not
//!   the `Host` override).
//!
//! Names resolve through the system resolver (`getaddrinfo` via [`ToSocketAddrs`]: /etc/hosts,
//! /etc/resolv.conf, docker service names) on the calling thread, as README "Changelog and
//! deviations" describes: nginx's `resolver` directive is not used by this client. Name
//! resolution is not covered by the timeouts (the system resolver has its own, resolv.conf
//! `timeout`/`attempts`), which only delays the background thread.
//!
//! Errors ([`HttpError`]) are lowercase, safe to log, and never contain a request body, a
//! request header value (an `Authorization` value), a response body or a response header;
//! text from the operating system or the TLS library has its control characters escaped. A
//! panic inside the HTTP library (bytes from the network reach it) is caught and reported as
//! [`HttpError::BadResponse`]. Response header values never contain control characters other
//! than a tab.
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::RootCertStore;
use ureq::http::{self, header, HeaderName, HeaderValue, Uri};
use ureq::tls::{Certificate, RootCerts, TlsConfig, TlsProvider};
use ureq::unversioned::transport::{Connector, RustlsConnector, TcpConnector};
use ureq::Agent;

mod errors;
mod transport;

use errors::{log_safe, lower, map_error, Refused};
use transport::{Deadline, SystemResolver};

/// Default time allowed to establish the TCP connection.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default total time for a call, from its start to the last byte of the response.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);
/// Default cap on a response body.
pub const DEFAULT_MAX_BODY: usize = 1024 * 1024;
/// Cap on the status line plus all response headers.
pub const MAX_HEAD_LEN: usize = 64 * 1024;
/// Most response header fields accepted (ureq's own limit, `ureq_proto`'s
/// `MAX_RESPONSE_HEADERS`; a test holds it to this value).
pub const MAX_HEADERS: usize = 128;

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
/// body, credentials, a response body or a response header.
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
    /// Connecting took longer than the connect timeout.
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
    /// Header fields, names in lowercase, the values of one name in the order received.
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

/// The trust anchors of `trust`, and why https is impossible when there are none (an empty
/// system store is not an error: plain http still works).
fn trust_anchors(
    trust: &Trust,
) -> Result<(Vec<CertificateDer<'static>>, Option<String>), HttpError> {
    match trust {
        Trust::CaFile(path) => Ok((load_ca_file(path)?, None)),
        Trust::System => {
            let found = rustls_native_certs::load_native_certs();
            let mut usable = RootCertStore::empty();
            let (added, _ignored) = usable.add_parsable_certificates(found.certs.iter().cloned());
            if added > 0 {
                return Ok((found.certs, None));
            }
            let why = match found.errors.first() {
                Some(e) => format!(
                    "no trusted ca certificate found in the system store ({}); \
                     install ca-certificates or set sso_trusted_certificate",
                    log_safe(&lower(e))
                ),
                None => "no trusted ca certificate found in the system store; \
                         install ca-certificates or set sso_trusted_certificate"
                    .to_owned(),
            };
            Ok((Vec::new(), Some(why)))
        }
    }
}

/// A blocking HTTP/1.1 client. Cheap to share (`Arc`), safe to use from many threads.
pub struct HttpClient {
    agent: Agent,
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
        let (anchors, no_roots) = trust_anchors(trust)?;
        let roots: Vec<Certificate<'static>> = anchors
            .iter()
            .map(|c| Certificate::from_der(c.as_ref()).to_owned())
            .collect();
        let tls = TlsConfig::builder()
            .provider(TlsProvider::Rustls)
            .root_certs(RootCerts::Specific(Arc::new(roots)))
            .unversioned_rustls_crypto_provider(Arc::new(
                rustls::crypto::aws_lc_rs::default_provider(),
            ))
            .build();
        let config = Agent::config_builder()
            .tls_config(tls)
            .proxy(None)
            .http_status_as_error(false)
            .max_redirects(0)
            .max_redirects_will_error(false)
            // `send` sets these itself (validated), and nothing else is added.
            .user_agent("")
            .accept("")
            .accept_encoding("")
            .max_response_header_size(MAX_HEAD_LEN)
            .max_idle_connections(0)
            .max_idle_connections_per_host(0)
            // The total deadline is Deadline's (it starts after name resolution).
            .timeout_connect(Some(opts.connect_timeout.min(opts.timeout)))
            .build();
        // TCP, the deadline, then TLS for https: no proxy connector in the chain at all.
        let connector =
            ().chain(TcpConnector::default())
                .chain(Deadline(opts.timeout))
                .chain(RustlsConnector::default());
        Ok(HttpClient {
            agent: Agent::with_parts(config, connector, SystemResolver),
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
        let uri = check_url(req.url)?;
        let target = Target::of(&uri);
        if target.https {
            if let Some(why) = &self.no_roots {
                return Err(HttpError::TrustStore(why.clone()));
            }
        }
        let head = self.request_head(req, uri)?;
        let run = || match (req.method, req.body) {
            (_, Some((_, body))) => self.exchange(head.map(|()| body)),
            (Method::Post, None) => self.exchange(head.map(|()| &b""[..])),
            (Method::Get, None) => self.exchange(head),
        };
        // The library parses bytes from the network: a panic there is a refused response,
        // never a dead background thread.
        match catch_unwind(AssertUnwindSafe(run)) {
            Ok(result) => result.map_err(|e| map_error(e, &target, self.opts.max_body)),
            Err(_) => Err(HttpError::BadResponse(
                "the http library failed on the response",
            )),
        }
    }

    /// The request without its body, every header checked (a value is never shown).
    fn request_head(&self, req: &Request<'_>, uri: Uri) -> Result<http::Request<()>, HttpError> {
        let mut request = http::Request::new(());
        *request.method_mut() = match req.method {
            Method::Get => http::Method::GET,
            Method::Post => http::Method::POST,
        };
        *request.uri_mut() = uri;
        let headers = request.headers_mut();
        if let Some(host) = req.host {
            if host.is_empty() || host.contains(' ') {
                return Err(HttpError::BadHeader("host"));
            }
            headers.insert(header::HOST, value(host, "host")?);
        }
        headers.insert(
            header::USER_AGENT,
            value(&self.opts.user_agent, "user-agent")?,
        );
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        headers.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("identity"),
        );
        if let (Some(_), Some(proto)) = (req.host, self.opts.forwarded_proto.as_deref()) {
            if proto != "http" && proto != "https" {
                return Err(HttpError::BadHeader("x-forwarded-proto"));
            }
            headers.insert("x-forwarded-proto", value(proto, "x-forwarded-proto")?);
        }
        for (name, v) in req.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| HttpError::BadHeader("name"))?;
            // The name is safe to show; the value (maybe a credential) is not.
            headers.append(name, value(v, "value")?);
        }
        if let Some((content_type, _)) = req.body {
            headers.insert(header::CONTENT_TYPE, value(content_type, "content-type")?);
        }
        Ok(request)
    }

    /// One call through ureq: the status, the headers and the body within the caps.
    fn exchange(
        &self,
        request: http::Request<impl ureq::AsSendBody>,
    ) -> Result<Response, ureq::Error> {
        let max_body = self.opts.max_body;
        let (head, mut body) = self.agent.run(request)?.into_parts();
        let status = head.status.as_u16();
        if status < 200 {
            // ureq skips a `100 Continue`; no other interim answer is expected here.
            return Err(ureq::Error::Other(Box::new(Refused(if status == 101 {
                "unexpected protocol switch"
            } else {
                "unexpected interim response"
            }))));
        }
        let announced = content_length(&head.headers)?;
        if announced.is_some_and(|n| n > max_body as u64) {
            return Err(ureq::Error::BodyExceedsLimit(max_body as u64));
        }
        // One byte over the cap tells "larger" from "exactly the cap".
        let body = body
            .with_config()
            .limit(max_body as u64 + 1)
            .read_to_vec()?;
        if body.len() > max_body {
            return Err(ureq::Error::BodyExceedsLimit(max_body as u64));
        }
        let headers = head
            .headers
            .iter()
            .map(|(n, v)| {
                // HeaderValue holds no control character but a tab.
                let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
                (n.as_str().to_owned(), v)
            })
            .collect();
        Ok(Response {
            status,
            headers,
            body,
        })
    }
}

/// The body length the `Content-Length` fields announce (`None` without one, or when
/// `Transfer-Encoding` overrides it). ureq frames the body by the first field only; several
/// that disagree are refused here (RFC 9112 §6.3: a response that could be read two ways).
fn content_length(headers: &http::HeaderMap) -> Result<Option<u64>, ureq::Error> {
    let refuse = |why| Err(ureq::Error::Other(Box::new(Refused(why))));
    let mut length = None;
    for v in headers.get_all(header::CONTENT_LENGTH) {
        let digits = v.to_str().map(str::trim).unwrap_or("");
        let n = Some(digits)
            .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|d| d.parse::<u64>().ok());
        let Some(n) = n else {
            return refuse("bad content-length");
        };
        if length.is_some_and(|l| l != n) {
            return refuse("conflicting content-length");
        }
        length = Some(n);
    }
    if headers.contains_key(header::TRANSFER_ENCODING) {
        return Ok(None);
    }
    Ok(length)
}

fn value(v: &str, which: &'static str) -> Result<HeaderValue, HttpError> {
    HeaderValue::from_str(v).map_err(|_| HttpError::BadHeader(which))
}

/// Where a call goes, for error messages.
struct Target {
    https: bool,
    host: String,
    port: u16,
}

impl Target {
    fn of(uri: &Uri) -> Target {
        let https = uri
            .scheme_str()
            .is_some_and(|s| s.eq_ignore_ascii_case("https"));
        let authority = uri.authority();
        Target {
            https,
            host: authority.map_or(String::new(), |a| a.host().to_owned()),
            port: authority
                .and_then(|a| a.port_u16())
                .unwrap_or(if https { 443 } else { 80 }),
        }
    }
}

/// The URL policy on top of the `http` crate's parser: absolute http(s), no user
/// information, a host name of letters, digits, `.`, `-` and `_` or a bracketed IPv6
/// address, a port from 1 to 65535.
fn check_url(url: &str) -> Result<Uri, HttpError> {
    if url.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(HttpError::BadUrl("spaces or control characters"));
    }
    let uri: Uri = url
        .parse()
        .map_err(|_| HttpError::BadUrl("not an absolute http(s) url"))?;
    match uri.scheme_str() {
        Some(s) if s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("https") => {}
        _ => return Err(HttpError::BadUrl("not an http:// or https:// url")),
    }
    let authority = uri.authority().ok_or(HttpError::BadUrl("empty host"))?;
    if authority.as_str().contains('@') {
        return Err(HttpError::BadUrl("user information is not allowed"));
    }
    let host = authority.host();
    if let Some(v6) = host.strip_prefix('[') {
        let ok = v6
            .strip_suffix(']')
            .is_some_and(|a| a.parse::<std::net::Ipv6Addr>().is_ok());
        if !ok {
            return Err(HttpError::BadUrl("bad ipv6 address"));
        }
    } else if host.is_empty() {
        return Err(HttpError::BadUrl("empty host"));
    } else if !host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_')
    {
        return Err(HttpError::BadUrl("bad host name"));
    }
    let port_written = authority.as_str().len() > host.len();
    match authority.port_u16() {
        Some(0) => return Err(HttpError::BadUrl("bad port")),
        None if port_written && !authority.as_str().ends_with(':') => {
            return Err(HttpError::BadUrl("bad port"))
        }
        _ => {}
    }
    Ok(uri)
}

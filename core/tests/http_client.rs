//! The provider HTTP client against local servers: plain HTTP framing, limits, timeouts, the
//! `Host` override, and TLS verification with a test CA made by rcgen.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use sso_core::http_client::{
    load_ca_file, HttpClient, HttpError, Options, Trust, MAX_HEADERS, MAX_HEAD_LEN,
};

/// What the server saw: the request head (lines) and body.
#[derive(Debug)]
struct Seen {
    head: Vec<String>,
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.iter().skip(1).find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

fn read_request(stream: &mut dyn Read) -> Seen {
    let mut r = BufReader::new(stream);
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        let line = line.trim_end().to_owned();
        if line.is_empty() {
            break;
        }
        head.push(line);
    }
    let mut seen = Seen {
        head,
        body: Vec::new(),
    };
    if let Some(len) = seen.header("content-length") {
        let mut body = vec![0; len.parse().unwrap()];
        r.read_exact(&mut body).unwrap();
        seen.body = body;
    }
    seen
}

/// A one-shot plain server: answers the first connection with `response` (after `delay`).
fn serve_once(response: Vec<u8>, delay: Duration) -> (String, mpsc::Receiver<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let origin = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let seen = read_request(&mut s);
        let _ = tx.send(seen);
        thread::sleep(delay);
        let _ = s.write_all(&response);
        let _ = s.flush();
        // Keep the socket open a little so that read-to-close bodies end by our close only.
        drop(s);
    });
    (origin, rx)
}

fn client() -> HttpClient {
    HttpClient::new(&Trust::System, Options::default()).unwrap()
}

fn client_with(opts: Options) -> HttpClient {
    HttpClient::new(&Trust::System, opts).unwrap()
}

#[test]
fn content_length_body() {
    let (origin, rx) = serve_once(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"a\":\"bc\"}\nEXTRA".to_vec(),
        Duration::ZERO,
    );
    let resp = client()
        .get(
            &format!("{origin}/.well-known/openid-configuration?x=1#frag"),
            None,
        )
        .unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body, b"{\"a\":\"bc\"}\n");
    assert_eq!(resp.header("content-type"), Some("application/json"));
    let seen = rx.recv().unwrap();
    assert_eq!(
        seen.head[0],
        "GET /.well-known/openid-configuration?x=1 HTTP/1.1"
    );
    assert_eq!(seen.header("host"), Some(&origin["http://".len()..]));
    assert_eq!(seen.header("connection"), Some("close"));
}

#[test]
fn chunked_body_with_extensions_and_trailers() {
    let (origin, _rx) = serve_once(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nX-Trailer: 1\r\n\r\n".to_vec(),
        Duration::ZERO,
    );
    let resp = client().get(&format!("{origin}/jwks"), None).unwrap();
    assert_eq!(resp.body, b"hello, world");
}

#[test]
fn body_until_close() {
    let (origin, _rx) = serve_once(b"HTTP/1.0 200 OK\r\n\r\nall of it".to_vec(), Duration::ZERO);
    let resp = client().get(&origin, None).unwrap();
    assert_eq!(resp.body, b"all of it");
}

#[test]
fn interim_response_skipped() {
    let (origin, _rx) = serve_once(
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"
            .to_vec(),
        Duration::ZERO,
    );
    let resp = client().get(&origin, None).unwrap();
    assert_eq!((resp.status, resp.body.as_slice()), (201, &b"ok"[..]));
}

#[test]
fn other_interim_responses_refused() {
    // Only `100 Continue` is skipped; a provider call expects no other 1xx (and a protocol
    // switch is never followed).
    for raw in [
        &b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"[..],
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
    ] {
        let (origin, _rx) = serve_once(raw.to_vec(), Duration::ZERO);
        let err = client().get(&origin, None).unwrap_err();
        assert!(matches!(err, HttpError::BadResponse(_)), "{err:?}");
    }
}

#[test]
fn header_count_cap_is_max_headers() {
    let response = |fields: usize| {
        let mut r = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n".to_vec();
        for i in 1..fields {
            r.extend_from_slice(format!("X-Field-{i}: {i}\r\n").as_bytes());
        }
        r.extend_from_slice(b"\r\n");
        r
    };
    let (origin, _rx) = serve_once(response(MAX_HEADERS), Duration::ZERO);
    assert_eq!(
        client().get(&origin, None).unwrap().headers.len(),
        MAX_HEADERS
    );
    let (origin, _rx) = serve_once(response(MAX_HEADERS + 1), Duration::ZERO);
    assert_eq!(
        client().get(&origin, None).unwrap_err(),
        HttpError::HeadTooLarge
    );
}

#[test]
fn too_large_bodies_refused() {
    let opts = Options {
        max_body: 10,
        ..Options::default()
    };
    // Announced by content-length: refused before reading.
    let (origin, _rx) = serve_once(
        b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n01234567890".to_vec(),
        Duration::ZERO,
    );
    let err = client_with(opts.clone()).get(&origin, None).unwrap_err();
    assert_eq!(err, HttpError::TooLarge { limit: 10 });
    // A length announced and never sent: refused on the announcement (reading would end in
    // a closed connection).
    let (origin, _rx) = serve_once(
        b"HTTP/1.1 200 OK\r\nContent-Length: 99999999\r\n\r\n".to_vec(),
        Duration::ZERO,
    );
    let err = client_with(opts.clone()).get(&origin, None).unwrap_err();
    assert_eq!(err, HttpError::TooLarge { limit: 10 });
    // Chunked, also one chunk that announces far more than the cap (read up to the cap).
    let (origin, _rx) = serve_once(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffff\r\n0123456789abcdef"
            .to_vec(),
        Duration::ZERO,
    );
    let err = client_with(opts.clone()).get(&origin, None).unwrap_err();
    assert_eq!(err, HttpError::TooLarge { limit: 10 });
    let (origin, _rx) = serve_once(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\n012345\r\n6\r\n678901\r\n0\r\n\r\n".to_vec(),
        Duration::ZERO,
    );
    let err = client_with(opts.clone()).get(&origin, None).unwrap_err();
    assert_eq!(err, HttpError::TooLarge { limit: 10 });
    // Until close.
    let (origin, _rx) = serve_once(
        b"HTTP/1.1 200 OK\r\n\r\n01234567890".to_vec(),
        Duration::ZERO,
    );
    let err = client_with(opts.clone()).get(&origin, None).unwrap_err();
    assert_eq!(err, HttpError::TooLarge { limit: 10 });
    // Exactly the cap is fine.
    let (origin, _rx) = serve_once(
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789".to_vec(),
        Duration::ZERO,
    );
    assert_eq!(
        client_with(opts).get(&origin, None).unwrap().body,
        b"0123456789"
    );
}

#[test]
fn huge_headers_refused() {
    let mut resp = b"HTTP/1.1 200 OK\r\n".to_vec();
    for i in 0..2000 {
        resp.extend_from_slice(format!("X-Filler-{i}: {}\r\n", "a".repeat(40)).as_bytes());
    }
    resp.extend_from_slice(b"Content-Length: 0\r\n\r\n");
    let (origin, _rx) = serve_once(resp, Duration::ZERO);
    assert_eq!(
        client().get(&origin, None).unwrap_err(),
        HttpError::HeadTooLarge
    );
}

#[test]
fn malformed_responses_refused() {
    for bad in [
        &b"SSH-2.0-OpenSSH\r\n\r\n"[..],
        b"HTTP/1.1 20 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 02x\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\nX-Folded: a\r\n b\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/2 200\r\n\r\n",
        b"",
    ] {
        let (origin, _rx) = serve_once(bad.to_vec(), Duration::ZERO);
        let err = client().get(&origin, None).unwrap_err();
        assert!(
            matches!(err, HttpError::BadResponse(_)),
            "{:?} gave {err:?}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn redirects_are_returned_not_followed() {
    let (origin, _rx) = serve_once(
        b"HTTP/1.1 302 Found\r\nLocation: http://elsewhere.invalid/\r\nContent-Length: 0\r\n\r\n"
            .to_vec(),
        Duration::ZERO,
    );
    let resp = client().get(&origin, None).unwrap();
    assert_eq!(resp.status, 302);
    assert_eq!(resp.redirect_location(), Some("http://elsewhere.invalid/"));
}

#[test]
fn total_timeout() {
    let (origin, _rx) = serve_once(
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".to_vec(),
        Duration::from_secs(5),
    );
    let opts = Options {
        timeout: Duration::from_millis(300),
        ..Options::default()
    };
    let start = Instant::now();
    let err = client_with(opts).get(&origin, None).unwrap_err();
    assert_eq!(err, HttpError::Timeout);
    assert!(start.elapsed() < Duration::from_secs(3));
}

/// A server that sends `first`, then `each` every 100 ms (for 10 s): it never trips a
/// per-read timeout.
fn drip(first: &'static [u8], each: &'static [u8]) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let origin = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let _ = read_request(&mut s);
        let _ = s.write_all(first);
        for _ in 0..100 {
            thread::sleep(Duration::from_millis(100));
            if s.write_all(each).is_err() {
                break;
            }
        }
    });
    origin
}

#[test]
fn slow_drip_hits_the_total_deadline() {
    // In the body, and in the head: the total deadline still ends the call.
    for origin in [
        drip(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", b"x"),
        drip(b"HTTP/1.1 200 OK\r\n", b"X-Drip: 1\r\n"),
    ] {
        let opts = Options {
            timeout: Duration::from_millis(500),
            ..Options::default()
        };
        let start = Instant::now();
        assert_eq!(
            client_with(opts).get(&origin, None).unwrap_err(),
            HttpError::Timeout
        );
        assert!(start.elapsed() < Duration::from_secs(3));
    }
}

#[test]
fn connect_timeout() {
    // A listener that never accepts: once its accept queue is full, the kernel drops further
    // SYNs and a connect hangs.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut queued = Vec::new();
    while queued.len() < 4096 {
        match TcpStream::connect_timeout(&addr, Duration::from_millis(100)) {
            Ok(s) => queued.push(s),
            Err(_) => break,
        }
    }
    let opts = Options {
        connect_timeout: Duration::from_millis(300),
        ..Options::default()
    };
    let start = Instant::now();
    let err = client_with(opts)
        .get(&format!("http://{addr}/"), None)
        .unwrap_err();
    assert_eq!(
        err,
        HttpError::ConnectTimeout {
            host: "127.0.0.1".to_owned(),
            port: addr.port()
        }
    );
    assert!(start.elapsed() < Duration::from_secs(3));
    drop(listener);
}

#[test]
fn connection_refused() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let err = client()
        .get(&format!("http://127.0.0.1:{port}/"), None)
        .unwrap_err();
    assert!(matches!(err, HttpError::Connect { .. }), "{err:?}");
    assert!(err
        .to_string()
        .starts_with("cannot connect to \"127.0.0.1:"));
}

#[test]
fn unresolvable_host() {
    let err = client()
        .get("http://no-such-host.invalid/", None)
        .unwrap_err();
    assert!(matches!(err, HttpError::Resolve { .. }), "{err:?}");
}

#[test]
fn host_override_and_post_form() {
    let (origin, rx) = serve_once(
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}".to_vec(),
        Duration::ZERO,
    );
    let body = b"grant_type=authorization_code&code=SECRETCODE";
    let resp = client()
        .post_form(
            &format!("{origin}/application/o/token/"),
            Some("auth.example.com"),
            body,
            Some("Basic c2VjcmV0"),
        )
        .unwrap();
    assert_eq!(resp.body, b"{}");
    let seen = rx.recv().unwrap();
    assert_eq!(seen.head[0], "POST /application/o/token/ HTTP/1.1");
    assert_eq!(seen.header("host"), Some("auth.example.com"));
    assert_eq!(
        seen.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(seen.header("authorization"), Some("Basic c2VjcmV0"));
    assert_eq!(seen.body, body);
    assert_eq!(seen.header("x-forwarded-proto"), None, "not configured");
}

#[test]
fn host_override_carries_the_public_scheme() {
    let opts = Options {
        forwarded_proto: Some("https".to_owned()),
        ..Options::default()
    };
    let (origin, rx) = serve_once(
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}".to_vec(),
        Duration::ZERO,
    );
    client_with(opts.clone())
        .get(
            &format!("{origin}/.well-known/openid-configuration"),
            Some("auth.example.com"),
        )
        .unwrap();
    let seen = rx.recv().unwrap();
    assert_eq!(seen.header("host"), Some("auth.example.com"));
    assert_eq!(seen.header("x-forwarded-proto"), Some("https"));
    // Without a Host override (no backchannel) nothing is forwarded.
    let (origin, rx) = serve_once(
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}".to_vec(),
        Duration::ZERO,
    );
    client_with(opts).get(&origin, None).unwrap();
    assert_eq!(rx.recv().unwrap().header("x-forwarded-proto"), None);
}

#[test]
fn errors_never_carry_secrets() {
    // A server that closes mid-response: the error must not echo the body or the credential.
    let (origin, _rx) = serve_once(
        b"HTTP/1.1 500 Oops\r\nContent-Length: 99\r\n\r\nx".to_vec(),
        Duration::ZERO,
    );
    let err = client()
        .post_form(
            &origin,
            None,
            b"client_secret=TOPSECRET",
            Some("Basic TOPSECRET"),
        )
        .unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(!text.contains("TOPSECRET"), "{text}");
    // A control character in a header value is refused without showing the value.
    let err = client()
        .post_form(&origin, None, b"", Some("Basic TOPSECRET\r\nX-Evil: 1"))
        .unwrap_err();
    assert_eq!(err, HttpError::BadHeader("value"));
    assert!(!err.to_string().contains("TOPSECRET"));
    // Host override with CRLF.
    assert_eq!(
        client().get(&origin, Some("a\r\nb")).unwrap_err(),
        HttpError::BadHeader("host")
    );
}

#[test]
fn bad_urls() {
    for url in [
        "ftp://x/",
        "http://",
        "http://user@host/",
        "http://host:99999/",
        "http://host:0/",
        "http://ho st/",
        "http://[::1/",
        "https://exa\nmple.com/",
    ] {
        let err = client().get(url, None).unwrap_err();
        assert!(matches!(err, HttpError::BadUrl(_)), "{url}: {err:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// TLS
// ---------------------------------------------------------------------------------------------

struct TestCa {
    issuer: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
}

impl TestCa {
    fn new(name: &str) -> TestCa {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        let key = rcgen::KeyPair::generate().unwrap();
        TestCa {
            issuer: rcgen::CertifiedIssuer::self_signed(params, key).unwrap(),
        }
    }

    fn write_pem(&self, dir: &std::path::Path, file: &str) -> PathBuf {
        let path = dir.join(file);
        std::fs::write(&path, self.issuer.pem()).unwrap();
        path
    }

    /// A server config with a leaf for `names`, signed by this CA.
    fn server(&self, names: &[&str]) -> Arc<rustls::ServerConfig> {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let params = rcgen::CertificateParams::new(names).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let chain = vec![cert.der().clone()];
        let key_der = rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        Arc::new(
            rustls::ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(chain, key_der)
                .unwrap(),
        )
    }
}

/// A one-shot TLS server on 127.0.0.1 answering `{"ok":true}`; returns the port and what it saw
/// (nothing when the handshake failed).
fn serve_tls_once(config: Arc<rustls::ServerConfig>) -> (u16, mpsc::Receiver<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let (tcp, _): (TcpStream, _) = listener.accept().unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let conn = rustls::ServerConnection::new(config).unwrap();
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        let seen = read_request(&mut tls);
        if seen.head.is_empty() {
            return;
        }
        let _ = tx.send(seen);
        let _ = tls.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n{\"ok\":true}");
        let _ = tls.flush();
        tls.conn.send_close_notify();
        let _ = tls.flush();
    });
    (port, rx)
}

fn tempdir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "sso-http-client-{tag}-{}-{:?}",
        std::process::id(),
        thread::current().id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn tls_with_configured_ca_file() {
    let ca = TestCa::new("sso test ca");
    let dir = tempdir("ok");
    let ca_file = ca.write_pem(&dir, "ca.pem");
    let (port, rx) = serve_tls_once(ca.server(&["localhost"]));
    let client = HttpClient::new(&Trust::CaFile(ca_file), Options::default()).unwrap();
    let resp = client
        .get(&format!("https://localhost:{port}/keys"), None)
        .unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body, b"{\"ok\":true}");
    let seen = rx.recv().unwrap();
    assert_eq!(seen.head[0], "GET /keys HTTP/1.1");
    assert_eq!(
        seen.header("host"),
        Some(format!("localhost:{port}").as_str())
    );
}

#[test]
fn tls_host_override_verifies_the_connected_name() {
    // Backchannel over TLS: connect to localhost (the certificate's name), send the public
    // host name as Host.
    let ca = TestCa::new("sso test ca");
    let dir = tempdir("override");
    let ca_file = ca.write_pem(&dir, "ca.pem");
    let (port, rx) = serve_tls_once(ca.server(&["localhost"]));
    let client = HttpClient::new(&Trust::CaFile(ca_file), Options::default()).unwrap();
    client
        .get(
            &format!("https://localhost:{port}/.well-known/openid-configuration"),
            Some("auth.example.com"),
        )
        .unwrap();
    assert_eq!(rx.recv().unwrap().header("host"), Some("auth.example.com"));
}

#[test]
fn tls_wrong_host_name_refused() {
    let ca = TestCa::new("sso test ca");
    let dir = tempdir("name");
    let ca_file = ca.write_pem(&dir, "ca.pem");
    let (port, rx) = serve_tls_once(ca.server(&["auth.example.com"]));
    let client = HttpClient::new(&Trust::CaFile(ca_file), Options::default()).unwrap();
    let err = client
        .get(&format!("https://localhost:{port}/"), None)
        .unwrap_err();
    match &err {
        HttpError::Tls(why) => assert!(why.contains("not valid for name"), "{why}"),
        other => panic!("expected a tls error, got {other:?}"),
    }
    assert!(rx.recv_timeout(Duration::from_millis(200)).is_err());
}

#[test]
fn tls_unknown_ca_refused() {
    let ca = TestCa::new("sso test ca");
    let other = TestCa::new("some other ca");
    let dir = tempdir("unknown");
    let other_file = other.write_pem(&dir, "other.pem");
    let (port, _rx) = serve_tls_once(ca.server(&["localhost"]));
    let other_client = HttpClient::new(&Trust::CaFile(other_file), Options::default()).unwrap();
    let err = other_client
        .get(&format!("https://localhost:{port}/"), None)
        .unwrap_err();
    match &err {
        HttpError::Tls(why) => assert!(
            why.contains("unknownissuer") || why.contains("unknown issuer"),
            "{why}"
        ),
        other => panic!("expected a tls error, got {other:?}"),
    }

    // The system store does not know the test CA either (or is empty in a minimal container).
    let (port, _rx) = serve_tls_once(ca.server(&["localhost"]));
    let err = client()
        .get(&format!("https://localhost:{port}/"), None)
        .unwrap_err();
    assert!(
        matches!(err, HttpError::Tls(_) | HttpError::TrustStore(_)),
        "{err:?}"
    );
}

#[test]
fn ca_file_errors() {
    let dir = tempdir("files");
    let missing = dir.join("missing.pem");
    let err = load_ca_file(&missing).unwrap_err();
    assert!(err.to_string().contains("cannot read"), "{err}");

    let empty = dir.join("empty.pem");
    std::fs::write(&empty, "not a certificate\n").unwrap();
    let err = load_ca_file(&empty).unwrap_err();
    assert!(
        err.to_string().contains("no \"BEGIN CERTIFICATE\""),
        "{err}"
    );
    assert!(HttpClient::new(&Trust::CaFile(empty), Options::default()).is_err());

    let garbage = dir.join("garbage.pem");
    std::fs::write(
        &garbage,
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    assert!(load_ca_file(&garbage).is_err());

    let ca = TestCa::new("sso test ca");
    let good = ca.write_pem(&dir, "good.pem");
    assert_eq!(load_ca_file(&good).unwrap().len(), 1);
}

// ---------------------------------------------------------------------------------------------
// Fuzz regressions: found by the `http_response` fuzz target in the module's former own
// HTTP/1.1 reader (README "Fuzzing and memory checks"), kept against the ureq-based client.
// ---------------------------------------------------------------------------------------------

/// A header line with a bare CR inside its value (`X-A: a\rb`) was accepted with the CR in
/// the value. RFC 9112 §2.2 and RFC 9110 §5.5: a field value with CR, LF or NUL is invalid;
/// the response is refused.
#[test]
fn response_header_with_bare_cr_or_nul_is_refused() {
    for raw in [
        &b"HTTP/1.1 200 OK\r\nX-A: a\rb\r\nContent-Length: 0\r\n\r\n"[..],
        b"HTTP/1.1 200 OK\r\nX-A: a\0b\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 302 Found\r\nLocation: https://a/\rSet-Cookie: x\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-T: 1\r\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\nX-A: a\x7fb\r\nContent-Length: 0\r\n\r\n",
    ] {
        let (origin, _rx) = serve_once(raw.to_vec(), Duration::ZERO);
        match client().get(&origin, None) {
            Err(HttpError::BadResponse(_)) => {}
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(raw)),
        }
    }
    // Line endings themselves are fine: CRLF and a bare LF.
    let (origin, _rx) = serve_once(
        b"HTTP/1.1 200 OK\r\nX-A: a b\nContent-Length: 2\r\n\r\nok".to_vec(),
        Duration::ZERO,
    );
    let ok = client().get(&origin, None).expect("accepted");
    assert_eq!(ok.header("x-a"), Some("a b"));
    assert_eq!(ok.body, b"ok");
}

/// A line one byte over its budget, whose extra byte was the `\n`, underflowed the old
/// reader's budget, which lifted MAX_HEAD_LEN for every later line. The cap is exact: a head
/// of MAX_HEAD_LEN bytes is read, one byte more is too large even when more lines follow;
/// and a chunk longer than its size line (`4` then `hello`) is refused.
#[test]
fn head_cap_is_exact_and_chunks_match_their_size() {
    let (origin, _rx) = serve_once(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nhello\r\n0\r\n\r\n".to_vec(),
        Duration::ZERO,
    );
    let err = client().get(&origin, None).unwrap_err();
    assert!(matches!(err, HttpError::BadResponse(_)), "{err:?}");

    let status = "HTTP/1.1 200 OK\r\n";
    let filler = |len: usize| "a".repeat(len - status.len() - "X-Filler: \r\n".len() - 2);
    let exact = format!("{status}X-Filler: {}\r\n\r\n", filler(MAX_HEAD_LEN));
    assert_eq!(exact.len(), MAX_HEAD_LEN);
    let (origin, _rx) = serve_once(exact.into_bytes(), Duration::ZERO);
    assert!(
        client().get(&origin, None).is_ok(),
        "a head of MAX_HEAD_LEN bytes"
    );

    let over = format!(
        "{status}X-Filler: {}\r\nX-Big: {}\r\n\r\n",
        filler(MAX_HEAD_LEN + 3),
        "b".repeat(1 << 20)
    );
    let (origin, _rx) = serve_once(over.into_bytes(), Duration::ZERO);
    assert_eq!(
        client().get(&origin, None).unwrap_err(),
        HttpError::HeadTooLarge,
        "head over MAX_HEAD_LEN accepted"
    );
}

/// ureq-proto 0.5.3 unwraps `StatusCode::from_u16` on the status code httparse read, which
/// panics for 000 to 099 (bytes from the network): the client catches the panic and refuses
/// the response, and it keeps working after.
#[test]
fn status_below_100_is_refused_not_a_panic() {
    let c = client();
    for raw in [
        &b"HTTP/1.1 000 OK\r\n\r\n"[..],
        b"HTTP/1.1 099 X\r\nContent-Length: 0\r\n\r\n",
    ] {
        let (origin, _rx) = serve_once(raw.to_vec(), Duration::ZERO);
        let err = c.get(&origin, None).unwrap_err();
        assert!(matches!(err, HttpError::BadResponse(_)), "{err:?}");
    }
    let (origin, _rx) = serve_once(
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec(),
        Duration::ZERO,
    );
    assert_eq!(c.get(&origin, None).unwrap().body, b"ok");
}

/// A certificate's names are the server's to choose and reach the TLS error text (rustls:
/// "... is only valid for NAME"): control characters in them are escaped in the error.
#[test]
fn tls_errors_escape_control_characters_from_the_certificate() {
    let ca = TestCa::new("sso test ca");
    let dir = tempdir("ctl");
    let ca_file = ca.write_pem(&dir, "ca.pem");
    let (port, _rx) = serve_tls_once(ca.server(&["evil\r\nx-injected: 1"]));
    let client = HttpClient::new(&Trust::CaFile(ca_file), Options::default()).unwrap();
    let err = client
        .get(&format!("https://localhost:{port}/"), None)
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, HttpError::Tls(_)), "{err:?}");
    assert!(text.contains("evil"), "the name is shown: {text}");
    assert!(!text.chars().any(char::is_control), "{text:?}");
}

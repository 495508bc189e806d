//! The provider HTTP client never goes through a proxy from the environment (README "HTTP
//! client"): ureq reads `http_proxy`, `HTTPS_PROXY`, `ALL_PROXY` and the like by default, and a
//! worker's environment is not the provider configuration. Its own test binary: the variables
//! are set for the whole process, before any other thread runs.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use sso_core::http_client::{HttpClient, Options, Trust};

/// A listener that answers `answer` to the first connection and reports that it got one.
fn listen(answer: &'static [u8]) -> (u16, mpsc::Receiver<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let _ = tx.send(());
        let mut buf = [0; 4096];
        let _ = s.read(&mut buf);
        let _ = s.write_all(answer);
    });
    (port, rx)
}

#[test]
fn proxies_in_the_environment_are_not_used() {
    let (proxy, proxied) = listen(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nproxy");
    let (server, _) = listen(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\ndirect");
    let url = format!("http://127.0.0.1:{proxy}");
    for name in [
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "ALL_PROXY",
    ] {
        std::env::set_var(name, &url);
    }
    for name in ["no_proxy", "NO_PROXY"] {
        std::env::remove_var(name);
    }
    let client = HttpClient::new(&Trust::System, Options::default()).unwrap();
    let resp = client
        .get(&format!("http://127.0.0.1:{server}/"), None)
        .unwrap();
    assert_eq!(resp.body, b"direct");
    assert!(proxied.recv_timeout(Duration::from_millis(200)).is_err());
}

//! The nginx test harness: a real nginx (vendored 1.28 or Debian's 1.22) loading the module
//! with `load_module`, on free loopback ports, with a generated config per test; a real
//! upstream that reports what it received; a plain HTTP/1.1 client.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// Which nginx a test runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Build {
    /// `build/nginx` (the ngx crate's vendored nginx 1.28) + `build/ngx_http_sso_module.so`.
    Vendored,
    /// Debian bookworm's `/usr/sbin/nginx` 1.22 + `build/debian/ngx_http_sso_module.so`.
    Debian,
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

impl Build {
    pub fn nginx(self) -> PathBuf {
        match self {
            Build::Vendored => repo_root().join("build/nginx"),
            Build::Debian => PathBuf::from("/usr/sbin/nginx"),
        }
    }

    pub fn module(self) -> PathBuf {
        match self {
            Build::Vendored => repo_root().join("build/ngx_http_sso_module.so"),
            Build::Debian => repo_root().join("build/debian/ngx_http_sso_module.so"),
        }
    }

    /// Fails (never skips) with what to run when this build is missing.
    pub fn require(self) {
        let hint = match self {
            Build::Vendored => "run `make build` (or `make test`)",
            Build::Debian => {
                "run `make build-debian` (or `make test`); it installs Debian's nginx and nginx-dev"
            }
        };
        for p in [self.nginx(), self.module()] {
            assert!(
                p.exists(),
                "{:?} build: {} is missing: {hint}",
                self,
                p.display()
            );
        }
    }
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A fresh directory for one nginx instance.
pub fn temp_dir(tag: &str) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!(
        "sso-test-{}-{}-{}",
        std::process::id(),
        n,
        tag.replace("::", "-")
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

/// A loopback port nobody listens on right now, for an nginx `listen`.
///
/// Ports come from a per-process sequence below the kernel's ephemeral range, so two tests
/// running in parallel never pick the same one (and an upstream's port-0 bind never takes it).
pub fn free_port() -> u16 {
    static NEXT: std::sync::OnceLock<std::sync::atomic::AtomicU16> = std::sync::OnceLock::new();
    let next = NEXT.get_or_init(|| {
        std::sync::atomic::AtomicU16::new(10_000 + (std::process::id() % 1_500) as u16 * 10)
    });
    loop {
        let port = next.fetch_add(1, Ordering::SeqCst);
        assert!(port < 32_000, "ran out of test ports");
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

pub struct Nginx {
    pub build: Build,
    pub dir: PathBuf,
    pub port: u16,
    child: Option<Child>,
}

/// The whole nginx.conf around the test's `http {}` content. `%PORT%` in `http` is replaced
/// by the listening port, `%DIR%` by the instance directory.
fn full_config(build: Build, dir: &Path, port: u16, http: &str) -> String {
    full_config_workers(build, dir, port, http, 1)
}

fn full_config_workers(build: Build, dir: &Path, port: u16, http: &str, workers: usize) -> String {
    let http = http
        .replace("%PORT%", &port.to_string())
        .replace("%DIR%", &dir.display().to_string());
    format!(
        r#"load_module {module};
daemon off;
master_process on;
worker_processes {workers};
error_log {dir}/error.log info;
pid {dir}/nginx.pid;
events {{ worker_connections 256; }}
http {{
    access_log {dir}/access.log;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    default_type text/plain;
{http}
}}
"#,
        module = build.module().display(),
        dir = dir.display(),
    )
}

impl Nginx {
    /// Starts nginx with `http` as the content of its `http {}` block and waits until it
    /// accepts connections on `%PORT%`.
    pub fn start(build: Build, http: &str) -> Nginx {
        Nginx::start_workers(build, http, 1)
    }

    /// [`Nginx::start`] with `worker_processes workers`.
    pub fn start_workers(build: Build, http: &str, workers: usize) -> Nginx {
        build.require();
        let dir = temp_dir(&format!("{build:?}"));
        std::fs::create_dir_all(dir.join("html")).unwrap();
        let port = free_port();
        std::fs::write(
            dir.join("nginx.conf"),
            full_config_workers(build, &dir, port, http, workers),
        )
        .unwrap();
        let child = Command::new(build.nginx())
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .arg("-e")
            .arg(dir.join("error.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn nginx");
        let mut nginx = Nginx {
            build,
            dir,
            port,
            child: Some(child),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return nginx;
            }
            if let Some(status) = nginx.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "nginx exited with {status} at start; error.log:\n{}",
                    nginx.error_log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "nginx did not listen in time; error.log:\n{}",
                nginx.error_log()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// `nginx -s reload`: SIGHUP to the master.
    pub fn reload(&self) {
        let pid = std::fs::read_to_string(self.dir.join("nginx.pid")).expect("nginx.pid");
        let ok = Command::new("kill")
            .arg("-HUP")
            .arg(pid.trim())
            .status()
            .expect("kill -HUP");
        assert!(ok.success(), "reload failed");
    }

    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }

    /// Writes a static file under the instance's `html/` root.
    pub fn write_file(&self, rel: &str, body: &str) {
        let p = self.dir.join("html").join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
    }

    pub fn get(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        request(self.port, "GET", path, headers, b"")
    }

    pub fn request(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> Response {
        request(self.port, method, path, headers, b"")
    }

    /// Errors and worse in the error log (alerts, crashes): must be none in a healthy run.
    pub fn assert_no_crash(&self) {
        let log = self.error_log();
        for bad in [
            "[alert]",
            "[emerg]",
            "[crit]",
            "exited on signal",
            "panicked",
        ] {
            assert!(!log.contains(bad), "error.log has {bad}:\n{log}");
        }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGTERM: fast shutdown of master and workers.
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            eprintln!("kept {} for inspection", self.dir.display());
        }
    }
}

/// Runs `nginx -t` on a config; returns (success, combined output).
pub fn test_config(build: Build, http: &str) -> (bool, String) {
    build.require();
    let dir = temp_dir("conftest");
    let port = free_port();
    std::fs::write(dir.join("nginx.conf"), full_config(build, &dir, port, http)).unwrap();
    let out = Command::new(build.nginx())
        .arg("-t")
        .arg("-p")
        .arg(&dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .arg("-e")
        .arg(dir.join("error.log"))
        .output()
        .expect("run nginx -t");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
    (out.status.success(), text)
}

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

/// One HTTP/1.1 request on a fresh connection (`Connection: close`), response read to EOF.
pub fn request(
    port: u16,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = format!("{method} {target} HTTP/1.1\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req.push_str(&format!("Host: localhost:{port}\r\n"));
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("Connection: close\r\n\r\n");
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read response");
    parse_response(&raw, method == "HEAD")
}

fn parse_response(raw: &[u8], head: bool) -> Response {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(raw)));
    let head_text = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head_text.split("\r\n");
    let status_line = lines.next().unwrap();
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    if chunked && !head {
        body = dechunk(&body);
    }
    Response {
        status,
        headers,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(nl) = data.windows(2).position(|w| w == b"\r\n") else {
            break;
        };
        let size_text = String::from_utf8_lossy(&data[..nl]);
        let size =
            usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap_or(0);
        data = &data[nl + 2..];
        if size == 0 || data.len() < size {
            break;
        }
        out.extend_from_slice(&data[..size]);
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

    /// Every header whose name starts with `x-authentik-`.
    pub fn identity_headers(&self) -> BTreeMap<&str, &Vec<String>> {
        self.headers
            .iter()
            .filter(|(k, _)| k.starts_with("x-authentik-"))
            .map(|(k, v)| (k.as_str(), v))
            .collect()
    }
}

/// A real HTTP upstream on a loopback port: answers every request with 200 and a JSON report
/// `{"method", "target", "headers": [[name, value], ...]}` of what it received.
pub struct Upstream {
    pub port: u16,
}

impl Upstream {
    pub fn start() -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind upstream");
        let port = listener.local_addr().unwrap().port();
        thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                thread::spawn(move || serve_one(conn));
            }
        });
        Upstream { port }
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

fn serve_one(conn: TcpStream) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.trim_end().splitn(3, ' ');
    let method = parts.next().unwrap_or("").to_owned();
    let target = parts.next().unwrap_or("").to_owned();
    let mut headers = Vec::new();
    let mut content_length = 0usize;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 {
            break;
        }
        let h = h.trim_end_matches(['\r', '\n']);
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                content_length = v.trim().parse().unwrap_or(0);
            }
            headers.push(serde_json::json!([k.trim(), v.trim()]));
        }
    }
    let mut body = vec![0u8; content_length];
    let _ = reader.read_exact(&mut body);
    let report = serde_json::json!({"method": method, "target": target, "headers": headers});
    let body = serde_json::to_vec(&report).unwrap();
    let mut conn = conn;
    let _ = write!(
        conn,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = conn.write_all(&body);
    let _ = conn.shutdown(Shutdown::Both);
}

/// Declares each listed `fn name(build: Build)` as two tests, `name::vendored` and
/// `name::debian`.
#[macro_export]
macro_rules! on_both_nginx {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[test]
                fn vendored() {
                    super::$name($crate::harness::Build::Vendored)
                }
                #[test]
                fn debian() {
                    super::$name($crate::harness::Build::Debian)
                }
            }
        )*
    };
}

//! Relative paths in `sso_session_secret_file`, `sso_client_secret_file`, `sso_jwks_file` and
//! `sso_trusted_certificate` resolve against the directory of nginx's main configuration file
//! (as `include` and `ssl_certificate` do), never against the directory nginx was started
//! from: nginx runs with `-p PREFIX -c conf/nginx.conf` from `/` here.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::json;

use crate::harness::{
    free_port, hang_limit, repo_root, request, temp_dir, Build, Response, Upstream,
};
use crate::on_both_nginx;

const ISSUER_PATH: &str = "/application/o/app/";
const CLIENT_ID: &str = "app-client";

/// A prefix with `conf/nginx.conf` naming every file by a path relative to `conf/`, and those
/// files in `conf/sso/` (`missing` left out). Returns the prefix and nginx's port.
fn prefix(build: Build, upstream: &Upstream, missing: Option<&str>) -> (PathBuf, u16) {
    let dir = temp_dir(&format!("relative-{build:?}"));
    let sso = dir.join("conf/sso");
    std::fs::create_dir_all(&sso).unwrap();
    std::fs::create_dir_all(dir.join("logs")).unwrap();
    let keys = repo_root().join("tests/nginx/keys");
    let files: [(&str, Vec<u8>); 4] = [
        ("jwks.json", std::fs::read(keys.join("jwks.json")).unwrap()),
        ("session.key", format!("{}\n", "ab".repeat(32)).into_bytes()),
        (
            "client.secret",
            b"a-client-secret-of-some-length\n".to_vec(),
        ),
        // Any PEM CA bundle will do: the provider is never reached.
        (
            "ca.pem",
            std::fs::read("/etc/ssl/certs/ca-certificates.crt").unwrap(),
        ),
    ];
    for (name, body) in files {
        if missing != Some(name) {
            std::fs::write(sso.join(name), body).unwrap();
        }
    }
    let port = free_port();
    // Nobody listens there: the key fetcher's attempts fail after building its client, which
    // reads sso_trusted_certificate in the worker.
    let provider_port = free_port();
    let conf = format!(
        r#"load_module {module};
daemon off;
master_process on;
worker_processes 1;
error_log logs/error.log info;
pid logs/nginx.pid;
events {{ worker_connections 64; }}
http {{
    access_log logs/access.log;
    client_body_temp_path logs/client_body;
    proxy_temp_path logs/proxy;
    fastcgi_temp_path logs/fastcgi;
    uwsgi_temp_path logs/uwsgi;
    scgi_temp_path logs/scgi;
    server {{
        listen 127.0.0.1:{port};
        sso_protect on;
        sso_issuer https://127.0.0.1:{provider_port}{ISSUER_PATH};
        sso_client_id {CLIENT_ID};
        sso_client_secret_file sso/client.secret;
        sso_session_secret_file sso/session.key;
        sso_jwks_file sso/jwks.json;
        sso_trusted_certificate sso/ca.pem;
        location / {{
            proxy_pass http://{upstream};
        }}
    }}
}}
"#,
        module = build.module().display(),
        upstream = upstream.addr(),
    );
    std::fs::write(dir.join("conf/nginx.conf"), conf).unwrap();
    (dir, port)
}

/// nginx with `-p PREFIX -c conf/nginx.conf`, started from `/`.
fn nginx(build: Build, prefix: &Path) -> Command {
    build.require();
    let mut cmd = Command::new(build.nginx());
    cmd.arg("-p")
        .arg(format!("{}/", prefix.display()))
        .args(["-c", "conf/nginx.conf", "-e", "logs/error.log"])
        .current_dir("/")
        .stdin(Stdio::null());
    cmd
}

fn error_log(prefix: &Path) -> String {
    std::fs::read_to_string(prefix.join("logs/error.log")).unwrap_or_default()
}

struct Running {
    child: Child,
    prefix: PathBuf,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.prefix);
    }
}

fn start(build: Build, prefix: PathBuf, port: u16) -> Running {
    let child = nginx(build, &prefix)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn nginx");
    let mut running = Running { child, prefix };
    let started = Instant::now();
    loop {
        if let Some(status) = running.child.try_wait().unwrap() {
            panic!(
                "nginx exited with {status} at start; error.log:\n{}",
                error_log(&running.prefix)
            );
        }
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return running;
        }
        assert!(
            started.elapsed() < hang_limit(),
            "nginx did not start; error.log:\n{}",
            error_log(&running.prefix)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn bearer(port: u16, token: &str) -> Response {
    let auth = format!("Bearer {token}");
    request(
        port,
        "GET",
        "/data",
        &[("Accept", "application/json"), ("Authorization", &auth)],
        b"",
    )
}

fn token(issuer: &str) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let key = std::fs::read(repo_root().join("tests/nginx/keys/rsa-1.pem")).unwrap();
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("rsa-1".into());
    let claims = json!({
        "iss": issuer, "aud": CLIENT_ID, "sub": "u-1", "preferred_username": "jdoe",
        "exp": now + 300, "iat": now - 5,
    });
    encode(&header, &claims, &EncodingKey::from_rsa_pem(&key).unwrap()).unwrap()
}

/// Every file is found from `/` through the prefix: nginx starts, a token signed with a key
/// of the relative `sso_jwks_file` passes with identity, and the worker's key fetcher reads
/// `sso_trusted_certificate` by its full path (its attempts fail at connecting, not at
/// reading the CA file).
fn relative_paths_resolve_against_the_configuration_prefix(build: Build) {
    let upstream = Upstream::start();
    let (dir, port) = prefix(build, &upstream, None);
    let conf = std::fs::read_to_string(dir.join("conf/nginx.conf")).unwrap();
    let issuer = conf
        .lines()
        .find_map(|l| l.trim().strip_prefix("sso_issuer "))
        .unwrap()
        .trim_end_matches(';')
        .to_owned();
    let n = start(build, dir, port);

    let r = bearer(port, &token(&issuer));
    assert_eq!(r.status, 200, "{:?}\n{}", r.headers, error_log(&n.prefix));
    assert_eq!(r.upstream().header("X-authentik-username"), Some("jdoe"));
    let r = bearer(port, "not-a-token");
    assert_eq!(r.status, 401, "{:?}", r.headers);

    let ca = n.prefix.join("conf/sso/ca.pem").display().to_string();
    let deadline = Instant::now() + hang_limit();
    let failure = loop {
        let log = error_log(&n.prefix);
        if let Some(line) = log.lines().find(|l| l.contains("discovery failed")) {
            break line.to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "the key fetcher never reported; error.log:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        failure.contains(&issuer) && !failure.contains("ca.pem"),
        "the worker could not read {ca}: {failure}"
    );
}

fn nginx_t(build: Build, prefix: &Path) -> Output {
    nginx(build, prefix).arg("-t").output().expect("nginx -t")
}

/// A missing file's `[emerg]` names it by its full path, for each of the four directives,
/// and a complete prefix passes `nginx -t` from `/`.
fn missing_relative_file_names_the_full_path(build: Build) {
    let upstream = Upstream::start();
    let cases = [
        ("jwks.json", "sso_jwks_file"),
        ("session.key", "sso_session_secret_file"),
        ("client.secret", "sso_client_secret_file"),
        ("ca.pem", "sso_trusted_certificate"),
    ];
    for (file, directive) in cases {
        let (dir, _) = prefix(build, &upstream, Some(file));
        let out = nginx_t(build, &dir);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.status.success(), "{directive}: {text}");
        let full = dir.join("conf/sso").join(file);
        assert!(text.contains("[emerg]"), "{directive}: {text}");
        assert!(
            text.contains(&format!("{directive}: cannot read \"{}\"", full.display())),
            "{directive}: the full path {} missing in {text}",
            full.display()
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
    let (dir, _) = prefix(build, &upstream, None);
    let out = nginx_t(build, &dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

on_both_nginx!(
    relative_paths_resolve_against_the_configuration_prefix,
    missing_relative_file_names_the_full_path,
);

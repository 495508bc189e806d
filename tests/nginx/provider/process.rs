//! `tests/provider/server.js` (npm's OpenID-certified `oidc-provider`) as a child process:
//! started on its own port, its `/_test/*` endpoints (tests/provider/README.md), stopped on
//! drop.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::harness::hang_limit;
use crate::harness::http::http_request;
use crate::harness::url::split_url;

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
        // Rarely (seen twice, on a machine loaded by several builds) node hangs before it
        // even logs its start: not what any test is about, so such a start is retried with a
        // fresh process; a provider that exits or hangs three times still fails the test.
        for attempt in 1..=3 {
            let limit = if attempt < 3 {
                hang_limit() / 5
            } else {
                hang_limit()
            };
            match Provider::start_once(config.clone(), limit) {
                Ok(provider) => return provider,
                Err(hung) if attempt < 3 => {
                    eprintln!("test provider hung at start (attempt {attempt}), starting another:\n{hung}")
                }
                Err(hung) => panic!("{hung}"),
            }
        }
        unreachable!()
    }

    /// One start ([`Provider::start`]); Err when it printed no READY line within `limit`
    /// and did not exit either (it is stopped then).
    fn start_once(config: Value, limit: Duration) -> Result<Provider, String> {
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
        let started = Instant::now();
        let got = loop {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(got) => break got,
                Err(mpsc::RecvTimeoutError::Disconnected) => break None,
                Err(mpsc::RecvTimeoutError::Timeout) if started.elapsed() > limit => {
                    provider.stop();
                    return Err(format!(
                        "test provider printed no READY line within {limit:?} and did not exit \
                         (hung?)\nconfig: {config}\nstderr:\n{}",
                        provider.log()
                    ));
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
        Ok(provider)
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

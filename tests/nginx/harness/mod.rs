//! The nginx test harness: a real nginx (vendored 1.28 or Debian's 1.22) loading the module
//! with `load_module`, on free loopback ports, with a generated config per test; a real
//! upstream that reports what it received; the one HTTP/1.1 client of the tests; the usual
//! protected site (provider, upstream, nginx) built from config pieces.
//!
//! - [`nginx`]: starting, checking and stopping nginx (`Nginx`, `test_config`);
//! - [`valgrind`]: memcheck's command line and report;
//! - [`http`]: the client (`request`, `http_request`), `Response`, the upstream's report;
//! - [`upstream`]: the reporting upstream;
//! - [`url`]: splitting, resolving and encoding URLs;
//! - [`site`]: `Server` blocks, the provider-backed `Site`, and the sso directives they use;
//! - [`keys`]: the test keys in tests/nginx/keys and tokens signed with them;
//! - [`redis`]: a real `redis-server` as a child process (`tests/nginx/redis.rs`).
//!
//! Waits for a child process end on the process's own signal (nginx: its pid file and an
//! accepting port; the provider: its `READY` line) or on its exit, with an overall limit
//! ([`hang_limit`]) that only catches a hang: a busy machine makes starts slow, never
//! failed. `SSO_TEST_VALGRIND=1` runs every nginx under valgrind memcheck (see
//! [`valgrind`] and README "Fuzzing and memory checks").

#![allow(dead_code)]

pub mod http;
pub mod keys;
pub mod nginx;
pub mod redis;
pub mod site;
pub mod upstream;
pub mod url;
pub mod valgrind;

pub use http::{request, Response};
pub use nginx::{test_config, Nginx};
pub use upstream::Upstream;

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

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

// ------------------------------------------------------------------ slow runs

/// Whether this run starts nginx under valgrind memcheck: `SSO_TEST_VALGRIND=1` (the
/// `make valgrind` target sets it). nginx then runs as one process (`master_process off`),
/// every timing in the harness scales by [`slowdown`], and stopping an instance fails the
/// test on memcheck's findings (see [`Nginx::stop`]).
pub fn valgrind() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var("SSO_TEST_VALGRIND").is_ok_and(|v| !v.is_empty() && v != "0"))
}

/// How many times slower than a native run this one is expected to be: 30 under valgrind
/// (memcheck runs nginx some 20-50 times slower), else 1; `SSO_TEST_SLOWDOWN=N` overrides.
pub fn slowdown() -> u32 {
    static N: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *N.get_or_init(|| {
        std::env::var("SSO_TEST_SLOWDOWN")
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|&n| n >= 1)
            .unwrap_or(if valgrind() { 30 } else { 1 })
    })
}

/// `d` times [`slowdown`]: for a test's timing assertions about the module (a request that
/// must not wait on the provider, a start that must not hang on it).
pub fn scaled(d: Duration) -> Duration {
    d * slowdown()
}

/// The overall limit of a wait for a child process's own readiness signal (nginx's pid
/// file and port, the provider's `READY` line, a script's exit) or for a response: long
/// enough that only a hang reaches it, on any machine. 5 minutes; 20 under valgrind.
pub fn hang_limit() -> Duration {
    Duration::from_secs(if valgrind() { 20 * 60 } else { 5 * 60 })
}

/// For a test that cannot run under valgrind (it needs a master process or two workers):
/// true, after saying so on stderr, when this run is under valgrind. Use as
/// `if skip_under_valgrind("name", "needs two workers") { return; }`.
pub fn skip_under_valgrind(test: &str, why: &str) -> bool {
    if valgrind() {
        eprintln!("skipped under valgrind: {test}: {why}");
    }
    valgrind()
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

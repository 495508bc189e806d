//! The nginx test harness: a real nginx (vendored 1.28 or Debian's 1.22) loading the module
//! with `load_module`, on free loopback ports, with a generated config per test; a real
//! upstream that reports what it received; a plain HTTP/1.1 client.
//!
//! Waits for a child process end on the process's own signal (nginx: its pid file and an
//! accepting port; the provider: its `READY` line) or on its exit, with an overall limit
//! ([`hang_limit`]) that only catches a hang: a busy machine makes starts slow, never
//! failed. `SSO_TEST_VALGRIND=1` runs every nginx under valgrind memcheck (see
//! [`valgrind`] and README "Fuzzing and memory checks").

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

/// memcheck's exit code when it found something (`--error-exitcode`).
pub const VALGRIND_ERROR_EXIT: i32 = 99;

/// The valgrind command line before nginx's: memcheck, full leak check reporting only
/// definitely lost blocks, deep stacks, our suppressions (tests/valgrind/nginx.supp), a
/// ready-made suppression after each finding. `SSO_TEST_VALGRIND_ARGS` adds options
/// (space-separated), e.g. `--track-origins=yes`.
fn valgrind_args(log: &Path) -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = [
        "--tool=memcheck".to_owned(),
        format!("--error-exitcode={VALGRIND_ERROR_EXIT}"),
        "--leak-check=full".to_owned(),
        "--show-leak-kinds=definite".to_owned(),
        "--errors-for-leak-kinds=definite".to_owned(),
        "--num-callers=50".to_owned(),
        "--gen-suppressions=all".to_owned(),
        format!(
            "--suppressions={}",
            repo_root().join("tests/valgrind/nginx.supp").display()
        ),
    ]
    .into_iter()
    .map(Into::into)
    .collect();
    if let Ok(extra) = std::env::var("SSO_TEST_VALGRIND_ARGS") {
        args.extend(extra.split_whitespace().map(Into::into));
    }
    let mut log_arg = std::ffi::OsString::from("--log-file=");
    log_arg.push(log);
    args.push(log_arg);
    args
}

/// Reading memcheck's text report.
pub mod valgrind {
    use std::path::Path;

    /// One message of the report: its lines without the `==PID== ` prefix, and the
    /// suppression valgrind generated for it, if any.
    #[derive(Debug, Clone)]
    pub struct Block {
        pub lines: Vec<String>,
        pub suppression: String,
    }

    #[derive(Debug, PartialEq, Eq)]
    enum Kind {
        /// Invalid read/write/free, uninitialised value, overlap, ...
        Error,
        DefiniteLeak,
        Terminated,
        Other,
    }

    impl Block {
        /// The message's first line ("Thread N:" lines skipped).
        pub fn header(&self) -> &str {
            self.lines
                .iter()
                .map(String::as_str)
                .find(|l| !(l.starts_with("Thread ") && l.ends_with(':')))
                .unwrap_or("")
        }

        fn kind(&self) -> Kind {
            let h = self.header();
            if h.contains("are definitely lost in loss record") {
                Kind::DefiniteLeak
            } else if h.starts_with("Process terminating") {
                Kind::Terminated
            } else if h.starts_with("Invalid ")
                || h.starts_with("Mismatched free")
                || h.contains("uninitialised")
                || h.starts_with("Source and destination overlap")
                || h.starts_with("Jump to the invalid address")
                || h.contains("fishy")
                || h.starts_with("Argument '")
            {
                Kind::Error
            } else {
                Kind::Other
            }
        }

        /// Whether a stack frame of the message is the module's code (the glue crate, the
        /// core crate, or the module's shared object when it has no symbols).
        pub fn in_module(&self) -> bool {
            self.lines.iter().any(|l| {
                let l = l.trim_start();
                (l.starts_with("at ") || l.starts_with("by "))
                    && (l.contains("ngx_http_sso_module") || l.contains("sso_core"))
            })
        }

        fn render(&self) -> String {
            let mut s = self.lines.join("\n");
            if !self.suppression.is_empty() {
                s.push_str("\n(suppression, if this is not the module's:)\n");
                s.push_str(&self.suppression);
            }
            s
        }
    }

    pub struct Report {
        pub text: String,
        pub blocks: Vec<Block>,
    }

    impl Report {
        pub fn read(path: &Path) -> Report {
            Report::parse(&std::fs::read_to_string(path).unwrap_or_default())
        }

        pub fn parse(text: &str) -> Report {
            let mut blocks = Vec::new();
            let mut cur: Option<Block> = None;
            let mut in_supp = false;
            for line in text.lines() {
                let body = line
                    .strip_prefix("==")
                    .and_then(|r| r.split_once("== "))
                    .filter(|(pid, _)| pid.chars().all(|c| c.is_ascii_digit()))
                    .map(|(_, b)| b);
                match body {
                    Some(b) => {
                        in_supp = false;
                        if b.trim().is_empty() {
                            if let Some(c) = cur.take() {
                                blocks.push(c);
                            }
                        } else {
                            cur.get_or_insert_with(|| Block {
                                lines: Vec::new(),
                                suppression: String::new(),
                            })
                            .lines
                            .push(b.trim_end().to_owned());
                        }
                    }
                    None => {
                        // --gen-suppressions text follows the message it belongs to.
                        if line.starts_with('{') {
                            in_supp = true;
                        }
                        if in_supp {
                            if let Some(last) = cur.as_mut().or(blocks.last_mut()) {
                                last.suppression.push_str(line);
                                last.suppression.push('\n');
                            }
                        }
                        if line.starts_with('}') {
                            in_supp = false;
                        }
                    }
                }
            }
            if let Some(c) = cur.take() {
                blocks.push(c);
            }
            Report {
                text: text.to_owned(),
                blocks,
            }
        }

        /// What fails a test: every memory error (invalid read/write/free, uninitialised
        /// value, ...) that no suppression covers, and, with `at_exit`, every definitely
        /// lost block allocated by the module's code.
        pub fn module_findings(&self, at_exit: bool) -> Vec<Block> {
            self.blocks
                .iter()
                .filter(|b| match b.kind() {
                    Kind::Error => true,
                    Kind::DefiniteLeak => at_exit && b.in_module(),
                    _ => false,
                })
                .cloned()
                .collect()
        }

        /// Definitely lost blocks with no module frame (nginx's own or a library's).
        pub fn other_leaks(&self) -> Vec<String> {
            self.blocks
                .iter()
                .filter(|b| b.kind() == Kind::DefiniteLeak && !b.in_module())
                .map(Block::render)
                .collect()
        }

        /// The fatal signal, when memcheck saw the process die of one.
        pub fn terminated(&self) -> Option<String> {
            self.blocks
                .iter()
                .find(|b| b.kind() == Kind::Terminated)
                .map(Block::render)
        }

        /// Whether memcheck's own count ("ERROR SUMMARY: n errors from m contexts") has
        /// more contexts than the messages parsed here: then the report has a kind of
        /// message this parser does not know, and a person must read it.
        pub fn unaccounted(&self) -> Option<String> {
            let summary = self
                .blocks
                .iter()
                .flat_map(|b| b.lines.iter())
                .find_map(|l| l.strip_prefix("ERROR SUMMARY: "))?;
            let contexts: usize = summary
                .split(" from ")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()?;
            let parsed = self
                .blocks
                .iter()
                .filter(|b| matches!(b.kind(), Kind::Error | Kind::DefiniteLeak))
                .count();
            (contexts > parsed).then(|| {
                format!(
                    "memcheck reports {contexts} error contexts, the harness recognised \
                     {parsed}; the whole report:\n{}",
                    self.text
                )
            })
        }
    }

    pub fn render(blocks: &[Block]) -> String {
        blocks
            .iter()
            .map(Block::render)
            .collect::<Vec<_>>()
            .join("\n\n")
    }

    /// With `SSO_TEST_VALGRIND_LOGS=DIR`, copies the report to DIR (named after the
    /// instance directory) so a whole run's reports outlive the instances.
    pub fn keep_copy(log: &Path, instance_dir: &Path) {
        let Some(dest) = std::env::var_os("SSO_TEST_VALGRIND_LOGS") else {
            return;
        };
        let dest = Path::new(&dest);
        let _ = std::fs::create_dir_all(dest);
        let name = format!(
            "{}.log",
            instance_dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "nginx".into())
        );
        let _ = std::fs::copy(log, dest.join(name));
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        const LOG: &str = "==7== Memcheck, a memory error detector
==7== 
==7== Thread 2:
==7== Invalid read of size 4
==7==    at 0x1: ngx_http_sso_module::access::handler (access.rs:1)
==7==    by 0x2: main (nginx.c:1)
==7== 
{
   <insert_a_suppression_name_here>
   Memcheck:Addr4
   fun:_ZN3ngx
}
==7== 8 bytes in 1 blocks are definitely lost in loss record 1 of 2
==7==    at 0x3: malloc (vg_replace_malloc.c:1)
==7==    by 0x4: ngx_set_environment (nginx.c:591)
==7== 
==7== 16 bytes in 1 blocks are definitely lost in loss record 2 of 2
==7==    at 0x3: malloc (vg_replace_malloc.c:1)
==7==    by 0x5: sso_core::cache::Cache::new (cache.rs:9)
==7== 
==7== ERROR SUMMARY: 3 errors from 3 contexts (suppressed: 0 from 0)
";

        #[test]
        fn a_report_is_read_into_findings() {
            let r = Report::parse(LOG);
            let f = r.module_findings(true);
            assert_eq!(f.len(), 2, "{f:#?}");
            assert_eq!(f[0].header(), "Invalid read of size 4");
            assert!(f[0].suppression.contains("Memcheck:Addr4"));
            assert!(f[1].header().starts_with("16 bytes"));
            assert_eq!(r.module_findings(false).len(), 1);
            assert_eq!(r.other_leaks().len(), 1);
            assert!(r.unaccounted().is_none());
            assert!(r.terminated().is_none());
            let more = LOG.replace("3 errors from 3 contexts", "4 errors from 4 contexts");
            assert!(Report::parse(&more).unaccounted().is_some());
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
    /// memcheck's report when nginx runs under valgrind.
    valgrind_log: Option<PathBuf>,
}

/// The whole nginx.conf around the test's `http {}` content. `%PORT%` in `http` is replaced
/// by the listening port, `%DIR%` by the instance directory.
fn full_config(build: Build, dir: &Path, port: u16, http: &str) -> String {
    full_config_workers(build, dir, port, http, 1)
}

fn full_config_workers(build: Build, dir: &Path, port: u16, http: &str, workers: usize) -> String {
    // Under valgrind nginx runs as one process (no master, no worker fork): memcheck then
    // follows the process that runs the module, and its exit is nginx's exit.
    let master = if valgrind() { "off" } else { "on" };
    let http = http
        .replace("%PORT%", &port.to_string())
        .replace("%DIR%", &dir.display().to_string());
    format!(
        r#"load_module {module};
daemon off;
master_process {master};
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

/// How many times nginx tried a port another process took between [`free_port`] and
/// nginx's `bind()` (a parallel test run of another checkout) before giving up.
const BIND_ATTEMPTS: usize = 5;

/// What a start attempt came to.
enum Started {
    Ready(Nginx),
    /// nginx exited because its port was taken: worth a new port.
    PortTaken(Nginx),
}

/// The command that runs `nginx` for an instance in `dir`: nginx itself, or valgrind
/// memcheck around it (writing its report to `log`).
fn nginx_command(build: Build, dir: &Path, log: Option<&Path>) -> Command {
    let mut cmd = match log {
        Some(log) => {
            let mut c = Command::new("valgrind");
            c.args(valgrind_args(log)).arg(build.nginx());
            c
        }
        None => Command::new(build.nginx()),
    };
    cmd.arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .arg("-e")
        .arg(dir.join("error.log"));
    cmd
}

impl Nginx {
    /// Starts nginx with `http` as the content of its `http {}` block and waits until it
    /// runs: its pid file names the process started and `%PORT%` accepts connections.
    ///
    /// Fails at once when nginx exits at start (with its error.log), and after
    /// [`hang_limit`] when it neither runs nor exits. When another process took the port
    /// first, it starts again on a new one.
    pub fn start(build: Build, http: &str) -> Nginx {
        Nginx::start_workers(build, http, 1)
    }

    /// [`Nginx::start`] with `worker_processes workers`.
    pub fn start_workers(build: Build, http: &str, workers: usize) -> Nginx {
        build.require();
        for attempt in 1..=BIND_ATTEMPTS {
            match Nginx::try_start(build, http, workers) {
                Started::Ready(n) => return n,
                Started::PortTaken(n) => {
                    eprintln!(
                        "nginx: port {} was taken by another process (attempt {attempt} of \
                         {BIND_ATTEMPTS}), starting again on a new port",
                        n.port
                    );
                }
            }
        }
        panic!("nginx: {BIND_ATTEMPTS} ports in a row were taken by other processes");
    }

    fn try_start(build: Build, http: &str, workers: usize) -> Started {
        let dir = temp_dir(&format!("{build:?}"));
        std::fs::create_dir_all(dir.join("html")).unwrap();
        let port = free_port();
        std::fs::write(
            dir.join("nginx.conf"),
            full_config_workers(build, &dir, port, http, workers),
        )
        .unwrap();
        let valgrind_log = valgrind().then(|| dir.join("valgrind.log"));
        let child = nginx_command(build, &dir, valgrind_log.as_deref())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "spawn {} ({e}){}",
                    build.nginx().display(),
                    if valgrind() {
                        ": SSO_TEST_VALGRIND=1 needs valgrind (`scripts/valgrind` installs it)"
                    } else {
                        ""
                    }
                )
            });
        let pid = child.id();
        let mut nginx = Nginx {
            build,
            dir,
            port,
            child: Some(child),
            valgrind_log,
        };
        let started = Instant::now();
        let limit = hang_limit();
        loop {
            if let Some(status) = nginx.child.as_mut().unwrap().try_wait().unwrap() {
                nginx.child = None;
                let log = nginx.error_log();
                if log.contains("Address already in use") {
                    nginx.remove_dir();
                    return Started::PortTaken(nginx);
                }
                panic!(
                    "nginx exited with {status} at start; error.log:\n{log}{}",
                    nginx.valgrind_report_text()
                );
            }
            if nginx.pid_file() == Some(pid) && TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Started::Ready(nginx);
            }
            assert!(
                started.elapsed() < limit,
                "nginx neither ran nor exited within {limit:?} (hung at start?); error.log:\n{}",
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

    /// The pid in nginx's pid file, once it wrote one.
    fn pid_file(&self) -> Option<u32> {
        std::fs::read_to_string(self.dir.join("nginx.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
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
    /// Under valgrind, also: memcheck saw no memory error and no fatal signal so far (leaks
    /// are only known at exit: [`Nginx::stop`] and drop check those).
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
        if let Some(vlog) = &self.valgrind_log {
            let report = valgrind::Report::read(vlog);
            let errors = report.module_findings(false);
            assert!(
                errors.is_empty(),
                "valgrind memcheck ({}):\n{}",
                vlog.display(),
                valgrind::render(&errors)
            );
            if let Some(exit) = report.terminated() {
                panic!("nginx died under valgrind: {exit}\n{}", report.text);
            }
        }
    }

    /// Stops nginx (SIGTERM: fast shutdown) and waits for it to exit. Under valgrind, then
    /// fails on memcheck's findings: invalid reads or writes, uses of uninitialised values,
    /// bad frees, a crash, and blocks definitely lost from the module's code. Drop does the
    /// same; call this to check before the end of a test.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // SIGTERM: fast shutdown of master and workers (of the one process under valgrind).
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        // Native nginx exits in milliseconds; under valgrind the leak check runs first.
        let limit = if valgrind() {
            hang_limit()
        } else {
            Duration::from_secs(30)
        };
        let started = Instant::now();
        let mut poked = Instant::now();
        let status = loop {
            if let Ok(Some(status)) = child.try_wait() {
                break Some(status);
            }
            // A single-process nginx checks its exit flag only when epoll_wait() returns: a
            // SIGTERM that lands just before the call (a wide window under valgrind) leaves
            // it waiting for an event that never comes. A connection is such an event.
            if valgrind() && poked.elapsed() > Duration::from_millis(500) {
                let _ = TcpStream::connect_timeout(
                    &(std::net::Ipv4Addr::LOCALHOST, self.port).into(),
                    Duration::from_secs(1),
                );
                poked = Instant::now();
            }
            if started.elapsed() > limit {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            thread::sleep(Duration::from_millis(20));
        };
        let Some(vlog) = self.valgrind_log.clone() else {
            return;
        };
        let report = valgrind::Report::read(&vlog);
        let mut problems = Vec::new();
        match status {
            None => problems.push(format!(
                "nginx did not exit within {limit:?} of SIGTERM under valgrind (killed); \
                 memcheck's leak check did not run"
            )),
            Some(s) if s.code().is_none() => {
                problems.push(format!("nginx under valgrind ended by {s}"))
            }
            Some(_) => {}
        }
        if let Some(exit) = report.terminated() {
            problems.push(format!("nginx died under valgrind: {exit}"));
        }
        let findings = report.module_findings(true);
        if !findings.is_empty() {
            problems.push(valgrind::render(&findings));
        }
        if let Some(missing) = report.unaccounted() {
            problems.push(missing);
        }
        for note in report.other_leaks() {
            eprintln!(
                "valgrind ({}): a definite leak outside the module (nginx's or a library's; \
                 add it to tests/valgrind/nginx.supp if it is theirs):\n{note}",
                vlog.display()
            );
        }
        valgrind::keep_copy(&vlog, &self.dir);
        if problems.is_empty() {
            return;
        }
        let msg = format!(
            "valgrind memcheck ({}):\n{}",
            vlog.display(),
            problems.join("\n")
        );
        if thread::panicking() {
            eprintln!("{msg}");
        } else {
            panic!("{msg}");
        }
    }

    /// memcheck's whole report, for a failure message (empty when not under valgrind).
    fn valgrind_report_text(&self) -> String {
        match &self.valgrind_log {
            Some(v) => format!(
                "\n--- valgrind ({}):\n{}",
                v.display(),
                std::fs::read_to_string(v).unwrap_or_default()
            ),
            None => String::new(),
        }
    }

    fn remove_dir(&self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let passing = !thread::panicking();
        // Keep the directory when stop() is about to fail the test.
        let guard = KeepDirOnPanic(self.dir.clone());
        self.stop();
        std::mem::forget(guard);
        if passing {
            self.remove_dir();
        } else {
            eprintln!("kept {} for inspection", self.dir.display());
        }
    }
}

/// Says where the instance directory is when a drop-time check panics.
struct KeepDirOnPanic(PathBuf);

impl Drop for KeepDirOnPanic {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!("kept {} for inspection", self.0.display());
        }
    }
}

/// Runs `nginx -t` on a config; returns (success, combined output). Under valgrind, fails
/// on memcheck's findings (the directive parsers run here, error paths included).
pub fn test_config(build: Build, http: &str) -> (bool, String) {
    build.require();
    let dir = temp_dir("conftest");
    let port = free_port();
    std::fs::write(dir.join("nginx.conf"), full_config(build, &dir, port, http)).unwrap();
    let vlog = valgrind().then(|| dir.join("valgrind.log"));
    let out = nginx_command(build, &dir, vlog.as_deref())
        .arg("-t")
        .stdin(Stdio::null())
        .output()
        .expect("run nginx -t");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if let Some(vlog) = vlog {
        let report = valgrind::Report::read(&vlog);
        let mut problems = Vec::new();
        if let Some(exit) = report.terminated() {
            problems.push(format!("nginx -t died under valgrind: {exit}"));
        }
        let findings = report.module_findings(true);
        if !findings.is_empty() {
            problems.push(valgrind::render(&findings));
        }
        if let Some(missing) = report.unaccounted() {
            problems.push(missing);
        }
        valgrind::keep_copy(&vlog, &dir);
        assert!(
            problems.is_empty(),
            "valgrind memcheck on `nginx -t` (kept {}):\nconfig:\n{http}\n{}",
            dir.display(),
            problems.join("\n")
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    // memcheck's own exit code stands for a finding; nginx's answer is what the caller asks.
    let ok = match out.status.code() {
        Some(VALGRIND_ERROR_EXIT) if valgrind() => text.contains("test is successful"),
        _ => out.status.success(),
    };
    (ok, text)
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
    s.set_read_timeout(Some(hang_limit())).unwrap();
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
    let _ = conn.set_read_timeout(Some(hang_limit()));
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

//! Starting, checking and stopping a real nginx: one instance directory per test with a
//! generated nginx.conf around the test's `http {}` content ([`Nginx::start`]), or a config
//! tree the test wrote itself ([`Nginx::start_tree`]); `nginx -t` ([`test_config`]).

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::valgrind::{valgrind_args, VALGRIND_ERROR_EXIT};
use super::{free_port, hang_limit, request, temp_dir, valgrind, Build, Response};

/// Where an instance's files are: nginx's prefix (`-p`), its main config (`-c`), the error
/// log (`-e`) and the pid file the config names.
#[derive(Debug, Clone)]
pub struct Tree {
    /// The instance directory: removed when the test passes, kept when it fails.
    pub dir: PathBuf,
    pub prefix: PathBuf,
    pub conf: PathBuf,
    pub error_log: PathBuf,
    pub pid: PathBuf,
    /// A port the config listens on: nginx runs once it accepts there.
    pub port: u16,
}

impl Tree {
    /// The harness's own layout: everything in `dir`.
    fn flat(dir: PathBuf, port: u16) -> Tree {
        Tree {
            prefix: dir.clone(),
            conf: dir.join("nginx.conf"),
            error_log: dir.join("error.log"),
            pid: dir.join("nginx.pid"),
            dir,
            port,
        }
    }
}

/// `master_process` for a config: off under valgrind (nginx then runs as one process, no
/// worker fork: memcheck follows the process that runs the module, and its exit is nginx's
/// exit), else on.
pub fn master_process() -> &'static str {
    if valgrind() {
        "off"
    } else {
        "on"
    }
}

pub struct Nginx {
    pub build: Build,
    pub dir: PathBuf,
    pub port: u16,
    tree: Tree,
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
    let master = master_process();
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

/// The command that runs `nginx` for an instance laid out as `tree`: nginx itself, or
/// valgrind memcheck around it (writing its report to `log`).
fn nginx_command(build: Build, tree: &Tree, log: Option<&Path>) -> Command {
    let mut cmd = match log {
        Some(log) => {
            let mut c = Command::new("valgrind");
            c.args(valgrind_args(log)).arg(build.nginx());
            c
        }
        None => Command::new(build.nginx()),
    };
    cmd.arg("-p")
        .arg(&tree.prefix)
        .arg("-c")
        .arg(&tree.conf)
        .arg("-e")
        .arg(&tree.error_log);
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

    /// Starts nginx on a config tree the test wrote (its own prefix, config, logs and pid
    /// file) and waits until it runs, as [`Nginx::start`] does; no new port when another
    /// process took one (the test chose them).
    pub fn start_tree(build: Build, tree: Tree) -> Nginx {
        build.require();
        match Nginx::launch(build, tree) {
            Started::Ready(n) => n,
            Started::PortTaken(n) => panic!(
                "nginx: a port of the config was taken by another process; error.log:\n{}",
                n.error_log()
            ),
        }
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
        Nginx::launch(build, Tree::flat(dir, port))
    }

    fn launch(build: Build, tree: Tree) -> Started {
        let valgrind_log = valgrind().then(|| tree.dir.join("valgrind.log"));
        let child = nginx_command(build, &tree, valgrind_log.as_deref())
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
        let port = tree.port;
        let mut nginx = Nginx {
            build,
            dir: tree.dir.clone(),
            port,
            tree,
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
        let pid = std::fs::read_to_string(&self.tree.pid).expect("nginx.pid");
        let ok = Command::new("kill")
            .arg("-HUP")
            .arg(pid.trim())
            .status()
            .expect("kill -HUP");
        assert!(ok.success(), "reload failed");
    }

    /// The pid in nginx's pid file, once it wrote one.
    fn pid_file(&self) -> Option<u32> {
        std::fs::read_to_string(&self.tree.pid)
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// The error log nginx was started with (`-e`).
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(&self.tree.error_log).unwrap_or_default()
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
        assert_no_crash_in(&self.error_log());
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
        problems.extend(report.problems_at_exit("nginx"));
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

/// Fails when an error log's text has errors or worse (alerts, crashes, panics).
pub fn assert_no_crash_in(log: &str) {
    for bad in [
        "[alert]",
        "[emerg]",
        "[crit]",
        "exited on signal",
        "panicked",
    ] {
        assert!(!log.contains(bad), "error log has {bad}:\n{log}");
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
    let out = nginx_command(build, &Tree::flat(dir.clone(), port), vlog.as_deref())
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
        let problems = report.problems_at_exit("nginx -t");
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

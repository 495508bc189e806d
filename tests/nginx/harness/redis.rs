//! A real `redis-server` (Debian's package, `make redis-deps`) as a child process on a free
//! loopback port, without persistence (`--save '' --appendonly no`), in a temporary
//! directory: never the system service. [`RedisServer::restart`] brings it back empty on
//! the same port; [`RedisServer::cli`] runs `redis-cli` against it.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::{free_port, hang_limit, temp_dir};

pub struct RedisServer {
    pub port: u16,
    pub dir: PathBuf,
    /// Arguments after the port and persistence ones (auth, ACL users, TLS).
    args: Vec<String>,
    /// `redis-cli` arguments that authenticate (and select TLS).
    cli_auth: Vec<String>,
    tls: bool,
    child: Option<Child>,
}

impl RedisServer {
    /// A plain server; `args` are more `redis-server` arguments (`--requirepass`, `--user`).
    pub fn start(args: &[&str]) -> RedisServer {
        Self::spawn_new(args, false)
    }

    /// A TLS-only server on its port (`--port 0 --tls-port PORT`), with `args` naming the
    /// certificate files.
    pub fn start_tls(args: &[&str]) -> RedisServer {
        Self::spawn_new(args, true)
    }

    fn spawn_new(args: &[&str], tls: bool) -> RedisServer {
        let mut s = RedisServer {
            port: free_port(),
            dir: temp_dir("redis"),
            args: args.iter().map(|a| a.to_string()).collect(),
            cli_auth: Vec::new(),
            tls,
            child: None,
        };
        s.spawn();
        s
    }

    /// `redis-cli` authenticates with these (e.g. `["--user", "u", "--pass", "p"]`).
    pub fn cli_auth(mut self, args: &[&str]) -> RedisServer {
        self.cli_auth = args.iter().map(|a| a.to_string()).collect();
        self
    }

    fn spawn(&mut self) {
        let port = self.port.to_string();
        let mut cmd = Command::new("redis-server");
        cmd.args(["--bind", "127.0.0.1"]);
        if self.tls {
            cmd.args(["--port", "0", "--tls-port", &port]);
        } else {
            cmd.args(["--port", &port]);
        }
        cmd.args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .arg("--logfile")
            .arg(self.dir.join("redis.log"))
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = cmd.spawn().unwrap_or_else(|e| {
            panic!("cannot run redis-server ({e}): install it with `make redis-deps`")
        });
        self.child = Some(child);
        let deadline = Instant::now() + hang_limit();
        while !self.answers() {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("redis-server exited: {status}\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "redis-server never listened\n{}",
                self.log()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the server accepts connections and (plain) answers a `PING` (`+PONG`, or
    /// `-NOAUTH` when it wants a password): a server that exits on a bad argument may
    /// listen for a moment first.
    fn answers(&self) -> bool {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        if self.tls {
            return true;
        }
        let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
        let mut reply = [0u8; 1];
        s.write_all(b"PING\r\n").is_ok()
            && s.read_exact(&mut reply).is_ok()
            && matches!(reply[0], b'+' | b'-')
    }

    /// redis-server's own log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("redis.log")).unwrap_or_default()
    }

    /// Stops the server (its data is gone: no persistence).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stops it and starts it again, empty, on the same port.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// `redis-cli` against the server (with [`RedisServer::cli_auth`]), its output trimmed.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(&self.cli_auth)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run redis-cli ({e}): `make redis-deps`"));
        assert!(out.status.success(), "redis-cli {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// The keys matching `pattern` in database `db`, sorted.
    pub fn keys(&self, db: u32, pattern: &str) -> Vec<String> {
        let out = self.cli(&["-n", &db.to_string(), "--scan", "--pattern", pattern]);
        let mut keys: Vec<String> = out
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect();
        keys.sort();
        keys
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        if !thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

//! Config pieces instead of retyped server blocks: a [`Server`] block built from directives,
//! and the usual protected [`Site`] (the real provider with its users, an upstream, nginx
//! protecting it with the provider's client, discovery loaded), with extra config where a
//! test needs it.

use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{hang_limit, Build, Nginx, Upstream};
use crate::provider::{
    browser_login, client, config, demo_user, CookieJar, Provider, ANY_CALLBACK,
};

/// The provider client of [`sso`].
pub const CLIENT_ID: &str = "app";
pub const SECRET: &str = "app-secret-0123456789-abcdefghij";

/// The login directives for the provider client [`CLIENT_ID`] of `issuer`, then `extra`.
pub fn sso(issuer: &str, extra: &str) -> String {
    format!(
        r#"
        sso_issuer {issuer};
        sso_client_id {CLIENT_ID};
        sso_client_secret {SECRET};
        sso_scopes openid profile email ak_proxy entitlements;
        {extra}"#
    )
}

/// The provider with its client [`CLIENT_ID`] (any callback) and `users`.
pub fn start_provider(users: Vec<Value>) -> Provider {
    Provider::start(config(vec![client(CLIENT_ID, SECRET, ANY_CALLBACK)], users))
}

/// Waits until the worker has fetched discovery for `host` (the `start` endpoint stops
/// answering 503); the limit only catches a hang (a busy machine makes the fetch slow, not
/// failed).
pub fn wait_ready(n: &Nginx, host: &str) {
    let deadline = Instant::now() + hang_limit();
    loop {
        let r = n.get(
            "/outpost.goauthentik.io/start?rd=/",
            &[("Accept", "text/html"), ("Host", host)],
        );
        if r.status == 302 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "provider discovery never loaded: {} {}\n{}",
            r.status,
            r.text(),
            n.error_log()
        );
        thread::sleep(Duration::from_millis(100));
    }
}

/// `http://localhost:PORT` + `path` on `n`.
pub fn url(n: &Nginx, path: &str) -> String {
    format!("http://localhost:{}{path}", n.port)
}

/// One `server {}` block: `listen 127.0.0.1:%PORT%`, an optional `server_name`, the
/// directives and locations added, and `location /` proxying to the upstream. `%UP%` in
/// anything added is the upstream's address (and `%PORT%`, `%DIR%` are nginx's, see
/// [`Nginx::start`]).
#[derive(Debug, Clone)]
pub struct Server {
    up: String,
    listen: String,
    name: Option<String>,
    lines: Vec<String>,
    root: Option<String>,
}

impl Server {
    /// A server whose `location /` proxies to `up` (an address, `127.0.0.1:PORT`).
    pub fn to(up: &str) -> Server {
        Server {
            up: up.to_owned(),
            listen: String::new(),
            name: None,
            lines: Vec::new(),
            root: Some(String::new()),
        }
    }

    /// `server_name localhost; sso_protect on;`, proxying to `up`.
    pub fn protected(up: &str) -> Server {
        Server::to(up).name("localhost").with("sso_protect on;")
    }

    /// The usual app: [`Server::protected`] with the `sso` directives, and `$sso_reason` and
    /// `$sso_auth_method` on every answer (`X-Reason`, `X-Method`).
    pub fn app(up: &str, sso: &str) -> Server {
        Server::protected(up).with(sso).with(
            "add_header X-Reason $sso_reason always;\n        \
             add_header X-Method $sso_auth_method always;",
        )
    }

    /// `server_name names;`
    pub fn name(mut self, names: &str) -> Server {
        self.name = Some(names.to_owned());
        self
    }

    /// Parameters of the `listen` directive after the address (`reuseport`).
    pub fn listen(mut self, params: &str) -> Server {
        self.listen = format!(" {params}");
        self
    }

    /// Adds directives or locations at server level.
    pub fn with(mut self, text: &str) -> Server {
        self.lines.push(text.to_owned());
        self
    }

    /// Adds directives to `location /` (before its `proxy_pass`).
    pub fn in_root(mut self, text: &str) -> Server {
        let root = self.root.get_or_insert_with(String::new);
        root.push_str("\n            ");
        root.push_str(text);
        self
    }

    /// No `location /`: the server only has the locations added.
    pub fn without_root(mut self) -> Server {
        self.root = None;
        self
    }

    /// The block, as text for [`Nginx::start`].
    pub fn render(&self) -> String {
        let mut s = format!(
            "\n    server {{\n        listen 127.0.0.1:%PORT%{};\n",
            self.listen
        );
        if let Some(name) = &self.name {
            s.push_str(&format!("        server_name {name};\n"));
        }
        for l in &self.lines {
            s.push_str(&format!("        {}\n", l.trim()));
        }
        if let Some(root) = &self.root {
            s.push_str(&format!(
                "        location / {{{root}\n            proxy_pass http://%UP%;\n        }}\n"
            ));
        }
        s.push_str("    }");
        s.replace("%UP%", &self.up)
    }
}

/// The usual setup: the provider with its users, an upstream, nginx protecting it
/// ([`Server::app`]) with the provider's client, discovery loaded.
pub struct Site {
    pub provider: Provider,
    pub up: Upstream,
    pub n: Nginx,
}

/// What [`Site::new`] starts; each method adds to the defaults.
pub struct SiteBuilder {
    build: Build,
    users: Vec<Value>,
    provider: Option<Provider>,
    sso: String,
    server: Vec<String>,
    listen: Option<String>,
    http: String,
    workers: usize,
}

impl Site {
    /// A site whose provider has the demo user, one worker, nothing extra.
    pub fn new(build: Build) -> SiteBuilder {
        SiteBuilder {
            build,
            users: vec![demo_user()],
            provider: None,
            sso: String::new(),
            server: Vec::new(),
            listen: None,
            http: String::new(),
            workers: 1,
        }
    }

    /// A site whose provider has `users`.
    pub fn start(build: Build, users: Vec<Value>) -> Site {
        Site::new(build).users(users).start()
    }

    /// `http://localhost:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        url(&self.n, path)
    }

    /// A browser logged in as `username` / `password` through `/app` (asserted).
    pub fn login(&self, username: &str, password: &str) -> CookieJar {
        let mut jar = CookieJar::new();
        let end = browser_login(&mut jar, &self.url("/app"), username, password);
        assert_eq!(
            end.response.status,
            200,
            "{:#?}\n{}",
            end.hops,
            self.n.error_log()
        );
        jar
    }
}

impl SiteBuilder {
    /// The provider's users (instead of the demo user).
    pub fn users(mut self, users: Vec<Value>) -> SiteBuilder {
        self.users = users;
        self
    }

    /// A provider the test started itself (its own clients or issuer; it must have the
    /// client [`CLIENT_ID`]).
    pub fn provider(mut self, provider: Provider) -> SiteBuilder {
        self.provider = Some(provider);
        self
    }

    /// More `sso_*` directives after [`sso`]'s.
    pub fn sso(mut self, extra: &str) -> SiteBuilder {
        self.sso.push_str(extra);
        self
    }

    /// More server-level config (directives, locations; `%UP%` is the upstream).
    pub fn server(mut self, extra: &str) -> SiteBuilder {
        self.server.push(extra.to_owned());
        self
    }

    /// Parameters of the server's `listen` (`reuseport`).
    pub fn listen(mut self, params: &str) -> SiteBuilder {
        self.listen = Some(params.to_owned());
        self
    }

    /// More `http {}` content after the server (other servers; `%UP%` is the upstream).
    pub fn http(mut self, extra: &str) -> SiteBuilder {
        self.http.push_str(extra);
        self
    }

    /// `worker_processes`.
    pub fn workers(mut self, n: usize) -> SiteBuilder {
        self.workers = n;
        self
    }

    pub fn start(self) -> Site {
        let provider = match self.provider {
            Some(p) => p,
            None => start_provider(self.users),
        };
        let up = Upstream::start();
        let mut server = Server::app(&up.addr(), &sso(&provider.issuer, &self.sso));
        if let Some(params) = &self.listen {
            server = server.listen(params);
        }
        for extra in &self.server {
            server = server.with(extra);
        }
        let http = format!(
            "{}\n{}",
            server.render(),
            self.http.replace("%UP%", &up.addr())
        );
        let n = Nginx::start_workers(self.build, &http, self.workers);
        wait_ready(&n, &format!("localhost:{}", n.port));
        Site { provider, up, n }
    }
}

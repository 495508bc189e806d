//! Nginx Proxy Manager's layout (docker/npm/README.md), without docker: nginx runs with a
//! config tree shaped like NPM's image — its main `nginx.conf` (the module config included
//! from `/etc/nginx/modules/*.conf` in the main context, `/data/nginx/custom/root_top.conf`,
//! the http-level includes, the admin interface on its own port), and proxy host files
//! written the way NPM's `proxy_host.conf` template renders them (`set $forward_scheme`,
//! `$server`, `$port`, block-exploits, `proxy.conf`, the "Advanced" field where NPM puts it).
//! The module config, the application's "Advanced" snippet and the admin UI's snippet are
//! the shipped files (docker/npm/rootfs/…, nginx-conf/nginx-proxy-manager.conf,
//! docker/npm/npm-admin-advanced.conf), filled in with this test's provider and paths.
//!
//! The configs here are written for this test, after the structure of NPM v2.15.1's
//! `docker/rootfs/etc/nginx` and `backend/templates`; they are not NPM's files.

use std::path::Path;

use serde_json::json;

use crate::harness::nginx::{assert_no_crash_in, master_process, Tree};
use crate::harness::site::wait_ready;
use crate::harness::{free_port, repo_root, temp_dir, Build, Nginx, Upstream};
use crate::on_both_nginx;
use crate::provider::{
    browser_login, client, config, demo_user, CookieJar, Provider, ANY_CALLBACK,
};

const APP_SECRET: &str = "my-app-secret-0123456789-abcdefghij";
const ADMIN_SECRET: &str = "npm-admin-secret-0123456789-abcdef";
/// What authentik's ak_proxy mapping would have fetched from NPM's `POST /api/tokens`: an
/// opaque JWT as far as nginx is concerned.
const NPM_TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzY29wZSI6WyJ1c2VyIl19.c2lnbmF0dXJl";

/// The shipped file `rel` (relative to the repository).
fn shipped(rel: &str) -> String {
    std::fs::read_to_string(repo_root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// `snippet` with the argument of each listed directive replaced (each must be there, not
/// commented out), NPM's `/data/` paths moved under `root`, and, when `keep_sub_filter` is
/// false, the `sub_filter*` lines left out.
fn fill(snippet: &str, root: &Path, values: &[(&str, &str)], keep_sub_filter: bool) -> String {
    let mut found = vec![0; values.len()];
    let mut out = String::new();
    for line in snippet.lines() {
        let body = line.trim_start();
        let indent = &line[..line.len() - body.len()];
        if !keep_sub_filter && body.starts_with("sub_filter") {
            continue;
        }
        let mut replaced = None;
        for (i, (directive, value)) in values.iter().enumerate() {
            if body.starts_with(&format!("{directive} ")) {
                found[i] += 1;
                replaced = Some(format!("{indent}{directive} {value};"));
            }
        }
        out.push_str(replaced.as_deref().unwrap_or(line));
        out.push('\n');
    }
    for ((directive, _), n) in values.iter().zip(found) {
        assert_eq!(n, 1, "`{directive}` once in the snippet:\n{snippet}");
    }
    out.replace("/data/", &format!("{}/data/", root.display()))
}

/// nginx ≥ 1.25.1 has the `http2` directive NPM's `_listen.conf` writes; Debian's 1.22 does
/// not (NPM's OpenResty 1.27 does).
fn http2_line(build: Build) -> &'static str {
    match build {
        Build::Vendored => "  http2 off;",
        Build::Debian => "  # http2 off; (NPM writes it; nginx 1.22 has no such directive)",
    }
}

struct ProxyHost<'a> {
    id: u32,
    domain: &'a str,
    forward_host: &'a str,
    forward_port: u16,
    block_exploits: bool,
    advanced: String,
}

/// A proxy host file as NPM renders `backend/templates/proxy_host.conf` for a host without a
/// certificate (so no `_certificates`, `_hsts` or `_forced_ssl` parts), caching off,
/// websockets off. NPM leaves out its own `location /` when the advanced config has one.
fn proxy_host_conf(build: Build, root: &Path, port: u16, h: &ProxyHost) -> String {
    let exploits = if h.block_exploits {
        "  # Block Exploits\n  include conf.d/include/block-exploits.conf;\n"
    } else {
        ""
    };
    let has_root_location = h
        .advanced
        .lines()
        .any(|l| l.trim_start().starts_with("location / "));
    let default_location = if has_root_location {
        String::new()
    } else {
        "  location / {\n\n    # Proxy!\n    include conf.d/include/proxy.conf;\n  }\n".to_owned()
    };
    format!(
        r#"# ------------------------------------------------------------
# {domain}
# ------------------------------------------------------------

server {{
  set $forward_scheme http;
  set $server         "{forward_host}";
  set $port           {forward_port};

  listen 127.0.0.1:{port};
  #listen [::]:80;
  server_name {domain};
{http2}

{exploits}
  access_log {root}/data/logs/proxy-host-{id}_access.log proxy;
  error_log {root}/data/logs/proxy-host-{id}_error.log warn;

{advanced}

{default_location}
  # Custom
  include {root}/data/nginx/custom/server_proxy[.]conf;
}}
"#,
        domain = h.domain,
        forward_host = h.forward_host,
        forward_port = h.forward_port,
        http2 = http2_line(build),
        id = h.id,
        advanced = h.advanced,
        root = root.display(),
    )
}

/// NPM's main nginx.conf, in shape: the module configs and `root_top.conf` in the main
/// context, the custom `events`/`http_top`/`http` includes, the generated host directories.
/// The temp paths NPM's OpenResty has compiled in (/var/cache/nginx/…) are set explicitly.
fn main_conf(root: &Path) -> String {
    format!(
        r#"# run nginx in foreground
daemon off;
master_process {master};
pid {root}/run/nginx/nginx.pid;
worker_processes 1;
pcre_jit on;
error_log {root}/data/logs/fallback_error.log info;

# dynamic modules
include {root}/etc/nginx/modules/*.conf;

# Custom
include {root}/data/nginx/custom/root_top[.]conf;

events {{
	include {root}/data/nginx/custom/events[.]conf;
}}

http {{
	include                       {root}/etc/nginx/mime.types;
	default_type                  application/octet-stream;
	sendfile                      on;
	server_tokens                 off;
	tcp_nopush                    on;
	tcp_nodelay                   on;
	client_body_temp_path         {root}/tmp/nginx/body 1 2;
	proxy_temp_path               {root}/var/cache/nginx/proxy_temp;
	fastcgi_temp_path             {root}/var/cache/nginx/fastcgi_temp;
	uwsgi_temp_path               {root}/var/cache/nginx/uwsgi_temp;
	scgi_temp_path                {root}/var/cache/nginx/scgi_temp;
	keepalive_timeout             90s;
	proxy_connect_timeout         90s;
	proxy_send_timeout            90s;
	proxy_read_timeout            90s;
	gzip                          on;
	client_max_body_size          2000m;
	server_names_hash_bucket_size 1024;
	proxy_http_version            1.1;
	proxy_set_header              X-Forwarded-Scheme $scheme;
	proxy_set_header              X-Forwarded-For $proxy_add_x_forwarded_for;
	proxy_set_header              Accept-Encoding "";
	proxy_cache                   off;
	proxy_cache_path              {root}/var/lib/nginx/cache/public  levels=1:2 keys_zone=public-cache:1m max_size=16m;

	include {root}/etc/nginx/conf.d/include/log-proxy[.]conf;
	include {root}/etc/nginx/conf.d/include/resolvers[.]conf;

	map $host $forward_scheme {{
		default http;
	}}
	map $http_x_forwarded_proto $x_forwarded_proto {{
		"http" "http";
		"https" "https";
		default $scheme;
	}}
	map $http_x_forwarded_scheme $x_forwarded_scheme {{
		"http" "http";
		"https" "https";
		default $scheme;
	}}

	set_real_ip_from 10.0.0.0/8;
	set_real_ip_from 172.16.0.0/12;
	set_real_ip_from 192.168.0.0/16;
	real_ip_header X-Real-IP;
	real_ip_recursive on;

	# Custom
	include {root}/data/nginx/custom/http_top[.]conf;

	# Files generated by NPM
	include {root}/etc/nginx/conf.d/*.conf;
	include {root}/data/nginx/default_host/*.conf;
	include {root}/data/nginx/proxy_host/*.conf;
	include {root}/data/nginx/redirection_host/*.conf;
	include {root}/data/nginx/dead_host/*.conf;
	include {root}/data/nginx/temp/*.conf;

	# Custom
	include {root}/data/nginx/custom/http[.]conf;
}}

# Custom
include {root}/data/nginx/custom/root[.]conf;
"#,
        root = root.display(),
        master = master_process(),
    )
}

/// The fixed files of the tree: conf.d/include/*, the "not configured" default server and the
/// admin interface (NPM's port 81, here `admin_port`, its API backend at `backend`).
fn write_fixed_files(root: &Path, port: u16, admin_port: u16, backend: &str) {
    let w = |rel: &str, text: String| {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    let r = root.display();
    w(
        "etc/nginx/mime.types",
        "types {\n    text/html html;\n    application/javascript js;\n    text/css css;\n}\n"
            .into(),
    );
    w(
        "etc/nginx/conf.d/include/proxy.conf",
        "add_header       X-Served-By $host;\n\
         proxy_set_header Host $host;\n\
         proxy_set_header X-Forwarded-Scheme $x_forwarded_scheme;\n\
         proxy_set_header X-Forwarded-Proto  $x_forwarded_proto;\n\
         proxy_set_header X-Forwarded-For    $proxy_add_x_forwarded_for;\n\
         proxy_set_header X-Real-IP          $remote_addr;\n\
         proxy_pass       $forward_scheme://$server:$port$request_uri;\n"
            .into(),
    );
    // The same mechanism as NPM's list (flags set from the query string in the rewrite
    // phase, then `return 403`), with a few of its patterns.
    w(
        "etc/nginx/conf.d/include/block-exploits.conf",
        r#"set $block_sql_injections 0;
if ($query_string ~ "union.*select.*\(") {
	set $block_sql_injections 1;
}
if ($block_sql_injections = 1) {
	return 403;
}
set $block_file_injections 0;
if ($query_string ~ "[a-zA-Z0-9_]=http://") {
	set $block_file_injections 1;
}
if ($block_file_injections = 1) {
	return 403;
}
"#
        .into(),
    );
    w(
        "etc/nginx/conf.d/include/log-proxy.conf",
        format!(
            "log_format proxy '[$time_local] $upstream_status $status - $request_method $scheme $host \"$request_uri\" [Client $remote_addr] [Sent-to $server]';\n\
             log_format standard '[$time_local] $status - $request_method $scheme $host \"$request_uri\" [Client $remote_addr]';\n\
             access_log {r}/data/logs/fallback_http_access.log proxy;\n"
        ),
    );
    w(
        "etc/nginx/conf.d/default.conf",
        format!(
            r#"# "You are not configured" page: the default server
server {{
	listen 127.0.0.1:{port};
	set $forward_scheme "http";
	set $server "127.0.0.1";
	set $port "80";
	server_name localhost-nginx-proxy-manager;
	access_log {r}/data/logs/fallback_http_access.log standard;
	error_log {r}/data/logs/fallback_http_error.log warn;
	include conf.d/include/block-exploits.conf;
	location / {{
		index index.html;
		root {r}/var/www/html;
	}}
}}
"#
        ),
    );
    w(
        "var/www/html/index.html",
        "congratulations-not-configured\n".into(),
    );
    w(
        "etc/nginx/conf.d/production.conf",
        format!(
            r#"# Admin Interface
server {{
	listen 127.0.0.1:{admin_port} default_server;
	server_name nginxproxymanager;
	root {r}/app/frontend;
	access_log off;

	location /api {{
		return 302 /api/;
	}}
	location /api/ {{
		add_header            X-Served-By $host;
		proxy_set_header Host $host;
		proxy_set_header      X-Forwarded-Scheme $scheme;
		proxy_set_header      X-Forwarded-Proto  $scheme;
		proxy_set_header      X-Forwarded-For    $remote_addr;
		proxy_pass            http://{backend}/;
	}}
	location / {{
		index index.html;
		try_files $uri $uri.html $uri/ /index.html;
	}}
}}
"#
        ),
    );
    w(
        "app/frontend/index.html",
        "<!doctype html><html><head><title>Nginx Proxy Manager</title></head><body>npm-admin-ui</body></html>\n"
            .into(),
    );
    // The custom main-context include exists and is live: a main-level directive in it.
    w(
        "data/nginx/custom/root_top.conf",
        "# /data/nginx/custom/root_top.conf (main context)\nworker_shutdown_timeout 10s;\n".into(),
    );
    for dir in [
        "run/nginx",
        "tmp/nginx/body",
        "var/cache/nginx/proxy_temp",
        "var/lib/nginx/cache/public",
        "data/logs",
        "data/nginx/default_host",
        "data/nginx/proxy_host",
        "data/nginx/redirection_host",
        "data/nginx/dead_host",
        "data/nginx/temp",
    ] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
}

/// nginx on the NPM-shaped tree: `nginx -p ROOT/etc/nginx/ -c ROOT/etc/nginx/nginx.conf`
/// (NPM's prefix is /etc/nginx, so `conf.d/include/…` resolves as it does there).
fn start_npm(build: Build, root: &Path, port: u16) -> Nginx {
    let prefix = root.join("etc/nginx");
    Nginx::start_tree(
        build,
        Tree {
            dir: root.to_owned(),
            conf: prefix.join("nginx.conf"),
            prefix,
            error_log: root.join("data/logs/fallback_error.log"),
            pid: root.join("run/nginx/nginx.pid"),
            port,
        },
    )
}

/// Every error log of the tree (the fallback one and each proxy host's).
fn logs(root: &Path) -> String {
    let mut all = String::new();
    if let Ok(dir) = std::fs::read_dir(root.join("data/logs")) {
        for e in dir.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.contains("error") {
                let text = std::fs::read_to_string(e.path()).unwrap_or_default();
                all.push_str(&format!("--- {name}\n{text}"));
            }
        }
    }
    all
}

/// `http://HOST:PORT` + `path` on `n`.
fn url(n: &Nginx, host: &str, path: &str) -> String {
    format!("http://{host}:{}{path}", n.port)
}

fn refs<'a>(v: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    v.iter().map(|(k, s)| (*k, s.as_str())).collect()
}

fn npm_layout_login(build: Build) {
    build.require();
    // The provider is known to browsers as authentik.example.test (the test client sends
    // every name to 127.0.0.1); nginx reaches it through sso_backchannel_url, as NPM reaches
    // authentik-server:9000 in the compose file.
    let mut user = demo_user();
    user["ak_proxy"]["user_attributes"]["additionalHeaders"]["X-Npm-Token"] = json!(NPM_TOKEN);
    let mut guest = demo_user();
    guest["sub"] = json!("c3a1-guest");
    guest["username"] = json!("guest");
    guest["password"] = json!("guest");
    guest["groups"] = json!(["users"]);
    let mut cfg = config(
        vec![
            client("my-app", APP_SECRET, ANY_CALLBACK),
            client("npm-admin", ADMIN_SECRET, ANY_CALLBACK),
        ],
        vec![user, guest],
    );
    cfg["issuer"] = json!("http://authentik.example.test:{port}/application/o/shared/");
    let provider = Provider::start(cfg);
    let backchannel = format!("http://127.0.0.1:{}", provider.port);

    let app = Upstream::start(); // the application behind proxy host 1
    let npm_api = Upstream::start(); // NPM's API backend (127.0.0.1:3000 in the image)
    let root = temp_dir(&format!("npm-{build:?}"));
    let port = free_port();
    let admin_port = free_port();
    write_fixed_files(&root, port, admin_port, &npm_api.addr());
    std::fs::write(root.join("etc/nginx/nginx.conf"), main_conf(&root)).unwrap();

    // The image's module config, pointed at this build's module.
    let module_conf = shipped("docker/npm/rootfs/etc/nginx/modules/ngx_http_sso_module.conf");
    let image_path = "/usr/lib/nginx/modules/ngx_http_sso_module.so";
    assert!(module_conf.contains(&format!("load_module {image_path};")));
    std::fs::create_dir_all(root.join("etc/nginx/modules")).unwrap();
    std::fs::write(
        root.join("etc/nginx/modules/ngx_http_sso_module.conf"),
        module_conf.replace(image_path, &build.module().display().to_string()),
    )
    .unwrap();

    // The secrets in NPM's /data volume.
    std::fs::create_dir_all(root.join("data/sso")).unwrap();
    std::fs::write(
        root.join("data/sso/my-app.secret"),
        format!("{APP_SECRET}\n"),
    )
    .unwrap();
    std::fs::write(
        root.join("data/sso/npm-admin.secret"),
        format!("{ADMIN_SECRET}\n"),
    )
    .unwrap();
    std::fs::write(
        root.join("data/sso/session.keys"),
        "# openssl rand -hex 32\n4f1c9a0e7d2b6c8f5a3e1d0c9b8a7f6e5d4c3b2a1908f7e6d5c4b3a291807f6e\n",
    )
    .unwrap();

    let issuer = provider.issuer.as_str();
    let common = |client_id: &str, secret_file: &str| {
        vec![
            ("sso_issuer", issuer.to_owned()),
            ("sso_backchannel_url", backchannel.clone()),
            ("sso_client_id", client_id.to_owned()),
            ("sso_client_secret_file", secret_file.to_owned()),
        ]
    };
    let app_values = common("my-app", "/data/sso/my-app.secret");
    let mut admin_values = common("npm-admin", "/data/sso/npm-admin.secret");
    admin_values.push(("sso_require_group", "admins".to_owned()));
    let app_advanced = fill(
        &shipped("nginx-conf/nginx-proxy-manager.conf"),
        &root,
        &refs(&app_values),
        true,
    );
    // ngx_http_sub_module: in NPM's OpenResty and Debian's nginx, not in the vendored build.
    let sub_filter = build == Build::Debian;
    let admin_advanced = fill(
        &shipped("docker/npm/npm-admin-advanced.conf"),
        &root,
        &refs(&admin_values),
        sub_filter,
    );
    let hosts = [
        ProxyHost {
            id: 1,
            domain: "app.example.test",
            forward_host: "127.0.0.1",
            forward_port: app.port,
            block_exploits: true,
            advanced: app_advanced,
        },
        ProxyHost {
            id: 2,
            domain: "npm.example.test",
            forward_host: "127.0.0.1",
            forward_port: admin_port,
            block_exploits: true,
            advanced: admin_advanced,
        },
    ];
    for h in &hosts {
        std::fs::write(
            root.join(format!("data/nginx/proxy_host/{}.conf", h.id)),
            proxy_host_conf(build, &root, port, h),
        )
        .unwrap();
    }

    let n = start_npm(build, &root, port);
    let app_host = format!("app.example.test:{port}");
    let npm_host = format!("npm.example.test:{port}");
    wait_ready(&n, &app_host);
    wait_ready(&n, &npm_host);

    // An unknown host lands on NPM's default page, not gated.
    let r = n.get(
        "/",
        &[("Host", "nobody.example.test"), ("Accept", "text/html")],
    );
    assert_eq!(r.status, 200);
    assert!(r.text().contains("congratulations-not-configured"));

    // NPM's block-exploits include still answers before any login.
    let r = n.get(
        "/?q=union+select+(1)",
        &[("Host", &app_host), ("Accept", "text/html")],
    );
    assert_eq!(r.status, 403, "block-exploits on the protected host");

    // The application: a browser is sent to log in, comes back, the upstream gets the
    // identity through NPM's proxy.conf.
    let r = n.get(
        "/dashboard",
        &[("Host", &app_host), ("Accept", "text/html")],
    );
    assert_eq!(r.status, 302);
    assert!(
        r.location()
            .unwrap()
            .contains("/outpost.goauthentik.io/start?rd="),
        "{:?}",
        r.location()
    );
    let mut jar = CookieJar::new();
    let want = url(&n, "app.example.test", "/dashboard?tab=2");
    let end = browser_login(&mut jar, &want, "demo", "demo");
    assert_eq!(end.response.status, 200, "{:#?}\n{}", end.hops, logs(&root));
    assert!(
        end.visited("http://authentik.example.test:"),
        "logged in at the provider's public name: {:#?}",
        end.hops
    );
    assert_eq!(end.url, want, "back where the user wanted to go");
    let got = end.response.upstream();
    assert_eq!(got.values("x-authentik-username"), ["demo"]);
    assert_eq!(got.values("x-authentik-email"), ["demo@example.org"]);
    assert_eq!(got.values("x-authentik-groups"), ["admins|users"]);
    assert_eq!(got.values("x-authentik-jwt").len(), 1);
    assert_eq!(
        got.values("host"),
        ["app.example.test"],
        "proxy.conf's Host $host"
    );
    assert_eq!(got.values("x-real-ip"), ["127.0.0.1"]);
    assert_eq!(got.values("x-forwarded-proto"), ["http"]);
    assert_eq!(
        got.target, "/dashboard?tab=2",
        "proxy.conf passes $request_uri"
    );
    assert_eq!(end.response.header("X-Served-By"), Some("app.example.test"));
    // A forged identity header from the client does not get through.
    let r = jar.request(
        "GET",
        &url(&n, "app.example.test", "/again"),
        &[("X-authentik-username", "root")],
        b"",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.upstream().values("x-authentik-username"), ["demo"]);

    // NPM's admin UI through its proxy host: unauthenticated API calls are refused with 401,
    // even with a token header of the client's own.
    let r = n.get(
        "/api/users/me",
        &[
            ("Host", &npm_host),
            ("Accept", "application/json"),
            ("X-Npm-Token", "forged"),
        ],
    );
    assert_eq!(r.status, 401);
    let admin_root = url(&n, "npm.example.test", "/");
    let end = browser_login(&mut jar, &admin_root, "demo", "demo");
    assert_eq!(end.response.status, 200, "{:#?}\n{}", end.hops, logs(&root));
    assert_eq!(end.url, admin_root);
    let page = end.response.text();
    assert!(page.contains("npm-admin-ui"), "the admin UI's page: {page}");
    if sub_filter {
        assert!(
            page.contains(&format!(
                "<script>var t=\"{NPM_TOKEN}\";if(t)localStorage.setItem(\"authentications\","
            )),
            "the UI is handed the token: {page}"
        );
    }
    // The API gets the token from additionalHeaders as its Bearer credential, replacing what
    // the UI (or anyone) sent, and through NPM's admin server on "port 81" to its backend.
    let r = jar.request(
        "GET",
        &url(&n, "npm.example.test", "/api/users/me?expand=permissions"),
        &[
            ("Accept", "application/json"),
            ("Authorization", "Bearer stale-token-from-localstorage"),
            ("X-Npm-Token", "forged"),
        ],
        b"",
    );
    assert_eq!(r.status, 200, "{}\n{}", r.text(), logs(&root));
    let got = r.upstream();
    assert_eq!(got.target, "/users/me?expand=permissions");
    assert_eq!(
        got.values("authorization"),
        [format!("Bearer {NPM_TOKEN}").as_str()]
    );
    assert!(
        got.values("x-npm-token").is_empty(),
        "not passed on itself: {got:?}"
    );
    assert_eq!(got.values("x-authentik-username"), ["demo"]);

    // A user outside the required group gets 403, not the admin UI.
    let mut other = CookieJar::new();
    let end = browser_login(&mut other, &admin_root, "guest", "guest");
    assert_eq!(end.response.status, 403, "{:#?}", end.hops);
    let r = other.request(
        "GET",
        &url(&n, "npm.example.test", "/api/users/me"),
        &[("Accept", "application/json")],
        b"",
    );
    assert_eq!(r.status, 403);
    assert_no_crash_in(&logs(&root));
    n.assert_no_crash();
}

on_both_nginx!(npm_layout_login);

//! Many nodes (README "Directives" → "sso_redis"): `sso_redis URL
//! [trusted_certificate=FILE];`, `http` only. This checks and records what was asked for;
//! the sync thread is `net/redis.rs`, which reads it from the `http` level at worker start.
//!
//! The URL's password never reaches a log line or a `Debug` output: errors and logs show
//! [`RedisSpec::shown`], where it is `***`.

use std::fmt;

use ngx::ffi::{ngx_command_t, NGX_CONF_TAKE12, NGX_HTTP_MAIN_CONF};
use ngx::ngx_string;

use super::{command, directive_handler, set_once, Directive, LocConf};

/// This family's entries of the module's command table.
pub const COMMANDS: [ngx_command_t; 1] = [command(
    ngx_string!("sso_redis"),
    NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE12,
    set_redis,
)];

/// What `sso_redis` asked for.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisSpec {
    /// The URL as configured (with the password: for the client only).
    url: String,
    /// The URL with the password replaced by `***` (logs, errors).
    pub shown: String,
    /// `rediss://`.
    pub tls: bool,
    /// The database number (`/db`), 0 without one.
    pub db: u32,
    /// `trusted_certificate=FILE`: the CA certificates (PEM) a `rediss://` server's
    /// certificate must chain to, instead of the system store.
    pub trusted_certificate: Option<Vec<u8>>,
}

impl RedisSpec {
    /// The URL for the client (it holds the password: never log it).
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl fmt::Debug for RedisSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisSpec")
            .field("url", &self.shown)
            .field("trusted_certificate", &self.trusted_certificate.is_some())
            .finish()
    }
}

/// Checks `redis://[user[:password]@]host[:port][/db]` (or `rediss://`), and returns the
/// spec; the error names the URL with its password hidden.
pub fn parse_url(url: &str) -> Result<RedisSpec, String> {
    let (tls, rest) = if let Some(r) = url.strip_prefix("redis://") {
        (false, r)
    } else if let Some(r) = url.strip_prefix("rediss://") {
        (true, r)
    } else {
        let scheme = url.split_once("://").map_or("", |(s, _)| s);
        let shown = redact(url);
        return Err(if scheme.is_empty() {
            format!("invalid URL \"{shown}\", it must start with \"redis://\" or \"rediss://\"")
        } else {
            format!(
                "invalid URL \"{shown}\": scheme \"{}\" is not \"redis\" or \"rediss\"",
                scheme.escape_debug()
            )
        });
    };
    let shown = redact(url);
    let bad = |why: String| format!("invalid URL \"{shown}\": {why}");
    if rest.contains(['?', '#']) {
        return Err(bad("a query or fragment is not supported".to_owned()));
    }
    // A `/` before the last `@` is in the userinfo: refused before anything else looks at
    // it, so no later message quotes a piece of the password.
    if rest
        .rsplit_once('@')
        .is_some_and(|(userinfo, _)| userinfo.contains('/'))
    {
        return Err(bad(
            "a \"/\" in the user or password must be percent-encoded (%2F)".to_owned(),
        ));
    }
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let host_port = match authority.rsplit_once('@') {
        Some((userinfo, host_port)) => {
            if userinfo.is_empty() {
                return Err(bad("empty user".to_owned()));
            }
            host_port
        }
        None => authority,
    };
    let (host, port) = match host_port.strip_prefix('[') {
        Some(v6) => {
            let (host, after) = v6
                .split_once(']')
                .ok_or_else(|| bad("unclosed \"[\" in the host".to_owned()))?;
            (host, after.strip_prefix(':'))
        }
        None => match host_port.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (host_port, None),
        },
    };
    if host.is_empty() {
        return Err(bad("no host".to_owned()));
    }
    if !host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':'))
    {
        return Err(bad(format!("invalid host \"{}\"", host.escape_debug())));
    }
    if let Some(p) = port {
        if p.parse::<u16>().ok().filter(|&p| p > 0).is_none() {
            return Err(bad(format!("invalid port \"{}\"", p.escape_debug())));
        }
    }
    let db = if path.is_empty() {
        0
    } else {
        path.parse::<u32>()
            .ok()
            .filter(|_| path.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| bad(format!("invalid database \"{}\"", path.escape_debug())))?
    };
    Ok(RedisSpec {
        url: url.to_owned(),
        shown,
        tls,
        db,
        trusted_certificate: None,
    })
}

/// `url` with the password of its userinfo (if any) replaced by `***`.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.escape_debug().to_string();
    };
    // The userinfo ends at the last `@`, wherever it is: a password with an unencoded `/`,
    // `?` or `#` (a URL that will not parse) must not be shown either.
    let shown = match rest.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    };
    shown.escape_debug().to_string()
}

fn redis(d: &Directive<'_>, conf: &mut LocConf) -> Result<(), String> {
    let (url, params) = match d.args.split_first() {
        Some((url, params)) if !url.is_empty() => (*url, params),
        _ => return Err("empty URL".to_owned()),
    };
    let mut spec = parse_url(url)?;
    for p in params {
        let Some(path) = p.strip_prefix("trusted_certificate=") else {
            return Err(format!("invalid parameter \"{}\"", p.escape_debug()));
        };
        if !spec.tls {
            return Err(format!(
                "trusted_certificate= needs a \"rediss://\" URL, not \"{}\"",
                spec.shown
            ));
        }
        if path.is_empty() {
            return Err("empty trusted_certificate=".to_owned());
        }
        let file = d.read_file(path)?;
        if !file
            .bytes
            .windows(27)
            .any(|w| w == b"-----BEGIN CERTIFICATE-----")
        {
            return Err(format!("no PEM certificate in \"{}\"", file.path));
        }
        spec.trusted_certificate = Some(file.bytes);
    }
    set_once(&mut conf.redis, std::sync::Arc::new(spec))
}
directive_handler!(set_redis, redis);

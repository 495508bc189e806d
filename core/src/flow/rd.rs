//! `rd`: where the browser may be sent after login (README "Endpoints").

use std::fmt::Write as _;

use super::MAX_RD_LEN;
use crate::url::{split_host_port, HttpUrl};

/// A safe redirect target for `rd` (already percent-decoded, see [`query_param`](super::query_param)), or `/`.
///
/// Honoured:
/// * a path starting with exactly one `/` (not `//`, not `/\`);
/// * an `http`/`https` URL (scheme case-insensitive) whose host equals the request's host
///   (ASCII case-insensitive) and whose port matches: when `request_host` carries a port, the
///   URL's effective port (explicit, else 80/443 by scheme) must equal it; when it carries
///   none, the URL must have no port or its scheme's default one. The scheme itself is not
///   compared (the request's scheme is not known here);
/// * with `cookie_domain`, an `http`/`https` URL whose host equals the domain (a leading `.`
///   ignored) or ends with `.` + domain, on any port (cookies ignore ports).
///
/// Refused (→ `/`): any control character (tabs and newlines included: browsers strip them,
/// turning `/\t/evil` into `//evil`), any backslash, userinfo (`@` in the authority), an empty
/// authority (`https:///evil.com`), hosts with characters outside `A-Z a-z 0-9 . - _` or a
/// bracketed IPv6 literal (so no percent-encoded or non-ASCII/IDN hosts: use the punycode
/// form), anything longer than [`MAX_RD_LEN`] before or after percent-encoding, every other
/// scheme.
///
/// The returned string has spaces, `"`, `<`, `>`, `` ` `` and non-ASCII characters
/// percent-encoded, so it is safe in a `Location` header and in HTML.
pub fn validate_rd(rd: &str, request_host: &str, cookie_domain: Option<&str>) -> String {
    if rd_is_safe(rd, request_host, cookie_domain) {
        let out = encode_location(rd);
        // The limit holds for what is returned: percent-encoding makes a non-ASCII
        // character up to 12 bytes long.
        if out.len() <= MAX_RD_LEN {
            return out;
        }
    }
    "/".to_owned()
}

fn rd_is_safe(rd: &str, request_host: &str, cookie_domain: Option<&str>) -> bool {
    if rd.is_empty() || rd.len() > MAX_RD_LEN {
        return false;
    }
    if rd.chars().any(|c| c.is_control() || c == '\\') {
        return false;
    }
    let bytes = rd.as_bytes();
    if bytes.first() == Some(&b'/') {
        return bytes.get(1) != Some(&b'/');
    }
    let Some(url) = HttpUrl::parse(rd) else {
        return false;
    };
    let Some((host, port)) = split_host_port(url.authority) else {
        return false;
    };
    let default_port = url.default_port();
    let effective = port.unwrap_or(default_port);

    if let Some((req_host, req_port)) = split_host_port(request_host) {
        if host.eq_ignore_ascii_case(req_host) {
            let port_ok = match req_port {
                Some(p) => effective == p,
                None => effective == default_port,
            };
            if port_ok {
                return true;
            }
        }
    }
    if let Some(domain) = cookie_domain {
        let domain = domain.strip_prefix('.').unwrap_or(domain);
        if !domain.is_empty() && split_host_port(domain).is_some_and(|(_, p)| p.is_none()) {
            if host.eq_ignore_ascii_case(domain) {
                return true;
            }
            if host.len() > domain.len() {
                let cut = host.len() - domain.len();
                if let (Some(head), Some(tail)) = (host.get(..cut), host.get(cut..)) {
                    if head.ends_with('.') && head.len() > 1 && tail.eq_ignore_ascii_case(domain) {
                        return true;
                    }
                }
            }
        }
    }
    false
}

fn encode_location(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            ' ' | '"' | '<' | '>' | '`' => {
                let _ = write!(out, "%{:02X}", c as u32);
            }
            c if c.is_ascii() => out.push(c),
            c => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    let _ = write!(out, "%{b:02X}");
                }
            }
        }
    }
    out
}

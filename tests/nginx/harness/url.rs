//! URLs as the tests handle them: split, resolved against a base, percent-encoded and
//! decoded, query parameters.

use std::collections::HashMap;

/// `(scheme, host, port, path_and_query)` of an absolute http(s) URL; the host keeps the
/// brackets of an IPv6 literal.
pub fn split_url(url: &str) -> (String, String, u16, String) {
    let (scheme, rest) = url
        .split_once("://")
        .unwrap_or_else(|| panic!("not an absolute URL: {url}"));
    let scheme = scheme.to_ascii_lowercase();
    let (authority, path) = match rest.find(['/', '?', '#']) {
        Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_owned()),
        Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
        None => (rest, "/".to_owned()),
    };
    let path = path.split('#').next().unwrap().to_owned();
    let authority = authority.rsplit('@').next().unwrap();
    let default_port = if scheme == "https" { 443 } else { 80 };
    let (host, port) = if let Some(end) = authority.strip_prefix('[').and_then(|a| a.find(']')) {
        let host = &authority[..end + 2];
        let port = authority[end + 2..]
            .strip_prefix(':')
            .map(|p| p.parse().expect("port"))
            .unwrap_or(default_port);
        (host.to_owned(), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), p.parse().expect("port")),
            None => (authority.to_owned(), default_port),
        }
    };
    (scheme, host.to_ascii_lowercase(), port, path)
}

/// Resolves a `Location` (absolute, scheme-relative, absolute-path or relative) against the
/// URL it came from.
pub fn resolve_url(base: &str, location: &str) -> String {
    if location.starts_with("http://") || location.starts_with("https://") {
        return location.to_owned();
    }
    let (scheme, host, port, path) = split_url(base);
    if let Some(rest) = location.strip_prefix("//") {
        return format!("{scheme}://{rest}");
    }
    let origin = format!("{scheme}://{host}:{port}");
    if location.starts_with('/') {
        return format!("{origin}{location}");
    }
    let path_only = path.split('?').next().unwrap();
    if location.starts_with('?') {
        return format!("{origin}{path_only}{location}");
    }
    let dir = &path_only[..=path_only.rfind('/').unwrap_or(0)];
    format!("{origin}{dir}{location}")
}

/// One HTTP/1.1 request to an absolute `http://` URL on a fresh connection
/// (`Connection: close`, no redirect following). The `Host` header is the URL's authority;
/// the connection goes to the URL's host when it is an IP literal and to 127.0.0.1
/// otherwise (`localhost`, `app.sso.test`, ...), like `curl --resolve '*:PORT:127.0.0.1'`,
/// so tests can use real-looking host names for domain-level SSO.
pub fn form_urlencode(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", url_encode(k), url_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes `%XX` and `+` (form encoding).
pub fn url_decode(s: &str) -> String {
    percent_decode(&s.replace('+', " "))
}

/// Decodes `%XX` only (a `+` stays a `+`).
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The query parameters of a URL, decoded.
pub fn query_params(url: &str) -> HashMap<String, String> {
    let q = url.split_once('?').map(|(_, q)| q).unwrap_or("");
    let q = q.split('#').next().unwrap();
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (url_decode(k), url_decode(v))
        })
        .collect()
}

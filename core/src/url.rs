//! The one parser of `http`/`https` URLs in the module: redirect targets (`rd`), discovery
//! endpoints, `sso_backchannel_url`, the end-session endpoint, the issuer's host, and whether
//! a configured URL is absolute.
//!
//! Deliberately narrow (RFC 3986 §3 shapes only as far as the module needs them): a scheme of
//! `http` or `https` (any case), `://`, an authority, then the rest (path, query, fragment).
//! An authority with userinfo (`@`), an empty one, or a backslash where the path would start
//! is refused, because browsers and servers read those differently
//! (README "Security" → "Redirects after login").

/// An `http`/`https` URL split at the authority.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HttpUrl<'a> {
    /// `https` (else `http`).
    pub https: bool,
    /// `host[:port]` as written (not validated: see [`HttpUrl::host_port`]).
    pub authority: &'a str,
    /// Path, query and fragment: empty or starting with `/`, `?` or `#`.
    pub rest: &'a str,
}

impl<'a> HttpUrl<'a> {
    /// Splits `s`; `None` when it is not an absolute `http`/`https` URL, its authority is
    /// empty or has userinfo, or a backslash follows the authority.
    pub fn parse(s: &'a str) -> Option<HttpUrl<'a>> {
        let (https, after) = split_scheme(s)?;
        let end = after.find(['/', '?', '#', '\\']).unwrap_or(after.len());
        let (authority, rest) = after.split_at(end);
        if authority.is_empty() || authority.contains('@') || rest.starts_with('\\') {
            return None;
        }
        Some(HttpUrl {
            https,
            authority,
            rest,
        })
    }

    /// `"https"` or `"http"`.
    pub fn scheme(&self) -> &'static str {
        if self.https {
            "https"
        } else {
            "http"
        }
    }

    /// 443 or 80.
    pub fn default_port(&self) -> u16 {
        if self.https {
            443
        } else {
            80
        }
    }

    /// The authority as host and port ([`split_host_port`]); `None` when malformed.
    pub fn host_port(&self) -> Option<(&'a str, Option<u16>)> {
        split_host_port(self.authority)
    }
}

/// `http://` or `https://` (any case) and what follows, which must not be empty.
fn split_scheme(s: &str) -> Option<(bool, &str)> {
    let (scheme, after) = s.split_once("://")?;
    let https = if scheme.eq_ignore_ascii_case("https") {
        true
    } else if scheme.eq_ignore_ascii_case("http") {
        false
    } else {
        return None;
    };
    (!after.is_empty()).then_some((https, after))
}

/// True when `url` starts with `http://` or `https://` (any case) and has something after
/// it: a configured URL that is absolute rather than a path (`sso_login_url`, ...). Only the
/// scheme is looked at; [`HttpUrl::parse`] checks the rest where it matters.
pub fn is_absolute(url: &str) -> bool {
    split_scheme(url).is_some()
}

/// `host[:port]` or `[v6][:port]` → (host, port). `None` when malformed: a host with
/// characters outside `A-Z a-z 0-9 . - _`, a bracketed literal that is not an IPv6 address,
/// a port that is not 1 to 5 digits below 65536. An empty port (`host:`) counts as no port,
/// as browsers do. A bracketed host keeps its brackets.
pub fn split_host_port(authority: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let close = v6.find(']')?;
        let inner = v6.get(..close)?;
        // A real IPv6 address (what the HTTP client and browsers accept), not just its
        // characters.
        if inner.parse::<std::net::Ipv6Addr>().is_err() {
            return None;
        }
        let host = authority.get(..close + 2)?;
        let after = authority.get(close + 2..)?;
        let port = if after.is_empty() {
            None
        } else {
            Some(after.strip_prefix(':')?)
        };
        (host, port)
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if !host.starts_with('[')
        && (host.is_empty()
            || !host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_'))
    {
        return None;
    }
    let port = match port {
        None | Some("") => None,
        Some(p) if p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) => Some(p.parse().ok()?),
        Some(_) => return None,
    };
    Some((host, port))
}

/// True for `localhost` (any case), a loopback IPv4 address, or `[::1]` (a host as
/// [`split_host_port`] returns it).
pub fn is_loopback_host(host: &str) -> bool {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    host.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_splits_at_the_authority() {
        let u = HttpUrl::parse("HTTPS://Auth.Example.com:8443/a/b?c=d#e").expect("absolute");
        assert!(u.https);
        assert_eq!(u.scheme(), "https");
        assert_eq!(u.authority, "Auth.Example.com:8443");
        assert_eq!(u.rest, "/a/b?c=d#e");
        assert_eq!(u.host_port(), Some(("Auth.Example.com", Some(8443))));
        let u = HttpUrl::parse("http://a.example?x").expect("absolute");
        assert_eq!((u.https, u.authority, u.rest), (false, "a.example", "?x"));
        assert_eq!(u.default_port(), 80);
        assert_eq!(HttpUrl::parse("https://h").map(|u| u.rest), Some(""));
    }

    #[test]
    fn parse_refuses_what_readers_disagree_on() {
        for bad in [
            "",
            "/path",
            "//evil.example/",
            "ftp://h/",
            "javascript://h/%0a",
            "https://",
            "https:///evil.example",
            "https://user@evil.example/",
            "https://good.example@evil.example/",
            "https://evil.example\\@good.example/",
            "https:\\\\evil.example",
            "https:evil.example",
        ] {
            assert_eq!(HttpUrl::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn host_and_port_rules() {
        assert_eq!(split_host_port("h"), Some(("h", None)));
        assert_eq!(split_host_port("h:"), Some(("h", None)));
        assert_eq!(split_host_port("h:80"), Some(("h", Some(80))));
        assert_eq!(split_host_port("h:65535"), Some(("h", Some(65535))));
        assert_eq!(split_host_port("[::1]:8080"), Some(("[::1]", Some(8080))));
        assert_eq!(
            split_host_port("[2001:db8::1]"),
            Some(("[2001:db8::1]", None))
        );
        for bad in [
            "",
            ":80",
            "h:65536",
            "h:123456",
            "h:8a",
            "h:-1",
            "h%2e",
            "exämple.com",
            "h h",
            "[::1",
            "[::1]x",
            "[not-v6]",
            "[::1]:x",
        ] {
            assert_eq!(split_host_port(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn absolute_urls() {
        assert!(is_absolute("https://auth.example.com/x"));
        assert!(is_absolute("HTTP://a"));
        assert!(!is_absolute("https://"));
        assert!(!is_absolute("/outpost.goauthentik.io/start"));
        assert!(!is_absolute("ftp://a"));
        assert!(!is_absolute("xhttp://a"));
        assert!(!is_absolute("//evil.com"));
        assert!(!is_absolute("http:/x"));
        assert!(!is_absolute("ht"));
    }

    #[test]
    fn loopback_hosts() {
        for host in ["localhost", "LocalHost", "127.0.0.1", "127.1.2.3", "[::1]"] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "auth.example.com",
            "10.0.0.1",
            "[2001:db8::1]",
            "localhost.evil",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }
}

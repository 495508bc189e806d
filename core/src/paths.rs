//! Regex sets for `sso_unauthenticated_paths` and `sso_unauthenticated_urls`, and what they
//! are matched against (README "Security" → "Path and URL matching").
//!
//! The patterns see what nginx routes on: the normalised path (`r->uri`: percent-decoded,
//! dot segments resolved, slashes merged) and the host of the server nginx chose. The bytes
//! the client sent may still reach the upstream (`proxy_pass` without a URI forwards the
//! request line's path; FastCGI apps read `REQUEST_URI`), so a path that means one thing to
//! nginx and may mean another to the upstream ([`path_is_unambiguous`]) is never waived.
//!
//! RE2 semantics (the `regex` crate, like authentik's Go regexes): linear time in the input,
//! no backreferences, no look-around. Patterns are unanchored: `^/api/` must be written with
//! its own `^` to anchor, exactly as in authentik's "Unauthenticated Paths" field.

use std::fmt;

use regex::bytes::RegexSet;

/// Why a pattern was refused, with the byte position in the pattern where known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError {
    pub pattern: String,
    /// 0-based byte offset into the pattern, when the parser names one.
    pub position: Option<usize>,
    pub reason: String,
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid regex \"{}\"", self.pattern.escape_debug())?;
        if let Some(pos) = self.position {
            write!(f, " at position {pos}")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// Largest compiled program accepted for one set (keeps `nginx -t` and memory bounded).
const SIZE_LIMIT: usize = 8 << 20;

/// Checks one pattern, reporting the position of the first error the way a user can act on.
pub fn check_pattern(pattern: &str) -> Result<(), PatternError> {
    if let Err(err) = regex_syntax::ast::parse::Parser::new().parse(pattern) {
        return Err(PatternError {
            pattern: pattern.to_owned(),
            position: Some(err.span().start.offset),
            reason: err.kind().to_string(),
        });
    }
    if let Err(err) = regex_syntax::Parser::new().parse(pattern) {
        let (position, reason) = match &err {
            regex_syntax::Error::Parse(e) => (Some(e.span().start.offset), e.kind().to_string()),
            regex_syntax::Error::Translate(e) => {
                (Some(e.span().start.offset), e.kind().to_string())
            }
            _ => (None, err.to_string()),
        };
        return Err(PatternError {
            pattern: pattern.to_owned(),
            position,
            reason,
        });
    }
    Ok(())
}

/// A compiled, unanchored set of patterns; `matches` is true when any pattern matches.
#[derive(Clone)]
pub struct PatternSet {
    set: RegexSet,
    patterns: Vec<String>,
}

impl fmt::Debug for PatternSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PatternSet").field(&self.patterns).finish()
    }
}

impl PatternSet {
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Result<Self, PatternError> {
        for p in patterns {
            check_pattern(p.as_ref())?;
        }
        let set = regex::bytes::RegexSetBuilder::new(patterns.iter().map(AsRef::as_ref))
            .size_limit(SIZE_LIMIT)
            .build()
            .map_err(|err| PatternError {
                pattern: patterns
                    .iter()
                    .map(AsRef::as_ref)
                    .collect::<Vec<_>>()
                    .join(" "),
                position: None,
                reason: match err {
                    regex::Error::CompiledTooBig(limit) => {
                        format!("the patterns compile to more than {limit} bytes")
                    }
                    other => other.to_string(),
                },
            })?;
        Ok(Self {
            set,
            patterns: patterns.iter().map(|p| p.as_ref().to_owned()).collect(),
        })
    }

    /// True when any pattern matches anywhere in `haystack`.
    #[inline]
    pub fn matches(&self, haystack: &[u8]) -> bool {
        self.set.is_match(haystack)
    }

    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }
}

/// True when the path nginx routes on (`routed`, normalised and decoded) cannot mean another
/// path to the upstream, so an unauthenticated-path or -URL rule may waive the login:
///
/// - no segment of `routed` is a dot segment once `;parameters` are cut (`/public/..;/admin`
///   is `/admin` to Tomcat and Spring), and no `\` (a separator to some servers);
/// - when the upstream may get the client's raw path (`raw`: the request line's path without
///   the query, given while nginx forwards it as it came, `r->valid_unparsed_uri`), it holds
///   no encoded `/` or `\` and, percent-decoded once, it is `routed` byte for byte: no dot
///   segment, doubled slash or encoding that nginx resolved and the upstream may not.
pub fn path_is_unambiguous(raw: Option<&[u8]>, routed: &[u8]) -> bool {
    if routed.contains(&b'\\') {
        return false;
    }
    let dot_segment = routed.split(|&b| b == b'/').any(|segment| {
        let name = segment.split(|&b| b == b';').next().unwrap_or_default();
        name == b"." || name == b".."
    });
    if dot_segment {
        return false;
    }
    let Some(raw) = raw else {
        return true;
    };
    let encoded_separator = raw.windows(3).any(|w| {
        w[0] == b'%' && (w[1..].eq_ignore_ascii_case(b"2f") || w[1..].eq_ignore_ascii_case(b"5c"))
    });
    !encoded_separator && percent_decoded_equals(raw, routed)
}

/// `raw` percent-decoded once (`%XX`; a `%` not followed by two hex digits stays) is `decoded`.
fn percent_decoded_equals(raw: &[u8], decoded: &[u8]) -> bool {
    let mut i = 0;
    let mut j = 0;
    while i < raw.len() {
        let byte = match (raw[i], raw.get(i + 1), raw.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if h.is_ascii_hexdigit() && l.is_ascii_hexdigit() => {
                i += 3;
                (hex(h) << 4) | hex(l)
            }
            (b, _, _) => {
                i += 1;
                b
            }
        };
        if decoded.get(j) != Some(&byte) {
            return false;
        }
        j += 1;
    }
    j == decoded.len()
}

fn hex(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => c - b'A' + 10,
    }
}

/// The URL `sso_unauthenticated_urls` is matched against: `scheme://host[:port]/path?query`
/// with the host nginx routed on (the request line's host for an absolute-form request, else
/// the validated `Host`, lowercase, without port), the port the connection came in on (left
/// out when it is the scheme's default), the normalised path percent-encoded again where a URL
/// needs it (space, `%`, `?`, `#`, controls, non-ASCII, ...) and the query as sent.
pub fn matching_url(
    scheme: &str,
    host: &[u8],
    port: Option<u16>,
    routed_path: &[u8],
    query: &[u8],
) -> Vec<u8> {
    let mut out =
        Vec::with_capacity(scheme.len() + host.len() + routed_path.len() + query.len() + 16);
    out.extend_from_slice(scheme.as_bytes());
    out.extend_from_slice(b"://");
    out.extend_from_slice(host);
    let default = match scheme {
        "https" => 443,
        _ => 80,
    };
    if let Some(port) = port.filter(|&p| p != default) {
        out.push(b':');
        out.extend_from_slice(port.to_string().as_bytes());
    }
    for &b in routed_path {
        let keep = b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/".contains(&b);
        if keep {
            out.push(b);
        } else {
            out.extend_from_slice(format!("%{b:02X}").as_bytes());
        }
    }
    if !query.is_empty() {
        out.push(b'?');
        out.extend_from_slice(query);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unambiguous_paths() {
        let ok =
            |raw: &str, routed: &str| path_is_unambiguous(Some(raw.as_bytes()), routed.as_bytes());
        assert!(ok("/public/x", "/public/x"));
        assert!(ok("/public/a%20b", "/public/a b"));
        assert!(ok("/p%75blic/x", "/public/x"));
        assert!(ok("/public/%E2%82%AC", "/public/\u{20ac}"));
        assert!(ok("/public/a%zz", "/public/a%zz"));
        assert!(ok("/public/..a/.b/c.", "/public/..a/.b/c."));
        // nginx resolved something the upstream may not
        assert!(!ok("/open/../admin/x", "/admin/x"));
        assert!(!ok("/open/%2e%2e/admin/x", "/admin/x"));
        assert!(!ok("/admin/..%2Fpublic/x", "/public/x"));
        assert!(!ok("/admin/..%2fpublic/x", "/public/x"));
        assert!(!ok("/public%2Fx", "/public/x"));
        assert!(!ok("/public%5Cx", "/public\\x"));
        assert!(!ok("//public/x", "/public/x"));
        assert!(!ok("/public/./x", "/public/x"));
        assert!(!ok("/public/x", "/public/y"));
        assert!(!ok("/public/x/", "/public/x"));
        assert!(!ok("/public/x", "/public/x/"));
        // what an upstream resolves that nginx does not
        assert!(!ok("/public/..;/admin/x", "/public/..;/admin/x"));
        assert!(!ok("/public/.;x/admin", "/public/.;x/admin"));
        assert!(!ok("/public\\..\\admin", "/public\\..\\admin"));
        // Without a raw path (rewritten, internal redirect), the routed path alone counts.
        assert!(path_is_unambiguous(None, b"/public/x"));
        assert!(!path_is_unambiguous(None, b"/public/..;/x"));
    }

    #[test]
    fn urls_for_matching() {
        let url = |scheme, host: &str, port, path: &str, q: &str| {
            String::from_utf8(matching_url(
                scheme,
                host.as_bytes(),
                port,
                path.as_bytes(),
                q.as_bytes(),
            ))
            .unwrap()
        };
        assert_eq!(
            url("http", "app.test", Some(80), "/x", ""),
            "http://app.test/x"
        );
        assert_eq!(
            url("https", "app.test", Some(443), "/x", "a=1"),
            "https://app.test/x?a=1"
        );
        assert_eq!(
            url("http", "app.test", Some(8080), "/x", ""),
            "http://app.test:8080/x"
        );
        assert_eq!(
            url("https", "app.test", Some(80), "/x", ""),
            "https://app.test:80/x"
        );
        assert_eq!(url("http", "app.test", None, "/x", ""), "http://app.test/x");
        assert_eq!(
            url("http", "h", None, "/a b?#%\u{e9}", "q"),
            "http://h/a%20b%3F%23%25%C3%A9?q"
        );
    }

    #[test]
    fn unanchored_by_default_anchored_on_request() {
        let set = PatternSet::new(&["^/api/public/", "\\.css$"]).unwrap();
        assert!(set.matches(b"/api/public/x"));
        assert!(!set.matches(b"/x/api/public/"));
        assert!(set.matches(b"/static/site.css"));
        assert!(!set.matches(b"/static/site.css.map"));
        let loose = PatternSet::new(&["health"]).unwrap();
        assert!(loose.matches(b"/status/healthz"));
    }

    #[test]
    fn bad_pattern_names_pattern_and_position() {
        let err = PatternSet::new(&["^/ok", "^/api/(v1"]).unwrap_err();
        assert_eq!(err.pattern, "^/api/(v1");
        assert_eq!(err.position, Some(6));
        let text = err.to_string();
        assert!(text.contains("\"^/api/(v1\""), "{text}");
        assert!(text.contains("position 6"), "{text}");
        assert!(text.contains("unclosed group"), "{text}");
    }

    #[test]
    fn re2_refuses_backreferences_and_lookaround() {
        assert!(check_pattern("(a)\\1").is_err());
        assert!(check_pattern("foo(?=bar)").is_err());
        assert!(check_pattern("[z-a]").is_err());
    }

    #[test]
    fn non_utf8_haystack_is_fine() {
        let set = PatternSet::new(&["^/files/"]).unwrap();
        assert!(set.matches(b"/files/\xff\xfe"));
    }
}

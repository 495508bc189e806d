//! Cookies: finding one in a `Cookie` request header ([`find`]: RFC 6265 §5.4 syntax,
//! leniently parsed: spaces and tabs around names and values are ignored, the first cookie of
//! a name wins), and building the `Set-Cookie` values the module sends ([`set_cookie`]: RFC
//! 6265 §4.1, always `HttpOnly` and `SameSite=Lax`).

/// The value of the first cookie called `name` in one `Cookie` header value. Quotes around a
/// value are kept (JWTs and our sealed values never have them).
///
/// On the hot path (every protected request): pairs are found with `memchr`'s SIMD search for
/// `;` instead of a byte-by-byte split of the whole header, which is mostly one or two
/// 1-4 KB values. Same result as splitting at `;` and comparing trimmed names (the tests
/// check both ways agree).
pub fn find<'a>(header: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    let mut start = 0;
    let ends = memchr::memchr_iter(b';', header).chain(std::iter::once(header.len()));
    for end in ends {
        let pair = &header[start..end];
        start = end + 1;
        let pair = trim(pair);
        let Some(rest) = pair.strip_prefix(name) else {
            continue;
        };
        let rest = trim(rest);
        if let Some(value) = rest.strip_prefix(b"=") {
            return Some(trim(value));
        }
    }
    None
}

/// The straightforward reading: split at `;`, trim, compare names.
#[cfg(test)]
fn find_by_splitting<'a>(header: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    header.split(|&b| b == b';').find_map(|pair| {
        let pair = trim(pair);
        let eq = pair.iter().position(|&b| b == b'=')?;
        (trim(&pair[..eq]) == name).then(|| trim(&pair[eq + 1..]))
    })
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|&c| c != b' ' && c != b'\t')
        .unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|&c| c != b' ' && c != b'\t')
        .map_or(start, |e| e + 1);
    &s[start..end.max(start)]
}

#[cfg(test)]
mod tests {
    use super::find;

    #[test]
    fn finds_exact_names_only() {
        let h = b"a=1; CF_Authorization=eyJ.x.y ;b=2; sso_session_1=z";
        assert_eq!(find(h, b"CF_Authorization"), Some(&b"eyJ.x.y"[..]));
        assert_eq!(find(h, b"a"), Some(&b"1"[..]));
        assert_eq!(find(h, b"b"), Some(&b"2"[..]));
        assert_eq!(find(h, b"sso_session"), None);
        assert_eq!(find(h, b"sso_session_1"), Some(&b"z"[..]));
        assert_eq!(find(b"", b"a"), None);
        assert_eq!(find(b"novalue; a", b"a"), None);
        assert_eq!(find(b"a=", b"a"), Some(&b""[..]));
        assert_eq!(find(b"x=1;;; a = 2 ", b"a"), Some(&b"2"[..]));
        assert_eq!(find(b"a=x sso=1; sso=2", b"sso"), Some(&b"2"[..]));
        assert_eq!(find(b"ssso=1;sso =2", b"sso"), Some(&b"2"[..]));
        assert_eq!(find(b"sso_1=1; sso", b"sso"), None);
    }

    /// The substring search agrees with splitting on every header built from a small
    /// alphabet that exercises separators, spaces, `=` and partial names.
    #[test]
    fn agrees_with_splitting() {
        use super::find_by_splitting;
        const PIECES: &[&[u8]] = &[
            b"a", b"ab", b"b", b"=", b";", b" ", b"\t", b"x", b"a=", b"; a", b"ba", b"\"",
        ];
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..200_000 {
            let mut header = Vec::new();
            for _ in 0..(next() % 12) {
                header.extend_from_slice(PIECES[(next() % PIECES.len() as u64) as usize]);
            }
            for name in [&b"a"[..], b"ab", b"ba", b"b"] {
                assert_eq!(
                    find(&header, name),
                    find_by_splitting(&header, name),
                    "{:?} in {:?}",
                    String::from_utf8_lossy(name),
                    String::from_utf8_lossy(&header)
                );
            }
        }
    }
}

/// Attributes of a cookie the module sets.
#[derive(Debug, Clone, Copy)]
pub struct Attributes<'a> {
    pub path: &'a str,
    /// `Domain=` (domain-level SSO); None: a host-only cookie.
    pub domain: Option<&'a str>,
    /// `Max-Age=`; 0 expires the cookie.
    pub max_age: u64,
    /// `Secure`, on https.
    pub secure: bool,
}

/// A `Set-Cookie` value: always `HttpOnly` and `SameSite=Lax` (the login callback is a
/// top-level GET from the provider, which Lax lets through).
pub fn set_cookie(name: &str, value: &str, a: &Attributes<'_>) -> String {
    let mut out = String::with_capacity(name.len() + value.len() + 96);
    out.push_str(name);
    out.push('=');
    out.push_str(value);
    out.push_str("; Path=");
    out.push_str(a.path);
    if let Some(d) = a.domain {
        out.push_str("; Domain=");
        out.push_str(d);
    }
    out.push_str("; Max-Age=");
    out.push_str(&a.max_age.to_string());
    out.push_str("; HttpOnly; SameSite=Lax");
    if a.secure {
        out.push_str("; Secure");
    }
    out
}

#[cfg(test)]
mod set_tests {
    use super::*;

    #[test]
    fn attributes() {
        let a = Attributes {
            path: "/",
            domain: Some("example.com"),
            max_age: 86400,
            secure: true,
        };
        assert_eq!(
            set_cookie("sso_session", "abc", &a),
            "sso_session=abc; Path=/; Domain=example.com; Max-Age=86400; HttpOnly; SameSite=Lax; Secure"
        );
        let a = Attributes {
            path: "/",
            domain: None,
            max_age: 0,
            secure: false,
        };
        assert_eq!(
            set_cookie("x", "", &a),
            "x=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax"
        );
    }
}

//! Finding a cookie in a `Cookie` request header (RFC 6265 §5.4 syntax, leniently parsed).

/// The value of the first cookie called `name` in one `Cookie` header value. Quotes around a
/// value are kept (JWTs and our sealed values never have them).
pub fn find<'a>(header: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
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
    }
}

//! Query strings and form bodies: building them (percent-encoded, RFC 3986 unreserved kept)
//! and reading one parameter back.

use percent_encoding::percent_decode;
use zeroize::Zeroizing;

use super::enc;

/// dropped (RFC 6749 §3.1: endpoints have none).
pub fn append_query(url: &str, params: &[(&str, &str)]) -> String {
    let base = url.split('#').next().unwrap_or(url);
    let mut out = String::with_capacity(base.len() + 64 * params.len());
    out.push_str(base);
    let mut sep = if !base.contains('?') {
        "?"
    } else if base.ends_with('?') || base.ends_with('&') {
        ""
    } else {
        "&"
    };
    for (k, v) in params {
        out.push_str(sep);
        out.extend(enc(k));
        out.push('=');
        out.extend(enc(v));
        sep = "&";
    }
    out
}

/// Encodes `params` as `application/x-www-form-urlencoded` (unreserved characters kept).
pub fn form_encode(params: &[(&str, &str)]) -> Zeroizing<String> {
    // Sized for the worst case (every byte percent-encoded) so it never reallocates: a grown
    // buffer would leave a copy of the secrets behind in freed memory.
    let worst: usize = params
        .iter()
        .map(|(k, v)| 3 * (k.len() + v.len()) + 2)
        .sum();
    let mut out = Zeroizing::new(String::with_capacity(worst));
    for (i, (k, v)) in params.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.extend(enc(k));
        out.push('=');
        out.extend(enc(v));
    }
    out
}

/// Decodes one query-string value: `+` is a space, `%XX` a byte; invalid UTF-8 becomes U+FFFD
/// (which [`validate_rd`](super::validate_rd) then percent-encodes). Malformed `%` sequences stay literal.
pub fn decode_query_value(raw: &str) -> String {
    let bytes: Vec<u8> = raw
        .bytes()
        .map(|b| if b == b'+' { b' ' } else { b })
        .collect();
    String::from_utf8_lossy(&percent_decode(&bytes).collect::<Vec<u8>>()).into_owned()
}

/// The first value of parameter `name` in a raw query string (without the `?`), decoded.
pub fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (decode_query_value(k) == name).then(|| decode_query_value(v))
    })
}

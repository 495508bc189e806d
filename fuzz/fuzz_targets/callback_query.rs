//! The callback's raw query string. Checks: query_param / parse_callback_query agree with
//! the WHATWG form-urlencoded parser (the `url` crate: `+` is a space, `%XX` a byte, invalid
//! UTF-8 replaced) on the first value of each name; a state yields a flow cookie name only
//! when it is `sso_flow_` plus 8 base64url characters.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sso_core::flow::{flow_cookie_name, parse_callback_query, query_param, FLOW_COOKIE_PREFIX};

fn reference(query: &str, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fuzz_target!(|data: &[u8]| {
    let query = String::from_utf8_lossy(data);
    let p = parse_callback_query(&query);
    for (name, got) in [
        ("code", &p.code),
        ("state", &p.state),
        ("error", &p.error),
        ("error_description", &p.error_description),
        ("iss", &p.iss),
    ] {
        assert_eq!(got, &reference(&query, name), "{name} in {query:?}");
    }
    assert_eq!(query_param(&query, "rd"), reference(&query, "rd"));
    if let Some(state) = &p.state {
        if let Some(cookie) = flow_cookie_name(state) {
            let tail = cookie.strip_prefix(FLOW_COOKIE_PREFIX).expect("prefix");
            assert_eq!(tail.len(), 8, "{cookie:?}");
            assert!(tail
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
            assert!(state.starts_with(tail));
        }
    }
});

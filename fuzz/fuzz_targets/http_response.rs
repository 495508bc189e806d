//! The bytes a provider (or anything on the path to it) sends back to the module's HTTP
//! client, read by http_client::parse_response (the reader behind every discovery, JWKS and
//! token request). Checks: no panic; an accepted response is final (not 1xx), has a body
//! within the limit, at most MAX_HEADERS headers, token header names and header values
//! without CR, LF or NUL; error text is log-safe.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sso_core::http_client::{parse_response, MAX_HEADERS};
use sso_fuzz::log_safe;

const MAX_BODY: usize = 4096;

fuzz_target!(|data: &[u8]| {
    match parse_response(data, MAX_BODY) {
        Ok(resp) => {
            assert!((200..=999).contains(&resp.status), "status {}", resp.status);
            assert!(resp.body.len() <= MAX_BODY);
            assert!(resp.headers.len() <= MAX_HEADERS);
            for (name, value) in &resp.headers {
                assert!(
                    sso_core::identity::is_header_token(name),
                    "header name {name:?}"
                );
                assert!(
                    !value.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)),
                    "header {name} value {value:?}"
                );
            }
            if let Some(location) = resp.redirect_location() {
                assert!(!location.contains(['\r', '\n']));
            }
            let _ = (resp.is_success(), format!("{resp:?}"));
        }
        Err(e) => {
            let text = e.to_string();
            assert!(log_safe(&text), "error not log-safe: {text:?}");
        }
    }
});

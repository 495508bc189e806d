//! The token endpoint's answer: the first byte picks the HTTP status, the rest is the body.
//! Checks: no panic; an accepted response has a non-empty access token and ID token and a
//! Bearer token type, and only for a 2xx status; a refusal's text is log-safe and its HTML
//! page carries no markup from the body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sso_core::flow::parse_token_response;
use sso_fuzz::{check_html_page, log_safe};

const STATUS: &[u16] = &[200, 201, 204, 299, 302, 400, 401, 403, 500, 503, 100, 999];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let status = STATUS[pick as usize % STATUS.len()];
    match parse_token_response(status, body) {
        Ok(t) => {
            assert!(
                (200..300).contains(&status),
                "accepted with status {status}"
            );
            assert!(!t.access_token.is_empty() && !t.id_token.is_empty());
            assert!(
                t.token_type.eq_ignore_ascii_case("bearer"),
                "{:?}",
                t.token_type
            );
            let _ = format!("{t:?}");
        }
        Err(e) => {
            let text = e.to_string();
            assert!(log_safe(&text), "error not log-safe: {text:?}");
            if let Some(p) = e.provider_error() {
                assert!(log_safe(p), "provider error not log-safe: {p:?}");
            }
            let _ = e.reason();
            check_html_page(&e.html_page());
        }
    }
});

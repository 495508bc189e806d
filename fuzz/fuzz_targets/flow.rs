//! The login callback: its raw query string and the flow cookie value (`query NUL cookie`;
//! no NUL: no cookie). Checks: no panic; an accepted callback has a non-empty code, the
//! state of the cookie, an unexpired flow, a matching RFC 9207 iss when one was sent; a
//! refusal has a documented reason, log-safe text and an HTML page with no markup from
//! the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sso_fuzz::{check_callback, fields};

fuzz_target!(|data: &[u8]| {
    let f = fields(data, 2);
    let query = String::from_utf8_lossy(f[0]);
    let cookie = data.contains(&0).then_some(f[1]);
    check_callback(&query, cookie);
});

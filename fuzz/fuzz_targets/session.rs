//! Session cookie chunk values as a browser sends them (`sso_session`, `sso_session_1`, …;
//! here one chunk per line), opened with the fixture keys. Checks: no panic; an opened
//! session is unexpired, keeps only a compact-JWS ID token, renders header-safe identity
//! headers, and re-seals and re-opens to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sso_fuzz::{check_session, session_keys, CLIENT_ID, NOW};

fuzz_target!(|data: &[u8]| {
    let chunks: Vec<&[u8]> = data.split(|&b| b == b'\n').take(10).collect();
    if let Ok(session) = session_keys().open(&chunks, CLIENT_ID, NOW) {
        check_session(&session);
    }
});

//! The plaintext inside a flow cookie: `query NUL plaintext`, the plaintext sealed with the
//! fixture key as a flow cookie, then the callback checked as in `flow`; the sealed value
//! never opens as a session.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sso_core::session::Purpose;
use sso_fuzz::{check_callback, fields, session_keys, CLIENT_ID, NOW};

fuzz_target!(|data: &[u8]| {
    let f = fields(data, 2);
    let query = String::from_utf8_lossy(f[0]);
    let keys = session_keys();
    let sealed = keys
        .seal_value(Purpose::Flow, CLIENT_ID, f[1])
        .expect("sealing never fails");
    assert!(
        keys.open(&[sealed.as_bytes()], CLIENT_ID, NOW).is_err(),
        "a flow cookie opened as a session"
    );
    check_callback(&query, Some(sealed.as_bytes()));
});

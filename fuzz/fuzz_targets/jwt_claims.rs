//! JOSE header and claims JSON of the fuzzer's choosing (`header NUL claims`), signed by the
//! harness with the fixture keys for the header's `alg`/`kid`, so the bytes get past the
//! signature into the header rules and the claim checks. Checks as in `jwt`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sso_fuzz::{fields, key_set, mint, verifier, NOW};

fuzz_target!(|data: &[u8]| {
    let f = fields(data, 2);
    let token = mint(f[0], f[1]);
    match verifier().verify(key_set(), &token, NOW) {
        Ok(v) => sso_fuzz::check_verified(&v),
        Err(e) => sso_fuzz::check_token_error(&e),
    }
});

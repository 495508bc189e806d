//! A compact JWS/JWT as a client sends it (Authorization: Bearer, or a JWT cookie), verified
//! against the fixture key set. Checks: no panic; an accepted token's claims satisfy what
//! the verifier promises (exp, nbf/iat, iss, aud); error text is log-safe.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sso_fuzz::{key_set, verifier, NOW};

fuzz_target!(|data: &[u8]| {
    match verifier().verify_bytes(key_set(), data, NOW) {
        Ok(v) => sso_fuzz::check_verified(&v),
        Err(e) => sso_fuzz::check_token_error(&e),
    }
});

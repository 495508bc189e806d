//! A JWK Set document as the provider's jwks_uri (or sso_jwks_file) serves it. Checks: no
//! panic; a usable set is non-empty, within MAX_KEYS, every key allows its own pinned alg;
//! skipped-key lines and errors are log-safe; verifying the fixture tokens (one per
//! algorithm family) against the parsed set never panics and an accepted token still meets
//! every claim rule.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sso_core::jwks::{verification_keys, KeyOrigin, KeySet, ProviderKeys, Secret, MAX_KEYS};
use sso_fuzz::{check_token_error, check_verified, fixture_tokens, log_safe, verifier, NOW};

fn check_set(set: &KeySet) {
    assert!(set.len() <= MAX_KEYS + 1, "{} keys", set.len());
    for key in set.keys() {
        if let Some(alg) = key.alg() {
            assert_eq!(alg.family(), key.family(), "pinned alg of another family");
            assert!(key.allows(alg));
        }
        for other in key.family().algorithms() {
            assert_eq!(other.family(), key.family());
        }
    }
    for line in set.skipped() {
        assert!(log_safe(line), "skipped line not log-safe: {line:?}");
    }
    for token in fixture_tokens() {
        match verifier().verify(set, token, NOW) {
            Ok(v) => check_verified(&v),
            Err(e) => check_token_error(&e),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let secret = Secret::new(sso_fuzz::CLIENT_SECRET.to_vec());
    let secret_set = KeySet::from_client_secret(&secret).expect("a non-empty secret");
    match KeySet::from_jwks(data) {
        Ok(set) => {
            assert!(!set.is_empty());
            check_set(&set);
            // The one key rule: beside keys a provider publishes, the client secret never
            // verifies anything.
            let chosen: Vec<KeyOrigin> =
                verification_keys(ProviderKeys::Known(&set), None, Some(&secret_set))
                    .map(|(origin, _)| origin)
                    .collect();
            assert_eq!(chosen, [KeyOrigin::Provider]);
        }
        Err(e) => assert!(log_safe(&e.to_string()), "error not log-safe: {e}"),
    }
});

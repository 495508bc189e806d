//! A request path (or full URL) matched against authentik-style unauthenticated-path sets.
//! Checks: no panic; the set agrees with matching each pattern on its own (the `regex`
//! crate's single-pattern matcher).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sso_core::paths::PatternSet;

const PATHS: &[&str] = &[
    "^/api/public/",
    r"\.(css|js|png|svg|ico|woff2?)$",
    "^/health(z)?$",
    "^/static/",
    r"^/outpost\.goauthentik\.io/",
    "(?i)^/webhooks/[a-z0-9-]+$",
    r"^/\.well-known/",
    r"^/files/[^/]+/download$",
    r"^/ü[\p{L}]+/",
];
const URLS: &[&str] = &[
    r"^https?://app\.example\.com/public/",
    r"^https://[^/]+\.example\.com/status$",
    r"(?i)^http://LOCALHOST(:\d+)?/",
];

fn sets() -> &'static [(PatternSet, Vec<regex::bytes::Regex>)] {
    static SETS: OnceLock<Vec<(PatternSet, Vec<regex::bytes::Regex>)>> = OnceLock::new();
    SETS.get_or_init(|| {
        [PATHS, URLS]
            .iter()
            .map(|list| {
                let set = PatternSet::new(list).expect("fixture patterns compile");
                let one = list
                    .iter()
                    .map(|p| regex::bytes::Regex::new(p).expect("pattern"))
                    .collect();
                (set, one)
            })
            .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    for (set, one) in sets() {
        let expected = one.iter().any(|r| r.is_match(data));
        assert_eq!(
            set.matches(data),
            expected,
            "{:?}",
            String::from_utf8_lossy(data)
        );
    }
});

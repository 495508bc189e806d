//! `sso_require_claim` arguments (space-separated), claims JSON and a user name of the
//! fuzzer's choosing (`args NUL claims NUL user`): parsing a rule, evaluating it, the 403
//! page and JSON, and the Basic credentials of `sso_basic_auth_attributes` (the first two
//! arguments as the attributes).
#![no_main]

use base64::Engine;
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};
use sso_core::flow::{forbidden_json, forbidden_page, Requirement};
use sso_core::rules::{BasicAttributes, ClaimRule};
use sso_fuzz::{fields, log_safe};

fuzz_target!(|data: &[u8]| {
    let f = fields(data, 3);
    let (Ok(args), Ok(claims), Ok(user)) = (
        std::str::from_utf8(f[0]),
        serde_json::from_slice::<Map<String, Value>>(f[1]),
        std::str::from_utf8(f[2]),
    ) else {
        return;
    };
    let args: Vec<&str> = args.split(' ').collect();
    match ClaimRule::parse(&args) {
        Err(e) => {
            let text = e.to_string();
            assert!(log_safe(&text), "error text not log-safe: {text:?}");
            let path = args[0];
            let refused = args.len() < 2
                || path.is_empty()
                || path.split('.').any(str::is_empty)
                || args[1..].iter().any(|v| v.is_empty());
            assert!(refused, "a well-formed rule refused: {args:?}: {text}");
        }
        Ok(rule) => {
            assert!(log_safe(&rule.to_string()), "rule text not log-safe");
            let holds = rule.holds(&claims);
            // The independent reading: the whole path as one name, else the dotted walk.
            let found = claims.get(args[0]).or_else(|| {
                let mut parts = args[0].split('.');
                let mut at = claims.get(parts.next()?)?;
                for p in parts {
                    at = at.as_object()?.get(p)?;
                }
                Some(at)
            });
            if found.is_none() {
                assert!(!holds, "a missing claim held: {args:?}");
            }
            if let Some(Value::String(s)) = found {
                if args[1..].contains(&s.as_str()) {
                    assert!(holds, "an equal string did not hold: {args:?}");
                }
            }
            if matches!(found, Some(Value::Null | Value::Object(_))) {
                assert!(!holds, "null or an object held: {args:?}");
            }
            // The page: no markup from the input (the template with one <strong> per value).
            let page = forbidden_page(user, &Requirement::Claim(&rule), "/out/sign_out");
            let plain = ClaimRule::parse(
                &std::iter::once("x")
                    .chain(args[1..].iter().map(|_| "v"))
                    .collect::<Vec<_>>(),
            )
            .expect("plain rule");
            let template = forbidden_page(
                if user.is_empty() { "" } else { "u" },
                &Requirement::Claim(&plain),
                "/out/sign_out",
            );
            assert_eq!(
                page.matches('<').count(),
                template.matches('<').count(),
                "markup in the page: {page:?}"
            );
            let json: Value = serde_json::from_str(&forbidden_json(&Requirement::Claim(&rule)))
                .expect("the 403 body is JSON");
            assert_eq!(json["claim"], args[0]);
            assert_eq!(
                json["values"].as_array().map(Vec::len),
                Some(args.len() - 1)
            );
        }
    }
    if args.len() >= 2 {
        let attrs = BasicAttributes {
            user: args[0].to_owned(),
            password: args[1].to_owned(),
        };
        if let Ok(value) = attrs.authorization(&claims) {
            let encoded = value.strip_prefix("Basic ").expect("Basic scheme");
            let plain = base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .expect("standard base64");
            let plain = String::from_utf8(plain).expect("UTF-8 credentials");
            let (u, _) = plain.split_once(':').expect("user:password");
            assert!(!u.contains(':'));
        }
    }
});

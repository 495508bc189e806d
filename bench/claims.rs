//! The claims of a typical authentik user, shared by the core's micro-benchmarks
//! (core/benches/core.rs) and the bench tools (bench/tools): the tokens both measure have the
//! same shape (the one tests/nginx/tokens.rs mints). Included with `#[path]` by both.

use serde_json::{json, Value};

/// Valid for an hour from `now` (seconds since the epoch); `jti` makes each token distinct.
pub fn typical(issuer: &str, aud: &str, now: u64, jti: &str) -> Value {
    json!({
        "iss": issuer,
        "aud": aud,
        "sub": "b4f3c1d2e5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2",
        "exp": now + 3600,
        "iat": now - 5,
        "auth_time": now - 5,
        "jti": jti,
        "preferred_username": "jdoe",
        "email": "jdoe@example.com",
        "email_verified": true,
        "name": "Jane Doe",
        "nickname": "jdoe",
        "given_name": "Jane Doe",
        "groups": ["authentik Admins", "ops", "developers"],
        "entitlements": ["app:read", "app:write"],
        "ak_proxy": {
            "user_attributes": {"additionalHeaders": {"X-Custom": "custom value", "X-Num": 42}},
            "is_superuser": false
        }
    })
}

//! The provider's config (schema: tests/provider/README.md): clients and users.

use serde_json::{json, Value};

/// Redirect URI pattern accepted for any host and port (`*` = any run of characters other
/// than `/ ? #`), for tests whose nginx port is only known after the provider runs.
pub const ANY_CALLBACK: &str = "http://*/outpost.goauthentik.io/callback";
/// Post-logout redirect URI pattern: the root of any host and port.
pub const ANY_ROOT: &str = "http://*/";

/// The demo user: `demo` / `demo`, groups `admins` and `users`, entitlement `read`, and an
/// `ak_proxy` claim with additionalHeaders `X-Custom: v` and `X-Num: 5` plus a
/// backend_override.
pub fn demo_user() -> Value {
    json!({
        "sub": "b2f0c4a1-demo",
        "username": "demo",
        "password": "demo",
        "email": "demo@example.org",
        "name": "Demo User",
        "groups": ["admins", "users"],
        "entitlements": ["read"],
        "ak_proxy": {
            "user_attributes": {
                "additionalHeaders": { "X-Custom": "v", "X-Num": 5 }
            },
            "backend_override": "http://127.0.0.1:9/override"
        }
    })
}

/// A confidential client (client_secret_basic, RS256 ID tokens) with one redirect URI
/// (may be a pattern such as [`ANY_CALLBACK`]); its post-logout redirect URI is the root of
/// the redirect URI's origin.
pub fn client(id: &str, secret: &str, redirect_uri: &str) -> Value {
    let root = match redirect_uri.find("://") {
        Some(i) => match redirect_uri[i + 3..].find('/') {
            Some(j) => format!("{}/", &redirect_uri[..i + 3 + j]),
            None => format!("{redirect_uri}/"),
        },
        None => ANY_ROOT.to_owned(),
    };
    json!({
        "client_id": id,
        "client_secret": secret,
        "redirect_uris": [redirect_uri],
        "post_logout_redirect_uris": [root],
        "token_endpoint_auth_method": "client_secret_basic",
        "id_token_signed_response_alg": "RS256"
    })
}

/// `{"clients": clients, "users": users}`.
pub fn config(clients: Vec<Value>, users: Vec<Value>) -> Value {
    json!({ "clients": clients, "users": users })
}

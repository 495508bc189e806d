//! A discovery document (`/.well-known/openid-configuration`) as the provider serves it.
//! Checks: no panic; an accepted document has exactly the configured issuer and endpoints
//! that the WHATWG URL parser reads as http(s) with a host; the URLs the module builds from
//! it (authorization redirect, end-session redirect: both sent as `Location`) are
//! header-safe; the backchannel rewrite keeps path and query; error text is log-safe.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sso_core::flow::{
    authorization_url, choose_client_auth, end_session_url, parse_backchannel_origin,
    parse_discovery, rewrite_to_backchannel, AuthRequest,
};
use sso_fuzz::{header_safe, log_safe, CLIENT_ID, ISSUER};

fn absolute_http(field: &str, value: &str) {
    let u = match url::Url::parse(value) {
        Ok(u) => u,
        // WHATWG host quirks the module need not copy: a host whose last label is numeric
        // must be an IPv4 address, and `xn--` labels must be valid punycode. Such names are
        // still DNS names to the module's HTTP client; they fail closed (no such host).
        Err(url::ParseError::InvalidIpv4Address | url::ParseError::IdnaError) => return,
        Err(e) => panic!("{field} {value:?}: {e}"),
    };
    assert!(matches!(u.scheme(), "http" | "https"), "{field} {value:?}");
    assert!(
        u.host_str().is_some_and(|h| !h.is_empty()),
        "{field} {value:?} has no host"
    );
}

fuzz_target!(|data: &[u8]| {
    let d = match parse_discovery(data, ISSUER) {
        Ok(d) => d,
        Err(e) => {
            assert!(log_safe(&e.to_string()), "error not log-safe: {e}");
            return;
        }
    };
    assert_eq!(d.issuer, ISSUER);
    absolute_http("authorization_endpoint", &d.authorization_endpoint);
    absolute_http("token_endpoint", &d.token_endpoint);
    for (field, v) in [
        ("userinfo_endpoint", &d.userinfo_endpoint),
        ("jwks_uri", &d.jwks_uri),
        ("end_session_endpoint", &d.end_session_endpoint),
    ] {
        if let Some(v) = v {
            absolute_http(field, v);
        }
    }
    let _ = d.supports_s256();
    let _ = choose_client_auth(&d.token_endpoint_auth_methods_supported, true);
    let req = AuthRequest {
        authorization_endpoint: &d.authorization_endpoint,
        client_id: CLIENT_ID,
        redirect_uri: "https://app.example.com/outpost.goauthentik.io/callback",
        scope: "openid email profile",
    };
    let location = authorization_url(&req, "state-AbCdEfGh", "nonce", "challenge");
    assert!(
        header_safe(&location),
        "authorization Location {location:?}"
    );
    let bye = end_session_url(
        d.end_session_endpoint.as_deref(),
        Some("eyJ.eyJ.sig"),
        Some("https://app.example.com/"),
        CLIENT_ID,
    );
    assert!(header_safe(&bye), "end-session Location {bye:?}");
    let origin = parse_backchannel_origin("http://authentik-server:9000").expect("origin");
    let moved = rewrite_to_backchannel(&d.token_endpoint, &origin).expect("token endpoint moves");
    assert!(
        moved.url.starts_with("http://authentik-server:9000"),
        "{moved:?}"
    );
});

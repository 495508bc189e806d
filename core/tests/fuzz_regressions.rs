//! Inputs the fuzz targets (fuzz/, `make fuzz`; README "Fuzzing and memory checks") found,
//! each kept as a test of the property it broke. The target that found it is named in each
//! test's comment; its check is restated here on the input, minimised by hand.

use sso_core::flow::{
    authorization_url, end_session_url, parse_discovery, validate_rd, AuthRequest, DiscoveryError,
    MAX_RD_LEN,
};
use sso_core::http_client::{parse_response, HttpError};

const ISSUER: &str = "https://auth.example.com/application/o/app/";

// ---- rd -----------------------------------------------------------------------------------

/// Target `rd`: `/a/a/` plus 244 invalid UTF-8 bytes (each decoded to U+FFFD, nine
/// characters once percent-encoded) was accepted and came out as 2201 characters, longer
/// than MAX_RD_LEN: validating the output again refused it, and `flow::start` silently
/// replaced it with `/`. The limit now applies to what is returned.
#[test]
fn rd_output_is_never_longer_than_max_rd_len() {
    let rd = format!("/a/a/{}", "\u{fffd}".repeat(244));
    assert!(
        rd.len() <= MAX_RD_LEN,
        "the input itself is within the limit"
    );
    let out = validate_rd(&rd, "app.example.com", None);
    assert!(out.len() <= MAX_RD_LEN, "{} characters", out.len());
    assert_eq!(out, "/");
    assert_eq!(validate_rd(&out, "app.example.com", None), out);

    // Just under the limit once encoded: kept, and a fixed point.
    let fits = format!("/{}", "\u{e9}".repeat((MAX_RD_LEN - 1) / 6));
    let out = validate_rd(&fits, "app.example.com", None);
    assert!(
        out.starts_with("/%C3%A9") && out.len() <= MAX_RD_LEN,
        "{out}"
    );
    assert_eq!(validate_rd(&out, "app.example.com", None), out);
}

// ---- discovery ----------------------------------------------------------------------------

fn discovery_with(field: &str, value: &str) -> Vec<u8> {
    let mut doc = serde_json::json!({
        "issuer": ISSUER,
        "authorization_endpoint": "https://auth.example.com/application/o/authorize/",
        "token_endpoint": "https://auth.example.com/application/o/token/",
        "end_session_endpoint": "https://auth.example.com/application/o/app/end-session/",
        "jwks_uri": "https://auth.example.com/application/o/app/jwks/",
    });
    doc[field] = serde_json::Value::String(value.to_owned());
    doc.to_string().into_bytes()
}

/// Target `discovery`: an endpoint with CR LF (JSON `\r\n`) was accepted, and the
/// authorization redirect built from it (`Location:` of /start) carried the CR LF, a header
/// injection from the discovery document. The end-session redirect had the same hole.
/// Endpoints with spaces or control characters are now refused.
#[test]
fn discovery_refuses_endpoints_with_control_characters() {
    for field in [
        "authorization_endpoint",
        "token_endpoint",
        "end_session_endpoint",
        "jwks_uri",
        "userinfo_endpoint",
    ] {
        for bad in [
            "https://auth.example.com/authorize\r\nSet-Cookie: a=b",
            "https://auth.example.com/a\nb",
            "https://auth.example.com/a\u{0}",
            "https://auth.example.com/a\tb",
            "https://auth.example.com/a b",
            "https://auth.example.com/a\u{7f}",
            "https://auth.example.com/a\u{85}b",
        ] {
            match parse_discovery(&discovery_with(field, bad), ISSUER) {
                Err(DiscoveryError::BadEndpoint { field: f, value }) => {
                    assert_eq!(f, field);
                    assert!(!value.chars().any(char::is_control), "{value:?}");
                }
                other => panic!("{field} = {bad:?}: {other:?}"),
            }
        }
    }
}

/// The redirects built from an accepted document are header-safe.
#[test]
fn redirects_from_an_accepted_discovery_are_header_safe() {
    let ok = "https://auth.example.com/application/o/authorize/?x=%0D%0A#f";
    let d =
        parse_discovery(&discovery_with("authorization_endpoint", ok), ISSUER).expect("accepted");
    let req = AuthRequest {
        authorization_endpoint: &d.authorization_endpoint,
        client_id: "client",
        redirect_uri: "https://app.example.com/outpost.goauthentik.io/callback",
        scope: "openid",
    };
    let location = authorization_url(&req, "state", "nonce", "challenge");
    assert!(!location.chars().any(char::is_control), "{location:?}");
    let bye = end_session_url(
        d.end_session_endpoint.as_deref(),
        Some("a.b.c"),
        None,
        "client",
    );
    assert!(!bye.chars().any(char::is_control), "{bye:?}");
}

// ---- HTTP client response reader ----------------------------------------------------------

/// Target `http_response`: a header line with a bare CR inside its value (`X-A: a\rb`) was
/// accepted with the CR in the value. RFC 9112 §2.2 and RFC 9110 §5.5: a field value with
/// CR, LF or NUL is invalid; the reader now refuses the response.
#[test]
fn response_header_with_bare_cr_or_nul_is_refused() {
    for raw in [
        &b"HTTP/1.1 200 OK\r\nX-A: a\rb\r\nContent-Length: 0\r\n\r\n"[..],
        b"HTTP/1.1 200 OK\r\nX-A: a\0b\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 302 Found\r\nLocation: https://a/\rSet-Cookie: x\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-T: 1\r\r\n\r\nok",
    ] {
        match parse_response(raw, 4096) {
            Err(HttpError::BadResponse(_)) => {}
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(raw)),
        }
    }
    // Line endings themselves are fine: CRLF and a bare LF.
    let ok = parse_response(
        b"HTTP/1.1 200 OK\r\nX-A: a b\nContent-Length: 2\r\n\r\nok",
        4096,
    )
    .expect("accepted");
    assert_eq!(ok.header("x-a"), Some("a b"));
    assert_eq!(ok.body, b"ok");
}

/// Target `discovery`: `http://[A:1]:9000/token` was accepted as a token endpoint (the
/// bracketed host had only hex digits and colons) although it is no IPv6 address: the HTTP
/// client refused it only at the first login. A bracketed host must now parse as one.
#[test]
fn discovery_refuses_bracketed_hosts_that_are_not_ipv6() {
    for bad in [
        "http://[A:1]:9000/token",
        "http://[1.2.3.4]/token",
        "http://[:::]/token",
    ] {
        assert!(
            matches!(
                parse_discovery(&discovery_with("token_endpoint", bad), ISSUER),
                Err(DiscoveryError::BadEndpoint { .. })
            ),
            "{bad}"
        );
    }
    for good in [
        "http://[::1]:9000/token",
        "http://[fd00::a:1]/token",
        "http://[::ffff:10.0.0.1]/t",
    ] {
        parse_discovery(&discovery_with("token_endpoint", good), ISSUER)
            .unwrap_or_else(|e| panic!("{good}: {e}"));
    }
    // rd on an IPv6 site still works.
    assert_eq!(
        validate_rd("http://[::1]:8080/x", "[::1]:8080", None),
        "http://[::1]:8080/x"
    );
    assert_eq!(validate_rd("http://[A:1]:8080/x", "[A:1]:8080", None), "/");
}

/// Target `http_response` (with overflow checks): a line one byte over its budget whose
/// extra byte was the `\n` passed the length check and underflowed the budget: a panic with
/// overflow checks, and in a release build a budget near `usize::MAX`, which lifted
/// MAX_HEAD_LEN for every later header line. Found on a chunk (`4` then `hello\r\n`); the
/// same held for the response head.
#[test]
fn a_line_one_byte_over_its_budget_is_refused() {
    use sso_core::http_client::MAX_HEAD_LEN;
    let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nhello\r\n0\r\n\r\n";
    assert!(matches!(
        parse_response(raw, 4096),
        Err(HttpError::BadResponse(_))
    ));

    // A head of exactly MAX_HEAD_LEN bytes is read; one byte more is too large, even when
    // that byte is the last line's `\n` and more lines follow.
    let head = |len: usize| {
        let status = "HTTP/1.1 200 OK\r\n";
        let end = "\r\n";
        let filler = len - status.len() - "X-Filler: \r\n".len() - end.len();
        format!("{status}X-Filler: {}\r\n{end}", "a".repeat(filler))
    };
    let exact = head(MAX_HEAD_LEN);
    assert_eq!(exact.len(), MAX_HEAD_LEN);
    assert!(parse_response(exact.as_bytes(), 4096).is_ok());
    let status = "HTTP/1.1 200 OK\r\n";
    let filler = MAX_HEAD_LEN + 1 - status.len() - "X-Filler: \r\n".len();
    let over = format!(
        "{status}X-Filler: {}\r\nX-Big: {}\r\n\r\n",
        "a".repeat(filler),
        "b".repeat(1 << 20)
    );
    assert!(
        matches!(
            parse_response(over.as_bytes(), 4096),
            Err(HttpError::HeadTooLarge)
        ),
        "head over MAX_HEAD_LEN accepted"
    );
}

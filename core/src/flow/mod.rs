//! The OpenID Connect authorization-code flow (OIDC Core 3.1) with PKCE (RFC 7636), as pure
//! functions: the `start`, `callback` and `sign_out` endpoints (README "Endpoints"), the `rd`
//! rules, discovery parsing and the backchannel rewrite (README "sso_backchannel_url").
//!
//! | file | holds |
//! |---|---|
//! | `start.rs` | the flow state, [`start`], the flow cookie's name and the cap on flow cookies |
//! | `callback.rs` | the callback's parameters, [`callback`], [`nonce_matches`] |
//! | `token.rs` | the code exchange at the token endpoint (request, response, [`ExchangeError`]) |
//! | `rd.rs` | [`validate_rd`]: where the browser may be sent after login |
//! | `refresh.rs` | the refresh grant, its answer, the single-flight table ([`refresh::RefreshTable`]) |
//! | `discovery.rs` | the discovery document, `sso_backchannel_url` and its rewrite |
//! | `sign_out.rs` | [`end_session_url`] |
//! | `query.rs` | query strings and form bodies |
//! | `pages.rs` | [`FlowError`] and the escaped HTML error pages |
//!
//! Everything is re-exported here (but the refresh table: `flow::refresh::RefreshTable`):
//! callers write `flow::start`, `flow::Discovery`, ...
//!
//! # What the glue calls
//! **start** (`<prefix>/start?rd=…`):
//! 1. `let rd = validate_rd(&query_param(query, "rd").unwrap_or_default(), host, cookie_domain);`
//! 2. `let s = start(&keys, client_id, &AuthRequest { … }, &rd, now)?;`
//! 3. Expire the cookies [`flow_cookies_to_expire`] names, then `Set-Cookie:
//!    {s.cookie_name}={s.cookie_value}; Path=/; Max-Age={s.max_age}; HttpOnly;
//!    SameSite=Lax[; Secure]` (host-only: no `Domain`), then `302 Location: s.location`.
//!
//! **callback** (`<prefix>/callback?code=…&state=…`):
//! 1. `let p = parse_callback_query(query);`
//! 2. `let name = p.state.as_deref().and_then(flow_cookie_name);` and look that cookie up.
//! 3. `let cb = callback(&keys, client_id, issuer, &p, cookie_value, now)?;` — on error show
//!    [`FlowError::html_page`] with [`FlowError::http_status`] (and expire the flow cookie).
//! 4. `let tr = token_request(&cb.code, redirect_uri, &cb.flow.code_verifier, client_id,
//!    secret, choose_client_auth(&disco.token_endpoint_auth_methods_supported, secret.is_some()));`
//!    POST `tr.body` (`Content-Type: application/x-www-form-urlencoded`, `Accept:
//!    application/json`, `Authorization: tr.authorization` when `Some`) to the token endpoint,
//!    rewritten with [`rewrite_to_backchannel`] when `sso_backchannel_url` is set.
//! 5. `let tokens = parse_token_response(status, &body)?;`
//! 6. Verify `tokens.id_token` ([`crate::jwt`]: signature, `iss`, `aud`, `exp`, `iat`) and
//!    [`nonce_matches`]`(&cb.flow.nonce, claims.nonce)`.
//! 7. `Session::new(identity, now, lifetime, Some(tokens.id_token))`, `keys.seal(..)` with
//!    [`crate::session::binding`], set the chunks ([`crate::session`]), expire the flow cookie
//!    (`Max-Age=0`, same name and path), `302 Location: cb.flow.rd`.
//!
//! **sign_out**: expire the session cookie chunks, `302 Location:`
//! [`end_session_url`]`(disco.end_session_endpoint, session.id_token, post_logout, client_id)`.

use aws_lc_rs::{constant_time, rand};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

mod callback;
mod discovery;
mod pages;
mod query;
mod rd;
pub mod refresh;
mod sign_out;
mod start;
mod token;

pub use callback::*;
pub use discovery::*;
pub use pages::*;
pub use query::*;
pub use rd::*;
pub use refresh::{
    parse_refresh_response, refresh_request, refreshed_identity, RefreshError, Refreshed,
};
pub use sign_out::*;
pub use start::*;
pub use token::*;

/// Flow cookie names are this prefix plus the first [`FLOW_COOKIE_STATE_CHARS`] characters of
/// the state, so several tabs logging in at once do not overwrite each other's cookie.
pub const FLOW_COOKIE_PREFIX: &str = "sso_flow_";
/// How many characters of the state go into the flow cookie name.
pub const FLOW_COOKIE_STATE_CHARS: usize = 8;
/// Lifetime of a login flow (and of its cookie): 10 minutes.
pub const FLOW_LIFETIME_SECS: u64 = 600;
/// Most flow cookies a browser carries: `start` expires the oldest beyond this (each is
/// ~250 bytes; unbounded, some 30 abandoned logins would push the `Cookie` header past
/// nginx's default 8 KiB header buffer).
pub const MAX_FLOW_COOKIES: usize = 4;
/// A redirect target longer than this is replaced by `/` (keeps the flow cookie in one chunk).
pub const MAX_RD_LEN: usize = 2048;
/// Random bytes in `state` and `nonce` (base64url: 22 characters).
const STATE_BYTES: usize = 16;
/// Random bytes in the PKCE code verifier (base64url: 43 characters, RFC 7636 §4.1).
const VERIFIER_BYTES: usize = 32;
/// Longest provider error text shown to the user.
const MAX_PROVIDER_TEXT: usize = 300;

/// RFC 3986 unreserved characters stay, everything else is percent-encoded (valid in a query
/// string and in an `application/x-www-form-urlencoded` body).
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn enc(s: &str) -> percent_encoding::PercentEncode<'_> {
    utf8_percent_encode(s, COMPONENT)
}

fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    constant_time::verify_slices_are_equal(a, b).is_ok()
}

fn random_b64(n: usize) -> Result<String, FlowError> {
    let mut buf = vec![0u8; n];
    rand::fill(&mut buf).map_err(|_| FlowError::Internal("CSPRNG failed"))?;
    Ok(URL_SAFE_NO_PAD.encode(&buf))
}

/// Control characters removed, at most [`MAX_PROVIDER_TEXT`] characters.
fn sanitize_text(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control())
        .take(MAX_PROVIDER_TEXT)
        .collect()
}

#[cfg(test)]
mod tests;

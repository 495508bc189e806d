//! The OpenID Connect authorization-code flow (OIDC Core 3.1) with PKCE (RFC 7636), as pure
//! functions: SPEC §5 `start`, `callback`, `sign_out`, the `rd` rules, discovery parsing and
//! the backchannel rewrite (SPEC §2 `sso_backchannel_url`).
//!
//! # What the glue calls
//! **start** (`<prefix>/start?rd=…`):
//! 1. `let rd = validate_rd(&query_param(query, "rd").unwrap_or_default(), host, cookie_domain);`
//! 2. `let s = start(&keys, client_id, &AuthRequest { … }, &rd, now)?;`
//! 3. `Set-Cookie: {s.cookie_name}={s.cookie_value}; Path=<prefix>; Max-Age={s.max_age};
//!    HttpOnly; SameSite=Lax[; Secure]` (host-only: no `Domain`), then `302 Location: s.location`.
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
//! 6. Verify `tokens.id_token` (jwt.rs: signature, `iss`, `aud`, `exp`, `iat`) and
//!    [`nonce_matches`]`(&cb.flow.nonce, claims.nonce)`.
//! 7. `Session::new(identity, now, lifetime, Some(tokens.id_token))`, `keys.seal(..)`, set the
//!    chunks (session.rs), expire the flow cookie (`Max-Age=0`, same name and path), `302
//!    Location: cb.flow.rd`.
//!
//! **sign_out**: expire the session cookie chunks, `302 Location:`
//! [`end_session_url`]`(disco.end_session_endpoint, session.id_token, post_logout, client_id)`.

use std::fmt::{self, Write as _};

use aws_lc_rs::{constant_time, digest, rand};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use percent_encoding::{percent_decode, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::{Deserialize, Serialize};

use crate::session::{Purpose, SessionKeys, CHUNK_LEN};

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

// ---------------------------------------------------------------------------------------------
// Flow state, start
// ---------------------------------------------------------------------------------------------

/// What the flow cookie remembers between `start` and `callback`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowState {
    #[serde(rename = "s")]
    pub state: String,
    #[serde(rename = "n")]
    pub nonce: String,
    /// PKCE code verifier (RFC 7636 §4.1).
    #[serde(rename = "v")]
    pub code_verifier: String,
    /// Where to send the browser after login; already validated by [`validate_rd`].
    #[serde(rename = "r")]
    pub rd: String,
    /// Created, Unix seconds.
    #[serde(rename = "a")]
    pub iat: u64,
    /// Expires, Unix seconds.
    #[serde(rename = "x")]
    pub exp: u64,
}

impl fmt::Debug for FlowState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FlowState")
            .field("state", &self.state)
            .field("nonce", &"<redacted>")
            .field("code_verifier", &"<redacted>")
            .field("rd", &self.rd)
            .field("iat", &self.iat)
            .field("exp", &self.exp)
            .finish()
    }
}

/// The parameters of the authorization request.
#[derive(Clone, Copy, Debug)]
pub struct AuthRequest<'a> {
    /// From discovery (the public URL: the browser goes there).
    pub authorization_endpoint: &'a str,
    pub client_id: &'a str,
    /// Absolute redirect URI (`sso_redirect_uri`, resolved against the request).
    pub redirect_uri: &'a str,
    /// Space-separated scopes (`sso_scopes` joined with spaces).
    pub scope: &'a str,
}

/// What `start` produces: one cookie to set and where to redirect.
#[derive(Clone, Debug)]
pub struct FlowStart {
    /// `sso_flow_<8 chars of state>`.
    pub cookie_name: String,
    /// The sealed [`FlowState`] (one chunk, at most [`CHUNK_LEN`] bytes).
    pub cookie_value: String,
    /// `Max-Age` for the cookie ([`FLOW_LIFETIME_SECS`]).
    pub max_age: u64,
    /// The authorization URL: `302 Location`.
    pub location: String,
    /// The flow state (for logging the state; the secrets in it are redacted in `Debug`).
    pub flow: FlowState,
}

/// Begins a login: fresh `state`, `nonce` and PKCE verifier, sealed into a flow cookie for
/// `app` (the client id), and the authorization URL. `rd` must be the output of
/// [`validate_rd`]; one longer than [`MAX_RD_LEN`] is replaced by `/`.
pub fn start(
    keys: &SessionKeys,
    app: &str,
    req: &AuthRequest<'_>,
    rd: &str,
    now_unix: u64,
) -> Result<FlowStart, FlowError> {
    let state = random_b64(STATE_BYTES)?;
    let nonce = random_b64(STATE_BYTES)?;
    let code_verifier = random_b64(VERIFIER_BYTES)?;
    let challenge = code_challenge_s256(&code_verifier);
    // Defence in depth: the glue passes validate_rd's output, but never seal a header-breaker.
    let rd = if rd.len() > MAX_RD_LEN || rd.is_empty() || rd.chars().any(char::is_control) {
        "/".to_owned()
    } else {
        rd.to_owned()
    };
    let flow = FlowState {
        state,
        nonce,
        code_verifier,
        rd,
        iat: now_unix,
        exp: now_unix.saturating_add(FLOW_LIFETIME_SECS),
    };
    let json = serde_json::to_vec(&flow).map_err(|_| FlowError::Internal("serialise"))?;
    let cookie_value = keys
        .seal_value(Purpose::Flow, app, &json)
        .map_err(|_| FlowError::Internal("sealing the flow cookie failed"))?;
    if cookie_value.len() > CHUNK_LEN {
        return Err(FlowError::Internal("flow cookie too large"));
    }
    let cookie_name =
        flow_cookie_name(&flow.state).ok_or(FlowError::Internal("state has a bad shape"))?;
    let location = authorization_url(req, &flow.state, &flow.nonce, &challenge);
    Ok(FlowStart {
        cookie_name,
        cookie_value,
        max_age: FLOW_LIFETIME_SECS,
        location,
        flow,
    })
}

/// The flow cookie name for a state: `sso_flow_` + its first 8 characters. `None` when the
/// state is shorter or has characters outside base64url (so an attacker-chosen `state` can
/// never produce an odd cookie name).
pub fn flow_cookie_name(state: &str) -> Option<String> {
    let prefix = state.get(..FLOW_COOKIE_STATE_CHARS)?;
    if !state
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return None;
    }
    Some(format!("{FLOW_COOKIE_PREFIX}{prefix}"))
}

/// PKCE S256 (RFC 7636 §4.2): `BASE64URL(SHA256(ASCII(code_verifier)))`.
pub fn code_challenge_s256(code_verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, code_verifier.as_bytes()))
}

/// The authorization URL (OIDC Core 3.1.2.1): the endpoint plus `response_type=code`,
/// `client_id`, `redirect_uri`, `scope`, `state`, `nonce`, `code_challenge`,
/// `code_challenge_method=S256`, percent-encoded.
pub fn authorization_url(
    req: &AuthRequest<'_>,
    state: &str,
    nonce: &str,
    code_challenge: &str,
) -> String {
    append_query(
        req.authorization_endpoint,
        &[
            ("response_type", "code"),
            ("client_id", req.client_id),
            ("redirect_uri", req.redirect_uri),
            ("scope", req.scope),
            ("state", state),
            ("nonce", nonce),
            ("code_challenge", code_challenge),
            ("code_challenge_method", "S256"),
        ],
    )
}

/// Appends encoded `params` to `url`'s query (`?` or `&` as needed); a `#fragment` is
/// dropped (RFC 6749 §3.1: endpoints have none).
pub fn append_query(url: &str, params: &[(&str, &str)]) -> String {
    let base = url.split('#').next().unwrap_or(url);
    let mut out = String::with_capacity(base.len() + 64 * params.len());
    out.push_str(base);
    let mut sep = if !base.contains('?') {
        "?"
    } else if base.ends_with('?') || base.ends_with('&') {
        ""
    } else {
        "&"
    };
    for (k, v) in params {
        out.push_str(sep);
        out.extend(enc(k));
        out.push('=');
        out.extend(enc(v));
        sep = "&";
    }
    out
}

/// Encodes `params` as `application/x-www-form-urlencoded` (unreserved characters kept).
pub fn form_encode(params: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (i, (k, v)) in params.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.extend(enc(k));
        out.push('=');
        out.extend(enc(v));
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Query strings
// ---------------------------------------------------------------------------------------------

/// Decodes one query-string value: `+` is a space, `%XX` a byte; invalid UTF-8 becomes U+FFFD
/// (which [`validate_rd`] then percent-encodes). Malformed `%` sequences stay literal.
pub fn decode_query_value(raw: &str) -> String {
    let bytes: Vec<u8> = raw
        .bytes()
        .map(|b| if b == b'+' { b' ' } else { b })
        .collect();
    String::from_utf8_lossy(&percent_decode(&bytes).collect::<Vec<u8>>()).into_owned()
}

/// The first value of parameter `name` in a raw query string (without the `?`), decoded.
pub fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (decode_query_value(k) == name).then(|| decode_query_value(v))
    })
}

// ---------------------------------------------------------------------------------------------
// Callback
// ---------------------------------------------------------------------------------------------

/// The parameters of the redirect back from the provider.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallbackParams {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
    /// RFC 9207 `iss`, when the provider sends it.
    pub iss: Option<String>,
}

/// Parses the callback's raw query string.
pub fn parse_callback_query(query: &str) -> CallbackParams {
    CallbackParams {
        code: query_param(query, "code"),
        state: query_param(query, "state"),
        error: query_param(query, "error"),
        error_description: query_param(query, "error_description"),
        iss: query_param(query, "iss"),
    }
}

/// A successful callback: the code to exchange and the remembered flow.
#[derive(Clone, Debug)]
pub struct Callback {
    pub code: String,
    pub flow: FlowState,
}

/// Checks the callback against the flow cookie found under
/// [`flow_cookie_name`]`(params.state)`: provider error, state present and equal (constant
/// time), cookie authentic for `app` and not expired, and, when the provider sends RFC 9207
/// `iss`, that it equals `issuer`.
pub fn callback(
    keys: &SessionKeys,
    app: &str,
    issuer: &str,
    params: &CallbackParams,
    flow_cookie: Option<&[u8]>,
    now_unix: u64,
) -> Result<Callback, FlowError> {
    if let Some(error) = &params.error {
        return Err(FlowError::Provider {
            error: sanitize_text(error),
            description: params.error_description.as_deref().map(sanitize_text),
        });
    }
    let state = params
        .state
        .as_deref()
        .filter(|s| !s.is_empty())
        .ok_or(FlowError::MissingParameter("state"))?;
    let code = params
        .code
        .as_deref()
        .filter(|c| !c.is_empty())
        .ok_or(FlowError::MissingParameter("code"))?;
    let cookie = flow_cookie.ok_or(FlowError::NoFlowCookie)?;
    let plain = keys
        .open_value(Purpose::Flow, app, &[cookie])
        .map_err(|_| FlowError::BadFlowCookie)?;
    let flow: FlowState = serde_json::from_slice(&plain).map_err(|_| FlowError::BadFlowCookie)?;
    if now_unix >= flow.exp {
        return Err(FlowError::FlowExpired);
    }
    if !ct_eq(flow.state.as_bytes(), state.as_bytes()) {
        return Err(FlowError::StateMismatch);
    }
    if let Some(iss) = &params.iss {
        if iss != issuer {
            return Err(FlowError::IssuerMismatch);
        }
    }
    Ok(Callback {
        code: code.to_owned(),
        flow,
    })
}

/// Every `sso_flow_*` cookie (name, value) in one `Cookie` header value.
pub fn flow_cookies(header: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    header.split(|&b| b == b';').filter_map(|pair| {
        let pair = pair.trim_ascii();
        let eq = pair.iter().position(|&b| b == b'=')?;
        let name = pair[..eq].trim_ascii();
        let value = pair[eq + 1..].trim_ascii();
        name.starts_with(FLOW_COOKIE_PREFIX.as_bytes())
            .then_some((name, value))
    })
}

/// The flow cookies to expire before `start` sets a new one, so that the browser keeps at
/// most [`MAX_FLOW_COOKIES`] including the new one: the newest `MAX_FLOW_COOKIES - 1`
/// authentic, unexpired flows of `app` stay; older ones and every flow cookie that does not
/// open (other key, other app, expired, junk) go. `cookies` are the (name, value) pairs the
/// request carries ([`flow_cookies`]); names come back once each, in request order.
pub fn flow_cookies_to_expire(
    keys: &SessionKeys,
    app: &str,
    cookies: &[(&[u8], &[u8])],
    now_unix: u64,
) -> Vec<String> {
    let mut live: Vec<(u64, usize)> = Vec::new();
    let mut doomed: Vec<usize> = Vec::new();
    for (i, (name, value)) in cookies.iter().enumerate() {
        // A name the browser sent twice (two paths) is decided once, by its first value.
        if cookies[..i].iter().any(|(n, _)| n == name) {
            continue;
        }
        let valid_name = std::str::from_utf8(name).is_ok_and(|n| {
            n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
        if !valid_name {
            continue; // not ours to touch (and not a cookie name we could set)
        }
        let flow = keys
            .open_value(Purpose::Flow, app, &[value])
            .ok()
            .and_then(|plain| serde_json::from_slice::<FlowState>(&plain).ok())
            .filter(|f| now_unix < f.exp);
        match flow {
            Some(f) => live.push((f.iat, i)),
            None => doomed.push(i),
        }
    }
    // Newest first; ties by later position in the header.
    live.sort_by(|a, b| b.cmp(a));
    doomed.extend(live.iter().skip(MAX_FLOW_COOKIES - 1).map(|&(_, i)| i));
    doomed.sort_unstable();
    doomed
        .into_iter()
        .map(|i| String::from_utf8_lossy(cookies[i].0).into_owned())
        .collect()
}

/// The ID token's `nonce` claim equals the flow's (constant time). A missing claim fails.
pub fn nonce_matches(expected: &str, id_token_nonce: Option<&str>) -> bool {
    match id_token_nonce {
        Some(n) => !expected.is_empty() && ct_eq(expected.as_bytes(), n.as_bytes()),
        None => false,
    }
}

/// Why `start` or `callback` failed. [`fmt::Display`] is plain text safe to log (provider
/// text is stripped of control characters and truncated); [`FlowError::html_page`] is the
/// escaped page for the browser.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FlowError {
    /// The provider redirected back with `error=` (e.g. `access_denied`).
    Provider {
        error: String,
        description: Option<String>,
    },
    /// `state` or `code` is missing from the callback.
    MissingParameter(&'static str),
    /// No flow cookie for this state: it expired, cookies are blocked, or the callback was
    /// not started here.
    NoFlowCookie,
    /// The flow cookie is not authentic (other key, other app, tampered).
    BadFlowCookie,
    /// The login took longer than [`FLOW_LIFETIME_SECS`].
    FlowExpired,
    /// The `state` does not match the flow cookie's.
    StateMismatch,
    /// RFC 9207 `iss` in the callback differs from the configured issuer.
    IssuerMismatch,
    /// This flow was completed (or attempted) before: flows are single-use.
    AlreadyUsed,
    /// The CSPRNG or sealing failed.
    Internal(&'static str),
}

impl FlowError {
    /// A short token for logs and `$sso_reason`.
    pub fn reason(&self) -> &'static str {
        match self {
            FlowError::Provider { .. } => "provider_error",
            FlowError::MissingParameter(_) => "malformed",
            FlowError::NoFlowCookie => "no_flow_cookie",
            FlowError::BadFlowCookie => "malformed",
            FlowError::FlowExpired => "expired",
            FlowError::StateMismatch => "state_mismatch",
            FlowError::IssuerMismatch => "wrong_issuer",
            FlowError::AlreadyUsed => "replayed",
            FlowError::Internal(_) => "internal_error",
        }
    }

    /// The HTTP status to answer with: 500 for internal errors, else 400.
    pub fn http_status(&self) -> u16 {
        match self {
            FlowError::Internal(_) => 500,
            _ => 400,
        }
    }

    /// A small HTML page explaining the error, every dynamic part escaped.
    pub fn html_page(&self) -> String {
        error_page("Sign-in failed", &self.to_string())
    }
}

impl fmt::Display for FlowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FlowError::Provider { error, description } => {
                write!(f, "the identity provider refused the sign-in: {error}")?;
                if let Some(d) = description {
                    write!(f, " ({d})")?;
                }
                Ok(())
            }
            FlowError::MissingParameter(p) => {
                write!(f, "the sign-in callback lacks the `{p}` parameter")
            }
            FlowError::NoFlowCookie => f.write_str(
                "no sign-in in progress for this callback (it took too long, cookies are \
                 blocked, or it was started elsewhere); please try again",
            ),
            FlowError::BadFlowCookie => {
                f.write_str("the sign-in cookie is not valid here; please try again")
            }
            FlowError::FlowExpired => f.write_str("the sign-in took too long; please try again"),
            FlowError::StateMismatch => {
                f.write_str("the sign-in state does not match; please try again")
            }
            FlowError::IssuerMismatch => {
                f.write_str("the callback came from a different identity provider (iss)")
            }
            FlowError::AlreadyUsed => f.write_str(
                "this sign-in was already used (a sign-in link works once); please start again",
            ),
            FlowError::Internal(what) => write!(f, "internal error: {what}"),
        }
    }
}

impl std::error::Error for FlowError {}

/// Escapes `& < > " '` for HTML text and attribute values.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A minimal error page; `title` and `message` are escaped.
pub fn error_page(title: &str, message: &str) -> String {
    let t = html_escape(title);
    let m = html_escape(message);
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{t}</title></head>\
         <body><h1>{t}</h1><p>{m}</p></body></html>\n"
    )
}

/// Control characters removed, at most [`MAX_PROVIDER_TEXT`] characters.
fn sanitize_text(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control())
        .take(MAX_PROVIDER_TEXT)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Token endpoint
// ---------------------------------------------------------------------------------------------

/// How the client authenticates at the token endpoint (RFC 6749 §2.3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    /// `Authorization: Basic …`
    SecretBasic,
    /// `client_secret` in the form body.
    SecretPost,
    /// Public client: `client_id` only (PKCE protects the code).
    None,
}

/// Picks the client authentication from discovery's `token_endpoint_auth_methods_supported`:
/// `client_secret_basic` when listed (or when the list is empty: it is the default), else
/// `client_secret_post` when listed, else basic; [`ClientAuth::None`] without a secret.
pub fn choose_client_auth(supported: &[String], has_secret: bool) -> ClientAuth {
    if !has_secret {
        return ClientAuth::None;
    }
    let has = |m: &str| supported.iter().any(|s| s == m);
    if supported.is_empty() || has("client_secret_basic") {
        ClientAuth::SecretBasic
    } else if has("client_secret_post") {
        ClientAuth::SecretPost
    } else {
        ClientAuth::SecretBasic
    }
}

/// The `Authorization` header value for `client_secret_basic`: `Basic
/// base64(urlencode(id) ":" urlencode(secret))` (RFC 6749 §2.3.1).
pub fn client_secret_basic(client_id: &str, client_secret: &str) -> String {
    let pair = format!("{}:{}", enc(client_id), enc(client_secret));
    format!("Basic {}", STANDARD.encode(pair.as_bytes()))
}

/// The form body of the code exchange (RFC 6749 §4.1.3, RFC 7636 §4.5):
/// `grant_type=authorization_code&code=…&redirect_uri=…&code_verifier=…&client_id=…`, plus
/// `client_secret=…` when `post_secret` is given (client_secret_post).
pub fn token_request_body(
    code: &str,
    redirect_uri: &str,
    code_verifier: &str,
    client_id: &str,
    post_secret: Option<&str>,
) -> String {
    let mut params = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
        ("code_verifier", code_verifier),
        ("client_id", client_id),
    ];
    if let Some(secret) = post_secret {
        params.push(("client_secret", secret));
    }
    form_encode(&params)
}

/// A ready token request: POST `body` as `application/x-www-form-urlencoded`, with
/// `Authorization: authorization` when set. `Debug` redacts both.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenRequest {
    pub body: String,
    pub authorization: Option<String>,
}

impl fmt::Debug for TokenRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenRequest")
            .field("body", &"<redacted>")
            .field(
                "authorization",
                &self.authorization.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// Builds the code-exchange request for the chosen client authentication.
pub fn token_request(
    code: &str,
    redirect_uri: &str,
    code_verifier: &str,
    client_id: &str,
    client_secret: Option<&str>,
    auth: ClientAuth,
) -> TokenRequest {
    match (auth, client_secret) {
        (ClientAuth::SecretBasic, Some(secret)) => TokenRequest {
            body: token_request_body(code, redirect_uri, code_verifier, client_id, None),
            authorization: Some(client_secret_basic(client_id, secret)),
        },
        (ClientAuth::SecretPost, Some(secret)) => TokenRequest {
            body: token_request_body(code, redirect_uri, code_verifier, client_id, Some(secret)),
            authorization: None,
        },
        _ => TokenRequest {
            body: token_request_body(code, redirect_uri, code_verifier, client_id, None),
            authorization: None,
        },
    }
}

/// A successful token response (RFC 6749 §5.1, OIDC Core 3.1.3.3). `Debug` redacts tokens.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenResponse {
    pub access_token: String,
    /// Required in OIDC; [`parse_token_response`] fails without it.
    pub id_token: String,
    pub token_type: String,
    pub expires_in: Option<u64>,
    pub refresh_token: Option<String>,
    pub scope: Option<String>,
}

impl fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenResponse")
            .field("access_token", &"<redacted>")
            .field("id_token", &"<redacted>")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "<redacted>"),
            )
            .field("scope", &self.scope)
            .finish()
    }
}

/// Why the code exchange failed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenError {
    /// The provider answered with an OAuth error (RFC 6749 §5.2), e.g. `invalid_grant`.
    Provider {
        status: u16,
        error: String,
        description: Option<String>,
    },
    /// A non-2xx answer without an OAuth error body.
    Http { status: u16 },
    /// The body is not the JSON expected, or a required field is missing.
    Malformed(&'static str),
    /// No `id_token` (was `openid` in the scopes?).
    MissingIdToken,
    /// `token_type` is not `Bearer`.
    NotBearer(String),
}

impl TokenError {
    /// A short token for logs.
    pub fn reason(&self) -> &'static str {
        match self {
            TokenError::Provider { .. } => "provider_error",
            TokenError::Http { .. } => "provider_unavailable",
            TokenError::Malformed(_) | TokenError::NotBearer(_) => "malformed",
            TokenError::MissingIdToken => "missing_id_token",
        }
    }

    /// The provider's `error` code, when it sent one.
    pub fn provider_error(&self) -> Option<&str> {
        match self {
            TokenError::Provider { error, .. } => Some(error),
            _ => None,
        }
    }

    /// A small HTML page for the browser (502: the upstream provider failed us).
    pub fn html_page(&self) -> String {
        error_page("Sign-in failed", &self.to_string())
    }
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenError::Provider {
                status,
                error,
                description,
            } => {
                write!(
                    f,
                    "the token endpoint refused the code (HTTP {status}): {error}"
                )?;
                if let Some(d) = description {
                    write!(f, " ({d})")?;
                }
                Ok(())
            }
            TokenError::Http { status } => {
                write!(f, "the token endpoint answered HTTP {status}")
            }
            TokenError::Malformed(what) => write!(f, "bad token response: {what}"),
            TokenError::MissingIdToken => {
                f.write_str("the token response has no id_token (is `openid` among sso_scopes?)")
            }
            TokenError::NotBearer(t) => write!(f, "unsupported token_type {t:?}"),
        }
    }
}

impl std::error::Error for TokenError {}

#[derive(Deserialize)]
struct RawTokenResponse {
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    id_token: Option<String>,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
}

/// Parses the token endpoint's answer: `status` is the HTTP status, `body` the response body.
pub fn parse_token_response(status: u16, body: &[u8]) -> Result<TokenResponse, TokenError> {
    let raw: Option<RawTokenResponse> = serde_json::from_slice(body).ok();
    let ok_status = (200..300).contains(&status);
    let raw = match raw {
        Some(r) => r,
        None if ok_status => return Err(TokenError::Malformed("not a JSON object")),
        None => return Err(TokenError::Http { status }),
    };
    if let Some(error) = raw.error.as_deref().filter(|e| !e.is_empty()) {
        return Err(TokenError::Provider {
            status,
            error: sanitize_text(error),
            description: raw.error_description.as_deref().map(sanitize_text),
        });
    }
    if !ok_status {
        return Err(TokenError::Http { status });
    }
    let access_token = raw
        .access_token
        .filter(|t| !t.is_empty())
        .ok_or(TokenError::Malformed("no access_token"))?;
    let id_token = raw
        .id_token
        .filter(|t| !t.is_empty())
        .ok_or(TokenError::MissingIdToken)?;
    let token_type = raw.token_type.unwrap_or_default();
    if !token_type.eq_ignore_ascii_case("bearer") {
        return Err(TokenError::NotBearer(sanitize_text(&token_type)));
    }
    // Some providers send expires_in as a string.
    let expires_in = match raw.expires_in {
        Some(serde_json::Value::Number(n)) => n.as_u64(),
        Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    };
    Ok(TokenResponse {
        access_token,
        id_token,
        token_type,
        expires_in,
        refresh_token: raw.refresh_token.filter(|t| !t.is_empty()),
        scope: raw.scope,
    })
}

// ---------------------------------------------------------------------------------------------
// rd (SPEC §5)
// ---------------------------------------------------------------------------------------------

/// A safe redirect target for `rd` (already percent-decoded, see [`query_param`]), or `/`.
///
/// Honoured:
/// * a path starting with exactly one `/` (not `//`, not `/\`);
/// * an `http`/`https` URL (scheme case-insensitive) whose host equals the request's host
///   (ASCII case-insensitive) and whose port matches: when `request_host` carries a port, the
///   URL's effective port (explicit, else 80/443 by scheme) must equal it; when it carries
///   none, the URL must have no port or its scheme's default one. The scheme itself is not
///   compared (the request's scheme is not known here);
/// * with `cookie_domain`, an `http`/`https` URL whose host equals the domain (a leading `.`
///   ignored) or ends with `.` + domain, on any port (cookies ignore ports).
///
/// Refused (→ `/`): any control character (tabs and newlines included: browsers strip them,
/// turning `/\t/evil` into `//evil`), any backslash, userinfo (`@` in the authority), an empty
/// authority (`https:///evil.com`), hosts with characters outside `A-Z a-z 0-9 . - _` or a
/// bracketed IPv6 literal (so no percent-encoded or non-ASCII/IDN hosts: use the punycode
/// form), anything longer than [`MAX_RD_LEN`] before or after percent-encoding, every other
/// scheme.
///
/// The returned string has spaces, `"`, `<`, `>`, `` ` `` and non-ASCII characters
/// percent-encoded, so it is safe in a `Location` header and in HTML.
pub fn validate_rd(rd: &str, request_host: &str, cookie_domain: Option<&str>) -> String {
    if rd_is_safe(rd, request_host, cookie_domain) {
        let out = encode_location(rd);
        // The limit holds for what is returned: percent-encoding makes a non-ASCII
        // character up to 12 bytes long.
        if out.len() <= MAX_RD_LEN {
            return out;
        }
    }
    "/".to_owned()
}

fn rd_is_safe(rd: &str, request_host: &str, cookie_domain: Option<&str>) -> bool {
    if rd.is_empty() || rd.len() > MAX_RD_LEN {
        return false;
    }
    if rd.chars().any(|c| c.is_control() || c == '\\') {
        return false;
    }
    let bytes = rd.as_bytes();
    if bytes.first() == Some(&b'/') {
        return bytes.get(1) != Some(&b'/');
    }
    let Some(url) = split_http_url(rd) else {
        return false;
    };
    let Some((host, port)) = split_host_port(url.authority) else {
        return false;
    };
    let default_port = url.default_port();
    let effective = port.unwrap_or(default_port);

    if let Some((req_host, req_port)) = split_host_port(request_host) {
        if host.eq_ignore_ascii_case(req_host) {
            let port_ok = match req_port {
                Some(p) => effective == p,
                None => effective == default_port,
            };
            if port_ok {
                return true;
            }
        }
    }
    if let Some(domain) = cookie_domain {
        let domain = domain.strip_prefix('.').unwrap_or(domain);
        if !domain.is_empty() && split_host_port(domain).is_some_and(|(_, p)| p.is_none()) {
            if host.eq_ignore_ascii_case(domain) {
                return true;
            }
            if host.len() > domain.len() {
                let cut = host.len() - domain.len();
                if let (Some(head), Some(tail)) = (host.get(..cut), host.get(cut..)) {
                    if head.ends_with('.') && head.len() > 1 && tail.eq_ignore_ascii_case(domain) {
                        return true;
                    }
                }
            }
        }
    }
    false
}

fn encode_location(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            ' ' | '"' | '<' | '>' | '`' => {
                let _ = write!(out, "%{:02X}", c as u32);
            }
            c if c.is_ascii() => out.push(c),
            c => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    let _ = write!(out, "%{b:02X}");
                }
            }
        }
    }
    out
}

/// An `http`/`https` URL split at the authority.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct HttpUrl<'a> {
    https: bool,
    authority: &'a str,
    /// Path, query and fragment: empty or starting with `/`, `?` or `#`.
    rest: &'a str,
}

impl HttpUrl<'_> {
    fn default_port(&self) -> u16 {
        if self.https {
            443
        } else {
            80
        }
    }
}

fn split_http_url(s: &str) -> Option<HttpUrl<'_>> {
    let (scheme, after) = s.split_once("://")?;
    let https = if scheme.eq_ignore_ascii_case("https") {
        true
    } else if scheme.eq_ignore_ascii_case("http") {
        false
    } else {
        return None;
    };
    let end = after.find(['/', '?', '#', '\\']).unwrap_or(after.len());
    let (authority, rest) = after.split_at(end);
    if authority.is_empty() || authority.contains('@') || rest.starts_with('\\') {
        return None;
    }
    Some(HttpUrl {
        https,
        authority,
        rest,
    })
}

/// `host[:port]` or `[v6][:port]` → (host, port). `None` when malformed. An empty port
/// (`host:`) counts as no port, as browsers do.
fn split_host_port(authority: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let close = v6.find(']')?;
        let inner = v6.get(..close)?;
        // A real IPv6 address (what the HTTP client and browsers accept), not just its
        // characters.
        if inner.parse::<std::net::Ipv6Addr>().is_err() {
            return None;
        }
        let host = authority.get(..close + 2)?;
        let after = authority.get(close + 2..)?;
        let port = if after.is_empty() {
            None
        } else {
            Some(after.strip_prefix(':')?)
        };
        (host, port)
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if !host.starts_with('[')
        && (host.is_empty()
            || !host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_'))
    {
        return None;
    }
    let port = match port {
        None | Some("") => None,
        Some(p) if p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) => Some(p.parse().ok()?),
        Some(_) => return None,
    };
    Some((host, port))
}

// ---------------------------------------------------------------------------------------------
// Discovery, backchannel
// ---------------------------------------------------------------------------------------------

/// The discovery URL for an issuer (OIDC Discovery §4): the issuer without a trailing `/`,
/// plus `/.well-known/openid-configuration`.
pub fn discovery_url(issuer: &str) -> String {
    format!(
        "{}/.well-known/openid-configuration",
        issuer.strip_suffix('/').unwrap_or(issuer)
    )
}

/// The fields of the discovery document this module uses.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Discovery {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    #[serde(default)]
    pub userinfo_endpoint: Option<String>,
    /// Required by OIDC, optional here: `sso_jwks_file` can stand in.
    #[serde(default)]
    pub jwks_uri: Option<String>,
    #[serde(default)]
    pub end_session_endpoint: Option<String>,
    /// Empty when absent (the default is `client_secret_basic`).
    #[serde(default)]
    pub token_endpoint_auth_methods_supported: Vec<String>,
    /// Empty when absent. `S256` is sent regardless.
    #[serde(default)]
    pub code_challenge_methods_supported: Vec<String>,
}

impl Discovery {
    /// Whether the provider says it supports PKCE S256 (absent list: unknown, `true`).
    pub fn supports_s256(&self) -> bool {
        self.code_challenge_methods_supported.is_empty()
            || self
                .code_challenge_methods_supported
                .iter()
                .any(|m| m == "S256")
    }
}

/// Why a discovery document was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DiscoveryError {
    /// Not JSON, or a required field (`issuer`, `authorization_endpoint`, `token_endpoint`)
    /// missing or of the wrong type.
    Malformed(String),
    /// The document's `issuer` differs from `sso_issuer`.
    IssuerMismatch {
        expected: String,
        found: String,
        /// The two differ only by a trailing `/`.
        trailing_slash_only: bool,
    },
    /// An endpoint is not an absolute http(s) URL (or has a space or control character).
    BadEndpoint { field: &'static str, value: String },
}

impl fmt::Display for DiscoveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DiscoveryError::Malformed(why) => write!(f, "bad discovery document: {why}"),
            DiscoveryError::IssuerMismatch {
                expected,
                found,
                trailing_slash_only,
            } => {
                write!(
                    f,
                    "the discovery document's issuer {found:?} differs from sso_issuer {expected:?}"
                )?;
                if *trailing_slash_only {
                    write!(
                        f,
                        " only by a trailing slash: set sso_issuer to exactly {found:?}"
                    )?;
                }
                Ok(())
            }
            DiscoveryError::BadEndpoint { field, value } => write!(
                f,
                "the discovery document's {field} {value:?} is not an absolute http(s) URL"
            ),
        }
    }
}

impl std::error::Error for DiscoveryError {}

/// Parses a discovery document and checks that its `issuer` equals `configured_issuer`
/// exactly (OIDC Discovery §4.3) and that the endpoints are absolute http(s) URLs.
pub fn parse_discovery(body: &[u8], configured_issuer: &str) -> Result<Discovery, DiscoveryError> {
    let d: Discovery = serde_json::from_slice(body).map_err(|e| {
        // serde_json's message names the field and position, never echoes large input.
        DiscoveryError::Malformed(sanitize_text(&e.to_string()))
    })?;
    if d.issuer != configured_issuer {
        let trailing_slash_only =
            d.issuer.trim_end_matches('/') == configured_issuer.trim_end_matches('/');
        return Err(DiscoveryError::IssuerMismatch {
            expected: sanitize_text(configured_issuer),
            found: sanitize_text(&d.issuer),
            trailing_slash_only,
        });
    }
    // The endpoints end up in `Location` headers (authorization, end session): no space or
    // control character (CR LF would split the header).
    let check = |field: &'static str, value: &str| {
        if !value.chars().any(|c| c.is_control() || c == ' ')
            && split_http_url(value).is_some_and(|u| split_host_port(u.authority).is_some())
        {
            Ok(())
        } else {
            Err(DiscoveryError::BadEndpoint {
                field,
                value: sanitize_text(value),
            })
        }
    };
    check("authorization_endpoint", &d.authorization_endpoint)?;
    check("token_endpoint", &d.token_endpoint)?;
    for (field, v) in [
        ("userinfo_endpoint", &d.userinfo_endpoint),
        ("jwks_uri", &d.jwks_uri),
        ("end_session_endpoint", &d.end_session_endpoint),
    ] {
        if let Some(v) = v {
            check(field, v)?;
        }
    }
    Ok(d)
}

/// A parsed `sso_backchannel_url`: `scheme://host[:port]` (a trailing `/` tolerated).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackchannelOrigin {
    /// `http` or `https`, lowercase.
    pub scheme: &'static str,
    /// `host[:port]` as written.
    pub authority: String,
}

/// Parses `sso_backchannel_url` (for `nginx -t`: the error says why).
pub fn parse_backchannel_origin(s: &str) -> Result<BackchannelOrigin, String> {
    let u = split_http_url(s).ok_or_else(|| {
        "must be an origin `http://host[:port]` or `https://host[:port]` (no user@)".to_owned()
    })?;
    if !(u.rest.is_empty() || u.rest == "/") {
        return Err(
            "must be an origin only (scheme://host[:port]), without a path or query".into(),
        );
    }
    split_host_port(u.authority).ok_or_else(|| "bad host or port".to_owned())?;
    Ok(BackchannelOrigin {
        scheme: if u.https { "https" } else { "http" },
        authority: u.authority.to_owned(),
    })
}

/// A server-to-server URL moved onto the backchannel origin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rewritten {
    /// Backchannel scheme and authority, original path and query.
    pub url: String,
    /// The original authority: send it as `Host` so the provider builds its public URLs.
    pub host: String,
    /// The original scheme (`http`/`https`), e.g. for `X-Forwarded-Proto`.
    pub original_scheme: &'static str,
}

/// Replaces the scheme and authority of `url` (a public endpoint from discovery or the
/// issuer) with the backchannel origin's, keeping path and query (a fragment is dropped).
/// `None` when `url` is not an absolute http(s) URL.
pub fn rewrite_to_backchannel(url: &str, origin: &BackchannelOrigin) -> Option<Rewritten> {
    let u = split_http_url(url)?;
    split_host_port(u.authority)?;
    let rest = u.rest.split('#').next().unwrap_or("");
    Some(Rewritten {
        url: format!("{}://{}{}", origin.scheme, origin.authority, rest),
        host: u.authority.to_owned(),
        original_scheme: if u.https { "https" } else { "http" },
    })
}

// ---------------------------------------------------------------------------------------------
// Sign out
// ---------------------------------------------------------------------------------------------

/// Where `sign_out` sends the browser (OIDC RP-Initiated Logout 1.0 §2): the
/// `end_session_endpoint` with `id_token_hint` (when known), `post_logout_redirect_uri`
/// (when configured) and `client_id`; `/` when the provider has no end-session endpoint.
pub fn end_session_url(
    end_session_endpoint: Option<&str>,
    id_token_hint: Option<&str>,
    post_logout_redirect_uri: Option<&str>,
    client_id: &str,
) -> String {
    let Some(endpoint) = end_session_endpoint.filter(|e| split_http_url(e).is_some()) else {
        return "/".to_owned();
    };
    let mut params: Vec<(&str, &str)> = Vec::with_capacity(3);
    if let Some(hint) = id_token_hint.filter(|h| !h.is_empty()) {
        params.push(("id_token_hint", hint));
    }
    if let Some(uri) = post_logout_redirect_uri.filter(|u| !u.is_empty()) {
        params.push(("post_logout_redirect_uri", uri));
    }
    if !client_id.is_empty() {
        params.push(("client_id", client_id));
    }
    if params.is_empty() {
        return endpoint.split('#').next().unwrap_or(endpoint).to_owned();
    }
    append_query(endpoint, &params)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Identity;
    use crate::session::{Session, SessionKeys};

    fn keys() -> SessionKeys {
        SessionKeys::parse(b"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
            .unwrap()
    }

    const REQ: AuthRequest<'static> = AuthRequest {
        authorization_endpoint: "https://auth.example.com/application/o/authorize/",
        client_id: "my-client",
        redirect_uri: "https://app.example.com/outpost.goauthentik.io/callback",
        scope: "openid profile email",
    };

    #[test]
    fn flow_cookie_cap_keeps_the_newest() {
        let k = keys();
        // ten flows started one second apart, in shuffled header order
        let starts: Vec<FlowStart> = (0..10)
            .map(|i| start(&k, "my-client", &REQ, "/", 1000 + i).unwrap())
            .collect();
        let order = [3usize, 9, 0, 7, 1, 8, 2, 6, 4, 5];
        let mut header = String::from("other=1; sso_session=abc");
        for &i in &order {
            header.push_str(&format!(
                "; {}={}",
                starts[i].cookie_name, starts[i].cookie_value
            ));
        }
        header.push_str("; sso_flow_junkjunk=notsealed; sso_flow_=x");
        let pairs: Vec<(&[u8], &[u8])> = flow_cookies(header.as_bytes()).collect();
        assert_eq!(pairs.len(), 12, "only sso_flow_* cookies");
        let doomed = flow_cookies_to_expire(&k, "my-client", &pairs, 1020);
        let kept: Vec<usize> = (0..10)
            .filter(|&i| !doomed.contains(&starts[i].cookie_name))
            .collect();
        assert_eq!(kept, [7, 8, 9], "the newest MAX-1 stay: {doomed:?}");
        assert!(doomed.contains(&"sso_flow_junkjunk".to_owned()));
        assert!(doomed.contains(&"sso_flow_".to_owned()));
        assert_eq!(doomed.len(), 9);
        // expired flows go even when few; another app's flows do not open here
        let pairs: Vec<(&[u8], &[u8])> = vec![(
            starts[0].cookie_name.as_bytes(),
            starts[0].cookie_value.as_bytes(),
        )];
        assert!(flow_cookies_to_expire(&k, "my-client", &pairs, 1000).is_empty());
        assert_eq!(
            flow_cookies_to_expire(&k, "my-client", &pairs, 1000 + FLOW_LIFETIME_SECS),
            [starts[0].cookie_name.clone()]
        );
        assert_eq!(
            flow_cookies_to_expire(&k, "other-app", &pairs, 1000).len(),
            1
        );
        // nothing to do with MAX-1 or fewer live flows
        let few: Vec<(&[u8], &[u8])> = starts[..MAX_FLOW_COOKIES - 1]
            .iter()
            .map(|s| (s.cookie_name.as_bytes(), s.cookie_value.as_bytes()))
            .collect();
        assert!(flow_cookies_to_expire(&k, "my-client", &few, 1005).is_empty());
        // names with odd bytes are never echoed back into Set-Cookie
        let odd: Vec<(&[u8], &[u8])> = vec![(b"sso_flow_a\r\nX", b"v")];
        assert!(flow_cookies_to_expire(&k, "my-client", &odd, 1005).is_empty());
    }

    #[test]
    fn pkce_rfc7636_appendix_b() {
        assert_eq!(
            code_challenge_s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn start_produces_cookie_and_url() {
        let k = keys();
        let s = start(&k, "my-client", &REQ, "/after?x=1", 1000).unwrap();
        let f = &s.flow;
        assert!(f.state.len() >= 22 && f.nonce.len() >= 22);
        assert!((43..=128).contains(&f.code_verifier.len()));
        assert!(f
            .code_verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b)));
        assert_ne!(f.state, f.nonce);
        assert_eq!(s.cookie_name, format!("sso_flow_{}", &f.state[..8]));
        assert_eq!(s.max_age, FLOW_LIFETIME_SECS);
        assert!(s.cookie_value.len() <= CHUNK_LEN);
        let expect = format!(
            "https://auth.example.com/application/o/authorize/?response_type=code\
             &client_id=my-client\
             &redirect_uri=https%3A%2F%2Fapp.example.com%2Foutpost.goauthentik.io%2Fcallback\
             &scope=openid%20profile%20email&state={}&nonce={}&code_challenge={}\
             &code_challenge_method=S256",
            f.state,
            f.nonce,
            code_challenge_s256(&f.code_verifier)
        );
        assert_eq!(s.location, expect);
        // Debug never shows the verifier (the nonce is public in the URL anyway)
        let dbg = format!("{s:?}");
        assert!(!dbg.contains(&f.code_verifier));
        assert!(!format!("{f:?}").contains(&f.nonce));
        // two starts differ
        let s2 = start(&k, "my-client", &REQ, "/", 1000).unwrap();
        assert_ne!(s2.flow.state, f.state);
        assert_ne!(s2.cookie_name, s.cookie_name);
    }

    #[test]
    fn authorization_url_with_existing_query() {
        let req = AuthRequest {
            authorization_endpoint: "https://idp.example/auth?tenant=a b#frag",
            ..REQ
        };
        let u = authorization_url(&req, "st", "no", "ch");
        assert!(u.starts_with("https://idp.example/auth?tenant=a b&response_type=code&"));
        assert!(!u.contains('#'));
        assert_eq!(
            append_query("https://x/a?", &[("k", "v")]),
            "https://x/a?k=v"
        );
        assert_eq!(
            append_query("https://x/a?q=1&", &[("k", "v")]),
            "https://x/a?q=1&k=v"
        );
        assert_eq!(
            append_query("https://x/a", &[("k", "a&b=c")]),
            "https://x/a?k=a%26b%3Dc"
        );
    }

    fn params(code: &str, state: &str) -> CallbackParams {
        parse_callback_query(&format!("code={code}&state={state}"))
    }

    #[test]
    fn callback_round_trip() {
        let k = keys();
        let s = start(&k, "my-client", &REQ, "/after", 1000).unwrap();
        let p = params("the-code", &s.flow.state);
        assert_eq!(
            flow_cookie_name(p.state.as_deref().unwrap()).unwrap(),
            s.cookie_name
        );
        let cb = callback(
            &k,
            "my-client",
            "https://auth.example.com/",
            &p,
            Some(s.cookie_value.as_bytes()),
            1100,
        )
        .unwrap();
        assert_eq!(cb.code, "the-code");
        assert_eq!(cb.flow, s.flow);
        assert_eq!(cb.flow.rd, "/after");
    }

    #[test]
    fn callback_failures() {
        let k = keys();
        let iss = "https://auth.example.com/";
        let s = start(&k, "my-client", &REQ, "/", 1000).unwrap();
        let c = Some(s.cookie_value.as_bytes());
        let st = s.flow.state.clone();
        let run = |p: &CallbackParams, cookie: Option<&[u8]>, app: &str, now: u64| {
            callback(&k, app, iss, p, cookie, now).unwrap_err()
        };
        // wrong state, even with the same 8-char prefix
        let mut forged = st.clone();
        forged.push('x');
        assert_eq!(
            run(&params("c", &forged), c, "my-client", 1001),
            FlowError::StateMismatch
        );
        assert_eq!(
            run(&params("c", &st), c, "my-client", 1000 + FLOW_LIFETIME_SECS),
            FlowError::FlowExpired
        );
        assert_eq!(
            run(&params("c", &st), c, "other-client", 1001),
            FlowError::BadFlowCookie
        );
        assert_eq!(
            run(&params("c", &st), None, "my-client", 1001),
            FlowError::NoFlowCookie
        );
        assert_eq!(
            run(&params("c", &st), Some(b"garbage"), "my-client", 1001),
            FlowError::BadFlowCookie
        );
        assert_eq!(
            run(
                &parse_callback_query(&format!("state={st}")),
                c,
                "my-client",
                1001
            ),
            FlowError::MissingParameter("code")
        );
        assert_eq!(
            run(&parse_callback_query("code=abc"), c, "my-client", 1001),
            FlowError::MissingParameter("state")
        );
        let mut p = params("c", &st);
        p.iss = Some("https://evil.example/".into());
        assert_eq!(run(&p, c, "my-client", 1001), FlowError::IssuerMismatch);
        p.iss = Some(iss.into());
        assert!(callback(&k, "my-client", iss, &p, c, 1001).is_ok());

        // a session cookie is never a flow cookie
        let sess = k
            .seal(
                &Session::new(Identity::default(), 1000, 100, None),
                "my-client",
            )
            .unwrap();
        assert_eq!(
            run(
                &params("c", &st),
                Some(sess[0].as_bytes()),
                "my-client",
                1001
            ),
            FlowError::BadFlowCookie
        );
        // and a flow cookie is never a session
        assert!(k
            .open(&[s.cookie_value.as_bytes()], "my-client", 1001)
            .is_err());
    }

    #[test]
    fn provider_error_is_sanitised() {
        let k = keys();
        let p = parse_callback_query(
            "error=access_denied&error_description=%3Cscript%3Ealert(1)%3C%2Fscript%3E%0d%0aX&state=abc",
        );
        let e = callback(&k, "c", "i", &p, None, 0).unwrap_err();
        assert_eq!(e.reason(), "provider_error");
        assert_eq!(e.http_status(), 400);
        let text = e.to_string();
        assert!(text.contains("access_denied") && !text.contains('\r') && !text.contains('\n'));
        let html = e.html_page();
        assert!(!html.contains("<script>"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;X"));
        let long = format!("error=x&error_description={}", "a".repeat(5000));
        let e = callback(&k, "c", "i", &parse_callback_query(&long), None, 0).unwrap_err();
        assert!(e.to_string().len() < 1000);
    }

    #[test]
    fn cookie_name_rules() {
        assert_eq!(
            flow_cookie_name("abcdefgh123").unwrap(),
            "sso_flow_abcdefgh"
        );
        assert_eq!(flow_cookie_name("abc"), None);
        assert_eq!(flow_cookie_name("abcdefgh;x=1"), None);
        assert_eq!(flow_cookie_name("ééééééé"), None);
        assert_eq!(flow_cookie_name(""), None);
    }

    #[test]
    fn nonce_check() {
        assert!(nonce_matches("abc", Some("abc")));
        assert!(!nonce_matches("abc", Some("abd")));
        assert!(!nonce_matches("abc", Some("abcd")));
        assert!(!nonce_matches("abc", None));
        assert!(!nonce_matches("", Some("")));
    }

    #[test]
    fn token_request_building() {
        let b = token_request_body("c o+de", "https://a/cb?x=1", "ver", "id", None);
        assert_eq!(
            b,
            "grant_type=authorization_code&code=c%20o%2Bde&redirect_uri=https%3A%2F%2Fa%2Fcb%3Fx%3D1\
             &code_verifier=ver&client_id=id"
        );
        // RFC 6749 §2.3.1: form-encode id and secret, then base64
        assert_eq!(
            client_secret_basic("my client", "p@ss:w/rd"),
            format!("Basic {}", STANDARD.encode("my%20client:p%40ss%3Aw%2Frd"))
        );
        let sup = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(choose_client_auth(&[], true), ClientAuth::SecretBasic);
        assert_eq!(
            choose_client_auth(&sup(&["client_secret_post", "client_secret_basic"]), true),
            ClientAuth::SecretBasic
        );
        assert_eq!(
            choose_client_auth(&sup(&["client_secret_post"]), true),
            ClientAuth::SecretPost
        );
        assert_eq!(
            choose_client_auth(&sup(&["client_secret_post"]), false),
            ClientAuth::None
        );

        let t = token_request("c", "r", "v", "id", Some("s3"), ClientAuth::SecretPost);
        assert!(t.body.ends_with("&client_id=id&client_secret=s3"));
        assert_eq!(t.authorization, None);
        assert!(!format!("{t:?}").contains("s3"));
        let t = token_request("c", "r", "v", "id", Some("s3"), ClientAuth::SecretBasic);
        assert!(!t.body.contains("client_secret"));
        assert!(t.authorization.as_deref().unwrap().starts_with("Basic "));
        let t = token_request("c", "r", "v", "id", None, ClientAuth::SecretBasic);
        assert_eq!(t.authorization, None);
    }

    #[test]
    fn token_responses() {
        let ok = br#"{"access_token":"at","id_token":"it","token_type":"Bearer","expires_in":300,"refresh_token":"rt","scope":"openid"}"#;
        let t = parse_token_response(200, ok).unwrap();
        assert_eq!(
            (t.access_token.as_str(), t.id_token.as_str(), t.expires_in),
            ("at", "it", Some(300))
        );
        assert_eq!(t.refresh_token.as_deref(), Some("rt"));
        assert!(!format!("{t:?}").contains("\"at\""));

        let t = parse_token_response(
            200,
            br#"{"access_token":"at","id_token":"it","token_type":"bearer","expires_in":"3599"}"#,
        )
        .unwrap();
        assert_eq!((t.expires_in, t.refresh_token), (Some(3599), None));

        let e = parse_token_response(
            400,
            br#"{"error":"invalid_grant","error_description":"code <b>expired</b>\n"}"#,
        )
        .unwrap_err();
        assert_eq!(e.provider_error(), Some("invalid_grant"));
        assert_eq!(e.reason(), "provider_error");
        assert!(!e.to_string().contains('\n'));
        assert!(!e.html_page().contains("<b>"));

        assert_eq!(
            parse_token_response(502, b"<html>Bad gateway</html>"),
            Err(TokenError::Http { status: 502 })
        );
        assert_eq!(
            parse_token_response(500, br#"{"detail":"x"}"#),
            Err(TokenError::Http { status: 500 })
        );
        assert!(matches!(
            parse_token_response(200, b"not json"),
            Err(TokenError::Malformed(_))
        ));
        assert!(matches!(
            parse_token_response(200, b"[]"),
            Err(TokenError::Malformed(_))
        ));
        assert_eq!(
            parse_token_response(200, br#"{"access_token":"a","token_type":"Bearer"}"#),
            Err(TokenError::MissingIdToken)
        );
        assert!(matches!(
            parse_token_response(
                200,
                br#"{"access_token":"a","id_token":"i","token_type":"mac"}"#
            ),
            Err(TokenError::NotBearer(_))
        ));
        assert!(matches!(
            parse_token_response(200, br#"{"id_token":"i","token_type":"Bearer"}"#),
            Err(TokenError::Malformed(_))
        ));
        // an error field wins even on 200
        assert!(matches!(
            parse_token_response(200, br#"{"error":"server_error"}"#),
            Err(TokenError::Provider { .. })
        ));
    }

    #[test]
    fn query_decoding() {
        assert_eq!(
            query_param("rd=%2F%2Fevil.com", "rd").as_deref(),
            Some("//evil.com")
        );
        assert_eq!(
            query_param("a=1&rd=%2Fa%20b+c&rd=second", "rd").as_deref(),
            Some("/a b c")
        );
        assert_eq!(query_param("rd", "rd").as_deref(), Some(""));
        assert_eq!(query_param("x=1", "rd"), None);
        assert_eq!(query_param("", "rd"), None);
        assert_eq!(query_param("r%64=%2", "rd").as_deref(), Some("%2"));
        assert_eq!(
            query_param("rd=%ff%fe", "rd").as_deref(),
            Some("\u{fffd}\u{fffd}")
        );
        let p = parse_callback_query("code=a%2Bb&state=s&iss=https%3A%2F%2Fi%2F");
        assert_eq!(p.code.as_deref(), Some("a+b"));
        assert_eq!(p.iss.as_deref(), Some("https://i/"));
    }

    #[test]
    fn rd_table() {
        const H: &str = "example.com";
        let d = Some("example.com");
        let ok = |rd: &str, host: &str, dom: Option<&str>| {
            assert_eq!(
                validate_rd(rd, host, dom),
                rd,
                "should accept {rd:?} (host {host}, domain {dom:?})"
            );
        };
        let no = |rd: &str, host: &str, dom: Option<&str>| {
            assert_eq!(
                validate_rd(rd, host, dom),
                "/",
                "should refuse {rd:?} (host {host}, domain {dom:?})"
            );
        };
        // relative paths
        for rd in [
            "/",
            "/a",
            "/a/b?c=d&e=%2F#frag",
            "/.",
            "/..//x",
            "/%2F%2Fevil.com",
            "/a//b",
            "/?x",
            "/#x",
        ] {
            ok(rd, H, None);
        }
        // scheme-relative and friends
        for rd in [
            "",
            "//evil.com",
            "///evil.com",
            "////evil.com",
            "/\\evil.com",
            "\\\\evil.com",
            "\\/evil.com",
            "/\\/evil.com",
            "/a\\b",
            "\\",
            "//",
            "/\t/evil.com",
            "/\n/evil.com",
            "/\r\n/evil.com",
            "\t//evil.com",
            " //evil.com",
            "/\u{0}evil",
            "/\u{7f}",
            "/\u{85}/evil.com",
            "/\u{1b}[31m",
        ] {
            no(rd, H, None);
            no(rd, H, d);
        }
        // CR/LF header injection
        no("/x\r\nSet-Cookie: a=b", H, None);
        // other schemes
        for rd in [
            "javascript:alert(1)",
            "JaVaScRiPt:alert(1)",
            "javascript://example.com/%0aalert(1)",
            "data:text/html,<script>alert(1)</script>",
            "vbscript:x",
            "ftp://example.com/",
            "file:///etc/passwd",
            "evil.com",
            "example.com/x",
            "https:evil.com",
            "https:/evil.com",
            "https:///evil.com",
            "https:\\\\evil.com",
            "http:example.com",
            " https://example.com/",
            "https ://example.com/",
            "ws://example.com/",
            "mailto:a@example.com",
        ] {
            no(rd, H, None);
            no(rd, H, d);
        }
        // same host
        for rd in [
            "https://example.com",
            "https://example.com/",
            "http://example.com/x?y#z",
            "HTTPS://EXAMPLE.COM/x",
            "hTtP://Example.Com",
            "https://example.com:443/",
            "http://example.com:80/",
            "https://example.com:/",
            "https://example.com?x=1",
            "https://example.com#frag",
        ] {
            ok(rd, H, None);
        }
        ok("https://Example.com/", "EXAMPLE.COM", None);
        // host confusion
        for rd in [
            "https://example.com.evil.com/",
            "https://evil.com#@example.com",
            "https://evil.com?@example.com",
            "https://evil.com/@example.com",
            "https://example.com@evil.com",
            "https://example.com:443@evil.com/",
            "https://user:pass@example.com/",
            "https://@example.com/",
            "https://evil.com\\@example.com",
            "https://example.com\\@evil.com",
            "https://example.com\\.evil.com",
            "https://evil-example.com/",
            "https://wwwexample.com/",
            "https://example.com%2eevil.com/",
            "https://example%2ecom/",
            "https://exаmple.com/",
            "https://xn--exmple-cua.com/",
            "https://example.com./",
            "https://ex ample.com/",
            "https://evil.com",
            "https://example.com:8443/",
            "http://example.com:443/",
            "https://example.com:80/",
            "https://example.com:99999/",
            "https://example.com:-1/",
            "https://example.com:443:443/",
            "https://example.com:0x1bb/",
            "https://[example.com]/",
            "https://[::1]/",
            "https://example.com%00.evil.com/",
            "https://example.com\u{3002}evil.com/",
            "https://127.0.0.1/",
        ] {
            no(rd, H, None);
        }
        // ports: the request carries one
        ok("https://example.com:8443/x", "example.com:8443", None);
        ok("http://example.com:8443/x", "example.com:8443", None);
        no("https://example.com/x", "example.com:8443", None);
        no("https://example.com:8444/x", "example.com:8443", None);
        ok("https://example.com/x", "example.com:443", None);
        ok("https://[::1]:8443/", "[::1]:8443", None);
        no("https://[::2]:8443/", "[::1]:8443", None);
        // a broken request host only allows paths
        no("https://example.com/", "", None);
        no("https://example.com/", "example.com:abc", None);
        ok("/x", "", None);
        // cookie domain
        for rd in [
            "https://example.com/",
            "https://a.example.com/",
            "https://A.B.EXAMPLE.COM/x?y",
            "https://app.example.com:9443/",
            "http://app.example.com/",
        ] {
            ok(rd, "app.example.com", d);
            ok(rd, "app.example.com", Some(".example.com"));
            ok(rd, "other.host", Some("EXAMPLE.com"));
        }
        for rd in [
            "https://evil-example.com/",
            "https://aexample.com/",
            "https://example.com.evil.com/",
            "https://.example.com/",
            "https://a.example.com@evil.com/",
            "https://evil.com/.example.com",
            "https://evil.com#.example.com",
            "https://a.example.co/",
            "https://xample.com/",
            "https://a.example.com\\@evil.com/",
        ] {
            no(rd, "app.example.com", d);
        }
        no("https://a.example.com/", "app.example.com", Some(""));
        no("https://a.example.com/", "app.example.com", Some("."));
        no("https://a.example.com/", "app.example.com", None);
        // length cap
        no(&format!("/{}", "a".repeat(MAX_RD_LEN)), H, None);
        ok(&format!("/{}", "a".repeat(MAX_RD_LEN - 1)), H, None);
    }

    #[test]
    fn rd_output_is_header_and_html_safe() {
        assert_eq!(validate_rd("/a b", "h", None), "/a%20b");
        assert_eq!(
            validate_rd("/<script>\"'`", "h", None),
            "/%3Cscript%3E%22'%60"
        );
        assert_eq!(validate_rd("/café", "h", None), "/caf%C3%A9");
        assert_eq!(validate_rd("/\u{fffd}", "h", None), "/%EF%BF%BD");
        assert_eq!(validate_rd("https://h/ü", "h", None), "https://h/%C3%BC");
        // decoded from a query string
        let rd = query_param("rd=%2Fx%0d%0aLocation%3A%20evil", "rd").unwrap();
        assert_eq!(validate_rd(&rd, "h", None), "/");
        let rd = query_param("rd=%2F%09%2Fevil.com", "rd").unwrap();
        assert_eq!(validate_rd(&rd, "h", None), "/");
    }

    const ISS: &str = "https://auth.example.com/application/o/app/";

    fn disco(issuer: &str) -> String {
        format!(
            r#"{{"issuer":"{issuer}",
            "authorization_endpoint":"https://auth.example.com/application/o/authorize/",
            "token_endpoint":"https://auth.example.com/application/o/token/",
            "userinfo_endpoint":"https://auth.example.com/application/o/userinfo/",
            "end_session_endpoint":"https://auth.example.com/application/o/app/end-session/",
            "jwks_uri":"https://auth.example.com/application/o/app/jwks/",
            "response_types_supported":["code"],
            "token_endpoint_auth_methods_supported":["client_secret_post","client_secret_basic"],
            "code_challenge_methods_supported":["plain","S256"]}}"#
        )
    }

    #[test]
    fn discovery() {
        assert_eq!(
            discovery_url(ISS),
            "https://auth.example.com/application/o/app/.well-known/openid-configuration"
        );
        assert_eq!(
            discovery_url("https://idp.example"),
            "https://idp.example/.well-known/openid-configuration"
        );
        let d = parse_discovery(disco(ISS).as_bytes(), ISS).unwrap();
        assert_eq!(
            d.token_endpoint,
            "https://auth.example.com/application/o/token/"
        );
        assert_eq!(
            d.jwks_uri.as_deref(),
            Some("https://auth.example.com/application/o/app/jwks/")
        );
        assert!(d.supports_s256());
        assert_eq!(
            choose_client_auth(&d.token_endpoint_auth_methods_supported, true),
            ClientAuth::SecretBasic
        );

        // trailing slash only: called out
        let e = parse_discovery(disco(ISS).as_bytes(), ISS.trim_end_matches('/')).unwrap_err();
        assert!(matches!(
            e,
            DiscoveryError::IssuerMismatch {
                trailing_slash_only: true,
                ..
            }
        ));
        assert!(e.to_string().contains("trailing slash"), "{e}");
        // a real mismatch
        let e = parse_discovery(disco("https://evil.example/").as_bytes(), ISS).unwrap_err();
        assert!(matches!(
            e,
            DiscoveryError::IssuerMismatch {
                trailing_slash_only: false,
                ..
            }
        ));
        assert!(!e.to_string().contains("trailing slash"));

        // minimal document
        let min = format!(
            r#"{{"issuer":"{ISS}","authorization_endpoint":"http://a/auth","token_endpoint":"http://a:9000/token"}}"#
        );
        let d = parse_discovery(min.as_bytes(), ISS).unwrap();
        assert!(d.token_endpoint_auth_methods_supported.is_empty());
        assert_eq!(d.end_session_endpoint, None);

        for bad in [
            "".to_owned(),
            "nope".to_owned(),
            "[]".to_owned(),
            format!(r#"{{"issuer":"{ISS}"}}"#),
            format!(
                r#"{{"issuer":"{ISS}","authorization_endpoint":5,"token_endpoint":"https://a/t"}}"#
            ),
        ] {
            assert!(
                matches!(
                    parse_discovery(bad.as_bytes(), ISS),
                    Err(DiscoveryError::Malformed(_))
                ),
                "{bad}"
            );
        }
        let e = parse_discovery(
            format!(r#"{{"issuer":"{ISS}","authorization_endpoint":"javascript:x","token_endpoint":"https://a/t"}}"#)
                .as_bytes(),
            ISS,
        )
        .unwrap_err();
        assert!(matches!(
            e,
            DiscoveryError::BadEndpoint {
                field: "authorization_endpoint",
                ..
            }
        ));
        let e = parse_discovery(
            format!(r#"{{"issuer":"{ISS}","authorization_endpoint":"https://a/x","token_endpoint":"https://a/t","jwks_uri":"/jwks"}}"#)
                .as_bytes(),
            ISS,
        )
        .unwrap_err();
        assert!(matches!(
            e,
            DiscoveryError::BadEndpoint {
                field: "jwks_uri",
                ..
            }
        ));
    }

    #[test]
    fn backchannel() {
        let o = parse_backchannel_origin("http://server:9000").unwrap();
        assert_eq!(
            o,
            BackchannelOrigin {
                scheme: "http",
                authority: "server:9000".into()
            }
        );
        assert_eq!(
            parse_backchannel_origin("HTTPS://10.0.0.1/")
                .unwrap()
                .scheme,
            "https"
        );
        for bad in [
            "server:9000",
            "http://server:9000/path",
            "http://u:p@server",
            "ftp://server",
            "http://",
            "http://server:port",
            "http://server?x",
        ] {
            assert!(parse_backchannel_origin(bad).is_err(), "{bad}");
        }
        let r = rewrite_to_backchannel("https://auth.example.com/application/o/token/?a=b#f", &o)
            .unwrap();
        assert_eq!(r.url, "http://server:9000/application/o/token/?a=b");
        assert_eq!(r.host, "auth.example.com");
        assert_eq!(r.original_scheme, "https");
        let r = rewrite_to_backchannel("http://Auth.Example.com:8080", &o).unwrap();
        assert_eq!(r.url, "http://server:9000");
        assert_eq!(r.host, "Auth.Example.com:8080");
        assert_eq!(rewrite_to_backchannel("/relative", &o), None);
        assert_eq!(rewrite_to_backchannel("https://u@h/x", &o), None);
    }

    #[test]
    fn sign_out_url() {
        let ep = Some("https://auth.example.com/application/o/app/end-session/");
        assert_eq!(
            end_session_url(None, Some("tok"), Some("https://x/"), "id"),
            "/"
        );
        assert_eq!(end_session_url(Some("not a url"), None, None, "id"), "/");
        assert_eq!(
            end_session_url(ep, Some("a.b.c"), Some("https://app.example.com/bye?x=1"), "my client"),
            "https://auth.example.com/application/o/app/end-session/?id_token_hint=a.b.c\
             &post_logout_redirect_uri=https%3A%2F%2Fapp.example.com%2Fbye%3Fx%3D1&client_id=my%20client"
        );
        assert_eq!(
            end_session_url(Some("https://idp/logout?realm=x"), None, None, "id"),
            "https://idp/logout?realm=x&client_id=id"
        );
        assert_eq!(
            end_session_url(Some("https://idp/logout"), None, None, ""),
            "https://idp/logout"
        );
    }

    #[test]
    fn arbitrary_input_never_panics() {
        let mut x: u64 = 7;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let pieces = [
            "/",
            "//",
            "\\",
            "http",
            "https",
            "://",
            ":",
            "@",
            "#",
            "?",
            "[",
            "]",
            "::1",
            "%",
            "%2F",
            "example.com",
            ".",
            "-",
            "é",
            "\t",
            "\n",
            "\u{0}",
            "443",
            "a",
            "=",
            "&",
            "+",
            "ü",
            "\u{3000}",
        ];
        let k =
            SessionKeys::parse(b"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
                .unwrap();
        for _ in 0..5000 {
            let n = (next() % 10) as usize;
            let s: String = (0..n)
                .map(|_| pieces[(next() % pieces.len() as u64) as usize])
                .collect();
            let out = validate_rd(&s, &s, Some(&s));
            assert!(
                out.starts_with('/')
                    || out.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("http")),
                "{s:?} -> {out:?}"
            );
            assert!(!out.bytes().any(|b| b.is_ascii_control() || b == b' '));
            let _ = validate_rd(&s, "example.com:8443", Some("example.com"));
            let _ = query_param(&s, "rd");
            let p = parse_callback_query(&s);
            let _ = callback(&k, "c", "i", &p, Some(s.as_bytes()), 0);
            let _ = flow_cookie_name(&s);
            let _ = parse_discovery(s.as_bytes(), &s);
            let _ = parse_token_response(200, s.as_bytes());
            let _ = parse_backchannel_origin(&s);
            if let Ok(o) = parse_backchannel_origin("http://b:1") {
                let _ = rewrite_to_backchannel(&s, &o);
            }
            let _ = end_session_url(Some(&s), Some(&s), Some(&s), &s);
            let _ = append_query(&s, &[("a", &s)]);
        }
    }

    #[test]
    fn html_escaping() {
        assert_eq!(
            html_escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        let page = error_page("<t>", "<m>");
        assert!(!page.contains("<t>") && !page.contains("<m>"));
    }
}

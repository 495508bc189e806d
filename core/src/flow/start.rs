//! `start`: a fresh login flow (state, nonce, PKCE verifier) sealed into a flow cookie, the
//! authorization URL, and the cap on how many flow cookies a browser carries.

use std::fmt;

use aws_lc_rs::digest;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use super::{
    append_query, random_b64, FlowError, FLOW_COOKIE_PREFIX, FLOW_COOKIE_STATE_CHARS,
    FLOW_LIFETIME_SECS, MAX_FLOW_COOKIES, MAX_RD_LEN, STATE_BYTES, VERIFIER_BYTES,
};
use crate::session::{Purpose, SessionKeys, CHUNK_LEN};

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
    /// Where to send the browser after login; already validated by [`validate_rd`](super::validate_rd).
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
/// [`validate_rd`](super::validate_rd); one longer than [`MAX_RD_LEN`] is replaced by `/`.
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

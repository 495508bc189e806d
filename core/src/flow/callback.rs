//! `callback`: the provider's redirect back, checked against the flow cookie.

use super::{ct_eq, query_param, sanitize_text, FlowError, FlowState};
use crate::session::{Purpose, SessionKeys};

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
/// [`flow_cookie_name`](super::flow_cookie_name)`(params.state)`: provider error, state present and equal (constant
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

/// The ID token's `nonce` claim equals the flow's (constant time). A missing claim fails.
pub fn nonce_matches(expected: &str, id_token_nonce: Option<&str>) -> bool {
    match id_token_nonce {
        Some(n) => !expected.is_empty() && ct_eq(expected.as_bytes(), n.as_bytes()),
        None => false,
    }
}

//! `sign_out`: the provider's end-session URL (OIDC RP-Initiated Logout 1.0).

use super::append_query;
use crate::url::HttpUrl;

/// Where `sign_out` sends the browser (OIDC RP-Initiated Logout 1.0 §2): the
/// `end_session_endpoint` with `id_token_hint` (when known), `post_logout_redirect_uri`
/// (when configured) and `client_id`; `/` when the provider has no end-session endpoint.
pub fn end_session_url(
    end_session_endpoint: Option<&str>,
    id_token_hint: Option<&str>,
    post_logout_redirect_uri: Option<&str>,
    client_id: &str,
) -> String {
    let Some(endpoint) = end_session_endpoint.filter(|e| HttpUrl::parse(e).is_some()) else {
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

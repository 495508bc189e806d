//! A session's refresh at the token endpoint (README "Session lifecycle"), the background
//! half: the refresh grant, the refreshed ID token's checks (as at login, without the nonce:
//! `sso_core::flow::refresh`), the userinfo call when claims are missing. Runs on a
//! background thread: no nginx type or call in here. Which request refreshes (single
//! flight) is `state::refreshing`'s decision, on the event loop.

use std::sync::Arc;

use serde_json::{Map, Value};
use sso_core::flow::{self, Discovery, RefreshError};
use sso_core::identity::Identity;
use sso_core::jwks::Secret;

use crate::conf::TokenContext;
use crate::net::code_exchange::{
    lacks_identity_claims, merge_userinfo, post_grant, verify_id_token, Posted,
};
use crate::net::fetcher::Provider;

/// Everything the refresh needs, moved onto the background thread.
pub struct Refresh {
    pub provider: Arc<Provider>,
    pub discovery: Arc<Discovery>,
    pub client_id: String,
    pub client_secret: Option<Arc<Secret>>,
    /// The context's static key sets (`sso_jwks_file`, the client secret as an HMAC key).
    pub tokens: Option<Arc<TokenContext>>,
    pub leeway: u64,
    /// The session's refresh token.
    pub refresh_token: String,
    /// The session's `sub` (`Identity::uid`): a refreshed ID token must name it.
    pub session_uid: String,
}

/// A renewed session's new parts.
pub struct Renewed {
    /// The refresh token to keep (the new one when the provider rotates).
    pub refresh_token: String,
    /// The fresh identity, its claims and the new ID token, when the answer had an ID token;
    /// None: the session keeps its identity.
    pub fresh: Option<Fresh>,
}

pub struct Fresh {
    pub identity: Identity,
    pub claims: Map<String, Value>,
    pub id_token: String,
}

pub fn refresh(x: Refresh) -> Result<Renewed, RefreshError> {
    let issuer = x.provider.config().issuer.clone();
    let posted = post_grant(
        &x.provider,
        &x.discovery,
        x.client_secret.as_deref(),
        |secret, auth| flow::refresh_request(&x.refresh_token, &x.client_id, secret, auth),
    );
    let Posted { resp, client, url } = posted.map_err(|(_, log)| RefreshError::Unavailable(log))?;
    let refreshed = flow::parse_refresh_response(resp.status, &resp.body).map_err(|e| match e {
        RefreshError::Unavailable(what) => {
            RefreshError::Unavailable(format!("token endpoint \"{url}\": {what}"))
        }
        other => other,
    })?;
    let refresh_token = refreshed.refresh_token_after(&x.refresh_token);
    let Some(id_token) = refreshed.id_token else {
        return Ok(Renewed {
            refresh_token,
            fresh: None,
        });
    };
    let verified = verify_id_token(
        &x.provider,
        x.tokens.as_deref(),
        &x.client_id,
        x.leeway,
        &issuer,
        &id_token,
    )
    .map_err(RefreshError::IdToken)?;
    let mut claims = verified.claims();
    // OIDC Core 12.2 before anything else is taken from the answer.
    flow::refreshed_identity(&claims, &issuer, &x.session_uid)?;
    if lacks_identity_claims(&claims) {
        if let Some(endpoint) = &x.discovery.userinfo_endpoint {
            merge_userinfo(
                &x.provider,
                &client,
                endpoint,
                &refreshed.access_token,
                &mut claims,
            )
            .map_err(RefreshError::Unavailable)?;
        }
    }
    let identity = flow::refreshed_identity(&claims, &issuer, &x.session_uid)?;
    Ok(Renewed {
        refresh_token,
        fresh: Some(Fresh {
            identity,
            claims,
            id_token,
        }),
    })
}

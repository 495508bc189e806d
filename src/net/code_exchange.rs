//! The login callback's background work: the code exchange at the token endpoint, the ID
//! token checks of OIDC Core 3.1.3.7, the userinfo call when claims are missing, and sealing
//! the session. Runs on a background thread: no nginx type or call in here.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};
use sso_core::flow::{self, ClientAuth, Discovery, FlowState, TokenRequest};
use sso_core::http_client::{HttpClient, Method, Request, Response};
use sso_core::identity::Identity;
use sso_core::jwks::{verification_keys, KeySet, ProviderKeys, Secret};
use sso_core::jwt::{TokenError, Verified, Verifier};
use sso_core::session::{Session, SessionKeys};

use crate::conf::TokenContext;
use crate::net::fetcher::{Provider, Snapshot};

/// Everything the exchange needs, moved onto the background thread.
pub struct Exchange {
    pub provider: Arc<Provider>,
    pub discovery: Arc<Discovery>,
    pub keys: Arc<SessionKeys>,
    pub client_id: String,
    pub client_secret: Option<Arc<Secret>>,
    /// The context's static key sets (`sso_jwks_file`, the client secret as an HMAC key).
    pub tokens: Option<Arc<TokenContext>>,
    /// What the session is sealed to: client id and issuer (`SessionScope::binding`).
    pub binding: String,
    pub redirect_uri: String,
    pub leeway: u64,
    pub lifetime: u64,
    /// `sso_jwt_header`: keep the ID token in the session (else its claims).
    pub jwt_header: bool,
    pub flow: FlowState,
    pub code: String,
}

/// What the event loop does with the result.
pub enum Outcome {
    /// Set these session cookie chunks and send the browser to `rd`.
    Session {
        chunks: Vec<String>,
        rd: String,
        user: String,
    },
    /// Answer `status` with `page`; `log` says why (no secrets).
    Failed {
        status: u16,
        page: String,
        log: String,
    },
}

fn failed(status: u16, log: impl Into<String>) -> Outcome {
    Outcome::Failed {
        status,
        page: flow::error_page(
            "Sign-in failed",
            "The sign-in could not be completed. Please try again.",
        ),
        log: log.into(),
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// How long an ID token naming an unknown `kid` waits for a JWKS re-fetch.
const REFETCH_WAIT: Duration = Duration::from_secs(5);

pub fn exchange(x: Exchange) -> Outcome {
    let issuer = x.provider.config().issuer.clone();
    let posted = post_grant(
        &x.provider,
        &x.discovery,
        x.client_secret.as_deref(),
        |secret, auth| {
            flow::token_request(
                &x.code,
                &x.redirect_uri,
                &x.flow.code_verifier,
                &x.client_id,
                secret,
                auth,
            )
        },
    );
    let Posted { resp, client, url } = match posted {
        Ok(p) => p,
        Err((status, log)) => return failed(status, log),
    };
    let tokens = match flow::parse_token_response(resp.status, &resp.body) {
        Ok(t) => t,
        Err(e) => {
            return Outcome::Failed {
                status: 502,
                page: e.html_page(),
                log: format!("token endpoint \"{url}\": {e}"),
            }
        }
    };

    let verified = match verify_id_token(
        &x.provider,
        x.tokens.as_deref(),
        &x.client_id,
        x.leeway,
        &issuer,
        &tokens.id_token,
    ) {
        Ok(v) => v,
        Err(log) => return failed(502, log),
    };
    let mut claims = verified.claims();
    let nonce = claims.get("nonce").and_then(Value::as_str);
    if !flow::nonce_matches(&x.flow.nonce, nonce) {
        return failed(400, "the ID token's nonce does not match this login");
    }

    if lacks_identity_claims(&claims) {
        if let Some(endpoint) = &x.discovery.userinfo_endpoint {
            if let Err(log) = merge_userinfo(
                &x.provider,
                &client,
                endpoint,
                &tokens.access_token,
                &mut claims,
            ) {
                return failed(502, log);
            }
        }
    }
    let identity = Identity::from_claims(&claims);
    let user = if identity.username.is_empty() {
        identity.uid.clone()
    } else {
        identity.username.clone()
    };
    let id_token = x.jwt_header.then_some(tokens.id_token);
    let mut session = Session::new(identity, now(), x.lifetime, id_token);
    if !x.jwt_header {
        session.keep_claims(&claims);
    }
    session.refresh_token = tokens.refresh_token;
    // What a revocation names (README "Session lifecycle"): the provider's `sid`, else a
    // random id of this session's own.
    session.sid = claims
        .get("sid")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty() && s.len() <= sso_core::logout::MAX_VALUE_LEN)
        .map(str::to_owned);
    if session.sid.is_none() {
        let Some(id) = sso_core::session::local_session_id() else {
            return failed(500, "the system's random source failed");
        };
        session.local_id = Some(id);
    }
    match x.keys.seal(&session, &x.binding) {
        Ok(chunks) => Outcome::Session {
            chunks,
            rd: x.flow.rd,
            user,
        },
        Err(e) => failed(500, format!("cannot seal the session: {e:?}")),
    }
}

/// A grant's answer from the token endpoint, with the client (for a userinfo call after it)
/// and the endpoint's URL (for logs).
pub(crate) struct Posted {
    pub resp: Response,
    pub client: Arc<HttpClient>,
    pub url: String,
}

/// POSTs the grant `build` makes (given the client secret and the client authentication
/// discovery allows) to the provider's token endpoint, through `sso_backchannel_url` when
/// set. Errors: the status a login answers with, and the log text.
pub(crate) fn post_grant(
    provider: &Provider,
    discovery: &Discovery,
    client_secret: Option<&Secret>,
    build: impl FnOnce(Option<&str>, ClientAuth) -> TokenRequest,
) -> Result<Posted, (u16, String)> {
    let secret = match client_secret.map(|s| std::str::from_utf8(s.expose())) {
        None => None,
        Some(Ok(s)) => Some(s),
        Some(Err(_)) => return Err((500, "the client secret is not UTF-8".to_owned())),
    };
    let Some(call) = provider.server_call(&discovery.token_endpoint) else {
        return Err((
            502,
            "the provider's token_endpoint is not an http(s) URL".to_owned(),
        ));
    };
    let client = provider
        .http_client()
        .map_err(|e| (502, format!("cannot build the HTTP client: {e}")))?;
    let auth = flow::choose_client_auth(
        &discovery.token_endpoint_auth_methods_supported,
        secret.is_some(),
    );
    let req = build(secret, auth);
    match client.post_form(
        &call.url,
        call.host.as_deref(),
        req.body.as_bytes(),
        req.authorization.as_deref().map(String::as_str),
    ) {
        Ok(resp) => Ok(Posted {
            resp,
            client,
            url: call.url,
        }),
        Err(e) => Err((502, format!("token endpoint \"{}\": {e}", call.url))),
    }
}

/// The key sets a token from the provider (an ID token, a logout token) is verified with,
/// in order: the provider's published keys (from `snap`), `sso_jwks_file`, the client
/// secret, as [`verification_keys`] allows them (README "Which keys verify a token").
pub fn id_token_keys<'a>(
    snap: &'a Snapshot,
    tokens: Option<&'a TokenContext>,
) -> impl Iterator<Item = &'a KeySet> {
    let published = match snap.keys.as_deref() {
        None => ProviderKeys::Pending,
        Some(keys) => ProviderKeys::Known(keys),
    };
    let (file, secret) = match tokens {
        Some(t) => (t.jwks_file.as_deref(), t.client_secret.as_deref()),
        None => (None, None),
    };
    verification_keys(published, file, secret).map(|(_, keys)| keys)
}

/// OIDC Core 3.1.3.7: signature (with the provider's keys; HS256 with the client secret
/// only when the provider publishes no keys, as authentik does without a signing key),
/// `iss`, `aud` (and `azp` when there are several audiences), `exp`, `iat`. The nonce is the
/// caller's (a login checks it, a refresh does not).
pub(crate) fn verify_id_token(
    provider: &Provider,
    tokens: Option<&TokenContext>,
    client_id: &str,
    leeway: u64,
    issuer: &str,
    id_token: &str,
) -> Result<Verified, String> {
    let verifier = Verifier::new(Some(issuer.to_owned()), vec![client_id.to_owned()], leeway);
    // The same rule as for bearer tokens (README "Which keys verify a token").
    let verify = |snap: &Snapshot| {
        let mut result = Err(TokenError::NoKeys);
        for keys in id_token_keys(snap, tokens) {
            result = verifier.verify(keys, id_token, now());
            match &result {
                Err(e) if e.is_unknown_kid() => continue,
                _ => break,
            }
        }
        result
    };
    let mut result = verify(&provider.snapshot());
    if let Err(e) = &result {
        if e.is_unknown_kid() || matches!(e, TokenError::NoKeys) {
            result = verify(&provider.refetch_and_wait(REFETCH_WAIT));
        }
    }
    let verified =
        result.map_err(|e| format!("ID token refused ({}): {}", e.reason(), e.description()))?;
    let claims = verified.claims();
    if let Some(Value::Array(auds)) = claims.get("aud") {
        if auds.len() > 1 {
            let azp = claims.get("azp").and_then(Value::as_str);
            if azp != Some(client_id) {
                return Err("ID token has several audiences and no matching azp".to_owned());
            }
        }
    }
    Ok(verified)
}

pub(crate) fn lacks_identity_claims(claims: &Map<String, Value>) -> bool {
    !claims.contains_key("preferred_username")
        || !claims.contains_key("email")
        || !claims.contains_key("groups")
}

/// Adds the userinfo claims the ID token lacked (never overriding it); `sub` must match.
pub(crate) fn merge_userinfo(
    provider: &Provider,
    client: &HttpClient,
    endpoint: &str,
    access_token: &str,
    claims: &mut Map<String, Value>,
) -> Result<(), String> {
    let Some(call) = provider.server_call(endpoint) else {
        return Err("the provider's userinfo_endpoint is not an http(s) URL".to_owned());
    };
    let bearer = format!("Bearer {access_token}");
    let resp = client
        .send(&Request {
            method: Method::Get,
            url: &call.url,
            host: call.host.as_deref(),
            headers: &[("Accept", "application/json"), ("Authorization", &bearer)],
            body: None,
        })
        .map_err(|e| format!("userinfo \"{}\": {e}", call.url))?;
    if !(200..300).contains(&resp.status) {
        return Err(format!(
            "userinfo \"{}\" answered {}",
            call.url, resp.status
        ));
    }
    let info: Map<String, Value> = serde_json::from_slice(&resp.body)
        .map_err(|_| format!("userinfo \"{}\" is not a JSON object", call.url))?;
    if info.get("sub") != claims.get("sub") {
        return Err("userinfo is about another subject".to_owned());
    }
    for (k, v) in info {
        claims.entry(k).or_insert(v);
    }
    Ok(())
}

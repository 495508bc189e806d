//! A session's refresh at the token endpoint (README "Session lifecycle"), the background
//! half: the refresh grant, the refreshed ID token's checks (as at login, without the nonce:
//! `sso_core::flow::refresh`), the userinfo call when claims are missing. Runs on a
//! background thread: no nginx type or call in here. Which request refreshes (single
//! flight) is `state::refreshing`'s decision, on the event loop: [`on_session`], called by
//! the access phase, starts the refresh and makes its request wait
//! ([`wake::spawn_and_resume`]), the others pass on the old session.

use std::cell::RefCell;
use std::sync::Arc;

use ngx::ffi::{ngx_http_request_t, ngx_log_t, NGX_LOG_INFO, NGX_LOG_WARN};
use ngx::ngx_log_error;
use serde_json::{Map, Value};
use sso_core::flow::refresh::{Begin, Finish};
use sso_core::flow::{self, Discovery, RefreshError};
use sso_core::identity::Identity;
use sso_core::jwks::Secret;
use sso_core::session::{Session, MAX_ID_TOKEN_LEN};

use crate::conf::{LocConf, TokenContext};
use crate::net::code_exchange::{
    lacks_identity_claims, merge_userinfo, post_grant, verify_id_token, Posted,
};
use crate::net::fetcher::Provider;
use crate::net::wake;
use crate::request;
use crate::state::refreshing;

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
    #[allow(dead_code)] // kept in the session once it has the field (lifecycle-session)
    pub refresh_token: String,
    /// The fresh identity, its claims and the new ID token, when the answer had an ID token;
    /// None: the session keeps its identity.
    pub fresh: Option<Fresh>,
}

pub struct Fresh {
    pub identity: Identity,
    #[allow(dead_code)] // kept in the session once it has the field (lifecycle-session)
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

// ---------------------------------------------------------------------------------------------
// The event-loop half: which request refreshes, waiting, and what the access phase gets
// ---------------------------------------------------------------------------------------------

/// What the access phase goes on with, for a request that opened a session.
pub enum Step {
    /// Decide with this session: the one the cookie holds, or the renewed one (then its
    /// cookie is re-minted on this response).
    Go(Arc<Session>),
    /// A refresh runs for this request: the phase handler returns `NGX_DONE`; it is called
    /// again when the refresh is done.
    Wait,
    /// The provider refused to renew: the session is over (revoked); decide as without
    /// credentials, `$sso_reason` [`REFRESH_FAILED`].
    Ended,
}

/// `$sso_reason` of a session the provider refused to renew.
pub const REFRESH_FAILED: &str = "refresh_failed";

/// What a finished refresh left for its request, which runs the access phase again.
enum Resumed {
    Renewed(Arc<Session>),
    Ended,
    Kept,
}

thread_local! {
    /// The outcome of the refresh a request waited for, handed to the access handler that
    /// [`wake::spawn_and_resume`] calls again right after: set, then consumed synchronously.
    static RESUMED: RefCell<Option<(usize, Resumed)>> = const { RefCell::new(None) };
}

/// The session's refresh token and when the provider last vouched for it, when it has one.
// The session fields come with branch lifecycle-session; until then no session refreshes.
fn refresh_state(_session: &Session) -> Option<(&str, u64)> {
    None
}

/// The session after a renewal (fresh identity and ID token when the answer had one, the
/// refresh token to keep, vouched for now).
fn renewed_session(old: &Session, renewed: Renewed, _now: u64) -> Session {
    let mut session = old.clone();
    if let Some(fresh) = renewed.fresh {
        session.identity = fresh.identity;
        session.id_token = Some(fresh.id_token).filter(|t| t.len() <= MAX_ID_TOKEN_LEN);
    }
    // With the session fields of branch lifecycle-session: the refresh token to keep
    // (`renewed.refresh_token`), `vouched` = now, the kept claims (`fresh.claims`).
    session
}

/// Called by the access phase with the session its cookie opened (main requests only:
/// a subrequest is decided in PREACCESS and never waits).
///
/// # Safety
/// `r` must be a valid main request in the access phase; on the event-loop thread.
pub unsafe fn on_session(
    r: *mut ngx_http_request_t,
    conf: &LocConf,
    session: Arc<Session>,
) -> Step {
    let resumed = RESUMED.with(|slot| {
        let mut slot = slot.borrow_mut();
        match slot.take() {
            Some((req, outcome)) if req == r as usize => Some(outcome),
            other => {
                *slot = other;
                None
            }
        }
    });
    match resumed {
        Some(Resumed::Renewed(s)) => return Step::Go(s),
        Some(Resumed::Ended) => return Step::Ended,
        Some(Resumed::Kept) => return Step::Go(session),
        None => {}
    }
    let Some(interval) = conf.session_refresh() else {
        return Step::Go(session);
    };
    let Some((token, vouched)) = refresh_state(&session) else {
        return Step::Go(session);
    };
    let now = request::now();
    if now < vouched.saturating_add(interval) {
        return Step::Go(session);
    }
    // SAFETY (this and below): the caller passes a valid request, on nginx's thread.
    let log = unsafe { (*(*r).connection).log };
    let (Some(provider), Some(discovery)) = (
        conf.provider.clone(),
        conf.provider
            .as_ref()
            .and_then(|p| p.snapshot().discovery.clone()),
    ) else {
        // Discovery not loaded yet: nothing to refresh against; the session stays.
        return Step::Go(session);
    };
    let warned = match unsafe { refreshing::begin(token, vouched, now) } {
        Begin::Owner { warned } => warned,
        // Refused a moment ago for another request of this session.
        Begin::Refused => return Step::Ended,
        // In flight elsewhere, just done, failing, or no room: pass on the old session.
        _ => return Step::Go(session),
    };
    let job = Refresh {
        provider,
        discovery,
        client_id: conf.client_id().to_owned(),
        client_secret: conf.client_secret.clone(),
        tokens: conf.tokens.clone(),
        leeway: conf.leeway(),
        refresh_token: token.to_owned(),
        session_uid: session.identity.uid.clone(),
    };
    let key = (token.to_owned(), vouched);
    let old = session.clone();
    let spawned = unsafe {
        wake::spawn_and_resume(
            r,
            move || refresh(job),
            move |alive, result| {
                let outcome = finished(log, &old, &key.0, key.1, warned, result);
                if let Some(r) = alive {
                    RESUMED.with(|slot| *slot.borrow_mut() = Some((r as usize, outcome)));
                }
            },
        )
    };
    match spawned {
        Ok(_) => Step::Wait,
        Err(err) => {
            unsafe { refreshing::finish(token, vouched, now, Finish::Failed) };
            ngx_log_error!(
                NGX_LOG_WARN,
                log,
                "sso: session refresh not started: {}; the session stays",
                err
            );
            Step::Go(session)
        }
    }
}

/// On the event loop, whether or not the request still waits: records the outcome in the
/// single-flight table, logs, revokes a refused session.
fn finished(
    log: *mut ngx_log_t,
    old: &Session,
    token: &str,
    vouched: u64,
    warned: bool,
    result: Result<Result<Renewed, RefreshError>, wake::JobPanicked>,
) -> Resumed {
    let now = request::now();
    let user = if old.identity.username.is_empty() {
        old.identity.uid.as_str()
    } else {
        old.identity.username.as_str()
    };
    let result =
        result.unwrap_or_else(|e| Err(RefreshError::Unavailable(format!("internal error: {e}"))));
    match result {
        Ok(renewed) => {
            // SAFETY: on nginx's thread in a worker.
            unsafe { refreshing::finish(token, vouched, now, Finish::Done) };
            ngx_log_error!(NGX_LOG_INFO, log, "sso: session of \"{}\" refreshed", user);
            Resumed::Renewed(Arc::new(renewed_session(old, renewed, now)))
        }
        Err(err) if err.ends_session() => {
            // SAFETY: on nginx's thread in a worker.
            unsafe { refreshing::finish(token, vouched, now, Finish::Refused) };
            // REVOCATION: the refused session is revoked here (lifecycle-zone's revoke).
            ngx_log_error!(
                NGX_LOG_INFO,
                log,
                "sso: session of \"{}\" ended, reason: \"{}\": {}",
                user,
                REFRESH_FAILED,
                err
            );
            Resumed::Ended
        }
        Err(err) => {
            // SAFETY: on nginx's thread in a worker.
            let first = unsafe { refreshing::finish(token, vouched, now, Finish::Failed) };
            let level = if first && !warned {
                NGX_LOG_WARN
            } else {
                NGX_LOG_INFO
            };
            ngx_log_error!(
                level,
                log,
                "sso: session of \"{}\" not refreshed, reason: \"{}\": {}; it stays valid until \
                 its lifetime ends",
                user,
                err.reason(),
                err
            );
            Resumed::Kept
        }
    }
}

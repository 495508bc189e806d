//! A session's refresh at the token endpoint (README "Session lifecycle"), the background
//! half: the refresh grant, the refreshed ID token's checks (as at login, without the nonce:
//! `sso_core::flow::refresh`), the userinfo call when claims are missing. Runs on a
//! background thread: no nginx type or call in here. Which request refreshes (single
//! flight) is `state::refreshing`'s decision, on the event loop: [`on_session`], called by
//! the access phase, starts the refresh and makes its request wait
//! ([`resume::spawn_and_resume`]), the others pass on the old session.

use std::cell::RefCell;
use std::sync::Arc;

use ngx::ffi::{ngx_http_request_t, ngx_log_t, NGX_LOG_ERR, NGX_LOG_INFO, NGX_LOG_WARN};
use ngx::ngx_log_error;
use serde_json::{Map, Value};
use sso_core::flow::refresh::{flight_id, Begin, Finish};
use sso_core::flow::{self, Discovery, RefreshError};
use sso_core::identity::Identity;
use sso_core::jwks::Secret;
use sso_core::metrics::Event;
use sso_core::session::{is_compact_jws, RefreshToken, Session, MAX_ID_TOKEN_LEN};

use crate::conf::{LocConf, TokenContext};
use crate::net::code_exchange::{
    lacks_identity_claims, merge_userinfo, post_grant, verify_id_token, Posted,
};
use crate::net::fetcher::Provider;
use crate::net::redis::{self, Flight};
use crate::net::{resume, wake};
use crate::request;
use crate::session_cookie;
use crate::state::counters::count;
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
    pub refresh_token: RefreshToken,
    /// The session's `sub` (`Identity::uid`): a refreshed ID token must name it.
    pub session_uid: String,
}

/// A renewed session's new parts.
pub struct Renewed {
    /// The refresh token to keep (the new one when the provider rotates).
    pub refresh_token: RefreshToken,
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
        |secret, auth| flow::refresh_request(x.refresh_token.expose(), &x.client_id, secret, auth),
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
    /// Refused: the session ends; what to revoke once the resumed request is decided (so
    /// that its `$sso_reason` is `refresh_failed`, not `revoked`).
    Ended(Option<sso_core::revocations::Revocation>),
    Kept,
}

thread_local! {
    /// The outcome of the refresh a request waited for, handed to the access handler that
    /// [`resume::spawn_and_resume`] calls again right after: set, then consumed synchronously.
    static RESUMED: RefCell<Option<(usize, Resumed)>> = const { RefCell::new(None) };
}

/// The session's refresh token and when the provider last vouched for it, when it has one.
fn refresh_state(session: &Session) -> Option<(&str, u64)> {
    let token = session.refresh_token.as_ref()?;
    Some((token.expose(), session.vouched))
}

/// The session after a renewal (fresh identity and ID token when the answer had one, the
/// refresh token to keep, vouched for now).
fn renewed_session(old: &Session, renewed: Renewed, now: u64) -> Session {
    let mut session = old.clone();
    if let Some(fresh) = renewed.fresh {
        session.identity = fresh.identity;
        if old.claims.is_some() {
            // `sso_jwt_header off`: the session keeps claims, not the ID token.
            session.keep_claims(&fresh.claims);
        } else {
            session.id_token =
                Some(fresh.id_token).filter(|t| t.len() <= MAX_ID_TOKEN_LEN && is_compact_jws(t));
        }
    }
    session.refresh_token = Some(renewed.refresh_token);
    session.vouched = now;
    session.issued = now;
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
        Some(Resumed::Renewed(s)) => {
            // The renewed session goes out on this request's response.
            // SAFETY: the caller passes a valid request, on nginx's thread.
            if !unsafe { session_cookie::reissue(r, conf, &s) } {
                // SAFETY: as above.
                let log = unsafe { (*(*r).connection).log };
                ngx_log_error!(NGX_LOG_WARN, log, "sso: refreshed session cookie not set");
            }
            return Step::Go(s);
        }
        Some(Resumed::Ended(revocation)) => {
            // SAFETY: the caller passes a valid request, on nginx's thread.
            unsafe { revoke(log_of(r), revocation, &session) };
            return Step::Ended;
        }
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
        refresh_token: RefreshToken::new(token.to_owned()),
        session_uid: session.identity.uid.clone(),
    };
    // (The single-flight entry's key: the token kept as a secret too.)
    let key = (RefreshToken::new(token.to_owned()), vouched);
    let old = session.clone();
    // What a refusal revokes (README "Session lifecycle").
    let revocation = session.revocation(
        conf.issuer.as_deref().unwrap_or(""),
        now,
        conf.session_lifetime(),
    );
    let spawned = unsafe {
        resume::spawn_and_resume(
            r,
            move || {
                // With `sso_redis`, one refresh across nodes (README "Many nodes (Redis)").
                let id = flight_id(job.refresh_token.expose(), vouched);
                let Flight::Won(con) = redis::take_flight(&id) else {
                    return None;
                };
                let result = refresh(job);
                let ended = matches!(&result, Err(e) if e.ends_session());
                let landed = result.as_ref().ok().map(|_| "renewed");
                redis::land_flight(con, &id, landed.or(ended.then_some("refused")));
                Some(result)
            },
            move |alive, result| {
                let outcome =
                    finished(log, &old, key.0.expose(), key.1, warned, revocation, result);
                match (alive, outcome) {
                    (Some(r), outcome) => {
                        RESUMED.with(|slot| *slot.borrow_mut() = Some((r as usize, outcome)));
                    }
                    // Nobody waits any more: revoke now (on nginx's thread in a worker).
                    (None, Resumed::Ended(revocation)) => revoke(log, revocation, &old),
                    (None, _) => {}
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
    revocation: Option<sso_core::revocations::Revocation>,
    result: Result<Option<Result<Renewed, RefreshError>>, wake::JobPanicked>,
) -> Resumed {
    let now = request::now();
    let user = if old.identity.username.is_empty() {
        old.identity.uid.as_str()
    } else {
        old.identity.username.as_str()
    };
    let Some(result) = result.transpose() else {
        // Another node refreshes or refreshed it: pass, and do not ask again for a while.
        // SAFETY: on nginx's thread in a worker.
        unsafe { refreshing::finish(token, vouched, now, Finish::Done) };
        ngx_log_error!(
            NGX_LOG_INFO,
            log,
            "sso: session of \"{}\" refreshed by another node",
            user
        );
        return Resumed::Kept;
    };
    let result =
        result.unwrap_or_else(|e| Err(RefreshError::Unavailable(format!("internal error: {e}"))));
    match result {
        Ok(renewed) => {
            // SAFETY: on nginx's thread in a worker.
            unsafe { refreshing::finish(token, vouched, now, Finish::Done) };
            ngx_log_error!(NGX_LOG_INFO, log, "sso: session of \"{}\" refreshed", user);
            count(Event::Refreshed);
            Resumed::Renewed(Arc::new(renewed_session(old, renewed, now)))
        }
        Err(err) if err.ends_session() => {
            // SAFETY: on nginx's thread in a worker.
            unsafe { refreshing::finish(token, vouched, now, Finish::Refused) };
            ngx_log_error!(
                NGX_LOG_INFO,
                log,
                "sso: session of \"{}\" ended, reason: \"{}\": {}",
                user,
                REFRESH_FAILED,
                err
            );
            count(Event::RefreshFailed("refused"));
            Resumed::Ended(revocation)
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
            count(Event::RefreshFailed("error"));
            Resumed::Kept
        }
    }
}

/// Revokes a session the provider refused to renew: a copy of its cookie ends too, on every
/// worker (README "Session lifecycle").
///
/// # Safety
/// On nginx's thread in a worker.
unsafe fn revoke(
    log: *mut ngx_log_t,
    revocation: Option<sso_core::revocations::Revocation>,
    session: &Session,
) {
    let Some(rev) = revocation else { return };
    // SAFETY: as the caller promises.
    if !unsafe { crate::state::revocations::revoke(log, rev) } {
        ngx_log_error!(
            NGX_LOG_ERR,
            log,
            "sso: the session of \"{}\" could not be revoked",
            session.identity.uid
        );
    }
}

/// # Safety
/// `r` must be a valid request.
unsafe fn log_of(r: *mut ngx_http_request_t) -> *mut ngx_log_t {
    // SAFETY: as the caller promises.
    unsafe { (*(*r).connection).log }
}

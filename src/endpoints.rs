//! The module's own endpoints under `sso_outpost_prefix` (README "Endpoints"): `ping`, `start`,
//! `callback`, `sign_out` (`backchannel_logout` is `backchannel.rs`).
//!
//! `callback` exchanges the code at the provider's token endpoint on a background thread
//! (`net::resume::spawn_for_request`): the request is suspended, the worker's event loop goes
//! on serving everyone else, and the response is sent when the job is done.
//!
//! Against hostile clients (README "Security" → "Overload, request bodies and caching"):
//! every endpoint discards the request body before answering (a body is never parsed as the
//! next request on the connection); every answer carries `Cache-Control: no-store`; a client
//! address has at most [`MAX_CALLBACKS_PER_CLIENT`] callbacks waiting on the provider per
//! worker, and overload answers `503` with `Retry-After`; a flow completes once across all
//! workers (`state::flows`); a browser carries at most `MAX_FLOW_COOKIES` flow cookies.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::c_void;
use std::sync::Arc;

use ngx::core::Status;
use ngx::ffi::{
    ngx_http_discard_request_body, ngx_http_request_t, ngx_int_t, ngx_pool_cleanup_add,
    NGX_HTTP_INTERNAL_SERVER_ERROR, NGX_HTTP_NO_CONTENT, NGX_HTTP_SERVICE_UNAVAILABLE, NGX_LOG_ERR,
    NGX_LOG_INFO, NGX_LOG_WARN,
};
use ngx::ngx_log_error;
use sso_core::cookie::{self, Attributes};
use sso_core::flow::{self, AuthRequest, Discovery};
use sso_core::metrics::Event;
use sso_core::session::Session;

use crate::conf::LocConf;
use crate::guard;
use crate::headers::{self, bytes};
use crate::net::code_exchange::{self, Exchange, Outcome};
use crate::net::{resume, wake};
use crate::request::{absolute, host, now, origin, page_now, query, redirect, scheme, send_page};
use crate::session_cookie;
use crate::state::counters::count;
use crate::state::flows::{self as used_flows, Consume};
use crate::state::revocations;

/// Most login callbacks one client address (an IPv4 address, an IPv6 /64) may have waiting
/// on the provider at once, per worker. One browser needs one; a few tabs finishing logins
/// together need a few more. Beyond it: `503` with `Retry-After`.
pub const MAX_CALLBACKS_PER_CLIENT: usize = 4;
/// `Retry-After` (seconds) of every overload answer.
const RETRY_AFTER: &[u8] = b"5";

/// Serves `<prefix><endpoint>`; `endpoint` starts with `/`.
///
/// # Safety
/// `r` must be a valid main request.
pub unsafe fn serve(r: *mut ngx_http_request_t, conf: &LocConf, endpoint: &[u8]) -> ngx_int_t {
    // SAFETY: the caller guarantees what the `# Safety` section above asks.
    unsafe {
        // The back-channel logout reads its form body itself.
        if endpoint == b"/backchannel_logout" {
            return crate::backchannel::serve(r, conf);
        }
        // No other endpoint takes a body. Read and drop it before any answer, so that bytes sent as a
        // body are never parsed as the next request on a keep-alive connection. A body still
        // arriving is drained by nginx after the response (or, in `callback`, while it waits).
        let rc = ngx_http_discard_request_body(r);
        if rc != Status::NGX_OK.0 {
            (*r).set_keepalive(0);
            let status = if rc >= 400 { rc as u16 } else { 500 };
            return page_now(
                r,
                status,
                &flow::error_page("Bad request", "The request could not be read."),
            );
        }
        match endpoint {
            // 204, no body, no authentication: a health check for load balancers and docker.
            b"/ping" => {
                headers::add_out(r, b"Cache-Control", b"no-store");
                NGX_HTTP_NO_CONTENT as ngx_int_t
            }
            b"/start" => start(r, conf),
            b"/callback" => callback(r, conf),
            b"/sign_out" => sign_out(r, conf),
            _ => page_now(
                r,
                404,
                &flow::error_page("Not found", "There is no such sign-in endpoint."),
            ),
        }
    }
}

/// Identifies a client for [`MAX_CALLBACKS_PER_CLIENT`]: the family, then an IPv4 address
/// (IPv4-mapped IPv6 too) or the /64 of an IPv6 address; all unix-socket clients share one.
type ClientKey = [u8; 9];

unsafe fn client_key(r: *const ngx_http_request_t) -> ClientKey {
    // SAFETY: every caller passes a valid request, on nginx's thread.
    unsafe {
        let mut key = [0u8; 9];
        let sa = (*(*r).connection).sockaddr;
        if sa.is_null() {
            return key;
        }
        match (*sa).sa_family as i32 {
            libc::AF_INET => {
                let sin = sa as *const libc::sockaddr_in;
                key[0] = 4;
                key[1..5].copy_from_slice(&(*sin).sin_addr.s_addr.to_ne_bytes());
            }
            libc::AF_INET6 => {
                let a = (*(sa as *const libc::sockaddr_in6)).sin6_addr.s6_addr;
                if a[..10] == [0; 10] && a[10..12] == [0xff, 0xff] {
                    key[0] = 4;
                    key[1..5].copy_from_slice(&a[12..16]);
                } else {
                    key[0] = 6;
                    key[1..9].copy_from_slice(&a[..8]);
                }
            }
            _ => key[0] = 1,
        }
        key
    }
}

thread_local! {
    /// Callbacks in flight per client, in this worker. An entry is added when a callback
    /// suspends and removed by its request pool's cleanup, however the request ends.
    static CALLBACKS: RefCell<HashMap<ClientKey, usize>> = RefCell::new(HashMap::new());
}

/// Takes one of the client's callback slots for the life of the request; false when it has
/// [`MAX_CALLBACKS_PER_CLIENT`] already (or the pool is out of memory).
unsafe fn take_callback_slot(r: *mut ngx_http_request_t) -> bool {
    // SAFETY: every caller passes a valid request, on nginx's thread.
    unsafe {
        let key = client_key(r);
        let held = CALLBACKS.with(|m| m.borrow().get(&key).copied().unwrap_or(0));
        if held >= MAX_CALLBACKS_PER_CLIENT {
            return false;
        }
        let cln = ngx_pool_cleanup_add((*r).pool, std::mem::size_of::<ClientKey>());
        if cln.is_null() {
            return false;
        }
        std::ptr::write((*cln).data as *mut ClientKey, key);
        (*cln).handler = Some(release_callback_slot);
        CALLBACKS.with(|m| *m.borrow_mut().entry(key).or_insert(0) += 1);
        true
    }
}

unsafe extern "C" fn release_callback_slot(data: *mut c_void) {
    // SAFETY: pool cleanups run on nginx's thread, where `ngx_cycle` is valid.
    let log = unsafe { (*ngx::ffi::ngx_cycle).log };
    guard::catch(log, "callback slot cleanup", (), || {
        // SAFETY: data is the key written by take_callback_slot.
        let key = unsafe { *(data as *const ClientKey) };
        CALLBACKS.with(|m| {
            let mut m = m.borrow_mut();
            if let Some(n) = m.get_mut(&key) {
                *n -= 1;
                if *n == 0 {
                    m.remove(&key);
                }
            }
        });
    })
}

/// `503` + `Retry-After` + a page: overload, never a 500. The flow cookie stays, so the
/// same callback can be retried.
unsafe fn overloaded(r: *mut ngx_http_request_t, why: &str) -> ngx_int_t {
    // SAFETY: every caller passes a valid request, on nginx's thread.
    unsafe {
        ngx_log_error!(
            NGX_LOG_WARN,
            (*(*r).connection).log,
            "sso: login callback refused: {}",
            why
        );
        count(Event::LoginFailed("overloaded"));
        headers::add_out(r, b"Retry-After", RETRY_AFTER);
        page_now(
            r,
            NGX_HTTP_SERVICE_UNAVAILABLE as u16,
            &flow::error_page(
                "Sign-in busy",
                "Too many sign-ins are in progress. Please try again in a few seconds.",
            ),
        )
    }
}

/// `sso_redirect_uri`, else `<prefix>/callback` on the request's scheme and host.
///
/// # Safety
/// `r` must be a valid request.
pub unsafe fn redirect_uri(r: *const ngx_http_request_t, conf: &LocConf) -> String {
    // SAFETY: every caller passes a valid request, on nginx's thread.
    unsafe {
        match &conf.redirect_uri {
            Some(uri) => absolute(r, uri),
            None => format!("{}{}/callback", origin(r), conf.outpost_prefix()),
        }
    }
}

unsafe fn cookie_attributes<'a>(
    r: *const ngx_http_request_t,
    domain: Option<&'a str>,
    max_age: u64,
) -> Attributes<'a> {
    // SAFETY: every caller passes a valid request, on nginx's thread.
    unsafe {
        Attributes {
            path: "/",
            domain,
            max_age,
            secure: scheme(r) == "https",
        }
    }
}

unsafe fn set_cookie(r: *mut ngx_http_request_t, value: &str) -> bool {
    // SAFETY: every caller passes a valid request, on nginx's thread.
    unsafe { headers::add_out(r, b"Set-Cookie", value.as_bytes()).is_some() }
}

unsafe fn not_configured(r: *mut ngx_http_request_t, what: &str) -> ngx_int_t {
    // SAFETY: every caller passes a valid request, on nginx's thread.
    unsafe {
        ngx_log_error!(
            NGX_LOG_ERR,
            (*(*r).connection).log,
            "sso: login is not configured: {}",
            what
        );
        page_now(
            r,
            500,
            &flow::error_page(
                "Sign-in unavailable",
                "Single sign-on is not configured on this server.",
            ),
        )
    }
}

unsafe fn provider_unavailable(r: *mut ngx_http_request_t, conf: &LocConf) -> ngx_int_t {
    // SAFETY: every caller passes a valid request, on nginx's thread.
    unsafe {
        if let Some(p) = &conf.provider {
            p.nudge();
            let snap = p.snapshot();
            ngx_log_error!(
                NGX_LOG_WARN,
                (*(*r).connection).log,
                "sso: provider \"{}\" not available yet: {}",
                p.config().issuer,
                snap.last_error.as_deref().unwrap_or("discovery pending")
            );
        }
        headers::add_out(r, b"Retry-After", b"5");
        page_now(
            r,
            NGX_HTTP_SERVICE_UNAVAILABLE as u16,
            &flow::error_page(
                "Sign-in unavailable",
                "The identity provider cannot be reached right now. Please try again in a moment.",
            ),
        )
    }
}

/// The discovery document, when the provider has been reached.
fn discovery(conf: &LocConf) -> Option<Arc<Discovery>> {
    conf.provider.as_ref()?.snapshot().discovery.clone()
}

/// `start?rd=URL`: PKCE + state + nonce in a sealed flow cookie, 302 to the provider.
unsafe fn start(r: *mut ngx_http_request_t, conf: &LocConf) -> ngx_int_t {
    // SAFETY: every caller passes a valid request, on nginx's thread.
    unsafe {
        let Some(keys) = conf.session_scope.as_ref().map(|s| s.keys()) else {
            return not_configured(r, "set sso_client_secret or sso_session_secret_file");
        };
        if conf.provider.is_none() || conf.client_id.is_none() {
            return not_configured(r, "set sso_issuer and sso_client_id");
        }
        let Some(disco) = discovery(conf) else {
            return provider_unavailable(r, conf);
        };
        let rd_raw = flow::query_param(query(r), "rd").unwrap_or_default();
        let host = String::from_utf8_lossy(host(r));
        let rd = flow::validate_rd(&rd_raw, &host, conf.cookie_domain.as_deref());
        let redirect_uri = redirect_uri(r, conf);
        let req = AuthRequest {
            authorization_endpoint: &disco.authorization_endpoint,
            client_id: conf.client_id(),
            redirect_uri: &redirect_uri,
            scope: conf.scopes(),
        };
        match flow::start(keys, conf.client_id(), &req, &rd, now()) {
            Ok(fs) => {
                // At most MAX_FLOW_COOKIES flow cookies per browser: expire the oldest (and the
                // ones that do not open) the request carries, keeping room for the new one.
                let mut carried: Vec<(&[u8], &[u8])> = Vec::new();
                headers::each_in(r, b"cookie", |v| carried.extend(flow::flow_cookies(v)));
                let expired = cookie_attributes(r, None, 0);
                for name in flow::flow_cookies_to_expire(keys, conf.client_id(), &carried, now()) {
                    if !set_cookie(r, &cookie::set_cookie(&name, "", &expired)) {
                        return NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;
                    }
                }
                // Host-only: the callback comes back to this host.
                let attrs = cookie_attributes(r, None, fs.max_age);
                if !set_cookie(
                    r,
                    &cookie::set_cookie(&fs.cookie_name, &fs.cookie_value, &attrs),
                ) {
                    return NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;
                }
                count(Event::LoginStarted);
                redirect(r, &fs.location)
            }
            Err(err) => {
                ngx_log_error!(
                    NGX_LOG_ERR,
                    (*(*r).connection).log,
                    "sso: cannot start login: {}",
                    err
                );
                page_now(r, err.http_status(), &err.html_page())
            }
        }
    }
}

/// `callback?code&state`: checks the flow, then exchanges the code in the background.
///
/// Order matters: what refuses for overload (`503`, retry later) comes before the flow is
/// consumed, so a retry of the same callback still works; once consumed (in the shared used
/// set) the flow cookie is expired and the flow can never complete again, on any worker.
unsafe fn callback(r: *mut ngx_http_request_t, conf: &LocConf) -> ngx_int_t {
    // SAFETY: every caller passes a valid main request, on nginx's thread; the closures
    // below run with the same request (the cleanup-tied job keeps it alive).
    unsafe {
        let log = (*(*r).connection).log;
        let Some(scope) = conf.session_scope.as_ref() else {
            return not_configured(r, "set sso_client_secret or sso_session_secret_file");
        };
        let (Some(provider), Some(issuer)) = (conf.provider.clone(), conf.issuer.as_deref()) else {
            return not_configured(r, "set sso_issuer and sso_client_id");
        };
        let params = flow::parse_callback_query(query(r));
        let flow_cookie_name = params.state.as_deref().and_then(flow::flow_cookie_name);
        let flow_cookie = flow_cookie_name
            .as_deref()
            .and_then(|n| headers::find_cookie(r, n.as_bytes()));
        let expire_flow_cookie = |r: *mut ngx_http_request_t| {
            if let (Some(name), Some(_)) = (&flow_cookie_name, flow_cookie) {
                // `r` is the live request.
                set_cookie(
                    r,
                    &cookie::set_cookie(name, "", &cookie_attributes(r, None, 0)),
                );
            }
        };
        let cb = match flow::callback(
            scope.keys(),
            conf.client_id(),
            issuer,
            &params,
            flow_cookie,
            now(),
        ) {
            Ok(cb) => cb,
            Err(err) => {
                ngx_log_error!(NGX_LOG_INFO, log, "sso: login callback refused: {}", err);
                count(Event::LoginFailed(err.reason()));
                expire_flow_cookie(r);
                return page_now(r, err.http_status(), &err.html_page());
            }
        };
        let Some(disco) = discovery(conf) else {
            return provider_unavailable(r, conf);
        };
        if !wake::has_room() {
            return overloaded(r, "too many token exchanges are waiting in this worker");
        }
        if !take_callback_slot(r) {
            return overloaded(
                r,
                &format!(
                    "client \"{}\" has {} callbacks in progress already",
                    String::from_utf8_lossy(bytes(&(*(*r).connection).addr_text)),
                    MAX_CALLBACKS_PER_CLIENT
                ),
            );
        }
        let short_state = cb
            .flow
            .state
            .get(..flow::FLOW_COOKIE_STATE_CHARS)
            .unwrap_or("");
        match used_flows::consume(&cb.flow.state, now(), cb.flow.exp) {
            Consume::Fresh => {}
            Consume::Used => {
                ngx_log_error!(
                    NGX_LOG_WARN,
                    log,
                    "sso: login callback refused: flow \"{}\" was used before",
                    short_state
                );
                expire_flow_cookie(r);
                let err = flow::FlowError::AlreadyUsed;
                count(Event::LoginFailed(err.reason()));
                return page_now(r, err.http_status(), &err.html_page());
            }
            Consume::Unavailable => {
                ngx_log_error!(
                    NGX_LOG_ERR,
                    log,
                    "sso: login callback refused: the shared zone \"{}\" is not available",
                    crate::state::zone_name()
                );
                count(Event::LoginFailed("internal_error"));
                return page_now(
                    r,
                    500,
                    &flow::error_page("Sign-in failed", "The sign-in could not be completed."),
                );
            }
        }
        // Consumed: whatever happens next, this flow is over.
        expire_flow_cookie(r);
        let exchange = Exchange {
            provider,
            discovery: disco,
            keys: scope.shared_keys(),
            client_id: conf.client_id().to_owned(),
            client_secret: conf.client_secret.clone(),
            tokens: conf.tokens.clone(),
            binding: scope.binding().to_owned(),
            redirect_uri: redirect_uri(r, conf),
            leeway: conf.leeway(),
            lifetime: conf.session_lifetime(),
            jwt_header: conf.jwt_header(),
            flow: cb.flow,
            code: cb.code,
        };
        // The request stays alive until the job is done; spawn_for_request keeps the phases from
        // running again and watches for the client going away meanwhile.
        let spawned = resume::spawn_for_request(
            r,
            move || code_exchange::exchange(exchange),
            |r, result| {
                // Called on the event loop with the (still alive) request.
                finish_callback(r, result)
            },
        );
        match spawned {
            Ok(_) => Status::NGX_DONE.into(),
            Err(err) => overloaded(r, &format!("cannot start the token exchange: {err}")),
        }
    }
}

/// On the event loop again: set the session cookie and send the browser on, or say why not.
unsafe fn finish_callback(
    r: *mut ngx_http_request_t,
    result: Result<Outcome, wake::JobPanicked>,
) -> ngx_int_t {
    // SAFETY: every caller passes a valid request, on nginx's thread.
    unsafe {
        let log = (*(*r).connection).log;
        let failed = || flow::error_page("Sign-in failed", "The sign-in could not be completed.");
        let Some(conf) = crate::conf::loc_conf(r) else {
            return send_page(r, 500, &failed());
        };
        let outcome = match result {
            Ok(o) => o,
            Err(_) => {
                ngx_log_error!(
                    NGX_LOG_ERR,
                    log,
                    "sso: the token exchange failed internally"
                );
                count(Event::LoginFailed("internal_error"));
                return send_page(r, 500, &failed());
            }
        };
        match outcome {
            Outcome::Session { chunks, rd, user } => {
                if !session_cookie::set_session(r, conf, &chunks, conf.session_lifetime()) {
                    count(Event::LoginFailed("internal_error"));
                    return send_page(r, 500, &failed());
                }
                count(Event::LoginCompleted);
                ngx_log_error!(NGX_LOG_INFO, log, "sso: user \"{}\" logged in", user);
                redirect(r, &rd)
            }
            Outcome::Failed {
                status,
                page,
                log: why,
            } => {
                ngx_log_error!(NGX_LOG_WARN, log, "sso: login failed: {}", why);
                count(Event::LoginFailed("token_exchange"));
                send_page(r, status, &page)
            }
        }
    }
}

/// `sign_out`: revokes the session on every worker (a copy of the cookie is dead too),
/// clears it and sends the browser to the provider's end-session endpoint (with
/// `id_token_hint` when known), or to `/`.
unsafe fn sign_out(r: *mut ngx_http_request_t, conf: &LocConf) -> ngx_int_t {
    // SAFETY: every caller passes a valid request, on nginx's thread.
    unsafe {
        let session = session_cookie::open(r, conf);
        if let Some(s) = &session {
            revoke_session(r, conf, s);
        }
        session_cookie::expire_session(r, conf);
        let post_logout = conf
            .post_logout_redirect_uri
            .as_deref()
            .map(|u| absolute(r, u));
        let location = match discovery(conf) {
            Some(disco) => flow::end_session_url(
                disco.end_session_endpoint.as_deref(),
                session
                    .as_ref()
                    .and_then(|s| s.id_token_jws())
                    .map(|t| t.as_str()),
                post_logout.as_deref(),
                conf.client_id(),
            ),
            None => "/".to_owned(),
        };
        redirect(r, &location)
    }
}

/// Revokes `s`: by its provider `sid` (every session of that provider session, for as long
/// as one minted now could live), else by its local id (until it expires).
unsafe fn revoke_session(r: *mut ngx_http_request_t, conf: &LocConf, s: &Session) {
    // SAFETY: every caller passes a valid request, on nginx's thread.
    unsafe {
        let log = (*(*r).connection).log;
        let issuer = conf.issuer.as_deref().unwrap_or("");
        // A session minted before sessions had ids: only its cookie is cleared.
        let Some(revocation) = s.revocation(issuer, now(), conf.session_lifetime()) else {
            return;
        };
        if revocations::revoke(log, revocation) {
            ngx_log_error!(
                NGX_LOG_INFO,
                log,
                "sso: user \"{}\" signed out, session revoked",
                s.identity.uid
            );
        } else {
            ngx_log_error!(
                NGX_LOG_ERR,
                log,
                "sso: sign-out could not revoke the session: the shared zone \"{}\" is not \
                 available",
                crate::state::zone_name()
            );
        }
    }
}

//! The session cookie on the request path: reading the (possibly chunked) sealed cookie and
//! opening it through the worker's cache of opened sessions ([`open`]), asking the shared
//! zone whether it was revoked (on every request, after the cache: [`revoked`]), ending it
//! after `sso_session_idle_timeout`, writing it ([`set_session`], [`expire_session`]) and
//! re-issuing it on whatever response the request gets ([`reissue`], through a header filter
//! registered by [`register_filter`]; README "Session lifecycle").

use std::ffi::c_void;
use std::ptr;
use std::sync::{Arc, OnceLock};

use ngx::ffi::{
    ngx_http_output_header_filter_pt, ngx_http_request_t, ngx_int_t, ngx_pool_cleanup_add,
    NGX_LOG_ERR, NGX_LOG_INFO, NGX_LOG_WARN,
};
use ngx::ngx_log_error;
use sso_core::cache::{CacheConfig, SessionCache};
use sso_core::cookie::{self, Attributes};
use sso_core::revocations::Check;
use sso_core::session::{chunk_cookie_name, Session, CHUNK_LEN, MAX_CHUNKS};

use crate::conf::LocConf;
use crate::request::scheme;
use crate::{guard, headers};

/// What the request's session cookie says.
pub enum Opened {
    /// No session cookie, or one that does not open: no credentials.
    None,
    /// An authentic session that has ended; the `$sso_reason` word (`idle`).
    Ended(&'static str),
    /// An authentic session that was revoked ([`revoked`]).
    Revoked,
    /// A live session.
    Live(Arc<Session>),
}

/// The session of this request ([`open`]), checked against `sso_session_idle_timeout`; a
/// live session in use is re-issued once [`sso_core::session::reissue_interval`] has passed
/// since it was issued, so the idle timeout slides.
///
/// # Safety
/// `r` must be a valid main request or subrequest.
pub unsafe fn open_checked(r: *mut ngx_http_request_t, conf: &LocConf) -> Opened {
    // SAFETY: the caller guarantees what the `# Safety` section above asks.
    unsafe {
        let Some(session) = open(r, conf) else {
            return Opened::None;
        };
        if revoked(r, conf, &session) {
            return Opened::Revoked;
        }
        let Some(idle) = conf.session_idle_timeout() else {
            return Opened::Live(session);
        };
        let now = crate::request::now();
        if session.is_idle(now, idle) {
            ngx_log_error!(
                NGX_LOG_INFO,
                (*(*r).connection).log,
                "sso: session of \"{}\" ended, reason: \"idle\"",
                session.identity.username.escape_debug()
            );
            return Opened::Ended("idle");
        }
        if session.reissue_due(now, idle) && !reissue(r, conf, &session.reissued(now)) {
            // The session stays valid: the next request tries again.
            ngx_log_error!(
                NGX_LOG_WARN,
                (*(*r).connection).log,
                "sso: session cookie not re-issued"
            );
        }
        Opened::Live(session)
    }
}

/// The session of this request, when its cookie opens (any failure is "no credentials").
///
/// A chunk is followed by another only when it is full ([`CHUNK_LEN`] bytes), so a
/// single-chunk session (the common case) costs one cookie lookup and no name formatting,
/// and a stale `NAME_1` left by an older, larger session is never read.
///
/// # Safety
/// `r` must be a valid request.
pub unsafe fn open(r: *const ngx_http_request_t, conf: &LocConf) -> Option<Arc<Session>> {
    // SAFETY: the caller guarantees what the `# Safety` section above asks.
    unsafe {
        let scope = conf.session_scope.as_ref()?;
        let name = conf.session_cookie();
        let first = headers::find_cookie(r, name.as_bytes())?;
        let mut chunks: [&[u8]; MAX_CHUNKS] = [&[]; MAX_CHUNKS];
        chunks[0] = first;
        let mut n = 1;
        while chunks[n - 1].len() == CHUNK_LEN && n < MAX_CHUNKS {
            let next = headers::find_cookie(r, chunk_cookie_name(name, n).as_bytes())?;
            chunks[n] = next;
            n += 1;
        }
        let now = crate::request::now();
        // Opened sessions are cached per worker by their sealed value (compared in constant
        // time), so a returning browser costs a lookup instead of base64 + AEAD + JSON.
        match cache().open(scope, &chunks[..n], now) {
            Ok(session) => Some(session),
            Err(err) => {
                ngx_log_error!(
                    NGX_LOG_INFO,
                    (*(*r).connection).log,
                    "sso: session cookie \"{}\" not accepted, reason: \"{}\"",
                    name,
                    err.reason()
                );
                None
            }
        }
    }
}

/// Whether `session` is revoked (README "Session lifecycle"): its provider `sid` or local
/// id, or a revocation of its `sub` covering its login time. No lock, no allocation: the
/// session's probe is computed once and cached with it. Without a zone the session is
/// refused (fail closed).
///
/// # Safety
/// `r` must be a valid request.
pub unsafe fn revoked(r: *const ngx_http_request_t, conf: &LocConf, session: &Session) -> bool {
    let issuer = conf.issuer.as_deref().unwrap_or("");
    let probe = session.revocation_probe(issuer);
    let answer = crate::state::revocations::check(probe, crate::request::now());
    if answer == Some(Check::Clear) {
        return false;
    }
    // SAFETY: the caller guarantees what the `# Safety` section above asks.
    let log = unsafe { (*(*r).connection).log };
    match answer {
        Some(Check::Revoked(kind)) => {
            ngx_log_error!(
                NGX_LOG_INFO,
                log,
                "sso: session of \"{}\" refused, reason: \"revoked\" ({} revoked)",
                session.identity.uid,
                kind.name()
            );
        }
        _ => {
            ngx_log_error!(
                NGX_LOG_ERR,
                log,
                "sso: session refused: the revocation table of zone \"{}\" is not available",
                crate::state::zone_name()
            );
        }
    }
    true
}

/// One cache of opened sessions per worker (each worker is one thread; the lock is never
/// contended). Bounded in entries and bytes like the token cache.
pub(crate) fn cache() -> &'static SessionCache {
    static CACHE: OnceLock<SessionCache> = OnceLock::new();
    CACHE.get_or_init(|| {
        SessionCache::new(CacheConfig {
            max_token_len: CHUNK_LEN * 2,
            ..CacheConfig::default()
        })
    })
}

unsafe fn cookie_attributes<'a>(
    r: *const ngx_http_request_t,
    conf: &'a LocConf,
    max_age: u64,
) -> Attributes<'a> {
    // SAFETY: every caller passes a valid request, on nginx's thread.
    unsafe {
        Attributes {
            path: "/",
            domain: conf.cookie_domain.as_deref(),
            max_age,
            secure: scheme(r) == "https",
        }
    }
}

/// The `Set-Cookie` lines that set `session` (sealed for this context): one per chunk, then
/// an expiry for every chunk past them that the browser sent (a stale chunk makes the cookie
/// unreadable). None when it cannot be sealed (logged).
///
/// # Safety
/// `r` must be a valid request.
pub unsafe fn session_cookie_lines(
    r: *const ngx_http_request_t,
    conf: &LocConf,
    session: &Session,
) -> Option<Vec<String>> {
    // SAFETY: the caller guarantees what the `# Safety` section above asks.
    unsafe {
        let scope = conf.session_scope.as_ref()?;
        let chunks = match scope.keys().seal(session, scope.binding()) {
            Ok(c) => c,
            Err(e) => {
                ngx_log_error!(
                    NGX_LOG_WARN,
                    (*(*r).connection).log,
                    "sso: cannot seal the session: {}",
                    e
                );
                return None;
            }
        };
        Some(chunk_lines(
            r,
            conf,
            &chunks,
            session.max_age(crate::request::now()),
        ))
    }
}

unsafe fn chunk_lines(
    r: *const ngx_http_request_t,
    conf: &LocConf,
    chunks: &[String],
    max_age: u64,
) -> Vec<String> {
    // SAFETY: every caller passes a valid request, on nginx's thread.
    unsafe {
        let name = conf.session_cookie();
        let attrs = cookie_attributes(r, conf, max_age);
        let mut lines: Vec<String> = chunks
            .iter()
            .enumerate()
            .map(|(i, chunk)| cookie::set_cookie(&chunk_cookie_name(name, i), chunk, &attrs))
            .collect();
        lines.extend(expiry_lines(r, conf, chunks.len()));
        lines
    }
}

/// Expiries for the session cookie's chunks `keep..` that the browser sent.
unsafe fn expiry_lines(r: *const ngx_http_request_t, conf: &LocConf, keep: usize) -> Vec<String> {
    // SAFETY: every caller passes a valid request, on nginx's thread.
    unsafe {
        let name = conf.session_cookie();
        let attrs = cookie_attributes(r, conf, 0);
        (keep..MAX_CHUNKS)
            .map(|i| chunk_cookie_name(name, i))
            .filter(|chunk| headers::find_cookie(r, chunk.as_bytes()).is_some())
            .map(|chunk| cookie::set_cookie(&chunk, "", &attrs))
            .collect()
    }
}

unsafe fn add_set_cookies(r: *mut ngx_http_request_t, lines: &[String]) -> bool {
    // SAFETY: every caller passes a valid request, on nginx's thread.
    unsafe {
        lines
            .iter()
            .all(|l| headers::add_out(r, b"Set-Cookie", l.as_bytes()).is_some())
    }
}

/// Sets the session cookie `chunks` (sealed already, at login) on the response being built
/// now, for `max_age` seconds, and expires stale chunks. False when out of memory.
///
/// # Safety
/// `r` must be a valid request.
pub unsafe fn set_session(
    r: *mut ngx_http_request_t,
    conf: &LocConf,
    chunks: &[String],
    max_age: u64,
) -> bool {
    // SAFETY: the caller guarantees what the `# Safety` section above asks.
    unsafe { add_set_cookies(r, &chunk_lines(r, conf, chunks, max_age)) }
}

/// Expires the session cookie and every chunk of it the browser sent (sign-out). False when
/// out of memory.
///
/// # Safety
/// `r` must be a valid request.
pub unsafe fn expire_session(r: *mut ngx_http_request_t, conf: &LocConf) -> bool {
    // SAFETY: the caller guarantees what the `# Safety` section above asks.
    unsafe { add_set_cookies(r, &expiry_lines(r, conf, 0)) }
}

/// Re-mints the cookie with `session` on the response of this request, whatever produces it
/// (an upstream, a static file, an error page, after internal redirects): the `Set-Cookie`
/// lines are kept with the request's pool and added by the header filter. A later call on
/// the same request replaces an earlier one. False when the session cannot be sealed or the
/// pool is out of memory.
///
/// # Safety
/// `r` must be a valid request.
pub unsafe fn reissue(r: *mut ngx_http_request_t, conf: &LocConf, session: &Session) -> bool {
    // SAFETY: the caller guarantees what the `# Safety` section above asks.
    unsafe {
        let Some(lines) = session_cookie_lines(r, conf, session) else {
            return false;
        };
        match pending(r, true) {
            Some(p) => {
                p.lines = lines;
                true
            }
            None => false,
        }
    }
}

/// The `Set-Cookie` lines [`reissue`] left for the response. Kept in a pool cleanup, not in
/// the module's request context: nginx clears the context on an internal redirect (`index`,
/// `try_files`, `error_page`), the pool lives as long as the request.
struct Pending {
    lines: Vec<String>,
}

unsafe extern "C" fn drop_pending(data: *mut c_void) {
    // SAFETY: `data` is the `Pending` written by `pending`, dropped once, by its pool.
    unsafe { ptr::drop_in_place(data as *mut Pending) }
}

/// The request's [`Pending`] (found by its cleanup handler, as nginx's realip module finds
/// its context), created when `create`.
unsafe fn pending<'a>(r: *mut ngx_http_request_t, create: bool) -> Option<&'a mut Pending> {
    // SAFETY: every caller passes a valid request, on nginx's thread; the pool's cleanups
    // with our handler hold a `Pending`.
    unsafe {
        let pool = (*r).pool;
        let ours = drop_pending as unsafe extern "C" fn(*mut c_void) as usize;
        let mut c = (*pool).cleanup;
        while !c.is_null() {
            if (*c).handler.map(|h| h as usize) == Some(ours) {
                return ((*c).data as *mut Pending).as_mut();
            }
            c = (*c).next;
        }
        if !create {
            return None;
        }
        let cln = ngx_pool_cleanup_add(pool, std::mem::size_of::<Pending>());
        if cln.is_null() {
            return None;
        }
        ptr::write((*cln).data as *mut Pending, Pending { lines: Vec::new() });
        (*cln).handler = Some(drop_pending);
        ((*cln).data as *mut Pending).as_mut()
    }
}

static mut NEXT_HEADER_FILTER: ngx_http_output_header_filter_pt = None;

/// Puts the module's header filter at the top of nginx's chain (from `postconfiguration`).
///
/// # Safety
/// Only while nginx reads the configuration, on its thread.
pub unsafe fn register_filter() {
    // SAFETY: the caller guarantees what the `# Safety` section above asks; nginx's filter
    // chain is two plain globals written only then.
    unsafe {
        NEXT_HEADER_FILTER = ngx::ffi::ngx_http_top_header_filter;
        ngx::ffi::ngx_http_top_header_filter = Some(header_filter);
    }
}

/// Adds the [`reissue`]d `Set-Cookie` lines to the main request's response headers, once.
unsafe extern "C" fn header_filter(r: *mut ngx_http_request_t) -> ngx_int_t {
    // SAFETY: nginx passes a valid request.
    let log = unsafe { (*(*r).connection).log };
    let ok = guard::catch(log, "header filter", false, || {
        // SAFETY: as above, on nginx's thread.
        unsafe {
            if (*r).main != r {
                return true;
            }
            match pending(r, false) {
                Some(p) if !p.lines.is_empty() => {
                    let lines = std::mem::take(&mut p.lines);
                    add_set_cookies(r, &lines)
                }
                _ => true,
            }
        }
    });
    if !ok {
        return ngx::ffi::NGX_ERROR as ngx_int_t;
    }
    // SAFETY: set once by `register_filter` before any request.
    match unsafe { NEXT_HEADER_FILTER } {
        Some(next) => unsafe { next(r) },
        None => ngx::ffi::NGX_OK as ngx_int_t,
    }
}

//! The session cookie on the request path: reading the (possibly chunked) sealed cookie and
//! opening it through the worker's cache of opened sessions. Setting and expiring it after
//! login and at sign-out is the endpoints' work (`endpoints.rs`).

use std::sync::{Arc, OnceLock};

use ngx::ffi::{ngx_http_request_t, NGX_LOG_INFO};
use ngx::ngx_log_error;
use sso_core::cache::{CacheConfig, SessionCache};
use sso_core::session::{chunk_cookie_name, Session, CHUNK_LEN, MAX_CHUNKS};

use crate::conf::LocConf;
use crate::headers;

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

/// One cache of opened sessions per worker (each worker is one thread; the lock is never
/// contended). Bounded in entries and bytes like the token cache.
fn cache() -> &'static SessionCache {
    static CACHE: OnceLock<SessionCache> = OnceLock::new();
    CACHE.get_or_init(|| {
        SessionCache::new(CacheConfig {
            max_token_len: CHUNK_LEN * 2,
            ..CacheConfig::default()
        })
    })
}

//! The per-request state the access handler leaves for variables and logging.

use std::ffi::c_void;
use std::ptr;
use std::sync::Arc;

use ngx::ffi::{ngx_http_request_t, ngx_pool_cleanup_add};
use ngx::http::HttpModule;
use sso_core::decide::{AuthMethod, Credentials};
use sso_core::identity::{CompactJws, Identity};
use sso_core::jwt::Verified;
use sso_core::session::Session;

use crate::Module;

/// Who the request was authenticated as.
pub enum Authenticated {
    /// A bearer JWT or a token cookie; the raw token is kept for `X-authentik-jwt`.
    Token {
        method: AuthMethod,
        verified: Arc<Verified>,
        raw: RawToken,
    },
    /// A sealed session cookie.
    Session(Arc<Session>),
}

/// The verified token as it sits in the request's header memory (which outlives the request
/// context: both belong to the request pool), so keeping it costs no copy.
pub struct RawToken(CompactJws<'static>);

impl RawToken {
    /// # Safety
    /// `token` must live as long as the request (a slice of a request header value).
    pub unsafe fn new(token: CompactJws<'_>) -> RawToken {
        // SAFETY: the caller guarantees the bytes outlive every use of this value (the
        // request context is freed with the request pool, after the headers are used).
        RawToken(unsafe { std::mem::transmute::<CompactJws<'_>, CompactJws<'static>>(token) })
    }

    fn jws(&self) -> CompactJws<'_> {
        self.0
    }
}

impl Authenticated {
    pub fn identity(&self) -> &Identity {
        match self {
            Authenticated::Token { verified, .. } => &verified.identity,
            Authenticated::Session(s) => &s.identity,
        }
    }

    pub fn method(&self) -> AuthMethod {
        match self {
            Authenticated::Token { method, .. } => *method,
            Authenticated::Session(_) => AuthMethod::Session,
        }
    }

    pub fn credentials(&self) -> Credentials {
        Credentials::Valid {
            method: self.method(),
        }
    }

    /// The raw JWT, for `X-authentik-jwt`.
    pub fn raw_token(&self) -> Option<CompactJws<'_>> {
        match self {
            Authenticated::Token { raw, .. } => Some(raw.jws()),
            Authenticated::Session(s) => s.id_token_jws(),
        }
    }

    /// Every claim, parsed once per cached token or session (`sso_require_claim`,
    /// `sso_basic_auth_attributes`).
    pub fn all_claims(&self) -> &serde_json::Map<String, serde_json::Value> {
        match self {
            Authenticated::Token { verified, .. } => verified.parsed_claims(),
            Authenticated::Session(s) => s.all_claims(),
        }
    }

    /// `$sso_claim_NAME`.
    pub fn claim(&self, name: &str) -> Option<String> {
        match self {
            Authenticated::Token { verified, .. } => verified.claim(name),
            Authenticated::Session(s) => s.claim(name),
        }
    }
}

/// What the ACCESS phase found, for `$sso_*` variables.
pub struct RequestCtx {
    /// `$sso_reason`.
    pub reason: &'static str,
    /// `$sso_auth_method` (None: empty).
    pub method: Option<AuthMethod>,
    /// Set only when access was granted on credentials.
    pub who: Option<Authenticated>,
}

fn index() -> usize {
    Module::module().ctx_index
}

/// A [`RequestCtx`] in the request pool with the request it was decided for: the pool
/// (shared with subrequests) still holds it after an internal redirect cleared `r->ctx`,
/// and [`last`] finds it there again, as nginx's realip module finds its context.
#[repr(C)]
struct Stored {
    ctx: RequestCtx,
    r: *const ngx_http_request_t,
}

/// The pool cleanup of a [`Stored`]: drops it with the request pool.
unsafe extern "C" fn drop_stored(data: *mut c_void) {
    // SAFETY: `data` is the `Stored` written by `set`, dropped once, by the pool.
    unsafe { ptr::drop_in_place(data as *mut Stored) }
}

/// The one address of [`drop_stored`] that `set` installs and `last` looks for.
static DROP_STORED: unsafe extern "C" fn(*mut c_void) = drop_stored;

/// Stores `ctx` on the request (dropped with the request pool). False when the pool is
/// exhausted (then nothing is stored).
///
/// # Safety
/// `r` must be a valid request.
pub unsafe fn set(r: *mut ngx_http_request_t, ctx: RequestCtx) -> bool {
    // SAFETY: the caller guarantees what the `# Safety` section above asks.
    unsafe {
        let cln = ngx_pool_cleanup_add((*r).pool, std::mem::size_of::<Stored>());
        if cln.is_null() || (*cln).data.is_null() {
            return false;
        }
        let p = (*cln).data as *mut Stored;
        ptr::write(p, Stored { ctx, r });
        (*cln).handler = Some(DROP_STORED);
        *(*r).ctx.add(index()) = p.cast();
        true
    }
}

/// The request's context, when the access handler has run.
///
/// # Safety
/// `r` must be a valid request.
pub unsafe fn get<'a>(r: *const ngx_http_request_t) -> Option<&'a RequestCtx> {
    // SAFETY: the caller guarantees what the `# Safety` section above asks.
    unsafe {
        let p = *(*r).ctx.add(index()) as *const RequestCtx;
        p.as_ref()
    }
}

/// The context last stored for `r`, also when an internal redirect (`error_page`,
/// `try_files`, `X-Accel-Redirect`) has cleared `r->ctx` since: the newest [`Stored`] of
/// `r` among the pool's cleanups (newest first).
///
/// # Safety
/// `r` must be a valid request.
pub unsafe fn last<'a>(r: *const ngx_http_request_t) -> Option<&'a RequestCtx> {
    // SAFETY: the caller guarantees what the `# Safety` section above asks; every cleanup
    // with our handler holds a `Stored` written by `set`.
    unsafe {
        if let Some(ctx) = get(r) {
            return Some(ctx);
        }
        let mut c = (*(*r).pool).cleanup;
        while !c.is_null() {
            if (*c)
                .handler
                .is_some_and(|h| h as usize == DROP_STORED as usize)
            {
                let stored = (*c).data as *const Stored;
                if (*stored).r == r {
                    return Some(&(*stored).ctx);
                }
            }
            c = (*c).next;
        }
        None
    }
}

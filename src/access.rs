//! The request path: PREACCESS strips client-sent identity headers and serves the module's
//! endpoints; ACCESS decides (SPEC §3) and applies the decision.
//!
//! Why two phases: under `satisfy any`, a passing `allow` ends the ACCESS phase before later
//! handlers run, yet client-sent identity headers must be removed "always" (SPEC §3 step 2)
//! and the endpoints must answer whatever `allow`/`deny` say (step 1). PREACCESS runs for every
//! request, before ACCESS.

use ngx::core::Status;
use ngx::ffi::{
    ngx_http_request_t, ngx_int_t, NGX_HTTP_FORBIDDEN, NGX_HTTP_GET, NGX_HTTP_HEAD,
    NGX_HTTP_INTERNAL_SERVER_ERROR, NGX_HTTP_MOVED_TEMPORARILY, NGX_HTTP_UNAUTHORIZED,
    NGX_LOG_INFO,
};
use ngx::ngx_log_error;
use sso_core::decide::{decide, login_location, Credentials, Decision, RequestView};

use crate::conf::LocConf;
use crate::headers::{self, bytes};
use crate::{endpoints, guard, loc_conf};

/// True for a header name the upstream must only ever get from us: `X-authentik-*`.
pub fn is_identity_header(name: &[u8]) -> bool {
    const PREFIX: &[u8] = b"x-authentik-";
    name.len() >= PREFIX.len() && name[..PREFIX.len()].eq_ignore_ascii_case(PREFIX)
}

/// `Some(rest)` when `uri` is `prefix` followed by `/rest`.
fn under_prefix<'a>(uri: &'a [u8], prefix: &str) -> Option<&'a [u8]> {
    let rest = uri.strip_prefix(prefix.as_bytes())?;
    rest.starts_with(b"/").then_some(rest)
}

pub unsafe extern "C" fn preaccess_handler(r: *mut ngx_http_request_t) -> ngx_int_t {
    let log = (*(*r).connection).log;
    guard::catch(
        log,
        "preaccess handler",
        NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t,
        || {
            // SAFETY: nginx hands phase handlers a valid request.
            unsafe { preaccess(r) }
        },
    )
}

unsafe fn preaccess(r: *mut ngx_http_request_t) -> ngx_int_t {
    // Subrequests share the main request's headers and were gated with it.
    if (*r).main != r {
        return Status::NGX_DECLINED.into();
    }
    let Some(conf) = loc_conf(r) else {
        return Status::NGX_DECLINED.into();
    };
    if !conf.protect() {
        return Status::NGX_DECLINED.into();
    }
    headers::remove_in(r, is_identity_header);
    if let Some(endpoint) = under_prefix(bytes(&(*r).uri), conf.outpost_prefix()) {
        return endpoints::serve(r, conf, endpoint);
    }
    Status::NGX_DECLINED.into()
}

pub unsafe extern "C" fn access_handler(r: *mut ngx_http_request_t) -> ngx_int_t {
    let log = (*(*r).connection).log;
    guard::catch(
        log,
        "access handler",
        NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t,
        || {
            // SAFETY: nginx hands phase handlers a valid request.
            unsafe { access(r) }
        },
    )
}

unsafe fn access(r: *mut ngx_http_request_t) -> ngx_int_t {
    let Some(conf) = loc_conf(r) else {
        return Status::NGX_DECLINED.into();
    };
    if !conf.protect() {
        return Status::NGX_DECLINED.into();
    }
    let view = RequestView {
        safe_method: (*r).method & (NGX_HTTP_GET | NGX_HTTP_HEAD) as usize != 0,
        accept: headers::find_in(r, b"accept"),
        requested_with: headers::find_in(r, b"x-requested-with"),
    };
    let credentials = Credentials::Missing;
    let no_groups: &[&str] = &[];
    let decision = decide(&view, &credentials, no_groups, &[], || {
        matches_unauthenticated(r, conf)
    });
    apply(r, conf, &decision)
}

/// `sso_unauthenticated_paths` against the decoded path (no query), then
/// `sso_unauthenticated_urls` against `scheme://host/path?query` as the client sent it.
unsafe fn matches_unauthenticated(r: *mut ngx_http_request_t, conf: &LocConf) -> bool {
    if let Some(set) = &conf.unauthenticated_paths {
        if set.matches(bytes(&(*r).uri)) {
            return true;
        }
    }
    if let Some(set) = &conf.unauthenticated_urls {
        return set.matches(full_url(r).as_bytes());
    }
    false
}

/// `https` when the client connection is TLS.
unsafe fn scheme(r: *const ngx_http_request_t) -> &'static str {
    if (*(*r).connection).ssl.is_null() {
        "http"
    } else {
        "https"
    }
}

/// The `Host` the client asked for (port included), else the server name.
pub unsafe fn host<'a>(r: *const ngx_http_request_t) -> &'a [u8] {
    let h = (*r).headers_in.host;
    if !h.is_null() {
        return bytes(&(*h).value);
    }
    bytes(&(*r).headers_in.server)
}

/// `scheme://host/original-uri?query`, as the client sent it.
pub unsafe fn full_url(r: *const ngx_http_request_t) -> String {
    let host = String::from_utf8_lossy(host(r));
    let uri = String::from_utf8_lossy(bytes(&(*r).unparsed_uri));
    format!("{}://{}{}", scheme(r), host, uri)
}

unsafe fn apply(r: *mut ngx_http_request_t, conf: &LocConf, decision: &Decision) -> ngx_int_t {
    match decision {
        Decision::Allow { .. } => Status::NGX_OK.into(),
        // Like `auth_basic off`: no requirement here, but no grant either (so `satisfy any`
        // with `deny` still denies).
        Decision::AllowUnauthenticated => Status::NGX_DECLINED.into(),
        Decision::Login { reason } => {
            let rd = if conf.login_url_absolute {
                full_url(r)
            } else {
                String::from_utf8_lossy(bytes(&(*r).unparsed_uri)).into_owned()
            };
            let location = login_location(&conf.effective_login_url, &rd);
            ngx_log_error!(
                NGX_LOG_INFO,
                (*(*r).connection).log,
                "sso: redirecting to login, reason: \"{}\"",
                reason
            );
            let Some(h) = headers::add_out(r, b"Location", location.as_bytes()) else {
                return NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;
            };
            (*r).headers_out.location = h;
            NGX_HTTP_MOVED_TEMPORARILY as ngx_int_t
        }
        Decision::Unauthorized {
            reason,
            www_authenticate,
        } => {
            ngx_log_error!(
                NGX_LOG_INFO,
                (*(*r).connection).log,
                "sso: unauthorized, reason: \"{}\"",
                reason
            );
            let Some(h) = headers::add_out(r, b"WWW-Authenticate", www_authenticate.as_bytes())
            else {
                return NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;
            };
            (*r).headers_out.www_authenticate = h;
            NGX_HTTP_UNAUTHORIZED as ngx_int_t
        }
        Decision::Forbidden => NGX_HTTP_FORBIDDEN as ngx_int_t,
    }
}

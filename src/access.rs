//! The request path: PREACCESS strips client-sent identity headers and serves the module's
//! endpoints; ACCESS decides (SPEC §3) and applies the decision.
//!
//! Why two phases: under `satisfy any`, a passing `allow` ends the ACCESS phase before later
//! handlers run, yet client-sent identity headers must be removed "always" (SPEC §3 step 2)
//! and the endpoints must answer whatever `allow`/`deny` say (step 1). PREACCESS runs for every
//! request, before ACCESS.

use std::ptr;

use ngx::core::Status;
use ngx::ffi::{
    ngx_http_request_t, ngx_int_t, ngx_str_t, NGX_HTTP_FORBIDDEN, NGX_HTTP_GET, NGX_HTTP_HEAD,
    NGX_HTTP_INTERNAL_SERVER_ERROR, NGX_HTTP_MOVED_TEMPORARILY, NGX_HTTP_UNAUTHORIZED,
    NGX_LOG_INFO,
};
use ngx::ngx_log_error;
use sso_core::decide::{decide, login_location, AuthMethod, Credentials, Decision, RequestView};
use sso_core::identity::{is_identity_header, sanitize_header_value, BLOCK_BASE_HEADERS};
use sso_core::jwt::TokenError;

use crate::conf::LocConf;
use crate::context::{Authenticated, RawToken, RequestCtx};
use crate::headers::{self, bytes};
use crate::{context, endpoints, guard, loc_conf, sessions, tokens};

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
    if headers::remove_in(r, is_identity_header).is_err() {
        return NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;
    }
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
    let (credentials, who) = check_credentials(r, conf);
    let groups: &[String] = who.as_ref().map_or(&[], |w| w.identity().groups.as_slice());
    let decision = decide(&view, &credentials, groups, conf.require_groups(), || {
        matches_unauthenticated(r, conf)
    });
    let granted = matches!(decision, Decision::Allow { .. });
    context::set(
        r,
        RequestCtx {
            reason: decision.reason(),
            method: match decision {
                Decision::Allow { method } => Some(method),
                _ => None,
            },
            who: if granted { who } else { None },
        },
    );
    apply(r, conf, &decision)
}

/// SPEC §3 step 3: a valid session cookie, else a valid bearer JWT, else a valid token
/// cookie. When something was presented and refused, the first refusal is reported.
unsafe fn check_credentials(
    r: *mut ngx_http_request_t,
    conf: &LocConf,
) -> (Credentials, Option<Authenticated>) {
    if let Some(session) = sessions::open(r, conf) {
        let who = Authenticated::Session(session);
        return (who.credentials(), Some(who));
    }
    let mut refusal: Option<TokenError> = None;
    let log = (*(*r).connection).log;
    let mut attempt = |method: AuthMethod, token: &[u8]| -> Option<Authenticated> {
        match tokens::verify(conf, token) {
            Ok(verified) => Some(Authenticated::Token {
                method,
                verified,
                // SAFETY: `token` is a slice of a request header value.
                raw: unsafe { RawToken::new(token) },
            }),
            Err(err) => {
                ngx_log_error!(
                    NGX_LOG_INFO,
                    log,
                    "sso: {} token refused, reason: \"{}\": {}",
                    method.as_str(),
                    err.reason(),
                    err.description()
                );
                refusal.get_or_insert(err);
                None
            }
        }
    };
    if conf.bearer() {
        if let Some(token) = tokens::bearer_token(r) {
            if let Some(who) = attempt(AuthMethod::Bearer, token) {
                return (who.credentials(), Some(who));
            }
        }
    }
    if let Some(name) = &conf.token_cookie {
        if let Some(token) = headers::find_cookie(r, name.as_bytes()) {
            if let Some(who) = attempt(AuthMethod::TokenCookie, token) {
                return (who.credentials(), Some(who));
            }
        }
    }
    match refusal {
        Some(err) => (
            Credentials::Rejected {
                reason: err.reason(),
                description: err.description(),
            },
            None,
        ),
        None => (Credentials::Missing, None),
    }
}

/// Hands the upstream the SPEC §4 headers of `who`. Client-sent headers of the same names
/// (`X-authentik-*` went in PREACCESS; the user's `additionalHeaders` names go here) are
/// removed first, so only ours arrive.
///
/// The headers come rendered ([`sso_core::header_block`]): the identity's once per cached
/// token or session, the meta ones once per location. A request copies the two blocks into
/// its pool and adds list elements pointing into the copies.
unsafe fn set_identity_headers(
    r: *mut ngx_http_request_t,
    conf: &LocConf,
    who: &Authenticated,
) -> bool {
    let identity = who.identity();
    if !identity.additional_headers.is_empty() {
        let removed = headers::remove_in(r, |name| {
            identity
                .additional_headers
                .iter()
                .any(|(n, _)| n.as_bytes().eq_ignore_ascii_case(name))
        });
        if removed.is_err() {
            return false;
        }
    }
    let block = identity.header_block();
    let meta = &conf.meta_headers;
    let (Some(own), Some(meta_copy)) =
        (headers::copy_block(r, block), headers::copy_block(r, meta))
    else {
        return false;
    };
    let items = block.items();
    let (base, additional) = items.split_at(BLOCK_BASE_HEADERS.min(items.len()));
    for item in base {
        if !headers::add_block_item(r, own, item, None) {
            return false;
        }
    }
    // A verified bearer/cookie token, or a session's ID token (kept by `Session` only in
    // compact JWS form): base64url and dots, a safe header value as it is.
    if let Some(jwt) = who.raw_token() {
        if !headers::add_in(r, b"X-authentik-jwt", jwt.as_bytes()) {
            return false;
        }
    }
    // Without `sso_app`, app and provider are the host the client asked for.
    let host = if conf.app.is_none() {
        Some(app_from_host(r))
    } else {
        None
    };
    for (i, item) in meta.items().iter().enumerate() {
        let value = if i < 2 { host } else { None };
        if !headers::add_block_item(r, meta_copy, item, value) {
            return false;
        }
    }
    for item in additional {
        if !headers::add_block_item(r, own, item, None) {
            return false;
        }
    }
    true
}

/// The server name of the request (its validated `Host`), as a header value: used as is
/// unless it holds a control character, which a sanitised copy then drops.
unsafe fn app_from_host(r: *mut ngx_http_request_t) -> ngx_str_t {
    let server = (*r).headers_in.server;
    let raw = bytes(&server);
    if !raw.iter().any(|c| c.is_ascii_control()) {
        return server;
    }
    let clean = sanitize_header_value(&String::from_utf8_lossy(raw)).into_owned();
    headers::pool_str(r, clean.as_bytes()).unwrap_or(ngx_str_t {
        len: 0,
        data: ptr::null_mut(),
    })
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
pub unsafe fn scheme(r: *const ngx_http_request_t) -> &'static str {
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

/// `scheme://host[:port]` of the request.
pub unsafe fn request_origin(r: *const ngx_http_request_t) -> String {
    format!("{}://{}", scheme(r), String::from_utf8_lossy(host(r)))
}

/// `scheme://host/original-uri?query`, as the client sent it.
pub unsafe fn full_url(r: *const ngx_http_request_t) -> String {
    let uri = String::from_utf8_lossy(bytes(&(*r).unparsed_uri));
    format!("{}{}", request_origin(r), uri)
}

unsafe fn apply(r: *mut ngx_http_request_t, conf: &LocConf, decision: &Decision) -> ngx_int_t {
    match decision {
        Decision::Allow { .. } => {
            if conf.identity_headers() {
                if let Some(who) = context::get(r).and_then(|c| c.who.as_ref()) {
                    if !set_identity_headers(r, conf, who) {
                        return NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;
                    }
                }
            }
            Status::NGX_OK.into()
        }
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

//! The request path: PREACCESS strips client-sent identity headers and serves the module's
//! endpoints; ACCESS decides (README "How a request is decided") and applies the decision.
//!
//! Why two phases: under `satisfy any`, a passing `allow` ends the ACCESS phase before later
//! handlers run, yet client-sent identity headers must be removed always (step 2) and the
//! endpoints must answer whatever `allow`/`deny` say (step 1). PREACCESS runs for every
//! request, before ACCESS.
//!
//! Subrequests (SSI includes, `auth_request`, `mirror`, ...) are requests too: nginx skips
//! the ACCESS phase for them, so a subrequest into a protected location is decided in
//! PREACCESS, as a request in its own right, on its own copy of the header list (README
//! "Security" → "Subrequests").

use std::ptr;

use ngx::core::Status;
use ngx::ffi::{
    ngx_http_core_loc_conf_t, ngx_http_core_module, ngx_http_discard_request_body,
    ngx_http_err_page_t, ngx_http_finalize_request, ngx_http_request_t, ngx_int_t, ngx_str_t,
    ngx_uint_t, NGX_HTTP_FORBIDDEN, NGX_HTTP_GET, NGX_HTTP_HEAD, NGX_HTTP_INTERNAL_SERVER_ERROR,
    NGX_HTTP_NOT_FOUND, NGX_HTTP_SATISFY_ANY, NGX_HTTP_UNAUTHORIZED, NGX_LOG_INFO, NGX_LOG_WARN,
};
use ngx::ngx_log_error;
use sso_core::decide::{
    decide, login_location, AuthMethod, Credentials, Decision, Lacking, RequestView,
};
use sso_core::flow::{forbidden_json, forbidden_page, Requirement};
use sso_core::identity::{
    is_identity_header, request_headers, same_header_name, sanitize_header_value, Header,
};
use sso_core::jwt::TokenError;
use sso_core::paths::{matching_url, path_is_unambiguous};
use sso_core::rules::BasicError;

use crate::conf::{loc_conf, LocConf};
use crate::context::{Authenticated, RawToken, RequestCtx};
use crate::headers::{self, bytes};
use crate::net::refresh;
use crate::request::{self, full_url, local_port, no_store, scheme};
use crate::{bearer, context, endpoints, guard, session_cookie};

/// `Some(rest)` when `uri` is `prefix` followed by `/rest`.
fn under_prefix<'a>(uri: &'a [u8], prefix: &str) -> Option<&'a [u8]> {
    let rest = uri.strip_prefix(prefix.as_bytes())?;
    rest.starts_with(b"/").then_some(rest)
}

/// The PREACCESS handler (registered in `postconfiguration`).
///
/// # Safety
/// For nginx's phase engine: `r` must be a valid request, on nginx's thread.
pub unsafe extern "C" fn preaccess_handler(r: *mut ngx_http_request_t) -> ngx_int_t {
    // SAFETY: nginx passes a valid request.
    let log = unsafe { (*(*r).connection).log };
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
    // SAFETY: every caller passes a valid request, on nginx's thread.
    unsafe {
        let Some(conf) = loc_conf(r) else {
            return Status::NGX_DECLINED.into();
        };
        if !conf.protect() {
            return Status::NGX_DECLINED.into();
        }
        let subrequest = (*r).main != r;
        // A subrequest's header list is a shallow copy of its parent's: it gets a list of its
        // own before anything is removed or added, so the parent's stays as it was.
        if headers::remove_in(r, is_identity_header, subrequest).is_err() {
            return NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;
        }
        if let Some(endpoint) = under_prefix(bytes(&(*r).uri), conf.outpost_prefix()) {
            // The endpoints answer browsers, not includes: a subrequest there finds nothing.
            if subrequest {
                return NGX_HTTP_NOT_FOUND as ngx_int_t;
            }
            return endpoints::serve(r, conf, endpoint);
        }
        if subrequest {
            // nginx skips the ACCESS phase for subrequests: decide here.
            return match gate(r, conf) {
                rc if rc == Status::NGX_OK.0 => Status::NGX_DECLINED.into(),
                rc => rc,
            };
        }
        Status::NGX_DECLINED.into()
    }
}

/// The ACCESS handler (registered in `postconfiguration`).
///
/// # Safety
/// For nginx's phase engine: `r` must be a valid request, on nginx's thread.
pub unsafe extern "C" fn access_handler(r: *mut ngx_http_request_t) -> ngx_int_t {
    // SAFETY: nginx passes a valid request.
    let log = unsafe { (*(*r).connection).log };
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
    // SAFETY: every caller passes a valid request, on nginx's thread.
    unsafe {
        let Some(conf) = loc_conf(r) else {
            return Status::NGX_DECLINED.into();
        };
        if !conf.protect() {
            return Status::NGX_DECLINED.into();
        }
        gate(r, conf)
    }
}

/// Steps 3 to 6 for a main request (ACCESS) or a subrequest (PREACCESS): `NGX_OK` to pass
/// with identity, `NGX_DECLINED` to pass without (an unauthenticated path), or the status
/// that refuses.
unsafe fn gate(r: *mut ngx_http_request_t, conf: &LocConf) -> ngx_int_t {
    // SAFETY: every caller passes a valid request, on nginx's thread.
    unsafe {
        let view = RequestView {
            safe_method: (*r).method & (NGX_HTTP_GET | NGX_HTTP_HEAD) as usize != 0,
            accept: headers::find_in(r, b"accept"),
            requested_with: headers::find_in(r, b"x-requested-with"),
        };
        let Some((credentials, who)) = check_credentials(r, conf) else {
            // A session refresh runs for this request: this handler is called again after it.
            return Status::NGX_DONE.into();
        };
        let groups: &[String] = who.as_ref().map_or(&[], |w| w.identity().groups.as_slice());
        let decision = decide(
            &view,
            &credentials,
            groups,
            conf.require_groups(),
            // Only with rules are the claims looked at (parsed once per cached credential).
            || match (&conf.require_claims, &who) {
                (None, _) => None,
                (Some(rules), Some(who)) => rules.first_failing(|| who.all_claims()),
                // Valid credentials always come with who they are: fail closed anyway.
                (Some(rules), None) => (!rules.is_empty()).then_some(0),
            },
            || matches_unauthenticated(r, conf),
        );
        let granted = matches!(decision, Decision::Allow { .. });
        // Who a refused user is signed in as, for the 403 page and the log.
        let refused_user = match (&decision, &who) {
            (Decision::Forbidden { .. }, Some(who)) => Some(display_name(who)),
            _ => None,
        };
        let stored = context::set(
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
        // Without its context an authenticated request would pass without identity.
        if !stored && granted {
            return NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;
        }
        apply(r, conf, &decision, &view, refused_user.as_deref())
    }
}

/// How the 403 page names the user: the username, else the email, else the subject.
fn display_name(who: &Authenticated) -> String {
    let id = who.identity();
    [&id.username, &id.email, &id.uid]
        .into_iter()
        .find(|s| !s.is_empty())
        .cloned()
        .unwrap_or_default()
}

/// Step 3 of README "How a request is decided": a valid session cookie, else a valid bearer JWT, else a valid token
/// cookie. When something was presented and refused, the first token refusal is reported,
/// else a session that was revoked or ended (`idle`). None: the session is being refreshed
/// (README "Session lifecycle"), the request waits.
unsafe fn check_credentials(
    r: *mut ngx_http_request_t,
    conf: &LocConf,
) -> Option<(Credentials, Option<Authenticated>)> {
    // SAFETY (this and below): every caller passes a valid request, on nginx's thread.
    let mut revoked = false;
    let ended = match unsafe { session_cookie::open_checked(r, conf) } {
        session_cookie::Opened::Live(session) => {
            // A subrequest (decided in PREACCESS) never waits: it goes on with the session.
            let step = if unsafe { (*r).main } == r {
                unsafe { refresh::on_session(r, conf, session) }
            } else {
                refresh::Step::Go(session)
            };
            return match step {
                refresh::Step::Go(session) => {
                    let who = Authenticated::Session(session);
                    Some((who.credentials(), Some(who)))
                }
                refresh::Step::Wait => None,
                refresh::Step::Ended => Some((
                    Credentials::Rejected {
                        reason: refresh::REFRESH_FAILED,
                        description: "the provider ended the session".to_owned(),
                    },
                    None,
                )),
            };
        }
        session_cookie::Opened::Revoked => {
            revoked = true;
            None
        }
        session_cookie::Opened::Ended(reason) => Some(reason),
        session_cookie::Opened::None => None,
    };
    let mut refusal: Option<TokenError> = None;
    let log = unsafe { (*(*r).connection).log };
    let mut attempt = |method: AuthMethod, token: &[u8]| -> Option<Authenticated> {
        match bearer::verify(conf, token) {
            Ok((verified, jws)) => Some(Authenticated::Token {
                method,
                verified,
                // SAFETY: `jws` is `token`, a slice of a request header value.
                raw: unsafe { RawToken::new(jws) },
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
        if let Some(token) = unsafe { bearer::bearer_token(r) } {
            if let Some(who) = attempt(AuthMethod::Bearer, token) {
                return Some((who.credentials(), Some(who)));
            }
        }
    }
    if let Some(name) = &conf.token_cookie {
        if let Some(token) = unsafe { headers::find_cookie(r, name.as_bytes()) } {
            if let Some(who) = attempt(AuthMethod::TokenCookie, token) {
                return Some((who.credentials(), Some(who)));
            }
        }
    }
    if revoked {
        return Some((
            Credentials::Rejected {
                reason: "revoked",
                description: "the session was revoked".to_owned(),
            },
            None,
        ));
    }
    Some(match refusal {
        Some(err) => (
            Credentials::Rejected {
                reason: err.reason(),
                description: err.description(),
            },
            None,
        ),
        // A session that ended says why, unless a token was refused too (RFC 6750 `error=`).
        None => match ended {
            Some(reason) => (Credentials::Ended { reason }, None),
            None => (Credentials::Missing, None),
        },
    })
}

/// Removes every client-sent header named in the user's `additionalHeaders`, rendered or not
/// (`-` and `_` alike), whether or not identity headers are sent here (README "Security" →
/// "Identity headers a client sends"). `X-authentik-*` went in PREACCESS.
unsafe fn strip_additional_names(r: *mut ngx_http_request_t, who: &Authenticated) -> bool {
    // SAFETY: every caller passes a valid request, on nginx's thread.
    unsafe {
        let identity = who.identity();
        if identity.strip_names().next().is_none() {
            return true;
        }
        headers::remove_in(
            r,
            |name| {
                identity
                    .strip_names()
                    .any(|n| same_header_name(n.as_bytes(), name))
            },
            false,
        )
        .is_ok()
    }
}

/// Hands the upstream the identity headers of `who` (README "Identity headers"). Client-sent
/// headers of the same names are gone already ([`strip_additional_names`]).
///
/// The headers come rendered ([`sso_core::header_block`]): the identity's once per cached
/// token or session, the meta ones once per location. A request copies the two blocks into
/// its pool and adds list elements pointing into the copies.
unsafe fn set_identity_headers(
    r: *mut ngx_http_request_t,
    conf: &LocConf,
    who: &Authenticated,
) -> bool {
    // SAFETY: every caller passes a valid request, on nginx's thread.
    unsafe {
        let identity = who.identity();
        let block = identity.header_block();
        for name in identity.omitted() {
            ngx_log_error!(
                NGX_LOG_INFO,
                (*(*r).connection).log,
                "sso: \"{}\" omitted: the value cannot be sent safely as a header",
                name
            );
        }
        let meta = &conf.meta_headers;
        let (Some(own), Some(meta_copy)) = (
            headers::copy_block(r, block),
            headers::copy_block(r, meta.block()),
        ) else {
            return false;
        };
        // Without `sso_app`, app and provider are the host the client asked for.
        let mut host = None;
        // A verified bearer/cookie token, or a session's ID token (kept by `Session` only in
        // compact JWS form).
        // `sso_jwt_header off`: no `X-authentik-jwt`, whatever the credential.
        let jwt = if conf.jwt_header() {
            who.raw_token()
        } else {
            None
        };
        for header in request_headers(block, meta, jwt) {
            let added = match header {
                Header::Own(item) => headers::add_block_item(r, own, item, None),
                Header::Jwt(jwt) => headers::add_in(r, b"X-authentik-jwt", jwt.as_bytes()),
                Header::Meta { item, host: false } => {
                    headers::add_block_item(r, meta_copy, item, None)
                }
                Header::Meta { item, host: true } => {
                    let value = *host.get_or_insert_with(|| app_from_host(r));
                    headers::add_block_item(r, meta_copy, item, Some(value))
                }
            };
            if !added {
                return false;
            }
        }
        true
    }
}

/// The server name of the request (its validated `Host`), as a header value: used as is
/// unless it holds a control character, which a sanitised copy then drops.
unsafe fn app_from_host(r: *mut ngx_http_request_t) -> ngx_str_t {
    // SAFETY: every caller passes a valid request, on nginx's thread.
    unsafe {
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
}

/// `sso_unauthenticated_paths` against the normalised path nginx routes on (decoded, no
/// query), then `sso_unauthenticated_urls` against `scheme://host[:port]/path?query` built
/// from what nginx routed on: never when the path may mean another one to the upstream
/// (README "Security" → "Path and URL matching").
unsafe fn matches_unauthenticated(r: *mut ngx_http_request_t, conf: &LocConf) -> bool {
    // SAFETY: every caller passes a valid request, on nginx's thread.
    unsafe {
        if conf.unauthenticated_paths.is_none() && conf.unauthenticated_urls.is_none() {
            return false;
        }
        let routed = bytes(&(*r).uri);
        // While nginx forwards the request line's path as it came (`proxy_pass` without a URI),
        // that path must agree with the routed one.
        let raw = if (*r).valid_unparsed_uri() != 0 {
            let unparsed = bytes(&(*r).unparsed_uri);
            let end = unparsed
                .iter()
                .position(|&b| b == b'?')
                .unwrap_or(unparsed.len());
            Some(&unparsed[..end])
        } else {
            None
        };
        if !path_is_unambiguous(raw, routed) {
            ngx_log_error!(
                NGX_LOG_INFO,
                (*(*r).connection).log,
                "sso: unauthenticated rules not applied to the ambiguous path \"{}\"",
                String::from_utf8_lossy(bytes(&(*r).unparsed_uri)).escape_debug()
            );
            return false;
        }
        if let Some(set) = &conf.unauthenticated_paths {
            if set.matches(routed) {
                return true;
            }
        }
        if let Some(set) = &conf.unauthenticated_urls {
            let url = matching_url(
                scheme(r),
                bytes(&(*r).headers_in.server),
                local_port(r),
                routed,
                bytes(&(*r).args),
            );
            return set.matches(&url);
        }
        false
    }
}

/// Applies the decision; `view` and `refused_user` are for a `403` only.
unsafe fn apply(
    r: *mut ngx_http_request_t,
    conf: &LocConf,
    decision: &Decision,
    view: &RequestView<'_>,
    refused_user: Option<&str>,
) -> ngx_int_t {
    // SAFETY: every caller passes a valid request, on nginx's thread.
    unsafe {
        match decision {
            Decision::Allow { .. } => {
                let Some(who) = context::get(r).and_then(|c| c.who.as_ref()) else {
                    return NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;
                };
                if !strip_additional_names(r, who) {
                    return NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;
                }
                if conf.identity_headers() && !set_identity_headers(r, conf, who) {
                    return NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;
                }
                if conf.basic_auth.is_some() && !set_basic_auth(r, conf, who) {
                    return NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;
                }
                Status::NGX_OK.into()
            }
            // Like `auth_basic off`: no requirement here, but no grant either (so `satisfy any`
            // with `deny` still denies).
            Decision::AllowUnauthenticated => Status::NGX_DECLINED.into(),
            // A login redirect means nothing inside an include: a subrequest gets the 401.
            Decision::Login { reason } if (*r).main != r => {
                ngx_log_error!(
                    NGX_LOG_INFO,
                    (*(*r).connection).log,
                    "sso: subrequest unauthorized, reason: \"{}\"",
                    reason
                );
                if !no_store(r) || headers::add_out(r, b"WWW-Authenticate", b"Bearer").is_none() {
                    return NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;
                }
                NGX_HTTP_UNAUTHORIZED as ngx_int_t
            }
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
                request::redirect(r, &location)
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
                if !no_store(r) {
                    return NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;
                }
                NGX_HTTP_UNAUTHORIZED as ngx_int_t
            }
            Decision::Forbidden { lacking } => {
                let navigation = view.is_navigation();
                forbid(r, conf, *lacking, navigation, refused_user.unwrap_or(""))
            }
        }
    }
}

/// Step 6 of README "How a request is decided": `403`, never a login. Logged at `info` with
/// the rule. The body is the module's page (a browser navigation) or JSON, unless the user's
/// own `error_page 403` applies here: then nginx sends that, as for any other 403. A
/// subrequest gets the bare status.
unsafe fn forbid(
    r: *mut ngx_http_request_t,
    conf: &LocConf,
    lacking: Lacking,
    navigation: bool,
    user: &str,
) -> ngx_int_t {
    // SAFETY: every caller passes a valid request, on nginx's thread.
    unsafe {
        let requirement = match lacking {
            Lacking::Group => Requirement::Groups(conf.require_groups()),
            Lacking::Claim(i) => match conf.require_claims.as_ref().and_then(|c| c.get(i)) {
                Some(rule) => Requirement::Claim(rule),
                None => return NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t,
            },
        };
        let log = (*(*r).connection).log;
        let rule = match requirement {
            Requirement::Groups(groups) => format!(
                "group one of {}",
                groups
                    .iter()
                    .map(|g| format!("\"{}\"", g.escape_debug()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Requirement::Claim(rule) => format!("claim {rule}"),
        };
        ngx_log_error!(
            NGX_LOG_INFO,
            log,
            "sso: access forbidden, reason: \"{}\", user: \"{}\", {}",
            requirement.reason(),
            user.escape_debug(),
            rule
        );
        if (*r).main != r
            || user_error_page(r, NGX_HTTP_FORBIDDEN as ngx_int_t)
            || other_handler_asked_for_credentials(r)
        {
            if !no_store(r) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;
            }
            return NGX_HTTP_FORBIDDEN as ngx_int_t;
        }
        // As nginx does before its own error pages: the body is not wanted, and left unread
        // it would be taken for the next request on the connection.
        if ngx_http_discard_request_body(r) != Status::NGX_OK.0 {
            (*r).set_keepalive(0);
        }
        let rc = if navigation {
            let sign_out = format!("{}/sign_out", conf.outpost_prefix());
            request::send_page(r, 403, &forbidden_page(user, &requirement, &sign_out))
        } else {
            request::send_body(r, 403, b"application/json", &forbidden_json(&requirement))
        };
        ngx_http_finalize_request(r, rc);
        Status::NGX_DONE.into()
    }
}

/// Whether nginx would answer `status` with an `error_page` of this location: the test of
/// `ngx_http_special_response_handler` (not already inside an error page, pages configured,
/// internal redirects left).
unsafe fn user_error_page(r: *mut ngx_http_request_t, status: ngx_int_t) -> bool {
    // SAFETY: every caller passes a valid request; the core module's location configuration
    // and its `error_pages` array live as long as the configuration.
    unsafe {
        let clcf =
            *(*r).loc_conf.add(ngx_http_core_module.ctx_index) as *const ngx_http_core_loc_conf_t;
        if clcf.is_null() || (*r).error_page() != 0 || (*r).uri_changes() == 0 {
            return false;
        }
        let pages = (*clcf).error_pages;
        if pages.is_null() || (*pages).nelts == 0 {
            return false;
        }
        std::slice::from_raw_parts((*pages).elts as *const ngx_http_err_page_t, (*pages).nelts)
            .iter()
            .any(|p| p.status == status)
    }
}

/// Under `satisfy any`, whether an earlier access handler (`auth_basic`, ...) refused with
/// `401`: nginx then answers with that one's challenge, which a page of ours must not hide.
unsafe fn other_handler_asked_for_credentials(r: *mut ngx_http_request_t) -> bool {
    // SAFETY: every caller passes a valid request; the core module's location configuration
    // lives as long as the configuration.
    unsafe {
        let clcf =
            *(*r).loc_conf.add(ngx_http_core_module.ctx_index) as *const ngx_http_core_loc_conf_t;
        !clcf.is_null()
            && (*clcf).satisfy == NGX_HTTP_SATISFY_ANY as ngx_uint_t
            && (*r).access_code == NGX_HTTP_UNAUTHORIZED as ngx_uint_t
    }
}

/// `sso_basic_auth_attributes` (README "Identity headers"): the upstream gets
/// `Authorization: Basic` from the user's attributes, and never the client's own
/// `Authorization` (a bearer token the module consumed included), whether or not both
/// attributes are there. False when the pool is out of memory.
unsafe fn set_basic_auth(r: *mut ngx_http_request_t, conf: &LocConf, who: &Authenticated) -> bool {
    // SAFETY: every caller passes a valid request, on nginx's thread.
    unsafe {
        let Some(basic) = &conf.basic_auth else {
            return true;
        };
        let value = match basic.authorization(who.all_claims()) {
            Ok(value) => Some(value),
            Err(err) => {
                let level = match err {
                    BasicError::Missing(_) => NGX_LOG_INFO,
                    BasicError::ColonInUser => NGX_LOG_WARN,
                };
                ngx_log_error!(
                    level,
                    (*(*r).connection).log,
                    "sso: no basic credentials for the upstream, user: \"{}\": {}",
                    display_name(who).escape_debug(),
                    err
                );
                None
            }
        };
        headers::replace_authorization(r, value.as_deref().map(str::as_bytes))
    }
}

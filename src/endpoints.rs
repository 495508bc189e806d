//! The module's own endpoints under `sso_outpost_prefix` (SPEC §5): `ping`, `start`,
//! `callback`, `sign_out`.
//!
//! `callback` exchanges the code at the provider's token endpoint on a background thread
//! (`net::wake::spawn_for_request`): the request is suspended, the worker's event loop goes
//! on serving everyone else, and the response is sent when the job is done.

use std::sync::Arc;

use ngx::core::Status;
use ngx::ffi::{
    ngx_buf_t, ngx_chain_t, ngx_http_output_filter, ngx_http_request_empty_handler,
    ngx_http_request_t, ngx_http_send_header, ngx_int_t, ngx_pcalloc,
    NGX_HTTP_INTERNAL_SERVER_ERROR, NGX_HTTP_MOVED_TEMPORARILY, NGX_HTTP_NOT_FOUND,
    NGX_HTTP_NO_CONTENT, NGX_HTTP_SERVICE_UNAVAILABLE, NGX_LOG_ERR, NGX_LOG_INFO, NGX_LOG_WARN,
};
use ngx::ngx_log_error;
use sso_core::cookie::{self, Attributes};
use sso_core::flow::{self, AuthRequest, Discovery};
use sso_core::session::{chunk_cookie_name, MAX_CHUNKS};

use crate::access::{host, request_origin, scheme};
use crate::conf::LocConf;
use crate::headers::{self, bytes};
use crate::login::{self, Exchange, Outcome};
use crate::net::wake;
use crate::sessions;

/// Serves `<prefix><endpoint>`; `endpoint` starts with `/`.
///
/// # Safety
/// `r` must be a valid main request.
pub unsafe fn serve(r: *mut ngx_http_request_t, conf: &LocConf, endpoint: &[u8]) -> ngx_int_t {
    match endpoint {
        // 204, no body, no authentication: a health check for load balancers and docker.
        b"/ping" => NGX_HTTP_NO_CONTENT as ngx_int_t,
        b"/start" => start(r, conf),
        b"/callback" => callback(r, conf),
        b"/sign_out" => sign_out(r, conf),
        _ => NGX_HTTP_NOT_FOUND as ngx_int_t,
    }
}

fn now() -> u64 {
    ngx::ffi::ngx_time().max(0) as u64
}

unsafe fn query<'a>(r: *const ngx_http_request_t) -> &'a str {
    std::str::from_utf8(bytes(&(*r).args)).unwrap_or("")
}

/// An absolute URL for a configured URI that may be a path.
unsafe fn absolute(r: *const ngx_http_request_t, uri: &str) -> String {
    if sso_core::decide::is_absolute_url(uri) {
        uri.to_owned()
    } else {
        format!("{}{}", request_origin(r), uri)
    }
}

/// `sso_redirect_uri`, else `<prefix>/callback` on the request's scheme and host.
pub unsafe fn redirect_uri(r: *const ngx_http_request_t, conf: &LocConf) -> String {
    match &conf.redirect_uri {
        Some(uri) => absolute(r, uri),
        None => format!("{}{}/callback", request_origin(r), conf.outpost_prefix()),
    }
}

unsafe fn cookie_attributes<'a>(
    r: *const ngx_http_request_t,
    domain: Option<&'a str>,
    max_age: u64,
) -> Attributes<'a> {
    Attributes {
        path: "/",
        domain,
        max_age,
        secure: scheme(r) == "https",
    }
}

unsafe fn set_cookie(r: *mut ngx_http_request_t, value: &str) -> bool {
    headers::add_out(r, b"Set-Cookie", value.as_bytes()).is_some()
}

/// Expires the session cookie and every chunk of it the browser sent.
unsafe fn expire_session(r: *mut ngx_http_request_t, conf: &LocConf, keep_chunks: usize) {
    let name = conf.session_cookie();
    let attrs = cookie_attributes(r, conf.cookie_domain.as_deref(), 0);
    for i in keep_chunks..MAX_CHUNKS {
        let chunk = chunk_cookie_name(name, i);
        if headers::find_cookie(r, chunk.as_bytes()).is_some() {
            set_cookie(r, &cookie::set_cookie(&chunk, "", &attrs));
        }
    }
}

/// 302 to `location`, never cached.
unsafe fn redirect(r: *mut ngx_http_request_t, location: &str) -> ngx_int_t {
    let Some(h) = headers::add_out(r, b"Location", location.as_bytes()) else {
        return NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;
    };
    (*r).headers_out.location = h;
    headers::add_out(r, b"Cache-Control", b"no-store");
    NGX_HTTP_MOVED_TEMPORARILY as ngx_int_t
}

/// Sends a complete HTML page; returns what to finalize the request with.
pub unsafe fn send_page(r: *mut ngx_http_request_t, status: u16, html: &str) -> ngx_int_t {
    (*r).headers_out.status = status as usize;
    (*r).headers_out.content_length_n = html.len() as _;
    let ct = b"text/html; charset=utf-8";
    (*r).headers_out.content_type.len = ct.len();
    (*r).headers_out.content_type.data = ct.as_ptr() as *mut u8;
    (*r).headers_out.content_type_len = ct.len();
    headers::add_out(r, b"Cache-Control", b"no-store");
    let rc = ngx_http_send_header(r);
    if rc == Status::NGX_ERROR.0 || rc > Status::NGX_OK.0 || (*r).header_only() != 0 {
        return rc;
    }
    let b = ngx_pcalloc((*r).pool, std::mem::size_of::<ngx_buf_t>()) as *mut ngx_buf_t;
    let data = ngx::ffi::ngx_pnalloc((*r).pool, html.len().max(1)) as *mut u8;
    if b.is_null() || data.is_null() {
        return Status::NGX_ERROR.into();
    }
    std::ptr::copy_nonoverlapping(html.as_ptr(), data, html.len());
    (*b).pos = data;
    (*b).last = data.add(html.len());
    (*b).set_memory(1);
    (*b).set_last_buf(if (*r).main == r { 1 } else { 0 });
    (*b).set_last_in_chain(1);
    let mut out = ngx_chain_t {
        buf: b,
        next: std::ptr::null_mut(),
    };
    ngx_http_output_filter(r, &mut out)
}

/// A page sent from a phase handler: finalize it here and tell the phase engine we did.
unsafe fn page_now(r: *mut ngx_http_request_t, status: u16, html: &str) -> ngx_int_t {
    let rc = send_page(r, status, html);
    ngx::ffi::ngx_http_finalize_request(r, rc);
    Status::NGX_DONE.into()
}

unsafe fn not_configured(r: *mut ngx_http_request_t, what: &str) -> ngx_int_t {
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

unsafe fn provider_unavailable(r: *mut ngx_http_request_t, conf: &LocConf) -> ngx_int_t {
    if let Some(p) = &conf.provider {
        p.request_refetch();
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

/// The discovery document, when the provider has been reached.
fn discovery(conf: &LocConf) -> Option<Arc<Discovery>> {
    conf.provider.as_ref()?.snapshot().discovery.clone()
}

/// `start?rd=URL`: PKCE + state + nonce in a sealed flow cookie, 302 to the provider.
unsafe fn start(r: *mut ngx_http_request_t, conf: &LocConf) -> ngx_int_t {
    let Some(keys) = conf.session_keys.as_deref() else {
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
            // Host-only: the callback comes back to this host.
            let attrs = cookie_attributes(r, None, fs.max_age);
            if !set_cookie(
                r,
                &cookie::set_cookie(&fs.cookie_name, &fs.cookie_value, &attrs),
            ) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;
            }
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

/// `callback?code&state`: checks the flow, then exchanges the code in the background.
unsafe fn callback(r: *mut ngx_http_request_t, conf: &LocConf) -> ngx_int_t {
    let log = (*(*r).connection).log;
    let Some(keys) = conf.session_keys.clone() else {
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
    // The flow cookie is single-use, whatever happens next.
    if let (Some(name), Some(_)) = (&flow_cookie_name, flow_cookie) {
        set_cookie(
            r,
            &cookie::set_cookie(name, "", &cookie_attributes(r, None, 0)),
        );
    }
    let cb = match flow::callback(&keys, conf.client_id(), issuer, &params, flow_cookie, now()) {
        Ok(cb) => cb,
        Err(err) => {
            ngx_log_error!(NGX_LOG_INFO, log, "sso: login callback refused: {}", err);
            return page_now(r, err.http_status(), &err.html_page());
        }
    };
    let Some(disco) = discovery(conf) else {
        return provider_unavailable(r, conf);
    };
    let exchange = Exchange {
        provider,
        discovery: disco,
        keys,
        client_id: conf.client_id().to_owned(),
        client_secret: conf.client_secret.clone(),
        tokens: conf.tokens.clone(),
        binding: conf.session_binding.clone(),
        redirect_uri: redirect_uri(r, conf),
        leeway: conf.leeway(),
        lifetime: conf.session_lifetime(),
        flow: cb.flow,
        code: cb.code,
    };
    // The request stays alive until the job is done; nothing may re-run its phases
    // meanwhile (a write event would otherwise enter this handler again).
    (*r).write_event_handler = Some(ngx_http_request_empty_handler);
    let spawned = wake::spawn_for_request(
        r,
        move || login::exchange(exchange),
        |r, result| {
            // SAFETY: called on the event loop with the (still alive) request.
            unsafe { finish_callback(r, result) }
        },
    );
    match spawned {
        Ok(_) => Status::NGX_DONE.into(),
        Err(err) => {
            ngx_log_error!(
                NGX_LOG_ERR,
                log,
                "sso: cannot start the token exchange: {}",
                err
            );
            page_now(
                r,
                500,
                &flow::error_page("Sign-in failed", "The sign-in could not be completed."),
            )
        }
    }
}

/// On the event loop again: set the session cookie and send the browser on, or say why not.
unsafe fn finish_callback(
    r: *mut ngx_http_request_t,
    result: Result<Outcome, wake::JobPanicked>,
) -> ngx_int_t {
    let log = (*(*r).connection).log;
    let Some(conf) = crate::loc_conf(r) else {
        return NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;
    };
    let outcome = match result {
        Ok(o) => o,
        Err(_) => {
            ngx_log_error!(
                NGX_LOG_ERR,
                log,
                "sso: the token exchange failed internally"
            );
            return send_page(
                r,
                500,
                &flow::error_page("Sign-in failed", "The sign-in could not be completed."),
            );
        }
    };
    match outcome {
        Outcome::Session { chunks, rd, user } => {
            let name = conf.session_cookie();
            let attrs =
                cookie_attributes(r, conf.cookie_domain.as_deref(), conf.session_lifetime());
            for (i, chunk) in chunks.iter().enumerate() {
                if !set_cookie(
                    r,
                    &cookie::set_cookie(&chunk_cookie_name(name, i), chunk, &attrs),
                ) {
                    return NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;
                }
            }
            expire_session(r, conf, chunks.len());
            ngx_log_error!(NGX_LOG_INFO, log, "sso: user \"{}\" logged in", user);
            redirect(r, &rd)
        }
        Outcome::Failed {
            status,
            page,
            log: why,
        } => {
            ngx_log_error!(NGX_LOG_WARN, log, "sso: login failed: {}", why);
            send_page(r, status, &page)
        }
    }
}

/// `sign_out`: clears the session and sends the browser to the provider's end-session
/// endpoint (with `id_token_hint` when known), or to `/`.
unsafe fn sign_out(r: *mut ngx_http_request_t, conf: &LocConf) -> ngx_int_t {
    let session = sessions::open(r, conf);
    expire_session(r, conf, 0);
    let post_logout = conf
        .post_logout_redirect_uri
        .as_deref()
        .map(|u| absolute(r, u));
    let location = match discovery(conf) {
        Some(disco) => flow::end_session_url(
            disco.end_session_endpoint.as_deref(),
            session.as_ref().and_then(|s| s.id_token.as_deref()),
            post_logout.as_deref(),
            conf.client_id(),
        ),
        None => "/".to_owned(),
    };
    redirect(r, &location)
}

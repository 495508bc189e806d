//! What the request path and the endpoints read off a request and how they answer it: the
//! scheme, host and URLs the client used, the event loop's clock, redirects and pages.
//!
//! Everything here is for the worker's event-loop thread, with a request nginx handed to a
//! phase handler (or one a background job resumed).

use ngx::core::Status;
use ngx::ffi::{
    ngx_buf_t, ngx_chain_t, ngx_http_finalize_request, ngx_http_output_filter, ngx_http_request_t,
    ngx_http_send_header, ngx_int_t, ngx_pcalloc, ngx_pnalloc, NGX_HTTP_INTERNAL_SERVER_ERROR,
    NGX_HTTP_MOVED_TEMPORARILY,
};

use crate::headers::{self, bytes};

/// Unix seconds of nginx's cached clock (updated once per event-loop iteration). On the
/// event-loop thread only.
pub fn now() -> u64 {
    ngx::ffi::ngx_time().max(0) as u64
}

/// `https` when the client connection is TLS.
///
/// # Safety
/// `r` must be a valid request.
pub unsafe fn scheme(r: *const ngx_http_request_t) -> &'static str {
    // SAFETY: a valid request has a valid connection.
    if unsafe { (*(*r).connection).ssl.is_null() } {
        "http"
    } else {
        "https"
    }
}

/// The host the client asked for, port included, as nginx routed on it (README "Security" →
/// "Path and URL matching"): a request line in absolute form (`GET http://host:port/path`)
/// names the host nginx chose the server by, whatever `Host` says; otherwise the `Host`
/// header (HTTP/2's `:authority`), else the server name nginx settled on.
///
/// # Safety
/// `r` must be a valid request.
pub unsafe fn host<'a>(r: *const ngx_http_request_t) -> &'a [u8] {
    // SAFETY: the header pointers of a valid request are null or point at its header list;
    // `host_start..host_end` and `uri_start` (set together by nginx's request-line parser)
    // point into the main request's request line, which lives as long as the request.
    unsafe {
        let main = (*r).main;
        let (start, end) = ((*main).host_start, (*main).host_end);
        if !start.is_null() && !end.is_null() && end > start {
            let len = end.offset_from(start) as usize;
            let host = std::slice::from_raw_parts(start, len);
            // nginx does not keep where the port ends: the digits after `:` up to the path.
            let uri = (*main).uri_start;
            if !uri.is_null() && uri.offset_from(end) > 1 && *end == b':' {
                let with_port = std::slice::from_raw_parts(start, uri.offset_from(start) as usize);
                if with_port[len + 1..].iter().all(u8::is_ascii_digit) {
                    return with_port;
                }
            }
            return host;
        }
        let h = (*r).headers_in.host;
        if !h.is_null() {
            return bytes(&(*h).value);
        }
        bytes(&(*r).headers_in.server)
    }
}

/// The local port of the client's connection (the `listen` it came in on).
///
/// # Safety
/// `r` must be a valid request.
pub unsafe fn local_port(r: *const ngx_http_request_t) -> Option<u16> {
    // SAFETY: a valid request has a valid connection; its local address is null or valid.
    unsafe {
        let sa = (*(*r).connection).local_sockaddr;
        if sa.is_null() {
            return None;
        }
        match ngx::ffi::ngx_inet_get_port(sa) {
            0 => None,
            port => Some(port),
        }
    }
}

/// `scheme://host[:port]` of the request.
///
/// # Safety
/// `r` must be a valid request.
pub unsafe fn origin(r: *const ngx_http_request_t) -> String {
    // SAFETY: as the caller promises.
    let (scheme, host) = unsafe { (scheme(r), host(r)) };
    format!("{scheme}://{}", String::from_utf8_lossy(host))
}

/// `scheme://host/original-uri?query`, as the client sent it.
///
/// # Safety
/// `r` must be a valid request.
pub unsafe fn full_url(r: *const ngx_http_request_t) -> String {
    // SAFETY: as the caller promises; `unparsed_uri` is part of the request.
    let (origin, uri) = unsafe { (origin(r), bytes(&(*r).unparsed_uri)) };
    format!("{origin}{}", String::from_utf8_lossy(uri))
}

/// An absolute URL for a configured URI that may be a path (then on the request's origin).
///
/// # Safety
/// `r` must be a valid request.
pub unsafe fn absolute(r: *const ngx_http_request_t, uri: &str) -> String {
    if sso_core::decide::is_absolute_url(uri) {
        uri.to_owned()
    } else {
        // SAFETY: as the caller promises.
        format!("{}{uri}", unsafe { origin(r) })
    }
}

/// The query string (`$args`), empty when it is not UTF-8.
///
/// # Safety
/// `r` must be a valid request.
pub unsafe fn query<'a>(r: *const ngx_http_request_t) -> &'a str {
    // SAFETY: `args` is part of the request.
    std::str::from_utf8(unsafe { bytes(&(*r).args) }).unwrap_or("")
}

/// `Cache-Control: no-store` on a response that depends on the request's credentials, so no
/// shared cache keeps a login redirect or a refusal for another user. nginx keeps headers set
/// on `headers_out` for the error page it then sends.
///
/// # Safety
/// `r` must be a valid request.
pub unsafe fn no_store(r: *mut ngx_http_request_t) -> bool {
    // SAFETY: as the caller promises.
    unsafe { headers::add_out(r, b"Cache-Control", b"no-store") }.is_some()
}

/// 302 to `location`, never cached; 500 when the pool is out of memory.
///
/// # Safety
/// `r` must be a valid request.
pub unsafe fn redirect(r: *mut ngx_http_request_t, location: &str) -> ngx_int_t {
    // SAFETY: as the caller promises; `headers_out.location` points into its header list.
    unsafe {
        let Some(h) = headers::add_out(r, b"Location", location.as_bytes()) else {
            return NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;
        };
        (*r).headers_out.location = h;
        if !no_store(r) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;
        }
    }
    NGX_HTTP_MOVED_TEMPORARILY as ngx_int_t
}

/// Sends a complete HTML page, never cached; returns what to finalize the request with.
///
/// # Safety
/// `r` must be a valid request whose header has not been sent.
pub unsafe fn send_page(r: *mut ngx_http_request_t, status: u16, html: &str) -> ngx_int_t {
    // SAFETY: as the caller promises.
    unsafe { send_body(r, status, b"text/html; charset=utf-8", html) }
}

/// [`send_page`] with another content type (`ct`, static).
///
/// # Safety
/// As [`send_page`].
pub unsafe fn send_body(
    r: *mut ngx_http_request_t,
    status: u16,
    ct: &'static [u8],
    html: &str,
) -> ngx_int_t {
    // SAFETY: as the caller promises; the buffer and its data come from the request pool and
    // live as long as the request.
    unsafe {
        (*r).headers_out.status = status as usize;
        (*r).headers_out.content_length_n = html.len() as _;
        (*r).headers_out.content_type.len = ct.len();
        (*r).headers_out.content_type.data = ct.as_ptr() as *mut u8;
        (*r).headers_out.content_type_len = ct.len();
        headers::add_out(r, b"Cache-Control", b"no-store");
        let rc = ngx_http_send_header(r);
        if rc == Status::NGX_ERROR.0 || rc > Status::NGX_OK.0 || (*r).header_only() != 0 {
            return rc;
        }
        let b = ngx_pcalloc((*r).pool, std::mem::size_of::<ngx_buf_t>()) as *mut ngx_buf_t;
        let data = ngx_pnalloc((*r).pool, html.len().max(1)) as *mut u8;
        if b.is_null() || data.is_null() {
            return Status::NGX_ERROR.into();
        }
        std::ptr::copy_nonoverlapping(html.as_ptr(), data, html.len());
        (*b).pos = data;
        (*b).last = data.add(html.len());
        // An empty body is only the last-buffer mark (a zero-size memory buffer is an error).
        (*b).set_memory(if html.is_empty() { 0 } else { 1 });
        (*b).set_last_buf(if (*r).main == r { 1 } else { 0 });
        (*b).set_last_in_chain(1);
        let mut out = ngx_chain_t {
            buf: b,
            next: std::ptr::null_mut(),
        };
        ngx_http_output_filter(r, &mut out)
    }
}

/// A page sent from a phase handler: finalize it here and tell the phase engine we did.
///
/// # Safety
/// `r` must be a valid request in a phase handler, whose header has not been sent.
pub unsafe fn page_now(r: *mut ngx_http_request_t, status: u16, html: &str) -> ngx_int_t {
    // SAFETY: as the caller promises.
    unsafe {
        let rc = send_page(r, status, html);
        ngx_http_finalize_request(r, rc);
    }
    Status::NGX_DONE.into()
}

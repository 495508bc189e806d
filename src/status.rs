//! `sso_status;` (README "Observability"): the content handler that answers with the
//! module's counters, summed over every worker through the shared zone, as Prometheus text
//! (exposition format 0.0.4), or as JSON when the client's `Accept` names
//! `application/json`. It is not gated by `sso_protect`: guard the location with
//! `allow`/`deny` like nginx's own `stub_status`.

use ngx::core::Status;
use ngx::ffi::{
    ngx_http_discard_request_body, ngx_http_request_t, ngx_int_t, NGX_HTTP_GET, NGX_HTTP_HEAD,
    NGX_HTTP_INTERNAL_SERVER_ERROR,
};
use sso_core::metrics::{self, ProviderStatus};
use sso_core::revocations::Revocations;

use crate::headers;
use crate::net::fetcher;
use crate::request::send_body;
use crate::state::{self, counters};

const JSON: &[u8] = b"application/json";

/// The content handler of a location with `sso_status`.
///
/// # Safety
/// For nginx's content phase: `r` must be a valid request, on nginx's thread.
pub unsafe extern "C" fn handler(r: *mut ngx_http_request_t) -> ngx_int_t {
    // SAFETY: nginx passes a valid request.
    let log = unsafe { (*(*r).connection).log };
    crate::guard::catch(
        log,
        "status handler",
        NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t,
        || {
            // SAFETY: nginx hands content handlers a valid request.
            unsafe { serve(r) }
        },
    )
}

unsafe fn serve(r: *mut ngx_http_request_t) -> ngx_int_t {
    // SAFETY: every caller passes a valid request, on nginx's thread.
    unsafe {
        if (*r).method & (NGX_HTTP_GET | NGX_HTTP_HEAD) as usize == 0 {
            return ngx::ffi::NGX_HTTP_NOT_ALLOWED as ngx_int_t;
        }
        let rc = ngx_http_discard_request_body(r);
        if rc != Status::NGX_OK.0 {
            return rc;
        }
        // This worker's caches are exact now; the others' within a second.
        counters::publish(false);
        let (Some(table), Some(root)) = (counters::table(), state::root()) else {
            return send_body(
                r,
                503,
                b"text/plain; charset=utf-8",
                "the shared zone is not available\n",
            );
        };
        // SAFETY: the root's revocation region, only ever viewed as words.
        let revocations = Revocations::attach(state::revocations::words(root.revocations))
            .map_or(0, |t| t.len() as u64);
        let status = metrics::Status {
            counts: table.read(),
            revocations,
            providers: fetcher::started()
                .iter()
                .map(|p| provider_status(p))
                .collect(),
        };
        if headers::add_out(r, b"Vary", b"Accept").is_none() {
            return NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;
        }
        if metrics::wants_json(headers::find_in(r, b"accept")) {
            send_body(r, 200, JSON, &status.json())
        } else {
            send_body(
                r,
                200,
                metrics::PROMETHEUS_CONTENT_TYPE.as_bytes(),
                &status.prometheus(),
            )
        }
    }
}

/// A provider as this worker's fetcher sees it.
fn provider_status(p: &fetcher::Provider) -> ProviderStatus {
    let snap = p.snapshot();
    ProviderStatus {
        provider: p.config().issuer.clone(),
        discovery_age: snap.discovery_at.map(|t| t.elapsed().as_secs()),
        jwks_age: snap
            .keys
            .as_ref()
            .and(snap.fetched_at)
            .map(|t| t.elapsed().as_secs()),
        last_error: snap.last_error.as_deref().map(str::to_owned),
    }
}

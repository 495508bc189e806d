//! The module's own endpoints under `sso_outpost_prefix` (SPEC §5): `ping` now; `start`,
//! `callback` and `sign_out` arrive with the login flow.

use ngx::ffi::{ngx_http_request_t, ngx_int_t, NGX_HTTP_NOT_FOUND, NGX_HTTP_NO_CONTENT};

use crate::conf::LocConf;

/// Serves `<prefix><endpoint>`; `endpoint` starts with `/`.
///
/// # Safety
/// `r` must be a valid main request.
pub unsafe fn serve(_r: *mut ngx_http_request_t, _conf: &LocConf, endpoint: &[u8]) -> ngx_int_t {
    match endpoint {
        // 204, no body, no authentication: a health check for load balancers and docker.
        b"/ping" => NGX_HTTP_NO_CONTENT as ngx_int_t,
        _ => NGX_HTTP_NOT_FOUND as ngx_int_t,
    }
}

//! The panic boundary: no Rust panic may unwind into nginx (it would abort the worker).
//!
//! Every `extern "C"` entry point runs its body through one of these functions: a panic is
//! caught, logged at `alert` level, and turned into a fail-closed answer (500 for a request,
//! `NGX_CONF_ERROR` for a directive, `NGX_ERROR` elsewhere).

use std::panic::{catch_unwind, AssertUnwindSafe};

use ngx::ffi::{ngx_log_t, NGX_LOG_ALERT};
use ngx::ngx_log_error;

/// Runs `f`, returning `on_panic` (after logging) when it panics.
pub fn catch<T>(log: *mut ngx_log_t, what: &str, on_panic: T, f: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => v,
        Err(payload) => {
            let msg = payload
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
                .unwrap_or("unknown panic");
            if !log.is_null() {
                ngx_log_error!(
                    NGX_LOG_ALERT,
                    log,
                    "sso: internal error in {what}: \"{}\", failing closed",
                    msg
                );
            }
            on_panic
        }
    }
}

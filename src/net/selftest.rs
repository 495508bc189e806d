//! Test-only hooks for the background machinery (cargo feature `selftest`; never built by
//! default, never in a release package).
//!
//! Configured through the environment of the nginx master at configuration time:
//! `SSO_SELFTEST_ISSUER` (registers a provider for the key fetcher), optionally
//! `SSO_SELFTEST_BACKCHANNEL` and `SSO_SELFTEST_CA`. Serves, in PREACCESS, under
//! `/_sso_selftest/`:
//! - `keys`: the provider snapshot (generation, key count, discovery issuer, last error);
//! - `refetch`: [`Provider::request_refetch`]'s answer;
//! - `slow?ms=N[&url=U]`: suspends the request while a pool thread sleeps N ms (and GETs
//!   `U`, a plain absolute URL), then answers: the callback's pattern;
//! - `abandon`: starts a job tied to the request's pool and answers at once (the request is
//!   freed while the job runs); `abandoned_done_calls` counts `done`s that ran anyway (must
//!   stay 0);
//! - `fast`: answers at once; `pending`: the number of pending jobs.

use std::sync::Arc;

use parking_lot::Mutex;
use std::time::Duration;

use ngx::ffi::{
    ngx_array_push, ngx_buf_t, ngx_chain_t, ngx_conf_t, ngx_create_temp_buf,
    ngx_http_core_main_conf_t, ngx_http_finalize_request, ngx_http_handler_pt,
    ngx_http_output_filter, ngx_http_phases_NGX_HTTP_PREACCESS_PHASE, ngx_http_request_t,
    ngx_http_send_header, ngx_int_t, NGX_DECLINED, NGX_DONE, NGX_ERROR,
    NGX_HTTP_INTERNAL_SERVER_ERROR, NGX_HTTP_NOT_FOUND, NGX_LOG_EMERG, NGX_LOG_WARN, NGX_OK,
};
use ngx::ngx_conf_log_error;
use sso_core::flow::parse_backchannel_origin;
use sso_core::http_client::Trust;

use crate::guard;
use crate::headers::bytes;
use crate::net::fetcher::{self, Provider, ProviderConfig};
use crate::net::{resume, wake};

static ABANDONED_DONE_CALLS: std::sync::atomic::AtomicUsize =
    std::sync::atomic::AtomicUsize::new(0);

static PROVIDER: Mutex<Option<Arc<Provider>>> = Mutex::new(None);

fn provider() -> Option<Arc<Provider>> {
    PROVIDER.lock().clone()
}

/// From `postconfiguration`.
///
/// # Safety
/// Valid `cf` and `cmcf` during http{} configuration.
pub unsafe fn postconfiguration(
    cf: *mut ngx_conf_t,
    cmcf: &mut ngx_http_core_main_conf_t,
) -> ngx_int_t {
    // SAFETY: the caller guarantees what the `# Safety` section above asks.
    unsafe {
        if let Ok(issuer) = std::env::var("SSO_SELFTEST_ISSUER") {
            let backchannel = match std::env::var("SSO_SELFTEST_BACKCHANNEL") {
                Ok(s) => match parse_backchannel_origin(&s) {
                    Ok(o) => Some(o),
                    Err(e) => {
                        ngx_conf_log_error!(NGX_LOG_EMERG, cf, "SSO_SELFTEST_BACKCHANNEL: {}", e);
                        return NGX_ERROR as ngx_int_t;
                    }
                },
                Err(_) => None,
            };
            let trust = match std::env::var("SSO_SELFTEST_CA") {
                Ok(path) => Trust::CaFile(path.into()),
                Err(_) => Trust::System,
            };
            let config = ProviderConfig {
                issuer,
                backchannel,
                trust,
            };
            if let Some(w) = config.plain_http_warning() {
                ngx_conf_log_error!(NGX_LOG_WARN, cf, "{}", w);
            }
            let p = fetcher::register((*cf).cycle, config);
            *PROVIDER.lock() = Some(p);
        }
        let pre = &mut cmcf.phases[ngx_http_phases_NGX_HTTP_PREACCESS_PHASE as usize].handlers;
        let h = ngx_array_push(pre) as *mut ngx_http_handler_pt;
        if h.is_null() {
            return NGX_ERROR as ngx_int_t;
        }
        *h = Some(handler);
        NGX_OK as ngx_int_t
    }
}

unsafe extern "C" fn handler(r: *mut ngx_http_request_t) -> ngx_int_t {
    // SAFETY: nginx passes a valid request.
    let log = unsafe { (*(*r).connection).log };
    guard::catch(
        log,
        "selftest handler",
        NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t,
        || {
            // SAFETY: nginx hands phase handlers a valid request.
            unsafe { handle(r) }
        },
    )
}

fn arg<'a>(args: &'a str, name: &str) -> Option<&'a str> {
    args.split('&')
        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
}

unsafe fn handle(r: *mut ngx_http_request_t) -> ngx_int_t {
    // SAFETY (every unsafe block below): the handler passes a valid request.
    if unsafe { (*r).main } != r {
        return NGX_DECLINED as ngx_int_t;
    }
    let Some(rest) = unsafe { bytes(&(*r).uri) }.strip_prefix(b"/_sso_selftest/") else {
        return NGX_DECLINED as ngx_int_t;
    };
    let args = String::from_utf8_lossy(unsafe { bytes(&(*r).args) }).into_owned();
    let text = match rest {
        b"fast" => "fast\n".to_owned(),
        b"pending" => format!("{}\n", wake::pending_jobs()),
        b"keys" => match provider() {
            None => "no provider\n".to_owned(),
            Some(p) => {
                let s = p.snapshot();
                format!(
                    "generation={} keys={} discovery={} error={}\n",
                    s.generation,
                    s.keys.as_ref().map_or(-1, |k| k.len() as i64),
                    s.discovery.as_ref().map_or("-", |d| d.issuer.as_str()),
                    s.last_error.as_deref().unwrap_or("-"),
                )
            }
        },
        b"abandon" => {
            // The request ends at once while its job runs: the pool cleanup must cancel the
            // job so that `done` never runs.
            let done = |_: Result<(), wake::JobPanicked>| {
                ABANDONED_DONE_CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            };
            let work = || std::thread::sleep(Duration::from_millis(500));
            match unsafe { resume::spawn_tied_to_pool((*r).pool, work, done) } {
                Ok(_) => "abandoned\n".to_owned(),
                Err(e) => format!("{e}\n"),
            }
        }
        b"abandoned_done_calls" => format!(
            "{}\n",
            ABANDONED_DONE_CALLS.load(std::sync::atomic::Ordering::Relaxed)
        ),
        b"refetch" => match provider() {
            None => "no provider\n".to_owned(),
            Some(p) => format!("{:?}\n", p.request_refetch()),
        },
        b"slow" => {
            let ms: u64 = arg(&args, "ms")
                .and_then(|v| v.parse().ok())
                .unwrap_or(2000);
            let url = arg(&args, "url").map(str::to_owned);
            let p = provider();
            let work = move || {
                std::thread::sleep(Duration::from_millis(ms));
                match (url, p) {
                    (Some(url), Some(p)) => match p.http_client() {
                        Ok(c) => match c.get(&url, None) {
                            Ok(resp) => format!("status {}", resp.status),
                            Err(e) => e.to_string(),
                        },
                        Err(e) => e.to_string(),
                    },
                    _ => "no fetch".to_owned(),
                }
            };
            let respond = move |r: *mut ngx_http_request_t,
                                res: Result<String, wake::JobPanicked>| {
                let text = match res {
                    Ok(s) => format!("slept {ms} ms: {s}\n"),
                    Err(e) => format!("{e}\n"),
                };
                // SAFETY: spawn_for_request calls this on the event loop with a live request.
                unsafe { send_text(r, 200, &text) }
            };
            return match unsafe { resume::spawn_for_request(r, work, respond) } {
                Ok(_) => NGX_DONE as ngx_int_t,
                Err(e) => unsafe { finish(r, send_text(r, 503, &format!("{e}\n"))) },
            };
        }
        _ => return NGX_HTTP_NOT_FOUND as ngx_int_t,
    };
    unsafe { finish(r, send_text(r, 200, &text)) }
}

unsafe fn finish(r: *mut ngx_http_request_t, rc: ngx_int_t) -> ngx_int_t {
    // SAFETY: every caller passes a valid request, on nginx's thread.
    unsafe {
        ngx_http_finalize_request(r, rc);
        NGX_DONE as ngx_int_t
    }
}

unsafe fn send_text(r: *mut ngx_http_request_t, status: usize, text: &str) -> ngx_int_t {
    // SAFETY: every caller passes a valid request, on nginx's thread.
    unsafe {
        static TEXT_PLAIN: &[u8] = b"text/plain";
        (*r).headers_out.status = status;
        (*r).headers_out.content_length_n = text.len() as _;
        (*r).headers_out.content_type.len = TEXT_PLAIN.len();
        (*r).headers_out.content_type.data = TEXT_PLAIN.as_ptr() as *mut u8;
        (*r).headers_out.content_type_len = TEXT_PLAIN.len();
        let rc = ngx_http_send_header(r);
        if rc == NGX_ERROR as ngx_int_t || rc > NGX_OK as ngx_int_t || (*r).header_only() != 0 {
            return rc;
        }
        let b: *mut ngx_buf_t = ngx_create_temp_buf((*r).pool, text.len().max(1));
        if b.is_null() {
            return NGX_ERROR as ngx_int_t;
        }
        std::ptr::copy_nonoverlapping(text.as_ptr(), (*b).last, text.len());
        (*b).last = (*b).last.add(text.len());
        (*b).set_last_buf(1);
        (*b).set_last_in_chain(1);
        let mut out = ngx_chain_t {
            buf: b,
            next: std::ptr::null_mut(),
        };
        ngx_http_output_filter(r, &mut out)
    }
}

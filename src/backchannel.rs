//! `<prefix>/backchannel_logout` (README "Endpoints"): OpenID Connect Back-Channel Logout
//! 1.0. The provider POSTs `logout_token=<JWT>`; the module reads the body the nginx way
//! (`ngx_http_read_client_request_body`, asynchronously, at most
//! [`sso_core::logout::MAX_FORM_LEN`] bytes), verifies the token on a background thread
//! with the provider's keys chosen as for ID tokens (an unknown `kid` waits for a
//! re-fetch, as the login callback does), then on the event loop accepts its `jti` once
//! (the shared zone's logout-id table) and revokes what it names (`state::revocations`).
//!
//! Unauthenticated by nature: the signed token is the credential. Every answer carries
//! `Cache-Control: no-store`: `200` (empty) when the sessions are revoked, `400` with an
//! RFC 6749-style JSON error otherwise (`405` for another method than POST).

use std::sync::Arc;
use std::time::Duration;

use ngx::core::Status;
use ngx::ffi::{
    ngx_http_discard_request_body, ngx_http_finalize_request, ngx_http_read_client_request_body,
    ngx_http_request_t, ngx_int_t, NGX_HTTP_POST, NGX_HTTP_SPECIAL_RESPONSE, NGX_LOG_ERR,
    NGX_LOG_INFO,
};
use ngx::ngx_log_error;
use sso_core::logout::{
    logout_token_from_form, LogoutError, LogoutToken, LogoutVerifier, Target, MAX_FORM_LEN,
};
use sso_core::metrics::Event;

use crate::conf::{loc_conf, LocConf, TokenContext};
use crate::guard;
use crate::headers;
use crate::net::code_exchange;
use crate::net::fetcher::{Provider, Snapshot};
use crate::net::{resume, wake};
use crate::request::{now, send_body};
use crate::state::counters::count;
use crate::state::flows::Consume;
use crate::state::revocations;

/// How long a token naming an unknown `kid` waits for a JWKS re-fetch.
const REFETCH_WAIT: Duration = Duration::from_secs(5);
const JSON: &[u8] = b"application/json";

/// An RFC 6749-style JSON error body.
fn json_error(error: &str, description: &str) -> String {
    serde_json::json!({ "error": error, "error_description": description }).to_string()
}

/// Sends `status` with `body` (JSON) and `Cache-Control: no-store` (added by `send_body`),
/// and counts it (a `400` is counted with its reason by its caller).
unsafe fn answer(r: *mut ngx_http_request_t, status: u16, body: &str) -> ngx_int_t {
    match status {
        200 => count(Event::LogoutAccepted),
        400 => {}
        405 => count(Event::LogoutRefused("method_not_allowed")),
        _ => count(Event::LogoutRefused("server_error")),
    }
    // SAFETY: every caller passes a valid request whose header was not sent.
    unsafe { send_body(r, status, JSON, body) }
}

/// A refusal: logged at info, `400` with the error's JSON body.
unsafe fn refuse(r: *mut ngx_http_request_t, err: &LogoutError) -> ngx_int_t {
    // SAFETY: every caller passes a valid request whose header was not sent.
    unsafe {
        ngx_log_error!(
            NGX_LOG_INFO,
            (*(*r).connection).log,
            "sso: back-channel logout refused, reason: \"{}\": {}",
            err.reason(),
            err.description()
        );
        count(Event::LogoutRefused(err.reason()));
        answer(r, 400, &err.json_body())
    }
}

/// Serves the endpoint from PREACCESS (a main request). Returns what the phase engine
/// gets: `NGX_DONE` once the request is in our hands.
///
/// # Safety
/// `r` must be a valid main request, on nginx's thread.
pub unsafe fn serve(r: *mut ngx_http_request_t, conf: &LocConf) -> ngx_int_t {
    // SAFETY: the caller guarantees what the `# Safety` section above asks.
    unsafe {
        let early = |r: *mut ngx_http_request_t, status: u16, body: String| {
            let rc = ngx_http_discard_request_body(r);
            if rc != Status::NGX_OK.0 {
                (*r).set_keepalive(0);
            }
            let rc = answer(r, status, &body);
            ngx_http_finalize_request(r, rc);
            Status::NGX_DONE.into()
        };
        if (*r).method != NGX_HTTP_POST as usize {
            headers::add_out(r, b"Allow", b"POST");
            return early(
                r,
                405,
                json_error(
                    "invalid_request",
                    "the back-channel logout endpoint takes POST",
                ),
            );
        }
        if conf.provider.is_none() || conf.client_id.is_none() {
            ngx_log_error!(
                NGX_LOG_ERR,
                (*(*r).connection).log,
                "sso: back-channel logout is not configured: set sso_issuer and sso_client_id"
            );
            return early(
                r,
                500,
                json_error("server_error", "back-channel logout is not configured here"),
            );
        }
        let declared = (*r).headers_in.content_length_n;
        if declared > MAX_FORM_LEN as i64 {
            (*r).set_keepalive(0);
            let err = LogoutError::FormTooLarge {
                len: declared as usize,
            };
            let rc = ngx_http_discard_request_body(r);
            let _ = rc;
            let rc = refuse(r, &err);
            ngx_http_finalize_request(r, rc);
            return Status::NGX_DONE.into();
        }
        let rc = ngx_http_read_client_request_body(r, Some(body_read));
        if rc >= NGX_HTTP_SPECIAL_RESPONSE as ngx_int_t {
            return rc;
        }
        // The reference read_client_request_body took is ours to drop; `body_read`
        // finalizes the request with its answer.
        ngx_http_finalize_request(r, Status::NGX_DONE.into());
        Status::NGX_DONE.into()
    }
}

/// The body, in memory or (past `client_body_buffer_size`) in nginx's temporary file.
unsafe fn body_bytes(r: *mut ngx_http_request_t) -> Result<Vec<u8>, LogoutError> {
    // SAFETY: every caller passes a request whose body was read.
    unsafe {
        let mut out = Vec::new();
        let rb = (*r).request_body;
        if rb.is_null() {
            return Ok(out);
        }
        let mut cl = (*rb).bufs;
        while !cl.is_null() {
            let b = (*cl).buf;
            if !b.is_null() {
                if (*b).temporary() != 0 || (*b).memory() != 0 || (*b).mmap() != 0 {
                    let len = (*b).last.offset_from((*b).pos).max(0) as usize;
                    if out.len() + len > MAX_FORM_LEN {
                        return Err(LogoutError::FormTooLarge {
                            len: out.len() + len,
                        });
                    }
                    out.extend_from_slice(std::slice::from_raw_parts((*b).pos, len));
                } else if (*b).in_file() != 0 && !(*b).file.is_null() {
                    let len = ((*b).file_last - (*b).file_pos).max(0) as usize;
                    if out.len() + len > MAX_FORM_LEN {
                        return Err(LogoutError::FormTooLarge {
                            len: out.len() + len,
                        });
                    }
                    let start = out.len();
                    out.resize(start + len, 0);
                    let n = libc::pread(
                        (*(*b).file).fd,
                        out[start..].as_mut_ptr().cast(),
                        len,
                        (*b).file_pos as libc::off_t,
                    );
                    if n != len as isize {
                        return Err(LogoutError::FormMalformed);
                    }
                }
            }
            cl = (*cl).next;
        }
        Ok(out)
    }
}

/// The body is read: parse the form and verify the token in the background.
unsafe extern "C" fn body_read(r: *mut ngx_http_request_t) {
    // SAFETY: nginx passes a valid request.
    let log = unsafe { (*(*r).connection).log };
    guard::catch(log, "back-channel logout", (), || {
        // SAFETY: nginx calls the post handler with the live request, on its thread.
        unsafe {
            if let Some(rc) = start_verification(r) {
                ngx_http_finalize_request(r, rc);
            }
        }
    })
}

/// None when the job was started (it answers); else the answer's code.
unsafe fn start_verification(r: *mut ngx_http_request_t) -> Option<ngx_int_t> {
    // SAFETY: every caller passes a live main request, on nginx's thread.
    unsafe {
        let Some(conf) = loc_conf(r) else {
            return Some(answer(
                r,
                500,
                &json_error("server_error", "no configuration"),
            ));
        };
        let token = match body_bytes(r).and_then(|b| logout_token_from_form(&b)) {
            Ok(t) => t,
            Err(err) => return Some(refuse(r, &err)),
        };
        let (Some(provider), Some(issuer)) = (conf.provider.clone(), conf.issuer.clone()) else {
            return Some(answer(
                r,
                500,
                &json_error("server_error", "not configured"),
            ));
        };
        let job = Verify {
            provider,
            tokens: conf.tokens.clone(),
            verifier: LogoutVerifier::new(&issuer, conf.client_id(), conf.leeway()),
            token,
        };
        match resume::spawn_for_request(r, move || job.run(), |r, result| finish(r, result)) {
            Ok(_) => None,
            Err(err) => {
                ngx_log_error!(
                    NGX_LOG_ERR,
                    (*(*r).connection).log,
                    "sso: back-channel logout not verified: {}",
                    err
                );
                headers::add_out(r, b"Retry-After", b"5");
                Some(answer(
                    r,
                    503,
                    &json_error("temporarily_unavailable", "too busy, retry later"),
                ))
            }
        }
    }
}

/// The verification, moved onto a background thread (no nginx type in here).
struct Verify {
    provider: Arc<Provider>,
    tokens: Option<Arc<TokenContext>>,
    verifier: LogoutVerifier,
    token: String,
}

impl Verify {
    /// The key sets ID tokens are verified with (README "Which keys verify a token").
    fn verify_with(&self, snap: &Snapshot) -> Result<LogoutToken, LogoutError> {
        let sets = code_exchange::id_token_keys(snap, self.tokens.as_deref());
        self.verifier.verify(sets, &self.token, now())
    }

    fn run(self) -> Result<LogoutToken, LogoutError> {
        let result = self.verify_with(&self.provider.snapshot());
        match &result {
            Err(e) if e.is_unknown_kid() || *e == LogoutError::Token(NO_KEYS) => {
                self.verify_with(&self.provider.refetch_and_wait(REFETCH_WAIT))
            }
            _ => result,
        }
    }
}

const NO_KEYS: sso_core::jwt::TokenError = sso_core::jwt::TokenError::NoKeys;

/// On the event loop again: the token's `jti` once, then the revocation.
unsafe fn finish(
    r: *mut ngx_http_request_t,
    result: Result<Result<LogoutToken, LogoutError>, wake::JobPanicked>,
) -> ngx_int_t {
    // SAFETY: every caller passes the live request, on nginx's thread.
    unsafe {
        let log = (*(*r).connection).log;
        let internal = |r| answer(r, 500, &json_error("server_error", "internal error"));
        let Some(conf) = loc_conf(r) else {
            return internal(r);
        };
        let token = match result {
            Ok(Ok(t)) => t,
            Ok(Err(err)) => return refuse(r, &err),
            Err(_) => return internal(r),
        };
        let issuer = conf.issuer.as_deref().unwrap_or("");
        match revocations::consume_logout_jti(
            &token.replay_id(issuer),
            token.replay_until(conf.leeway()),
        ) {
            Consume::Fresh => {}
            Consume::Used => {
                ngx_log_error!(
                    NGX_LOG_INFO,
                    log,
                    "sso: back-channel logout refused, reason: \"replayed\": jti \"{}\" was used before",
                    token.jti.escape_debug()
                );
                count(Event::LogoutRefused("replayed"));
                return answer(
                    r,
                    400,
                    &json_error("invalid_request", "the logout token was used before (jti)"),
                );
            }
            Consume::Unavailable => {
                ngx_log_error!(
                    NGX_LOG_ERR,
                    log,
                    "sso: back-channel logout refused: the shared zone \"{}\" is not available",
                    crate::state::zone_name()
                );
                return internal(r);
            }
        }
        let revocation = token.revocation(issuer, conf.session_lifetime(), now());
        if !revocations::revoke(log, revocation) {
            return internal(r);
        }
        match &token.target {
            Target::Session { sid, .. } => {
                ngx_log_error!(
                    NGX_LOG_INFO,
                    log,
                    "sso: back-channel logout: provider session \"{}\" revoked",
                    sid.escape_debug()
                );
            }
            Target::Subject {
                sub,
                issued_through,
            } => {
                ngx_log_error!(
                    NGX_LOG_INFO,
                    log,
                    "sso: back-channel logout: every session of \"{}\" issued through {} revoked",
                    sub.escape_debug(),
                    issued_through
                );
            }
        }
        answer(r, 200, "")
    }
}

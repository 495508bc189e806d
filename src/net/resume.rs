//! Requests that wait for a background job ([`super::wake`]): a job tied to a pool (cancelled
//! when the pool goes), a request suspended until its job answers it
//! ([`spawn_for_request`], the login callback and the back-channel logout), and a request
//! suspended inside a phase handler and resumed there ([`spawn_and_resume`], a session's
//! refresh). While a request waits, its read handler watches the client
//! ([`read_while_waiting`]): a closed connection ends the request, and with it the job.

use std::cell::Cell;
use std::ffi::c_void;
use std::rc::Rc;

use ngx::ffi::{
    ngx_cycle, ngx_http_block_reading, ngx_http_core_run_phases,
    ngx_http_discarded_request_body_handler, ngx_http_finalize_request,
    ngx_http_request_empty_handler, ngx_http_request_t, ngx_http_run_posted_requests,
    ngx_http_test_reading, ngx_int_t, ngx_pool_cleanup_add, ngx_pool_t,
    NGX_HTTP_INTERNAL_SERVER_ERROR,
};

use super::wake::{cancel, spawn, JobId, JobPanicked, SpawnError};
use crate::guard;

/// [`spawn`], cancelled automatically when `pool` is destroyed (a request's pool: the request
/// was freed, so `done` must not touch it).
///
/// # Safety
/// `pool` must be a valid nginx pool; on the event-loop thread.
pub unsafe fn spawn_tied_to_pool<T, W, D>(
    pool: *mut ngx_pool_t,
    work: W,
    done: D,
) -> Result<JobId, SpawnError>
where
    T: Send + 'static,
    W: FnOnce() -> T + Send + 'static,
    D: FnOnce(Result<T, JobPanicked>) + 'static,
{
    // SAFETY: the caller guarantees what the `# Safety` section above asks.
    unsafe {
        // Allocate the cleanup first: if it fails, nothing was started.
        let cln = ngx_pool_cleanup_add(pool, std::mem::size_of::<u64>());
        if cln.is_null() {
            return Err(SpawnError::Thread);
        }
        (*cln).handler = None;
        let id = spawn(work, done)?;
        *((*cln).data as *mut u64) = id.0;
        (*cln).handler = Some(cancel_on_cleanup);
        Ok(id)
    }
}

unsafe extern "C" fn cancel_on_cleanup(data: *mut c_void) {
    // SAFETY: pool cleanups run on nginx's thread, where `ngx_cycle` is valid.
    let log = unsafe { (*ngx_cycle).log };
    guard::catch(log, "background job cleanup", (), || {
        // SAFETY: data is the u64 stored by spawn_tied_to_pool.
        let id = unsafe { *(data as *const u64) };
        cancel(JobId(id));
    })
}

/// Suspends request `r` while `work` runs in the background, then resumes it on the event
/// loop: `respond(r, result)` produces the response and returns the code to finalize with
/// (e.g. `NGX_HTTP_MOVED_TEMPORARILY` after setting `Location`, or the result of
/// `ngx_http_output_filter`). If the request is freed first (client gone, shutdown), the job
/// is cancelled and `respond` is never called.
///
/// Use from a phase handler (PREACCESS/ACCESS/content) on the *main* request; on `Ok` the
/// handler must return `NGX_DONE` and not touch `r` again. On `Err` nothing was started: the
/// handler answers itself (e.g. 503). What this does: `r->main->count++` (the request stays
/// alive however the phase engine goes on), a pool cleanup that cancels the job; on
/// completion `r->main->count--`, `ngx_http_finalize_request(r, respond(...))` (500 if
/// `respond` panics) and `ngx_http_run_posted_requests`.
///
/// While the job runs, nothing re-enters the phase handlers (the write handler does nothing)
/// and the read handler watches the client: when it closes the connection
/// (`ngx_http_test_reading`, as nginx does for proxied requests) the request is finalized
/// with 499, its pool goes, and with it the job (cancelled, or never run when still queued).
/// A request body being discarded (`ngx_http_discard_request_body` before this call, as the
/// endpoints do) goes on being read and dropped meanwhile; the watch resumes when it is done.
///
/// # Safety
/// `r` must be a valid main request; on the event-loop thread.
pub unsafe fn spawn_for_request<T, W, R>(
    r: *mut ngx_http_request_t,
    work: W,
    respond: R,
) -> Result<JobId, SpawnError>
where
    T: Send + 'static,
    W: FnOnce() -> T + Send + 'static,
    R: FnOnce(*mut ngx_http_request_t, Result<T, JobPanicked>) -> ngx_int_t + 'static,
{
    let done = move |value: Result<T, JobPanicked>| {
        // SAFETY: not cancelled, so the request's pool (and the request) are alive; we are on
        // the event-loop thread.
        unsafe {
            let c = (*r).connection;
            release(r);
            let rc = guard::catch(
                (*c).log,
                "background job completion",
                NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t,
                || respond(r, value),
            );
            ngx_http_finalize_request(r, rc);
            ngx_http_run_posted_requests(c);
        }
    };
    // SAFETY: the caller passes a valid main request, on the event-loop thread.
    unsafe {
        let id = spawn_tied_to_pool((*r).pool, work, done)?;
        suspend(r);
        Ok(id)
    }
}

/// Suspends request `r` inside a phase handler while `work` runs, then resumes the phase
/// engine where it stopped (the same handler is called again): the way an access-phase
/// check waits for the provider (a session refresh) and then goes on deciding.
///
/// `done(alive, result)` runs on the event loop exactly once (unless the worker exits
/// first), **also when the request was freed meanwhile** (client gone): then `alive` is
/// None and `done` must not touch the request; it still gets the result (a refresh whose
/// outcome must be recorded whoever waits for it). With `Some(r)`, `done` prepares what the
/// handler will find when it runs again, then the phase engine resumes
/// (`ngx_http_core_run_phases`) and the posted requests run.
///
/// On `Ok` the phase handler returns `NGX_DONE` and does not touch `r` again; on `Err`
/// nothing was started. While waiting the request is held (`r->main->count++`) and watched
/// as in [`spawn_for_request`].
///
/// # Safety
/// `r` must be a valid main request inside a phase handler; on the event-loop thread.
pub unsafe fn spawn_and_resume<T, W, D>(
    r: *mut ngx_http_request_t,
    work: W,
    done: D,
) -> Result<JobId, SpawnError>
where
    T: Send + 'static,
    W: FnOnce() -> T + Send + 'static,
    D: FnOnce(Option<*mut ngx_http_request_t>, Result<T, JobPanicked>) + 'static,
{
    let alive = Rc::new(Cell::new(true));
    let watch = alive.clone();
    let finish = move |value: Result<T, JobPanicked>| {
        if !watch.get() {
            done(None, value);
            return;
        }
        // SAFETY: the pool (and so the request) is alive; on the event-loop thread.
        unsafe {
            let c = (*r).connection;
            release(r);
            (*r).read_event_handler = Some(ngx_http_block_reading);
            (*r).write_event_handler = Some(ngx_http_core_run_phases);
            let prepared = guard::catch((*c).log, "background job completion", false, || {
                done(Some(r), value);
                true
            });
            if prepared {
                ngx_http_core_run_phases(r);
            } else {
                ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t);
            }
            ngx_http_run_posted_requests(c);
        }
    };
    // SAFETY: the caller passes a valid main request, on the event-loop thread.
    unsafe {
        // The request's pool cleanup clears `alive` (the request is gone); the job goes on.
        let cln = ngx_pool_cleanup_add((*r).pool, std::mem::size_of::<*const Cell<bool>>());
        if cln.is_null() {
            return Err(SpawnError::Thread);
        }
        (*cln).handler = None;
        let id = spawn(work, finish)?;
        *((*cln).data as *mut *const Cell<bool>) = Rc::into_raw(alive);
        (*cln).handler = Some(clear_alive);
        suspend(r);
        Ok(id)
    }
}

/// Holds `r` while its job runs (`r->main->count++`, as nginx does for a request that
/// waits on something): no phase handler runs again meanwhile and the read handler watches
/// the client ([`read_while_waiting`]).
///
/// # Safety
/// `r` must be a valid request; on the event-loop thread.
unsafe fn suspend(r: *mut ngx_http_request_t) {
    // SAFETY: the caller guarantees what the `# Safety` section above asks.
    unsafe {
        let main = (*r).main;
        (*main).set_count((*main).count() + 1);
        (*r).write_event_handler = Some(ngx_http_request_empty_handler);
        (*r).read_event_handler = Some(read_while_waiting);
    }
}

/// Drops the hold [`suspend`] took, when the job is done (the caller then finalizes or
/// resumes the request).
///
/// # Safety
/// `r` must be the live request [`suspend`] held; on the event-loop thread.
unsafe fn release(r: *mut ngx_http_request_t) {
    // SAFETY: the caller guarantees what the `# Safety` section above asks.
    unsafe {
        let main = (*r).main;
        (*main).set_count((*main).count() - 1);
    }
}

unsafe extern "C" fn clear_alive(data: *mut c_void) {
    // SAFETY: pool cleanups run on nginx's thread, where `ngx_cycle` is valid.
    let log = unsafe { (*ngx_cycle).log };
    guard::catch(log, "background job cleanup", (), || {
        // SAFETY: data holds the Rc::into_raw of spawn_and_resume, taken back once here.
        let alive = unsafe { Rc::from_raw(*(data as *const *const Cell<bool>)) };
        alive.set(false);
    })
}

/// The read handler of a request waiting for its job: finishes discarding the body, then
/// watches for the client closing the connection.
unsafe extern "C" fn read_while_waiting(r: *mut ngx_http_request_t) {
    // SAFETY: nginx passes a valid request.
    let log = unsafe { (*(*r).connection).log };
    guard::catch(log, "client watch", (), || {
        // SAFETY: nginx calls read handlers with a live request on its thread.
        unsafe {
            if (*r).discard_body() != 0 {
                // Reads and drops what arrived; when the body is complete it resets the read
                // handler and drops its reference (ours keeps the request alive).
                ngx_http_discarded_request_body_handler(r);
                let c = (*r).connection;
                // Every way it ends the request sets `c->error` first (1.22 has no
                // `r->terminated` to look at).
                if (*c).error() != 0 || (*r).discard_body() != 0 {
                    return;
                }
                (*r).read_event_handler = Some(read_while_waiting);
            }
            ngx_http_test_reading(r);
        }
    })
}

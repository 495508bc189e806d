//! The status endpoint's counters in the shared zone (README "Observability"): the table is
//! `sso_core::metrics::Counters`, laid over the zone's counters region (zeroed memory is the
//! empty table), so every worker adds to the same counts and they survive `nginx -s reload`
//! with the zone.
//!
//! What is counted where:
//! - requests, in the LOG phase ([`log_handler`]), once per main request, with the final
//!   decision: the [`RequestCtx`] the access handler left (after an internal redirect,
//!   `error_page`, `try_files`, the last one stored for the request, see
//!   `context::last`). A subrequest is part of the request it serves and is not counted
//!   itself (nor is it logged by nginx, unless `log_subrequest on`). Requests the module
//!   did not decide (its endpoints, unprotected locations) are not counted here. The cost:
//!   a load of the request's context and one `Relaxed` `fetch_add` into this worker's own
//!   set of slots (no lock, no allocation, no string work for a request let through);
//! - logins, refreshes and back-channel logouts where they end ([`count`]);
//! - the caches' hits, misses and entries: each worker's caches count for themselves (on
//!   the request path, under the lock they take anyway); a timer publishes what changed
//!   every second ([`PUBLISH_MS`]), and the status endpoint publishes its own worker's
//!   before it reads.

use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};

use ngx::core::Status;
use ngx::ffi::{
    ngx_add_timer, ngx_del_timer, ngx_event_t, ngx_http_request_t, ngx_int_t, ngx_worker,
    NGX_HTTP_GET, NGX_HTTP_HEAD,
};
use sso_core::decide::RequestView;
use sso_core::metrics::{self, Counters, Event};

use crate::context;
use crate::headers;

/// Bytes of the counters region.
pub const REGION_LEN: usize = std::mem::size_of::<Counters>();
/// How often a worker publishes its caches' numbers, in ms.
pub const PUBLISH_MS: usize = 1000;

/// This process's table (set at `init_process`, from its zone).
static TABLE: AtomicPtr<Counters> = AtomicPtr::new(ptr::null_mut());

/// Zeroes a fresh region (the empty table); false when it is missing or misaligned.
///
/// # Safety
/// `ptr` is `len` bytes of the zone, or null.
pub unsafe fn format(ptr: *mut u8, len: usize) -> bool {
    if ptr.is_null() || len < REGION_LEN || (ptr as usize) % std::mem::align_of::<Counters>() != 0 {
        return false;
    }
    // SAFETY: the caller guarantees what the `# Safety` section above asks.
    unsafe { ptr::write_bytes(ptr, 0, len) };
    true
}

/// The table, when this process has a zone.
pub fn table() -> Option<&'static Counters> {
    // SAFETY: set from the zone's counters region, which stays mapped for the process's
    // life; all-zero bytes and every later state are a valid `Counters` (atomics only).
    unsafe { TABLE.load(Ordering::Relaxed).as_ref() }
}

/// Counts a login, refresh or back-channel logout outcome.
pub fn count(event: Event<'_>) {
    if let Some(t) = table() {
        t.event(event);
    }
}

/// The LOG phase handler (registered in `postconfiguration`).
///
/// # Safety
/// For nginx's phase engine: `r` must be a valid request, on nginx's thread.
pub unsafe extern "C" fn log_handler(r: *mut ngx_http_request_t) -> ngx_int_t {
    // SAFETY: nginx passes a valid request.
    let log = unsafe { (*(*r).connection).log };
    crate::guard::catch(log, "log handler", Status::NGX_OK.into(), || {
        // SAFETY: nginx hands phase handlers a valid request.
        unsafe { count_request(r) };
        Status::NGX_OK.into()
    })
}

unsafe fn count_request(r: *mut ngx_http_request_t) {
    // SAFETY: every caller passes a valid request, on nginx's thread.
    unsafe {
        if (*r).main != r {
            return;
        }
        let ctx = if (*r).internal() != 0 {
            context::last(r)
        } else {
            context::get(r)
        };
        let (Some(ctx), Some(table)) = (ctx, table()) else {
            return;
        };
        let slot = match ctx.method {
            Some(method) => metrics::allow_slot(method),
            // Refused or passed without credentials: the login redirect or the 401 follows
            // from the request as `decide` saw it.
            None => metrics::slot(ctx.reason, || {
                let view = RequestView {
                    safe_method: (*r).method & (NGX_HTTP_GET | NGX_HTTP_HEAD) as usize != 0,
                    accept: headers::find_in(r, b"accept"),
                    requested_with: headers::find_in(r, b"x-requested-with"),
                };
                view.is_navigation()
            }),
        };
        table.request(ngx_worker, slot);
    }
}

/// What this worker last published of its caches: (hits, misses, entries) per cache.
struct Published([(u64, u64, u64); metrics::CACHES.len()]);

static mut PUBLISHED: Published = Published([(0, 0, 0); metrics::CACHES.len()]);
static mut TIMER: Option<Box<ngx_event_t>> = None;

/// The caches' own numbers now, in [`metrics::CACHES`] order.
fn cache_numbers() -> [(u64, u64, u64); metrics::CACHES.len()] {
    let t = crate::bearer::cache().stats();
    let s = crate::session_cookie::cache().stats();
    [
        (t.hits, t.misses, t.entries as u64),
        (s.hits, s.misses, s.entries as u64),
    ]
}

/// Adds what changed in this worker's caches since the last call to the table; with
/// `leaving`, also takes this worker's entries out of the gauge (it exits).
///
/// # Safety
/// On nginx's thread (the only one touching `PUBLISHED`).
pub unsafe fn publish(leaving: bool) {
    let Some(table) = table() else {
        return;
    };
    let now = cache_numbers();
    // SAFETY: only nginx's thread of this process runs this.
    let published = unsafe { &mut *ptr::addr_of_mut!(PUBLISHED) };
    for ((c, new), old) in table.caches.iter().zip(now).zip(published.0.iter_mut()) {
        let entries = if leaving { 0 } else { new.2 };
        c.hits
            .fetch_add(new.0.wrapping_sub(old.0), Ordering::Relaxed);
        c.misses
            .fetch_add(new.1.wrapping_sub(old.1), Ordering::Relaxed);
        c.entries
            .fetch_add(entries.wrapping_sub(old.2), Ordering::Relaxed);
        *old = (new.0, new.1, entries);
    }
}

unsafe extern "C" fn on_timer(ev: *mut ngx_event_t) {
    // SAFETY: nginx passes our timer event.
    let log = unsafe { (*ev).log };
    crate::guard::catch(log, "counters timer", (), || {
        // SAFETY: on nginx's thread.
        unsafe {
            publish(false);
            if ngx::ffi::ngx_exiting == 0 && ngx::ffi::ngx_quit == 0 {
                ngx_add_timer(ev, PUBLISH_MS as _);
            }
        }
    })
}

/// Finds the table in this process's zone and starts the publishing timer (after
/// `state::init_process`).
///
/// # Safety
/// On nginx's thread, from `init_process`.
pub unsafe fn init_process(log: *mut ngx::ffi::ngx_log_t) {
    let Some(root) = super::root() else {
        return;
    };
    let region = root.counters;
    if region.ptr.is_null()
        || region.len < REGION_LEN
        || (region.ptr as usize) % std::mem::align_of::<Counters>() != 0
    {
        return;
    }
    TABLE.store(region.ptr.cast(), Ordering::Relaxed);
    // SAFETY: on nginx's thread; the event lives in a static until exit_process.
    unsafe {
        let mut ev: Box<ngx_event_t> = Box::new(std::mem::zeroed());
        ev.handler = Some(on_timer);
        ev.log = log;
        // A graceful shutdown does not wait for it.
        ev.set_cancelable(1);
        ngx_add_timer(&mut *ev, PUBLISH_MS as _);
        *ptr::addr_of_mut!(TIMER) = Some(ev);
    }
}

/// Publishes the last numbers, takes this worker's entries out, stops the timer.
///
/// # Safety
/// On nginx's thread, from `exit_process`.
pub unsafe fn exit_process() {
    // SAFETY: on nginx's thread.
    unsafe {
        publish(true);
        if let Some(ev) = (*ptr::addr_of_mut!(TIMER)).as_mut() {
            if ev.timer_set() != 0 {
                ngx_del_timer(&mut **ev);
            }
        }
        *ptr::addr_of_mut!(TIMER) = None;
    }
    TABLE.store(ptr::null_mut(), Ordering::Relaxed);
}

//! Revoked sessions across every worker (README "Session lifecycle"): the shared zone's
//! revocation table (`sso_core::revocations`), the used logout-token ids, and the state
//! file of `sso_shared_zone ... state=FILE`.
//!
//! The request path asks [`check`]: no lock, no allocation, two index lookups (the table's
//! seqlock; when writers keep it busy, the exact answer under the zone's lock). Writers
//! ([`revoke`]) hold the zone's lock and bump the root's generation.
//!
//! Persistence (`state=`), without blocking the event loop on a large write:
//! - a worker that revoked arms a timer ([`FLUSH_DELAY_MS`]); when it fires, the worker
//!   copies the live revocations under the zone's lock (a scan of the ring: microseconds
//!   for the implicit zone, about a millisecond for 100,000 revocations) and hands the copy
//!   to a background thread (`net::wake::spawn`), which encodes it, writes `FILE.tmp.PID`,
//!   `fsync`s it and renames it over `FILE` (atomic: a reader sees the old file or the new
//!   one, never half of one);
//! - writers of every worker serialise on an `flock` of `FILE.lock` and skip a copy older
//!   than what was written already (the root's `persisted` generation), so a slow writer
//!   never replaces a newer file with an older one;
//! - at worker exit (reload, stop, restart) the worker writes synchronously what is not
//!   persisted yet;
//! - the zone's init (the master, at start, or when a reload changes the zone's size)
//!   reads the file into a new zone; a missing file is logged at `notice`, an unreadable
//!   or corrupt one at `warn`, and the zone starts empty: never a failed start.

use std::cell::Cell;
use std::io::Write;
use std::os::unix::io::AsRawFd;
use std::ptr;
use std::sync::atomic::{AtomicU64, Ordering};

use ngx::ffi::{ngx_cycle, ngx_event_t, ngx_log_t, NGX_LOG_ERR, NGX_LOG_NOTICE, NGX_LOG_WARN};
use ngx::ngx_log_error;
use sso_core::revocations::{decode_state, encode_state, Check, Probe, Revocation, Revocations};
use sso_core::used_ids::{Insert, UsedIds};

use super::{flows::Consume, Region, Root};
use crate::net::wake;

/// How long after a revocation the state file is written (coalesces a burst), ms.
pub const FLUSH_DELAY_MS: usize = 1000;
/// Largest state file read (a zone of 1 GiB holds fewer revocations than this describes).
const MAX_STATE_FILE: u64 = 256 << 20;

/// The revocation region as the atomic words `sso_core::revocations` works on.
///
/// # Safety
/// `region` is the zone's revocation region: 8-byte aligned shared memory that nothing
/// views as plain bytes.
pub unsafe fn words(region: Region) -> &'static [AtomicU64] {
    if region.ptr.is_null() || region.len < 8 || (region.ptr as usize) % 8 != 0 {
        return &[];
    }
    // SAFETY: the caller guarantees what the `# Safety` section above asks; `AtomicU64`
    // has the size and alignment of `u64`.
    unsafe { std::slice::from_raw_parts(region.ptr as *const AtomicU64, region.len / 8) }
}

fn now() -> u64 {
    crate::request::now()
}

/// Whether the session `probe` describes is revoked at `now`. Takes no lock unless
/// writers keep the table changing. `None` when this process has no zone (the caller
/// refuses the session: fail closed).
pub fn check(probe: &Probe, now: u64) -> Option<Check> {
    let root = super::root()?;
    // SAFETY: the root's revocation region, only ever viewed as words.
    let table = Revocations::attach(unsafe { words(root.revocations) })?;
    match table.check(probe, now) {
        Check::Busy => {
            // SAFETY: on the event loop of a worker whose init_process ran.
            unsafe {
                super::with_root(|root| {
                    Revocations::attach(words(root.revocations)).map(|t| t.check_locked(probe, now))
                })
            }
            .flatten()
        }
        answer => Some(answer),
    }
}

/// Records `r` (a sign-out, a back-channel logout) in the shared table; false when there
/// is no zone. A live revocation evicted to make room is logged at `warn`. Schedules the
/// state file's write.
///
/// # Safety
/// On the event loop of a worker whose `init_process` ran; `log` is a valid nginx log.
pub unsafe fn revoke(log: *mut ngx_log_t, r: Revocation) -> bool {
    // SAFETY: the caller guarantees what the `# Safety` section above asks.
    unsafe {
        let now = now();
        let done = super::with_root(|root| {
            let table = Revocations::attach_or_format(words(root.revocations))?;
            let done = table.revoke(r, now);
            if done.recorded {
                root.generation.fetch_add(1, Ordering::Relaxed);
            }
            Some(done)
        })
        .flatten();
        let Some(done) = done else {
            return false;
        };
        if let Some(old) = done.evicted {
            ngx_log_error!(
                NGX_LOG_WARN,
                log,
                "sso: shared zone \"{}\" is full: the oldest revocation ({} \"{}\", until {}) \
                 was dropped to make room; make the zone larger",
                super::zone_name(),
                old.id.kind.name(),
                old.id.hex(),
                old.expires
            );
        }
        schedule_flush();
        true
    }
}

/// Records a back-channel logout token's `id` as used until `expires`, unless it was used
/// before (a replay).
///
/// # Safety
/// On the event loop of a worker whose `init_process` ran.
pub unsafe fn consume_logout_jti(id: &[u8], expires: u64) -> Consume {
    // SAFETY: the caller guarantees what the `# Safety` section above asks.
    unsafe {
        let now = now();
        let expires = expires.max(now.saturating_add(1));
        let got = super::with_region(
            |root| root.logout_ids,
            |bytes| UsedIds::attach_or_format(bytes).map(|mut set| set.insert(id, now, expires)),
        );
        match got.flatten() {
            Some(Insert::Fresh) => Consume::Fresh,
            Some(Insert::Used) => Consume::Used,
            None => Consume::Unavailable,
        }
    }
}

// ---- the state file ------------------------------------------------------------------------

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Reads the state file into a new zone's table (zone init, before any worker exists).
///
/// # Safety
/// `log` is a valid nginx log; `root` a freshly formatted root no other process uses yet.
pub unsafe fn load_state(log: *mut ngx_log_t, root: &Root, zone: &str, path: &str) {
    let now = unix_now();
    let bytes = match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            ngx_log_error!(
                NGX_LOG_NOTICE,
                log,
                "sso: state file \"{}\" of zone \"{}\" does not exist yet, revocations start empty",
                path,
                zone
            );
            return;
        }
        Ok(m) if m.len() > MAX_STATE_FILE => Err(std::io::Error::other(format!(
            "larger than {MAX_STATE_FILE} bytes"
        ))),
        Ok(_) => std::fs::read(path),
        Err(e) => Err(e),
    };
    let entries = bytes
        .map_err(|e| e.to_string())
        .and_then(|b| decode_state(&b, now).map_err(|e| e.to_string()));
    match entries {
        Err(why) => {
            ngx_log_error!(
                NGX_LOG_WARN,
                log,
                "sso: state file \"{}\" of zone \"{}\" ignored: {}; revocations start empty",
                path,
                zone,
                why
            );
        }
        Ok(entries) => {
            // SAFETY: the caller guarantees what the `# Safety` section above asks.
            let Some(table) = Revocations::attach(unsafe { words(root.revocations) }) else {
                return;
            };
            let evicted = table.restore(&entries, now);
            ngx_log_error!(
                NGX_LOG_NOTICE,
                log,
                "sso: {} revocations restored from \"{}\" into zone \"{}\"",
                entries.len() - evicted.len(),
                path,
                zone
            );
            if !evicted.is_empty() {
                ngx_log_error!(
                    NGX_LOG_WARN,
                    log,
                    "sso: zone \"{}\" is too small for the state file \"{}\": {} of its \
                     revocations were dropped; make the zone larger",
                    zone,
                    path,
                    evicted.len()
                );
            }
        }
    }
}

/// A copy of the live revocations and the generation it reflects, taken under the lock.
///
/// # Safety
/// On nginx's thread in a worker whose `init_process` ran.
unsafe fn snapshot() -> Option<(u64, Vec<Revocation>, &'static AtomicU64)> {
    let root = super::root()?;
    // SAFETY: the caller guarantees what the `# Safety` section above asks.
    let (generation, live) = unsafe {
        super::with_root(|root| {
            let generation = root.generation.load(Ordering::Relaxed);
            let live = Revocations::attach(words(root.revocations)).map(|t| t.live(unix_now()));
            (generation, live)
        })
    }?;
    Some((generation, live?, &root.persisted))
}

/// Writes `entries` (generation `generation`) to `path` atomically unless a newer
/// generation is written already. Runs on a background thread, or at worker exit.
fn write_state(
    path: &str,
    generation: u64,
    entries: &[Revocation],
    persisted: &AtomicU64,
) -> Result<bool, String> {
    let lock_path = format!("{path}.lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| format!("cannot open \"{lock_path}\": {e}"))?;
    // SAFETY: flock on an open descriptor; released when `lock` closes.
    if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(format!(
            "cannot lock \"{lock_path}\": {}",
            std::io::Error::last_os_error()
        ));
    }
    if persisted.load(Ordering::Acquire) >= generation {
        return Ok(false);
    }
    let bytes = encode_state(entries, unix_now());
    let tmp = format!("{path}.tmp.{}", std::process::id());
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(format!("cannot write \"{path}\": {e}"));
    }
    persisted.fetch_max(generation, Ordering::AcqRel);
    Ok(true)
}

thread_local! {
    /// The worker's flush timer (leaked: it lives as long as the worker).
    static TIMER: Cell<*mut ngx_event_t> = const { Cell::new(ptr::null_mut()) };
}

/// Sets up the worker's flush timer (from `init_process`).
pub fn init_process() {
    if super::state_file().is_none() {
        return;
    }
    // SAFETY: a zeroed ngx_event_t is a valid idle event; nginx reads handler, log and the
    // cancelable flag when the timer fires or the worker shuts down.
    unsafe {
        let ev: *mut ngx_event_t = Box::into_raw(Box::new(std::mem::zeroed()));
        (*ev).handler = Some(on_flush_timer);
        (*ev).log = (*ngx_cycle).log;
        // A graceful shutdown does not wait for it: exit_process writes instead.
        (*ev).set_cancelable(1);
        TIMER.with(|t| t.set(ev));
    }
}

/// Arms the flush timer unless it is armed already (or there is no state file). On the
/// event loop (`net/redis.rs` posts it there after applying what other nodes revoked).
pub fn schedule_flush() {
    let ev = TIMER.with(Cell::get);
    if ev.is_null() {
        return;
    }
    // SAFETY: the worker's own timer event, on its event loop.
    unsafe {
        if (*ev).timer_set() == 0 {
            nginx_sys::ngx_add_timer(ev, FLUSH_DELAY_MS as _);
        }
    }
}

unsafe extern "C" fn on_flush_timer(ev: *mut ngx_event_t) {
    // SAFETY: nginx passes the timer event it fired.
    let log = unsafe { (*ev).log };
    crate::guard::catch(log, "state file flush", (), || {
        // SAFETY: on the worker's event loop.
        unsafe { flush_in_background(log) }
    })
}

unsafe fn flush_in_background(log: *mut ngx_log_t) {
    let Some(path) = super::state_file() else {
        return;
    };
    // SAFETY: on the worker's event loop.
    let Some((generation, entries, persisted)) = (unsafe { snapshot() }) else {
        return;
    };
    if persisted.load(Ordering::Acquire) >= generation {
        return;
    }
    let shown = path.clone();
    let spawned = wake::spawn(
        move || write_state(&path, generation, &entries, persisted),
        move |result: Result<Result<bool, String>, wake::JobPanicked>| {
            // SAFETY: completions run on the event loop, where ngx_cycle is valid.
            let log = unsafe { (*ngx_cycle).log };
            match result {
                Ok(Ok(_)) => {}
                Ok(Err(why)) => {
                    ngx_log_error!(NGX_LOG_ERR, log, "sso: state file: {}", why);
                }
                Err(_) => {
                    ngx_log_error!(
                        NGX_LOG_ERR,
                        log,
                        "sso: state file \"{}\": the writer failed internally",
                        shown
                    );
                }
            }
        },
    );
    if let Err(e) = spawned {
        ngx_log_error!(
            NGX_LOG_WARN,
            log,
            "sso: state file not written now ({}), retrying",
            e
        );
        schedule_flush();
    }
}

/// Writes what is not persisted yet, synchronously (the worker is exiting).
pub fn exit_process() {
    let ev = TIMER.with(|t| t.replace(ptr::null_mut()));
    if ev.is_null() {
        return;
    }
    // SAFETY: on the worker's thread at exit; the zone is still known.
    unsafe {
        if (*ev).timer_set() != 0 {
            nginx_sys::ngx_del_timer(ev);
        }
        let log = (*ngx_cycle).log;
        let Some(path) = super::state_file() else {
            return;
        };
        let Some((generation, entries, persisted)) = snapshot() else {
            return;
        };
        if persisted.load(Ordering::Acquire) >= generation {
            return;
        }
        if let Err(why) = write_state(&path, generation, &entries, persisted) {
            ngx_log_error!(NGX_LOG_ERR, log, "sso: state file: {}", why);
        }
    }
}

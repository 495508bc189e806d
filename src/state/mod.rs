//! State shared by every worker of an nginx, in one shared-memory zone (README "Session
//! lifecycle" → "Shared zone", and "Security" → "Overload, request bodies and caching").
//!
//! The zone is a plain nginx slab-pool zone, added at configuration time with the module's
//! tag ([`register`], from `postconfiguration`): the one `sso_shared_zone zone=NAME:SIZE`
//! names (`conf/zone.rs`), else the implicit [`ZONE_NAME`] of [`ZONE_SIZE`] bytes. Its
//! `data` is a [`ZoneCtx`] in the configuration's pool (as nginx's own zones keep theirs):
//! the state file of this configuration and the pointer to the [`Root`] in shared memory.
//! The init callback allocates the root from the slab pool and one region per table: the
//! used login flows ([`flows`]), the used logout-token ids (back-channel replay,
//! [`revocations::consume_logout_jti`]) and the revocations ([`revocations`]); with
//! `state=`, the revocations of the state file are restored into a new zone. On `nginx -s
//! reload` nginx hands a zone of the same name, size and tag to the new cycle with the old
//! context ([`init_zone`] gets it back as `data`, and takes its root), so the tables
//! survive; a zone of another size starts empty (and reads the state file again).
//!
//! How a zone of SIZE is shared ([`Layout`]): the revocations get half of it, the used
//! flows a quarter (at most 512 KiB), the logout ids and the refreshes in flight
//! ([`refreshing`]) a sixteenth each (at most 64 and 128 KiB); the rest is for the slab
//! pool's own pages and later tables; the status endpoint's counters ([`counters`], under
//! 4 KiB) share the root's allocation. The root also holds the Redis slot
//! (`Root::redis_owner`: which worker syncs with `sso_redis`, `net/redis.rs`). A later
//! table is one more [`Region`] in [`Root`], allocated in [`init_zone`], with
//! [`VERSION`] bumped. The tables' contents are formatted by their own code (sso-core) over
//! the region's memory; the root only says where they are.
//!
//! Locking: every write, and every read of the byte tables, holds the slab pool's mutex
//! (`ngx_shmtx`, the one nginx's own zones use), taken and released by [`with_region`] /
//! [`with_root`] (released on unwind too, so a panic never leaves the other workers
//! blocked). The revocation check on the request path takes no lock (a seqlock, see
//! `sso_core::revocations`); it reads the root through [`root`].
//!
//! Each process finds the zone again in its own cycle at `init_process` ([`init_process`]):
//! a pointer kept from configuration time would name a failed reload's zone.

pub mod counters;
pub mod flows;
pub mod refreshing;
pub mod revocations;

use std::ffi::c_void;
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

use ngx::core::Status;
use ngx::ffi::{
    ngx_conf_t, ngx_cycle_t, ngx_int_t, ngx_list_part_t, ngx_pcalloc, ngx_pnalloc,
    ngx_shared_memory_add, ngx_shm_zone_t, ngx_shmtx_lock, ngx_shmtx_unlock, ngx_slab_alloc,
    ngx_slab_pool_t, ngx_str_t, NGX_LOG_EMERG, NGX_LOG_NOTICE,
};
use ngx::http::{HttpModule, HttpModuleLocationConf};
use ngx::ngx_log_error;

use crate::Module;

/// The implicit zone's name (when no `sso_shared_zone` names one).
pub const ZONE_NAME: &str = "sso_shared";
/// The implicit zone's size: 1 MiB.
pub const ZONE_SIZE: usize = 1 << 20;
/// The smallest `sso_shared_zone` size: 64 KiB.
pub const MIN_ZONE_SIZE: usize = 64 << 10;

const MAGIC: u64 = 0x5353_4f5f_5a4f_4e45; // "SSO_ZONE"
/// Layout version of [`Root`].
pub const VERSION: u32 = 5;

/// What `sso_shared_zone` asked for (`conf/zone.rs`), or the implicit zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneSpec {
    pub name: String,
    pub size: usize,
    /// `state=FILE`, absolute.
    pub state_file: Option<String>,
}

impl Default for ZoneSpec {
    fn default() -> Self {
        ZoneSpec {
            name: ZONE_NAME.to_owned(),
            size: ZONE_SIZE,
            state_file: None,
        }
    }
}

/// How a zone of `size` bytes is shared between the tables, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub flows: usize,
    pub logout_ids: usize,
    pub revocations: usize,
    pub refreshing: usize,
    pub counters: usize,
}

impl Layout {
    pub fn of(size: usize) -> Layout {
        Layout {
            flows: (size / 4).min(512 << 10),
            logout_ids: (size / 16).min(64 << 10),
            revocations: size / 2,
            refreshing: (size / 16).min(128 << 10),
            counters: counters::REGION_LEN,
        }
    }
}

/// One table's memory inside the zone.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Region {
    pub ptr: *mut u8,
    pub len: usize,
}

/// The zone's root, at `shpool->data`.
#[repr(C)]
pub struct Root {
    magic: u64,
    version: u32,
    /// Used login flow states (`flows.rs`, `sso_core::used_ids`).
    pub flows: Region,
    /// Used logout-token ids (`revocations.rs`, `sso_core::used_ids`).
    pub logout_ids: Region,
    /// The revocation table (`revocations.rs`, `sso_core::revocations`), 8-byte aligned.
    pub revocations: Region,
    /// Refreshes in flight or just done (`refreshing.rs`, `sso_core::flow::refresh`).
    pub refreshing: Region,
    /// The status endpoint's counters (`counters.rs`, `sso_core::metrics`), zeroed.
    pub counters: Region,
    /// Bumped (under the lock) by every change of the revocation table.
    pub generation: AtomicU64,
    /// The generation last written to the state file (under the state file's lock).
    pub persisted: AtomicU64,
    /// The worker syncing with Redis for this nginx (`net/redis.rs`): pid << 32 | heartbeat.
    pub redis_owner: AtomicU64,
}

/// The zone's `data`: this configuration's view of the zone, in the cycle's pool.
#[repr(C)]
pub struct ZoneCtx {
    root: *mut Root,
    name: ngx_str_t,
    /// `state=FILE` (absolute), or empty.
    state_file: ngx_str_t,
}

/// This process's zone (found in its cycle at `init_process`).
static ZONE: AtomicPtr<ngx_shm_zone_t> = AtomicPtr::new(ptr::null_mut());

/// The zone's tag: this module's `ngx_module_t`, as nginx's own zones use theirs.
fn tag() -> *mut c_void {
    ptr::from_ref(Module::module()).cast_mut().cast()
}

/// A copy of `s` in `cf`'s pool.
unsafe fn pool_str(cf: *mut ngx_conf_t, s: &str) -> Option<ngx_str_t> {
    // SAFETY: the caller passes nginx's cf.
    unsafe {
        if s.is_empty() {
            return Some(ngx_str_t {
                len: 0,
                data: ptr::null_mut(),
            });
        }
        let data = ngx_pnalloc((*cf).pool, s.len()) as *mut u8;
        if data.is_null() {
            return None;
        }
        ptr::copy_nonoverlapping(s.as_ptr(), data, s.len());
        Some(ngx_str_t { len: s.len(), data })
    }
}

fn str_of(s: &ngx_str_t) -> &str {
    if s.len == 0 || s.data.is_null() {
        return "";
    }
    // SAFETY: our own copies of UTF-8 strings (pool_str).
    std::str::from_utf8(unsafe { std::slice::from_raw_parts(s.data, s.len) }).unwrap_or("")
}

/// Adds the configured zone (`sso_shared_zone`, read from the `http` level), else the
/// implicit one, to the configuration being parsed.
///
/// # Safety
/// From `postconfiguration`, with nginx's `cf`.
pub unsafe fn register(cf: *mut ngx_conf_t) -> ngx_int_t {
    // SAFETY: the caller guarantees what the `# Safety` section above asks.
    unsafe {
        let spec = Module::location_conf(&*cf)
            .and_then(|c| c.shared_zone.clone())
            .unwrap_or_default();
        let ctx = ngx_pcalloc((*cf).pool, std::mem::size_of::<ZoneCtx>()) as *mut ZoneCtx;
        let (Some(mut name), Some(state_file)) = (
            pool_str(cf, &spec.name),
            pool_str(cf, spec.state_file.as_deref().unwrap_or("")),
        ) else {
            return Status::NGX_ERROR.into();
        };
        if ctx.is_null() {
            return Status::NGX_ERROR.into();
        }
        ptr::write(
            ctx,
            ZoneCtx {
                root: ptr::null_mut(),
                name,
                state_file,
            },
        );
        let zone = ngx_shared_memory_add(cf, &mut name, spec.size, tag());
        if zone.is_null() {
            ngx_log_error!(
                NGX_LOG_EMERG,
                (*cf).log,
                "sso: cannot add the shared memory zone \"{}\"",
                spec.name
            );
            return Status::NGX_ERROR.into();
        }
        if !(*zone).data.is_null() {
            ngx_log_error!(
                NGX_LOG_EMERG,
                (*cf).log,
                "sso_shared_zone: zone \"{}\" is already used by another directive",
                spec.name
            );
            return Status::NGX_ERROR.into();
        }
        (*zone).init = Some(init_zone);
        (*zone).data = ctx.cast();
        Status::NGX_OK.into()
    }
}

/// nginx's zone init: `data` is the old cycle's [`ZoneCtx`] on reload (its root is reused
/// as is), else NULL.
unsafe extern "C" fn init_zone(zone: *mut ngx_shm_zone_t, data: *mut c_void) -> ngx_int_t {
    // SAFETY: nginx passes a valid, mapped zone.
    let log = unsafe { (*zone).shm.log };
    crate::guard::catch(log, "shared zone init", Status::NGX_ERROR.into(), || {
        // SAFETY: nginx calls this with a mapped zone, before any worker exists.
        unsafe { init_zone_inner(zone, data) }
    })
}

unsafe fn init_zone_inner(zone: *mut ngx_shm_zone_t, data: *mut c_void) -> ngx_int_t {
    // SAFETY: every caller passes valid nginx pointers, on nginx's thread.
    unsafe {
        let ctx = (*zone).data as *mut ZoneCtx;
        let shpool = (*zone).shm.addr as *mut ngx_slab_pool_t;
        let log = (*zone).shm.log;
        let name = str_of(&(*ctx).name).to_owned();
        if !data.is_null() {
            (*ctx).root = (*(data as *const ZoneCtx)).root;
            return Status::NGX_OK.into();
        }
        if (*zone).shm.exists != 0 {
            (*ctx).root = (*shpool).data.cast();
            return Status::NGX_OK.into();
        }
        let layout = Layout::of((*zone).shm.size);
        // The counters share the root's allocation (one page in all: a 64k zone has no page
        // to spare for them), right after it, cache-line aligned.
        let root_len = std::mem::size_of::<Root>().next_multiple_of(64);
        let root = ngx_slab_alloc(shpool, root_len + layout.counters) as *mut Root;
        let flows = ngx_slab_alloc(shpool, layout.flows) as *mut u8;
        let logout_ids = ngx_slab_alloc(shpool, layout.logout_ids) as *mut u8;
        let revocations = ngx_slab_alloc(shpool, layout.revocations) as *mut u8;
        let refreshing = ngx_slab_alloc(shpool, layout.refreshing) as *mut u8;
        let counters = if root.is_null() {
            ptr::null_mut()
        } else {
            root.cast::<u8>().add(root_len)
        };
        if root.is_null()
            || flows.is_null()
            || logout_ids.is_null()
            || revocations.is_null()
            || refreshing.is_null()
            || !counters::format(counters, layout.counters)
        {
            ngx_log_error!(
                NGX_LOG_EMERG,
                log,
                "sso: shared memory zone \"{}\" is too small",
                name
            );
            return Status::NGX_ERROR.into();
        }
        // Regions of a fresh slab pool are zeroed memory of a fresh mapping; formatting
        // rewrites them anyway.
        let flows_ok = sso_core::used_ids::UsedIds::format(std::slice::from_raw_parts_mut(
            flows,
            layout.flows,
        ))
        .is_some();
        let logout_ok = sso_core::used_ids::UsedIds::format(std::slice::from_raw_parts_mut(
            logout_ids,
            layout.logout_ids,
        ))
        .is_some();
        let revocations_ok = (revocations as usize) % 8 == 0
            && sso_core::revocations::Revocations::format(revocations::words(Region {
                ptr: revocations,
                len: layout.revocations,
            }))
            .is_some();
        if !(flows_ok && logout_ok && revocations_ok) {
            ngx_log_error!(
                NGX_LOG_EMERG,
                log,
                "sso: cannot format the tables of shared memory zone \"{}\"",
                name
            );
            return Status::NGX_ERROR.into();
        }
        ptr::write(
            root,
            Root {
                magic: MAGIC,
                version: VERSION,
                flows: Region {
                    ptr: flows,
                    len: layout.flows,
                },
                logout_ids: Region {
                    ptr: logout_ids,
                    len: layout.logout_ids,
                },
                revocations: Region {
                    ptr: revocations,
                    len: layout.revocations,
                },
                // Formatted at first use (`refreshing.rs`).
                refreshing: Region {
                    ptr: refreshing,
                    len: layout.refreshing,
                },
                counters: Region {
                    ptr: counters,
                    len: layout.counters,
                },
                generation: AtomicU64::new(0),
                persisted: AtomicU64::new(0),
                redis_owner: AtomicU64::new(0),
            },
        );
        (*shpool).data = root.cast();
        (*ctx).root = root;
        ngx_log_error!(
            NGX_LOG_NOTICE,
            log,
            "sso: shared zone \"{}\" holds {} revocations, {} login flows, {} logout tokens",
            name,
            sso_core::revocations::capacity_for(layout.revocations),
            sso_core::used_ids::UsedIds::capacity_for(layout.flows),
            sso_core::used_ids::UsedIds::capacity_for(layout.logout_ids)
        );
        let state_file = str_of(&(*ctx).state_file);
        if !state_file.is_empty() {
            revocations::load_state(log, &*root, &name, state_file);
        }
        Status::NGX_OK.into()
    }
}

/// Finds this module's zone in the cycle the process runs (from `init_process`).
///
/// # Safety
/// On nginx's thread with the process's cycle.
pub unsafe fn init_process(cycle: *mut ngx_cycle_t) {
    // SAFETY: the caller guarantees what the `# Safety` section above asks.
    unsafe {
        let mut found: *mut ngx_shm_zone_t = ptr::null_mut();
        let mut part: *mut ngx_list_part_t = ptr::addr_of_mut!((*cycle).shared_memory.part);
        while !part.is_null() && found.is_null() {
            let zones = (*part).elts as *mut ngx_shm_zone_t;
            for i in 0..(*part).nelts {
                let z = zones.add(i);
                if (*z).tag == tag() && !(*z).data.is_null() {
                    found = z;
                    break;
                }
            }
            part = (*part).next;
        }
        ZONE.store(found, Ordering::Release);
        revocations::init_process();
        counters::init_process((*cycle).log);
    }
}

/// Writes what is not persisted yet and forgets the zone (at `exit_process`).
pub fn exit_process() {
    revocations::exit_process();
    // SAFETY: on nginx's thread, at exit_process.
    unsafe { counters::exit_process() };
    ZONE.store(ptr::null_mut(), Ordering::Release);
}

/// This process's zone context and the root it points at, when they are ours.
fn zone() -> Option<(*mut ngx_slab_pool_t, &'static ZoneCtx, &'static Root)> {
    let zone = ZONE.load(Ordering::Acquire);
    if zone.is_null() {
        return None;
    }
    // SAFETY: the zone was found in this process's cycle, which outlives every request;
    // its `data` is our ZoneCtx (the tag says so) and the root it names lives in the
    // zone's mapping, which stays mapped for the life of the process.
    unsafe {
        let shpool = (*zone).shm.addr as *mut ngx_slab_pool_t;
        let ctx = (*zone).data as *const ZoneCtx;
        if shpool.is_null() || ctx.is_null() || (*ctx).root.is_null() {
            return None;
        }
        let root = &*(*ctx).root;
        (root.magic == MAGIC && root.version == VERSION).then_some((shpool, &*ctx, root))
    }
}

/// The zone's name in this process (logs).
pub fn zone_name() -> String {
    zone().map_or_else(
        || ZONE_NAME.to_owned(),
        |(_, ctx, _)| str_of(&ctx.name).to_owned(),
    )
}

/// The root, for lock-free readers (the revocation check).
pub fn root() -> Option<&'static Root> {
    zone().map(|(_, _, root)| root)
}

/// The state file of this process's zone (`state=`), when configured.
pub fn state_file() -> Option<String> {
    zone()
        .map(|(_, ctx, _)| str_of(&ctx.state_file).to_owned())
        .filter(|s| !s.is_empty())
}

/// Unlocks the zone's mutex when dropped (also on unwind).
struct Locked(*mut ngx_slab_pool_t);

impl Drop for Locked {
    fn drop(&mut self) {
        // SAFETY: locked by with_root on the same pool.
        unsafe { ngx_shmtx_unlock(ptr::addr_of_mut!((*self.0).mutex)) };
    }
}

/// Runs `f` over the root with the zone locked. None when this process has no zone
/// (before `init_process`, or the zone is not ours).
///
/// # Safety
/// On nginx's thread in a process whose `init_process` ran, or on a thread of the module
/// that such a process started (`net/redis.rs`: `ngx_shmtx` is an atomic lock between
/// processes, and nothing here touches nginx's per-thread state).
pub unsafe fn with_root<R>(f: impl FnOnce(&Root) -> R) -> Option<R> {
    let (shpool, _, root) = zone()?;
    // SAFETY: the pool is the zone's mapped slab pool; its mutex is initialised by nginx.
    unsafe { ngx_shmtx_lock(ptr::addr_of_mut!((*shpool).mutex)) };
    let _locked = Locked(shpool);
    Some(f(root))
}

/// Runs `f` over a byte table's memory with the zone locked. None when this process has no
/// zone (before `init_process`, or the zone is not ours).
///
/// # Safety
/// On nginx's thread in a process whose `init_process` ran; `pick` names a byte table
/// (never the revocations, which are only ever viewed as atomic words).
pub unsafe fn with_region<R>(
    pick: impl FnOnce(&Root) -> Region,
    f: impl FnOnce(&mut [u8]) -> R,
) -> Option<R> {
    // SAFETY: the caller guarantees what the `# Safety` section above asks.
    unsafe {
        with_root(|root| {
            let region = pick(root);
            if region.ptr.is_null() || region.len == 0 {
                return None;
            }
            // Under the zone's lock, which every user of a byte table holds.
            let bytes = std::slice::from_raw_parts_mut(region.ptr, region.len);
            Some(f(bytes))
        })
        .flatten()
    }
}

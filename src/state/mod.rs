//! State shared by every worker of an nginx, in one shared-memory zone (README "Security" →
//! "Overload, request bodies and caching").
//!
//! The zone is a plain nginx slab-pool zone, added at configuration time with the module's
//! tag ([`register`], from `postconfiguration`): [`ZONE_NAME`], [`ZONE_SIZE`] bytes. Its
//! init callback allocates a [`Root`] from the slab pool and one region per table
//! ([`flows`], the used login flows; [`refreshing`], the refreshes in flight); `shpool->data` and the zone's `data` point at the root.
//! On `nginx -s reload` nginx hands a zone of the same name, size and tag to the new cycle
//! with the old `data` ([`init_zone`] gets it back as `data`), so the tables survive; a zone
//! of another size starts empty.
//!
//! A later table (revocations, counters) is one more [`Region`] in [`Root`], allocated in
//! [`init_zone`], with [`VERSION`] bumped. The tables' contents are formatted by their own
//! code (sso-core) over the region's bytes; the root only says where they are.
//!
//! Locking: every read or write of a table holds the slab pool's mutex (`ngx_shmtx`, the one
//! nginx's own zones use), taken and released by [`with_region`] (released on unwind too, so
//! a panic never leaves the other workers blocked). The work under the lock is a few
//! hundred nanoseconds of pure Rust over the region.
//!
//! Each process finds the zone again in its own cycle at `init_process` ([`init_process`]):
//! a pointer kept from configuration time would name a failed reload's zone.

pub mod flows;
pub mod refreshing;

use std::ffi::c_void;
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};

use ngx::core::Status;
use ngx::ffi::{
    ngx_conf_t, ngx_cycle_t, ngx_int_t, ngx_list_part_t, ngx_pnalloc, ngx_shared_memory_add,
    ngx_shm_zone_t, ngx_shmtx_lock, ngx_shmtx_unlock, ngx_slab_alloc, ngx_slab_pool_t, ngx_str_t,
    NGX_LOG_EMERG,
};
use ngx::http::HttpModule;
use ngx::ngx_log_error;

use crate::Module;

/// The implicit zone's name (as `sso_shared_zone zone=NAME:SIZE` will name one).
pub const ZONE_NAME: &str = "sso_shared";
/// The implicit zone's size: 1 MiB.
pub const ZONE_SIZE: usize = 1 << 20;
/// The share of the zone the used-flow table gets (the rest is for later tables and the
/// slab pool's own bookkeeping): 512 KiB, about 16,000 flows.
pub const FLOWS_BYTES: usize = ZONE_SIZE / 2;
/// The refresh single-flight table (`refreshing.rs`): 128 KiB, about 3,300 refreshes held at
/// once (each for up to two minutes).
pub const REFRESHING_BYTES: usize = 128 << 10;

const MAGIC: u64 = 0x5353_4f5f_5a4f_4e45; // "SSO_ZONE"
/// Layout version of [`Root`].
pub const VERSION: u32 = 2;

/// One table's bytes inside the zone.
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
    /// Refreshes in flight or just done (`refreshing.rs`, `sso_core::flow::refresh`).
    pub refreshing: Region,
}

/// This process's zone (found in its cycle at `init_process`).
static ZONE: AtomicPtr<ngx_shm_zone_t> = AtomicPtr::new(ptr::null_mut());

/// The zone's tag: this module's `ngx_module_t`, as nginx's own zones use theirs.
fn tag() -> *mut c_void {
    ptr::from_ref(Module::module()).cast_mut().cast()
}

/// Adds the implicit zone to the configuration being parsed.
///
/// # Safety
/// From `postconfiguration`, with nginx's `cf`.
pub unsafe fn register(cf: *mut ngx_conf_t) -> ngx_int_t {
    // SAFETY: the caller guarantees what the `# Safety` section above asks.
    unsafe {
        let data = ngx_pnalloc((*cf).pool, ZONE_NAME.len()) as *mut u8;
        if data.is_null() {
            return Status::NGX_ERROR.into();
        }
        ptr::copy_nonoverlapping(ZONE_NAME.as_ptr(), data, ZONE_NAME.len());
        let mut name = ngx_str_t {
            len: ZONE_NAME.len(),
            data,
        };
        let zone = ngx_shared_memory_add(cf, &mut name, ZONE_SIZE, tag());
        if zone.is_null() {
            ngx_log_error!(
                NGX_LOG_EMERG,
                (*cf).log,
                "sso: cannot add the shared memory zone \"{}\"",
                ZONE_NAME
            );
            return Status::NGX_ERROR.into();
        }
        (*zone).init = Some(init_zone);
        (*zone).data = ptr::null_mut();
        Status::NGX_OK.into()
    }
}

/// nginx's zone init: `data` is the old cycle's root on reload (reused as is), else NULL.
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
        if !data.is_null() {
            (*zone).data = data;
            return Status::NGX_OK.into();
        }
        let shpool = (*zone).shm.addr as *mut ngx_slab_pool_t;
        if (*zone).shm.exists != 0 {
            (*zone).data = (*shpool).data;
            return Status::NGX_OK.into();
        }
        let root = ngx_slab_alloc(shpool, std::mem::size_of::<Root>()) as *mut Root;
        let flows = ngx_slab_alloc(shpool, FLOWS_BYTES) as *mut u8;
        let refreshing = ngx_slab_alloc(shpool, REFRESHING_BYTES) as *mut u8;
        if root.is_null() || flows.is_null() || refreshing.is_null() {
            ngx_log_error!(
                NGX_LOG_EMERG,
                (*zone).shm.log,
                "sso: shared memory zone \"{}\" is too small",
                ZONE_NAME
            );
            return Status::NGX_ERROR.into();
        }
        let region = std::slice::from_raw_parts_mut(flows, FLOWS_BYTES);
        if sso_core::used_ids::UsedIds::format(region).is_none() {
            ngx_log_error!(
                NGX_LOG_EMERG,
                (*zone).shm.log,
                "sso: cannot format the used-flow table in zone \"{}\"",
                ZONE_NAME
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
                    len: FLOWS_BYTES,
                },
                // Formatted at first use (`refreshing.rs`).
                refreshing: Region {
                    ptr: refreshing,
                    len: REFRESHING_BYTES,
                },
            },
        );
        (*shpool).data = root.cast();
        (*zone).data = root.cast();
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
                let name = std::slice::from_raw_parts((*z).shm.name.data, (*z).shm.name.len);
                if (*z).tag == tag() && name == ZONE_NAME.as_bytes() {
                    found = z;
                    break;
                }
            }
            part = (*part).next;
        }
        ZONE.store(found, Ordering::Release);
    }
}

/// Forgets the zone (at `exit_process`).
pub fn exit_process() {
    ZONE.store(ptr::null_mut(), Ordering::Release);
}

/// Unlocks the zone's mutex when dropped (also on unwind).
struct Locked(*mut ngx_slab_pool_t);

impl Drop for Locked {
    fn drop(&mut self) {
        // SAFETY: locked by with_region on the same pool.
        unsafe { ngx_shmtx_unlock(ptr::addr_of_mut!((*self.0).mutex)) };
    }
}

/// Runs `f` over a table's bytes with the zone locked. None when this process has no zone
/// (before `init_process`, or the zone is not ours).
///
/// # Safety
/// On nginx's thread in a process whose `init_process` ran.
pub unsafe fn with_region<R>(
    pick: impl FnOnce(&Root) -> Region,
    f: impl FnOnce(&mut [u8]) -> R,
) -> Option<R> {
    // SAFETY: the caller guarantees what the `# Safety` section above asks.
    unsafe {
        let zone = ZONE.load(Ordering::Acquire);
        if zone.is_null() {
            return None;
        }
        let shpool = (*zone).shm.addr as *mut ngx_slab_pool_t;
        let root = (*zone).data as *const Root;
        if shpool.is_null()
            || root.is_null()
            || (*root).magic != MAGIC
            || (*root).version != VERSION
        {
            return None;
        }
        let region = pick(&*root);
        if region.ptr.is_null() || region.len == 0 {
            return None;
        }
        ngx_shmtx_lock(ptr::addr_of_mut!((*shpool).mutex));
        let _locked = Locked(shpool);
        let bytes = std::slice::from_raw_parts_mut(region.ptr, region.len);
        Some(f(bytes))
    }
}

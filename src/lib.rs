//! `ngx_http_sso_module`: single sign-on in front of any location, in-process (README).
//!
//! This file is the module table, the phase registration and the worker hooks, nothing
//! else. The directives and their command table live in `conf/`, the request path in
//! `access.rs`, the endpoints in `endpoints.rs`, the calls to the provider in `net/`;
//! everything nginx-free lives in the `sso-core` crate (README "Layout").

#![deny(unsafe_op_in_unsafe_fn)]

mod access;
mod backchannel;
mod bearer;
mod conf;
mod context;
mod endpoints;
mod guard;
mod headers;
mod net;
mod request;
mod session_cookie;
mod state;
mod status;
mod variables;

use std::ptr;

use ngx::core::Status;
use ngx::ffi::{
    ngx_array_push, ngx_command_t, ngx_conf_t, ngx_http_handler_pt, ngx_http_module_t,
    ngx_http_phases_NGX_HTTP_ACCESS_PHASE, ngx_http_phases_NGX_HTTP_LOG_PHASE,
    ngx_http_phases_NGX_HTTP_PREACCESS_PHASE, ngx_int_t, ngx_module_t, NGX_HTTP_MODULE,
};
use ngx::http::{HttpModule, HttpModuleLocationConf, HttpModuleMainConf, NgxHttpCoreModule};

use crate::conf::LocConf;

/// The module's version, reported in `X-authentik-meta-version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// `X-authentik-meta-outpost`.
pub const OUTPOST: &str = "ngx_http_sso_module";

static MODULE_CTX: ngx_http_module_t = ngx_http_module_t {
    preconfiguration: Some(preconfiguration),
    postconfiguration: Some(postconfiguration),
    create_main_conf: None,
    init_main_conf: None,
    create_srv_conf: None,
    merge_srv_conf: None,
    create_loc_conf: Some(Module::create_loc_conf),
    merge_loc_conf: Some(conf::merge_loc_conf),
};

ngx::ngx_modules!(ngx_http_sso_module);

#[used]
#[allow(non_upper_case_globals)]
pub static mut ngx_http_sso_module: ngx_module_t = ngx_module_t {
    ctx: ptr::addr_of!(MODULE_CTX) as _,
    commands: ptr::addr_of_mut!(conf::COMMANDS) as *mut ngx_command_t,
    type_: NGX_HTTP_MODULE as _,
    init_process: Some(init_process),
    exit_process: Some(exit_process),
    ..ngx_module_t::default()
};

/// The module as ngx's typed configuration access knows it.
pub(crate) struct Module;

impl HttpModule for Module {
    fn module() -> &'static ngx_module_t {
        // SAFETY: nginx only writes the module struct (`ctx_index`, `index`) while loading
        // the configuration, before any of the module's code reads it.
        unsafe { &*ptr::addr_of!(ngx_http_sso_module) }
    }
}

// SAFETY: `create_loc_conf` (ngx's default for `HttpModule`) allocates a `LocConf` in every
// location's slot of this module.
unsafe impl HttpModuleLocationConf for Module {
    type LocationConf = LocConf;
}

unsafe extern "C" fn preconfiguration(cf: *mut ngx_conf_t) -> ngx_int_t {
    guard::catch(
        // SAFETY: nginx passes the configuration being parsed.
        unsafe { (*cf).log },
        "preconfiguration",
        Status::NGX_ERROR.into(),
        || {
            // SAFETY: called by nginx with a valid cf before http{} is parsed.
            unsafe { variables::register(cf) }
        },
    )
}

unsafe extern "C" fn postconfiguration(cf: *mut ngx_conf_t) -> ngx_int_t {
    guard::catch(
        // SAFETY: nginx passes the configuration being parsed.
        unsafe { (*cf).log },
        "postconfiguration",
        Status::NGX_ERROR.into(),
        || {
            // SAFETY: called by nginx with a valid cf during http{} configuration.
            unsafe { register_handlers(cf) }
        },
    )
}

unsafe fn register_handlers(cf: *mut ngx_conf_t) -> ngx_int_t {
    // SAFETY: every caller passes valid nginx pointers, on nginx's thread.
    unsafe {
        let Some(cmcf) = NgxHttpCoreModule::main_conf_mut(&*cf) else {
            return Status::NGX_ERROR.into();
        };

        let pre = &mut cmcf.phases[ngx_http_phases_NGX_HTTP_PREACCESS_PHASE as usize].handlers;
        let h = ngx_array_push(pre) as *mut ngx_http_handler_pt;
        if h.is_null() {
            return Status::NGX_ERROR.into();
        }
        *h = Some(access::preaccess_handler);

        // nginx runs a phase's handlers in reverse order of registration. Put ours first in the
        // array so it runs last in ACCESS: `allow`/`deny` (and `auth_basic`) decide first, exactly
        // as users know from combining them, and under `satisfy any` an allowed client never gets
        // a login redirect.
        let acc = &mut cmcf.phases[ngx_http_phases_NGX_HTTP_ACCESS_PHASE as usize].handlers;
        let h = ngx_array_push(acc) as *mut ngx_http_handler_pt;
        if h.is_null() {
            return Status::NGX_ERROR.into();
        }
        let elts = acc.elts as *mut ngx_http_handler_pt;
        let n = acc.nelts;
        ptr::copy(elts, elts.add(1), n - 1);
        *elts = Some(access::access_handler);
        // The status endpoint's request counts (README "Observability").
        let log = &mut cmcf.phases[ngx_http_phases_NGX_HTTP_LOG_PHASE as usize].handlers;
        let h = ngx_array_push(log) as *mut ngx_http_handler_pt;
        if h.is_null() {
            return Status::NGX_ERROR.into();
        }
        *h = Some(state::counters::log_handler);
        // Session cookies re-issued on any response (README "Session lifecycle").
        session_cookie::register_filter();
        // The shared zone (used login flows, revocations: README "Session lifecycle").
        if state::register(cf) != Status::NGX_OK.0 {
            return Status::NGX_ERROR.into();
        }
        #[cfg(feature = "selftest")]
        if net::selftest::postconfiguration(cf, cmcf) != Status::NGX_OK.0 {
            return Status::NGX_ERROR.into();
        }
        Status::NGX_OK.into()
    }
}

/// Worker start (also single-process mode; never the master, never `nginx -t`): the
/// background-job notifier, then one key fetcher per provider.
unsafe extern "C" fn init_process(cycle: *mut ngx::ffi::ngx_cycle_t) -> ngx_int_t {
    // SAFETY: nginx passes the process's cycle.
    guard::catch(
        unsafe { (*cycle).log },
        "init_process",
        Status::NGX_OK.into(),
        || {
            // SAFETY: nginx calls init_process on its thread with the worker's cycle.
            unsafe {
                let rc = net::wake::init_process(cycle);
                state::init_process(cycle);
                net::redis::init_process(cycle);
                net::fetcher::init_process(cycle);
                rc
            }
        },
    )
}

unsafe extern "C" fn exit_process(cycle: *mut ngx::ffi::ngx_cycle_t) {
    // SAFETY: nginx passes the process's cycle.
    guard::catch(unsafe { (*cycle).log }, "exit_process", (), || {
        net::fetcher::exit_process();
        net::redis::exit_process();
        state::exit_process();
        // SAFETY: nginx calls exit_process on its thread.
        unsafe { net::wake::exit_process() };
    })
}

//! `ngx_http_sso_module`: single sign-on in front of any location, in-process (SPEC §1).
//!
//! This file is the module table, the phase registration and nothing else. The directive
//! families live in `conf/`, the request path in `access.rs`, the endpoints in
//! `endpoints.rs`; everything nginx-free lives in the `sso-core` crate.

mod access;
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
mod variables;

use std::ffi::c_void;
use std::ptr;

use ngx::core::{Pool, Status};
use ngx::ffi::{
    ngx_array_push, ngx_command_t, ngx_conf_t, ngx_http_handler_pt, ngx_http_module_t,
    ngx_http_phases_NGX_HTTP_ACCESS_PHASE, ngx_http_phases_NGX_HTTP_PREACCESS_PHASE,
    ngx_http_request_t, ngx_int_t, ngx_module_t, NGX_CONF_1MORE, NGX_CONF_FLAG, NGX_CONF_TAKE1,
    NGX_HTTP_LOC_CONF, NGX_HTTP_MAIN_CONF, NGX_HTTP_MODULE, NGX_HTTP_SRV_CONF,
};
use ngx::http::{HttpModuleMainConf, NgxHttpCoreModule};
use ngx::ngx_string;

use crate::conf::{command, gate, provider, session, token, LocConf};

/// The module's version, reported in `X-authentik-meta-version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// `X-authentik-meta-outpost`.
pub const OUTPOST: &str = "ngx_http_sso_module";

const ANY_CONF: u32 = NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF;

static mut COMMANDS: [ngx_command_t; 27] = [
    command(
        ngx_string!("sso_protect"),
        ANY_CONF | NGX_CONF_FLAG,
        gate::set_protect,
    ),
    command(
        ngx_string!("sso_unauthenticated_paths"),
        ANY_CONF | NGX_CONF_1MORE,
        gate::set_unauthenticated_paths,
    ),
    command(
        ngx_string!("sso_unauthenticated_urls"),
        ANY_CONF | NGX_CONF_1MORE,
        gate::set_unauthenticated_urls,
    ),
    command(
        ngx_string!("sso_outpost_prefix"),
        ANY_CONF | NGX_CONF_TAKE1,
        gate::set_outpost_prefix,
    ),
    command(
        ngx_string!("sso_login_url"),
        ANY_CONF | NGX_CONF_TAKE1,
        gate::set_login_url,
    ),
    command(
        ngx_string!("sso_identity_headers"),
        ANY_CONF | NGX_CONF_FLAG,
        gate::set_identity_headers,
    ),
    command(
        ngx_string!("sso_cookie_domain"),
        ANY_CONF | NGX_CONF_TAKE1,
        session::set_cookie_domain,
    ),
    command(
        ngx_string!("sso_app"),
        ANY_CONF | NGX_CONF_TAKE1,
        gate::set_app,
    ),
    command(
        ngx_string!("sso_require_group"),
        ANY_CONF | NGX_CONF_1MORE,
        gate::set_require_group,
    ),
    command(
        ngx_string!("sso_issuer"),
        ANY_CONF | NGX_CONF_TAKE1,
        provider::set_issuer,
    ),
    command(
        ngx_string!("sso_client_id"),
        ANY_CONF | NGX_CONF_TAKE1,
        provider::set_client_id,
    ),
    command(
        ngx_string!("sso_client_secret"),
        ANY_CONF | NGX_CONF_TAKE1,
        provider::set_client_secret,
    ),
    command(
        ngx_string!("sso_client_secret_file"),
        ANY_CONF | NGX_CONF_TAKE1,
        provider::set_client_secret_file,
    ),
    command(
        ngx_string!("sso_jwks_file"),
        ANY_CONF | NGX_CONF_TAKE1,
        token::set_jwks_file,
    ),
    command(
        ngx_string!("sso_bearer"),
        ANY_CONF | NGX_CONF_FLAG,
        token::set_bearer,
    ),
    command(
        ngx_string!("sso_token_cookie"),
        ANY_CONF | NGX_CONF_TAKE1,
        token::set_token_cookie,
    ),
    command(
        ngx_string!("sso_audience"),
        ANY_CONF | NGX_CONF_1MORE,
        token::set_audience,
    ),
    command(
        ngx_string!("sso_leeway"),
        ANY_CONF | NGX_CONF_TAKE1,
        token::set_leeway,
    ),
    command(
        ngx_string!("sso_backchannel_url"),
        ANY_CONF | NGX_CONF_TAKE1,
        provider::set_backchannel_url,
    ),
    command(
        ngx_string!("sso_trusted_certificate"),
        ANY_CONF | NGX_CONF_TAKE1,
        provider::set_trusted_certificate,
    ),
    command(
        ngx_string!("sso_scopes"),
        ANY_CONF | NGX_CONF_1MORE,
        provider::set_scopes,
    ),
    command(
        ngx_string!("sso_redirect_uri"),
        ANY_CONF | NGX_CONF_TAKE1,
        provider::set_redirect_uri,
    ),
    command(
        ngx_string!("sso_post_logout_redirect_uri"),
        ANY_CONF | NGX_CONF_TAKE1,
        provider::set_post_logout_redirect_uri,
    ),
    command(
        ngx_string!("sso_session_secret_file"),
        ANY_CONF | NGX_CONF_TAKE1,
        session::set_session_secret_file,
    ),
    command(
        ngx_string!("sso_session_cookie"),
        ANY_CONF | NGX_CONF_TAKE1,
        session::set_session_cookie,
    ),
    command(
        ngx_string!("sso_session_lifetime"),
        ANY_CONF | NGX_CONF_TAKE1,
        session::set_session_lifetime,
    ),
    ngx_command_t::empty(),
];

static MODULE_CTX: ngx_http_module_t = ngx_http_module_t {
    preconfiguration: Some(preconfiguration),
    postconfiguration: Some(postconfiguration),
    create_main_conf: None,
    init_main_conf: None,
    create_srv_conf: None,
    merge_srv_conf: None,
    create_loc_conf: Some(create_loc_conf),
    merge_loc_conf: Some(conf::merge_loc_conf),
};

ngx::ngx_modules!(ngx_http_sso_module);

#[used]
#[allow(non_upper_case_globals)]
pub static mut ngx_http_sso_module: ngx_module_t = ngx_module_t {
    ctx: ptr::addr_of!(MODULE_CTX) as _,
    commands: ptr::addr_of_mut!(COMMANDS) as *mut ngx_command_t,
    type_: NGX_HTTP_MODULE as _,
    init_process: Some(init_process),
    exit_process: Some(exit_process),
    ..ngx_module_t::default()
};

/// This module's configuration for the request's location.
///
/// # Safety
/// `r` must be a valid request.
pub(crate) unsafe fn loc_conf<'a>(r: *const ngx_http_request_t) -> Option<&'a LocConf> {
    let index = (*ptr::addr_of!(ngx_http_sso_module)).ctx_index;
    let confs = (*r).loc_conf;
    if confs.is_null() {
        return None;
    }
    let conf = *confs.add(index) as *const LocConf;
    conf.as_ref()
}

unsafe extern "C" fn create_loc_conf(cf: *mut ngx_conf_t) -> *mut c_void {
    let pool = Pool::from_ngx_pool((*cf).pool);
    // allocate() registers a pool cleanup that drops the value with the configuration.
    pool.allocate(LocConf::default()) as *mut c_void
}

unsafe extern "C" fn preconfiguration(cf: *mut ngx_conf_t) -> ngx_int_t {
    guard::catch(
        (*cf).log,
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
        (*cf).log,
        "postconfiguration",
        Status::NGX_ERROR.into(),
        || {
            // SAFETY: called by nginx with a valid cf during http{} configuration.
            unsafe { register_handlers(cf) }
        },
    )
}

unsafe fn register_handlers(cf: *mut ngx_conf_t) -> ngx_int_t {
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
    // The shared zone (used login flows, README "Security").
    if state::register(cf) != Status::NGX_OK.0 {
        return Status::NGX_ERROR.into();
    }
    #[cfg(feature = "selftest")]
    if net::selftest::postconfiguration(cf, cmcf) != Status::NGX_OK.0 {
        return Status::NGX_ERROR.into();
    }
    Status::NGX_OK.into()
}

/// Worker start (also single-process mode; never the master, never `nginx -t`): the
/// background-job notifier, then one key fetcher per provider.
unsafe extern "C" fn init_process(cycle: *mut ngx::ffi::ngx_cycle_t) -> ngx_int_t {
    guard::catch((*cycle).log, "init_process", Status::NGX_OK.into(), || {
        // SAFETY: nginx calls init_process on its thread with the worker's cycle.
        unsafe {
            let rc = net::wake::init_process(cycle);
            state::init_process(cycle);
            net::fetcher::init_process(cycle);
            rc
        }
    })
}

unsafe extern "C" fn exit_process(cycle: *mut ngx::ffi::ngx_cycle_t) {
    guard::catch((*cycle).log, "exit_process", (), || {
        net::fetcher::exit_process();
        state::exit_process();
        // SAFETY: nginx calls exit_process on its thread.
        unsafe { net::wake::exit_process() };
    })
}

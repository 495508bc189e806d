//! `sso_status;` (README "Directives" → "sso_status"), `location` only: the location
//! answers with the module's counters (`status.rs`).

use std::ffi::{c_char, c_void};

use ngx::core::{NGX_CONF_ERROR, NGX_CONF_OK};
use ngx::ffi::{ngx_command_t, ngx_conf_t, NGX_CONF_NOARGS, NGX_HTTP_LOC_CONF};
use ngx::http::{HttpModuleLocationConf, NgxHttpCoreModule};
use ngx::ngx_string;

use super::command;

/// This family's entries of the module's command table.
pub const COMMANDS: [ngx_command_t; 1] = [command(
    ngx_string!("sso_status"),
    NGX_HTTP_LOC_CONF | NGX_CONF_NOARGS,
    set_status,
)];

extern "C" fn set_status(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    // SAFETY: nginx calls directive handlers with a valid cf.
    let log = unsafe { (*cf).log };
    crate::guard::catch(log, "sso_status", NGX_CONF_ERROR, || {
        // SAFETY: nginx passes the configuration being parsed, in a location.
        match unsafe { NgxHttpCoreModule::location_conf_mut(&*cf) } {
            Some(clcf) => {
                clcf.handler = Some(crate::status::handler);
                // SAFETY: nginx passes this location's LocConf (NGX_HTTP_LOC_CONF_OFFSET).
                unsafe { (*(conf as *mut super::LocConf)).status = true };
                NGX_CONF_OK
            }
            None => NGX_CONF_ERROR,
        }
    })
}

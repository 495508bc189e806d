//! The shared zone (README "Directives" → "Shared zone"): `sso_shared_zone
//! zone=NAME:SIZE [state=FILE];`, `http` only. The zone itself is `state/`; this only
//! records what was asked for, at the `http` level, where `state::register` reads it.

use ngx::ffi::{ngx_command_t, ngx_str_t, NGX_CONF_TAKE12, NGX_HTTP_MAIN_CONF};
use ngx::ngx_string;

use super::{command, directive_handler, set_once, Directive, LocConf};
use crate::state::{ZoneSpec, MIN_ZONE_SIZE};

/// This family's entries of the module's command table.
pub const COMMANDS: [ngx_command_t; 1] = [command(
    ngx_string!("sso_shared_zone"),
    NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE12,
    set_shared_zone,
)];

/// A size in nginx syntax (`512k`, `10m`), in bytes.
fn parse_size(v: &str) -> Option<usize> {
    let mut raw = ngx_str_t {
        len: v.len(),
        data: v.as_ptr() as *mut u8,
    };
    // SAFETY: ngx_parse_size only reads `len` bytes of `data`.
    let n = unsafe { ngx::ffi::ngx_parse_size(&mut raw) };
    usize::try_from(n).ok()
}

fn shared_zone(d: &Directive<'_>, conf: &mut LocConf) -> Result<(), String> {
    let mut spec: Option<(String, usize)> = None;
    let mut state_file = None;
    for arg in &d.args {
        if let Some(v) = arg.strip_prefix("zone=") {
            let Some((name, size)) = v.rsplit_once(':') else {
                return Err(format!(
                    "invalid zone \"{}\", it must be NAME:SIZE",
                    v.escape_debug()
                ));
            };
            if name.is_empty()
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
            {
                return Err(format!("invalid zone name \"{}\"", name.escape_debug()));
            }
            let Some(bytes) = parse_size(size) else {
                return Err(format!("invalid zone size \"{}\"", size.escape_debug()));
            };
            if bytes < MIN_ZONE_SIZE {
                return Err(format!(
                    "zone \"{name}\" is too small: \"{size}\", at least 64k"
                ));
            }
            spec = Some((name.to_owned(), bytes));
        } else if let Some(path) = arg.strip_prefix("state=") {
            if path.is_empty() {
                return Err("empty state file".to_owned());
            }
            state_file = Some(d.full_path(path)?);
        } else {
            return Err(format!("invalid parameter \"{}\"", arg.escape_debug()));
        }
    }
    let Some((name, size)) = spec else {
        return Err("zone=NAME:SIZE is required".to_owned());
    };
    set_once(
        &mut conf.shared_zone,
        ZoneSpec {
            name,
            size,
            state_file,
        },
    )
}
directive_handler!(set_shared_zone, shared_zone);

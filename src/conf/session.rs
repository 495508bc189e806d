//! Sessions: `sso_session_secret_file`, `sso_session_cookie`, `sso_session_lifetime`,
//! `sso_cookie_domain`, `sso_jwt_header`, `sso_session_idle_timeout`, `sso_session_refresh`.

use std::sync::Arc;

use ngx::ffi::{ngx_command_t, NGX_CONF_TAKE1};
use ngx::ngx_string;
use sso_core::session::SessionKeys;

use super::token::is_cookie_name;
use super::{
    command, directive_handler, one_arg, parse_flag, parse_time_secs, set_once, Directive, LocConf,
    ANY_CONF,
};

/// This family's entries of the module's command table (README "Directives" → "Sessions").
pub const COMMANDS: [ngx_command_t; 7] = [
    command(
        ngx_string!("sso_session_secret_file"),
        ANY_CONF | NGX_CONF_TAKE1,
        set_session_secret_file,
    ),
    command(
        ngx_string!("sso_session_cookie"),
        ANY_CONF | NGX_CONF_TAKE1,
        set_session_cookie,
    ),
    command(
        ngx_string!("sso_session_lifetime"),
        ANY_CONF | NGX_CONF_TAKE1,
        set_session_lifetime,
    ),
    command(
        ngx_string!("sso_cookie_domain"),
        ANY_CONF | NGX_CONF_TAKE1,
        set_cookie_domain,
    ),
    command(
        ngx_string!("sso_jwt_header"),
        ANY_CONF | NGX_CONF_TAKE1,
        set_jwt_header,
    ),
    command(
        ngx_string!("sso_session_idle_timeout"),
        ANY_CONF | NGX_CONF_TAKE1,
        set_session_idle_timeout,
    ),
    command(
        ngx_string!("sso_session_refresh"),
        ANY_CONF | NGX_CONF_TAKE1,
        set_session_refresh,
    ),
];

fn cookie_domain(d: &Directive<'_>, conf: &mut LocConf) -> Result<(), String> {
    let v = one_arg(d)?;
    let domain = v.strip_prefix('.').unwrap_or(v).to_ascii_lowercase();
    let valid_label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if domain.len() > 253 || !domain.split('.').all(valid_label) {
        return Err(format!("invalid domain \"{}\"", v.escape_debug()));
    }
    set_once(&mut conf.cookie_domain, domain)
}
directive_handler!(set_cookie_domain, cookie_domain);

fn session_secret_file(d: &Directive<'_>, conf: &mut LocConf) -> Result<(), String> {
    let file = d.read_file(one_arg(d)?)?;
    let keys = SessionKeys::parse(&file.bytes).map_err(|e| format!("\"{}\": {e}", file.path))?;
    set_once(&mut conf.session_keys_file, Arc::new(keys))
}
directive_handler!(set_session_secret_file, session_secret_file);

fn session_cookie(d: &Directive<'_>, conf: &mut LocConf) -> Result<(), String> {
    let v = one_arg(d)?;
    if !is_cookie_name(v) {
        return Err(format!("invalid cookie name \"{}\"", v.escape_debug()));
    }
    set_once(&mut conf.session_cookie, v.to_owned())
}
directive_handler!(set_session_cookie, session_cookie);

fn session_lifetime(d: &Directive<'_>, conf: &mut LocConf) -> Result<(), String> {
    let v = one_arg(d)?;
    let secs = parse_time_secs(v)?;
    if secs < 60 {
        return Err(format!("\"{v}\" is shorter than 1m"));
    }
    set_once(&mut conf.session_lifetime, secs)
}
directive_handler!(set_session_lifetime, session_lifetime);

fn jwt_header(d: &Directive<'_>, conf: &mut LocConf) -> Result<(), String> {
    set_once(&mut conf.jwt_header, parse_flag(d)?)
}
directive_handler!(set_jwt_header, jwt_header);

/// `TIME | off`; at least `1s` (sessions are timed in whole seconds).
fn session_idle_timeout(d: &Directive<'_>, conf: &mut LocConf) -> Result<(), String> {
    let v = one_arg(d)?;
    let secs = if v.eq_ignore_ascii_case("off") {
        0
    } else {
        match parse_time_secs(v)? {
            0 => return Err(format!("\"{v}\" is shorter than 1s")),
            secs => secs,
        }
    };
    set_once(&mut conf.session_idle_timeout, secs)
}
directive_handler!(set_session_idle_timeout, session_idle_timeout);
/// `sso_session_refresh TIME | off`: stored as seconds, 0 for `off` (README "Session
/// lifecycle").
fn session_refresh(d: &Directive<'_>, conf: &mut LocConf) -> Result<(), String> {
    let v = one_arg(d)?;
    let secs = if v == "off" {
        0
    } else {
        let secs = parse_time_secs(v)?;
        if secs < 1 {
            return Err(format!("\"{v}\" is shorter than 1s"));
        }
        secs
    };
    set_once(&mut conf.session_refresh, secs)
}
directive_handler!(set_session_refresh, session_refresh);

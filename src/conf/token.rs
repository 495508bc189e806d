//! Tokens: `sso_jwks_file`, `sso_bearer`, `sso_token_cookie`, `sso_audience`, `sso_leeway`.

use std::sync::Arc;

use ngx::ffi::{ngx_command_t, NGX_CONF_1MORE, NGX_CONF_FLAG, NGX_CONF_TAKE1};
use ngx::ngx_string;
use sso_core::jwks::KeySet;

use super::{
    command, directive_handler, one_arg, parse_flag, parse_time_secs, set_once, Directive, LocConf,
    ANY_CONF,
};

/// This family's entries of the module's command table (README "Directives" → "Tokens").
pub const COMMANDS: [ngx_command_t; 5] = [
    command(
        ngx_string!("sso_jwks_file"),
        ANY_CONF | NGX_CONF_TAKE1,
        set_jwks_file,
    ),
    command(
        ngx_string!("sso_bearer"),
        ANY_CONF | NGX_CONF_FLAG,
        set_bearer,
    ),
    command(
        ngx_string!("sso_token_cookie"),
        ANY_CONF | NGX_CONF_TAKE1,
        set_token_cookie,
    ),
    command(
        ngx_string!("sso_audience"),
        ANY_CONF | NGX_CONF_1MORE,
        set_audience,
    ),
    command(
        ngx_string!("sso_leeway"),
        ANY_CONF | NGX_CONF_TAKE1,
        set_leeway,
    ),
];

fn jwks_file(d: &Directive<'_>, conf: &mut LocConf) -> Result<(), String> {
    let file = d.read_file(one_arg(d)?)?;
    let keys = KeySet::from_jwks(&file.bytes).map_err(|e| format!("\"{}\": {e}", file.path))?;
    set_once(&mut conf.jwks_file, Arc::new(keys))
}
directive_handler!(set_jwks_file, jwks_file);

fn bearer(d: &Directive<'_>, conf: &mut LocConf) -> Result<(), String> {
    let v = parse_flag(d)?;
    set_once(&mut conf.bearer, v)
}
directive_handler!(set_bearer, bearer);

fn token_cookie(d: &Directive<'_>, conf: &mut LocConf) -> Result<(), String> {
    let v = one_arg(d)?;
    if !is_cookie_name(v) {
        return Err(format!("invalid cookie name \"{}\"", v.escape_debug()));
    }
    set_once(&mut conf.token_cookie, v.to_owned())
}
directive_handler!(set_token_cookie, token_cookie);

/// RFC 6265 cookie-name: an RFC 7230 token.
pub fn is_cookie_name(v: &str) -> bool {
    !v.is_empty()
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn audience(d: &Directive<'_>, conf: &mut LocConf) -> Result<(), String> {
    if d.args.is_empty() || d.args.iter().any(|a| a.is_empty()) {
        return Err("takes one or more non-empty audiences".to_owned());
    }
    let list = d.args.iter().map(|s| (*s).to_owned()).collect();
    set_once(&mut conf.audience, list)
}
directive_handler!(set_audience, audience);

fn leeway(d: &Directive<'_>, conf: &mut LocConf) -> Result<(), String> {
    let v = one_arg(d)?;
    let secs = parse_time_secs(v)?;
    if secs > 3600 {
        return Err(format!("\"{v}\" is more than 1h of clock skew"));
    }
    set_once(&mut conf.leeway, secs)
}
directive_handler!(set_leeway, leeway);

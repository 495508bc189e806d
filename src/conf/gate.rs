//! The gate (README "Directives" → "Gate"): `sso_protect`, `sso_unauthenticated_paths`,
//! `sso_unauthenticated_urls`, `sso_outpost_prefix`, `sso_login_url`, `sso_identity_headers`,
//! `sso_app`, `sso_require_group`, `sso_require_claim`, `sso_basic_auth_attributes`.

use std::sync::Arc;

use ngx::ffi::{ngx_command_t, NGX_CONF_1MORE, NGX_CONF_FLAG, NGX_CONF_TAKE1, NGX_CONF_TAKE2};
use ngx::ngx_string;
use sso_core::paths::PatternSet;
use sso_core::rules::{BasicAttributes, ClaimRule};

use super::{
    command, directive_handler, one_arg, parse_flag, set_once, Directive, LocConf, ANY_CONF,
};

/// This family's entries of the module's command table (README "Directives" → "Gate").
pub const COMMANDS: [ngx_command_t; 10] = [
    command(
        ngx_string!("sso_protect"),
        ANY_CONF | NGX_CONF_FLAG,
        set_protect,
    ),
    command(
        ngx_string!("sso_unauthenticated_paths"),
        ANY_CONF | NGX_CONF_1MORE,
        set_unauthenticated_paths,
    ),
    command(
        ngx_string!("sso_unauthenticated_urls"),
        ANY_CONF | NGX_CONF_1MORE,
        set_unauthenticated_urls,
    ),
    command(
        ngx_string!("sso_outpost_prefix"),
        ANY_CONF | NGX_CONF_TAKE1,
        set_outpost_prefix,
    ),
    command(
        ngx_string!("sso_login_url"),
        ANY_CONF | NGX_CONF_TAKE1,
        set_login_url,
    ),
    command(
        ngx_string!("sso_identity_headers"),
        ANY_CONF | NGX_CONF_FLAG,
        set_identity_headers,
    ),
    command(ngx_string!("sso_app"), ANY_CONF | NGX_CONF_TAKE1, set_app),
    command(
        ngx_string!("sso_require_group"),
        ANY_CONF | NGX_CONF_1MORE,
        set_require_group,
    ),
    // 1MORE, not 2MORE: a rule without values gets this module's message, not nginx's.
    command(
        ngx_string!("sso_require_claim"),
        ANY_CONF | NGX_CONF_1MORE,
        set_require_claim,
    ),
    command(
        ngx_string!("sso_basic_auth_attributes"),
        ANY_CONF | NGX_CONF_TAKE2,
        set_basic_auth_attributes,
    ),
];

fn protect(d: &Directive<'_>, conf: &mut LocConf) -> Result<(), String> {
    let v = parse_flag(d)?;
    set_once(&mut conf.protect, v)
}
directive_handler!(set_protect, protect);

fn identity_headers(d: &Directive<'_>, conf: &mut LocConf) -> Result<(), String> {
    let v = parse_flag(d)?;
    set_once(&mut conf.identity_headers, v)
}
directive_handler!(set_identity_headers, identity_headers);

/// Repeatable: every occurrence in one context adds its patterns; a nested context that has
/// its own replaces the inherited list (like `proxy_set_header`).
fn add_patterns(d: &Directive<'_>, slot: &mut Option<Arc<PatternSet>>) -> Result<(), String> {
    if d.args.is_empty() {
        return Err("takes at least one regex".to_owned());
    }
    let mut patterns: Vec<String> = slot
        .as_ref()
        .map(|set| set.patterns().to_vec())
        .unwrap_or_default();
    patterns.extend(d.args.iter().map(|s| (*s).to_owned()));
    let set = PatternSet::new(&patterns).map_err(|e| e.to_string())?;
    *slot = Some(Arc::new(set));
    Ok(())
}

fn unauthenticated_paths(d: &Directive<'_>, conf: &mut LocConf) -> Result<(), String> {
    add_patterns(d, &mut conf.unauthenticated_paths)
}
directive_handler!(set_unauthenticated_paths, unauthenticated_paths);

fn unauthenticated_urls(d: &Directive<'_>, conf: &mut LocConf) -> Result<(), String> {
    add_patterns(d, &mut conf.unauthenticated_urls)
}
directive_handler!(set_unauthenticated_urls, unauthenticated_urls);

fn outpost_prefix(d: &Directive<'_>, conf: &mut LocConf) -> Result<(), String> {
    let v = one_arg(d)?;
    if !v.starts_with('/') || v.starts_with("//") {
        return Err(format!(
            "invalid prefix \"{v}\", it must start with a single \"/\""
        ));
    }
    if v.len() > 1 && v.ends_with('/') {
        return Err(format!(
            "invalid prefix \"{v}\", it must not end with \"/\""
        ));
    }
    if v.bytes()
        .any(|b| b.is_ascii_control() || b == b' ' || b == b'?' || b == b'#')
    {
        return Err(format!("invalid prefix \"{}\"", v.escape_debug()));
    }
    let v = if v == "/" { "" } else { v };
    set_once(&mut conf.outpost_prefix, v.to_owned())
}
directive_handler!(set_outpost_prefix, outpost_prefix);

fn login_url(d: &Directive<'_>, conf: &mut LocConf) -> Result<(), String> {
    let v = one_arg(d)?;
    let absolute = sso_core::decide::is_absolute_url(v);
    if !absolute && (!v.starts_with('/') || v.starts_with("//")) {
        return Err(format!(
            "invalid URL \"{v}\", it must be an http(s) URL or a path starting with \"/\""
        ));
    }
    if v.bytes()
        .any(|b| b.is_ascii_control() || b == b' ' || b == b'#')
    {
        return Err(format!("invalid URL \"{}\"", v.escape_debug()));
    }
    set_once(&mut conf.login_url, v.to_owned())
}
directive_handler!(set_login_url, login_url);

fn app(d: &Directive<'_>, conf: &mut LocConf) -> Result<(), String> {
    let v = one_arg(d)?;
    if v.bytes().any(|b| b.is_ascii_control()) {
        return Err(format!("invalid name \"{}\"", v.escape_debug()));
    }
    set_once(&mut conf.app, v.to_owned())
}
directive_handler!(set_app, app);

fn require_group(d: &Directive<'_>, conf: &mut LocConf) -> Result<(), String> {
    if d.args.is_empty() || d.args.iter().any(|a| a.is_empty()) {
        return Err("takes one or more group names".to_owned());
    }
    let list = conf.require_groups.get_or_insert_with(Vec::new);
    list.extend(d.args.iter().map(|s| (*s).to_owned()));
    Ok(())
}
directive_handler!(set_require_group, require_group);

/// Repeatable: each directive is one rule and they all must hold; a nested context with
/// rules of its own replaces the inherited ones (like `sso_require_group`).
fn require_claim(d: &Directive<'_>, conf: &mut LocConf) -> Result<(), String> {
    let rule = ClaimRule::parse(&d.args).map_err(|e| e.to_string())?;
    conf.require_claims
        .get_or_insert_with(Default::default)
        .push(rule);
    Ok(())
}
directive_handler!(set_require_claim, require_claim);

fn basic_auth_attributes(d: &Directive<'_>, conf: &mut LocConf) -> Result<(), String> {
    let [user, password] = d.args[..] else {
        return Err("takes a user attribute and a password attribute".to_owned());
    };
    if user.is_empty() || password.is_empty() {
        return Err("an attribute name is empty".to_owned());
    }
    set_once(
        &mut conf.basic_auth,
        BasicAttributes {
            user: user.to_owned(),
            password: password.to_owned(),
        },
    )
}
directive_handler!(set_basic_auth_attributes, basic_auth_attributes);

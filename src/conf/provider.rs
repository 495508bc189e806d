//! The identity provider (README "Directives" → "Provider"): `sso_issuer`,
//! `sso_backchannel_url`, `sso_trusted_certificate`, `sso_client_id`, `sso_client_secret`,
//! `sso_client_secret_file`, `sso_scopes`, `sso_redirect_uri`,
//! `sso_post_logout_redirect_uri`. The provider's fetcher itself is registered at merge time
//! (`LocConf::merge`, `net::fetcher`).

use std::sync::Arc;

use ngx::ffi::{ngx_command_t, NGX_CONF_1MORE, NGX_CONF_TAKE1};
use ngx::ngx_string;
use sso_core::jwks::Secret;

use super::{command, directive_handler, one_arg, set_once, Directive, LocConf, ANY_CONF};

/// This family's entries of the module's command table (README "Directives" → "Provider").
pub const COMMANDS: [ngx_command_t; 9] = [
    command(
        ngx_string!("sso_issuer"),
        ANY_CONF | NGX_CONF_TAKE1,
        set_issuer,
    ),
    command(
        ngx_string!("sso_backchannel_url"),
        ANY_CONF | NGX_CONF_TAKE1,
        set_backchannel_url,
    ),
    command(
        ngx_string!("sso_trusted_certificate"),
        ANY_CONF | NGX_CONF_TAKE1,
        set_trusted_certificate,
    ),
    command(
        ngx_string!("sso_client_id"),
        ANY_CONF | NGX_CONF_TAKE1,
        set_client_id,
    ),
    command(
        ngx_string!("sso_client_secret"),
        ANY_CONF | NGX_CONF_TAKE1,
        set_client_secret,
    ),
    command(
        ngx_string!("sso_client_secret_file"),
        ANY_CONF | NGX_CONF_TAKE1,
        set_client_secret_file,
    ),
    command(
        ngx_string!("sso_scopes"),
        ANY_CONF | NGX_CONF_1MORE,
        set_scopes,
    ),
    command(
        ngx_string!("sso_redirect_uri"),
        ANY_CONF | NGX_CONF_TAKE1,
        set_redirect_uri,
    ),
    command(
        ngx_string!("sso_post_logout_redirect_uri"),
        ANY_CONF | NGX_CONF_TAKE1,
        set_post_logout_redirect_uri,
    ),
];

fn issuer(d: &Directive<'_>, conf: &mut LocConf) -> Result<(), String> {
    let v = one_arg(d)?;
    if !sso_core::decide::is_absolute_url(v) {
        return Err(format!(
            "invalid URL \"{v}\", it must start with https:// or http://"
        ));
    }
    if v.bytes()
        .any(|b| b.is_ascii_control() || b == b' ' || b == b'?' || b == b'#')
    {
        return Err(format!("invalid URL \"{}\"", v.escape_debug()));
    }
    set_once(&mut conf.issuer, v.to_owned())
}
directive_handler!(set_issuer, issuer);

fn client_id(d: &Directive<'_>, conf: &mut LocConf) -> Result<(), String> {
    let v = one_arg(d)?;
    set_once(&mut conf.client_id, v.to_owned())
}
directive_handler!(set_client_id, client_id);

fn client_secret(d: &Directive<'_>, conf: &mut LocConf) -> Result<(), String> {
    let v = one_arg(d)?;
    set_once(&mut conf.client_secret, Arc::new(Secret::new(v.as_bytes())))
        .map_err(|_| "is duplicate (or sso_client_secret_file is set too)".to_owned())
}
directive_handler!(set_client_secret, client_secret);

fn client_secret_file(d: &Directive<'_>, conf: &mut LocConf) -> Result<(), String> {
    let file = d.read_file(one_arg(d)?)?;
    let (path, mut bytes) = (file.path, file.bytes);
    while bytes.last().is_some_and(|b| b.is_ascii_whitespace()) {
        bytes.pop();
    }
    if bytes.is_empty() {
        return Err(format!("\"{path}\" is empty"));
    }
    set_once(&mut conf.client_secret, Arc::new(Secret::new(bytes)))
        .map_err(|_| "is duplicate (or sso_client_secret is set too)".to_owned())
}
directive_handler!(set_client_secret_file, client_secret_file);

fn backchannel_url(d: &Directive<'_>, conf: &mut LocConf) -> Result<(), String> {
    let v = one_arg(d)?;
    let origin = sso_core::flow::parse_backchannel_origin(v)
        .map_err(|e| format!("invalid URL \"{}\": {e}", v.escape_debug()))?;
    set_once(&mut conf.backchannel, Arc::new(origin))
}
directive_handler!(set_backchannel_url, backchannel_url);

fn trusted_certificate(d: &Directive<'_>, conf: &mut LocConf) -> Result<(), String> {
    // The workers read the file again (building the HTTP client): by its full path.
    let file = d.read_file(one_arg(d)?)?;
    if !file
        .bytes
        .windows(27)
        .any(|w| w == b"-----BEGIN CERTIFICATE-----")
    {
        return Err(format!("\"{}\" holds no PEM certificate", file.path));
    }
    set_once(&mut conf.trusted_certificate, file.path)
}
directive_handler!(set_trusted_certificate, trusted_certificate);

fn scopes(d: &Directive<'_>, conf: &mut LocConf) -> Result<(), String> {
    if d.args.is_empty() {
        return Err("takes one or more scopes".to_owned());
    }
    for s in &d.args {
        // RFC 6749 §3.3 scope-token: %x21 / %x23-5B / %x5D-7E
        if s.is_empty()
            || !s
                .bytes()
                .all(|b| b == 0x21 || (0x23..=0x7e).contains(&b) && b != b'\\')
        {
            return Err(format!("invalid scope \"{}\"", s.escape_debug()));
        }
    }
    if !d.args.contains(&"openid") {
        return Err("the scopes must include \"openid\"".to_owned());
    }
    set_once(&mut conf.scopes, d.args.join(" "))
}
directive_handler!(set_scopes, scopes);

/// An absolute http(s) URL or a path starting with exactly one `/`.
fn url_or_path(v: &str) -> Result<(), String> {
    let absolute = sso_core::decide::is_absolute_url(v);
    if (!absolute && (!v.starts_with('/') || v.starts_with("//")))
        || v.bytes()
            .any(|b| b.is_ascii_control() || b == b' ' || b == b'#')
    {
        return Err(format!(
            "invalid URI \"{}\", it must be an http(s) URL or a path starting with \"/\"",
            v.escape_debug()
        ));
    }
    Ok(())
}

fn redirect_uri(d: &Directive<'_>, conf: &mut LocConf) -> Result<(), String> {
    let v = one_arg(d)?;
    url_or_path(v)?;
    set_once(&mut conf.redirect_uri, v.to_owned())
}
directive_handler!(set_redirect_uri, redirect_uri);

fn post_logout_redirect_uri(d: &Directive<'_>, conf: &mut LocConf) -> Result<(), String> {
    let v = one_arg(d)?;
    url_or_path(v)?;
    set_once(&mut conf.post_logout_redirect_uri, v.to_owned())
}
directive_handler!(set_post_logout_redirect_uri, post_logout_redirect_uri);

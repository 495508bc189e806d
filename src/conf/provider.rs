//! The identity provider: `sso_issuer`, `sso_client_id`, `sso_client_secret`,
//! `sso_client_secret_file` (more arrive with the login flow: backchannel, CA file, scopes,
//! redirect URI).

use std::sync::Arc;

use sso_core::jwks::Secret;

use super::{directive_handler, one_arg, read_config_file, set_once, Directive, LocConf};

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
    let path = one_arg(d)?;
    let mut bytes = read_config_file(path)?;
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

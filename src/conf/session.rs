//! Sessions: `sso_cookie_domain` (more with the login flow: secret files, cookie name,
//! lifetime).

use super::{directive_handler, one_arg, set_once, Directive, LocConf};

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

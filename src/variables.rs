//! The `$sso_*` variables (README "Variables"), usable in `log_format`, `proxy_set_header`, `map`, `if`.
//!
//! Values come from what the ACCESS handler left on the request ([`crate::context`]); before
//! it runs, or in an unprotected location, they are empty.

use ngx::core::Status;
use ngx::ffi::{
    ngx_conf_t, ngx_http_add_variable, ngx_http_request_t, ngx_http_variable_value_t, ngx_int_t,
    ngx_str_t, NGX_HTTP_VAR_NOCACHEABLE, NGX_HTTP_VAR_PREFIX,
};
use ngx::ngx_string;

use sso_core::identity::header_value;

use crate::context::{self, Authenticated, RequestCtx};
use crate::guard;
use crate::headers::bytes;

#[derive(Clone, Copy)]
#[repr(usize)]
enum Var {
    User,
    Email,
    Name,
    Uid,
    Groups,
    Entitlements,
    AuthMethod,
    Reason,
    BackendOverride,
    SessionExpires,
    Sid,
}

const CLAIM_PREFIX: &str = "sso_claim_";

/// Registers the variables; called from `preconfiguration`.
///
/// # Safety
/// `cf` must be the configuration being parsed.
pub unsafe fn register(cf: *mut ngx_conf_t) -> ngx_int_t {
    // SAFETY: the caller guarantees what the `# Safety` section above asks.
    unsafe {
        let vars: [(ngx_str_t, Var); 11] = [
            (ngx_string!("sso_user"), Var::User),
            (ngx_string!("sso_email"), Var::Email),
            (ngx_string!("sso_name"), Var::Name),
            (ngx_string!("sso_uid"), Var::Uid),
            (ngx_string!("sso_groups"), Var::Groups),
            (ngx_string!("sso_entitlements"), Var::Entitlements),
            (ngx_string!("sso_auth_method"), Var::AuthMethod),
            (ngx_string!("sso_reason"), Var::Reason),
            (ngx_string!("sso_backend_override"), Var::BackendOverride),
            (ngx_string!("sso_session_expires"), Var::SessionExpires),
            (ngx_string!("sso_sid"), Var::Sid),
        ];
        for (mut name, which) in vars {
            let v = ngx_http_add_variable(cf, &mut name, NGX_HTTP_VAR_NOCACHEABLE as _);
            if v.is_null() {
                return Status::NGX_ERROR.into();
            }
            (*v).get_handler = Some(get_variable);
            (*v).data = which as usize;
        }
        let mut prefix = ngx_string!("sso_claim_");
        let v = ngx_http_add_variable(
            cf,
            &mut prefix,
            (NGX_HTTP_VAR_NOCACHEABLE | NGX_HTTP_VAR_PREFIX) as _,
        );
        if v.is_null() {
            return Status::NGX_ERROR.into();
        }
        (*v).get_handler = Some(get_claim);
        (*v).data = 0;
        Status::NGX_OK.into()
    }
}

/// Copies `value` into the request pool and points the variable at it.
unsafe fn set_value(r: *mut ngx_http_request_t, v: *mut ngx_http_variable_value_t, value: &[u8]) {
    // SAFETY: every caller passes a valid request, on nginx's thread.
    unsafe {
        let Some(copy) = crate::headers::pool_str(r, value) else {
            (*v).set_not_found(1);
            return;
        };
        (*v).data = copy.data;
        (*v).set_len(copy.len as u32);
        (*v).set_valid(1);
        (*v).set_no_cacheable(1);
        (*v).set_not_found(0);
    }
}

fn value_of(ctx: Option<&RequestCtx>, which: Var) -> std::borrow::Cow<'_, str> {
    use std::borrow::Cow;
    let Some(ctx) = ctx else {
        return Cow::Borrowed("");
    };
    match which {
        Var::Reason => return Cow::Borrowed(ctx.reason),
        Var::AuthMethod => return Cow::Borrowed(ctx.method.map_or("", |m| m.as_str())),
        _ => {}
    }
    let Some(who) = &ctx.who else {
        return Cow::Borrowed("");
    };
    let id = who.identity();
    // Variables end up in headers (`proxy_set_header`): a value that cannot be sent as it
    // is reads empty, never rewritten (README "Security").
    fn exact(v: &str) -> Cow<'_, str> {
        Cow::Borrowed(header_value(v).unwrap_or(""))
    }
    match which {
        Var::User => exact(&id.username),
        Var::Email => exact(&id.email),
        Var::Name => exact(&id.name),
        Var::Uid => exact(&id.uid),
        Var::Groups => Cow::Owned(id.groups_joined()),
        Var::Entitlements => Cow::Owned(id.entitlements_joined()),
        Var::BackendOverride => exact(&id.backend_override),
        // When the session ends at the latest (`sso_session_lifetime`); empty for tokens.
        Var::SessionExpires => match who {
            Authenticated::Session(s) => Cow::Owned(s.exp.to_string()),
            Authenticated::Token { .. } => Cow::Borrowed(""),
        },
        // The provider's session id of a session (never the local id).
        Var::Sid => match who {
            crate::context::Authenticated::Session(s) => exact(s.sid.as_deref().unwrap_or("")),
            _ => Cow::Borrowed(""),
        },
        Var::Reason | Var::AuthMethod => Cow::Borrowed(""),
    }
}

unsafe extern "C" fn get_variable(
    r: *mut ngx_http_request_t,
    v: *mut ngx_http_variable_value_t,
    data: usize,
) -> ngx_int_t {
    // SAFETY: nginx passes a valid request.
    let log = unsafe { (*(*r).connection).log };
    guard::catch(log, "variable", Status::NGX_ERROR.into(), || {
        // SAFETY: nginx passes a valid request and value slot; `data` is a Var we stored.
        unsafe {
            let which = match data {
                0 => Var::User,
                1 => Var::Email,
                2 => Var::Name,
                3 => Var::Uid,
                4 => Var::Groups,
                5 => Var::Entitlements,
                6 => Var::AuthMethod,
                7 => Var::Reason,
                8 => Var::BackendOverride,
                9 => Var::SessionExpires,
                _ => Var::Sid,
            };
            let value = value_of(context::get(r), which);
            set_value(r, v, value.as_bytes());
        }
        Status::NGX_OK.into()
    })
}

unsafe extern "C" fn get_claim(
    r: *mut ngx_http_request_t,
    v: *mut ngx_http_variable_value_t,
    data: usize,
) -> ngx_int_t {
    // SAFETY: nginx passes a valid request.
    let log = unsafe { (*(*r).connection).log };
    guard::catch(log, "variable", Status::NGX_ERROR.into(), || {
        // SAFETY: for a prefix variable nginx passes the full variable name as `data`.
        unsafe {
            let full = data as *const ngx_str_t;
            let name = if full.is_null() {
                &[][..]
            } else {
                bytes(&*full)
            };
            let claim = name
                .get(CLAIM_PREFIX.len()..)
                .and_then(|n| std::str::from_utf8(n).ok())
                .unwrap_or("");
            let value = context::get(r)
                .and_then(|c| c.who.as_ref())
                .and_then(|w| w.claim(claim));
            match value {
                Some(value) => set_value(r, v, value.as_bytes()),
                None => (*v).set_not_found(1),
            }
        }
        Status::NGX_OK.into()
    })
}

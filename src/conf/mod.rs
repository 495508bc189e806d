//! Directive parsing, one file per directive family with its commands (README
//! "Directives"), and the merged per-location
//! configuration the request handlers read.
//!
//! Every directive is allowed in `http`, `server` and `location`; an unset value inherits from
//! the enclosing context. Invalid values fail `nginx -t` with
//! `[emerg] <directive>: <reason> in <file>:<line>`.

pub mod gate;
pub mod provider;
pub mod redis;
pub mod session;
pub mod status;
pub mod token;
pub mod zone;

use std::ffi::{c_char, c_void};
use std::ptr;
use std::sync::Arc;

use ngx::core::{NGX_CONF_ERROR, NGX_CONF_OK};
use ngx::ffi::{
    ngx_command_t, ngx_conf_t, ngx_http_request_t, ngx_str_t, NGX_HTTP_LOC_CONF,
    NGX_HTTP_MAIN_CONF, NGX_HTTP_SRV_CONF, NGX_LOG_EMERG,
};
use ngx::http::HttpModuleLocationConf;
use ngx::ngx_conf_log_error;
use sso_core::cache::SessionScope;
use sso_core::flow::BackchannelOrigin;
use sso_core::http_client::Trust;
use sso_core::identity::MetaHeaders;
use sso_core::jwks::{KeySet, Secret};
use sso_core::jwt::Verifier;
use sso_core::paths::PatternSet;
use sso_core::session::SessionKeys;

use crate::net::fetcher::{self, Provider, ProviderConfig};

use crate::{guard, Module};

/// The location configuration (also used at `http` and `server` level, then merged down).
#[derive(Default)]
pub struct LocConf {
    // gate.rs
    pub protect: Option<bool>,
    pub unauthenticated_paths: Option<Arc<PatternSet>>,
    pub unauthenticated_urls: Option<Arc<PatternSet>>,
    pub outpost_prefix: Option<String>,
    pub login_url: Option<String>,
    pub identity_headers: Option<bool>,
    pub app: Option<String>,
    pub require_groups: Option<Vec<String>>,
    pub require_claims: Option<sso_core::rules::ClaimRules>,
    pub basic_auth: Option<sso_core::rules::BasicAttributes>,
    // provider.rs
    pub issuer: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<Arc<Secret>>,
    pub backchannel: Option<Arc<BackchannelOrigin>>,
    pub trusted_certificate: Option<String>,
    pub scopes: Option<String>,
    pub redirect_uri: Option<String>,
    pub post_logout_redirect_uri: Option<String>,
    // token.rs
    pub jwks_file: Option<Arc<KeySet>>,
    pub bearer: Option<bool>,
    pub token_cookie: Option<String>,
    pub audience: Option<Vec<String>>,
    pub leeway: Option<u64>,
    // session.rs
    pub cookie_domain: Option<String>,
    pub session_keys_file: Option<Arc<SessionKeys>>,
    pub session_cookie: Option<String>,
    pub session_lifetime: Option<u64>,
    pub jwt_header: Option<bool>,
    /// `sso_session_idle_timeout` in seconds; 0 is `off`.
    pub session_idle_timeout: Option<u64>,
    /// `sso_session_refresh`: seconds, 0 = off.
    pub session_refresh: Option<u64>,
    // status.rs (this location only, never inherited)
    pub status: bool,
    // zone.rs (`http` level only, read by `state::register`; never inherited)
    pub shared_zone: Option<crate::state::ZoneSpec>,
    // redis.rs (`http` level only, read by `net::redis` at worker start; never inherited)
    pub redis: Option<Arc<redis::RedisSpec>>,

    // Resolved at merge time, never inherited as such.
    /// The effective login URL: `sso_login_url`, else `<prefix>/start`.
    pub effective_login_url: String,
    /// Whether the effective login URL is absolute (domain-level SSO).
    pub login_url_absolute: bool,
    /// The token checks of this context (issuer, audiences, leeway), with the static keys
    /// (`sso_jwks_file` and the client secret as an HMAC key) and their cache context.
    pub tokens: Option<Arc<TokenContext>>,
    /// What sessions are sealed and opened with (`SessionScope`): the keys
    /// (`sso_session_secret_file`, else derived from the client secret), the binding
    /// (`sso_core::session::binding`: client id and issuer, so a session minted for another
    /// client or another provider never opens here) and their cache context, computed once.
    /// None when there are no session keys (no sessions, no login).
    pub session_scope: Option<SessionScope>,
    /// The provider's discovery/JWKS fetcher, shared by every context with the same issuer,
    /// backchannel and trust settings.
    pub provider: Option<Arc<Provider>>,
    /// The four `X-authentik-meta-*` headers, rendered once. Without `sso_app`, app and
    /// provider are the request's host (`sso_core::identity::request_headers` says where).
    pub meta_headers: MetaHeaders,
}

/// How tokens are verified in one context; shared by the locations that inherit it. Which
/// of the key sets verify is `sso_core::jwks::verification_keys`' decision, per request.
pub struct TokenContext {
    pub verifier: Verifier,
    /// `sso_jwks_file`.
    pub jwks_file: Option<Arc<KeySet>>,
    /// The client secret as an HMAC key.
    pub client_secret: Option<Arc<KeySet>>,
}

pub const DEFAULT_OUTPOST_PREFIX: &str = "/outpost.goauthentik.io";

impl LocConf {
    pub fn protect(&self) -> bool {
        // A status location is never gated (README "Observability").
        self.protect.unwrap_or(false) && !self.status
    }

    pub fn identity_headers(&self) -> bool {
        self.identity_headers.unwrap_or(true)
    }

    pub fn bearer(&self) -> bool {
        self.bearer.unwrap_or(true)
    }

    pub fn leeway(&self) -> u64 {
        self.leeway.unwrap_or(30)
    }

    pub fn session_cookie(&self) -> &str {
        self.session_cookie.as_deref().unwrap_or("sso_session")
    }

    pub fn session_lifetime(&self) -> u64 {
        self.session_lifetime.unwrap_or(24 * 3600)
    }

    /// `sso_jwt_header`: send `X-authentik-jwt`, keep the ID token in sessions.
    pub fn jwt_header(&self) -> bool {
        self.jwt_header.unwrap_or(true)
    }

    /// `sso_session_idle_timeout` in seconds, None when `off`.
    pub fn session_idle_timeout(&self) -> Option<u64> {
        self.session_idle_timeout.filter(|&t| t > 0)
    }

    /// How long after the provider last vouched for a session it is refreshed; None: never.
    pub fn session_refresh(&self) -> Option<u64> {
        Some(self.session_refresh.unwrap_or(300)).filter(|&s| s > 0)
    }

    pub fn scopes(&self) -> &str {
        self.scopes.as_deref().unwrap_or("openid profile email")
    }

    /// The OAuth client id, also the app a session cookie is bound to.
    pub fn client_id(&self) -> &str {
        self.client_id.as_deref().unwrap_or("")
    }

    pub fn require_groups(&self) -> &[String] {
        self.require_groups.as_deref().unwrap_or(&[])
    }

    pub fn outpost_prefix(&self) -> &str {
        self.outpost_prefix
            .as_deref()
            .unwrap_or(DEFAULT_OUTPOST_PREFIX)
    }

    /// Fills unset values from the enclosing context and resolves derived values.
    fn merge(&mut self, prev: &LocConf, cf: *mut ngx_conf_t) -> Result<(), String> {
        fn inherit<T: Clone>(this: &mut Option<T>, prev: &Option<T>) {
            if this.is_none() {
                this.clone_from(prev);
            }
        }
        inherit(&mut self.protect, &prev.protect);
        inherit(&mut self.unauthenticated_paths, &prev.unauthenticated_paths);
        inherit(&mut self.unauthenticated_urls, &prev.unauthenticated_urls);
        inherit(&mut self.outpost_prefix, &prev.outpost_prefix);
        inherit(&mut self.login_url, &prev.login_url);
        inherit(&mut self.identity_headers, &prev.identity_headers);
        inherit(&mut self.cookie_domain, &prev.cookie_domain);
        inherit(&mut self.app, &prev.app);
        inherit(&mut self.require_groups, &prev.require_groups);
        inherit(&mut self.require_claims, &prev.require_claims);
        inherit(&mut self.basic_auth, &prev.basic_auth);
        inherit(&mut self.issuer, &prev.issuer);
        inherit(&mut self.client_id, &prev.client_id);
        inherit(&mut self.client_secret, &prev.client_secret);
        inherit(&mut self.jwks_file, &prev.jwks_file);
        inherit(&mut self.bearer, &prev.bearer);
        inherit(&mut self.token_cookie, &prev.token_cookie);
        inherit(&mut self.audience, &prev.audience);
        inherit(&mut self.leeway, &prev.leeway);
        inherit(&mut self.backchannel, &prev.backchannel);
        inherit(&mut self.trusted_certificate, &prev.trusted_certificate);
        inherit(&mut self.scopes, &prev.scopes);
        inherit(&mut self.redirect_uri, &prev.redirect_uri);
        inherit(
            &mut self.post_logout_redirect_uri,
            &prev.post_logout_redirect_uri,
        );
        inherit(&mut self.session_keys_file, &prev.session_keys_file);
        inherit(&mut self.session_cookie, &prev.session_cookie);
        inherit(&mut self.session_lifetime, &prev.session_lifetime);
        inherit(&mut self.jwt_header, &prev.jwt_header);
        inherit(&mut self.session_idle_timeout, &prev.session_idle_timeout);
        inherit(&mut self.session_refresh, &prev.session_refresh);

        self.effective_login_url = match &self.login_url {
            Some(url) => url.clone(),
            None => format!("{}/start", self.outpost_prefix()),
        };
        self.login_url_absolute = sso_core::decide::is_absolute_url(&self.effective_login_url);
        self.tokens = self.token_context(prev)?;
        let binding = sso_core::session::binding(
            self.client_id.as_deref().unwrap_or(""),
            self.issuer.as_deref().unwrap_or(""),
        );
        self.session_scope = self
            .session_keys(prev)?
            .map(|keys| SessionScope::new(keys, binding));
        self.provider = self.provider(prev, cf);
        self.meta_headers = MetaHeaders::new(self.app.as_deref(), crate::OUTPOST, crate::VERSION);
        Ok(())
    }

    /// Registers (or shares) the fetcher of this context's provider. Nothing is fetched at
    /// configuration time; the workers fetch in the background.
    fn provider(&self, prev: &LocConf, cf: *mut ngx_conf_t) -> Option<Arc<Provider>> {
        let issuer = self.issuer.clone()?;
        let config = ProviderConfig {
            issuer,
            backchannel: self.backchannel.as_deref().cloned(),
            trust: match &self.trusted_certificate {
                Some(path) => Trust::CaFile(path.into()),
                None => Trust::System,
            },
        };
        if let Some(p) = &prev.provider {
            if *p.config() == config {
                return Some(Arc::clone(p));
            }
        }
        if let Some(warning) = config.plain_http_warning() {
            ngx_conf_log_error!(ngx::ffi::NGX_LOG_WARN, cf, "{}", warning);
        }
        // SAFETY: cf is the configuration being merged.
        Some(fetcher::register(unsafe { (*cf).cycle }, config))
    }

    fn session_keys(&self, prev: &LocConf) -> Result<Option<Arc<SessionKeys>>, String> {
        if let Some(keys) = &self.session_keys_file {
            return Ok(Some(Arc::clone(keys)));
        }
        let Some(secret) = &self.client_secret else {
            return Ok(None);
        };
        // Derived keys are shared with the parent when the secret is the same one.
        if prev.session_keys_file.is_none()
            && prev
                .client_secret
                .as_ref()
                .is_some_and(|p| Arc::ptr_eq(p, secret))
        {
            if let Some(scope) = &prev.session_scope {
                return Ok(Some(scope.shared_keys()));
            }
        }
        SessionKeys::derive_from_client_secret(secret.expose())
            .map(|k| Some(Arc::new(k)))
            .map_err(|e| format!("sso_client_secret: {e}"))
    }

    /// The token context: the parent's when nothing token-related changed here (so
    /// locations share one verifier and one cache key space), else a new one.
    fn token_context(&self, prev: &LocConf) -> Result<Option<Arc<TokenContext>>, String> {
        let audiences = match (&self.audience, &self.client_id) {
            (Some(list), _) => list.clone(),
            (None, Some(id)) => vec![id.clone()],
            (None, None) => Vec::new(),
        };
        let verifier = Verifier::new(self.issuer.clone(), audiences, self.leeway());
        let jwks_file = self.jwks_file.clone();
        let client_secret = match &self.client_secret {
            Some(secret) => Some(Arc::new(
                KeySet::from_client_secret(secret)
                    .map_err(|e| format!("sso_client_secret: {e}"))?,
            )),
            None => None,
        };
        let fingerprint = |k: &Option<Arc<KeySet>>| k.as_ref().map(|k| k.fingerprint());
        if let Some(parent) = &prev.tokens {
            if parent.verifier == verifier
                && fingerprint(&parent.jwks_file) == fingerprint(&jwks_file)
                && fingerprint(&parent.client_secret) == fingerprint(&client_secret)
            {
                return Ok(Some(Arc::clone(parent)));
            }
        }
        Ok(Some(Arc::new(TokenContext {
            verifier,
            jwks_file,
            client_secret,
        })))
    }
}

/// What a directive handler gets: the directive's arguments as UTF-8, and the
/// configuration being parsed (for [`Directive::read_file`]).
pub struct Directive<'a> {
    pub args: Vec<&'a str>,
    cf: *mut ngx_conf_t,
}

/// Wraps a directive handler: decodes arguments, catches panics, logs `[emerg]` errors.
pub fn run_directive(
    cf: *mut ngx_conf_t,
    conf: *mut c_void,
    f: fn(&Directive<'_>, &mut LocConf) -> Result<(), String>,
) -> *mut c_char {
    // SAFETY: nginx calls directive handlers with a valid cf whose log is set.
    let log = unsafe { (*cf).log };
    let result = guard::catch(log, "directive", Err("internal error".to_owned()), || {
        // SAFETY: cf->args is an array of ngx_str_t with at least the directive name; conf
        // points at our LocConf (NGX_HTTP_LOC_CONF_OFFSET, created by create_loc_conf).
        let raw: &[ngx_str_t] = unsafe { (*(*cf).args).as_slice() };
        let conf = unsafe { &mut *(conf as *mut LocConf) };
        let mut strs = Vec::with_capacity(raw.len());
        for s in raw {
            let bytes = if s.len == 0 || s.data.is_null() {
                &[][..]
            } else {
                // SAFETY: ngx_str_t from the config parser: data valid for len bytes.
                unsafe { std::slice::from_raw_parts(s.data, s.len) }
            };
            match std::str::from_utf8(bytes) {
                Ok(v) => strs.push(v),
                Err(_) => return Err("argument is not valid UTF-8".to_owned()),
            }
        }
        let (name, args) = match strs.split_first() {
            Some((n, a)) => (*n, a.to_vec()),
            None => return Err("no directive name".to_owned()),
        };
        f(&Directive { args, cf }, conf).map_err(|e| format!("{name}: {e}"))
    });
    match result {
        Ok(()) => NGX_CONF_OK,
        Err(msg) => {
            ngx_conf_log_error!(NGX_LOG_EMERG, cf, "{}", msg);
            NGX_CONF_ERROR
        }
    }
}

/// Declares an `extern "C"` directive handler calling a Rust function through [`run_directive`].
macro_rules! directive_handler {
    ($name:ident, $f:path) => {
        extern "C" fn $name(
            cf: *mut ngx::ffi::ngx_conf_t,
            _cmd: *mut ngx::ffi::ngx_command_t,
            conf: *mut std::ffi::c_void,
        ) -> *mut std::ffi::c_char {
            $crate::conf::run_directive(cf, conf, $f)
        }
    };
}
pub(crate) use directive_handler;

/// `on` / `off`, as nginx's flag directives take them.
pub fn parse_flag(d: &Directive<'_>) -> Result<bool, String> {
    match d.args.as_slice() {
        [v] if v.eq_ignore_ascii_case("on") => Ok(true),
        [v] if v.eq_ignore_ascii_case("off") => Ok(false),
        [v] => Err(format!(
            "invalid value \"{v}\", it must be \"on\" or \"off\""
        )),
        _ => Err("takes exactly one argument".to_owned()),
    }
}

/// Refuses a second occurrence of a single-valued directive in the same context.
pub fn set_once<T>(slot: &mut Option<T>, value: T) -> Result<(), String> {
    if slot.is_some() {
        return Err("is duplicate".to_owned());
    }
    *slot = Some(value);
    Ok(())
}

/// The one argument of a single-valued directive.
pub fn one_arg<'a>(d: &Directive<'a>) -> Result<&'a str, String> {
    match d.args.as_slice() {
        [v] if !v.is_empty() => Ok(v),
        [_] => Err("empty value".to_owned()),
        _ => Err("takes exactly one argument".to_owned()),
    }
}

/// The `merge_loc_conf` callback.
///
/// # Safety
/// For nginx: `cf` is the configuration being parsed, `prev` and `conf` the module's
/// configurations (created by `create_loc_conf`) of the enclosing and the inner context.
pub unsafe extern "C" fn merge_loc_conf(
    cf: *mut ngx_conf_t,
    prev: *mut c_void,
    conf: *mut c_void,
) -> *mut c_char {
    // SAFETY: nginx passes the configuration being merged.
    let log = unsafe { (*cf).log };
    let result = guard::catch(log, "merge", Err("internal error".to_owned()), || {
        // SAFETY: both point at LocConf values created by create_loc_conf.
        let prev = unsafe { &*(prev as *const LocConf) };
        let conf = unsafe { &mut *(conf as *mut LocConf) };
        conf.merge(prev, cf)
    });
    match result {
        Ok(()) => ptr::null_mut(),
        Err(msg) => {
            ngx_conf_log_error!(NGX_LOG_EMERG, cf, "{}", msg);
            NGX_CONF_ERROR
        }
    }
}

/// A time in nginx syntax (`30s`, `5m`, `1h`, `24h`, `1d`), in seconds.
pub fn parse_time_secs(v: &str) -> Result<u64, String> {
    let mut raw = ngx_str_t {
        len: v.len(),
        data: v.as_ptr() as *mut u8,
    };
    // SAFETY: ngx_parse_time only reads `len` bytes of `data`.
    let t = unsafe { ngx::ffi::ngx_parse_time(&mut raw, 1) };
    if t < 0 {
        return Err(format!("invalid time \"{}\"", v.escape_debug()));
    }
    Ok(t as u64)
}

/// A file named by a directive, resolved and read at parse time. Errors name the full path.
pub struct ConfigFile {
    /// The absolute path: a relative one is taken from the directory of nginx's main
    /// configuration file (`ngx_conf_full_name` with the conf prefix, as `include`,
    /// `ssl_certificate` and `auth_basic_user_file` do), never from the working directory.
    pub path: String,
    pub bytes: Vec<u8>,
}

impl Directive<'_> {
    /// `path` made absolute against the configuration prefix (see [`ConfigFile::path`]).
    pub fn full_path(&self, path: &str) -> Result<String, String> {
        let mut name = ngx_str_t {
            len: path.len(),
            data: path.as_ptr() as *mut u8,
        };
        // SAFETY: `cf` is the configuration being parsed (see `run_directive`); nginx only
        // reads `name`'s bytes and points `name` at a copy in the cycle's pool when it
        // prefixes it.
        let rc = unsafe { ngx::ffi::ngx_conf_full_name((*self.cf).cycle, &mut name, 1) };
        if rc != ngx::ffi::NGX_OK as ngx::ffi::ngx_int_t {
            return Err(format!("cannot resolve \"{}\"", path.escape_debug()));
        }
        // SAFETY: on success `name` is `path` itself or a pool copy with the prefix.
        let full = unsafe { std::slice::from_raw_parts(name.data, name.len) };
        String::from_utf8(full.to_vec())
            .map_err(|_| format!("the full path of \"{}\" is not UTF-8", path.escape_debug()))
    }

    /// Reads the file `path` names (at most 1 MiB), resolved by [`Directive::full_path`].
    pub fn read_file(&self, path: &str) -> Result<ConfigFile, String> {
        const MAX: u64 = 1 << 20;
        let path = self.full_path(path)?;
        let meta = std::fs::metadata(&path).map_err(|e| format!("cannot read \"{path}\": {e}"))?;
        if meta.len() > MAX {
            return Err(format!("\"{path}\" is larger than 1 MiB"));
        }
        let bytes = std::fs::read(&path).map_err(|e| format!("cannot read \"{path}\": {e}"))?;
        Ok(ConfigFile { path, bytes })
    }
}

/// Every directive is allowed in `http`, `server` and `location`.
pub const ANY_CONF: u32 = NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF;

const COMMANDS_LEN: usize = gate::COMMANDS.len()
    + provider::COMMANDS.len()
    + session::COMMANDS.len()
    + status::COMMANDS.len()
    + token::COMMANDS.len()
    + zone::COMMANDS.len()
    + redis::COMMANDS.len();

/// The module's command table: every family's commands, then nginx's terminating entry.
pub static mut COMMANDS: [ngx_command_t; COMMANDS_LEN + 1] = {
    const END: ngx_command_t = ngx_command_t::empty();
    let families: [&[ngx_command_t]; 7] = [
        &gate::COMMANDS,
        &provider::COMMANDS,
        &session::COMMANDS,
        &status::COMMANDS,
        &token::COMMANDS,
        &zone::COMMANDS,
        &redis::COMMANDS,
    ];
    let mut table = [END; COMMANDS_LEN + 1];
    let (mut n, mut f) = (0, 0);
    while f < families.len() {
        let mut i = 0;
        while i < families[f].len() {
            table[n] = families[f][i];
            n += 1;
            i += 1;
        }
        f += 1;
    }
    table
};

/// This module's configuration for the request's location.
///
/// # Safety
/// `r` must be a valid request.
pub unsafe fn loc_conf<'a>(r: *const ngx_http_request_t) -> Option<&'a LocConf> {
    // SAFETY: a valid request's `loc_conf` is null (never seen in a phase handler) or the
    // array of its location's configurations, ours created by `create_loc_conf`.
    unsafe {
        if (*r).loc_conf.is_null() {
            return None;
        }
        Module::location_conf(&*r)
    }
}

/// An entry of the module's command table.
pub const fn command(
    name: ngx_str_t,
    type_: u32,
    set: extern "C" fn(*mut ngx_conf_t, *mut ngx_command_t, *mut c_void) -> *mut c_char,
) -> ngx_command_t {
    ngx_command_t {
        name,
        type_: type_ as _,
        set: Some(set),
        conf: ngx::ffi::NGX_HTTP_LOC_CONF_OFFSET,
        offset: 0,
        post: ptr::null_mut(),
    }
}

//! Bearer JWTs and token cookies: finding them on the request and verifying them through the
//! worker's verified-token cache.

use std::sync::{Arc, OnceLock};

use ngx::ffi::ngx_http_request_t;
use sso_core::cache::{CacheConfig, TokenCache};
use sso_core::identity::CompactJws;
use sso_core::jwks::{verification_keys, ProviderKeys};
use sso_core::jwt::{TokenError, Verified};

use crate::conf::LocConf;
use crate::headers::bytes;

/// One cache per worker process (each worker is one thread; the lock is never contended).
pub(crate) fn cache() -> &'static TokenCache {
    static CACHE: OnceLock<TokenCache> = OnceLock::new();
    CACHE.get_or_init(|| TokenCache::new(CacheConfig::default()))
}

/// The token of an `Authorization: Bearer <token>` header (scheme case-insensitive).
///
/// # Safety
/// `r` must be a valid request.
pub unsafe fn bearer_token<'a>(r: *const ngx_http_request_t) -> Option<&'a [u8]> {
    // SAFETY: the caller guarantees what the `# Safety` section above asks.
    unsafe {
        let h = (*r).headers_in.authorization;
        if h.is_null() {
            return None;
        }
        let value = bytes(&(*h).value);
        const SCHEME: &[u8] = b"bearer ";
        if value.len() <= SCHEME.len() || !value[..SCHEME.len()].eq_ignore_ascii_case(SCHEME) {
            return None;
        }
        let token = value[SCHEME.len()..].trim_ascii();
        (!token.is_empty()).then_some(token)
    }
}

/// Verifies a token with this context's checks against the key sets that
/// [`verification_keys`] allows (README "Security" → "Which keys verify a token"): the
/// provider's published keys, `sso_jwks_file`, or the client secret when there is no other
/// key source at all. A hit in the cache costs a hash lookup and an `Arc` clone. A `kid`
/// nobody knows asks the provider's fetcher for a (rate-limited) re-fetch; the token is
/// refused now (fail closed) and a later request sees the new keys. The cache keeps what one
/// location verified apart from every other ([`sso_core::cache::token_context`]). With the
/// result comes the token as a [`CompactJws`], for `X-authentik-jwt` without a rescan.
pub fn verify<'t>(
    conf: &LocConf,
    token: &'t [u8],
) -> Result<(Arc<Verified>, CompactJws<'t>), TokenError> {
    let Some(tokens) = conf.tokens.as_deref() else {
        return Err(TokenError::NoKeys);
    };
    let token =
        std::str::from_utf8(token).map_err(|_| TokenError::Malformed("the token is not ASCII"))?;
    let now = crate::request::now();
    let snapshot = conf.provider.as_ref().map(|p| (p, p.snapshot()));
    let published = match &snapshot {
        None => ProviderKeys::NotConfigured,
        Some((_, snap)) => match snap.keys.as_deref() {
            None => ProviderKeys::Pending,
            Some(keys) => ProviderKeys::Known(keys),
        },
    };
    let mut result = Err(TokenError::NoKeys);
    for (_, keys) in verification_keys(
        published,
        tokens.jwks_file.as_deref(),
        tokens.client_secret.as_deref(),
    ) {
        result = cache().verify(&tokens.verifier, keys, token, now);
        match &result {
            Err(e) if e.is_unknown_kid() => continue,
            _ => break,
        }
    }
    if let (Err(e), Some((provider, _))) = (&result, &snapshot) {
        if e.is_unknown_kid() || matches!(e, TokenError::NoKeys) {
            provider.request_refetch();
        }
    }
    result
}

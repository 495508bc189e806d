//! Which keys verify a token: the one rule, [`verification_keys`].

use super::KeySet;

/// Where the provider's published keys stand, for [`verification_keys`].
#[derive(Debug, Clone, Copy)]
pub enum ProviderKeys<'a> {
    /// No `sso_issuer` in this context: no provider publishes keys for it.
    NotConfigured,
    /// A provider is configured, but its JWKS has not been fetched yet.
    Pending,
    /// The provider's current JWKS (possibly empty: authentik without a signing key).
    Known(&'a KeySet),
}

/// Where a key set of [`verification_keys`] comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyOrigin {
    /// The provider's JWKS (discovery).
    Provider,
    /// `sso_jwks_file`.
    File,
    /// The OAuth client secret as an HMAC key.
    ClientSecret,
}

/// The one rule for which keys verify a token (bearer, token cookie, ID token at login),
/// README "Security" → "Which keys verify a token": the provider's published keys (when it
/// publishes any), then `sso_jwks_file`; the client secret only when there is no other key
/// source at all: no `sso_jwks_file`, and either no provider or a provider whose JWKS is
/// known to be empty. While a provider's keys are not yet known, the secret verifies nothing
/// (holding the client secret must never let anyone mint tokens beside real signing keys).
///
/// The sets are tried in order; a later one only when an earlier one has no key for the
/// token's `kid` (see [`crate::jwt::TokenError::is_unknown_kid`]). Empty: nothing verifies
/// (`no_keys`).
pub fn verification_keys<'a>(
    provider: ProviderKeys<'a>,
    jwks_file: Option<&'a KeySet>,
    client_secret: Option<&'a KeySet>,
) -> impl Iterator<Item = (KeyOrigin, &'a KeySet)> {
    let published = match provider {
        ProviderKeys::Known(set) if !set.is_empty() => Some(set),
        _ => None,
    };
    let no_other_source = jwks_file.is_none()
        && match provider {
            ProviderKeys::NotConfigured => true,
            ProviderKeys::Pending => false,
            ProviderKeys::Known(set) => set.is_empty(),
        };
    let secret = client_secret.filter(|s| no_other_source && !s.is_empty());
    [
        published.map(|s| (KeyOrigin::Provider, s)),
        jwks_file
            .filter(|s| !s.is_empty())
            .map(|s| (KeyOrigin::File, s)),
        secret.map(|s| (KeyOrigin::ClientSecret, s)),
    ]
    .into_iter()
    .flatten()
}

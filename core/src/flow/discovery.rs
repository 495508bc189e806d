//! The provider's discovery document (OIDC Discovery 1.0) and `sso_backchannel_url`: calls to
//! the provider made on another origin than the public one (README "sso_backchannel_url").

use std::fmt;

use serde::Deserialize;

use super::sanitize_text;
use crate::url::{split_host_port, HttpUrl};

/// The discovery URL for an issuer (OIDC Discovery §4): the issuer without a trailing `/`,
/// plus `/.well-known/openid-configuration`.
pub fn discovery_url(issuer: &str) -> String {
    format!(
        "{}/.well-known/openid-configuration",
        issuer.strip_suffix('/').unwrap_or(issuer)
    )
}

/// The fields of the discovery document this module uses.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Discovery {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    #[serde(default)]
    pub userinfo_endpoint: Option<String>,
    /// Required by OIDC, optional here: `sso_jwks_file` can stand in.
    #[serde(default)]
    pub jwks_uri: Option<String>,
    #[serde(default)]
    pub end_session_endpoint: Option<String>,
    /// Empty when absent (the default is `client_secret_basic`).
    #[serde(default)]
    pub token_endpoint_auth_methods_supported: Vec<String>,
    /// Empty when absent. `S256` is sent regardless.
    #[serde(default)]
    pub code_challenge_methods_supported: Vec<String>,
}

impl Discovery {
    /// Whether the provider says it supports PKCE S256 (absent list: unknown, `true`).
    pub fn supports_s256(&self) -> bool {
        self.code_challenge_methods_supported.is_empty()
            || self
                .code_challenge_methods_supported
                .iter()
                .any(|m| m == "S256")
    }
}

/// Why a discovery document was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DiscoveryError {
    /// Not JSON, or a required field (`issuer`, `authorization_endpoint`, `token_endpoint`)
    /// missing or of the wrong type.
    Malformed(String),
    /// The document's `issuer` differs from `sso_issuer`.
    IssuerMismatch {
        expected: String,
        found: String,
        /// The two differ only by a trailing `/`.
        trailing_slash_only: bool,
    },
    /// An endpoint is not an absolute http(s) URL (or has a space or control character).
    BadEndpoint { field: &'static str, value: String },
}

impl fmt::Display for DiscoveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DiscoveryError::Malformed(why) => write!(f, "bad discovery document: {why}"),
            DiscoveryError::IssuerMismatch {
                expected,
                found,
                trailing_slash_only,
            } => {
                write!(
                    f,
                    "the discovery document's issuer {found:?} differs from sso_issuer {expected:?}"
                )?;
                if *trailing_slash_only {
                    write!(
                        f,
                        " only by a trailing slash: set sso_issuer to exactly {found:?}"
                    )?;
                }
                Ok(())
            }
            DiscoveryError::BadEndpoint { field, value } => write!(
                f,
                "the discovery document's {field} {value:?} is not an absolute http(s) URL"
            ),
        }
    }
}

impl std::error::Error for DiscoveryError {}

/// Parses a discovery document and checks that its `issuer` equals `configured_issuer`
/// exactly (OIDC Discovery §4.3) and that the endpoints are absolute http(s) URLs.
pub fn parse_discovery(body: &[u8], configured_issuer: &str) -> Result<Discovery, DiscoveryError> {
    let d: Discovery = serde_json::from_slice(body).map_err(|e| {
        // serde_json's message names the field and position, never echoes large input.
        DiscoveryError::Malformed(sanitize_text(&e.to_string()))
    })?;
    if d.issuer != configured_issuer {
        let trailing_slash_only =
            d.issuer.trim_end_matches('/') == configured_issuer.trim_end_matches('/');
        return Err(DiscoveryError::IssuerMismatch {
            expected: sanitize_text(configured_issuer),
            found: sanitize_text(&d.issuer),
            trailing_slash_only,
        });
    }
    // The endpoints end up in `Location` headers (authorization, end session): no space or
    // control character (CR LF would split the header).
    let check = |field: &'static str, value: &str| {
        if !value.chars().any(|c| c.is_control() || c == ' ')
            && HttpUrl::parse(value).is_some_and(|u| split_host_port(u.authority).is_some())
        {
            Ok(())
        } else {
            Err(DiscoveryError::BadEndpoint {
                field,
                value: sanitize_text(value),
            })
        }
    };
    check("authorization_endpoint", &d.authorization_endpoint)?;
    check("token_endpoint", &d.token_endpoint)?;
    for (field, v) in [
        ("userinfo_endpoint", &d.userinfo_endpoint),
        ("jwks_uri", &d.jwks_uri),
        ("end_session_endpoint", &d.end_session_endpoint),
    ] {
        if let Some(v) = v {
            check(field, v)?;
        }
    }
    Ok(d)
}

/// A parsed `sso_backchannel_url`: `scheme://host[:port]` (a trailing `/` tolerated).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackchannelOrigin {
    /// `http` or `https`, lowercase.
    pub scheme: &'static str,
    /// `host[:port]` as written.
    pub authority: String,
}

/// Parses `sso_backchannel_url` (for `nginx -t`: the error says why).
pub fn parse_backchannel_origin(s: &str) -> Result<BackchannelOrigin, String> {
    let u = HttpUrl::parse(s).ok_or_else(|| {
        "must be an origin `http://host[:port]` or `https://host[:port]` (no user@)".to_owned()
    })?;
    if !(u.rest.is_empty() || u.rest == "/") {
        return Err(
            "must be an origin only (scheme://host[:port]), without a path or query".into(),
        );
    }
    split_host_port(u.authority).ok_or_else(|| "bad host or port".to_owned())?;
    Ok(BackchannelOrigin {
        scheme: if u.https { "https" } else { "http" },
        authority: u.authority.to_owned(),
    })
}

/// A server-to-server URL moved onto the backchannel origin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rewritten {
    /// Backchannel scheme and authority, original path and query.
    pub url: String,
    /// The original authority: send it as `Host` so the provider builds its public URLs.
    pub host: String,
    /// The original scheme (`http`/`https`), e.g. for `X-Forwarded-Proto`.
    pub original_scheme: &'static str,
}

/// Replaces the scheme and authority of `url` (a public endpoint from discovery or the
/// issuer) with the backchannel origin's, keeping path and query (a fragment is dropped).
/// `None` when `url` is not an absolute http(s) URL.
pub fn rewrite_to_backchannel(url: &str, origin: &BackchannelOrigin) -> Option<Rewritten> {
    let u = HttpUrl::parse(url)?;
    split_host_port(u.authority)?;
    let rest = u.rest.split('#').next().unwrap_or("");
    Some(Rewritten {
        url: format!("{}://{}{}", origin.scheme, origin.authority, rest),
        host: u.authority.to_owned(),
        original_scheme: if u.https { "https" } else { "http" },
    })
}

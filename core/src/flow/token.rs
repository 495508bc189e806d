//! The code exchange at the token endpoint (RFC 6749 §4.1.3, §5; OIDC Core 3.1.3): client
//! authentication, the request body, and the response.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::Deserialize;
use zeroize::Zeroizing;

use super::{enc, error_page, form_encode, sanitize_text};
use crate::session::RefreshToken;

/// How the client authenticates at the token endpoint (RFC 6749 §2.3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    /// `Authorization: Basic …`
    SecretBasic,
    /// `client_secret` in the form body.
    SecretPost,
    /// Public client: `client_id` only (PKCE protects the code).
    None,
}

/// Picks the client authentication from discovery's `token_endpoint_auth_methods_supported`:
/// `client_secret_basic` when listed (or when the list is empty: it is the default), else
/// `client_secret_post` when listed, else basic; [`ClientAuth::None`] without a secret.
pub fn choose_client_auth(supported: &[String], has_secret: bool) -> ClientAuth {
    if !has_secret {
        return ClientAuth::None;
    }
    let has = |m: &str| supported.iter().any(|s| s == m);
    if supported.is_empty() || has("client_secret_basic") {
        ClientAuth::SecretBasic
    } else if has("client_secret_post") {
        ClientAuth::SecretPost
    } else {
        ClientAuth::SecretBasic
    }
}

/// The `Authorization` header value for `client_secret_basic`: `Basic
/// base64(urlencode(id) ":" urlencode(secret))` (RFC 6749 §2.3.1).
pub fn client_secret_basic(client_id: &str, client_secret: &str) -> Zeroizing<String> {
    let pair = Zeroizing::new(format!("{}:{}", enc(client_id), enc(client_secret)));
    let mut value = Zeroizing::new(String::with_capacity(6 + pair.len().div_ceil(3) * 4));
    value.push_str("Basic ");
    STANDARD.encode_string(pair.as_bytes(), &mut value);
    value
}

/// The form body of the code exchange (RFC 6749 §4.1.3, RFC 7636 §4.5):
/// `grant_type=authorization_code&code=…&redirect_uri=…&code_verifier=…&client_id=…`, plus
/// `client_secret=…` when `post_secret` is given (client_secret_post).
pub fn token_request_body(
    code: &str,
    redirect_uri: &str,
    code_verifier: &str,
    client_id: &str,
    post_secret: Option<&str>,
) -> Zeroizing<String> {
    form_encode(&with_client(
        code_grant(code, redirect_uri, code_verifier),
        client_id,
        post_secret,
    ))
}

fn code_grant<'a>(
    code: &'a str,
    redirect_uri: &'a str,
    code_verifier: &'a str,
) -> Vec<(&'static str, &'a str)> {
    vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
        ("code_verifier", code_verifier),
    ]
}

/// `grant` followed by `client_id` and, for client_secret_post, `client_secret`.
fn with_client<'a>(
    mut grant: Vec<(&'static str, &'a str)>,
    client_id: &'a str,
    post_secret: Option<&'a str>,
) -> Vec<(&'static str, &'a str)> {
    grant.push(("client_id", client_id));
    if let Some(secret) = post_secret {
        grant.push(("client_secret", secret));
    }
    grant
}

/// Any grant at the token endpoint (the code exchange, the refresh grant) with the client
/// authentication of RFC 6749 §2.3.1 as `auth` says: `client_id` in the body always, the
/// secret in the body (client_secret_post) or as `Authorization: Basic` (client_secret_basic).
pub(super) fn authenticated_request(
    grant: Vec<(&'static str, &str)>,
    client_id: &str,
    client_secret: Option<&str>,
    auth: ClientAuth,
) -> TokenRequest {
    let (post_secret, authorization) = match (auth, client_secret) {
        (ClientAuth::SecretBasic, Some(secret)) => {
            (None, Some(client_secret_basic(client_id, secret)))
        }
        (ClientAuth::SecretPost, Some(secret)) => (Some(secret), None),
        _ => (None, None),
    };
    TokenRequest {
        body: form_encode(&with_client(grant, client_id, post_secret)),
        authorization,
    }
}

/// A ready token request: POST `body` as `application/x-www-form-urlencoded`, with
/// `Authorization: authorization` when set. Both carry secrets (the code, the verifier, the
/// client secret, a refresh token): `Debug` redacts them and they are zeroized when dropped
/// (the HTTP client's own copies are not ours to wipe).
#[derive(Clone, PartialEq, Eq)]
pub struct TokenRequest {
    pub body: Zeroizing<String>,
    pub authorization: Option<Zeroizing<String>>,
}

impl fmt::Debug for TokenRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenRequest")
            .field("body", &"<redacted>")
            .field(
                "authorization",
                &self.authorization.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// Builds the code-exchange request for the chosen client authentication.
pub fn token_request(
    code: &str,
    redirect_uri: &str,
    code_verifier: &str,
    client_id: &str,
    client_secret: Option<&str>,
    auth: ClientAuth,
) -> TokenRequest {
    authenticated_request(
        code_grant(code, redirect_uri, code_verifier),
        client_id,
        client_secret,
        auth,
    )
}

/// A successful token response (RFC 6749 §5.1, OIDC Core 3.1.3.3). `Debug` redacts tokens.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenResponse {
    pub access_token: String,
    /// Required in OIDC; [`parse_token_response`] fails without it.
    pub id_token: String,
    pub token_type: String,
    pub expires_in: Option<u64>,
    /// Kept in the session (sealed, never logged).
    pub refresh_token: Option<RefreshToken>,
    pub scope: Option<String>,
}

impl fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenResponse")
            .field("access_token", &"<redacted>")
            .field("id_token", &"<redacted>")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "<redacted>"),
            )
            .field("scope", &self.scope)
            .finish()
    }
}

/// Why the code exchange failed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExchangeError {
    /// The provider answered with an OAuth error (RFC 6749 §5.2), e.g. `invalid_grant`.
    Provider {
        status: u16,
        error: String,
        description: Option<String>,
    },
    /// A non-2xx answer without an OAuth error body.
    Http { status: u16 },
    /// The body is not the JSON expected, or a required field is missing.
    Malformed(&'static str),
    /// No `id_token` (was `openid` in the scopes?).
    MissingIdToken,
    /// `token_type` is not `Bearer`.
    NotBearer(String),
}

impl ExchangeError {
    /// A short token for logs.
    pub fn reason(&self) -> &'static str {
        match self {
            ExchangeError::Provider { .. } => "provider_error",
            ExchangeError::Http { .. } => "provider_unavailable",
            ExchangeError::Malformed(_) | ExchangeError::NotBearer(_) => "malformed",
            ExchangeError::MissingIdToken => "missing_id_token",
        }
    }

    /// The provider's `error` code, when it sent one.
    pub fn provider_error(&self) -> Option<&str> {
        match self {
            ExchangeError::Provider { error, .. } => Some(error),
            _ => None,
        }
    }

    /// A small HTML page for the browser (502: the upstream provider failed us).
    pub fn html_page(&self) -> String {
        error_page("Sign-in failed", &self.to_string())
    }
}

impl fmt::Display for ExchangeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExchangeError::Provider {
                status,
                error,
                description,
            } => {
                write!(
                    f,
                    "the token endpoint refused the code (HTTP {status}): {error}"
                )?;
                if let Some(d) = description {
                    write!(f, " ({d})")?;
                }
                Ok(())
            }
            ExchangeError::Http { status } => {
                write!(f, "the token endpoint answered HTTP {status}")
            }
            ExchangeError::Malformed(what) => write!(f, "bad token response: {what}"),
            ExchangeError::MissingIdToken => {
                f.write_str("the token response has no id_token (is `openid` among sso_scopes?)")
            }
            ExchangeError::NotBearer(t) => write!(f, "unsupported token_type {t:?}"),
        }
    }
}

impl std::error::Error for ExchangeError {}

#[derive(Deserialize)]
struct RawTokenResponse {
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    id_token: Option<String>,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
}

/// Parses the token endpoint's answer: `status` is the HTTP status, `body` the response body.
pub fn parse_token_response(status: u16, body: &[u8]) -> Result<TokenResponse, ExchangeError> {
    let grant = parse_grant_response(status, body)?;
    Ok(TokenResponse {
        access_token: grant.access_token,
        id_token: grant.id_token.ok_or(ExchangeError::MissingIdToken)?,
        token_type: grant.token_type,
        expires_in: grant.expires_in,
        refresh_token: grant.refresh_token,
        scope: grant.scope,
    })
}

/// A successful answer of any grant: [`TokenResponse`] with the ID token optional (a refresh
/// answer may lack it, OIDC Core 12.2).
pub(super) struct GrantResponse {
    pub access_token: String,
    pub id_token: Option<String>,
    pub token_type: String,
    pub expires_in: Option<u64>,
    pub refresh_token: Option<RefreshToken>,
    pub scope: Option<String>,
}

/// The answer of the token endpoint to any grant (RFC 6749 §5.1, §5.2).
pub(super) fn parse_grant_response(
    status: u16,
    body: &[u8],
) -> Result<GrantResponse, ExchangeError> {
    let raw: Option<RawTokenResponse> = serde_json::from_slice(body).ok();
    let ok_status = (200..300).contains(&status);
    let raw = match raw {
        Some(r) => r,
        None if ok_status => return Err(ExchangeError::Malformed("not a JSON object")),
        None => return Err(ExchangeError::Http { status }),
    };
    if let Some(error) = raw.error.as_deref().filter(|e| !e.is_empty()) {
        return Err(ExchangeError::Provider {
            status,
            error: sanitize_text(error),
            description: raw.error_description.as_deref().map(sanitize_text),
        });
    }
    if !ok_status {
        return Err(ExchangeError::Http { status });
    }
    let access_token = raw
        .access_token
        .filter(|t| !t.is_empty())
        .ok_or(ExchangeError::Malformed("no access_token"))?;
    let token_type = raw.token_type.unwrap_or_default();
    if !token_type.eq_ignore_ascii_case("bearer") {
        return Err(ExchangeError::NotBearer(sanitize_text(&token_type)));
    }
    // Some providers send expires_in as a string.
    let expires_in = match raw.expires_in {
        Some(serde_json::Value::Number(n)) => n.as_u64(),
        Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    };
    Ok(GrantResponse {
        access_token,
        id_token: raw.id_token.filter(|t| !t.is_empty()),
        token_type,
        expires_in,
        refresh_token: raw
            .refresh_token
            .filter(|t| !t.is_empty())
            .map(RefreshToken::new),
        scope: raw.scope,
    })
}

//! Claims -> the identity of SPEC §4 (headers) and §6 (variables), sanitised.

use serde::{Deserialize, Serialize};

/// Who the caller is, as taken from verified claims (a JWT, or an ID token at login).
///
/// This is what a session cookie carries, so it stays small and serialisable.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// `preferred_username`
    #[serde(default, rename = "u", skip_serializing_if = "String::is_empty")]
    pub username: String,
    #[serde(default, rename = "e", skip_serializing_if = "String::is_empty")]
    pub email: String,
    #[serde(default, rename = "n", skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// `sub`
    #[serde(default, rename = "s", skip_serializing_if = "String::is_empty")]
    pub uid: String,
    #[serde(default, rename = "g", skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    #[serde(default, rename = "t", skip_serializing_if = "Vec::is_empty")]
    pub entitlements: Vec<String>,
    /// `ak_proxy.user_attributes.additionalHeaders`, already rendered to strings.
    #[serde(default, rename = "h", skip_serializing_if = "Vec::is_empty")]
    pub additional_headers: Vec<(String, String)>,
    /// `ak_proxy.backend_override`
    #[serde(default, rename = "b", skip_serializing_if = "String::is_empty")]
    pub backend_override: String,
}

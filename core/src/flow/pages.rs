//! Why a flow failed ([`FlowError`]) and the escaped HTML pages the browser is shown.

use std::fmt;

/// Why `start` or `callback` failed. [`fmt::Display`] is plain text safe to log (provider
/// text is stripped of control characters and truncated); [`FlowError::html_page`] is the
/// escaped page for the browser.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FlowError {
    /// The provider redirected back with `error=` (e.g. `access_denied`).
    Provider {
        error: String,
        description: Option<String>,
    },
    /// `state` or `code` is missing from the callback.
    MissingParameter(&'static str),
    /// No flow cookie for this state: it expired, cookies are blocked, or the callback was
    /// not started here.
    NoFlowCookie,
    /// The flow cookie is not authentic (other key, other app, tampered).
    BadFlowCookie,
    /// The login took longer than [`FLOW_LIFETIME_SECS`](super::FLOW_LIFETIME_SECS).
    FlowExpired,
    /// The `state` does not match the flow cookie's.
    StateMismatch,
    /// RFC 9207 `iss` in the callback differs from the configured issuer.
    IssuerMismatch,
    /// This flow was completed (or attempted) before: flows are single-use.
    AlreadyUsed,
    /// The CSPRNG or sealing failed.
    Internal(&'static str),
}

impl FlowError {
    /// A short token for logs and `$sso_reason`.
    pub fn reason(&self) -> &'static str {
        match self {
            FlowError::Provider { .. } => "provider_error",
            FlowError::MissingParameter(_) => "malformed",
            FlowError::NoFlowCookie => "no_flow_cookie",
            FlowError::BadFlowCookie => "malformed",
            FlowError::FlowExpired => "expired",
            FlowError::StateMismatch => "state_mismatch",
            FlowError::IssuerMismatch => "wrong_issuer",
            FlowError::AlreadyUsed => "replayed",
            FlowError::Internal(_) => "internal_error",
        }
    }

    /// The HTTP status to answer with: 500 for internal errors, else 400.
    pub fn http_status(&self) -> u16 {
        match self {
            FlowError::Internal(_) => 500,
            _ => 400,
        }
    }

    /// A small HTML page explaining the error, every dynamic part escaped.
    pub fn html_page(&self) -> String {
        error_page("Sign-in failed", &self.to_string())
    }
}

impl fmt::Display for FlowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FlowError::Provider { error, description } => {
                write!(f, "the identity provider refused the sign-in: {error}")?;
                if let Some(d) = description {
                    write!(f, " ({d})")?;
                }
                Ok(())
            }
            FlowError::MissingParameter(p) => {
                write!(f, "the sign-in callback lacks the `{p}` parameter")
            }
            FlowError::NoFlowCookie => f.write_str(
                "no sign-in in progress for this callback (it took too long, cookies are \
                 blocked, or it was started elsewhere); please try again",
            ),
            FlowError::BadFlowCookie => {
                f.write_str("the sign-in cookie is not valid here; please try again")
            }
            FlowError::FlowExpired => f.write_str("the sign-in took too long; please try again"),
            FlowError::StateMismatch => {
                f.write_str("the sign-in state does not match; please try again")
            }
            FlowError::IssuerMismatch => {
                f.write_str("the callback came from a different identity provider (iss)")
            }
            FlowError::AlreadyUsed => f.write_str(
                "this sign-in was already used (a sign-in link works once); please start again",
            ),
            FlowError::Internal(what) => write!(f, "internal error: {what}"),
        }
    }
}

impl std::error::Error for FlowError {}

/// Escapes `& < > " '` for HTML text and attribute values.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A minimal error page; `title` and `message` are escaped.
pub fn error_page(title: &str, message: &str) -> String {
    let t = html_escape(title);
    let m = html_escape(message);
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{t}</title></head>\
         <body><h1>{t}</h1><p>{m}</p></body></html>\n"
    )
}

/// What a signed-in user lacks at a location (README "How a request is decided", step 6),
/// for the `403` page and body.
#[derive(Debug, Clone, Copy)]
pub enum Requirement<'a> {
    /// `sso_require_group`: one of these groups.
    Groups(&'a [String]),
    /// One `sso_require_claim` rule.
    Claim(&'a crate::rules::ClaimRule),
}

impl Requirement<'_> {
    /// The `$sso_reason` word.
    pub fn reason(&self) -> &'static str {
        match self {
            Requirement::Groups(_) => "forbidden_group",
            Requirement::Claim(_) => "forbidden_claim",
        }
    }
}

/// The `403` page for a browser: who the user is signed in as (`user`), what the location
/// needs, and a link to `sign_out` (the outpost prefix's, to sign in as someone else).
/// Every dynamic part is escaped; no external resource.
pub fn forbidden_page(user: &str, requirement: &Requirement<'_>, sign_out: &str) -> String {
    let list = |items: &mut dyn Iterator<Item = &str>| -> String {
        items
            .map(|i| format!("<strong>{}</strong>", html_escape(i)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let needs = match requirement {
        Requirement::Groups(groups) => format!(
            "This page is only for members of {}: {}.",
            if groups.len() == 1 {
                "the group"
            } else {
                "one of the groups"
            },
            list(&mut groups.iter().map(String::as_str))
        ),
        Requirement::Claim(rule) => {
            let n = rule.values().count();
            format!(
                "This page needs your account&#39;s <strong>{}</strong> to be {}{}.",
                html_escape(rule.path()),
                if n == 1 { "" } else { "one of: " },
                list(&mut rule.values())
            )
        }
    };
    let who = if user.is_empty() {
        "You are signed in.".to_owned()
    } else {
        format!(
            "You are signed in as <strong>{}</strong>.",
            html_escape(user)
        )
    };
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Access denied</title></head>\
         <body><h1>Access denied</h1><p>{who}</p><p>{needs}</p>\
         <p>If you should have access, ask your administrator, or \
         <a href=\"{}\">sign out</a> and sign in with another account.</p></body></html>\n",
        html_escape(sign_out)
    )
}

/// The `403` body for an API client:
/// `{"error":"forbidden","reason":"forbidden_claim","claim":"...","values":[...]}` or
/// `{"error":"forbidden","reason":"forbidden_group","groups":[...]}`.
pub fn forbidden_json(requirement: &Requirement<'_>) -> String {
    let body = match requirement {
        Requirement::Groups(groups) => serde_json::json!({
            "error": "forbidden",
            "reason": requirement.reason(),
            "groups": groups,
        }),
        Requirement::Claim(rule) => serde_json::json!({
            "error": "forbidden",
            "reason": requirement.reason(),
            "claim": rule.path(),
            "values": rule.values().collect::<Vec<_>>(),
        }),
    };
    body.to_string()
}

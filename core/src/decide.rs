//! README "How a request is decided" as one function over a plain request view.
//!
//! The glue has already served the module's own endpoints (step 1) and stripped client-sent
//! identity headers (step 2); `satisfy` (step 7) is nginx's access phase itself. What is left
//! is steps 3 to 6: given what the credentials said, the request's shape and the policy
//! (`sso_require_group`, `sso_require_claim`), pass, send to login, or refuse.

use std::fmt::Write;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// How a request was authenticated; the value of `$sso_auth_method`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    Session,
    Bearer,
    TokenCookie,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::Session => "session",
            AuthMethod::Bearer => "bearer",
            AuthMethod::TokenCookie => "token_cookie",
        }
    }
}

/// What checking the request's credentials found (step 3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// Nothing usable was presented (an unreadable session cookie counts as nothing).
    Missing,
    /// A token was presented and refused: `reason` is the `$sso_reason` word, `description`
    /// is safe to quote in `WWW-Authenticate`.
    Rejected {
        reason: &'static str,
        description: String,
    },
    /// A valid credential, and how it was presented.
    Valid { method: AuthMethod },
    /// An authentic session that has ended (`idle`, ...): like [`Credentials::Missing`]
    /// (log in again, or a plain `401`), with `reason` as the `$sso_reason` word.
    Ended { reason: &'static str },
}

/// The parts of the request the decision looks at.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestView<'a> {
    /// GET or HEAD.
    pub safe_method: bool,
    /// The `Accept` request header, when present.
    pub accept: Option<&'a [u8]>,
    /// The `X-Requested-With` request header, when present (`XMLHttpRequest` is never a
    /// navigation, as in authentik's outpost).
    pub requested_with: Option<&'a [u8]>,
}

impl RequestView<'_> {
    /// A browser navigation: GET/HEAD that accepts `text/html` and is not an XHR.
    pub fn is_navigation(&self) -> bool {
        if !self.safe_method {
            return false;
        }
        if let Some(xrw) = self.requested_with {
            if xrw.eq_ignore_ascii_case(b"XMLHttpRequest") {
                return false;
            }
        }
        match self.accept {
            Some(accept) => accepts_html(accept),
            None => false,
        }
    }
}

/// True when an `Accept` header lists `text/html` (or `application/xhtml+xml`) with q > 0.
fn accepts_html(accept: &[u8]) -> bool {
    accept.split(|&b| b == b',').any(|item| {
        let mut parts = item.split(|&b| b == b';');
        let media = trim(parts.next().unwrap_or_default());
        if !(media.eq_ignore_ascii_case(b"text/html")
            || media.eq_ignore_ascii_case(b"application/xhtml+xml"))
        {
            return false;
        }
        // q=0 means "not acceptable"
        !parts.any(|p| {
            let p = trim(p);
            p.len() >= 2
                && p[..2].eq_ignore_ascii_case(b"q=")
                && p[2..].iter().all(|&c| c == b'0' || c == b'.')
        })
    })
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &s[start..end.max(start)]
}

/// The outcome for one request; the glue applies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Authenticated: pass with identity.
    Allow { method: AuthMethod },
    /// Not authenticated, but an unauthenticated path/URL: pass with no identity.
    AllowUnauthenticated,
    /// A browser navigation: 302 to the login URL (built by [`login_location`]).
    Login { reason: &'static str },
    /// 401 with this `WWW-Authenticate` value.
    Unauthorized {
        reason: &'static str,
        www_authenticate: String,
    },
    /// Authenticated, but outside the location's rules: 403, never a login.
    Forbidden { lacking: Lacking },
}

/// Which rule an authenticated caller fails (the rule itself is the glue's configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lacking {
    /// In none of the `sso_require_group` groups.
    Group,
    /// The `sso_require_claim` rule at this index fails.
    Claim(usize),
}

impl Lacking {
    /// The `$sso_reason` word.
    pub fn reason(self) -> &'static str {
        match self {
            Lacking::Group => "forbidden_group",
            Lacking::Claim(_) => "forbidden_claim",
        }
    }
}

impl Decision {
    /// The `$sso_reason` word for this decision.
    pub fn reason(&self) -> &'static str {
        match self {
            Decision::Allow { method } => method.as_str(),
            Decision::AllowUnauthenticated => "unauthenticated_path",
            Decision::Login { reason } | Decision::Unauthorized { reason, .. } => reason,
            Decision::Forbidden { lacking } => lacking.reason(),
        }
    }
}

/// Steps 3–6 of README "How a request is decided".
///
/// `groups` are the authenticated caller's groups (ignored otherwise); `required_groups` is
/// `sso_require_group` (empty: no requirement, any of them: pass); `failing_claim_rule` is
/// asked only for a caller authenticated and in the groups, and says which
/// `sso_require_claim` rule fails, if any (both must hold); `unauthenticated` is asked
/// only when the request is not authenticated, so the regex sets cost nothing on the
/// authenticated hot path.
pub fn decide<G: AsRef<str>>(
    view: &RequestView<'_>,
    credentials: &Credentials,
    groups: &[G],
    required_groups: &[String],
    failing_claim_rule: impl FnOnce() -> Option<usize>,
    unauthenticated: impl FnOnce() -> bool,
) -> Decision {
    let (reason, description) = match credentials {
        Credentials::Valid { method } => {
            let member = required_groups.is_empty()
                || groups
                    .iter()
                    .any(|g| required_groups.iter().any(|r| r == g.as_ref()));
            if !member {
                return Decision::Forbidden {
                    lacking: Lacking::Group,
                };
            }
            return match failing_claim_rule() {
                None => Decision::Allow { method: *method },
                Some(rule) => Decision::Forbidden {
                    lacking: Lacking::Claim(rule),
                },
            };
        }
        Credentials::Missing => ("no_credentials", None),
        Credentials::Ended { reason } => (*reason, None),
        Credentials::Rejected {
            reason,
            description,
        } => (*reason, Some(description)),
    };
    if unauthenticated() {
        return Decision::AllowUnauthenticated;
    }
    if view.is_navigation() {
        return Decision::Login { reason };
    }
    let www_authenticate = match description {
        None => "Bearer".to_owned(),
        Some(description) => {
            let mut value = String::with_capacity(64 + description.len());
            value.push_str("Bearer error=\"invalid_token\", error_description=\"");
            push_quoted_safe(&mut value, description);
            value.push('"');
            value
        }
    };
    Decision::Unauthorized {
        reason,
        www_authenticate,
    }
}

/// Appends `s` keeping only characters RFC 6750 allows in `error_description`
/// (%x20-21 / %x23-5B / %x5D-7E): no quotes, backslashes or control characters.
fn push_quoted_safe(out: &mut String, s: &str) {
    out.extend(
        s.chars()
            .filter(|&c| matches!(c, '\x20'..='\x7e') && c != '"' && c != '\\')
            .take(200),
    );
}

/// Characters escaped in the `rd` query parameter: everything but unreserved characters and
/// `/`, so a path stays readable and the parameter cannot end early.
const RD_ESCAPE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

/// `login_url?rd=<rd>` (or `&rd=` when the login URL already has a query).
pub fn login_location(login_url: &str, rd: &str) -> String {
    let mut out = String::with_capacity(login_url.len() + rd.len() * 3 / 2 + 4);
    out.push_str(login_url);
    out.push(if login_url.contains('?') { '&' } else { '?' });
    out.push_str("rd=");
    let _ = write!(out, "{}", utf8_percent_encode(rd, RD_ESCAPE));
    out
}

/// True for an absolute `http://` or `https://` URL (domain-level login URL): see
/// [`crate::url::is_absolute`].
pub use crate::url::is_absolute as is_absolute_url;

#[cfg(test)]
mod tests {
    use super::*;

    fn nav() -> RequestView<'static> {
        RequestView {
            safe_method: true,
            accept: Some(b"text/html,application/xhtml+xml;q=0.9,*/*;q=0.8"),
            requested_with: None,
        }
    }

    fn api() -> RequestView<'static> {
        RequestView {
            safe_method: true,
            accept: Some(b"application/json"),
            requested_with: None,
        }
    }

    const NONE: &[String] = &[];

    fn no_rule() -> Option<usize> {
        None
    }

    const FORBIDDEN_GROUP: Decision = Decision::Forbidden {
        lacking: Lacking::Group,
    };

    #[test]
    fn navigation_detection() {
        assert!(nav().is_navigation());
        assert!(!api().is_navigation());
        let post = RequestView {
            safe_method: false,
            ..nav()
        };
        assert!(!post.is_navigation());
        let xhr = RequestView {
            requested_with: Some(b"xmlhttprequest"),
            ..nav()
        };
        assert!(!xhr.is_navigation());
        let q0 = RequestView {
            accept: Some(b"text/html;q=0, */*"),
            ..nav()
        };
        assert!(!q0.is_navigation());
        let none = RequestView {
            accept: None,
            ..nav()
        };
        assert!(!none.is_navigation());
        let spaced = RequestView {
            accept: Some(b"  TEXT/HTML ; q=0.5"),
            ..nav()
        };
        assert!(spaced.is_navigation());
    }

    #[test]
    fn missing_credentials() {
        let d = decide(&nav(), &Credentials::Missing, NONE, NONE, no_rule, || false);
        assert_eq!(
            d,
            Decision::Login {
                reason: "no_credentials"
            }
        );
        let d = decide(&api(), &Credentials::Missing, NONE, NONE, no_rule, || false);
        assert_eq!(
            d,
            Decision::Unauthorized {
                reason: "no_credentials",
                www_authenticate: "Bearer".into()
            }
        );
        let d = decide(&api(), &Credentials::Missing, NONE, NONE, no_rule, || true);
        assert_eq!(d, Decision::AllowUnauthenticated);
        assert_eq!(d.reason(), "unauthenticated_path");
    }

    #[test]
    fn ended_session_says_why() {
        let ended = Credentials::Ended { reason: "idle" };
        let d = decide(&nav(), &ended, NONE, NONE, no_rule, || false);
        assert_eq!(d, Decision::Login { reason: "idle" });
        let d = decide(&api(), &ended, NONE, NONE, no_rule, || false);
        assert_eq!(
            d,
            Decision::Unauthorized {
                reason: "idle",
                www_authenticate: "Bearer".into()
            }
        );
        assert_eq!(
            decide(&api(), &ended, NONE, NONE, no_rule, || true),
            Decision::AllowUnauthenticated
        );
    }

    #[test]
    fn rejected_token_says_why() {
        let c = Credentials::Rejected {
            reason: "expired",
            description: "the token expired \"x\"\r\n".into(),
        };
        let d = decide(&api(), &c, NONE, NONE, no_rule, || false);
        assert_eq!(
            d,
            Decision::Unauthorized {
                reason: "expired",
                www_authenticate:
                    "Bearer error=\"invalid_token\", error_description=\"the token expired x\""
                        .into()
            }
        );
    }

    #[test]
    fn authenticated_path_never_asks_regexes() {
        let c = Credentials::Valid {
            method: AuthMethod::Bearer,
        };
        let d = decide(&api(), &c, &["a"], NONE, no_rule, || panic!("asked"));
        assert_eq!(
            d,
            Decision::Allow {
                method: AuthMethod::Bearer
            }
        );
    }

    #[test]
    fn groups() {
        let c = Credentials::Valid {
            method: AuthMethod::Session,
        };
        let req = vec!["admins".to_string(), "ops".to_string()];
        assert_eq!(
            decide(&nav(), &c, &["users", "ops"], &req, no_rule, || false),
            Decision::Allow {
                method: AuthMethod::Session
            }
        );
        let d = decide(&nav(), &c, &["users"], &req, no_rule, || true);
        assert_eq!(d, FORBIDDEN_GROUP);
        assert_eq!(d.reason(), "forbidden_group");
        let d = decide(&nav(), &c, &["Admins"], &req, no_rule, || false);
        assert_eq!(d, FORBIDDEN_GROUP, "group names are case-sensitive");
    }

    #[test]
    fn claim_rules_compose_with_groups() {
        let c = Credentials::Valid {
            method: AuthMethod::Bearer,
        };
        let req = vec!["ops".to_string()];
        // In the groups, a claim rule fails: forbidden_claim, for browsers too (no login).
        let d = decide(&nav(), &c, &["ops"], &req, || Some(1), || false);
        assert_eq!(
            d,
            Decision::Forbidden {
                lacking: Lacking::Claim(1)
            }
        );
        assert_eq!(d.reason(), "forbidden_claim");
        // Outside the groups: the claim rules are not even asked.
        let d = decide(&api(), &c, &["users"], &req, || panic!("asked"), || false);
        assert_eq!(d, FORBIDDEN_GROUP);
        // Both hold.
        let d = decide(&api(), &c, &["ops"], &req, no_rule, || false);
        assert_eq!(
            d,
            Decision::Allow {
                method: AuthMethod::Bearer
            }
        );
        // Without credentials the claim rules are never asked.
        let d = decide(
            &api(),
            &Credentials::Missing,
            NONE,
            &req,
            || panic!("asked"),
            || false,
        );
        assert_eq!(d.reason(), "no_credentials");
    }

    #[test]
    fn login_location_encodes_rd() {
        assert_eq!(
            login_location("/outpost.goauthentik.io/start", "/a b?x=1&y=2#f"),
            "/outpost.goauthentik.io/start?rd=/a%20b%3Fx%3D1%26y%3D2%23f"
        );
        assert_eq!(
            login_location(
                "https://auth.example.com/start?x=1",
                "https://a.example.com/"
            ),
            "https://auth.example.com/start?x=1&rd=https%3A//a.example.com/"
        );
    }
}

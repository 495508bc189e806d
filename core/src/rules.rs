//! Authorization rules on claims (README "Directives" → `sso_require_claim`) and the
//! credentials `sso_basic_auth_attributes` builds from them (README "Identity headers").
//!
//! A rule is a claim path and the values it accepts, parsed once at configuration time
//! ([`ClaimRule::parse`]). The path is a top-level claim name or a dotted path into nested
//! JSON objects (`realm_access.roles`, `ak_proxy.user_attributes.x`); a top-level claim whose
//! name is the whole path, dots included, is taken first (so a claim literally named
//! `https://example.com/roles` or `a.b` is reachable), else each segment names a member of
//! the object the previous one named. A segment cannot be empty (`a..b`, `.a`, `a.` are
//! configuration errors), and there is no escape for a dot inside a nested member's name.
//!
//! A value matches a claim that is:
//! - a string equal to it, byte for byte (case-sensitive);
//! - a number equal to it as a number (`42` matches `42` and `42.0`; integers are compared
//!   exactly, without going through floating point);
//! - a boolean, when the value is `true` or `false`;
//! - an array with one element matching as above (arrays inside it never match).
//!
//! `null`, an object, or a missing claim never matches: the rule fails. Within one rule the
//! values are any-of; a [`ClaimRules`] set holds when every rule does (AND).

use std::fmt;
use std::sync::OnceLock;

use serde_json::{Map, Value};

/// One `sso_require_claim CLAIM VALUE ...;`.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimRule {
    path: String,
    segments: Vec<String>,
    values: Vec<Expected>,
}

/// A configured value with its readings as a number and a boolean, decided once.
#[derive(Debug, Clone, PartialEq)]
struct Expected {
    text: String,
    number: Option<Number>,
    boolean: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Number {
    Int(i128),
    Float(f64),
}

impl Number {
    /// A JSON number's text (`-12`, `4.5`, `1e3`), as the configuration spells it.
    fn parse(text: &str) -> Option<Number> {
        let json_like = !text.is_empty()
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E'))
            && text.bytes().any(|b| b.is_ascii_digit());
        if !json_like {
            return None;
        }
        if let Ok(i) = text.parse::<i128>() {
            return Some(Number::Int(i));
        }
        text.parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(Number::Float)
    }

    fn of_json(n: &serde_json::Number) -> Option<Number> {
        if let Some(i) = n.as_i64() {
            return Some(Number::Int(i.into()));
        }
        if let Some(u) = n.as_u64() {
            return Some(Number::Int(u.into()));
        }
        n.as_f64().map(Number::Float)
    }

    fn equals(self, other: Number) -> bool {
        match (self, other) {
            (Number::Int(a), Number::Int(b)) => a == b,
            (Number::Int(i), Number::Float(f)) | (Number::Float(f), Number::Int(i)) => {
                // exact: the float's integer value, not the integer rounded to a float
                // (2^53 + 1 is not 2^53). `as` saturates, and no integral f64 at the
                // saturation bounds equals an i128 that came from an i64/u64.
                f.fract() == 0.0 && (f as i128) == i
            }
            (Number::Float(a), Number::Float(b)) => a == b,
        }
    }
}

/// Why a rule cannot be configured: the text follows `[emerg] sso_require_claim: `.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleError {
    NoValues,
    EmptyClaim,
    EmptySegment(String),
    EmptyValue(String),
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuleError::NoValues => f.write_str("takes a claim and one or more values"),
            RuleError::EmptyClaim => f.write_str("the claim name is empty"),
            RuleError::EmptySegment(p) => write!(
                f,
                "invalid claim \"{}\": a dotted path must not have an empty segment",
                p.escape_debug()
            ),
            RuleError::EmptyValue(p) => {
                write!(f, "an empty value for the claim \"{}\"", p.escape_debug())
            }
        }
    }
}

impl std::error::Error for RuleError {}

impl ClaimRule {
    /// `args` as the directive has them: the claim path, then the accepted values.
    pub fn parse<S: AsRef<str>>(args: &[S]) -> Result<ClaimRule, RuleError> {
        let (path, values) = match args {
            [path, values @ ..] if !values.is_empty() => (path.as_ref(), values),
            _ => return Err(RuleError::NoValues),
        };
        if path.is_empty() {
            return Err(RuleError::EmptyClaim);
        }
        let segments: Vec<String> = path.split('.').map(str::to_owned).collect();
        if segments.iter().any(String::is_empty) {
            return Err(RuleError::EmptySegment(path.to_owned()));
        }
        let values = values
            .iter()
            .map(|v| {
                let text = v.as_ref();
                if text.is_empty() {
                    return Err(RuleError::EmptyValue(path.to_owned()));
                }
                Ok(Expected {
                    text: text.to_owned(),
                    number: Number::parse(text),
                    boolean: match text {
                        "true" => Some(true),
                        "false" => Some(false),
                        _ => None,
                    },
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ClaimRule {
            path: path.to_owned(),
            segments,
            values,
        })
    }

    /// The claim path as configured.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The accepted values as configured.
    pub fn values(&self) -> impl Iterator<Item = &str> {
        self.values.iter().map(|v| v.text.as_str())
    }

    /// The claim this rule looks at, when present.
    pub fn lookup<'a>(&self, claims: &'a Map<String, Value>) -> Option<&'a Value> {
        lookup(claims, &self.path, &self.segments)
    }

    /// Whether `claims` satisfy this rule.
    pub fn holds(&self, claims: &Map<String, Value>) -> bool {
        match self.lookup(claims) {
            Some(Value::Array(items)) => items.iter().any(|item| self.matches_scalar(item)),
            Some(value) => self.matches_scalar(value),
            None => false,
        }
    }

    fn matches_scalar(&self, value: &Value) -> bool {
        match value {
            Value::String(s) => self.values.iter().any(|v| v.text == *s),
            Value::Number(n) => match Number::of_json(n) {
                Some(n) => self
                    .values
                    .iter()
                    .any(|v| v.number.is_some_and(|e| e.equals(n))),
                None => false,
            },
            Value::Bool(b) => self.values.iter().any(|v| v.boolean == Some(*b)),
            Value::Null | Value::Array(_) | Value::Object(_) => false,
        }
    }
}

/// For logs: `"realm_access.roles" one of "admin", "editor"` (configuration text only).
impl fmt::Display for ClaimRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{}\" one of ", self.path.escape_debug())?;
        for (i, v) in self.values().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "\"{}\"", v.escape_debug())?;
        }
        Ok(())
    }
}

/// The whole path as one top-level name first, else the dotted walk.
fn lookup<'a>(
    claims: &'a Map<String, Value>,
    path: &str,
    segments: &[String],
) -> Option<&'a Value> {
    if let Some(v) = claims.get(path) {
        return Some(v);
    }
    if segments.len() < 2 {
        return None;
    }
    let (first, rest) = segments.split_first()?;
    let mut at = claims.get(first)?;
    for segment in rest {
        at = at.as_object()?.get(segment)?;
    }
    Some(at)
}

/// The `sso_require_claim` rules of one context: every one must hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClaimRules(Vec<ClaimRule>);

impl ClaimRules {
    pub fn push(&mut self, rule: ClaimRule) {
        self.0.push(rule);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn get(&self, index: usize) -> Option<&ClaimRule> {
        self.0.get(index)
    }

    /// The index of the first rule `claims()` fail, None when all hold. `claims` is called
    /// only when there is a rule, so a context without rules never parses claims.
    pub fn first_failing<'a>(
        &self,
        claims: impl FnOnce() -> &'a Map<String, Value>,
    ) -> Option<usize> {
        if self.0.is_empty() {
            return None;
        }
        let claims = claims();
        self.0.iter().position(|rule| !rule.holds(claims))
    }
}

/// A token's or session's claims parsed on first use and kept with it (in the worker's
/// token or session cache), so rules and Basic credentials do not parse JSON on every
/// request. Not part of the value: a clone starts empty (a changed copy never reads stale
/// claims), every cell equals every other, nothing is printed.
#[derive(Default)]
pub struct ClaimsCell(OnceLock<Map<String, Value>>);

impl ClaimsCell {
    pub fn get_or_init(&self, parse: impl FnOnce() -> Map<String, Value>) -> &Map<String, Value> {
        self.0.get_or_init(parse)
    }
}

impl Clone for ClaimsCell {
    fn clone(&self) -> ClaimsCell {
        ClaimsCell::default()
    }
}

impl PartialEq for ClaimsCell {
    fn eq(&self, _: &ClaimsCell) -> bool {
        true
    }
}

impl Eq for ClaimsCell {}

impl fmt::Debug for ClaimsCell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClaimsCell")
    }
}

/// `sso_basic_auth_attributes USER_ATTR PASSWORD_ATTR;`: which members of
/// `ak_proxy.user_attributes` hold the upstream's Basic credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BasicAttributes {
    pub user: String,
    pub password: String,
}

/// Why no `Authorization: Basic` is built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BasicError {
    /// One of the attributes is missing (or not a string or an integer): no header.
    Missing(String),
    /// The user name contains a `:`, which Basic cannot carry (RFC 7617 section 2).
    ColonInUser,
}

impl fmt::Display for BasicError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BasicError::Missing(name) => write!(
                f,
                "the user attribute \"{}\" is missing or not a string",
                name.escape_debug()
            ),
            BasicError::ColonInUser => {
                f.write_str("the user name attribute contains \":\", which HTTP Basic cannot carry")
            }
        }
    }
}

impl BasicAttributes {
    /// The `Authorization` value (`Basic base64(user:password)`, RFC 7617) from `claims`.
    pub fn authorization(&self, claims: &Map<String, Value>) -> Result<String, BasicError> {
        use base64::engine::general_purpose::STANDARD;
        use base64::Engine;
        let attrs = claims
            .get("ak_proxy")
            .and_then(|p| p.get("user_attributes"))
            .and_then(Value::as_object);
        let get = |name: &str| -> Result<String, BasicError> {
            match attrs.and_then(|a| a.get(name)) {
                Some(Value::String(s)) => Ok(s.clone()),
                Some(Value::Number(n)) if n.is_i64() || n.is_u64() => Ok(n.to_string()),
                _ => Err(BasicError::Missing(name.to_owned())),
            }
        };
        let user = get(&self.user)?;
        let password = zeroize::Zeroizing::new(get(&self.password)?);
        if user.contains(':') {
            return Err(BasicError::ColonInUser);
        }
        let plain = zeroize::Zeroizing::new(format!("{user}:{}", password.as_str()));
        Ok(format!("Basic {}", STANDARD.encode(plain.as_bytes())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    fn rule(args: &[&str]) -> ClaimRule {
        ClaimRule::parse(args).unwrap()
    }

    fn keycloak() -> Map<String, Value> {
        claims(json!({
            "sub": "u1",
            "realm_access": {"roles": ["offline", "admin"]},
            "level": 42,
            "ratio": 0.5,
            "big": 9007199254740993u64,
            "staff": true,
            "a.b": "top",
            "a": {"b": "nested", "c": {"d": [1, 2]}},
            "ak_proxy": {"user_attributes": {"dept": "ops", "n": null, "obj": {"x": 1}}},
            "nested_list": [["admin"]],
            "email": "Jane@Example.org"
        }))
    }

    #[test]
    fn dotted_paths_into_nested_objects() {
        let c = keycloak();
        assert!(rule(&["realm_access.roles", "admin"]).holds(&c));
        assert!(!rule(&["realm_access.roles", "root"]).holds(&c));
        assert!(rule(&["ak_proxy.user_attributes.dept", "ops"]).holds(&c));
        assert!(rule(&["a.c.d", "2"]).holds(&c));
        assert!(
            !rule(&["a.c.d.e", "2"]).holds(&c),
            "through an array: missing"
        );
        assert!(
            !rule(&["sub.x", "u1"]).holds(&c),
            "through a string: missing"
        );
        assert!(!rule(&["missing", "x"]).holds(&c), "a missing claim fails");
        assert!(!rule(&["realm_access.missing", "x"]).holds(&c));
    }

    #[test]
    fn a_top_level_name_with_dots_is_taken_first() {
        let c = keycloak();
        assert!(rule(&["a.b", "top"]).holds(&c));
        assert!(!rule(&["a.b", "nested"]).holds(&c));
        let mut without = c.clone();
        without.remove("a.b");
        assert!(rule(&["a.b", "nested"]).holds(&without));
    }

    #[test]
    fn values_are_any_of_and_typed() {
        let c = keycloak();
        assert!(rule(&["level", "7", "42"]).holds(&c));
        assert!(rule(&["level", "42.0"]).holds(&c));
        assert!(rule(&["level", "4.2e1"]).holds(&c));
        assert!(!rule(&["level", "43", "4"]).holds(&c));
        assert!(!rule(&["level", "forty-two"]).holds(&c));
        assert!(rule(&["ratio", "0.5"]).holds(&c));
        assert!(!rule(&["ratio", "0"]).holds(&c));
        // Integers beyond 2^53 are compared exactly.
        assert!(rule(&["big", "9007199254740993"]).holds(&c));
        assert!(!rule(&["big", "9007199254740992"]).holds(&c));
        // ... also against a float claim: 2^53 + 1 is not 2^53 written as a float
        let f = claims(json!({"uid": 9007199254740992.0_f64}));
        assert!(!rule(&["uid", "9007199254740993"]).holds(&f));
        assert!(rule(&["uid", "9007199254740992"]).holds(&f));
        assert!(rule(&["staff", "true"]).holds(&c));
        assert!(!rule(&["staff", "false"]).holds(&c));
        assert!(
            !rule(&["staff", "1"]).holds(&c),
            "a boolean is not a number"
        );
        assert!(!rule(&["level", "true"]).holds(&c));
        // Strings are exact.
        assert!(!rule(&["email", "jane@example.org"]).holds(&c));
        assert!(rule(&["email", "Jane@Example.org"]).holds(&c));
        // A string claim holding digits matches the same digits.
        let s = claims(json!({"n": "42", "t": "true", "inf": 1e308}));
        assert!(rule(&["n", "42"]).holds(&s));
        assert!(
            !rule(&["n", "42.0"]).holds(&s),
            "a string is compared as text"
        );
        assert!(rule(&["t", "true"]).holds(&s));
        assert!(!rule(&["inf", "inf"]).holds(&s));
    }

    #[test]
    fn null_objects_and_nested_arrays_never_match() {
        let c = keycloak();
        assert!(!rule(&["ak_proxy.user_attributes.n", "null"]).holds(&c));
        assert!(!rule(&["ak_proxy.user_attributes.obj", "{\"x\":1}"]).holds(&c));
        assert!(!rule(&["nested_list", "admin"]).holds(&c));
    }

    #[test]
    fn bad_rules_are_refused() {
        assert_eq!(ClaimRule::parse(&["roles"]), Err(RuleError::NoValues));
        assert_eq!(ClaimRule::parse::<&str>(&[]), Err(RuleError::NoValues));
        assert_eq!(ClaimRule::parse(&["", "x"]), Err(RuleError::EmptyClaim));
        for p in ["a..b", ".a", "a.", "."] {
            assert_eq!(
                ClaimRule::parse(&[p, "x"]),
                Err(RuleError::EmptySegment(p.into())),
                "{p}"
            );
        }
        assert_eq!(
            ClaimRule::parse(&["a", "x", ""]),
            Err(RuleError::EmptyValue("a".into()))
        );
        assert_eq!(
            RuleError::EmptySegment("a..b".into()).to_string(),
            "invalid claim \"a..b\": a dotted path must not have an empty segment"
        );
    }

    #[test]
    fn rules_and_and_skip_parsing_without_rules() {
        let c = keycloak();
        let none = ClaimRules::default();
        assert_eq!(none.first_failing(|| panic!("parsed claims")), None);
        let mut rules = ClaimRules::default();
        rules.push(rule(&["realm_access.roles", "admin"]));
        rules.push(rule(&["staff", "true"]));
        assert_eq!(rules.first_failing(|| &c), None);
        rules.push(rule(&["level", "1"]));
        assert_eq!(rules.first_failing(|| &c), Some(2));
        assert_eq!(rules.get(2).unwrap().to_string(), "\"level\" one of \"1\"");
        assert_eq!(
            rule(&["realm_access.roles", "admin", "a\"b"]).to_string(),
            "\"realm_access.roles\" one of \"admin\", \"a\\\"b\""
        );
    }

    #[test]
    fn claims_cell_clone_starts_empty() {
        let cell = ClaimsCell::default();
        let first = cell.get_or_init(|| claims(json!({"a": 1})));
        assert_eq!(first.len(), 1);
        assert_eq!(cell.get_or_init(|| panic!("parsed twice")).len(), 1);
        let copy = cell.clone();
        assert!(copy.get_or_init(Map::new).is_empty());
        assert_eq!(cell, copy);
    }

    #[test]
    fn basic_credentials() {
        let attrs = BasicAttributes {
            user: "basic_user".into(),
            password: "basic_password".into(),
        };
        let with = |u: Value, p: Value| {
            claims(json!({"ak_proxy": {"user_attributes": {"basic_user": u, "basic_password": p}}}))
        };
        // RFC 7617 section 2's example.
        assert_eq!(
            attrs.authorization(&with(json!("Aladdin"), json!("open sesame"))),
            Ok("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==".into())
        );
        assert_eq!(
            attrs.authorization(&with(json!("svc"), json!("a:b:c"))),
            Ok(format!("Basic {}", "c3ZjOmE6Yjpj")),
            "a colon in the password is fine"
        );
        assert_eq!(
            attrs.authorization(&with(json!(1001), json!("pw"))),
            Ok("Basic MTAwMTpwdw==".into())
        );
        assert_eq!(
            attrs.authorization(&with(json!("a:b"), json!("pw"))),
            Err(BasicError::ColonInUser)
        );
        assert_eq!(
            attrs.authorization(&with(json!("svc"), Value::Null)),
            Err(BasicError::Missing("basic_password".into()))
        );
        assert_eq!(
            attrs.authorization(&with(json!(["svc"]), json!("pw"))),
            Err(BasicError::Missing("basic_user".into()))
        );
        assert_eq!(
            attrs.authorization(&claims(json!({"sub": "x"}))),
            Err(BasicError::Missing("basic_user".into()))
        );
    }

    #[test]
    fn session_claims_include_what_the_identity_holds() {
        use crate::identity::Identity;
        use crate::session::Session;
        let full = claims(json!({
            "sub": "u1", "preferred_username": "jdoe", "groups": ["ops"],
            "realm_access": {"roles": ["admin"]}, "nonce": "n"
        }));
        let mut s = Session::new(Identity::from_claims(&full), 1000, 60, None);
        s.keep_claims(&full);
        let all = s.all_claims();
        assert!(rule(&["realm_access.roles", "admin"]).holds(all));
        assert!(
            rule(&["groups", "ops"]).holds(all),
            "rebuilt from the identity"
        );
        assert!(rule(&["preferred_username", "jdoe"]).holds(all));
        assert!(!all.contains_key("nonce"));
        // A changed copy (a refresh) reads its own claims, not the cached ones.
        let mut renewed = s.clone();
        let fresh = claims(json!({"sub": "u1", "realm_access": {"roles": ["viewer"]}}));
        renewed.identity = Identity::from_claims(&fresh);
        renewed.keep_claims(&fresh);
        assert!(!rule(&["realm_access.roles", "admin"]).holds(renewed.all_claims()));
        assert!(rule(&["realm_access.roles", "viewer"]).holds(renewed.all_claims()));
        // Neither the ID token nor kept claims: the identity's alone.
        let bare = Session::new(Identity::from_claims(&full), 1000, 60, None);
        assert!(rule(&["groups", "ops"]).holds(bare.all_claims()));
        assert!(!rule(&["realm_access.roles", "admin"]).holds(bare.all_claims()));
        // An ID token without `groups` (the provider sent them from userinfo, merged into
        // the identity at login): the rule sees the identity's groups, and the token's own
        // claims.
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use base64::Engine;
        let payload = URL_SAFE_NO_PAD.encode(br#"{"sub":"u1","realm_access":{"roles":["admin"]}}"#);
        let token = format!("eyJhbGciOiJSUzI1NiJ9.{payload}.c2ln");
        let with_token = Session::new(Identity::from_claims(&full), 1000, 60, Some(token));
        assert!(with_token.id_token_jws().is_some(), "the token is kept");
        assert!(rule(&["groups", "ops"]).holds(with_token.all_claims()));
        assert!(rule(&["realm_access.roles", "admin"]).holds(with_token.all_claims()));
    }

    #[test]
    fn forbidden_page_and_json() {
        use crate::flow::{forbidden_json, forbidden_page, Requirement};
        let r = rule(&["realm_access.roles", "admin", "<ed>"]);
        let page = forbidden_page("o'neil<i>", &Requirement::Claim(&r), "/p/sign_out");
        assert!(
            page.contains("signed in as <strong>o&#39;neil&lt;i&gt;</strong>"),
            "{page}"
        );
        assert!(
            page.contains("<strong>realm_access.roles</strong>"),
            "{page}"
        );
        assert!(page.contains("one of: <strong>admin</strong>, <strong>&lt;ed&gt;</strong>"));
        assert!(
            page.contains("<a href=\"/p/sign_out\">sign out</a>"),
            "{page}"
        );
        assert!(!page.contains("<i>") && !page.contains("<ed>"));
        let groups = vec!["admins".to_string()];
        let page = forbidden_page("", &Requirement::Groups(&groups), "/s");
        assert!(page.contains("You are signed in."), "{page}");
        assert!(
            page.contains("members of the group: <strong>admins</strong>"),
            "{page}"
        );
        let body: Value = serde_json::from_str(&forbidden_json(&Requirement::Claim(&r))).unwrap();
        assert_eq!(
            body,
            json!({"error": "forbidden", "reason": "forbidden_claim",
                   "claim": "realm_access.roles", "values": ["admin", "<ed>"]})
        );
        let body: Value =
            serde_json::from_str(&forbidden_json(&Requirement::Groups(&groups))).unwrap();
        assert_eq!(
            body,
            json!({"error": "forbidden", "reason": "forbidden_group", "groups": ["admins"]})
        );
    }
}

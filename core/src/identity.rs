//! Claims -> the identity (README "Identity headers" and "Variables").
//!
//! An identity keeps the claims' values exactly as the provider signed them: authorization
//! (`sso_require_group`) compares exact values. A value that cannot be sent safely as a
//! header (a control character anywhere, or leading/trailing whitespace that HTTP would
//! strip) is never rewritten into another one: it is omitted from the headers and the
//! variables, and [`Identity::omitted`] says which (README "Security").

use std::borrow::Cow;
use std::fmt;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::header_block::{HeaderBlock, Item};

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
    /// `ak_proxy.user_attributes.additionalHeaders`, already rendered to strings (exact
    /// values; unsafe ones are omitted when rendered).
    #[serde(default, rename = "h", skip_serializing_if = "Vec::is_empty")]
    pub additional_headers: Vec<(String, String)>,
    /// Names in `additionalHeaders` that are not rendered (a value that is neither a string
    /// nor an integer, or past [`MAX_ADDITIONAL_HEADERS`]) but that a client must still not
    /// be able to send in the user's name: stripped like the rendered ones.
    #[serde(default, rename = "x", skip_serializing_if = "Vec::is_empty")]
    pub unrendered_header_names: Vec<String>,
    /// `ak_proxy.backend_override`
    #[serde(default, rename = "b", skip_serializing_if = "String::is_empty")]
    pub backend_override: String,
    /// [`Identity::header_block`], rendered on first use. Not part of the identity: never
    /// serialised, empty in a clone, ignored by `==`.
    /// (Public only so that `..Identity::default()` works outside this module.)
    #[serde(skip)]
    pub rendered: Rendered,
}

/// A lazily rendered [`HeaderBlock`] (and the names of the headers whose value was omitted)
/// that does not count as data of its [`Identity`].
#[derive(Default)]
pub struct Rendered(OnceLock<(HeaderBlock, Vec<String>)>);

impl Clone for Rendered {
    /// A clone starts unrendered, so a clone changed afterwards never shows stale headers.
    fn clone(&self) -> Self {
        Rendered::default()
    }
}

impl PartialEq for Rendered {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Rendered {}

impl fmt::Debug for Rendered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.get().is_some() {
            "rendered"
        } else {
            "not rendered"
        })
    }
}

/// How many headers of [`Identity::header_block`] come before the `additionalHeaders`
/// (username, groups, entitlements, email, name, uid).
const BLOCK_BASE_HEADERS: usize = 6;

/// Most entries taken from `additionalHeaders` (the rest are skipped).
pub const MAX_ADDITIONAL_HEADERS: usize = 32;

/// Header names `additionalHeaders` may not set: message framing and hop-by-hop headers
/// (setting them on the upstream request could desynchronise it), and our own
/// `X-authentik-*` headers (see [`is_identity_header`]).
const FORBIDDEN_ADDITIONAL: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
    "expect",
];

/// The four `X-authentik-meta-*` headers of a location, rendered once (configuration values,
/// sanitised): app, provider, outpost, version.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MetaHeaders {
    block: HeaderBlock,
    /// No `sso_app`: app and provider are the request's host, per request.
    app_from_host: bool,
}

impl MetaHeaders {
    /// `app`: `sso_app`, which names both the app and the provider; `None`: the request's
    /// host does ([`Header::Meta`]). `version` is the module's: the header says
    /// `ngx_http_sso_module/<version>`.
    pub fn new(app: Option<&str>, outpost: &str, version: &str) -> MetaHeaders {
        let app_text = clean(app.unwrap_or(""));
        MetaHeaders {
            block: HeaderBlock::new(&[
                ("X-authentik-meta-app", app_text.clone()),
                ("X-authentik-meta-provider", app_text),
                ("X-authentik-meta-outpost", clean(outpost)),
                (
                    "X-authentik-meta-version",
                    clean(&format!("ngx_http_sso_module/{version}")),
                ),
            ]),
            app_from_host: app.is_none(),
        }
    }

    /// The rendered headers (the glue copies them into each request's pool).
    pub fn block(&self) -> &HeaderBlock {
        &self.block
    }
}

/// A JWT in compact serialisation: base64url parts separated by dots and nothing else, so a
/// header value that needs no checking (`X-authentik-jwt` on every request) by construction.
///
/// Made by checking once ([`CompactJws::new`]), or handed out by what already proved it:
/// [`crate::cache::TokenCache::verify`] for the token it verified or found (the signature
/// check refuses any other byte, and a cache hit is byte-equal to a verified token). So a
/// request never rescans the token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompactJws<'a>(&'a str);

impl<'a> CompactJws<'a> {
    /// `Some` when `token` is in the compact shape (one pass over it).
    pub fn new(token: &'a str) -> Option<CompactJws<'a>> {
        crate::session::is_compact_jws(token).then_some(CompactJws(token))
    }

    /// For a token the caller already proved to be in the compact shape.
    pub(crate) fn proven(token: &'a str) -> CompactJws<'a> {
        debug_assert!(crate::session::is_compact_jws(token));
        CompactJws(token)
    }

    pub fn as_str(self) -> &'a str {
        self.0
    }
}

/// One identity header of a request, in order ([`request_headers`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Header<'a> {
    /// An item of the identity's block ([`Identity::header_block`]).
    Own(&'a Item),
    /// `X-authentik-jwt` with this value (a [`CompactJws`]: a safe header value).
    Jwt(&'a str),
    /// An item of the location's [`MetaHeaders::block`]; with `host`, its value is the
    /// request's host instead (app and provider without `sso_app`).
    Meta { item: &'a Item, host: bool },
}

/// The identity headers a request gets, in order (README "Identity headers"): username,
/// groups, entitlements, email, name, uid, jwt (when `raw_jwt` is given), meta-app,
/// meta-provider, meta-outpost, meta-version, then the `additionalHeaders`. Every header is
/// listed even when its value is empty (authentik's outpost does the same). `own` is the
/// identity's [`Identity::header_block`].
pub fn request_headers<'a>(
    own: &'a HeaderBlock,
    meta: &'a MetaHeaders,
    raw_jwt: Option<CompactJws<'a>>,
) -> impl Iterator<Item = Header<'a>> {
    let items = own.items();
    let (base, additional) = items.split_at(BLOCK_BASE_HEADERS.min(items.len()));
    let jwt = raw_jwt.map(|t| Header::Jwt(t.as_str()));
    let meta_items = meta.block.items().iter().enumerate().map(|(i, item)| {
        // app and provider come first (MetaHeaders::new).
        Header::Meta {
            item,
            host: meta.app_from_host && i < 2,
        }
    });
    base.iter()
        .map(Header::Own)
        .chain(jwt)
        .chain(meta_items)
        .chain(additional.iter().map(Header::Own))
}

impl Identity {
    /// The identity (README "Identity headers") from verified claims (a JWT's, or an ID token's at login).
    ///
    /// `preferred_username`, `email`, `name` are taken when strings; `sub` when a string (or an
    /// integer, as decimal); `groups` and `entitlements` when arrays (non-string entries
    /// skipped) or a single string; `ak_proxy.user_attributes.additionalHeaders` entries whose
    /// name is an RFC 7230 token (and not a framing/hop-by-hop or `X-authentik-*` header) and
    /// whose value is a string or an integer; `ak_proxy.backend_override` when a string.
    /// Every text is kept exactly; see [`is_safe_header_value`] for what is sent.
    pub fn from_claims(claims: &Map<String, Value>) -> Identity {
        let text = |name: &str| match claims.get(name) {
            Some(Value::String(s)) => s.clone(),
            _ => String::new(),
        };
        let uid = match claims.get("sub") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) if n.is_i64() || n.is_u64() => n.to_string(),
            _ => String::new(),
        };
        let ak_proxy = claims.get("ak_proxy");
        let (additional_headers, unrendered_header_names) = ak_proxy
            .and_then(|p| p.get("user_attributes"))
            .and_then(|a| a.get("additionalHeaders"))
            .and_then(Value::as_object)
            .map(additional_headers)
            .unwrap_or_default();
        let backend_override = match ak_proxy.and_then(|p| p.get("backend_override")) {
            Some(Value::String(s)) => s.clone(),
            _ => String::new(),
        };
        Identity {
            username: text("preferred_username"),
            email: text("email"),
            name: text("name"),
            uid,
            groups: string_list(claims.get("groups")),
            entitlements: string_list(claims.get("entitlements")),
            additional_headers,
            unrendered_header_names,
            backend_override,
            rendered: Rendered::default(),
        }
    }

    /// Every request header name a client must not send in this user's name (besides
    /// `X-authentik-*`): each `additionalHeaders` name the module may set, rendered or not.
    /// Compare with [`same_header_name`] (`-` and `_` alike).
    pub fn strip_names(&self) -> impl Iterator<Item = &str> {
        self.additional_headers
            .iter()
            .map(|(n, _)| n.as_str())
            .chain(self.unrendered_header_names.iter().map(String::as_str))
    }

    /// The headers whose value was omitted because it cannot be sent safely (for the log).
    pub fn omitted(&self) -> &[String] {
        &self.rendered().1
    }

    fn rendered(&self) -> &(HeaderBlock, Vec<String>) {
        self.rendered.0.get_or_init(|| {
            let mut omitted = Vec::new();
            let (mut base, additional) = self.own_headers(&mut omitted);
            base.extend(additional);
            (HeaderBlock::new(&base), omitted)
        })
    }

    /// `$sso_groups` and `X-authentik-groups`: the groups joined with `|`, without the
    /// ones that cannot be sent ([`list_value`]).
    pub fn groups_joined(&self) -> String {
        list_value(&self.groups).0
    }

    /// `$sso_entitlements` and `X-authentik-entitlements`: joined with `|`, like groups.
    pub fn entitlements_joined(&self) -> String {
        list_value(&self.entitlements).0
    }

    /// The headers of [`request_headers`] that depend on the identity alone: the first
    /// six (username .. uid), then the `additionalHeaders`; without jwt and
    /// meta, which come in between. Rendered on first use and kept: render only an
    /// identity that will not change any more (a cached token's, an opened session's).
    pub fn header_block(&self) -> &HeaderBlock {
        &self.rendered().0
    }

    /// (username .. uid, the additionalHeaders), each value as it is when safe to send and
    /// empty otherwise; the names of omitted values are added to `omitted`.
    #[allow(clippy::type_complexity)]
    fn own_headers(
        &self,
        omitted: &mut Vec<String>,
    ) -> (
        Vec<(Cow<'static, str>, String)>,
        Vec<(Cow<'static, str>, String)>,
    ) {
        let mut base: Vec<(Cow<'static, str>, String)> = Vec::with_capacity(16);
        let mut scalar = |name: &'static str, value: &str, omitted: &mut Vec<String>| {
            let sent = header_value(value).unwrap_or_else(|| {
                omitted.push(name.to_owned());
                ""
            });
            base.push((Cow::Borrowed(name), sent.to_owned()));
        };
        scalar("X-authentik-username", &self.username, omitted);
        let (groups, dropped_groups) = list_value(&self.groups);
        let (entitlements, dropped_entitlements) = list_value(&self.entitlements);
        scalar("X-authentik-groups", &groups, omitted);
        scalar("X-authentik-entitlements", &entitlements, omitted);
        scalar("X-authentik-email", &self.email, omitted);
        scalar("X-authentik-name", &self.name, omitted);
        scalar("X-authentik-uid", &self.uid, omitted);
        if dropped_groups {
            omitted.push("X-authentik-groups (some groups)".to_owned());
        }
        if dropped_entitlements {
            omitted.push("X-authentik-entitlements (some entitlements)".to_owned());
        }
        let mut additional = Vec::new();
        // Re-checked: an Identity may come from a (sealed, but older) session cookie.
        for (name, value) in &self.additional_headers {
            if !additional_header_allowed(name) {
                continue;
            }
            match header_value(value) {
                Some(v) => additional.push((Cow::Owned(name.clone()), v.to_owned())),
                None => omitted.push(name.clone()),
            }
        }
        (base, additional)
    }
}

/// `$sso_claim_NAME`: the top-level claim `name`, rendered ([`render_claim`]).
pub fn claim_variable(claims: &Map<String, Value>, name: &str) -> Option<String> {
    claims.get(name).map(render_claim)
}

/// A claim as text: strings as they are, numbers and booleans as JSON text, `null` empty,
/// arrays as their elements joined with `|` (each rendered the same way, nested arrays and
/// objects as JSON; empty elements left out), objects as compact JSON. nginx variables end up
/// in headers (`proxy_set_header`), so what cannot be sent safely is left out.
pub fn render_claim(value: &Value) -> String {
    // serde_json escapes control characters inside JSON text; a string that still holds one
    // (or outer whitespace) is omitted, never rewritten; so is an array element that could
    // not be told apart from others once joined (see [`list_value`]).
    match value {
        Value::Array(items) => {
            let rendered: Vec<String> = items.iter().map(render_scalar).collect();
            list_value(&rendered).0
        }
        other => {
            let text = render_scalar(other);
            if is_safe_header_value(&text) {
                text
            } else {
                String::new()
            }
        }
    }
}

fn render_scalar(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        // serde_json escapes control characters inside strings, so JSON text has none raw.
        Value::Array(_) | Value::Object(_) => serde_json::to_string(value).unwrap_or_default(),
    }
}

/// Makes a header value safe: every control character (C0 including NUL, CR, LF; DEL; C1) is
/// dropped, except HTAB which becomes a space; leading and trailing spaces are trimmed. Other
/// characters (UTF-8 included) are kept. Borrowed when nothing had to change.
///
/// Dropping rather than replacing keeps values readable (`a\r\nb` becomes `ab`); either way no
/// control character can reach nginx's header list.
pub fn sanitize_header_value(value: &str) -> Cow<'_, str> {
    // Bytes, not chars (this runs on every value of every request that carries an ID token):
    // in UTF-8, C0 and DEL are single bytes and every C1 control starts with 0xC2, a byte
    // that only a few Latin-1 letters share (those take the slow path).
    let clean_already = value.bytes().all(|b| b >= 0x20 && b != 0x7f && b != 0xc2)
        || !value.chars().any(char::is_control);
    let clean_already = clean_already && !value.starts_with(' ') && !value.ends_with(' ');
    if clean_already {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if c == '\t' {
            out.push(' ');
        } else if !c.is_control() {
            out.push(c);
        }
    }
    Cow::Owned(out.trim_matches(' ').to_owned())
}

fn clean(value: &str) -> String {
    sanitize_header_value(value).into_owned()
}

/// True when `value` can be sent as a header value exactly as it is: no control character
/// (C0 including NUL, CR, LF and HTAB; DEL; C1) and no leading or trailing space, which HTTP
/// would strip (so `admins-only ` would arrive as `admins-only`). UTF-8 is fine.
pub fn is_safe_header_value(value: &str) -> bool {
    // Bytes first: in UTF-8, C0 and DEL are single bytes and every C1 control starts 0xC2.
    let maybe_c1 = value.bytes().any(|b| b == 0xc2);
    !value.bytes().any(|b| b < 0x20 || b == 0x7f)
        && !(maybe_c1 && value.chars().any(char::is_control))
        && !value.starts_with(' ')
        && !value.ends_with(' ')
}

/// `Some(value)` when it can be sent as it is ([`is_safe_header_value`]), else `None`.
pub fn header_value(value: &str) -> Option<&str> {
    is_safe_header_value(value).then_some(value)
}

/// A list joined with `|` for a header or variable: the items that can be sent as they are
/// and cannot be mistaken for others (safe, non-empty, without `|`, which would split one
/// group into two). The flag says whether an item was dropped.
pub fn list_value(items: &[String]) -> (String, bool) {
    let mut out = String::new();
    let mut dropped = false;
    for item in items {
        if item.is_empty() || item.contains('|') || !is_safe_header_value(item) {
            dropped = true;
            continue;
        }
        if !out.is_empty() {
            out.push('|');
        }
        out.push_str(item);
    }
    (out, dropped)
}

/// Header names compared as nginx's `$http_*` variables and CGI-style upstreams (FastCGI,
/// uwsgi, SCGI: `HTTP_X_AUTHENTIK_USERNAME`) see them: ASCII case-insensitive, with `-` and
/// `_` alike.
pub fn same_header_name(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(&x, &y)| fold_name(x) == fold_name(y))
}

fn fold_name(b: u8) -> u8 {
    if b == b'_' {
        b'-'
    } else {
        b.to_ascii_lowercase()
    }
}

/// True for the headers this module owns (`X-authentik-*`, any case, `_` for any `-`:
/// `X_authentik_username` too): the glue removes every client-sent one before the upstream
/// sees the request (README "How a request is decided", step 2).
pub fn is_identity_header(name: &[u8]) -> bool {
    const PREFIX: &[u8] = b"x-authentik-";
    name.get(..PREFIX.len())
        .is_some_and(|head| same_header_name(head, PREFIX))
}

/// An RFC 7230 `token` (a valid header field name): one or more `tchar`s.
pub fn is_header_token(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        })
}

fn additional_header_allowed(name: &str) -> bool {
    is_header_token(name)
        && !is_identity_header(name.as_bytes())
        && !FORBIDDEN_ADDITIONAL
            .iter()
            .any(|f| f.eq_ignore_ascii_case(name))
}

/// (rendered entries, names not rendered): see [`Identity::unrendered_header_names`].
fn additional_headers(map: &Map<String, Value>) -> (Vec<(String, String)>, Vec<String>) {
    let mut out = Vec::new();
    let mut unrendered = Vec::new();
    for (name, value) in map {
        if !additional_header_allowed(name) {
            continue;
        }
        let value = match value {
            Value::String(s) => s.clone(),
            Value::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
            _ => {
                unrendered.push(name.clone());
                continue;
            }
        };
        if out.len() >= MAX_ADDITIONAL_HEADERS {
            unrendered.push(name.clone());
            continue;
        }
        out.push((name.clone(), value));
    }
    (out, unrendered)
}

fn string_list(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        Some(Value::String(s)) if !s.is_empty() => vec![s.clone()],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    /// What the glue sends: [`request_headers`] rendered, the request's host standing in
    /// where [`Header::Meta`] says so.
    fn sent(
        id: &Identity,
        meta: &MetaHeaders,
        jwt: Option<&str>,
        host: &str,
    ) -> Vec<(String, String)> {
        let text = |b: &HeaderBlock, r: std::ops::Range<usize>| {
            String::from_utf8_lossy(&b.bytes()[r]).into_owned()
        };
        let own = id.header_block();
        // A token that is not compact cannot be given at all (the type): none is sent.
        let jwt = jwt.and_then(CompactJws::new);
        request_headers(own, meta, jwt)
            .map(|h| match h {
                Header::Own(item) => (text(own, item.name()), text(own, item.value())),
                Header::Jwt(value) => ("X-authentik-jwt".to_owned(), value.to_owned()),
                Header::Meta { item, host: true } => {
                    (text(meta.block(), item.name()), host.to_owned())
                }
                Header::Meta { item, host: false } => (
                    text(meta.block(), item.name()),
                    text(meta.block(), item.value()),
                ),
            })
            .collect()
    }

    fn authentik_claims() -> Map<String, Value> {
        obj(json!({
            "iss": "https://auth.example.com/application/o/app/",
            "sub": "a1b2c3",
            "preferred_username": "akadmin",
            "email": "root@example.com",
            "name": "authentik Default Admin",
            "groups": ["authentik Admins", "ops", 7],
            "entitlements": ["billing"],
            "ak_proxy": {
                "user_attributes": {
                    "additionalHeaders": {
                        "X-Tenant": "acme",
                        "X-Level": 3,
                        "X-Big": 18446744073709551615u64,
                        "X-Float": 1.5,
                        "X-Bool": true,
                        "X-List": ["a"],
                        "Bad Name": "x",
                        "X-Évil": "x",
                        "": "x",
                        "Content-Length": "0",
                        "x-authentik-username": "root",
                        "X-Inject": "a\r\nX-Admin: 1"
                    }
                },
                "backend_override": "http://10.0.0.2:8080"
            }
        }))
    }

    #[test]
    fn from_authentik_claims() {
        let id = Identity::from_claims(&authentik_claims());
        assert_eq!(id.username, "akadmin");
        assert_eq!(id.email, "root@example.com");
        assert_eq!(id.name, "authentik Default Admin");
        assert_eq!(id.uid, "a1b2c3");
        assert_eq!(id.groups, ["authentik Admins", "ops"]);
        assert_eq!(id.entitlements, ["billing"]);
        assert_eq!(id.backend_override, "http://10.0.0.2:8080");
        let mut headers = id.additional_headers.clone();
        headers.sort();
        assert_eq!(
            headers,
            [
                ("X-Big".to_string(), "18446744073709551615".to_string()),
                ("X-Inject".into(), "a\r\nX-Admin: 1".into()),
                ("X-Level".into(), "3".into()),
                ("X-Tenant".into(), "acme".into()),
            ]
        );
        // Kept exactly, but never sent: the header is omitted, not rewritten.
        let block = id.header_block();
        let sent: Vec<&[u8]> = (0..block.len())
            .filter_map(|i| block.get(i))
            .map(|(n, _)| n)
            .collect();
        assert!(!sent.contains(&&b"X-Inject"[..]), "{sent:?}");
        assert_eq!(id.omitted(), ["X-Inject"]);
        // Names with non-string values are not rendered but still stripped; framing and
        // invalid names are neither.
        let mut strip: Vec<&str> = id.strip_names().collect();
        strip.sort();
        assert_eq!(
            strip,
            ["X-Big", "X-Bool", "X-Float", "X-Inject", "X-Level", "X-List", "X-Tenant"]
        );
    }

    #[test]
    fn values_are_exact_and_unsafe_ones_omitted() {
        let id = Identity::from_claims(&obj(json!({
            "preferred_username": "ad\nmin",
            "email": " root@example.com",
            "name": "Ok Name",
            "groups": ["admins-only\u{0}", "\tadmins-only", "admins-only ", "a|admin", "ops"],
        })));
        assert_eq!(id.username, "ad\nmin", "kept exactly for comparison");
        assert_eq!(id.groups.len(), 5);
        assert!(!id.groups.iter().any(|g| g == "admins-only"));
        let block = id.header_block();
        let value = |name: &str| {
            (0..block.len())
                .filter_map(|i| block.get(i))
                .find(|(n, _)| *n == name.as_bytes())
                .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
        };
        assert_eq!(value("X-authentik-username").as_deref(), Some(""));
        assert_eq!(value("X-authentik-email").as_deref(), Some(""));
        assert_eq!(value("X-authentik-name").as_deref(), Some("Ok Name"));
        assert_eq!(value("X-authentik-groups").as_deref(), Some("ops"));
        assert_eq!(id.groups_joined(), "ops");
        assert!(id.omitted().iter().any(|n| n == "X-authentik-username"));
        assert!(id
            .omitted()
            .iter()
            .any(|n| n.starts_with("X-authentik-groups")));
    }

    #[test]
    fn additional_headers_past_the_limit_are_still_stripped() {
        let mut map = Map::new();
        for i in 0..(MAX_ADDITIONAL_HEADERS + 5) {
            map.insert(format!("X-H{i:03}"), json!("v"));
        }
        let id = Identity::from_claims(&obj(json!({
            "ak_proxy": {"user_attributes": {"additionalHeaders": map}}
        })));
        assert_eq!(id.additional_headers.len(), MAX_ADDITIONAL_HEADERS);
        assert_eq!(id.strip_names().count(), MAX_ADDITIONAL_HEADERS + 5);
    }

    #[test]
    fn header_names_match_with_underscores() {
        assert!(same_header_name(b"X-Role", b"x_role"));
        assert!(same_header_name(
            b"X_AUTHENTIK_USERNAME",
            b"x-authentik-username"
        ));
        assert!(!same_header_name(b"X-Role", b"X-Roles"));
        assert!(!same_header_name(b"X-Rolf", b"X-Role"));
        assert!(is_identity_header(b"X_authentik_username"));
        assert!(is_identity_header(b"x-authentik_uid"));
        assert!(is_identity_header(b"X_Authentik-meta-app"));
        assert!(!is_identity_header(b"X.authentik.username"));
    }

    #[test]
    fn missing_and_odd_claims() {
        let id = Identity::from_claims(&obj(json!({
            "sub": 42, "groups": "solo", "email": 5, "ak_proxy": "nope"
        })));
        assert_eq!(id.uid, "42");
        assert_eq!(id.groups, ["solo"]);
        assert_eq!(id.email, "");
        assert!(id.additional_headers.is_empty());
        assert_eq!(Identity::from_claims(&Map::new()), Identity::default());
    }

    #[test]
    fn headers_in_spec_order() {
        let id = Identity::from_claims(&authentik_claims());
        let meta = MetaHeaders::new(Some("app"), "nginx", "0.1.0");
        let headers = sent(&id, &meta, Some("eyJ.a.b"), "host.example");
        let names: Vec<&str> = headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names.get(..11).unwrap_or_default(),
            [
                "X-authentik-username",
                "X-authentik-groups",
                "X-authentik-entitlements",
                "X-authentik-email",
                "X-authentik-name",
                "X-authentik-uid",
                "X-authentik-jwt",
                "X-authentik-meta-app",
                "X-authentik-meta-provider",
                "X-authentik-meta-outpost",
                "X-authentik-meta-version",
            ]
        );
        // X-Inject (a CR LF value) is omitted, the other three additionalHeaders follow.
        assert_eq!(headers.len(), 11 + 3);
        assert_eq!(headers[1].1, "authentik Admins|ops");
        assert_eq!(headers[6].1, "eyJ.a.b");
        assert_eq!(headers[10].1, "ngx_http_sso_module/0.1.0");
        assert_eq!(headers[7].1, "app");
        assert_eq!(headers[8].1, "app", "sso_app names the provider too");
        assert_eq!(headers[9].1, "nginx");
        let without_jwt = sent(&id, &meta, None, "host.example");
        assert_eq!(without_jwt.len(), 10 + 3);
        assert!(without_jwt.iter().all(|(n, _)| n != "X-authentik-jwt"));
        // A forbidden name smuggled in through a deserialised identity is dropped too.
        let mut forged = id.clone();
        forged
            .additional_headers
            .push(("Transfer-Encoding".into(), "chunked".into()));
        forged
            .additional_headers
            .push(("X-authentik-uid".into(), "0".into()));
        assert_eq!(sent(&forged, &meta, None, "host.example").len(), 13);
        // Without sso_app, app and provider are the request's host; outpost and version not.
        let hosted = sent(
            &id,
            &MetaHeaders::new(None, "nginx", "0.1.0"),
            None,
            "host.example",
        );
        let meta_values: Vec<&str> = hosted[6..10].iter().map(|(_, v)| v.as_str()).collect();
        assert_eq!(
            meta_values,
            [
                "host.example",
                "host.example",
                "nginx",
                "ngx_http_sso_module/0.1.0"
            ]
        );
        // A JWT that is not a safe header value cannot reach the list: only the compact shape
        // makes a CompactJws.
        for bad in [
            "eyJ.a.b\r\nX-Evil: 1",
            "eyJ.a.b ",
            "",
            "eyJ.a=.b",
            "eyJ.\u{85}.b",
        ] {
            assert_eq!(CompactJws::new(bad), None, "{bad:?}");
        }
        assert_eq!(
            CompactJws::new("eyJ.a-_.b").map(CompactJws::as_str),
            Some("eyJ.a-_.b")
        );
    }

    #[test]
    fn header_block_is_the_headers_without_jwt_and_meta() {
        let id = Identity::from_claims(&authentik_claims());
        let meta = MetaHeaders::new(Some("app"), "ngx_http_sso_module", "0.1.0");
        let expected: Vec<(String, String)> = sent(&id, &meta, None, "host.example")
            .into_iter()
            .filter(|(n, _)| !n.starts_with("X-authentik-meta-"))
            .collect();
        let block = id.header_block();
        let got: Vec<(String, String)> = (0..block.len())
            .filter_map(|i| block.get(i))
            .map(|(n, v)| {
                (
                    String::from_utf8_lossy(n).into_owned(),
                    String::from_utf8_lossy(v).into_owned(),
                )
            })
            .collect();
        assert_eq!(got, expected);
        assert_eq!(got[BLOCK_BASE_HEADERS - 1].0, "X-authentik-uid");
        assert!(got.len() > BLOCK_BASE_HEADERS, "additionalHeaders follow");
        // Rendered once, kept; a clone renders its own (possibly changed) fields.
        assert!(std::ptr::eq(id.header_block(), block));
        let mut changed = id.clone();
        changed.username = "bob".into();
        assert_eq!(
            changed.header_block().get(0).map(|(_, v)| v),
            Some(&b"bob"[..])
        );
        assert_eq!(changed, {
            let mut c = id.clone();
            c.username = "bob".into();
            c
        });
    }

    #[test]
    fn every_char_0_to_255_is_sent_as_is_or_omitted() {
        for code in 0u32..=255 {
            let Some(c) = char::from_u32(code) else {
                continue;
            };
            let value = format!("a{c}b{c}");
            let claims = obj(json!({
                "preferred_username": value,
                "groups": [value, "plain"],
                "name": value,
                "x": value,
                "ak_proxy": {"user_attributes": {"additionalHeaders": {"X-V": value}}},
            }));
            let id = Identity::from_claims(&claims);
            let headers = sent(
                &id,
                &MetaHeaders::new(Some(&value), &value, &value),
                Some(&value),
                "host.example",
            );
            // (The meta headers are configuration values, sanitised: not checked here.)
            let mut values: Vec<String> = headers
                .into_iter()
                .filter(|(n, _)| !n.starts_with("X-authentik-meta-"))
                .map(|(_, v)| v)
                .collect();
            values.push(claim_variable(&claims, "x").unwrap_or_default());
            values.push(claim_variable(&claims, "groups").unwrap_or_default());
            values.push(id.groups_joined());
            let safe = !c.is_control() && c != ' ' && c != '|';
            for v in &values {
                assert!(
                    !v.chars().any(char::is_control),
                    "char {code} leaked into {v:?}"
                );
                assert!(!v.starts_with(' ') && !v.ends_with(' '));
            }
            // Never rewritten into another value: either exactly the value, or not at all.
            let n = values.iter().filter(|v| v.contains(&value)).count();
            if safe {
                assert!(n >= 4, "char {code}: {values:?}");
            } else if c != '|' {
                assert_eq!(n, 0, "char {code}: {values:?}");
                assert!(
                    !values.iter().any(|v| v.contains("ab")),
                    "char {code} was dropped, not the value: {values:?}"
                );
            }
            assert!(id.groups_joined().ends_with("plain"));
        }
    }

    #[test]
    fn sanitiser_table() {
        for (input, expected) in [
            ("plain", "plain"),
            ("a\r\nb", "ab"),
            ("a\0b", "ab"),
            ("tab\there", "tab here"),
            (" padded ", "padded"),
            ("\u{7f}del", "del"),
            ("c1\u{85}\u{9f}", "c1"),
            ("héllo wörld", "héllo wörld"),
            ("\r\n", ""),
        ] {
            assert_eq!(sanitize_header_value(input), expected, "{input:?}");
        }
        assert!(matches!(sanitize_header_value("fine"), Cow::Borrowed(_)));
    }

    #[test]
    fn claim_rendering() {
        let claims = obj(json!({
            "s": "text", "n": 12, "f": 1.5, "b": false, "z": null,
            "a": ["x", 1, true, null, ["y"], {"k": "v"}],
            "o": {"k": "v\nw", "n": [1, 2]},
        }));
        let r = |name: &str| claim_variable(&claims, name);
        assert_eq!(r("s").as_deref(), Some("text"));
        assert_eq!(r("n").as_deref(), Some("12"));
        assert_eq!(r("f").as_deref(), Some("1.5"));
        assert_eq!(r("b").as_deref(), Some("false"));
        assert_eq!(r("z").as_deref(), Some(""));
        assert_eq!(r("a").as_deref(), Some(r#"x|1|true|["y"]|{"k":"v"}"#));
        assert_eq!(r("o").as_deref(), Some(r#"{"k":"v\nw","n":[1,2]}"#));
        assert_eq!(r("missing"), None);
    }

    #[test]
    fn identity_header_names() {
        assert!(is_identity_header(b"X-authentik-username"));
        assert!(is_identity_header(b"x-AUTHENTIK-anything"));
        assert!(is_identity_header(b"X-Authentik-"));
        assert!(!is_identity_header(b"X-authentik"));
        assert!(!is_identity_header(b"X-authentikusername"));
        assert!(!is_identity_header(b""));
        assert!(!is_identity_header(b"Authorization"));
        assert!(is_header_token("X-Custom_1.2~"));
        assert!(!is_header_token("X Custom"));
        assert!(!is_header_token("X:Custom"));
        assert!(!is_header_token(""));
    }

    #[test]
    fn serde_stays_compact_and_compatible() {
        let id = Identity::from_claims(&authentik_claims());
        let text = serde_json::to_string(&id).unwrap_or_default();
        assert!(text.starts_with(r#"{"u":"akadmin""#), "{text}");
        let back: Identity = serde_json::from_str(&text).unwrap_or_default();
        assert_eq!(back, id);
        assert_eq!(
            serde_json::to_string(&Identity::default()).ok().as_deref(),
            Some("{}")
        );
        let old: Identity = serde_json::from_str(r#"{"u":"x","future":1}"#).unwrap_or_default();
        assert_eq!(old.username, "x");
    }
}

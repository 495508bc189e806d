//! A browser's cookie store (RFC 6265) over the harness's HTTP client, with redirect
//! following: enough of a browser to walk the login flow by hand.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::harness::http::{http_request, Response as HttpResponse, BROWSER_ACCEPT};
use crate::harness::url::{form_urlencode, resolve_url, split_url};

use super::forms::Form;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cookie {
    pub name: String,
    pub value: String,
    /// Lower-case host name (no port): the request's host for a host-only cookie, the
    /// `Domain` attribute (without a leading dot) otherwise.
    pub domain: String,
    pub host_only: bool,
    pub path: String,
    pub secure: bool,
    pub http_only: bool,
    /// `SameSite` as sent (`Lax`, `Strict`, `None`), if any.
    pub same_site: Option<String>,
    /// Seconds since the epoch; None for a session cookie.
    pub expires: Option<u64>,
    /// The `Set-Cookie` line it came from.
    pub raw: String,
}

/// A cookie store per RFC 6265 (host-only vs. `Domain` cookies, path matching, `Max-Age` /
/// `Expires` with deletion when in the past), and the requests that use it. Cookies are
/// matched by host name only (not port), as browsers do. `Secure` cookies are stored but
/// never sent (every test URL is plain http).
#[derive(Debug, Default, Clone)]
pub struct CookieJar {
    pub cookies: Vec<Cookie>,
    /// Headers added to every request of [`CookieJar::request`] unless the call gives the
    /// same header (default: a browser-like `Accept` and `User-Agent`).
    pub default_headers: Vec<(String, String)>,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn default_cookie_path(request_path: &str) -> String {
    let p = request_path.split('?').next().unwrap_or("/");
    if !p.starts_with('/') {
        return "/".into();
    }
    match p.rfind('/') {
        Some(0) | None => "/".into(),
        Some(i) => p[..i].to_owned(),
    }
}

fn path_matches(request_path: &str, cookie_path: &str) -> bool {
    let p = request_path.split('?').next().unwrap_or("/");
    p == cookie_path
        || (p.starts_with(cookie_path)
            && (cookie_path.ends_with('/') || p.as_bytes().get(cookie_path.len()) == Some(&b'/')))
}

fn domain_matches(host: &str, domain: &str) -> bool {
    host == domain
        || (host.ends_with(domain)
            && host.as_bytes()[host.len() - domain.len() - 1] == b'.'
            && host.parse::<std::net::IpAddr>().is_err())
}

impl CookieJar {
    pub fn new() -> CookieJar {
        CookieJar {
            cookies: Vec::new(),
            default_headers: vec![
                (BROWSER_ACCEPT.0.into(), BROWSER_ACCEPT.1.into()),
                ("User-Agent".into(), "sso-test-browser/1".into()),
            ],
        }
    }

    /// Stores one `Set-Cookie` header value received for `url`.
    pub fn store_set_cookie(&mut self, url: &str, line: &str) {
        let (_, host, _, path) = split_url(url);
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let mut parts = line.split(';');
        let pair = parts.next().unwrap_or_default();
        let Some((name, value)) = pair.split_once('=') else {
            return;
        };
        let name = name.trim().to_owned();
        if name.is_empty() {
            return;
        }
        let mut value = value.trim().to_owned();
        if value.len() >= 2 && value.starts_with('"') && value.ends_with('"') {
            value = value[1..value.len() - 1].to_owned();
        }
        let mut cookie = Cookie {
            name,
            value,
            domain: host.clone(),
            host_only: true,
            path: default_cookie_path(&path),
            secure: false,
            http_only: false,
            same_site: None,
            expires: None,
            raw: line.to_owned(),
        };
        let mut max_age: Option<i64> = None;
        let mut expires: Option<u64> = None;
        for attr in parts {
            let (k, v) = match attr.split_once('=') {
                Some((k, v)) => (k.trim().to_ascii_lowercase(), v.trim()),
                None => (attr.trim().to_ascii_lowercase(), ""),
            };
            match k.as_str() {
                "path" if v.starts_with('/') => cookie.path = v.to_owned(),
                "domain" if !v.is_empty() => {
                    let d = v.trim_start_matches('.').to_ascii_lowercase();
                    if !domain_matches(&host, &d) {
                        return; // a browser rejects a cookie for a foreign domain
                    }
                    cookie.domain = d;
                    cookie.host_only = false;
                }
                "max-age" => max_age = v.parse().ok(),
                "expires" => expires = parse_http_date(v),
                "secure" => cookie.secure = true,
                "httponly" => cookie.http_only = true,
                "samesite" => cookie.same_site = Some(v.to_owned()),
                _ => {}
            }
        }
        let now = now_secs();
        cookie.expires = match (max_age, expires) {
            (Some(m), _) if m <= 0 => Some(0),
            (Some(m), _) => Some(now + m as u64),
            (None, e) => e,
        };
        self.cookies.retain(|c| {
            !(c.name == cookie.name && c.domain == cookie.domain && c.path == cookie.path)
        });
        if cookie.expires.is_some_and(|e| e <= now) {
            return; // deletion
        }
        self.cookies.push(cookie);
    }

    /// Stores every `Set-Cookie` of a response received for `url`.
    pub fn store(&mut self, url: &str, resp: &HttpResponse) {
        for line in resp.headers_named("set-cookie") {
            self.store_set_cookie(url, line);
        }
    }

    /// The `Cookie` header a browser would send to `url`, if any.
    pub fn header_for(&self, url: &str) -> Option<String> {
        let (scheme, host, _, path) = split_url(url);
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let now = now_secs();
        let mut matching: Vec<&Cookie> = self
            .cookies
            .iter()
            .filter(|c| !matches!(c.expires, Some(e) if e <= now))
            .filter(|c| !c.secure || scheme == "https")
            .filter(|c| {
                if c.host_only {
                    c.domain == host
                } else {
                    domain_matches(&host, &c.domain)
                }
            })
            .filter(|c| path_matches(&path, &c.path))
            .collect();
        if matching.is_empty() {
            return None;
        }
        matching.sort_by_key(|c| std::cmp::Reverse(c.path.len()));
        Some(
            matching
                .iter()
                .map(|c| format!("{}={}", c.name, c.value))
                .collect::<Vec<_>>()
                .join("; "),
        )
    }

    /// The value of the first live cookie of that name (any domain, any path).
    pub fn get(&self, name: &str) -> Option<&str> {
        let now = now_secs();
        self.cookies
            .iter()
            .find(|c| c.name == name && !matches!(c.expires, Some(e) if e <= now))
            .map(|c| c.value.as_str())
    }

    /// The whole stored cookie of that name (any domain, any path).
    pub fn cookie(&self, name: &str) -> Option<&Cookie> {
        self.cookies.iter().find(|c| c.name == name)
    }

    pub fn remove(&mut self, name: &str) {
        self.cookies.retain(|c| c.name != name);
    }

    /// Sets a host-only cookie by hand (e.g. a forged or stolen one).
    pub fn set(&mut self, host: &str, name: &str, value: &str) {
        self.remove(name);
        self.cookies.push(Cookie {
            name: name.into(),
            value: value.into(),
            domain: host.to_ascii_lowercase(),
            host_only: true,
            path: "/".into(),
            secure: false,
            http_only: false,
            same_site: None,
            expires: None,
            raw: String::new(),
        });
    }

    /// A request carrying the jar's cookies (plus `default_headers`); stores the response's
    /// cookies. No redirect following.
    pub fn request(
        &mut self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> HttpResponse {
        let cookie = self.header_for(url);
        let mut all: Vec<(&str, &str)> = headers.to_vec();
        for (k, v) in &self.default_headers {
            if !headers.iter().any(|(h, _)| h.eq_ignore_ascii_case(k)) {
                all.push((k, v));
            }
        }
        if let Some(c) = &cookie {
            if !headers
                .iter()
                .any(|(h, _)| h.eq_ignore_ascii_case("cookie"))
            {
                all.push(("Cookie", c));
            }
        }
        let resp = http_request(method, url, &all, body);
        self.store(url, &resp);
        resp
    }

    pub fn get_url(&mut self, url: &str) -> HttpResponse {
        self.request("GET", url, &[], b"")
    }

    /// POSTs `fields` as `application/x-www-form-urlencoded`.
    pub fn post_form(&mut self, url: &str, fields: &[(&str, &str)]) -> HttpResponse {
        let body = form_urlencode(fields);
        self.request(
            "POST",
            url,
            &[("Content-Type", "application/x-www-form-urlencoded")],
            body.as_bytes(),
        )
    }

    /// GETs `url` and follows redirects (GET, cookies kept) until a non-redirect response,
    /// at most 20 hops.
    pub fn browse(&mut self, url: &str) -> Browse {
        self.follow(Vec::new(), url.to_owned(), None)
    }

    fn follow(
        &mut self,
        mut hops: Vec<(u16, String)>,
        mut url: String,
        mut first: Option<HttpResponse>,
    ) -> Browse {
        loop {
            let resp = match first.take() {
                Some(r) => r,
                None => self.get_url(&url),
            };
            hops.push((resp.status, url.clone()));
            if !resp.is_redirect() {
                return Browse {
                    url,
                    response: resp,
                    hops,
                };
            }
            assert!(hops.len() <= 20, "redirect loop: {hops:#?}");
            url = resolve_url(&url, resp.location().unwrap());
        }
    }

    /// Submits `form` (its method and action) with its fields, then follows redirects.
    pub fn submit(&mut self, form: &Form) -> Browse {
        let fields: Vec<(&str, &str)> = form
            .fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        if form.method == "GET" {
            let sep = if form.action.contains('?') { '&' } else { '?' };
            let url = format!("{}{sep}{}", form.action, form_urlencode(&fields));
            return self.browse(&url);
        }
        let resp = self.post_form(&form.action, &fields);
        self.follow(Vec::new(), form.action.clone(), Some(resp))
    }
}

/// Where a [`CookieJar::browse`] ended: the last URL, its (non-redirect) response, and every
/// `(status, url)` visited on the way.
#[derive(Debug, Clone)]
pub struct Browse {
    pub url: String,
    pub response: HttpResponse,
    pub hops: Vec<(u16, String)>,
}

impl Browse {
    /// Whether a hop went to a URL starting with `prefix`.
    pub fn visited(&self, prefix: &str) -> bool {
        self.hops.iter().any(|(_, u)| u.starts_with(prefix))
    }
}

/// Seconds since the epoch of an HTTP / cookie date: IMF-fixdate
/// (`Thu, 01 Jan 1970 00:00:00 GMT`), the dashed cookie form nginx and others use
/// (`Thu, 01-Jan-1970 00:00:01 GMT`), RFC 850 (`Thursday, 01-Jan-70 ...`) and asctime.
pub fn parse_http_date(s: &str) -> Option<u64> {
    let mut day = None;
    let mut month = None;
    let mut year = None;
    let mut time = None;
    for tok in s.split([' ', '-', ',']).filter(|t| !t.is_empty()) {
        if tok.contains(':') {
            let p: Vec<u64> = tok.split(':').filter_map(|x| x.parse().ok()).collect();
            if p.len() == 3 {
                time = Some(p[0] * 3600 + p[1] * 60 + p[2]);
            }
        } else if let Some(m) = [
            "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
        ]
        .iter()
        .position(|m| tok.len() >= 3 && tok[..3].eq_ignore_ascii_case(m))
        {
            month = Some(m as u64 + 1);
        } else if let Ok(n) = tok.parse::<u64>() {
            if tok.len() <= 2 && day.is_none() {
                day = Some(n);
            } else if tok.len() <= 2 {
                year = Some(if n < 70 { 2000 + n } else { 1900 + n });
            } else {
                year = Some(n);
            }
        }
    }
    let (d, m, y, t) = (day?, month?, year?, time.unwrap_or(0));
    // Days from civil (Howard Hinnant).
    let y = if m <= 2 { y as i64 - 1 } else { y as i64 };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    if days < 0 {
        return Some(0);
    }
    Some(days as u64 * 86_400 + t)
}

//! HTML forms of the provider's pages: parsed, filled in and submitted.

use crate::harness::url::resolve_url;

/// An HTML form: absolute action URL, upper-case method, and its fields in order (inputs
/// with a name, including hidden ones; a named submit button's value too).
#[derive(Debug, Clone)]
pub struct Form {
    pub action: String,
    pub method: String,
    pub fields: Vec<(String, String)>,
}

impl Form {
    /// Sets (or adds) a field.
    pub fn set(&mut self, name: &str, value: &str) -> &mut Form {
        match self.fields.iter_mut().find(|(k, _)| k == name) {
            Some((_, v)) => *v = value.to_owned(),
            None => self.fields.push((name.to_owned(), value.to_owned())),
        }
        self
    }

    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

fn attr(tag: &str, name: &str) -> Option<String> {
    // name="v" | name='v' | name=v, case-insensitive name, word boundary before it.
    let lower = tag.to_ascii_lowercase();
    let mut from = 0;
    while let Some(i) = lower[from..].find(name) {
        let at = from + i;
        from = at + name.len();
        let before_ok = at == 0 || lower.as_bytes()[at - 1].is_ascii_whitespace();
        let rest = tag[at + name.len()..].trim_start();
        if !before_ok || !rest.starts_with('=') {
            continue;
        }
        let rest = rest[1..].trim_start();
        let value = if let Some(r) = rest.strip_prefix('"') {
            &r[..r.find('"')?]
        } else if let Some(r) = rest.strip_prefix('\'') {
            &r[..r.find('\'')?]
        } else {
            let end = rest
                .find(|c: char| c.is_ascii_whitespace() || c == '>' || c == '/')
                .unwrap_or(rest.len());
            &rest[..end]
        };
        return Some(html_unescape(value));
    }
    None
}

fn has_bool_attr(tag: &str, name: &str) -> bool {
    tag.to_ascii_lowercase()
        .split(|c: char| c.is_ascii_whitespace() || c == '>' || c == '/')
        .any(|w| w == name)
}

pub fn html_unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(end) = rest.find(';').filter(|&e| e <= 10) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ if entity.starts_with("#x") || entity.starts_with("#X") => {
                u32::from_str_radix(&entity[2..], 16)
                    .ok()
                    .and_then(char::from_u32)
            }
            _ if entity.starts_with('#') => entity[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Every `<form>` of a page, with actions resolved against `page_url`.
pub fn parse_forms(html: &str, page_url: &str) -> Vec<Form> {
    let lower = html.to_ascii_lowercase();
    let mut forms = Vec::new();
    let mut from = 0;
    while let Some(i) = lower[from..].find("<form") {
        let start = from + i;
        let Some(tag_end) = lower[start..].find('>').map(|e| start + e) else {
            break;
        };
        let tag = &html[start..tag_end];
        let close = lower[tag_end..]
            .find("</form")
            .map(|e| tag_end + e)
            .unwrap_or(html.len());
        let inner = &html[tag_end + 1..close];
        let inner_lower = &lower[tag_end + 1..close];
        let action = attr(tag, "action").unwrap_or_default();
        let action = if action.is_empty() {
            page_url.to_owned()
        } else {
            resolve_url(page_url, &action)
        };
        let method = attr(tag, "method")
            .unwrap_or_else(|| "GET".into())
            .to_ascii_uppercase();
        let mut fields = Vec::new();
        let mut pos = 0;
        while let Some(j) = inner_lower[pos..].find('<') {
            let t0 = pos + j;
            let t1 = inner_lower[t0..]
                .find('>')
                .map(|e| t0 + e)
                .unwrap_or(inner.len());
            let t = &inner[t0..t1];
            let tl = &inner_lower[t0..t1];
            pos = t1;
            if tl.starts_with("<input") {
                let ty = attr(t, "type").unwrap_or_default().to_ascii_lowercase();
                if let Some(name) = attr(t, "name") {
                    if ty == "submit" || ty == "button" || ty == "image" {
                        continue;
                    }
                    if (ty == "checkbox" || ty == "radio") && !has_bool_attr(t, "checked") {
                        continue;
                    }
                    fields.push((name, attr(t, "value").unwrap_or_default()));
                }
            } else if tl.starts_with("<textarea") {
                if let Some(name) = attr(t, "name") {
                    let end = inner_lower[t1..]
                        .find("</textarea")
                        .map(|e| t1 + e)
                        .unwrap_or(inner.len());
                    fields.push((name, html_unescape(&inner[(t1 + 1).min(end)..end])));
                }
            }
        }
        forms.push(Form {
            action,
            method,
            fields,
        });
        from = close.max(tag_end);
    }
    forms
}

/// The first form of a page that has a `password` input (else the first form).
pub fn find_login_form(html: &str, page_url: &str) -> Option<Form> {
    let forms = parse_forms(html, page_url);
    forms
        .iter()
        .find(|f| f.field("password").is_some())
        .or(forms.first())
        .cloned()
}

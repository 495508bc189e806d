//! `rd` (the post-login redirect target) from a query string, validated for a request host
//! and cookie domain picked by the first byte. Checks: the output is `/`, or a path with
//! exactly one leading `/` (no `//`, no `/\`), or an http(s) URL that the WHATWG URL parser
//! (what a browser follows) resolves to the request's host and port or into the cookie
//! domain; it is printable ASCII without space, `"`, `<`, `>`, `` ` ``; validating it again
//! gives it back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sso_core::flow::validate_rd;
use url::Url;

/// (request Host header, sso_cookie_domain)
const SITES: &[(&str, Option<&str>)] = &[
    ("app.example.com", None),
    ("app.example.com", Some(".example.com")),
    ("app.example.com:8443", None),
    ("App.Example.COM:8443", Some("example.com")),
    ("127.0.0.1:8080", None),
    ("[::1]:8080", Some("example.com")),
    ("localhost", Some("localhost")),
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let (host, domain) = SITES[pick as usize % SITES.len()];
    let rd = String::from_utf8_lossy(rest);
    let out = validate_rd(&rd, host, domain);

    assert!(
        out.bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b'<' | b'>' | b'`')),
        "unsafe character in {out:?}"
    );
    assert_eq!(validate_rd(&out, host, domain), out, "not a fixed point");
    if out == "/" {
        return;
    }
    let base = Url::parse(&format!("https://{host}/callback")).expect("site parses");
    if out.starts_with('/') {
        assert!(
            !out.starts_with("//") && !out.starts_with("/\\"),
            "scheme-relative {out:?}"
        );
        if let Ok(u) = base.join(&out) {
            assert_eq!(u.host_str(), base.host_str(), "{out:?} leaves the site");
            assert_eq!(u.port_or_known_default(), base.port_or_known_default());
        }
        return;
    }
    // An absolute URL: where would a browser go?
    let Ok(u) = base.join(&out) else {
        return; // not followable at all
    };
    assert!(
        matches!(u.scheme(), "http" | "https"),
        "{out:?} -> scheme {}",
        u.scheme()
    );
    let target = u.host_str().unwrap_or("").to_ascii_lowercase();
    // The request host seen through the same parser, with the URL's scheme (its port must
    // be the URL's effective one).
    let site = Url::parse(&format!("{}://{host}/", u.scheme())).expect("site parses");
    let same_site = site.host_str().map(str::to_ascii_lowercase).as_deref() == Some(&*target)
        && site.port_or_known_default() == u.port_or_known_default();
    let in_domain = domain.is_some_and(|d| {
        let d = d.trim_start_matches('.').to_ascii_lowercase();
        target == d || target.ends_with(&format!(".{d}"))
    });
    assert!(
        same_site || in_domain,
        "rd {rd:?} on {host} (domain {domain:?}) -> {out:?} goes to {target:?} port {:?}",
        u.port_or_known_default()
    );
});

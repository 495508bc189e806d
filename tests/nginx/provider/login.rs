//! The browser's side of a login and a logout at the provider.

use super::forms::{find_login_form, parse_forms};
use super::jar::{Browse, CookieJar};

/// Given the provider's login page (its URL and HTML), fills `username` and `password` into
/// its form and submits it, following redirects (back to the application's callback and
/// beyond, as a browser would). A wrong password ends on the login page again (status 200,
/// "Invalid username or password.").
pub fn login_form_submit(
    jar: &mut CookieJar,
    page_url: &str,
    html: &str,
    username: &str,
    password: &str,
) -> Browse {
    let mut form = find_login_form(html, page_url)
        .unwrap_or_else(|| panic!("no login form at {page_url}:\n{html}"));
    form.set("username", username).set("password", password);
    jar.submit(&form)
}

/// The whole browser login: GET `url` (e.g. a protected nginx location), follow redirects to
/// the provider's login page, submit the credentials, follow redirects to the end. When the
/// provider session already exists no form shows up and the result is where the redirects
/// led. The result's `hops` list every URL visited.
pub fn browser_login(jar: &mut CookieJar, url: &str, username: &str, password: &str) -> Browse {
    let first = jar.browse(url);
    let body = first.response.text();
    if first.response.status == 200
        && find_login_form(&body, &first.url).is_some_and(|f| f.field("password").is_some())
    {
        let mut after = login_form_submit(jar, &first.url, &body, username, password);
        let mut hops = first.hops;
        hops.append(&mut after.hops);
        after.hops = hops;
        return after;
    }
    first
}

/// RP-initiated logout at the provider: given the provider's sign-out confirmation page
/// (where the module's `sign_out` redirect led), submits its form (which carries
/// `logout=yes` and the `xsrf` token) and follows redirects to the post-logout redirect URI
/// (or the provider's "Signed out" page).
pub fn confirm_logout(jar: &mut CookieJar, page_url: &str, html: &str) -> Browse {
    let forms = parse_forms(html, page_url);
    let form = forms
        .iter()
        .find(|f| f.field("logout").is_some())
        .unwrap_or_else(|| panic!("no logout form at {page_url}:\n{html}"));
    jar.submit(form)
}

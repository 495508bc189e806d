//! Session refresh (README "Session lifecycle", `sso_session_refresh`): the directive.

use crate::harness::{test_config, Build};
use crate::on_both_nginx;

fn refresh_directive_is_checked(build: Build) {
    let server = |d: &str| format!("server {{ listen 127.0.0.1:%PORT%; {d} }}");
    for (directive, expect) in [
        ("sso_session_refresh 0s;", "\"0s\" is shorter than 1s"),
        ("sso_session_refresh 0;", "\"0\" is shorter than 1s"),
        ("sso_session_refresh soon;", "invalid time \"soon\""),
        ("sso_session_refresh 5m 1m;", "invalid number of arguments"),
        (
            "sso_session_refresh 5m; sso_session_refresh off;",
            "is duplicate",
        ),
    ] {
        let (ok, out) = test_config(build, &server(directive));
        assert!(!ok, "{directive} should fail nginx -t:\n{out}");
        assert!(
            out.contains("[emerg]") && out.contains("sso_session_refresh") && out.contains(expect),
            "{directive}: {expect:?} missing in:\n{out}"
        );
        assert!(!out.contains("panicked"), "{out}");
    }
    for ok_value in ["1s", "5m", "off", "1h"] {
        let (ok, out) = test_config(
            build,
            &server(&format!(
                "sso_session_refresh {ok_value}; location /x {{ sso_session_refresh 2s; }}"
            )),
        );
        assert!(ok, "sso_session_refresh {ok_value}: {out}");
    }
}

on_both_nginx!(refresh_directive_is_checked);

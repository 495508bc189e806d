//! Tests against a real nginx: each test starts nginx (vendored 1.28 and Debian's 1.22, both
//! loading the module with `load_module`) with its own config, a real upstream, and asserts
//! what a user would check. Build first: `make build build-debian` (or `make test`).
//!
//! `harness/` starts nginx, the upstream and the usual protected site, and has the one HTTP
//! client; `provider/` runs the real OpenID provider and the browserless browser.

mod harness;
#[allow(dead_code)]
mod provider;

mod authorization;
mod browser;
mod endpoints_hardening;
mod gate;
mod hardening;
mod lifecycle;
mod login;
mod npm_layout;
mod redis;
mod refresh;
mod relative_paths;
mod revocation;
mod session_lifecycle;
mod status;
mod tokens;

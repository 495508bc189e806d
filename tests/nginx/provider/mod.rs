//! A real OpenID provider for the integration tests, and a browserless "browser" to use it
//! with:
//!
//! - [`process`]: `tests/provider/server.js` (npm's OpenID-certified `oidc-provider`) run as
//!   a child process, and its `/_test/*` endpoints;
//! - [`config`]: its clients and users;
//! - [`jar`]: a cookie jar over the harness's HTTP client, following redirects;
//! - [`forms`]: HTML forms, parsed and submitted;
//! - [`login`]: the login and logout walks (nginx → provider form → nginx callback).
//!
//! Needs `scripts/provider-deps` to have run (Node.js and `tests/provider/node_modules`).
//! The provider's config schema and its `/_test/*` endpoints are documented in
//! `tests/provider/README.md`.
//!
//! Only loopback: the provider listens on 127.0.0.1, and the HTTP client connects to
//! 127.0.0.1 for every host name that is not an IP literal (see
//! [`http_request`](crate::harness::http_request)).

pub mod config;
pub mod forms;
pub mod jar;
pub mod login;
pub mod process;

pub use config::{client, config, demo_user, ANY_CALLBACK};
pub use forms::find_login_form;
pub use jar::CookieJar;
pub use login::{browser_login, confirm_logout, login_form_submit};
pub use process::Provider;

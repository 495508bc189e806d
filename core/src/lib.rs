//! The nginx-free core of `ngx_http_sso_module`.
//!
//! Nothing in this crate knows nginx exists: the glue turns a request into plain values, the
//! core decides, the glue applies. Everything here is unit-tested with `cargo test -p sso-core`.

pub mod decide;
pub mod identity;
pub mod paths;

//! The nginx-free core of `ngx_http_sso_module`.
//!
//! Nothing in this crate knows nginx exists: the glue turns a request into plain values, the
//! core decides, the glue applies. Everything here is unit-tested with `cargo test -p sso-core`.
//! README "Layout" lists what each module holds.

#![forbid(unsafe_code)]

pub mod cache;
pub mod cookie;
pub mod decide;
pub mod flow;
pub mod header_block;
pub mod http_client;
pub mod identity;
pub mod jwks;
pub mod jwt;
pub mod logout;
pub mod metrics;
pub mod paths;
pub mod revocations;
pub mod rules;
pub mod seal;
pub mod session;
pub mod url;
pub mod used_ids;

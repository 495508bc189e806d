//! Outbound calls to the identity provider without blocking nginx's event loop.
//!
//! The HTTP client itself is nginx-free and lives in `sso_core::http_client` (unit-tested
//! there against local servers); this module runs it on background threads and brings the
//! results back to the worker's event loop ([`wake`]). Provider host names resolve through the
//! system resolver on those threads; nginx's `resolver` directive is not used.

// The API below is for the endpoints (`callback`) and the token glue, which arrive separately.
#![allow(dead_code)]

pub mod code_exchange;
pub mod fetcher;
#[cfg(feature = "selftest")]
pub mod selftest;
pub mod wake;

#[allow(unused_imports)]
pub use wake::{
    cancel, poster, spawn, spawn_for_request, spawn_tied_to_pool, JobId, JobPanicked, Poster,
    SpawnError,
};

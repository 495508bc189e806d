//! Outbound calls to the identity provider, off nginx's event loop: [`fetcher`] (discovery
//! and JWKS, one thread per provider), [`code_exchange`] (the login callback's token
//! endpoint and userinfo calls, run as a job), [`refresh`] (a session's refresh grant, run as
//! a job), [`wake`] (the job pool, and how results come back to the worker's event
//! loop) and [`resume`] (requests waiting for a job, resumed when it ends). [`redis`] is the
//! one call that is not to the provider: the sync of revocations with Redis (`sso_redis`),
//! a thread per worker, of which one (elected through the shared zone) connects.
//!
//! The HTTP client itself is nginx-free and lives in `sso_core::http_client` (unit-tested
//! there against local servers). Provider host names resolve through the system resolver on
//! the background threads; nginx's `resolver` directive is not used.

pub mod code_exchange;
pub mod fetcher;
pub mod redis;
pub mod refresh;
pub mod resume;
#[cfg(feature = "selftest")]
pub mod selftest;
pub mod wake;

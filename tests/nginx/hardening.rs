//! Regression tests of the request path against hostile requests (README "Security").

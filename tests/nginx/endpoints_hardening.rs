//! Regression tests of the endpoints against hostile clients: overload, request bodies,
//! single-use flows, caching (README "Security").

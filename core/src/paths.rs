//! Regex sets for `sso_unauthenticated_paths` / `sso_unauthenticated_urls`.

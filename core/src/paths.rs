//! Regex sets for `sso_unauthenticated_paths` and `sso_unauthenticated_urls`.
//!
//! RE2 semantics (the `regex` crate, like authentik's Go regexes): linear time in the input,
//! no backreferences, no look-around. Patterns are unanchored: `^/api/` must be written with
//! its own `^` to anchor, exactly as in authentik's "Unauthenticated Paths" field.

use std::fmt;

use regex::bytes::RegexSet;

/// Why a pattern was refused, with the byte position in the pattern where known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError {
    pub pattern: String,
    /// 0-based byte offset into the pattern, when the parser names one.
    pub position: Option<usize>,
    pub reason: String,
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid regex \"{}\"", self.pattern.escape_debug())?;
        if let Some(pos) = self.position {
            write!(f, " at position {pos}")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// Largest compiled program accepted for one set (keeps `nginx -t` and memory bounded).
const SIZE_LIMIT: usize = 8 << 20;

/// Checks one pattern, reporting the position of the first error the way a user can act on.
pub fn check_pattern(pattern: &str) -> Result<(), PatternError> {
    if let Err(err) = regex_syntax::ast::parse::Parser::new().parse(pattern) {
        return Err(PatternError {
            pattern: pattern.to_owned(),
            position: Some(err.span().start.offset),
            reason: err.kind().to_string(),
        });
    }
    if let Err(err) = regex_syntax::Parser::new().parse(pattern) {
        let (position, reason) = match &err {
            regex_syntax::Error::Parse(e) => (Some(e.span().start.offset), e.kind().to_string()),
            regex_syntax::Error::Translate(e) => {
                (Some(e.span().start.offset), e.kind().to_string())
            }
            _ => (None, err.to_string()),
        };
        return Err(PatternError {
            pattern: pattern.to_owned(),
            position,
            reason,
        });
    }
    Ok(())
}

/// A compiled, unanchored set of patterns; `matches` is true when any pattern matches.
#[derive(Clone)]
pub struct PatternSet {
    set: RegexSet,
    patterns: Vec<String>,
}

impl fmt::Debug for PatternSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PatternSet").field(&self.patterns).finish()
    }
}

impl PatternSet {
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Result<Self, PatternError> {
        for p in patterns {
            check_pattern(p.as_ref())?;
        }
        let set = regex::bytes::RegexSetBuilder::new(patterns.iter().map(AsRef::as_ref))
            .size_limit(SIZE_LIMIT)
            .build()
            .map_err(|err| PatternError {
                pattern: patterns
                    .iter()
                    .map(AsRef::as_ref)
                    .collect::<Vec<_>>()
                    .join(" "),
                position: None,
                reason: match err {
                    regex::Error::CompiledTooBig(limit) => {
                        format!("the patterns compile to more than {limit} bytes")
                    }
                    other => other.to_string(),
                },
            })?;
        Ok(Self {
            set,
            patterns: patterns.iter().map(|p| p.as_ref().to_owned()).collect(),
        })
    }

    /// True when any pattern matches anywhere in `haystack`.
    #[inline]
    pub fn matches(&self, haystack: &[u8]) -> bool {
        self.set.is_match(haystack)
    }

    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unanchored_by_default_anchored_on_request() {
        let set = PatternSet::new(&["^/api/public/", "\\.css$"]).unwrap();
        assert!(set.matches(b"/api/public/x"));
        assert!(!set.matches(b"/x/api/public/"));
        assert!(set.matches(b"/static/site.css"));
        assert!(!set.matches(b"/static/site.css.map"));
        let loose = PatternSet::new(&["health"]).unwrap();
        assert!(loose.matches(b"/status/healthz"));
    }

    #[test]
    fn bad_pattern_names_pattern_and_position() {
        let err = PatternSet::new(&["^/ok", "^/api/(v1"]).unwrap_err();
        assert_eq!(err.pattern, "^/api/(v1");
        assert_eq!(err.position, Some(6));
        let text = err.to_string();
        assert!(text.contains("\"^/api/(v1\""), "{text}");
        assert!(text.contains("position 6"), "{text}");
        assert!(text.contains("unclosed group"), "{text}");
    }

    #[test]
    fn re2_refuses_backreferences_and_lookaround() {
        assert!(check_pattern("(a)\\1").is_err());
        assert!(check_pattern("foo(?=bar)").is_err());
        assert!(check_pattern("[z-a]").is_err());
    }

    #[test]
    fn non_utf8_haystack_is_fine() {
        let set = PatternSet::new(&["^/files/"]).unwrap();
        assert!(set.matches(b"/files/\xff\xfe"));
    }
}

//! Strict decoding and safe-text helpers shared by the JWKS and JWT parsers.

use std::collections::hash_map::RandomState;
use std::sync::OnceLock;

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;

/// Strict base64url: the URL-safe alphabet, no padding accepted, no non-canonical trailing bits.
pub(crate) const B64URL_STRICT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone)
        .with_decode_allow_trailing_bits(false),
);

/// Decodes strict base64url (RFC 7515 §2: no padding, no whitespace, canonical).
pub(crate) fn b64url_decode_strict(input: &[u8]) -> Option<Vec<u8>> {
    B64URL_STRICT.decode(input).ok()
}

/// A per-process randomly keyed hasher (SipHash): fingerprints and context ids.
pub(crate) fn process_hasher() -> &'static RandomState {
    static STATE: OnceLock<RandomState> = OnceLock::new();
    STATE.get_or_init(RandomState::new)
}

/// Makes untrusted text safe for a log line or an error description: printable ASCII except
/// `"` and `\`, everything else as `?`, cut at `max` characters (marked with `...`).
pub(crate) fn printable(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max) + 3);
    for (i, c) in s.chars().enumerate() {
        if i >= max {
            out.push_str("...");
            break;
        }
        if (c.is_ascii_graphic() && c != '"' && c != '\\') || c == ' ' {
            out.push(c);
        } else {
            out.push('?');
        }
    }
    out
}

/// True when `json` never nests arrays/objects deeper than `max`. A linear scan without
/// allocation that runs before serde_json (whose own limit is 128 and recursion-costly).
/// Brackets inside strings do not count. Malformed JSON is left for the parser to refuse.
pub(crate) fn json_depth_within(json: &[u8], max: usize) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in json {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return false;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    true
}

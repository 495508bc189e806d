//! A Cookie request header: the first byte picks the cookie name looked up, the rest is the
//! header value. Checks: no panic; cookie::find agrees with the plain reading (split at `;`,
//! trim spaces and tabs, first pair whose name is exactly the name); the value is a slice
//! of the header.
#![no_main]

use libfuzzer_sys::fuzz_target;

const NAMES: &[&[u8]] = &[
    b"sso_session",
    b"sso_session_1",
    b"sso_session_7",
    b"CF_Authorization",
    b"sso_flow_AbCdEfGh",
    b"a",
    b"",
];

fn trim(s: &[u8]) -> &[u8] {
    let is_ws = |b: &u8| *b == b' ' || *b == b'\t';
    let start = s.iter().position(|b| !is_ws(b)).unwrap_or(s.len());
    let end = s.iter().rposition(|b| !is_ws(b)).map_or(start, |e| e + 1);
    &s[start..end]
}

fn reference<'a>(header: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    header.split(|&b| b == b';').find_map(|pair| {
        let pair = trim(pair);
        let eq = pair.iter().position(|&b| b == b'=')?;
        (trim(&pair[..eq]) == name).then(|| trim(&pair[eq + 1..]))
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, header)) = data.split_first() else {
        return;
    };
    let name = NAMES[pick as usize % NAMES.len()];
    let found = sso_core::cookie::find(header, name);
    assert_eq!(found, reference(header, name), "cookie::find disagrees");
    if let Some(v) = found {
        let range = header.as_ptr_range();
        assert!(
            v.is_empty() || range.contains(&v.as_ptr()),
            "value outside the header"
        );
    }
});

//! The plaintext inside a session cookie (the binary layout of core/src/session/codec.rs; the
//! target keeps its old name): the fuzzer's bytes sealed with the fixture key (so they get
//! past AES-GCM), then opened as the glue opens a cookie. Checks: as in `session`, plus: the
//! sealed value never opens for another app or as a flow cookie, and what decodes encodes
//! back to a layout that decodes to the same session.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sso_core::session::{Purpose, Session, CHUNK_LEN};
use sso_fuzz::{check_session, session_keys, CLIENT_ID, NOW};

fuzz_target!(|data: &[u8]| {
    if let Ok(session) = Session::decode(data) {
        assert_eq!(
            Session::decode(&session.encode()).as_ref(),
            Ok(&session),
            "decode(encode(decode(x))) != decode(x)"
        );
    }
    let keys = session_keys();
    let sealed = keys
        .seal_value(Purpose::Session, CLIENT_ID, data)
        .expect("sealing never fails");
    let chunks: Vec<&[u8]> = sealed.as_bytes().chunks(CHUNK_LEN).collect();
    assert!(
        keys.open(&chunks, "another-client", NOW).is_err(),
        "opened for another app"
    );
    assert!(
        keys.open_value(Purpose::Flow, CLIENT_ID, &chunks).is_err(),
        "a session value opened as a flow cookie"
    );
    if chunks.len() <= sso_core::session::MAX_CHUNKS {
        let plain = keys
            .open_value(Purpose::Session, CLIENT_ID, &chunks)
            .expect("what was sealed opens");
        assert_eq!(&plain[..], data, "open_value(seal_value(x)) != x");
    }
    if let Ok(session) = keys.open(&chunks, CLIENT_ID, NOW) {
        check_session(&session);
    }
});

//! The session's binary layout inside the sealed cookie (README "Sessions"): what
//! [`Session::encode`] writes and [`Session::decode`] reads, before sealing and after opening
//! ([`crate::seal`] adds the AEAD, the optional deflate and base64url).
//!
//! ```text
//! payload = FORMAT (0x02) || field*          fields in strictly ascending tag order
//! field   = tag (1 byte) || value
//! uint    = LEB128 varint (at most 10 bytes)
//! bytes   = uint length || that many bytes     (str: UTF-8 bytes)
//! list    = uint count || str*                 (groups, entitlements, ...)
//! pairs   = uint count || (str str)*           (additionalHeaders)
//! jws     = bytes header || bytes payload || signature (the rest)   (base64url-decoded)
//! ```
//! An empty string or list, a zero time and an absent option are not written; reading gives
//! the default for what is absent. An unknown tag, a tag out of order or repeated, a length
//! past the end, a bad varint or bad UTF-8 is [`SessionError::Malformed`] (so is a payload of
//! another format, such as the JSON of the sessions before this layout). The ID token is
//! kept as its three decoded parts: 25% smaller than base64url, and its claims deflate
//! together with the identity they repeat.
//!
//! Adding a field: a tag constant (in order), one line in [`Session::encode`] at its place
//! and one arm in [`Session::decode`].

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use zeroize::Zeroizing;

use super::{RefreshToken, Session, SessionError};

/// The first byte of the payload. The sessions before this layout were JSON (`{`, 0x7b).
pub const FORMAT: u8 = 2;

// Identity (crate::identity::Identity).
const USERNAME: u8 = 1;
const EMAIL: u8 = 2;
const NAME: u8 = 3;
const UID: u8 = 4;
const GROUPS: u8 = 5;
const ENTITLEMENTS: u8 = 6;
const ADDITIONAL_HEADERS: u8 = 7;
const UNRENDERED_HEADER_NAMES: u8 = 8;
const BACKEND_OVERRIDE: u8 = 9;
// Lifecycle.
const IAT: u8 = 16;
const EXP: u8 = 17;
const ISSUED: u8 = 18;
const VOUCHED: u8 = 19;
/// The provider's `sid` (revocations, `$sso_sid`).
const SID: u8 = 20;
/// The session's own random id when the provider gave no `sid`.
const LOCAL_ID: u8 = 21;
// Tokens and claims.
const ID_TOKEN: u8 = 32;
const CLAIMS: u8 = 33;
const REFRESH_TOKEN: u8 = 34;

type Result<T> = std::result::Result<T, SessionError>;

struct Writer {
    out: Zeroizing<Vec<u8>>,
    last: u8,
}

impl Writer {
    fn tag(&mut self, tag: u8) {
        debug_assert!(tag > self.last, "session fields out of order: {tag}");
        self.last = tag;
        self.out.push(tag);
    }

    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.out.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.out.push(v as u8);
    }

    fn len_bytes(&mut self, b: &[u8]) {
        self.varint(b.len() as u64);
        self.out.extend_from_slice(b);
    }

    fn uint(&mut self, tag: u8, v: u64) {
        if v != 0 {
            self.tag(tag);
            self.varint(v);
        }
    }

    fn str(&mut self, tag: u8, s: &str) {
        if !s.is_empty() {
            self.tag(tag);
            self.len_bytes(s.as_bytes());
        }
    }

    fn list(&mut self, tag: u8, items: &[String]) {
        if !items.is_empty() {
            self.tag(tag);
            self.varint(items.len() as u64);
            for item in items {
                self.len_bytes(item.as_bytes());
            }
        }
    }

    fn pairs(&mut self, tag: u8, items: &[(String, String)]) {
        if !items.is_empty() {
            self.tag(tag);
            self.varint(items.len() as u64);
            for (a, b) in items {
                self.len_bytes(a.as_bytes());
                self.len_bytes(b.as_bytes());
            }
        }
    }
}

/// The decoded header, payload and signature of a compact JWS; None when it is not one
/// (never the case for a verified ID token).
fn jws_parts(token: &str) -> Option<[Vec<u8>; 3]> {
    let mut parts = token.split('.');
    let mut out: [Vec<u8>; 3] = Default::default();
    for slot in &mut out {
        *slot = URL_SAFE_NO_PAD.decode(parts.next()?).ok()?;
    }
    parts.next().is_none().then_some(out)
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8> {
        let (&b, rest) = self.buf.split_first().ok_or(SessionError::Malformed)?;
        self.buf = rest;
        Ok(b)
    }

    fn varint(&mut self) -> Result<u64> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            let part = u64::from(b & 0x7f);
            if shift == 63 && part > 1 {
                return Err(SessionError::Malformed);
            }
            v |= part << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(SessionError::Malformed)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.buf.len() {
            return Err(SessionError::Malformed);
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    fn bytes(&mut self) -> Result<&'a [u8]> {
        let n = usize::try_from(self.varint()?).map_err(|_| SessionError::Malformed)?;
        self.take(n)
    }

    fn string(&mut self) -> Result<String> {
        std::str::from_utf8(self.bytes()?)
            .map(str::to_owned)
            .map_err(|_| SessionError::Malformed)
    }

    /// A count of items of at least one byte each: never more than the bytes left, so a
    /// forged count cannot make a large allocation.
    fn count(&mut self) -> Result<usize> {
        let n = self.varint()?;
        if n > self.buf.len() as u64 {
            return Err(SessionError::Malformed);
        }
        Ok(n as usize)
    }

    fn list(&mut self) -> Result<Vec<String>> {
        let n = self.count()?;
        (0..n).map(|_| self.string()).collect()
    }

    fn pairs(&mut self) -> Result<Vec<(String, String)>> {
        let n = self.count()?;
        (0..n)
            .map(|_| Ok((self.string()?, self.string()?)))
            .collect()
    }

    fn jws(&mut self) -> Result<String> {
        let h = self.bytes()?;
        let p = self.bytes()?;
        let s = self.take(self.buf.len())?;
        Ok(format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(h),
            URL_SAFE_NO_PAD.encode(p),
            URL_SAFE_NO_PAD.encode(s)
        ))
    }

    /// The value of a field that runs to the end of its own length prefix.
    fn nested(&mut self) -> Result<Reader<'a>> {
        Ok(Reader { buf: self.bytes()? })
    }
}

impl Session {
    /// The payload that is sealed (see the module documentation).
    pub fn encode(&self) -> Zeroizing<Vec<u8>> {
        let mut w = Writer {
            out: Zeroizing::new(Vec::with_capacity(256)),
            last: 0,
        };
        w.out.push(FORMAT);
        let id = &self.identity;
        w.str(USERNAME, &id.username);
        w.str(EMAIL, &id.email);
        w.str(NAME, &id.name);
        w.str(UID, &id.uid);
        w.list(GROUPS, &id.groups);
        w.list(ENTITLEMENTS, &id.entitlements);
        w.pairs(ADDITIONAL_HEADERS, &id.additional_headers);
        w.list(UNRENDERED_HEADER_NAMES, &id.unrendered_header_names);
        w.str(BACKEND_OVERRIDE, &id.backend_override);
        w.uint(IAT, self.iat);
        w.uint(EXP, self.exp);
        w.uint(ISSUED, self.issued);
        w.uint(VOUCHED, self.vouched);
        if let Some(sid) = &self.sid {
            w.tag(SID);
            w.len_bytes(sid.as_bytes());
        }
        if let Some(local) = &self.local_id {
            w.tag(LOCAL_ID);
            w.len_bytes(local.as_bytes());
        }
        if let Some([h, p, sig]) = self.id_token.as_deref().and_then(jws_parts) {
            // The signature runs to the end of the field, which has a length of its own.
            let mut jws = Writer {
                out: Zeroizing::new(Vec::with_capacity(h.len() + p.len() + sig.len() + 6)),
                last: 0,
            };
            jws.len_bytes(&h);
            jws.len_bytes(&p);
            jws.out.extend_from_slice(&sig);
            w.tag(ID_TOKEN);
            w.len_bytes(&jws.out);
        }
        if let Some(claims) = &self.claims {
            w.tag(CLAIMS);
            w.len_bytes(claims.as_bytes());
        }
        if let Some(rt) = &self.refresh_token {
            w.tag(REFRESH_TOKEN);
            w.len_bytes(rt.expose().as_bytes());
        }
        w.out
    }

    /// Reads what [`Session::encode`] wrote; anything else is [`SessionError::Malformed`].
    pub fn decode(payload: &[u8]) -> Result<Session> {
        let mut r = Reader { buf: payload };
        if r.byte()? != FORMAT {
            return Err(SessionError::Malformed);
        }
        let mut s = Session::default();
        let mut last = 0u8;
        while !r.buf.is_empty() {
            let tag = r.byte()?;
            if tag <= last {
                return Err(SessionError::Malformed);
            }
            last = tag;
            let id = &mut s.identity;
            match tag {
                USERNAME => id.username = r.string()?,
                EMAIL => id.email = r.string()?,
                NAME => id.name = r.string()?,
                UID => id.uid = r.string()?,
                GROUPS => id.groups = r.list()?,
                ENTITLEMENTS => id.entitlements = r.list()?,
                ADDITIONAL_HEADERS => id.additional_headers = r.pairs()?,
                UNRENDERED_HEADER_NAMES => id.unrendered_header_names = r.list()?,
                BACKEND_OVERRIDE => id.backend_override = r.string()?,
                IAT => s.iat = r.varint()?,
                EXP => s.exp = r.varint()?,
                ISSUED => s.issued = r.varint()?,
                VOUCHED => s.vouched = r.varint()?,
                SID => s.sid = Some(r.string()?),
                LOCAL_ID => s.local_id = Some(r.string()?),
                ID_TOKEN => s.id_token = Some(r.nested()?.jws()?),
                CLAIMS => s.claims = Some(r.string()?),
                REFRESH_TOKEN => s.refresh_token = Some(RefreshToken::new(r.string()?)),
                _ => return Err(SessionError::Malformed),
            }
        }
        Ok(s)
    }
}

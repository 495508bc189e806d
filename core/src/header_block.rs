//! Headers rendered once for nginx's header list: every name, its lowercase form, nginx's hash
//! of it and the value, in one buffer.
//!
//! The glue adds the identity headers to every authenticated request. Building them from the
//! [`crate::identity::Identity`] each time (joining groups, sanitising, lowercasing, hashing,
//! one allocation per string) cost more than the rest of the gate together. A block is built
//! once per cached identity; a request then costs one copy of the buffer into the request
//! pool and one list element per header.

use std::fmt;
use std::ops::Range;

/// nginx's header-name hash (`ngx_hash(key, c)` = `key * 31 + c`, from 0, over the lowercase
/// name, as `ngx_hash_strlow` computes it). Modules look headers up by it: `proxy_set_header`
/// of the same name replaces a header only when its hash is nginx's.
pub fn nginx_hash(lowercase: &[u8]) -> usize {
    lowercase.iter().fold(0usize, |h, &c| {
        h.wrapping_mul(31).wrapping_add(usize::from(c))
    })
}

/// One header of a [`HeaderBlock`]: ranges into [`HeaderBlock::bytes`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Item {
    name: (u32, u32),
    lowercase: (u32, u32),
    value: (u32, u32),
    hash: usize,
}

impl Item {
    pub fn name(&self) -> Range<usize> {
        self.name.0 as usize..self.name.1 as usize
    }

    /// The name in ASCII lowercase (what nginx keeps as `lowcase_key`).
    pub fn lowercase(&self) -> Range<usize> {
        self.lowercase.0 as usize..self.lowercase.1 as usize
    }

    pub fn value(&self) -> Range<usize> {
        self.value.0 as usize..self.value.1 as usize
    }

    /// [`nginx_hash`] of the lowercase name.
    pub fn hash(&self) -> usize {
        self.hash
    }
}

/// Headers rendered once. Values must already be safe header values (the callers pass
/// [`crate::identity`]'s sanitised ones); names are taken as given.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct HeaderBlock {
    buf: Box<[u8]>,
    items: Box<[Item]>,
}

impl fmt::Debug for HeaderBlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Values are personal data (names, e-mail addresses, tokens): names only.
        let mut list = f.debug_list();
        for item in self.items.iter() {
            list.entry(&String::from_utf8_lossy(&self.buf[item.name()]));
        }
        list.finish()
    }
}

impl HeaderBlock {
    /// Renders `(name, value)` pairs, in order.
    pub fn new<N: AsRef<str>, V: AsRef<str>>(headers: &[(N, V)]) -> HeaderBlock {
        let total: usize = headers
            .iter()
            .map(|(n, v)| 2 * n.as_ref().len() + v.as_ref().len())
            .sum();
        let mut buf = Vec::with_capacity(total);
        let mut items = Vec::with_capacity(headers.len());
        let append = |buf: &mut Vec<u8>, bytes: &[u8]| -> (u32, u32) {
            let start = buf.len();
            buf.extend_from_slice(bytes);
            (offset(start), offset(buf.len()))
        };
        for (name, value) in headers {
            let name = name.as_ref().as_bytes();
            let lower = name.to_ascii_lowercase();
            items.push(Item {
                name: append(&mut buf, name),
                lowercase: append(&mut buf, &lower),
                value: append(&mut buf, value.as_ref().as_bytes()),
                hash: nginx_hash(&lower),
            });
        }
        HeaderBlock {
            buf: buf.into_boxed_slice(),
            items: items.into_boxed_slice(),
        }
    }

    /// Every name, lowercase name and value, back to back (the items index into it).
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    pub fn items(&self) -> &[Item] {
        &self.items
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Bytes held on the heap (for cache accounting).
    pub fn heap_size(&self) -> usize {
        self.buf.len() + self.items.len() * std::mem::size_of::<Item>()
    }

    /// `(name, value)` of item `i` (tests, logging).
    pub fn get(&self, i: usize) -> Option<(&[u8], &[u8])> {
        let item = self.items.get(i)?;
        Some((&self.buf[item.name()], &self.buf[item.value()]))
    }
}

/// Identity headers are a few KiB at most (values are bounded by the token and cookie size
/// limits), far below `u32::MAX`.
fn offset(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nginx_hash_matches_ngx_hash_strlow() {
        // ngx_hash_strlow("host") as nginx computes it: ((('h'*31+'o')*31+'s')*31+'t').
        let expected = ((104usize * 31 + 111) * 31 + 115) * 31 + 116;
        assert_eq!(nginx_hash(b"host"), expected);
        assert_eq!(nginx_hash(b""), 0);
        // Long names wrap like nginx's ngx_uint_t.
        let long = [b'x'; 64];
        let mut h = 0usize;
        for &c in &long {
            h = h.wrapping_mul(31).wrapping_add(c as usize);
        }
        assert_eq!(nginx_hash(&long), h);
    }

    #[test]
    fn items_index_names_lowercase_and_values() {
        let block = HeaderBlock::new(&[("X-authentik-Username", "Alice"), ("X-Tenant", "")]);
        assert_eq!(block.len(), 2);
        let b = block.bytes();
        let first = block.items()[0];
        assert_eq!(&b[first.name()], b"X-authentik-Username");
        assert_eq!(&b[first.lowercase()], b"x-authentik-username");
        assert_eq!(&b[first.value()], b"Alice");
        assert_eq!(first.hash(), nginx_hash(b"x-authentik-username"));
        let second = block.items()[1];
        assert_eq!(&b[second.lowercase()], b"x-tenant");
        assert!(second.value().is_empty());
        assert_eq!(block.get(1), Some((&b"X-Tenant"[..], &b""[..])));
        assert_eq!(block.get(2), None);
        assert!(!format!("{block:?}").contains("Alice"));
    }
}

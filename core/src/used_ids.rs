//! A fixed-size set of recently used ids (login flow states) over a plain byte slice, so it
//! can live in nginx shared memory and be read and written by every worker (README
//! "Security" → "Overload, request bodies and caching").
//!
//! The glue hands a locked region of shared memory to [`UsedIds::attach`] (or
//! [`UsedIds::format`] when the zone is new) and calls [`UsedIds::insert`] once per login
//! callback: the first use of a state answers [`Insert::Fresh`], every later use within its
//! lifetime [`Insert::Used`].
//!
//! Layout (all integers little-endian, no alignment assumed):
//!
//! ```text
//! header   magic u32 | version u32 | capacity u32 | index_len u32 | head u32 | len u32
//!          | evicted_live u64 | key [u8; 32]                                  (64 bytes)
//! ring     capacity × { tag [u8; 16] | expires u64 }                        (24 bytes each)
//! index    index_len × u32 (0 = empty, else ring position + 1)
//! ```
//!
//! - An id is stored as a 16-byte tag, the start of SHA-256(key ‖ id), with a random key per
//!   zone: the table holds no state, and nobody can aim ids at one part of the index.
//! - The ring keeps entries in insertion order, which (one lifetime for all) is expiry order:
//!   when it is full the next insert overwrites the oldest entry, expired or not
//!   ([`UsedIds::evicted_live`] counts the live ones lost that way).
//! - The index is open addressing with linear probing over at least twice as many slots as
//!   the ring, with backward-shift deletion (no tombstones), so a lookup reads a few slots.
//! - An entry whose expiry has passed counts as absent.

use aws_lc_rs::{digest, rand};

const MAGIC: u32 = 0x5353_4f55; // "SSOU"
const VERSION: u32 = 1;
/// Header bytes before the ring.
pub const HEADER_LEN: usize = 64;
/// Bytes of one ring entry.
const ENTRY_LEN: usize = 24;
/// Bytes of one index slot.
const SLOT_LEN: usize = 4;
/// Bytes of a stored tag.
pub const TAG_LEN: usize = 16;

// Header field offsets.
const OFF_MAGIC: usize = 0;
const OFF_VERSION: usize = 4;
const OFF_CAPACITY: usize = 8;
const OFF_INDEX_LEN: usize = 12;
const OFF_HEAD: usize = 16;
const OFF_LEN: usize = 20;
const OFF_EVICTED: usize = 24;
const OFF_KEY: usize = 32;

/// What [`UsedIds::insert`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Insert {
    /// Not seen within its lifetime: recorded now.
    Fresh,
    /// Already recorded and not expired: a second use.
    Used,
}

/// The set, borrowed over its bytes (a locked shared-memory region in nginx).
pub struct UsedIds<'a> {
    buf: &'a mut [u8],
    capacity: usize,
    index_len: usize,
}

pub(crate) fn rd32(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().unwrap_or([0; 4]))
}

pub(crate) fn wr32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_le_bytes());
}

pub(crate) fn rd64(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().unwrap_or([0; 8]))
}

pub(crate) fn wr64(b: &mut [u8], off: usize, v: u64) {
    b[off..off + 8].copy_from_slice(&v.to_le_bytes());
}

/// The start of SHA-256(key ‖ id): how a table in shared memory stores an id.
pub(crate) fn keyed_tag(key: &[u8], id: &[u8]) -> [u8; TAG_LEN] {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(key);
    ctx.update(id);
    let d = ctx.finish();
    let mut tag = [0u8; TAG_LEN];
    tag.copy_from_slice(&d.as_ref()[..TAG_LEN]);
    tag
}

/// (ring capacity, index slots) that fit in `len` bytes; None when not even a few entries fit.
fn geometry(len: usize) -> Option<(usize, usize)> {
    let room = len.checked_sub(HEADER_LEN)?;
    // index_len is the smallest power of two >= 2 * capacity; find the largest capacity
    // whose ring and index fit.
    let mut capacity = room / (ENTRY_LEN + 2 * SLOT_LEN);
    loop {
        if capacity < 4 {
            return None;
        }
        let index_len = (2 * capacity).next_power_of_two();
        if capacity * ENTRY_LEN + index_len * SLOT_LEN <= room && index_len <= u32::MAX as usize {
            return Some((capacity, index_len));
        }
        capacity -= capacity / 8 + 1;
    }
}

impl<'a> UsedIds<'a> {
    /// How many ids a region of `len` bytes holds (0 when too small).
    pub fn capacity_for(len: usize) -> usize {
        geometry(len).map_or(0, |(c, _)| c)
    }

    /// Formats `buf` as an empty set with a fresh random key. None when `buf` is too small
    /// or the system's random source fails.
    pub fn format(buf: &'a mut [u8]) -> Option<UsedIds<'a>> {
        let mut key = [0u8; 32];
        rand::fill(&mut key).ok()?;
        Self::format_with_key(buf, key)
    }

    /// [`UsedIds::format`] with a given key (tests).
    pub fn format_with_key(buf: &'a mut [u8], key: [u8; 32]) -> Option<UsedIds<'a>> {
        let (capacity, index_len) = geometry(buf.len())?;
        buf.fill(0);
        wr32(buf, OFF_MAGIC, MAGIC);
        wr32(buf, OFF_VERSION, VERSION);
        wr32(buf, OFF_CAPACITY, capacity as u32);
        wr32(buf, OFF_INDEX_LEN, index_len as u32);
        buf[OFF_KEY..OFF_KEY + 32].copy_from_slice(&key);
        Some(UsedIds {
            buf,
            capacity,
            index_len,
        })
    }

    /// The set already formatted in `buf`; None when `buf` does not hold one of this version
    /// and size (then [`UsedIds::format`] it).
    pub fn attach(buf: &'a mut [u8]) -> Option<UsedIds<'a>> {
        if !Self::is_formatted(buf) {
            return None;
        }
        let (capacity, index_len) = geometry(buf.len())?;
        Some(UsedIds {
            buf,
            capacity,
            index_len,
        })
    }

    /// Whether `buf` holds a set of this version and size.
    pub fn is_formatted(buf: &[u8]) -> bool {
        let Some((capacity, index_len)) = geometry(buf.len()) else {
            return false;
        };
        !(rd32(buf, OFF_MAGIC) != MAGIC
            || rd32(buf, OFF_VERSION) != VERSION
            || rd32(buf, OFF_CAPACITY) as usize != capacity
            || rd32(buf, OFF_INDEX_LEN) as usize != index_len
            || rd32(buf, OFF_HEAD) as usize >= capacity
            || rd32(buf, OFF_LEN) as usize > capacity)
    }

    /// Attaches, or formats when `buf` holds no valid set.
    pub fn attach_or_format(buf: &'a mut [u8]) -> Option<UsedIds<'a>> {
        if Self::is_formatted(buf) {
            Self::attach(buf)
        } else {
            Self::format(buf)
        }
    }

    /// Most ids held at once.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Entries in the ring (expired ones included until overwritten).
    pub fn len(&self) -> usize {
        rd32(self.buf, OFF_LEN) as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Live (unexpired) entries evicted because the set was full, since it was formatted.
    pub fn evicted_live(&self) -> u64 {
        rd64(self.buf, OFF_EVICTED)
    }

    fn tag(&self, id: &[u8]) -> [u8; TAG_LEN] {
        keyed_tag(&self.buf[OFF_KEY..OFF_KEY + 32], id)
    }

    fn entry_off(&self, pos: usize) -> usize {
        HEADER_LEN + pos * ENTRY_LEN
    }

    fn entry_tag(&self, pos: usize) -> &[u8] {
        let off = self.entry_off(pos);
        &self.buf[off..off + TAG_LEN]
    }

    fn entry_expires(&self, pos: usize) -> u64 {
        rd64(self.buf, self.entry_off(pos) + TAG_LEN)
    }

    fn slot_off(&self, slot: usize) -> usize {
        HEADER_LEN + self.capacity * ENTRY_LEN + slot * SLOT_LEN
    }

    /// Ring position + 1 stored in index slot `slot` (0 = empty). A value out of range (the
    /// memory was scribbled on) reads as empty.
    fn slot(&self, slot: usize) -> usize {
        let v = rd32(self.buf, self.slot_off(slot)) as usize;
        if v > self.capacity {
            0
        } else {
            v
        }
    }

    fn set_slot(&mut self, slot: usize, v: usize) {
        let off = self.slot_off(slot);
        wr32(self.buf, off, v as u32);
    }

    fn home(&self, tag: &[u8]) -> usize {
        let h = u32::from_le_bytes([tag[0], tag[1], tag[2], tag[3]]) as usize;
        h & (self.index_len - 1)
    }

    /// The index slot holding ring position `pos` for `tag`, if any.
    fn find_slot(&self, tag: &[u8], pos: Option<usize>) -> Option<usize> {
        let mask = self.index_len - 1;
        let mut s = self.home(tag);
        for _ in 0..self.index_len {
            let v = self.slot(s);
            if v == 0 {
                return None;
            }
            let p = v - 1;
            if pos.map_or(true, |want| want == p) && self.entry_tag(p) == tag {
                return Some(s);
            }
            s = (s + 1) & mask;
        }
        None
    }

    /// Backward-shift deletion of index slot `s` (linear probing, no tombstones).
    fn remove_slot(&mut self, mut s: usize) {
        let mask = self.index_len - 1;
        let mut next = (s + 1) & mask;
        for _ in 0..self.index_len {
            let v = self.slot(next);
            if v == 0 {
                break;
            }
            let home = self.home(self.entry_tag(v - 1));
            // Move `next` into the hole when its home is not in (s, next] cyclically.
            let dist_next = next.wrapping_sub(home) & mask;
            let dist_hole = next.wrapping_sub(s) & mask;
            if dist_next >= dist_hole {
                self.set_slot(s, v);
                s = next;
            }
            next = (next + 1) & mask;
        }
        self.set_slot(s, 0);
    }

    fn index_insert(&mut self, tag: &[u8], pos: usize) {
        let mask = self.index_len - 1;
        let mut s = self.home(tag);
        // The index has at least twice the ring's slots: there is always a free one (unless
        // the memory was scribbled on: then the entry is simply not indexed).
        for _ in 0..self.index_len {
            if self.slot(s) == 0 {
                self.set_slot(s, pos + 1);
                return;
            }
            s = (s + 1) & mask;
        }
    }

    /// Whether `id` was recorded and has not expired at `now`.
    pub fn contains(&self, id: &[u8], now: u64) -> bool {
        let tag = self.tag(id);
        self.find_slot(&tag, None)
            .is_some_and(|s| self.entry_expires(self.slot(s) - 1) > now)
    }

    /// Records `id` until `expires` (Unix seconds) unless it is already recorded and
    /// unexpired at `now`. When the ring is full, the oldest entry makes room.
    pub fn insert(&mut self, id: &[u8], now: u64, expires: u64) -> Insert {
        let tag = self.tag(id);
        if let Some(s) = self.find_slot(&tag, None) {
            let pos = self.slot(s) - 1;
            if self.entry_expires(pos) > now {
                return Insert::Used;
            }
            // Expired: forget the old entry (its ring slot is reused in turn).
            self.remove_slot(s);
            let off = self.entry_off(pos);
            wr64(self.buf, off + TAG_LEN, 0);
        }
        let head = rd32(self.buf, OFF_HEAD) as usize;
        let mut len = rd32(self.buf, OFF_LEN) as usize;
        if len == self.capacity {
            // The entry at head is the oldest: drop it from the index.
            let old_tag: [u8; TAG_LEN] = self.entry_tag(head).try_into().unwrap_or([0; TAG_LEN]);
            let old_expires = self.entry_expires(head);
            if let Some(s) = self.find_slot(&old_tag, Some(head)) {
                self.remove_slot(s);
            }
            if old_expires > now {
                let n = self.evicted_live().saturating_add(1);
                wr64(self.buf, OFF_EVICTED, n);
            }
            len -= 1;
        }
        let off = self.entry_off(head);
        self.buf[off..off + TAG_LEN].copy_from_slice(&tag);
        wr64(self.buf, off + TAG_LEN, expires);
        self.index_insert(&tag, head);
        wr32(self.buf, OFF_HEAD, ((head + 1) % self.capacity) as u32);
        wr32(self.buf, OFF_LEN, (len + 1) as u32);
        Insert::Fresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(buf: &mut [u8]) -> UsedIds<'_> {
        UsedIds::format_with_key(buf, [7; 32]).expect("fits")
    }

    #[test]
    fn second_use_is_refused_until_expiry() {
        let mut buf = vec![0u8; 4096];
        let mut s = set(&mut buf);
        assert_eq!(s.insert(b"state-a", 100, 700), Insert::Fresh);
        assert_eq!(s.insert(b"state-a", 101, 701), Insert::Used);
        assert_eq!(s.insert(b"state-a", 699, 1299), Insert::Used);
        assert!(s.contains(b"state-a", 699));
        assert!(!s.contains(b"state-b", 100));
        assert_eq!(s.insert(b"state-b", 102, 702), Insert::Fresh);
        // at expiry the id is forgotten and may be recorded again
        assert!(!s.contains(b"state-a", 700));
        assert_eq!(s.insert(b"state-a", 700, 1300), Insert::Fresh);
        assert_eq!(s.insert(b"state-a", 701, 1301), Insert::Used);
        assert_eq!(s.evicted_live(), 0);
    }

    #[test]
    fn full_set_evicts_the_oldest() {
        let mut buf = vec![0u8; 2048];
        let mut s = set(&mut buf);
        let cap = s.capacity();
        assert!(cap >= 4);
        for i in 0..cap {
            assert_eq!(
                s.insert(format!("id{i}").as_bytes(), 10, 1000),
                Insert::Fresh
            );
        }
        assert_eq!(s.len(), cap);
        for i in 0..cap {
            assert!(s.contains(format!("id{i}").as_bytes(), 10), "id{i}");
        }
        // one more: the oldest (id0) goes, everything else stays
        assert_eq!(s.insert(b"new", 11, 1001), Insert::Fresh);
        assert_eq!(s.len(), cap);
        assert!(!s.contains(b"id0", 11));
        assert_eq!(s.evicted_live(), 1);
        for i in 1..cap {
            assert!(
                s.contains(format!("id{i}").as_bytes(), 11),
                "id{i} after eviction"
            );
        }
        assert!(s.contains(b"new", 11));
        // and the evicted one counts as fresh again
        assert_eq!(s.insert(b"id0", 12, 1002), Insert::Fresh);
        assert!(!s.contains(b"id1", 12));
    }

    #[test]
    fn expired_entries_make_room_without_counting_as_live_evictions() {
        let mut buf = vec![0u8; 2048];
        let mut s = set(&mut buf);
        let cap = s.capacity();
        for i in 0..cap {
            s.insert(format!("old{i}").as_bytes(), 0, 10);
        }
        for i in 0..cap {
            assert_eq!(
                s.insert(format!("new{i}").as_bytes(), 20, 30),
                Insert::Fresh
            );
        }
        assert_eq!(s.evicted_live(), 0);
        for i in 0..cap {
            assert!(s.contains(format!("new{i}").as_bytes(), 20));
            assert!(!s.contains(format!("old{i}").as_bytes(), 20));
        }
    }

    /// Many rounds of inserts against a model (a map from id to expiry, with the ring's
    /// eviction order): the set never forgets a live id it still holds, never invents one.
    #[test]
    fn agrees_with_a_model() {
        use std::collections::{HashMap, VecDeque};
        let mut buf = vec![0u8; 3000];
        let mut s = set(&mut buf);
        let cap = s.capacity();
        // The ring as the model sees it: None is an entry forgotten on re-use after expiry
        // (its ring slot stays taken until overwritten in turn).
        let mut order: VecDeque<Option<String>> = VecDeque::new();
        let mut model: HashMap<String, u64> = HashMap::new();
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut now = 0u64;
        for _ in 0..50_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            now += x % 3;
            let id = format!("s{}", x % 400);
            let live = model.get(&id).is_some_and(|&e| e > now);
            let got = s.insert(id.as_bytes(), now, now + 60);
            if live {
                assert_eq!(got, Insert::Used, "{id} at {now}");
            } else {
                assert_eq!(got, Insert::Fresh, "{id} at {now}");
                if let Some(p) = order.iter().position(|o| o.as_ref() == Some(&id)) {
                    order[p] = None;
                }
                if order.len() == cap {
                    if let Some(old) = order.pop_front().unwrap() {
                        model.remove(&old);
                    }
                }
                order.push_back(Some(id.clone()));
                model.insert(id, now + 60);
            }
        }
    }

    #[test]
    fn attach_keeps_entries_and_rejects_foreign_bytes() {
        let mut buf = vec![0u8; 4096];
        {
            let mut s = UsedIds::format(&mut buf).unwrap();
            s.insert(b"kept", 5, 500);
        }
        {
            let s = UsedIds::attach(&mut buf).expect("formatted");
            assert!(s.contains(b"kept", 6));
        }
        let mut junk = vec![0xabu8; 4096];
        assert!(UsedIds::attach(&mut junk).is_none());
        let s = UsedIds::attach_or_format(&mut junk).unwrap();
        assert!(s.is_empty());
        // a region of another size is not the same set
        assert!(UsedIds::attach(&mut buf[..2048]).is_none());
        assert!(UsedIds::format(&mut [0u8; 100]).is_none());
        assert_eq!(UsedIds::capacity_for(10), 0);
        assert!(UsedIds::capacity_for(1 << 19) > 10_000);
    }

    #[test]
    fn scribbled_index_does_not_panic() {
        let mut buf = vec![0u8; 2048];
        {
            let mut s = set(&mut buf);
            for i in 0..20 {
                s.insert(format!("x{i}").as_bytes(), 1, 100);
            }
        }
        for b in buf[HEADER_LEN + 200..].iter_mut() {
            *b = 0xff;
        }
        let mut s = UsedIds::attach(&mut buf).unwrap();
        for i in 0..200 {
            s.insert(format!("y{i}").as_bytes(), 2, 100);
        }
    }
}

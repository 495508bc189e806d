//! The revocation table: which sessions are refused before their cookie expires (README
//! "Session lifecycle"), over a fixed region of shared memory read by every worker.
//!
//! Two kinds of entry, each keyed by the provider (issuer) and a provider value:
//! - [`Kind::Session`]: one session, by the provider's session id (`sid`), or by another
//!   id the glue gives a session that has none;
//! - [`Kind::Subject`]: every session of a user (`sub`) issued at or before a time (a
//!   back-channel logout carrying only `sub`).
//!
//! Every entry carries the expiry of what it covers (the end of the sessions' lifetime) and
//! counts as absent from then on. The table is a ring in insertion order with an
//! open-addressing index, as [`crate::used_ids`] is: when the ring is full the next
//! revocation overwrites the oldest entry, and a live entry lost that way is returned (the
//! glue logs it at `warn`) and counted ([`Revocations::evicted_live`]).
//!
//! # Concurrency: lock-free readers, locked writers
//!
//! Checking a session ([`Revocations::check`]) is on every request's path: it takes no lock.
//! Writers ([`Revocations::revoke`], [`Revocations::restore`]) must be serialised by the
//! caller (the zone's `ngx_shmtx`, held across the call); they publish through a sequence
//! counter (a seqlock): a writer makes the counter odd, changes the table, makes it even
//! again. A reader reads the counter, looks the session up, and accepts the answer only if
//! the counter was even and has not moved; otherwise it retries, and after [`SPINS`]
//! attempts answers [`Check::Busy`]: then the glue takes the lock and asks
//! [`Revocations::check_locked`], which is exact (it also repairs the table when a writer
//! died in the middle of a change, see below).
//!
//! Because readers run while a writer changes the same memory, every access to the region
//! is atomic: the region is a `&[AtomicU64]`, never bytes. That is what makes the racing
//! reads defined behaviour in Rust (a torn *snapshot* is possible and is thrown away; a
//! torn *word* is not). The ordering is the classic one (Boehm, "Can seqlocks get along
//! with programming language memory models?", 2012): the writer stores the odd counter
//! (relaxed), issues a release fence, stores the data (relaxed), stores the even counter
//! (release); the reader loads the counter (acquire), loads the data (relaxed), issues an
//! acquire fence, loads the counter again (relaxed). A reader that saw any word of a write
//! therefore sees the counter moved. A lookup over a torn snapshot is bounded (never more
//! probes than index slots, every position range-checked), so it ends and its answer is
//! discarded.
//!
//! The glue's side of the contract: the region comes from `ngx_slab_alloc` (8-byte
//! aligned; large allocations are page-aligned) and is viewed as
//! `slice::from_raw_parts(ptr as *const AtomicU64, bytes / 8)`. `AtomicU64` has the size
//! and alignment of `u64` and is lock-free on the 64-bit targets nginx runs the module on,
//! so it works across processes mapping the same memory; nothing may view the region as
//! plain bytes while other processes run.
//!
//! A worker killed while writing (nginx frees a dead process's `ngx_shmtx`) leaves the
//! counter odd: readers then answer [`Check::Busy`], and the next locked call rebuilds the
//! index from the ring (O(capacity), once) before doing its work.
//!
//! # Ids, tags and keys
//!
//! An entry stores a 16-byte id, the start of SHA-256 over a domain string, the kind, the
//! issuer and the provider value: the same on every node, so the ids can be exchanged
//! ([`Revocations::live`], Redis) and persisted ([`encode_state`]) without the raw values,
//! and a `sid` never matches a `sub`. Where an id sits in the index comes from SipHash-2-4
//! of the id under a random key per zone, kept in the region's header: nobody can aim ids
//! at one part of the index.
//!
//! # Layout (64-bit words)
//!
//! ```text
//! header   magic<<32|version | capacity | index_len | seq | head | len | evicted_live
//!          | key0 | key1 | 7 reserved                                      (16 words)
//! ring     capacity × { id0 | id1 | issued_through | expires | kind }      (5 words each)
//! index    index_len × { position hash (32 bits) << 32 | ring position + 1 } (0 = empty)
//! ```
//!
//! The index has exactly twice as many slots as the ring (linear probing, backward-shift
//! deletion, no tombstones); the home slot is the position hash scaled to the index length,
//! so the size in bytes is linear in the capacity: [`bytes_for`].

use std::sync::atomic::{fence, AtomicU64, Ordering};

use aws_lc_rs::{digest, rand};

const MAGIC: u64 = 0x5353_4f52; // "SSOR"
const VERSION: u64 = 1;
/// Header words before the ring.
const HEADER_WORDS: usize = 16;
/// Words of one ring entry.
const ENTRY_WORDS: usize = 5;
/// Index slots per ring entry.
const SLOTS_PER_ENTRY: usize = 2;
/// Fewest entries a region must hold.
const MIN_CAPACITY: usize = 4;
/// Reader attempts before [`Check::Busy`].
pub const SPINS: usize = 64;

/// The header's words, in order (the layout above).
#[derive(Clone, Copy)]
enum H {
    Magic,
    Capacity,
    IndexLen,
    Seq,
    Head,
    Len,
    Evicted,
    Key0,
    Key1,
}

// Entry word offsets.
const E_ID0: usize = 0;
const E_ID1: usize = 1;
const E_THROUGH: usize = 2;
const E_EXPIRES: usize = 3;
const E_KIND: usize = 4;

/// Bytes a region needs to hold `n` revocations (at least a few).
pub fn bytes_for(n: usize) -> usize {
    let n = n.max(MIN_CAPACITY);
    8 * (HEADER_WORDS + n * (ENTRY_WORDS + SLOTS_PER_ENTRY))
}

/// Revocations a region of `bytes` bytes holds (0 when too small).
pub fn capacity_for(bytes: usize) -> usize {
    geometry(bytes / 8).map_or(0, |(c, _)| c)
}

/// (capacity, index slots) of a region of `words` words.
fn geometry(words: usize) -> Option<(usize, usize)> {
    let capacity = words.checked_sub(HEADER_WORDS)? / (ENTRY_WORDS + SLOTS_PER_ENTRY);
    // Ring positions + 1 and index slots must fit in 32 bits.
    let capacity = capacity.min((u32::MAX as usize - 1) / SLOTS_PER_ENTRY);
    (capacity >= MIN_CAPACITY).then_some((capacity, capacity * SLOTS_PER_ENTRY))
}

/// A zeroed region of at least `bytes` bytes on the heap (tests, benchmarks, fuzzing; nginx
/// uses shared memory).
pub fn heap_region(bytes: usize) -> Box<[AtomicU64]> {
    (0..bytes.div_ceil(8)).map(|_| AtomicU64::new(0)).collect()
}

/// What a revocation covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// One session, by its provider session id.
    Session,
    /// Every session of a subject issued at or before [`Revocation::issued_through`].
    Subject,
}

impl Kind {
    fn code(self) -> u64 {
        match self {
            Kind::Session => 1,
            Kind::Subject => 2,
        }
    }

    fn from_code(code: u64) -> Option<Kind> {
        match code {
            1 => Some(Kind::Session),
            2 => Some(Kind::Subject),
            _ => None,
        }
    }

    /// `session` or `subject` (logs).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Session => "session",
            Kind::Subject => "subject",
        }
    }
}

/// The id of what a revocation covers: its kind and 16 bytes derived from the issuer and
/// the provider value (the same on every node).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RevocationId {
    pub kind: Kind,
    pub id: [u8; 16],
}

impl RevocationId {
    /// The id of `value` (a `sid` for [`Kind::Session`], a `sub` for [`Kind::Subject`]) at
    /// `issuer`.
    pub fn new(kind: Kind, issuer: &str, value: &[u8]) -> RevocationId {
        let mut ctx = digest::Context::new(&digest::SHA256);
        ctx.update(b"sso-revocation-v1\0");
        ctx.update(&[kind.code() as u8]);
        ctx.update(&(issuer.len() as u64).to_le_bytes());
        ctx.update(issuer.as_bytes());
        ctx.update(value);
        let d = ctx.finish();
        let mut id = [0u8; 16];
        id.copy_from_slice(&d.as_ref()[..16]);
        RevocationId { kind, id }
    }

    fn words(&self) -> (u64, u64) {
        let (a, b) = self.id.split_at(8);
        (
            u64::from_le_bytes(a.try_into().unwrap_or([0; 8])),
            u64::from_le_bytes(b.try_into().unwrap_or([0; 8])),
        )
    }

    fn from_words(kind: Kind, w0: u64, w1: u64) -> RevocationId {
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&w0.to_le_bytes());
        id[8..].copy_from_slice(&w1.to_le_bytes());
        RevocationId { kind, id }
    }

    /// The id in lowercase hex (32 characters; logs, Redis keys).
    pub fn hex(&self) -> String {
        self.id.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// One revocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Revocation {
    pub id: RevocationId,
    /// [`Kind::Subject`]: sessions issued at or before this Unix time are refused (0 for
    /// [`Kind::Session`]).
    pub issued_through: u64,
    /// Unix time from which the entry no longer matters (the sessions it covers have ended).
    pub expires: u64,
}

impl Revocation {
    /// The session with provider session id `sid` at `issuer`, until `expires`.
    pub fn session(issuer: &str, sid: &[u8], expires: u64) -> Revocation {
        Revocation {
            id: RevocationId::new(Kind::Session, issuer, sid),
            issued_through: 0,
            expires,
        }
    }

    /// Every session of `sub` at `issuer` issued at or before `issued_through`, until
    /// `expires`.
    pub fn subject(issuer: &str, sub: &[u8], issued_through: u64, expires: u64) -> Revocation {
        Revocation {
            id: RevocationId::new(Kind::Subject, issuer, sub),
            issued_through,
            expires,
        }
    }

    /// An entry from outside the node (Redis) made safe to hold: None when it no longer
    /// matters; else its expiry at most [`MAX_COVER`] away and, for a subject, its
    /// `issued_through` at most [`ISSUED_LEEWAY`] in the future. A corrupt or hostile value
    /// can then neither lock a user out for ever nor carry an expiry Redis cannot store.
    pub fn bounded(mut self, now: u64) -> Option<Revocation> {
        if self.expires <= now {
            return None;
        }
        self.expires = self.expires.min(now.saturating_add(MAX_COVER));
        self.issued_through = self.issued_through.min(now.saturating_add(ISSUED_LEEWAY));
        Some(self)
    }
}

/// The longest a revocation from Redis is kept: 400 days, the longest a browser keeps a
/// cookie (RFC 6265bis §5.5).
pub const MAX_COVER: u64 = 400 * 86_400;
/// How far in the future a subject revocation from Redis may end (clock skew between nodes).
pub const ISSUED_LEEWAY: u64 = 300;

/// What the request path asks about one session; independent of the zone, so the glue can
/// compute it once per session (with the opened cookie) and keep it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    session: Option<RevocationId>,
    subject: Option<RevocationId>,
    issued_at: u64,
}

impl Probe {
    /// A session of `issuer` with session id `sid` (when it has one) for `sub` (when known),
    /// issued (minted at login) at `issued_at`.
    pub fn new(issuer: &str, sid: Option<&[u8]>, sub: Option<&[u8]>, issued_at: u64) -> Probe {
        Probe {
            session: sid.map(|s| RevocationId::new(Kind::Session, issuer, s)),
            subject: sub.map(|s| RevocationId::new(Kind::Subject, issuer, s)),
            issued_at,
        }
    }
}

/// The answer of [`Revocations::check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Nothing revokes the session.
    Clear,
    /// Revoked, by an entry of this kind.
    Revoked(Kind),
    /// Writers kept the table changing (or one died mid-change): ask
    /// [`Revocations::check_locked`] under the zone's lock.
    Busy,
}

/// What [`Revocations::revoke`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Revoked {
    /// The table was full and this live revocation was dropped to make room (log it).
    pub evicted: Option<Revocation>,
    /// False when the revocation had already expired and was not recorded.
    pub recorded: bool,
}

/// The table, borrowed over its region (shared memory in nginx).
pub struct Revocations<'a> {
    w: &'a [AtomicU64],
    capacity: usize,
    index_len: usize,
}

/// SipHash-2-4 of a 16-byte message (two little-endian words).
fn siphash(k0: u64, k1: u64, m0: u64, m1: u64) -> u64 {
    let mut v = [
        k0 ^ 0x736f_6d65_7073_6575,
        k1 ^ 0x646f_7261_6e64_6f6d,
        k0 ^ 0x6c79_6765_6e65_7261,
        k1 ^ 0x7465_6462_7974_6573,
    ];
    fn round(v: &mut [u64; 4]) {
        v[0] = v[0].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(13) ^ v[0];
        v[0] = v[0].rotate_left(32);
        v[2] = v[2].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(16) ^ v[2];
        v[0] = v[0].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(21) ^ v[0];
        v[2] = v[2].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(17) ^ v[2];
        v[2] = v[2].rotate_left(32);
    }
    // The two message words, then the final word carrying the length (16 << 56).
    for m in [m0, m1, 16u64 << 56] {
        v[3] ^= m;
        round(&mut v);
        round(&mut v);
        v[0] ^= m;
    }
    v[2] ^= 0xff;
    for _ in 0..4 {
        round(&mut v);
    }
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

impl<'a> Revocations<'a> {
    /// Formats `region` as an empty table with a fresh random key. None when the region is
    /// too small or the system's random source fails. Only while no other process uses the
    /// region (zone init).
    pub fn format(region: &'a [AtomicU64]) -> Option<Revocations<'a>> {
        let mut key = [0u8; 16];
        rand::fill(&mut key)
            .ok()
            .and_then(|()| Self::format_with_key(region, key))
    }

    /// [`Revocations::format`] with a given key (tests).
    pub fn format_with_key(region: &'a [AtomicU64], key: [u8; 16]) -> Option<Revocations<'a>> {
        let (capacity, index_len) = geometry(region.len())?;
        for word in region {
            word.store(0, Ordering::Relaxed);
        }
        let t = Revocations {
            w: region,
            capacity,
            index_len,
        };
        let (k0, k1) = key.split_at(8);
        t.st(
            H::Key0 as usize,
            u64::from_le_bytes(k0.try_into().unwrap_or([0; 8])),
        );
        t.st(
            H::Key1 as usize,
            u64::from_le_bytes(k1.try_into().unwrap_or([0; 8])),
        );
        t.st(H::Capacity as usize, capacity as u64);
        t.st(H::IndexLen as usize, index_len as u64);
        // The magic last, released: a region is a table once it reads as one.
        region[H::Magic as usize].store(MAGIC << 32 | VERSION, Ordering::Release);
        Some(t)
    }

    /// The table already formatted in `region`; None when it does not hold one of this
    /// version and size (then [`Revocations::format`] it).
    pub fn attach(region: &'a [AtomicU64]) -> Option<Revocations<'a>> {
        if !Self::is_formatted(region) {
            return None;
        }
        let (capacity, index_len) = geometry(region.len())?;
        Some(Revocations {
            w: region,
            capacity,
            index_len,
        })
    }

    /// Whether `region` holds a table of this version and size.
    pub fn is_formatted(region: &[AtomicU64]) -> bool {
        let Some((capacity, index_len)) = geometry(region.len()) else {
            return false;
        };
        let ld = |i: usize| region.get(i).map_or(0, |w| w.load(Ordering::Acquire));
        ld(H::Magic as usize) == MAGIC << 32 | VERSION
            && ld(H::Capacity as usize) == capacity as u64
            && ld(H::IndexLen as usize) == index_len as u64
            && ld(H::Head as usize) < capacity as u64
            && ld(H::Len as usize) <= capacity as u64
    }

    /// Attaches, or formats when `region` holds no valid table.
    pub fn attach_or_format(region: &'a [AtomicU64]) -> Option<Revocations<'a>> {
        Self::attach(region).or_else(|| Self::format(region))
    }

    /// Most revocations held at once.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Entries in the ring (expired ones included until overwritten).
    pub fn len(&self) -> usize {
        (self.ld(H::Len as usize) as usize).min(self.capacity)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Live revocations dropped because the table was full, since it was formatted.
    pub fn evicted_live(&self) -> u64 {
        self.ld(H::Evicted as usize)
    }

    // ---- words --------------------------------------------------------------------------

    fn ld(&self, i: usize) -> u64 {
        self.w.get(i).map_or(0, |w| w.load(Ordering::Relaxed))
    }

    fn st(&self, i: usize, v: u64) {
        if let Some(w) = self.w.get(i) {
            w.store(v, Ordering::Relaxed);
        }
    }

    fn entry(&self, pos: usize, field: usize) -> usize {
        HEADER_WORDS + pos * ENTRY_WORDS + field
    }

    fn slot_word(&self, slot: usize) -> usize {
        HEADER_WORDS + self.capacity * ENTRY_WORDS + slot
    }

    fn slot(&self, slot: usize) -> u64 {
        self.ld(self.slot_word(slot))
    }

    fn set_slot(&self, slot: usize, v: u64) {
        self.st(self.slot_word(slot), v);
    }

    /// The ring position a slot value names, if it is in range.
    fn slot_pos(&self, v: u64) -> Option<usize> {
        let p = (v & 0xffff_ffff) as usize;
        (p >= 1 && p <= self.capacity).then(|| p - 1)
    }

    /// The 32-bit position hash of an id under this zone's key.
    fn position_hash(&self, id: &RevocationId) -> u32 {
        let (m0, m1) = id.words();
        siphash(self.ld(H::Key0 as usize), self.ld(H::Key1 as usize), m0, m1) as u32
    }

    fn home(&self, hash: u32) -> usize {
        ((hash as u64 * self.index_len as u64) >> 32) as usize
    }

    fn next(&self, s: usize) -> usize {
        if s + 1 == self.index_len {
            0
        } else {
            s + 1
        }
    }

    fn read_entry(&self, pos: usize) -> Option<Revocation> {
        let kind = Kind::from_code(self.ld(self.entry(pos, E_KIND)))?;
        Some(Revocation {
            id: RevocationId::from_words(
                kind,
                self.ld(self.entry(pos, E_ID0)),
                self.ld(self.entry(pos, E_ID1)),
            ),
            issued_through: self.ld(self.entry(pos, E_THROUGH)),
            expires: self.ld(self.entry(pos, E_EXPIRES)),
        })
    }

    /// The index slot and ring position holding `id` (optionally at ring position `at`).
    /// Bounded whatever the memory holds.
    fn find(&self, id: &RevocationId, at: Option<usize>) -> Option<(usize, usize)> {
        let hash = self.position_hash(id);
        let (w0, w1) = id.words();
        let code = id.kind.code();
        let mut s = self.home(hash);
        for _ in 0..self.index_len {
            let v = self.slot(s);
            if v == 0 {
                return None;
            }
            if (v >> 32) as u32 == hash {
                if let Some(pos) = self.slot_pos(v) {
                    if at.map_or(true, |want| want == pos)
                        && self.ld(self.entry(pos, E_ID0)) == w0
                        && self.ld(self.entry(pos, E_ID1)) == w1
                        && self.ld(self.entry(pos, E_KIND)) == code
                    {
                        return Some((s, pos));
                    }
                }
            }
            s = self.next(s);
        }
        None
    }

    /// The live entry for `id` at `now`, read without synchronisation.
    fn lookup(&self, id: &RevocationId, now: u64) -> Option<(u64, u64)> {
        let (_, pos) = self.find(id, None)?;
        let expires = self.ld(self.entry(pos, E_EXPIRES));
        (expires > now).then(|| (self.ld(self.entry(pos, E_THROUGH)), expires))
    }

    fn check_unsynchronised(&self, probe: &Probe, now: u64) -> Check {
        if let Some(id) = &probe.session {
            if self.lookup(id, now).is_some() {
                return Check::Revoked(Kind::Session);
            }
        }
        if let Some(id) = &probe.subject {
            if let Some((through, _)) = self.lookup(id, now) {
                if probe.issued_at <= through {
                    return Check::Revoked(Kind::Subject);
                }
            }
        }
        Check::Clear
    }

    // ---- readers ------------------------------------------------------------------------

    /// Whether the session `probe` describes is revoked at `now`. Takes no lock, allocates
    /// nothing, and costs two index lookups whatever the number of entries; answers
    /// [`Check::Busy`] when writers kept changing the table for [`SPINS`] attempts.
    pub fn check(&self, probe: &Probe, now: u64) -> Check {
        let seq = &self.w[H::Seq as usize];
        for _ in 0..SPINS {
            let s1 = seq.load(Ordering::Acquire);
            if s1 & 1 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let answer = self.check_unsynchronised(probe, now);
            fence(Ordering::Acquire);
            if seq.load(Ordering::Relaxed) == s1 {
                return answer;
            }
        }
        Check::Busy
    }

    /// [`Revocations::check`] for a caller holding the writers' lock: exact, never
    /// [`Check::Busy`] (repairs the table first if a writer died mid-change).
    pub fn check_locked(&self, probe: &Probe, now: u64) -> Check {
        if self.ld(H::Seq as usize) & 1 == 1 {
            self.begin();
            self.end();
        }
        self.check_unsynchronised(probe, now)
    }

    /// Every live revocation at `now`, oldest first (the state file, a Redis sync). The
    /// caller holds the writers' lock.
    pub fn live(&self, now: u64) -> Vec<Revocation> {
        self.newest(usize::MAX, now)
    }

    /// The live ones among the `n` newest entries at `now`, oldest first: what the last `n`
    /// recorded revocations left (each recorded [`Revocations::revoke`] makes one entry the
    /// newest), so a caller counting them (the zone's generation) reads only what changed
    /// since it last looked. The caller holds the writers' lock.
    pub fn newest(&self, n: usize, now: u64) -> Vec<Revocation> {
        let head = self.ld(H::Head as usize) as usize % self.capacity;
        let len = self.len().min(n);
        let start = (head + self.capacity - len) % self.capacity;
        (0..len)
            .filter_map(|i| self.read_entry((start + i) % self.capacity))
            .filter(|r| r.expires > now)
            .collect()
    }

    /// How many revocations are live at `now` (a scan of the ring: status pages, not the
    /// request path).
    pub fn live_count(&self, now: u64) -> usize {
        (0..self.capacity)
            .filter(|&p| {
                self.ld(self.entry(p, E_KIND)) != 0 && self.ld(self.entry(p, E_EXPIRES)) > now
            })
            .count()
    }

    // ---- writers (the caller holds the zone's lock) --------------------------------------

    /// Starts a change: the counter goes odd. A counter found odd means the last writer
    /// died mid-change: the index is rebuilt from the ring.
    fn begin(&self) {
        let seq = &self.w[H::Seq as usize];
        let s = seq.load(Ordering::Relaxed);
        if s & 1 == 0 {
            seq.store(s.wrapping_add(1), Ordering::Relaxed);
            fence(Ordering::Release);
        } else {
            fence(Ordering::Release);
            self.repair();
        }
    }

    /// Ends a change: the counter goes even, released.
    fn end(&self) {
        let seq = &self.w[H::Seq as usize];
        let s = seq.load(Ordering::Relaxed);
        seq.store(s.wrapping_add(1), Ordering::Release);
    }

    /// Rebuilds the index from the ring (after a writer died mid-change).
    fn repair(&self) {
        if self.ld(H::Head as usize) >= self.capacity as u64 {
            self.st(H::Head as usize, 0);
        }
        if self.ld(H::Len as usize) > self.capacity as u64 {
            self.st(H::Len as usize, self.capacity as u64);
        }
        for s in 0..self.index_len {
            self.set_slot(s, 0);
        }
        let head = self.ld(H::Head as usize) as usize;
        let len = self.len();
        let start = (head + self.capacity - len) % self.capacity;
        for i in 0..len {
            let pos = (start + i) % self.capacity;
            let Some(r) = self.read_entry(pos) else {
                continue;
            };
            // A later entry for the same id wins (an interrupted re-revocation).
            if let Some((s, old)) = self.find(&r.id, None) {
                self.remove_slot(s);
                self.st(self.entry(old, E_KIND), 0);
            }
            self.index_insert(&r.id, pos);
        }
    }

    /// Backward-shift deletion of index slot `hole` (linear probing, no tombstones).
    fn remove_slot(&self, mut hole: usize) {
        let len = self.index_len;
        let mut next = self.next(hole);
        for _ in 0..len {
            let v = self.slot(next);
            if v == 0 {
                break;
            }
            let home = self.home((v >> 32) as u32);
            // Move `next` into the hole unless its home lies cyclically in (hole, next].
            let dist_next = (next + len - home) % len;
            let dist_hole = (next + len - hole) % len;
            if dist_next >= dist_hole {
                self.set_slot(hole, v);
                hole = next;
            }
            next = self.next(next);
        }
        self.set_slot(hole, 0);
    }

    fn index_insert(&self, id: &RevocationId, pos: usize) {
        let hash = self.position_hash(id);
        let mut s = self.home(hash);
        // Twice as many slots as entries: there is always a free one (unless the memory was
        // scribbled on: then the entry is simply not indexed).
        for _ in 0..self.index_len {
            if self.slot(s) == 0 {
                self.set_slot(s, (hash as u64) << 32 | (pos as u64 + 1));
                return;
            }
            s = self.next(s);
        }
    }

    fn clear_entry(&self, pos: usize) {
        for f in 0..ENTRY_WORDS {
            self.st(self.entry(pos, f), 0);
        }
    }

    /// Records `r` at `now`. A live revocation of the same id is merged into it (the later
    /// expiry, the later `issued_through`) and becomes the newest entry. When the table is
    /// full the oldest entry makes room; if it was live it is returned. A revocation already
    /// expired at `now` is not recorded.
    ///
    /// Writers must be serialised by the caller (the zone's lock).
    pub fn revoke(&self, r: Revocation, now: u64) -> Revoked {
        if r.expires <= now {
            return Revoked::default();
        }
        self.begin();
        let mut r = r;
        if let Some((s, pos)) = self.find(&r.id, None) {
            if let Some(old) = self.read_entry(pos).filter(|o| o.expires > now) {
                r.expires = r.expires.max(old.expires);
                r.issued_through = r.issued_through.max(old.issued_through);
            }
            self.remove_slot(s);
            self.clear_entry(pos);
        }
        let head = (self.ld(H::Head as usize) as usize).min(self.capacity - 1);
        let mut len = self.len();
        let mut evicted = None;
        if len == self.capacity {
            if let Some(old) = self.read_entry(head) {
                if let Some((s, _)) = self.find(&old.id, Some(head)) {
                    self.remove_slot(s);
                }
                if old.expires > now {
                    evicted = Some(old);
                    self.st(H::Evicted as usize, self.evicted_live().saturating_add(1));
                }
            }
            len -= 1;
        }
        let (w0, w1) = r.id.words();
        self.st(self.entry(head, E_ID0), w0);
        self.st(self.entry(head, E_ID1), w1);
        self.st(self.entry(head, E_THROUGH), r.issued_through);
        self.st(self.entry(head, E_EXPIRES), r.expires);
        self.st(self.entry(head, E_KIND), r.id.kind.code());
        self.index_insert(&r.id, head);
        self.st(H::Head as usize, ((head + 1) % self.capacity) as u64);
        self.st(H::Len as usize, (len + 1) as u64);
        self.end();
        Revoked {
            evicted,
            recorded: true,
        }
    }

    /// Records `entries` in order (a state file, a Redis snapshot): what [`Revocations::live`]
    /// returned comes back in the same order. Returns the live entries evicted meanwhile
    /// (the table is smaller than what is restored).
    pub fn restore(&self, entries: &[Revocation], now: u64) -> Vec<Revocation> {
        entries
            .iter()
            .filter_map(|r| self.revoke(*r, now).evicted)
            .collect()
    }
}

mod state;
#[cfg(test)]
mod tests;

pub use state::{
    decode_one, decode_state, encode_one, encode_state, StateError, ONE_LEN, ONE_VERSION,
    STATE_MAGIC, STATE_VERSION,
};

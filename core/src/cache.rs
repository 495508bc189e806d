//! Bounded caches of what is costly to check on every request: verified tokens
//! ([`TokenCache`]) and opened session cookies ([`SessionCache`]).
//!
//! - Keyed by the value (token or sealed cookie) AND a context id, so a value accepted in one
//!   location is never served from the cache in another. Each cache has one context rule, and
//!   callers go through it: [`TokenCache::verify`] uses [`token_context`] (the verifier's
//!   issuer, audiences and leeway, and the key set's fingerprint: a location with other checks
//!   or other keys, and a JWKS refresh that changes the keys, never hit what another verified);
//!   [`SessionCache::open`] uses [`session_context`] (the session keys' fingerprint and what
//!   the session is bound to: client id and issuer).
//! - An entry never outlives the token's `exp` (nor [`CacheConfig::max_ttl_secs`]); the
//!   cache is stricter than the verifier here, which grants `exp` a leeway.
//! - Bounded: at most [`CacheConfig::max_entries`] entries and about
//!   [`CacheConfig::max_bytes`] bytes, counted per entry as what it really holds on the heap
//!   (the token, the value's claims and identity as [`Weigh`] estimates them, the allocator's
//!   and the map's overhead); tokens longer than [`CacheConfig::max_token_len`] are never
//!   cached. Only verified
//!   tokens are ever inserted, so a flood of invalid tokens cannot grow or churn it.
//! - Eviction is FIFO (oldest insertion first), after dropping expired entries (a full sweep
//!   at most once per second, when the cache is full). FIFO needs no bookkeeping on a hit, so
//!   a hit stays a keyed hash, one map probe, a constant-time token comparison and an `Arc`
//!   clone: no allocation.
//! - One per nginx worker; a `parking_lot::Mutex` makes it `Send + Sync` regardless.

use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::identity::CompactJws;
use crate::jwks::{process_hasher, KeySet};
use crate::jwt::{TokenError, Verified, Verifier};
use crate::session::{Session, SessionError, SessionKeys};

/// Limits of a [`TokenCache`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheConfig {
    /// Most entries held (0 disables the cache). Default 10 000.
    pub max_entries: usize,
    /// Most bytes held, by estimate ([`Weigh`]). Default 8 MiB: with the claims of a typical
    /// authentik user (counted about 4 KB an entry, a conservative estimate of some 2.8 KB
    /// really held) that is some 2,000 tokens per worker. The worker's resident memory grows
    /// by more than the budget once the cache is full (malloc keeps holes; `make bench`
    /// measured +31 MiB after a million distinct tokens with this default, +38 MiB with
    /// 16 MiB: see bench/RESULTS.md).
    pub max_bytes: usize,
    /// Longer tokens are verified every time, never cached. Default 8 KiB.
    pub max_token_len: usize,
    /// Longest time an entry is kept, whatever its `exp`. Default 3600 s.
    pub max_ttl_secs: u64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            max_entries: 10_000,
            max_bytes: 8 * 1024 * 1024,
            max_token_len: 8 * 1024,
            max_ttl_secs: 3600,
        }
    }
}

/// Counters, for a debug log line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub entries: usize,
    pub bytes: usize,
    pub hits: u64,
    pub misses: u64,
    pub evictions: u64,
}

struct Entry<V> {
    context: u64,
    token: Box<str>,
    value: Arc<V>,
    expires_at: u64,
    seq: u64,
    cost: usize,
}

struct Inner<V> {
    map: HashMap<u64, Entry<V>>,
    /// Insertion order: (slot, seq). Stale pairs (slot reused or removed) are skipped.
    order: VecDeque<(u64, u64)>,
    bytes: usize,
    next_seq: u64,
    last_sweep: u64,
    hits: u64,
    misses: u64,
    evictions: u64,
}

impl<V> Default for Inner<V> {
    fn default() -> Self {
        Inner {
            map: HashMap::new(),
            order: VecDeque::new(),
            bytes: 0,
            next_seq: 0,
            last_sweep: 0,
            hits: 0,
            misses: 0,
            evictions: 0,
        }
    }
}

impl<V> Inner<V> {
    fn remove(&mut self, slot: u64) {
        if let Some(old) = self.map.remove(&slot) {
            self.bytes = self.bytes.saturating_sub(old.cost);
        }
    }

    fn sweep_expired(&mut self, now: u64) {
        let before = self.map.len();
        let mut freed = 0usize;
        self.map.retain(|_, e| {
            let keep = e.expires_at > now;
            if !keep {
                freed += e.cost;
            }
            keep
        });
        self.bytes = self.bytes.saturating_sub(freed);
        self.evictions += (before - self.map.len()) as u64;
        self.last_sweep = now;
    }

    /// Drops the oldest live entry; false when there is none.
    fn evict_oldest(&mut self) -> bool {
        while let Some((slot, seq)) = self.order.pop_front() {
            if self.map.get(&slot).is_some_and(|e| e.seq == seq) {
                self.remove(slot);
                self.evictions += 1;
                return true;
            }
        }
        false
    }

    fn compact_order(&mut self) {
        let map = &self.map;
        self.order
            .retain(|(slot, seq)| map.get(slot).is_some_and(|e| e.seq == *seq));
    }
}

/// The cache. See the module documentation. Generic over what is cached for a string key
/// (a verified token, an opened session cookie); [`TokenCache`] is the token one.
pub struct Cache<V> {
    config: CacheConfig,
    inner: Mutex<Inner<V>>,
}

/// Verified tokens, keyed by the token and [`token_context`].
pub type TokenCache = Cache<Verified>;
/// Opened session cookies, keyed by the sealed value and [`session_context`].
pub type SessionCache = Cache<Session>;

/// The token cache's context: the verifier's checks (issuer, audiences, leeway) and the key
/// set's fingerprint ([`KeySet::fingerprint`]). Two locations share cached tokens only when
/// they would verify them exactly alike; a JWKS refresh that changes the keys starts a new
/// context, so what only the old keys verified is verified again (and refused).
pub fn token_context(verifier: &Verifier, keys: &KeySet) -> u64 {
    process_hasher().hash_one((
        "sso-token-context-v1",
        verifier.checks_id(),
        keys.fingerprint(),
    ))
}

/// The session cache's context: the session keys' fingerprint
/// ([`SessionKeys::fingerprint`]) and the `binding` sessions are sealed to
/// ([`crate::session::binding`]: client id and issuer). A session opened in one location is a
/// hit in another only when that location would open it too.
pub fn session_context(keys: &SessionKeys, binding: &str) -> u64 {
    process_hasher().hash_one(("sso-session-context-v1", keys.fingerprint(), binding))
}

impl<V: Weigh> Default for Cache<V> {
    fn default() -> Self {
        Cache::new(CacheConfig::default())
    }
}

impl<V: Weigh> std::fmt::Debug for Cache<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("config", &self.config)
            .field("stats", &self.stats())
            .finish()
    }
}

/// The map slot of a token: a keyed hash of the context, the length and the token's first 32
/// and last 48 bytes, not of all of it (a 1-4 KB value hashed on every request showed in
/// profiles). The end of a valid token is its signature or AEAD tag, distinct per token; the
/// start separates key ids and algorithms. Two entries that share a slot only cost a miss
/// (the full token is compared, in constant time, before any hit).
fn slot_of(context: u64, token: &str) -> u64 {
    let b = token.as_bytes();
    let head = &b[..b.len().min(32)];
    let tail = &b[b.len().saturating_sub(48)..];
    process_hasher().hash_one((context, b.len(), head, tail))
}

/// What a cached value holds on the heap, estimated, for the byte budget.
pub trait Weigh {
    fn heap_bytes(&self) -> usize;
}

/// What glibc's malloc adds to one allocation (its header and rounding), on average.
const PER_ALLOCATION: usize = 24;
/// An entry's fixed part: its map slot (with hashbrown's spare capacity), its pair in the
/// insertion queue, the `Arc` header.
const ENTRY_OVERHEAD: usize = 192;

fn entry_cost<V: Weigh>(token: &str, value: &V) -> usize {
    token
        .len()
        .saturating_add(PER_ALLOCATION + ENTRY_OVERHEAD + std::mem::size_of::<V>())
        .saturating_add(value.heap_bytes())
}

fn string_bytes(s: &str) -> usize {
    if s.is_empty() {
        0
    } else {
        s.len() + PER_ALLOCATION
    }
}

/// A JSON value's heap, as serde_json holds it (`Map` is a `BTreeMap`).
pub fn json_bytes(value: &serde_json::Value) -> usize {
    use serde_json::Value;
    let value_size = std::mem::size_of::<Value>();
    match value {
        Value::String(s) => string_bytes(s),
        Value::Array(items) => {
            PER_ALLOCATION + items.len() * value_size + items.iter().map(json_bytes).sum::<usize>()
        }
        Value::Object(map) => map_bytes(map),
        Value::Null | Value::Bool(_) | Value::Number(_) => 0,
    }
}

/// A JSON object's heap: per member its key, its value and its share of a B-tree node.
pub fn map_bytes(map: &serde_json::Map<String, serde_json::Value>) -> usize {
    const NODE_SHARE: usize = 24;
    let member = std::mem::size_of::<String>() + std::mem::size_of::<serde_json::Value>();
    map.iter()
        .map(|(k, v)| member + NODE_SHARE + string_bytes(k) + json_bytes(v))
        .sum::<usize>()
        + if map.is_empty() { 0 } else { PER_ALLOCATION }
}

/// An identity's heap, with the header block it renders once cached
/// ([`crate::identity::Identity::header_block`]).
pub fn identity_bytes(identity: &crate::identity::Identity) -> usize {
    let list = |items: &[String]| -> usize {
        let text: usize = items.iter().map(|s| string_bytes(s)).sum();
        if items.is_empty() {
            0
        } else {
            PER_ALLOCATION + std::mem::size_of_val(items) + text
        }
    };
    let additional: usize = identity
        .additional_headers
        .iter()
        .map(|(n, v)| 2 * std::mem::size_of::<String>() + string_bytes(n) + string_bytes(v))
        .sum();
    let text = string_bytes(&identity.username)
        + string_bytes(&identity.email)
        + string_bytes(&identity.name)
        + string_bytes(&identity.uid)
        + string_bytes(&identity.backend_override)
        + list(&identity.groups)
        + list(&identity.entitlements)
        + additional;
    // The block: every value again (groups joined), every name twice, an item per header.
    let headers = 6 + identity.additional_headers.len();
    let block = text + headers * (2 * 24 + 40) + 2 * PER_ALLOCATION;
    text + block
}

impl Weigh for Verified {
    fn heap_bytes(&self) -> usize {
        string_bytes(&self.payload)
            + identity_bytes(&self.identity)
            + self.kid.as_deref().map_or(0, string_bytes)
    }
}

impl<V: Weigh> Cache<V> {
    pub fn new(config: CacheConfig) -> Cache<V> {
        Cache {
            config,
            inner: Mutex::new(Inner::default()),
        }
    }

    pub fn config(&self) -> CacheConfig {
        self.config
    }

    /// The verified token, if cached for this context and not expired at `now`.
    pub fn get(&self, context: u64, token: &str, now: u64) -> Option<Arc<V>> {
        if token.len() > self.config.max_token_len || self.config.max_entries == 0 {
            return None;
        }
        let slot = slot_of(context, token);
        let mut inner = self.inner.lock();
        let found = match inner.map.get(&slot) {
            Some(e)
                if e.context == context
                    && aws_lc_rs::constant_time::verify_slices_are_equal(
                        e.token.as_bytes(),
                        token.as_bytes(),
                    )
                    .is_ok() =>
            {
                if now < e.expires_at {
                    Some(Arc::clone(&e.value))
                } else {
                    None
                }
            }
            _ => None,
        };
        match found {
            Some(value) => {
                inner.hits += 1;
                Some(value)
            }
            None => {
                inner.misses += 1;
                // An expired entry under this slot is of no use any more.
                if inner.map.get(&slot).is_some_and(|e| now >= e.expires_at) {
                    inner.remove(slot);
                    inner.evictions += 1;
                }
                None
            }
        }
    }

    /// Caches `value` for `token` in `context` until `exp` (at most `max_ttl_secs`); false
    /// when it is not cached (too long, already expired at `now`, over the byte budget alone,
    /// cache disabled).
    pub(crate) fn insert_until(
        &self,
        context: u64,
        token: &str,
        value: Arc<V>,
        exp: u64,
        now: u64,
    ) -> bool {
        let config = &self.config;
        if token.len() > config.max_token_len || config.max_entries == 0 {
            return false;
        }
        let expires_at = exp.min(now.saturating_add(config.max_ttl_secs));
        if expires_at <= now {
            return false;
        }
        let cost = entry_cost(token, &*value);
        if cost > config.max_bytes {
            return false;
        }
        let slot = slot_of(context, token);
        let mut inner = self.inner.lock();
        inner.remove(slot);
        let full = |i: &Inner<V>| {
            i.map.len() >= config.max_entries || i.bytes.saturating_add(cost) > config.max_bytes
        };
        if full(&inner) && inner.last_sweep != now {
            inner.sweep_expired(now);
        }
        while full(&inner) {
            if !inner.evict_oldest() {
                break;
            }
        }
        let seq = inner.next_seq;
        inner.next_seq = seq.wrapping_add(1);
        inner.map.insert(
            slot,
            Entry {
                context,
                token: token.into(),
                value,
                expires_at,
                seq,
                cost,
            },
        );
        inner.bytes = inner.bytes.saturating_add(cost);
        inner.order.push_back((slot, seq));
        if inner.order.len() > inner.map.len().saturating_mul(2).max(64) {
            inner.compact_order();
        }
        true
    }

    /// Drops every entry expired at `now` (the glue may call it from a timer; inserting into a
    /// full cache does it too, at most once per second).
    pub fn purge_expired(&self, now: u64) {
        let mut inner = self.inner.lock();
        inner.sweep_expired(now);
        inner.compact_order();
    }

    /// Drops everything (e.g. on reconfiguration).
    pub fn clear(&self) {
        let mut inner = self.inner.lock();
        inner.map.clear();
        inner.order.clear();
        inner.bytes = 0;
    }

    pub fn len(&self) -> usize {
        self.inner.lock().map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn stats(&self) -> CacheStats {
        let inner = self.inner.lock();
        CacheStats {
            entries: inner.map.len(),
            bytes: inner.bytes,
            hits: inner.hits,
            misses: inner.misses,
            evictions: inner.evictions,
        }
    }
}

impl Cache<Verified> {
    /// Caches a token verified in `context` until its `exp`; see [`Cache::insert_until`].
    /// Crate-private: an entry exists only for a token [`TokenCache::verify`] verified, which
    /// is what lets a hit vouch for the token's shape ([`CompactJws`]).
    pub(crate) fn insert(&self, context: u64, token: &str, value: Arc<Verified>, now: u64) -> bool {
        let exp = value.exp;
        self.insert_until(context, token, value, exp, now)
    }

    /// Verifies through the cache: a hit returns the cached result, a miss verifies with
    /// `verifier` and `keys` and caches success, both under [`token_context`]. With the
    /// result comes `token` as a [`CompactJws`] (for `X-authentik-jwt`): the signature check
    /// accepts only that shape, and a hit is byte-equal to a token that passed it.
    pub fn verify<'t>(
        &self,
        verifier: &Verifier,
        keys: &KeySet,
        token: &'t str,
        now: u64,
    ) -> Result<(Arc<Verified>, CompactJws<'t>), TokenError> {
        let context = token_context(verifier, keys);
        if let Some(hit) = self.get(context, token, now) {
            return Ok((hit, CompactJws::proven(token)));
        }
        let verified = Arc::new(verifier.verify(keys, token, now)?);
        self.insert(context, token, Arc::clone(&verified), now);
        Ok((verified, CompactJws::proven(token)))
    }
}

/// How one location opens session cookies: its session keys and the binding sessions are
/// sealed to, with the cache context of the two ([`session_context`]) computed once, when the
/// configuration is read, instead of on every request.
#[derive(Clone)]
pub struct SessionScope {
    keys: Arc<SessionKeys>,
    binding: String,
    context: u64,
}

impl SessionScope {
    pub fn new(keys: Arc<SessionKeys>, binding: String) -> SessionScope {
        let context = session_context(&keys, &binding);
        SessionScope {
            keys,
            binding,
            context,
        }
    }

    pub fn keys(&self) -> &SessionKeys {
        &self.keys
    }

    /// The keys, shared (for a job that seals a session off the event loop).
    pub fn shared_keys(&self) -> Arc<SessionKeys> {
        Arc::clone(&self.keys)
    }

    pub fn binding(&self) -> &str {
        &self.binding
    }
}

impl std::fmt::Debug for SessionScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionScope")
            .field("binding", &self.binding)
            .finish_non_exhaustive()
    }
}

impl Cache<Session> {
    /// Opens a session cookie through the cache: its chunk values in cookie order (see
    /// [`SessionKeys::open`]), opened with the scope's keys for its binding at `now`. A hit
    /// costs a lookup instead of base64, AEAD and JSON; a miss opens and caches the session
    /// until its `exp`, both under the scope's [`session_context`]. Failures are not cached.
    pub fn open(
        &self,
        scope: &SessionScope,
        chunks: &[&[u8]],
        now: u64,
    ) -> Result<Arc<Session>, SessionError> {
        // The key is the whole sealed value; one chunk (the common case) is not copied.
        let joined;
        let sealed: &[u8] = match chunks {
            [one] => one,
            _ => {
                joined = chunks.concat();
                &joined
            }
        };
        let sealed = std::str::from_utf8(sealed).map_err(|_| SessionError::Malformed)?;
        let context = scope.context;
        if let Some(hit) = self.get(context, sealed, now) {
            return Ok(hit);
        }
        let session = Arc::new(scope.keys.open(chunks, &scope.binding, now)?);
        self.insert_until(context, sealed, Arc::clone(&session), session.exp, now);
        Ok(session)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Identity;
    use crate::jwks::Alg;
    use crate::jwt::tests::{good_claims, mint, test_keys, verifier, NOW};
    use serde_json::json;

    fn verified(exp: u64) -> Arc<Verified> {
        Arc::new(Verified {
            payload: "{}".into(),
            identity: Identity::default(),
            exp,
            alg: Alg::HS256,
            kid: None,
            parsed: Default::default(),
        })
    }

    #[test]
    fn is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<TokenCache>();
    }

    #[test]
    fn hit_and_context_separation() {
        let cache = TokenCache::default();
        assert!(cache.insert(1, "tok-a", verified(NOW + 100), NOW));
        let hit = cache.get(1, "tok-a", NOW + 1).expect("hit");
        assert_eq!(hit.exp, NOW + 100);
        assert!(cache.get(2, "tok-a", NOW + 1).is_none(), "another context");
        assert!(cache.get(1, "tok-b", NOW + 1).is_none(), "another token");
        assert!(cache.get(1, "tok-a ", NOW + 1).is_none());
        let s = cache.stats();
        assert_eq!((s.hits, s.misses, s.entries), (1, 3, 1));
    }

    #[test]
    fn never_outlives_exp_or_ttl() {
        let cache = TokenCache::new(CacheConfig {
            max_ttl_secs: 50,
            ..CacheConfig::default()
        });
        assert!(cache.insert(1, "t", verified(NOW + 10), NOW));
        assert!(cache.get(1, "t", NOW + 9).is_some());
        assert!(cache.get(1, "t", NOW + 10).is_none(), "at exp");
        assert_eq!(cache.len(), 0, "the expired entry is dropped on lookup");
        assert!(cache.insert(1, "u", verified(NOW + 1000), NOW));
        assert!(cache.get(1, "u", NOW + 49).is_some());
        assert!(cache.get(1, "u", NOW + 50).is_none(), "ttl");
        assert!(!cache.insert(1, "v", verified(NOW), NOW), "already expired");
        assert!(!cache.insert(1, "w", verified(NOW - 5), NOW));
    }

    #[test]
    fn bounded_entries_fifo() {
        let cache = TokenCache::new(CacheConfig {
            max_entries: 100,
            ..CacheConfig::default()
        });
        for i in 0..10_000u64 {
            assert!(cache.insert(7, &format!("token-{i}"), verified(NOW + 100), NOW));
            assert!(cache.len() <= 100);
        }
        assert_eq!(cache.len(), 100);
        assert!(cache.get(7, "token-0", NOW).is_none(), "oldest evicted");
        assert!(cache.get(7, "token-9999", NOW).is_some());
        assert!(cache.get(7, "token-9900", NOW).is_some());
        let inner = cache.inner.lock();
        assert!(inner.order.len() <= 200, "order queue stays bounded");
    }

    #[test]
    fn expired_entries_go_first() {
        let cache = TokenCache::new(CacheConfig {
            max_entries: 3,
            ..CacheConfig::default()
        });
        assert!(cache.insert(1, "old-long", verified(NOW + 1000), NOW));
        assert!(cache.insert(1, "short-1", verified(NOW + 5), NOW));
        assert!(cache.insert(1, "short-2", verified(NOW + 5), NOW));
        assert!(cache.insert(1, "new", verified(NOW + 1000), NOW + 10));
        assert!(
            cache.get(1, "old-long", NOW + 10).is_some(),
            "kept: not expired"
        );
        assert!(cache.get(1, "new", NOW + 10).is_some());
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn bounded_bytes_and_token_size() {
        let cache = TokenCache::new(CacheConfig {
            max_bytes: 10 * 1024,
            max_token_len: 2048,
            ..CacheConfig::default()
        });
        assert!(!cache.insert(1, &"x".repeat(2049), verified(NOW + 100), NOW));
        assert!(cache.get(1, &"x".repeat(2049), NOW).is_none());
        for i in 0..100 {
            let token = format!("{i:04}{}", "y".repeat(1000));
            assert!(cache.insert(1, &token, verified(NOW + 100), NOW));
            assert!(cache.stats().bytes <= 10 * 1024);
        }
        // Each entry counts at least its token: ten 1 KB tokens cannot fit in 10 KiB.
        assert!((2..10).contains(&cache.len()), "{} entries", cache.len());
        let disabled = TokenCache::new(CacheConfig {
            max_entries: 0,
            ..CacheConfig::default()
        });
        assert!(!disabled.insert(1, "t", verified(NOW + 100), NOW));
    }

    #[test]
    fn reinsert_replaces() {
        let cache = TokenCache::default();
        for _ in 0..1000 {
            assert!(cache.insert(1, "same", verified(NOW + 100), NOW));
        }
        assert_eq!(cache.len(), 1);
        assert_eq!(
            cache.stats().bytes,
            entry_cost("same", &*verified(NOW + 100))
        );
        assert!(cache.inner.lock().order.len() <= 64);
        cache.clear();
        assert!(cache.is_empty());
    }

    #[test]
    fn verify_through_the_cache() {
        let cache = TokenCache::default();
        let keys = test_keys();
        let v = verifier();
        let token = mint(json!({"alg":"HS256"}), good_claims());
        let (first, jws) = cache.verify(&v, &keys, &token, NOW).expect("valid");
        let (second, jws2) = cache.verify(&v, &keys, &token, NOW + 1).expect("cached");
        assert!(Arc::ptr_eq(&first, &second));
        assert_eq!(
            (jws.as_str(), jws2.as_str()),
            (token.as_str(), token.as_str())
        );
        assert_eq!(cache.stats().hits, 1);
        // Invalid tokens are not cached.
        let bad = format!("{token}x");
        assert!(cache.verify(&v, &keys, &bad, NOW).is_err());
        assert_eq!(cache.len(), 1);
        // Past exp the cache no longer answers, and the verifier refuses too.
        assert_eq!(
            cache
                .verify(&v, &keys, &token, NOW + 400)
                .map(|_| ())
                .map_err(|e| e.reason()),
            Err("expired")
        );
        // Another location (other audience) must verify for itself, and refuses.
        let other = Verifier::new(v.issuer().map(str::to_owned), vec!["other".into()], 30);
        assert!(cache.verify(&other, &keys, &token, NOW + 1).is_err());
    }

    #[test]
    fn purge() {
        let cache = TokenCache::default();
        for i in 0..50u64 {
            cache.insert(1, &format!("t{i}"), verified(NOW + i), NOW);
        }
        cache.purge_expired(NOW + 25);
        assert_eq!(cache.len(), 24);
        assert_eq!(
            cache.stats().bytes,
            24 * entry_cost("t10", &*verified(NOW + 100))
        );
    }
    /// What `reason` a second location gets for a token the first one verified and cached.
    fn refused(cache: &TokenCache, v: &Verifier, keys: &KeySet, token: &str) -> &'static str {
        match cache.verify(v, keys, token, NOW + 1) {
            Ok(_) => "accepted",
            Err(e) => e.reason(),
        }
    }

    #[test]
    fn a_cached_token_is_never_a_hit_for_other_checks_or_keys() {
        let cache = TokenCache::default();
        let keys = test_keys();
        let v = verifier();
        let token = mint(json!({"alg":"HS256"}), good_claims());
        cache.verify(&v, &keys, &token, NOW).expect("valid here");
        let hits = cache.stats().hits;
        let iss = v.issuer().map(str::to_owned);
        let aud = v.audiences().to_vec();

        // Another issuer, another audience: verified again, and refused.
        let other_issuer = Verifier::new(Some("https://other.example/".into()), aud.clone(), 30);
        assert_eq!(
            refused(&cache, &other_issuer, &keys, &token),
            "wrong_issuer"
        );
        let other_audience = Verifier::new(iss.clone(), vec!["other".into()], 30);
        assert_eq!(
            refused(&cache, &other_audience, &keys, &token),
            "wrong_audience"
        );
        // Another key set (the HMAC secret missing): refused, not served from the cache.
        let other_keys = KeySet::from_jwks(
            br#"{"keys":[{"kty":"oct","kid":"x","k":"hJtXIZ2uSN5kbQfbtTNWbpdmhkV8FJG-Onbc6mxCcYg"}]}"#,
        )
        .expect("usable");
        assert_ne!(refused(&cache, &v, &other_keys, &token), "accepted");
        assert_eq!(cache.stats().hits, hits, "none of them was a cache hit");

        // Another location with the same checks and keys shares the entry.
        let same = Verifier::new(iss, aud, 30);
        assert_eq!(refused(&cache, &same, &keys, &token), "accepted");
        assert_eq!(cache.stats().hits, hits + 1);
        assert_eq!(token_context(&same, &keys), token_context(&v, &keys));
    }

    #[test]
    fn a_jwks_refresh_that_drops_a_key_drops_what_it_verified() {
        use aws_lc_rs::hmac;
        use base64::Engine;
        let b64 = |b: &[u8]| crate::jwks::B64URL_STRICT.encode(b);
        let jwks = |kids: &[(&str, &[u8])]| {
            let keys: Vec<_> = kids
                .iter()
                .map(|(kid, k)| json!({"kty":"oct","kid":kid,"k":b64(k)}))
                .collect();
            KeySet::from_jwks(json!({ "keys": keys }).to_string().as_bytes()).expect("usable")
        };
        let (old, new) = (&[1u8; 32][..], &[2u8; 32][..]);
        let sign = |kid: &str, k: &[u8]| {
            let input = format!(
                "{}.{}",
                b64(json!({"alg":"HS256","kid":kid}).to_string().as_bytes()),
                b64(good_claims().to_string().as_bytes())
            );
            let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, k), input.as_bytes());
            format!("{input}.{}", b64(tag.as_ref()))
        };
        let cache = TokenCache::default();
        let v = verifier();
        let before = jwks(&[("old", old), ("new", new)]);
        let token = sign("old", old);
        cache
            .verify(&v, &before, &token, NOW)
            .expect("valid before");

        // The same document fetched again: same keys, same context, still a hit.
        let again = jwks(&[("old", old), ("new", new)]);
        assert_eq!(token_context(&v, &again), token_context(&v, &before));
        assert!(cache.verify(&v, &again, &token, NOW + 1).is_ok());
        assert_eq!(cache.stats().hits, 1);

        // The provider rotated "old" out: the cached acceptance is not served.
        let after = jwks(&[("new", new)]);
        assert_ne!(token_context(&v, &after), token_context(&v, &before));
        assert_eq!(refused(&cache, &v, &after, &token), "unknown_key");
        assert_eq!(cache.stats().hits, 1);
        // A key replaced under the same kid is other material: a new context too.
        let replaced = jwks(&[("old", new), ("new", new)]);
        assert_ne!(token_context(&v, &replaced), token_context(&v, &before));
        assert_eq!(refused(&cache, &v, &replaced, &token), "bad_signature");
    }

    #[test]
    fn a_cached_session_is_never_a_hit_for_other_keys_or_bindings() {
        use crate::session::{binding, Session, SessionKeys};
        let keys = Arc::new(SessionKeys::from_raw_keys(&[&[7u8; 32][..]]).expect("keys"));
        let scope = |k: &Arc<SessionKeys>, b: &str| SessionScope::new(Arc::clone(k), b.to_owned());
        let here = binding("client", "https://idp.example/");
        let mut session = Session::new(Identity::default(), NOW, 3600, None);
        session.identity.username = "alice".into();
        let sealed = keys.seal(&session, &here).expect("sealed");
        let chunks: Vec<&[u8]> = sealed.iter().map(|c| c.as_bytes()).collect();
        let cache = SessionCache::default();
        let first = cache
            .open(&scope(&keys, &here), &chunks, NOW)
            .expect("opens here");
        assert_eq!(first.identity.username, "alice");
        let second = cache
            .open(&scope(&keys, &here), &chunks, NOW + 1)
            .expect("cached");
        assert!(Arc::ptr_eq(&first, &second));
        assert_eq!(cache.stats().hits, 1);

        // Another client id, another issuer, other session keys: opened again, and refused.
        for other in [
            binding("other-client", "https://idp.example/"),
            binding("client", "https://other-idp.example/"),
        ] {
            assert_eq!(
                cache
                    .open(&scope(&keys, &other), &chunks, NOW + 1)
                    .map(|_| ()),
                Err(SessionError::Malformed)
            );
        }
        let other_keys = Arc::new(SessionKeys::from_raw_keys(&[&[8u8; 32][..]]).expect("keys"));
        assert_ne!(other_keys.fingerprint(), keys.fingerprint());
        assert_eq!(
            cache
                .open(&scope(&other_keys, &here), &chunks, NOW + 1)
                .map(|_| ()),
            Err(SessionError::Malformed)
        );
        // Keys that still open it (a rotation that kept the old key second) do, uncached.
        let rotated =
            Arc::new(SessionKeys::from_raw_keys(&[&[8u8; 32][..], &[7u8; 32][..]]).expect("keys"));
        assert!(cache
            .open(&scope(&rotated, &here), &chunks, NOW + 1)
            .is_ok());
        assert_eq!(cache.stats().hits, 1, "no foreign context was a hit");
        // Past its exp the cache no longer answers.
        assert_eq!(
            cache
                .open(&scope(&keys, &here), &chunks, NOW + 3600)
                .map(|_| ()),
            Err(SessionError::Expired)
        );
    }
}

//! Unit tests of the revocation table and its state file.

use super::state::*;
use super::*;
use std::collections::{HashMap, VecDeque};

const ISS: &str = "https://auth.example.com/application/o/app/";

fn table(region: &[AtomicU64]) -> Revocations<'_> {
    Revocations::format_with_key(region, [9; 16]).expect("fits")
}

fn sid(issuer: &str, s: &str, issued_at: u64) -> Probe {
    Probe::new(issuer, Some(s.as_bytes()), Some(b"someone"), issued_at)
}

/// The local SipHash is SipHash-2-4 (std's deprecated `SipHasher` is the reference).
#[test]
#[allow(deprecated)]
fn siphash_is_siphash_2_4() {
    use std::hash::{Hasher, SipHasher};
    let mut x: u64 = 0x1234_5678_9abc_def1;
    for _ in 0..1000 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let (k0, k1, m0, m1) = (x, x.rotate_left(17), x ^ 0x55, x.rotate_left(41));
        let mut h = SipHasher::new_with_keys(k0, k1);
        h.write(&m0.to_le_bytes());
        h.write(&m1.to_le_bytes());
        assert_eq!(siphash(k0, k1, m0, m1), h.finish());
    }
}

#[test]
fn sizing_is_linear_and_exact() {
    for n in [5, 10, 1000, 100_000] {
        let bytes = bytes_for(n);
        assert_eq!(capacity_for(bytes), n, "{n}");
        assert_eq!(capacity_for(bytes - 8), n - 1, "{n}");
    }
    assert_eq!(capacity_for(bytes_for(4) - 8), 0);
    assert_eq!(capacity_for(0), 0);
    // 56 bytes per revocation.
    assert_eq!(bytes_for(100_000), 128 + 56 * 100_000);
    assert!(Revocations::format(&heap_region(bytes_for(3) - 8)).is_none());
}

#[test]
fn a_revoked_session_is_refused_until_its_expiry() {
    let region = heap_region(bytes_for(100));
    let t = table(&region);
    let p = sid(ISS, "sid-1", 50);
    assert_eq!(t.check(&p, 100), Check::Clear);
    let done = t.revoke(Revocation::session(ISS, b"sid-1", 1000), 100);
    assert!(done.recorded && done.evicted.is_none());
    assert_eq!(t.check(&p, 100), Check::Revoked(Kind::Session));
    assert_eq!(t.check(&p, 999), Check::Revoked(Kind::Session));
    assert_eq!(t.check_locked(&p, 999), Check::Revoked(Kind::Session));
    assert_eq!(t.check(&p, 1000), Check::Clear, "expired");
    // another sid, the same sid at another issuer, a sub with the sid's value
    assert_eq!(t.check(&sid(ISS, "sid-2", 50), 100), Check::Clear);
    assert_eq!(
        t.check(&sid("https://other/", "sid-1", 50), 100),
        Check::Clear
    );
    let as_sub = Probe::new(ISS, None, Some(b"sid-1"), 50);
    assert_eq!(t.check(&as_sub, 100), Check::Clear);
    // a session without sid is never matched by a session entry
    assert_eq!(t.check(&Probe::new(ISS, None, None, 50), 100), Check::Clear);
    // already expired: not recorded
    assert!(
        !t.revoke(Revocation::session(ISS, b"late", 100), 100)
            .recorded
    );
    assert_eq!(t.len(), 1);
    assert_eq!(t.live_count(100), 1);
    assert_eq!(t.live_count(1000), 0);
}

#[test]
fn a_subject_revocation_covers_sessions_issued_until_then() {
    let region = heap_region(bytes_for(100));
    let t = table(&region);
    let at = |issued, sub: &[u8]| Probe::new(ISS, Some(b"s"), Some(sub), issued);
    let revoked = Check::Revoked(Kind::Subject);
    t.revoke(Revocation::subject(ISS, b"user-1", 500, 2000), 500);
    // (issued at, subject, checked at, expected)
    let cases: [(u64, &[u8], u64, Check); 5] = [
        (400, b"user-1", 600, revoked),
        (500, b"user-1", 600, revoked),
        (501, b"user-1", 600, Check::Clear), // a later login
        (400, b"user-2", 600, Check::Clear),
        (400, b"user-1", 2000, Check::Clear), // expired
    ];
    for (issued, sub, now, want) in cases {
        assert_eq!(t.check(&at(issued, sub), now), want, "{issued} {now}");
    }
    // a later revocation of the same subject extends both
    t.revoke(Revocation::subject(ISS, b"user-1", 700, 1500), 700);
    assert_eq!(t.live_count(800), 1, "merged into one entry");
    assert_eq!(t.check(&at(650, b"user-1"), 800), revoked);
    assert_eq!(t.check(&at(400, b"user-1"), 1999), revoked);
    let live = t.live(800);
    assert_eq!(live.len(), 1);
    assert_eq!((live[0].issued_through, live[0].expires), (700, 2000));
}

#[test]
fn a_full_table_evicts_the_oldest_and_reports_it() {
    let region = heap_region(bytes_for(8));
    let t = table(&region);
    assert_eq!(t.capacity(), 8);
    for i in 0..8 {
        let r = t.revoke(
            Revocation::session(ISS, format!("s{i}").as_bytes(), 1000),
            10,
        );
        assert_eq!(r.evicted, None);
    }
    let r = t.revoke(Revocation::session(ISS, b"new", 1000), 11);
    assert_eq!(r.evicted, Some(Revocation::session(ISS, b"s0", 1000)));
    assert_eq!(t.evicted_live(), 1);
    assert_eq!(t.check(&sid(ISS, "s0", 1), 11), Check::Clear);
    for i in 1..8 {
        assert_eq!(
            t.check(&sid(ISS, &format!("s{i}"), 1), 11),
            Check::Revoked(Kind::Session)
        );
    }
    // an expired oldest entry makes room without a report
    let region = heap_region(bytes_for(4));
    let t = table(&region);
    for i in 0..4 {
        t.revoke(Revocation::session(ISS, format!("o{i}").as_bytes(), 20), 10);
    }
    for i in 0..4 {
        let r = t.revoke(Revocation::session(ISS, format!("n{i}").as_bytes(), 90), 30);
        assert_eq!(r.evicted, None);
    }
    assert_eq!(t.evicted_live(), 0);
    assert_eq!(t.live(30).len(), 4);
}

#[test]
fn attach_keeps_entries_and_refuses_foreign_regions() {
    let region = heap_region(bytes_for(50));
    {
        let t = Revocations::format(&region).expect("formats");
        t.revoke(Revocation::session(ISS, b"kept", 500), 1);
    }
    let t = Revocations::attach(&region).expect("formatted");
    assert_eq!(
        t.check(&sid(ISS, "kept", 0), 2),
        Check::Revoked(Kind::Session)
    );
    let junk: Box<[AtomicU64]> = (0..region.len()).map(|_| AtomicU64::new(!0)).collect();
    assert!(Revocations::attach(&junk).is_none());
    assert!(Revocations::attach_or_format(&junk)
        .expect("formats")
        .is_empty());
    // a region of another size is not the same table
    assert!(Revocations::attach(&region[..region.len() - 7]).is_none());
}

/// Random revocations and checks against a model (a map from id to entry plus the
/// ring's insertion order): the table never forgets a live revocation it still holds,
/// never invents one, and evicts exactly what the model evicts.
#[test]
fn agrees_with_a_model() {
    for (cap, ids, rounds) in [
        (16usize, 40u64, 40_000),
        (300, 700, 60_000),
        (64, 64, 20_000),
    ] {
        let region = heap_region(bytes_for(cap));
        let t = table(&region);
        let mut order: VecDeque<Option<RevocationId>> = VecDeque::new();
        let mut model: HashMap<RevocationId, Revocation> = HashMap::new();
        let mut x: u64 = 0x2545_f491_4f6c_dd1d ^ cap as u64;
        let mut now = 1000u64;
        let mut evictions = 0u64;
        for _ in 0..rounds {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            now += x % 3;
            let n = (x >> 8) % ids;
            let sub = x & 1 == 1;
            let value = format!("v{n}");
            let expires = now + 1 + (x >> 20) % 200;
            let through = now - (x >> 30) % 50;
            if (x >> 40) % 3 == 0 {
                // a revocation
                let r = if sub {
                    Revocation::subject(ISS, value.as_bytes(), through, expires)
                } else {
                    Revocation::session(ISS, value.as_bytes(), expires)
                };
                let mut want = r;
                if let Some(old) = model.get(&r.id).filter(|o| o.expires > now) {
                    want.expires = want.expires.max(old.expires);
                    want.issued_through = want.issued_through.max(old.issued_through);
                }
                if let Some(p) = order.iter().position(|o| o.as_ref() == Some(&r.id)) {
                    order[p] = None;
                    model.remove(&r.id);
                }
                let mut want_evicted = None;
                if order.len() == cap {
                    if let Some(old) = order.pop_front().flatten() {
                        let old = model.remove(&old).expect("in model");
                        if old.expires > now {
                            want_evicted = Some(old);
                        }
                    }
                }
                order.push_back(Some(r.id));
                model.insert(r.id, want);
                let got = t.revoke(r, now);
                assert!(got.recorded);
                assert_eq!(got.evicted, want_evicted, "at {now}");
                evictions += want_evicted.is_some() as u64;
            } else {
                // a check
                let issued = now - (x >> 30) % 60;
                let probe = if sub {
                    Probe::new(ISS, None, Some(value.as_bytes()), issued)
                } else {
                    Probe::new(ISS, Some(value.as_bytes()), None, issued)
                };
                let kind = if sub { Kind::Subject } else { Kind::Session };
                let want = match model.get(&RevocationId::new(kind, ISS, value.as_bytes())) {
                    Some(e) if e.expires > now && (!sub || issued <= e.issued_through) => {
                        Check::Revoked(kind)
                    }
                    _ => Check::Clear,
                };
                assert_eq!(t.check(&probe, now), want, "{value} at {now}");
            }
        }
        assert_eq!(t.evicted_live(), evictions);
        // live() is the model's live entries in ring order
        let want: Vec<Revocation> = order
            .iter()
            .flatten()
            .filter_map(|id| model.get(id))
            .filter(|r| r.expires > now)
            .copied()
            .collect();
        assert_eq!(t.live(now), want);
        assert_eq!(t.live_count(now), want.len());
    }
}

#[test]
fn state_round_trips_through_a_new_zone() {
    let region = heap_region(bytes_for(100));
    let t = table(&region);
    t.revoke(Revocation::session(ISS, b"a", 500), 10);
    t.revoke(Revocation::subject(ISS, b"u", 40, 800), 40);
    t.revoke(Revocation::session(ISS, b"short", 60), 50);
    let file = encode_state(&t.live(50), 50);
    assert_eq!(file.len(), 24 + 3 * 33 + 32);
    // read at 70: the short one has expired
    let entries = decode_state(&file, 70).expect("valid");
    assert_eq!(entries.len(), 2);
    // another zone (another key) after a restart
    let region2 = heap_region(bytes_for(100));
    let t2 = Revocations::format(&region2).expect("formats");
    assert!(t2.restore(&entries, 70).is_empty());
    assert_eq!(
        t2.check(&sid(ISS, "a", 0), 70),
        Check::Revoked(Kind::Session)
    );
    let u = Probe::new(ISS, Some(b"x"), Some(b"u"), 40);
    assert_eq!(t2.check(&u, 70), Check::Revoked(Kind::Subject));
    assert_eq!(t2.live(70), t.live(70));
    // an empty table
    assert_eq!(decode_state(&encode_state(&[], 1), 1), Ok(vec![]));
}

#[test]
fn a_damaged_state_file_is_an_error() {
    let entries = [
        Revocation::session(ISS, b"a", 500),
        Revocation::subject(ISS, b"u", 40, 800),
    ];
    let good = encode_state(&entries, 5);
    assert_eq!(decode_state(&good, 10).map(|e| e.len()), Ok(2));
    // every truncation
    for n in 0..good.len() {
        let e = decode_state(&good[..n], 10).expect_err("truncated");
        assert!(
            matches!(e, StateError::Truncated { .. } | StateError::Length { .. }),
            "{n}: {e}"
        );
    }
    // every single flipped bit
    for i in 0..good.len() {
        for bit in 0..8 {
            let mut bad = good.clone();
            bad[i] ^= 1 << bit;
            assert!(decode_state(&bad, 10).is_err(), "byte {i} bit {bit}");
        }
    }
    let mut other = good.clone();
    other[8] = 2;
    assert_eq!(
        decode_state(&other, 10),
        Err(StateError::Version { found: 2 })
    );
    assert_eq!(
        decode_state(b"{\"json\": true}", 10),
        Err(StateError::NotAStateFile)
    );
    assert_eq!(decode_state(b"", 10), Err(StateError::Truncated { len: 0 }));
    let mut longer = good.clone();
    longer.push(0);
    assert!(matches!(
        decode_state(&longer, 10),
        Err(StateError::Length { .. })
    ));
    // a well-formed file with an unknown kind (checksum recomputed)
    let mut kind = good[..good.len() - 32].to_vec();
    kind[24] = 7;
    let sum = digest::digest(&digest::SHA256, &kind);
    kind.extend_from_slice(sum.as_ref());
    assert_eq!(decode_state(&kind, 10), Err(StateError::Kind { index: 0 }));
    // a huge count does not overflow
    let mut huge = good.clone();
    huge[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(
        decode_state(&huge, 10),
        Err(StateError::Length { .. })
    ));
    assert!(StateError::Checksum.to_string().contains("corrupt"));
}

/// A writer that died mid-change leaves the counter odd: lock-free readers answer Busy,
/// a locked reader or the next writer repairs the table, and nothing is lost.
#[test]
fn a_writer_dying_mid_change_is_repaired() {
    let region = heap_region(bytes_for(50));
    let t = table(&region);
    for i in 0..30 {
        t.revoke(Revocation::session(ISS, format!("s{i}").as_bytes(), 900), 1);
    }
    // die after the counter went odd and the index was half cleared
    t.begin();
    for s in 0..t.index_len / 2 {
        t.set_slot(s, 0);
    }
    let p = sid(ISS, "s7", 0);
    assert_eq!(t.check(&p, 2), Check::Busy);
    assert_eq!(t.check_locked(&p, 2), Check::Revoked(Kind::Session));
    assert_eq!(t.check(&p, 2), Check::Revoked(Kind::Session));
    for i in 0..30 {
        assert_eq!(
            t.check(&sid(ISS, &format!("s{i}"), 0), 2),
            Check::Revoked(Kind::Session),
            "s{i}"
        );
    }
    // the same through a writer
    t.begin();
    for s in 0..t.index_len {
        t.set_slot(s, 0);
    }
    t.revoke(Revocation::session(ISS, b"after", 900), 3);
    assert_eq!(t.live(3).len(), 31);
    assert_eq!(
        t.check(&sid(ISS, "s29", 0), 3),
        Check::Revoked(Kind::Session)
    );
}

#[test]
fn scribbled_memory_does_not_panic() {
    let region = heap_region(bytes_for(40));
    let t = table(&region);
    for i in 0..30 {
        t.revoke(
            Revocation::subject(ISS, format!("u{i}").as_bytes(), 5, 100),
            1,
        );
    }
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for w in region.iter().skip(H::Seq as usize + 1) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        w.store(x, Ordering::Relaxed);
    }
    region[H::Seq as usize].store(0, Ordering::Relaxed);
    for i in 0..200 {
        let p = Probe::new(ISS, Some(b"a"), Some(format!("u{i}").as_bytes()), 1);
        let _ = t.check(&p, 2);
        let _ = t.check_locked(&p, 2);
        t.revoke(Revocation::session(ISS, format!("n{i}").as_bytes(), 50), 2);
        let _ = t.live(2);
    }
    let _ = Revocations::attach(&region);
}

/// Readers race a writer on real threads (the writer serialised by a mutex, as by the
/// zone's lock): a revocation is seen by every reader as soon as `revoke` returned, and a
/// session never revoked is never seen revoked, however the table churns.
#[test]
fn lock_free_readers_see_every_published_revocation() {
    use std::sync::atomic::AtomicUsize;
    use std::sync::{Arc, Mutex};
    const N: usize = 20_000;
    const CAPACITY: usize = 4096;
    let region: Arc<Box<[AtomicU64]>> = Arc::new(heap_region(bytes_for(CAPACITY)));
    Revocations::format_with_key(&region, [3; 16]).expect("fits");
    let lock = Arc::new(Mutex::new(()));
    let published = Arc::new(AtomicUsize::new(0));
    let readers: Vec<_> = (0..3)
        .map(|k| {
            let (region, lock, published) = (region.clone(), lock.clone(), published.clone());
            std::thread::spawn(move || {
                let t = Revocations::attach(&region).expect("formatted");
                let mut x = 0x1234_5678u64 + k;
                let mut checks = 0u64;
                let mut busy = 0u64;
                loop {
                    let done = published.load(Ordering::Acquire);
                    if done >= N {
                        return (checks, busy);
                    }
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    // one of the last 1000 published (still held: capacity 4096)
                    let i = done.saturating_sub(1 + (x % 1000) as usize);
                    let revoked = done > 0;
                    let p = sid(ISS, &format!("s{i}"), 0);
                    let never = sid(ISS, &format!("never{}", x % 5000), 0);
                    for (probe, want) in [(p, revoked), (never, false)] {
                        let mut got = t.check(&probe, 10);
                        if got == Check::Busy {
                            busy += 1;
                            let _held = lock.lock().expect("lock");
                            got = t.check_locked(&probe, 10);
                        }
                        let want = if want {
                            Check::Revoked(Kind::Session)
                        } else {
                            Check::Clear
                        };
                        // Unless the writer ran so far ahead meanwhile that s{i} was
                        // evicted (a stalled reader on a busy machine).
                        let after = published.load(Ordering::Acquire);
                        if after < i + CAPACITY {
                            assert_eq!(got, want, "reader {k}, s{i} of {done}..{after}");
                        }
                        checks += 1;
                    }
                }
            })
        })
        .collect();
    {
        let t = Revocations::attach(&region).expect("formatted");
        for i in 0..N {
            let _held = lock.lock().expect("lock");
            t.revoke(
                Revocation::session(ISS, format!("s{i}").as_bytes(), 1000),
                10,
            );
            published.store(i + 1, Ordering::Release);
        }
    }
    for r in readers {
        let (checks, _busy) = r.join().expect("reader");
        assert!(checks > 0);
    }
}

#[test]
fn one_entry_round_trips_and_refuses_anything_else() {
    let s = Revocation::session(ISS, b"sid-1", 1_900_000_000);
    let u = Revocation::subject(ISS, b"alice", 1_800_000_000, 1_900_000_000);
    for r in [s, u] {
        let bytes = encode_one(&r);
        assert_eq!(bytes.len(), ONE_LEN);
        assert_eq!(bytes[0], ONE_VERSION);
        assert_eq!(decode_one(&bytes), Some(r));
        // Every shorter or longer value, another version, an unknown kind: refused.
        for n in 0..bytes.len() {
            assert_eq!(decode_one(&bytes[..n]), None, "{n} bytes");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(decode_one(&longer), None);
        // what comes from Redis is bounded before it is held
        let now = 1_000_000;
        let far = Revocation::subject("i", b"u", u64::MAX, u64::MAX);
        let b = far.bounded(now).unwrap();
        assert_eq!(b.expires, now + MAX_COVER);
        assert_eq!(b.issued_through, now + ISSUED_LEEWAY);
        assert_eq!(Revocation::session("i", b"s", now).bounded(now), None);
        let fine = Revocation::session("i", b"s", now + 60);
        assert_eq!(fine.bounded(now), Some(fine));
        let mut other = bytes.clone();
        other[0] = ONE_VERSION + 1;
        assert_eq!(decode_one(&other), None);
        let mut kind = bytes.clone();
        kind[1] = 9;
        assert_eq!(decode_one(&kind), None);
    }
    // The entry is the state file's: a one-entry state file carries the same bytes.
    let file = encode_state(&[u], 5);
    assert_eq!(&file[24..24 + ONE_LEN - 1], &encode_one(&u)[1..]);
}

#[test]
fn newest_reads_what_the_last_revocations_left() {
    let region = heap_region(bytes_for(4));
    let t = table(&region);
    let r = |i: u64| Revocation::session(ISS, format!("sid-{i}").as_bytes(), 1000 + i);
    for i in 0..3 {
        t.revoke(r(i), 10);
    }
    assert_eq!(t.newest(0, 10), vec![]);
    assert_eq!(t.newest(1, 10), vec![r(2)]);
    assert_eq!(t.newest(2, 10), vec![r(1), r(2)]);
    assert_eq!(t.newest(99, 10), t.live(10));
    // A re-revocation makes its entry the newest; an expired entry is skipped.
    t.revoke(r(0), 10);
    assert_eq!(t.newest(1, 10), vec![r(0)]);
    assert_eq!(t.newest(3, 1000), vec![r(1), r(2)]);
    // Past a wrap of the ring, still the newest first-to-last.
    for i in 3..9 {
        t.revoke(r(i), 10);
    }
    assert_eq!(t.newest(2, 10), vec![r(7), r(8)]);
    assert_eq!(t.live(10), vec![r(5), r(6), r(7), r(8)]);
}

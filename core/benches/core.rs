//! Micro-benchmarks of the pure core: what the access phase spends per request.
//!
//! `cargo bench -p sso-core --bench core [-- FILTER]`. A plain `harness = false` binary (no
//! extra dependencies, so `make bench` stays fast to build): each case is calibrated to
//! batches of about `BENCH_SAMPLE_MS` milliseconds (default 60), `BENCH_SAMPLES` batches
//! (default 7) are timed, and the median ns/op is reported. Keys are generated at start, so
//! nothing is read from disk. A counting global allocator reports the heap allocations of one
//! operation, and the heap bytes an entry of the verified-token cache holds. With
//! `BENCH_TSV=path`, the timings are also written there as
//! `name<TAB>ns_per_op<TAB>ops_per_s<TAB>allocs_per_op<TAB>note` lines, and with
//! `BENCH_MEM_TSV=path` the memory figures as `name<TAB>bytes<TAB>allocations<TAB>note`
//! (`bench/run.sh` reads them).

#[path = "../../bench/claims.rs"]
mod bench_claims;

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self as sig, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use serde_json::{json, Value};
use sso_core::cache::{Cache, CacheConfig, SessionScope, TokenCache};
use sso_core::decide::{decide, AuthMethod, Credentials, RequestView};
use sso_core::identity::{request_headers, CompactJws, Header, Identity, MetaHeaders};
use sso_core::jwks::KeySet;
use sso_core::jwt::Verifier;
use sso_core::paths::PatternSet;
use sso_core::rules::{ClaimRule, ClaimRules};
use sso_core::session::{Session, SessionKeys};

const ISSUER: &str = "https://auth.example.com/application/o/app/";
const CLIENT_ID: &str = "app-client";
const HMAC_SECRET: &[u8] = b"benchmark hmac secret, 48 bytes long, not random";

/// Counts allocations and live heap bytes (as requested, without the allocator's overhead).
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static LIVE_BYTES: AtomicI64 = AtomicI64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Relaxed);
        LIVE_BYTES.fetch_add(layout.size() as i64, Relaxed);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as i64, Relaxed);
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Relaxed);
        LIVE_BYTES.fetch_add(new_size as i64 - layout.size() as i64, Relaxed);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

struct Result {
    name: String,
    ns: f64,
    allocs: f64,
    note: &'static str,
}

struct Memory {
    name: String,
    bytes: f64,
    allocs: f64,
    note: &'static str,
}

struct Runner {
    filter: Vec<String>,
    sample: Duration,
    samples: usize,
    results: Vec<Result>,
    memory: Vec<Memory>,
}

impl Runner {
    fn new() -> Runner {
        let env_num = |name: &str, default: u64| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(default)
        };
        Runner {
            // `cargo bench` passes `--bench`; anything else not starting with `-` filters.
            filter: std::env::args()
                .skip(1)
                .filter(|a| !a.starts_with('-'))
                .collect(),
            sample: Duration::from_millis(env_num("BENCH_SAMPLE_MS", 60)),
            samples: env_num("BENCH_SAMPLES", 7).max(1) as usize,
            results: Vec::new(),
            memory: Vec::new(),
        }
    }

    /// Times `f` (one operation per call) and records the median ns/op.
    fn run<R>(&mut self, name: &str, note: &'static str, mut f: impl FnMut() -> R) {
        if !self.filter.is_empty() && !self.filter.iter().any(|p| name.contains(p.as_str())) {
            return;
        }
        // Calibrate: double the batch until it takes a tenth of a sample (bounded).
        let mut batch: u64 = 1;
        loop {
            let start = Instant::now();
            for _ in 0..batch {
                black_box(f());
            }
            let took = start.elapsed();
            if took >= self.sample / 10 || batch >= 1 << 30 {
                let per = took.as_secs_f64() / batch as f64;
                batch = ((self.sample.as_secs_f64() / per.max(1e-9)) as u64).clamp(1, 1 << 32);
                break;
            }
            batch *= 2;
        }
        let mut per_op: Vec<f64> = (0..self.samples)
            .map(|_| {
                let start = Instant::now();
                for _ in 0..batch {
                    black_box(f());
                }
                start.elapsed().as_secs_f64() * 1e9 / batch as f64
            })
            .collect();
        per_op.sort_by(f64::total_cmp);
        let ns = per_op[per_op.len() / 2];
        const COUNTED: u64 = 1000;
        let before = ALLOCATIONS.load(Relaxed);
        for _ in 0..COUNTED {
            black_box(f());
        }
        let allocs = (ALLOCATIONS.load(Relaxed) - before) as f64 / COUNTED as f64;
        println!(
            "{name:<40} {:>11} ns/op {:>12} op/s {:>6} allocs/op   {note}",
            format!("{ns:.1}"),
            format!("{:.0}", 1e9 / ns),
            format!("{allocs:.1}")
        );
        self.results.push(Result {
            name: name.to_owned(),
            ns,
            allocs,
            note,
        });
    }

    /// Records the heap bytes and allocations `make` leaves live per item, over `n` items.
    /// False when the filter skipped it.
    fn memory<T>(
        &mut self,
        name: &str,
        note: &'static str,
        n: usize,
        mut make: impl FnMut(usize) -> T,
    ) -> bool {
        if !self.filter.is_empty() && !self.filter.iter().any(|p| name.contains(p.as_str())) {
            return false;
        }
        let (a0, b0) = (ALLOCATIONS.load(Relaxed), LIVE_BYTES.load(Relaxed));
        let kept: Vec<T> = (0..n).map(&mut make).collect();
        let (a1, b1) = (ALLOCATIONS.load(Relaxed), LIVE_BYTES.load(Relaxed));
        drop(kept);
        let bytes = (b1 - b0) as f64 / n as f64;
        let allocs = (a1 - a0) as f64 / n as f64;
        println!("{name:<40} {bytes:>11.0} bytes {allocs:>8.1} allocations   {note}");
        self.memory.push(Memory {
            name: name.to_owned(),
            bytes,
            allocs,
            note,
        });
        true
    }

    fn write_tsv(&self) {
        if let Ok(path) = std::env::var("BENCH_TSV") {
            let mut out = String::new();
            for r in &self.results {
                out.push_str(&format!(
                    "{}\t{:.1}\t{:.0}\t{:.1}\t{}\n",
                    r.name,
                    r.ns,
                    1e9 / r.ns,
                    r.allocs,
                    r.note
                ));
            }
            std::fs::write(&path, out).unwrap_or_else(|e| panic!("writing {path}: {e}"));
        }
        if let Ok(path) = std::env::var("BENCH_MEM_TSV") {
            let mut out = String::new();
            for m in &self.memory {
                out.push_str(&format!(
                    "{}\t{:.0}\t{:.1}\t{}\n",
                    m.name, m.bytes, m.allocs, m.note
                ));
            }
            std::fs::write(&path, out).unwrap_or_else(|e| panic!("writing {path}: {e}"));
        }
    }
}

fn b64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Claims of a typical authentik user (bench/claims.rs, shared with bench/tools).
fn claims(now: u64, jti: u64) -> Value {
    bench_claims::typical(ISSUER, CLIENT_ID, now, &format!("bench-{jti}"))
}

struct Signers {
    rsa: RsaKeyPair,
    p256: EcdsaKeyPair,
    p384: EcdsaKeyPair,
    ed: Ed25519KeyPair,
}

impl Signers {
    fn generate() -> Signers {
        Signers {
            rsa: RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("RSA keygen"),
            p256: EcdsaKeyPair::generate(&sig::ECDSA_P256_SHA256_FIXED_SIGNING)
                .expect("P-256 keygen"),
            p384: EcdsaKeyPair::generate(&sig::ECDSA_P384_SHA384_FIXED_SIGNING)
                .expect("P-384 keygen"),
            ed: Ed25519KeyPair::generate().expect("Ed25519 keygen"),
        }
    }

    fn jwks(&self) -> KeySet {
        KeySet::from_jwks(self.jwks_document().as_bytes()).expect("JWKS")
    }

    fn jwks_document(&self) -> String {
        let rsa = sig::RsaPublicKeyComponents::<Vec<u8>>::from(self.rsa.public_key());
        let ec = |pair: &EcdsaKeyPair, crv: &str, kid: &str| {
            let point = pair.public_key().as_ref();
            let half = (point.len() - 1) / 2;
            json!({"kty": "EC", "crv": crv, "kid": kid,
                   "x": b64(&point[1..1 + half]), "y": b64(&point[1 + half..])})
        };
        let doc = json!({"keys": [
            {"kty": "RSA", "kid": "rsa", "n": b64(&rsa.n), "e": b64(&rsa.e)},
            ec(&self.p256, "P-256", "p256"),
            ec(&self.p384, "P-384", "p384"),
            {"kty": "OKP", "crv": "Ed25519", "kid": "ed", "x": b64(self.ed.public_key().as_ref())},
            {"kty": "oct", "kid": "hmac", "k": b64(HMAC_SECRET)},
        ]});
        doc.to_string()
    }

    fn mint(&self, alg: &str, claims: &Value) -> String {
        let kid = match alg {
            "RS256" | "PS256" => "rsa",
            "ES256" => "p256",
            "ES384" => "p384",
            "EdDSA" => "ed",
            _ => "hmac",
        };
        let header = json!({"alg": alg, "typ": "JWT", "kid": kid});
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let rng = SystemRandom::new();
        let signature = match alg {
            "RS256" | "PS256" => {
                let mut out = vec![0; self.rsa.public_modulus_len()];
                let enc: &'static dyn sig::RsaEncoding = if alg == "RS256" {
                    &sig::RSA_PKCS1_SHA256
                } else {
                    &sig::RSA_PSS_SHA256
                };
                self.rsa
                    .sign(enc, &rng, input.as_bytes(), &mut out)
                    .expect("RSA sign");
                out
            }
            "ES256" => self
                .p256
                .sign(&rng, input.as_bytes())
                .unwrap()
                .as_ref()
                .into(),
            "ES384" => self
                .p384
                .sign(&rng, input.as_bytes())
                .unwrap()
                .as_ref()
                .into(),
            "EdDSA" => self.ed.sign(input.as_bytes()).as_ref().into(),
            _ => aws_lc_rs::hmac::sign(
                &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, HMAC_SECRET),
                input.as_bytes(),
            )
            .as_ref()
            .into(),
        };
        format!("{input}.{}", b64(&signature))
    }
}

fn main() {
    let mut r = Runner::new();
    let now = now();
    let signers = Signers::generate();
    let keys = signers.jwks();
    let verifier = Verifier::new(Some(ISSUER.into()), vec![CLIENT_ID.into()], 30);

    // --- Session cookie -------------------------------------------------------------------
    let session_keys = SessionKeys::from_raw_keys(&[&[7u8; 32]]).expect("session key");
    let identity = Identity::from_claims(claims(now, 0).as_object().expect("object"));
    let id_token = signers.mint("RS256", &claims(now, 0));
    for (name, id_token, note) in [
        (
            "session_open/no_id_token",
            None,
            "typical identity, payload under 700 B: stored uncompressed",
        ),
        (
            "session_open/with_id_token",
            Some(id_token.clone()),
            "identity + RS256 ID token kept for id_token_hint: deflated",
        ),
    ] {
        let session = Session::new(identity.clone(), now, 86_400, id_token);
        let sealed = session_keys.seal(&session, CLIENT_ID).expect("seal");
        assert_eq!(sealed.len(), 1, "one chunk");
        let value = sealed[0].clone();
        let chunks: [&[u8]; 1] = [value.as_bytes()];
        assert!(session_keys.open(&chunks, CLIENT_ID, now).is_ok());
        r.run(name, note, || {
            session_keys.open(black_box(&chunks), CLIENT_ID, now)
        });
        if name.ends_with("no_id_token") {
            r.run("session_seal/no_id_token", "at login only", || {
                session_keys.seal(black_box(&session), CLIENT_ID)
            });
        }
    }

    // The glue's per-worker cache of opened sessions, keyed by the sealed value.
    {
        let session = Session::new(identity.clone(), now, 86_400, Some(id_token.clone()));
        let value = session_keys
            .seal(&session, CLIENT_ID)
            .expect("seal")
            .remove(0);
        let cache: Cache<Session> = Cache::new(CacheConfig {
            max_token_len: 7600,
            ..CacheConfig::default()
        });
        // The glue's path: the first open fills the cache, every later one is a hit.
        let chunks = [value.as_bytes()];
        let scope = SessionScope::new(
            std::sync::Arc::new(SessionKeys::from_raw_keys(&[&[7u8; 32]]).expect("session key")),
            CLIENT_ID.to_owned(),
        );
        assert!(cache.open(&scope, &chunks, now).is_ok());
        assert_eq!(cache.len(), 1);
        r.run(
            "session_cache_hit",
            "SessionCache::open on a hit: keyed hash of the sealed value, constant-time compare, Arc clone",
            || cache.open(&scope, black_box(&chunks), now),
        );
    }

    // --- Bearer: the verified-token cache ---------------------------------------------------
    {
        let token = signers.mint("RS256", &claims(now, 1));
        let cache = TokenCache::new(CacheConfig::default());
        assert!(cache.verify(&verifier, &keys, &token, now).is_ok());
        r.run("token_cache_hit/RS256", "same token every request", || {
            cache.verify(&verifier, &keys, black_box(&token), now)
        });
        // A miss that verifies and inserts (the cache is full and FIFO-evicts): what a pool of
        // distinct tokens larger than the cache costs per request.
        let tokens: Vec<String> = (0..2_000u64)
            .map(|i| signers.mint("ES256", &claims(now, 10 + i)))
            .collect();
        let small = TokenCache::new(CacheConfig {
            max_entries: 500,
            ..CacheConfig::default()
        });
        let mut i = 0usize;
        r.run(
            "token_cache_miss/ES256",
            "verify + insert + FIFO eviction (pool 4x the cache)",
            || {
                i = (i + 1) % tokens.len();
                small.verify(&verifier, &keys, &tokens[i], now)
            },
        );
    }

    // --- Verification per algorithm (no cache) ----------------------------------------------
    for alg in ["RS256", "PS256", "ES256", "ES384", "EdDSA", "HS256"] {
        let token = signers.mint(alg, &claims(now, 2));
        let verified = verifier.verify(&keys, &token, now).expect("valid token");
        assert_eq!(verified.identity.username, "jdoe");
        r.run(
            &format!("verify/{alg}"),
            "full Verifier::verify: parse, signature, claims, identity",
            || verifier.verify(&keys, black_box(&token), now),
        );
    }

    // The signature alone, with the key parsed once (what the verifier does: KeySet keeps
    // aws-lc parsed keys) vs. parsed for every call (what it did through jsonwebtoken).
    {
        let token = signers.mint("RS256", &claims(now, 3));
        let (input, sig_b64) = token.rsplit_once('.').expect("three parts");
        let signature = B64.decode(sig_b64).expect("base64");
        let rsa = sig::RsaPublicKeyComponents::<Vec<u8>>::from(signers.rsa.public_key());
        r.run(
            "signature_only/RS256_components",
            "aws-lc: RSA key built from n,e on every call",
            || {
                rsa.verify(
                    &sig::RSA_PKCS1_2048_8192_SHA256,
                    black_box(input.as_bytes()),
                    &signature,
                )
            },
        );
        let der = signers.rsa.public_key().as_ref().to_vec();
        let parsed = sig::UnparsedPublicKey::new(&sig::RSA_PKCS1_2048_8192_SHA256, &der)
            .parse()
            .expect("parse");
        r.run(
            "signature_only/RS256_parsed",
            "aws-lc: RSA key parsed once",
            || parsed.verify_sig(black_box(input.as_bytes()), &signature),
        );

        let token = signers.mint("ES256", &claims(now, 3));
        let (input, sig_b64) = token.rsplit_once('.').expect("three parts");
        let signature = B64.decode(sig_b64).expect("base64");
        let point = signers.p256.public_key().as_ref().to_vec();
        let unparsed = sig::UnparsedPublicKey::new(&sig::ECDSA_P256_SHA256_FIXED, &point);
        r.run(
            "signature_only/ES256_unparsed",
            "aws-lc: EC point parsed on every call",
            || unparsed.verify(black_box(input.as_bytes()), &signature),
        );
        let parsed = unparsed.parse().expect("parse");
        r.run(
            "signature_only/ES256_parsed",
            "aws-lc: EC point parsed once",
            || parsed.verify_sig(black_box(input.as_bytes()), &signature),
        );

        let token = signers.mint("EdDSA", &claims(now, 3));
        let (input, sig_b64) = token.rsplit_once('.').expect("three parts");
        let signature = B64.decode(sig_b64).expect("base64");
        let parsed = sig::ParsedPublicKey::new(&sig::ED25519, signers.ed.public_key().as_ref())
            .expect("parse");
        r.run(
            "signature_only/EdDSA_parsed",
            "aws-lc: Ed25519 key parsed once",
            || parsed.verify_sig(black_box(input.as_bytes()), &signature),
        );
    }

    // Loading the bench JWKS (RSA, P-256, P-384, Ed25519, oct): JSON, checks, parsed keys.
    {
        let doc = signers.jwks_document();
        r.run(
            "jwks_load/5_keys",
            "KeySet::from_jwks: parse + aws-lc keys (RSA: the RS256 one; others on first use)",
            || KeySet::from_jwks(black_box(doc.as_bytes())),
        );
    }

    // --- Per-request work after authentication ----------------------------------------------
    {
        let token = signers.mint("RS256", &claims(now, 4));
        let meta = MetaHeaders::new(Some("my-app"), "ngx_http_sso_module", "0.1.0");
        // The identity's block is rendered once per cached identity; a request walks the
        // ordered list (what the glue turns into nginx list elements).
        let block = identity.header_block();
        let jws = CompactJws::new(&token).expect("a minted token is compact");
        let walk = |jwt: Option<CompactJws>| {
            request_headers(block, &meta, jwt)
                .map(|h| match h {
                    Header::Own(item) | Header::Meta { item, .. } => item.value().len(),
                    Header::Jwt(v) => v.len(),
                })
                .sum::<usize>()
        };
        r.run(
            "identity_headers/session",
            "the ordered identity header list over the rendered blocks",
            || walk(black_box(None)),
        );
        r.run(
            "identity_headers/bearer",
            "the same plus X-authentik-jwt (a CompactJws: its shape proven once, not rescanned)",
            || walk(Some(black_box(jws))),
        );
        let view = RequestView {
            safe_method: true,
            accept: Some(b"text/html,application/xhtml+xml,*/*;q=0.8"),
            requested_with: None,
        };
        let valid = Credentials::Valid {
            method: AuthMethod::Session,
        };
        r.run("decide/authenticated", "", || {
            decide(
                black_box(&view),
                &valid,
                &identity.groups,
                &[],
                || None,
                || false,
            )
        });
        // With one `sso_require_claim` (a context without rules never gets here): the rule on
        // the claims parsed once and kept with the cached token or session.
        let parsed = claims(now, 0).as_object().expect("object").clone();
        let mut rules = ClaimRules::default();
        rules.push(ClaimRule::parse(&["groups", "nobody", "ops"]).expect("rule"));
        assert_eq!(rules.first_failing(|| &parsed), None);
        r.run(
            "rules/one_claim_rule",
            "sso_require_claim groups nobody ops, on cached parsed claims",
            || rules.first_failing(|| black_box(&parsed)),
        );
    }

    // --- Unauthenticated paths --------------------------------------------------------------
    {
        let set = PatternSet::new(&[
            r"^/public/",
            r"^/api/health$",
            r"\.(css|js|png|svg|woff2?)$",
            r"^/\.well-known/",
        ])
        .expect("patterns");
        let hit = b"/public/index.html".as_slice();
        let miss = b"/app/dashboard/settings/profile".as_slice();
        assert!(set.matches(hit) && !set.matches(miss));
        r.run(
            "unauthenticated_regex/match",
            "4 patterns, path /public/index.html",
            || set.matches(black_box(hit)),
        );
        r.run(
            "unauthenticated_regex/no_match",
            "4 patterns, a 31-byte path",
            || set.matches(black_box(miss)),
        );
        let no_creds = Credentials::Missing;
        r.run(
            "decide/unauthenticated_path",
            "decide() with the regex set",
            || {
                decide(
                    &RequestView::default(),
                    &no_creds,
                    &[] as &[String],
                    &[],
                    || None,
                    || set.matches(black_box(hit)),
                )
            },
        );
    }

    // --- Memory held per cache entry -----------------------------------------------------------
    {
        let tokens: Vec<String> = (0..2_000u64)
            .map(|i| signers.mint("HS256", &claims(now, 100_000 + i)))
            .collect();
        // A budget that holds them all: this measures an entry, not eviction.
        let cache = TokenCache::new(CacheConfig {
            max_bytes: 1 << 30,
            ..CacheConfig::default()
        });
        let measured = r.memory(
            "token_cache_entry/HS256",
            "one cached verified token (the token, its claims JSON, the identity), \
             the cache's own bookkeeping included",
            tokens.len(),
            |i| cache.verify(&verifier, &keys, &tokens[i], now).map(|_| ()),
        );
        assert_eq!(cache.len(), if measured { tokens.len() } else { 0 });
        let verified = verifier.verify(&keys, &tokens[0], now).expect("valid");
        r.memory(
            "verified_token",
            "a Verified alone (claims JSON + identity), without the token text",
            1_000,
            |_| verified.clone(),
        );
        r.memory.push(Memory {
            name: "token_cache_accounting/HS256".into(),
            bytes: cache.stats().bytes as f64 / cache.len().max(1) as f64,
            allocs: 0.0,
            note: "what the cache's byte budget counts for that entry (its Weigh estimate)",
        });
    }

    // --- Revocations: the session check with 100,000 revocations held ------------------------
    {
        use sso_core::revocations::{
            bytes_for, heap_region, Check, Probe, Revocation, Revocations,
        };
        const HELD: usize = 100_000;
        let region = heap_region(bytes_for(HELD));
        let table = Revocations::format(&region).expect("table");
        for i in 0..HELD {
            let r = if i % 4 == 0 {
                Revocation::subject(
                    ISSUER,
                    format!("user-{i}").as_bytes(),
                    now - 10,
                    now + 86_400,
                )
            } else {
                Revocation::session(ISSUER, format!("sid-{i}").as_bytes(), now + 86_400)
            };
            table.revoke(r, now);
        }
        assert_eq!(table.live_count(now), HELD);
        let clear = Probe::new(ISSUER, Some(b"sid-live"), Some(b"user-live"), now);
        let revoked = Probe::new(ISSUER, Some(b"sid-99999"), Some(b"user-x"), now);
        assert_eq!(table.check(&clear, now), Check::Clear);
        assert_ne!(table.check(&revoked, now), Check::Clear);
        r.run(
            "revocation_check/100k_held",
            "a session neither revoked by sid nor by sub: two lock-free index lookups",
            || table.check(black_box(&clear), now),
        );
        r.run(
            "revocation_probe",
            "the zone-independent ids of a session (two SHA-256), once per opened session",
            || {
                Probe::new(
                    ISSUER,
                    Some(black_box(b"sid-live")),
                    Some(b"user-live"),
                    now,
                )
            },
        );
    }

    r.write_tsv();
}

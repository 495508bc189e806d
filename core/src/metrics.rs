//! The counters of the status endpoint (README "Observability"): which ones exist, the
//! fixed slot of each label value, the atomic table the glue lays over the shared zone, and
//! the Prometheus text (exposition format 0.0.4) and JSON renderings.
//!
//! Every label value is one of the fixed lists below (an unknown word counts as `other`),
//! so a series' count is bounded by the code, never by what clients send. Counting is a
//! `Relaxed` `fetch_add` on a fixed slot: no lock, no allocation. The requests, the only
//! counter of the hot path, have one set of slots per worker ([`WORKER_SETS`], each on its
//! own cache lines) so that two workers never write the same cache line; reading sums them.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::decide::AuthMethod;

/// The `decision` label of `sso_requests_total`.
pub const DECISIONS: [&str; 5] = [
    "allow",
    "unauthenticated",
    "forbidden",
    "login",
    "unauthorized",
];
const ALLOW: usize = 0;
const UNAUTHENTICATED: usize = 1;
const FORBIDDEN: usize = 2;
const LOGIN: usize = 3;
const UNAUTHORIZED: usize = 4;

/// `$sso_reason` of a request let through on credentials (the [`AuthMethod`]s).
const ALLOW_REASONS: [&str; 3] = ["session", "bearer", "token_cookie"];
const FORBIDDEN_REASONS: [&str; 3] = ["forbidden_group", "forbidden_claim", "other"];
/// `sso_core::jwt::TokenError` reasons: a refused bearer token, token cookie or logout token.
const TOKEN_REASONS: [&str; 10] = [
    "expired",
    "bad_signature",
    "unknown_key",
    "wrong_issuer",
    "wrong_audience",
    "not_yet_valid",
    "malformed",
    "too_large",
    "unsupported_algorithm",
    "no_keys",
];

/// The words of `parts`, in order (`N` must be their count).
const fn concat<const N: usize>(parts: &[&[&'static str]]) -> [&'static str; N] {
    let mut out = [""; N];
    let (mut n, mut p) = (0, 0);
    while p < parts.len() {
        let mut i = 0;
        while i < parts[p].len() {
            out[n] = parts[p][i];
            n += 1;
            i += 1;
        }
        p += 1;
    }
    assert!(n == N);
    out
}

/// `$sso_reason` of a refused request (a login redirect or a `401`).
pub const REFUSAL_REASONS: [&str; 15] = concat(&[
    &["no_credentials"],
    &TOKEN_REASONS,
    &["idle", "revoked", "refresh_failed", "other"],
]);

/// `(decision, reason)` of every request slot, in slot order.
const fn request_slots() -> [(usize, &'static str); REQUEST_SLOTS] {
    let mut out = [(0, ""); REQUEST_SLOTS];
    let mut n = 0;
    let mut i = 0;
    while i < ALLOW_REASONS.len() {
        out[n] = (ALLOW, ALLOW_REASONS[i]);
        n += 1;
        i += 1;
    }
    out[n] = (UNAUTHENTICATED, "unauthenticated_path");
    n += 1;
    i = 0;
    while i < FORBIDDEN_REASONS.len() {
        out[n] = (FORBIDDEN, FORBIDDEN_REASONS[i]);
        n += 1;
        i += 1;
    }
    i = 0;
    while i < REFUSAL_REASONS.len() {
        out[n] = (LOGIN, REFUSAL_REASONS[i]);
        out[n + REFUSAL_REASONS.len()] = (UNAUTHORIZED, REFUSAL_REASONS[i]);
        n += 1;
        i += 1;
    }
    out
}

/// How many `(decision, reason)` slots there are.
pub const REQUEST_SLOTS: usize =
    ALLOW_REASONS.len() + 1 + FORBIDDEN_REASONS.len() + 2 * REFUSAL_REASONS.len();
const SLOTS: [(usize, &str); REQUEST_SLOTS] = request_slots();
const FIRST_FORBIDDEN: usize = ALLOW_REASONS.len() + 1;
const FIRST_REFUSAL: usize = FIRST_FORBIDDEN + FORBIDDEN_REASONS.len();

/// The slot of a request let through on credentials: a constant per method, no string work
/// (the hot path).
pub fn allow_slot(method: AuthMethod) -> usize {
    match method {
        AuthMethod::Session => 0,
        AuthMethod::Bearer => 1,
        AuthMethod::TokenCookie => 2,
    }
}

/// The slot of any other decision, from its `$sso_reason` word and whether the request is a
/// browser navigation (which gets a login redirect instead of a `401`), asked only for a
/// refusal (an unauthenticated path, which can be busy, costs a few comparisons).
pub fn slot(reason: &str, navigation: impl FnOnce() -> bool) -> usize {
    if let Some(i) = ALLOW_REASONS.iter().position(|r| *r == reason) {
        return i;
    }
    if reason == "unauthenticated_path" {
        return ALLOW_REASONS.len();
    }
    if reason.starts_with("forbidden") {
        let i = FORBIDDEN_REASONS
            .iter()
            .position(|r| *r == reason)
            .unwrap_or(FORBIDDEN_REASONS.len() - 1);
        return FIRST_FORBIDDEN + i;
    }
    let i = REFUSAL_REASONS
        .iter()
        .position(|r| *r == reason)
        .unwrap_or(REFUSAL_REASONS.len() - 1);
    FIRST_REFUSAL
        + if navigation() {
            0
        } else {
            REFUSAL_REASONS.len()
        }
        + i
}

/// `reason` of `sso_logins_failed_total` (`sso_core::flow::FlowError::reason` and the
/// glue's own failures).
pub const LOGIN_FAILURES: [&str; 11] = [
    "expired",
    "internal_error",
    "malformed",
    "no_flow_cookie",
    "overloaded",
    "provider_error",
    "replayed",
    "state_mismatch",
    "token_exchange",
    "wrong_issuer",
    "other",
];

/// `reason` of `sso_refreshes_failed_total`: the provider refused (the session ended), or
/// the refresh failed otherwise (the session stays).
pub const REFRESH_FAILURES: [&str; 2] = ["refused", "error"];

/// `reason` of `sso_backchannel_logouts_refused_total` (`sso_core::logout::LogoutError`
/// reasons, the token's own reasons, and the endpoint's other answers).
pub const LOGOUT_REFUSALS: [&str; 27] = concat(&[
    &[
        "bad_form",
        "no_token",
        "several_tokens",
        "wrong_type",
        "no_iat",
        "too_old",
        "no_jti",
        "no_events",
        "no_logout_event",
        "bad_logout_event",
        "no_sid_or_sub",
        "bad_claim",
        "nonce",
    ],
    &TOKEN_REASONS,
    &["replayed", "method_not_allowed", "server_error", "other"],
]);

/// The `cache` label of the cache metrics.
pub const CACHES: [&str; 2] = ["token", "session"];

/// The index of `word` in `list`, else of its last entry (`other`).
pub fn index_of(list: &[&str], word: &str) -> usize {
    list.iter()
        .position(|w| *w == word)
        .unwrap_or(list.len() - 1)
}

/// How many per-worker sets of request slots there are (workers beyond share one, by
/// worker number modulo this; adds stay exact, only cache lines are shared then).
pub const WORKER_SETS: usize = 8;

/// One worker's request slots, alone on its cache lines.
#[repr(C, align(64))]
pub struct WorkerSet {
    requests: [AtomicU64; REQUEST_SLOTS],
}

/// Per cache: hits, misses, entries (entries is a gauge: workers add what changed).
#[repr(C)]
pub struct CacheCounters {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    /// The sum of the workers' entry counts, kept as wrapping adds of signed changes.
    pub entries: AtomicU64,
}

/// The whole table, laid over zeroed memory of the shared zone (all zeros is the empty
/// table, so a fresh zone needs no formatting).
#[repr(C, align(64))]
pub struct Counters {
    workers: [WorkerSet; WORKER_SETS],
    logins_started: AtomicU64,
    logins_completed: AtomicU64,
    logins_failed: [AtomicU64; LOGIN_FAILURES.len()],
    refreshes: AtomicU64,
    refreshes_failed: [AtomicU64; REFRESH_FAILURES.len()],
    logouts_accepted: AtomicU64,
    logouts_refused: [AtomicU64; LOGOUT_REFUSALS.len()],
    pub caches: [CacheCounters; CACHES.len()],
}

/// What can be counted outside the request decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    LoginStarted,
    LoginCompleted,
    /// A reason of [`LOGIN_FAILURES`].
    LoginFailed(&'a str),
    Refreshed,
    /// A reason of [`REFRESH_FAILURES`].
    RefreshFailed(&'a str),
    LogoutAccepted,
    /// A reason of [`LOGOUT_REFUSALS`].
    LogoutRefused(&'a str),
}

impl Counters {
    /// A table of zeros (tests; the glue uses the zone's zeroed memory).
    pub fn new() -> Box<Counters> {
        // Every field is atomics of zero.
        Box::new(Counters {
            workers: std::array::from_fn(|_| WorkerSet {
                requests: std::array::from_fn(|_| AtomicU64::new(0)),
            }),
            logins_started: AtomicU64::new(0),
            logins_completed: AtomicU64::new(0),
            logins_failed: std::array::from_fn(|_| AtomicU64::new(0)),
            refreshes: AtomicU64::new(0),
            refreshes_failed: std::array::from_fn(|_| AtomicU64::new(0)),
            logouts_accepted: AtomicU64::new(0),
            logouts_refused: std::array::from_fn(|_| AtomicU64::new(0)),
            caches: std::array::from_fn(|_| CacheCounters {
                hits: AtomicU64::new(0),
                misses: AtomicU64::new(0),
                entries: AtomicU64::new(0),
            }),
        })
    }

    /// Counts one request decision: `worker` is nginx's worker number, `slot` from
    /// [`allow_slot`] or [`slot`].
    #[inline]
    pub fn request(&self, worker: usize, slot: usize) {
        if let Some(c) = self.workers[worker % WORKER_SETS].requests.get(slot) {
            c.fetch_add(1, Relaxed);
        }
    }

    pub fn event(&self, event: Event<'_>) {
        let c = match event {
            Event::LoginStarted => &self.logins_started,
            Event::LoginCompleted => &self.logins_completed,
            Event::LoginFailed(r) => &self.logins_failed[index_of(&LOGIN_FAILURES, r)],
            Event::Refreshed => &self.refreshes,
            Event::RefreshFailed(r) => &self.refreshes_failed[index_of(&REFRESH_FAILURES, r)],
            Event::LogoutAccepted => &self.logouts_accepted,
            Event::LogoutRefused(r) => &self.logouts_refused[index_of(&LOGOUT_REFUSALS, r)],
        };
        c.fetch_add(1, Relaxed);
    }

    /// The counts, summed over the worker sets.
    pub fn read(&self) -> Counts {
        let mut requests = [0u64; REQUEST_SLOTS];
        for set in &self.workers {
            for (sum, c) in requests.iter_mut().zip(&set.requests) {
                *sum = sum.wrapping_add(c.load(Relaxed));
            }
        }
        let load = |c: &[AtomicU64]| c.iter().map(|c| c.load(Relaxed)).collect::<Vec<_>>();
        Counts {
            requests,
            logins_started: self.logins_started.load(Relaxed),
            logins_completed: self.logins_completed.load(Relaxed),
            logins_failed: load(&self.logins_failed),
            refreshes: self.refreshes.load(Relaxed),
            refreshes_failed: load(&self.refreshes_failed),
            logouts_accepted: self.logouts_accepted.load(Relaxed),
            logouts_refused: load(&self.logouts_refused),
            caches: self
                .caches
                .iter()
                .map(|c| CacheCount {
                    hits: c.hits.load(Relaxed),
                    misses: c.misses.load(Relaxed),
                    // A sum of signed changes: never below zero once every worker's are in.
                    entries: (c.entries.load(Relaxed) as i64).max(0) as u64,
                })
                .collect(),
        }
    }
}

/// One cache's numbers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheCount {
    pub hits: u64,
    pub misses: u64,
    pub entries: u64,
}

/// The counters at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counts {
    pub requests: [u64; REQUEST_SLOTS],
    pub logins_started: u64,
    pub logins_completed: u64,
    pub logins_failed: Vec<u64>,
    pub refreshes: u64,
    pub refreshes_failed: Vec<u64>,
    pub logouts_accepted: u64,
    pub logouts_refused: Vec<u64>,
    pub caches: Vec<CacheCount>,
}

/// A provider as the answering worker's fetcher sees it (ages in seconds).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProviderStatus {
    /// The issuer (bounded: one per configured provider).
    pub provider: String,
    pub discovery_age: Option<u64>,
    pub jwks_age: Option<u64>,
    /// Why the last fetch failed; None when it succeeded.
    pub last_error: Option<String>,
}

/// Everything the status endpoint reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub counts: Counts,
    /// Revocations held in the shared zone.
    pub revocations: u64,
    pub providers: Vec<ProviderStatus>,
}

/// `Content-Type` of the Prometheus text exposition format.
pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Whether an `Accept` header asks for JSON (a media range `application/json`, any case);
/// Prometheus' own scrapers ask for text.
pub fn wants_json(accept: Option<&[u8]>) -> bool {
    accept.is_some_and(|a| {
        a.split(|&b| b == b',').any(|range| {
            let media = range.split(|&b| b == b';').next().unwrap_or(b"");
            media.trim_ascii().eq_ignore_ascii_case(b"application/json")
        })
    })
}

/// A label value escaped as the text format asks (`\\`, `\"`, `\n`).
fn label(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn labelled(out: &mut String, name: &str, labels: &[(&str, &str)], value: u64) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(k);
            out.push_str("=\"");
            label(out, v);
            out.push('"');
        }
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

/// The metric families, in order: `(name, type, help)`.
pub const FAMILIES: [(&str, &str, &str); 14] = [
    (
        "sso_requests_total",
        "counter",
        "Requests decided by the module in protected locations, by decision and $sso_reason.",
    ),
    (
        "sso_logins_started_total",
        "counter",
        "Logins sent to the provider by the start endpoint.",
    ),
    (
        "sso_logins_completed_total",
        "counter",
        "Logins completed by the callback endpoint (a session cookie was set).",
    ),
    (
        "sso_logins_failed_total",
        "counter",
        "Callbacks that did not complete a login, by reason.",
    ),
    (
        "sso_refreshes_total",
        "counter",
        "Sessions renewed at the provider's token endpoint.",
    ),
    (
        "sso_refreshes_failed_total",
        "counter",
        "Session refreshes that failed: refused (the session ended) or error (it stays).",
    ),
    (
        "sso_backchannel_logouts_accepted_total",
        "counter",
        "Back-channel logout tokens accepted (their sessions revoked).",
    ),
    (
        "sso_backchannel_logouts_refused_total",
        "counter",
        "Back-channel logout requests refused, by error.",
    ),
    (
        "sso_revocations",
        "gauge",
        "Revocations held in the shared zone.",
    ),
    (
        "sso_provider_discovery_age_seconds",
        "gauge",
        "Age of the last good discovery document, per provider (absent: none yet).",
    ),
    (
        "sso_provider_jwks_age_seconds",
        "gauge",
        "Age of the last good key set, per provider (absent: none yet).",
    ),
    (
        "sso_provider_fetch_failing",
        "gauge",
        "1 when the last fetch of the provider's discovery or keys failed, else 0.",
    ),
    (
        "sso_cache_hits_total",
        "counter",
        "Lookups answered by the workers' caches of verified tokens and opened sessions.",
    ),
    (
        "sso_cache_misses_total",
        "counter",
        "Lookups the workers' caches could not answer (the credential was verified anew).",
    ),
];
/// The cache entries gauge (after [`FAMILIES`]).
const CACHE_ENTRIES: (&str, &str, &str) = (
    "sso_cache_entries",
    "gauge",
    "Entries held by the workers' caches of verified tokens and opened sessions.",
);

impl Status {
    /// The Prometheus text exposition format 0.0.4.
    pub fn prometheus(&self) -> String {
        let c = &self.counts;
        let mut out = String::with_capacity(8192);
        let head = |out: &mut String, i: usize| {
            let (name, kind, help) = FAMILIES[i];
            family(out, name, kind, help);
            name
        };
        let name = head(&mut out, 0);
        for (i, (decision, reason)) in SLOTS.iter().enumerate() {
            labelled(
                &mut out,
                name,
                &[("decision", DECISIONS[*decision]), ("reason", reason)],
                c.requests[i],
            );
        }
        let one = |out: &mut String, i: usize, value: u64| {
            let name = head(out, i);
            labelled(out, name, &[], value);
        };
        let by_reason = |out: &mut String, i: usize, list: &[&str], values: &[u64]| {
            let name = head(out, i);
            for (r, v) in list.iter().zip(values) {
                labelled(out, name, &[("reason", r)], *v);
            }
        };
        one(&mut out, 1, c.logins_started);
        one(&mut out, 2, c.logins_completed);
        by_reason(&mut out, 3, &LOGIN_FAILURES, &c.logins_failed);
        one(&mut out, 4, c.refreshes);
        by_reason(&mut out, 5, &REFRESH_FAILURES, &c.refreshes_failed);
        one(&mut out, 6, c.logouts_accepted);
        by_reason(&mut out, 7, &LOGOUT_REFUSALS, &c.logouts_refused);
        one(&mut out, 8, self.revocations);
        let ages: [(usize, fn(&ProviderStatus) -> Option<u64>); 2] =
            [(9, |p| p.discovery_age), (10, |p| p.jwks_age)];
        for (i, age) in ages {
            let name = head(&mut out, i);
            for p in &self.providers {
                if let Some(v) = age(p) {
                    labelled(&mut out, name, &[("provider", &p.provider)], v);
                }
            }
        }
        let name = head(&mut out, 11);
        for p in &self.providers {
            let failing = u64::from(p.last_error.is_some());
            labelled(&mut out, name, &[("provider", &p.provider)], failing);
        }
        let fields: [(usize, fn(&CacheCount) -> u64); 2] = [(12, |k| k.hits), (13, |k| k.misses)];
        for (i, field) in fields {
            let name = head(&mut out, i);
            for (cache, k) in CACHES.iter().zip(&c.caches) {
                labelled(&mut out, name, &[("cache", cache)], field(k));
            }
        }
        family(&mut out, CACHE_ENTRIES.0, CACHE_ENTRIES.1, CACHE_ENTRIES.2);
        for (cache, k) in CACHES.iter().zip(&c.caches) {
            labelled(&mut out, CACHE_ENTRIES.0, &[("cache", cache)], k.entries);
        }
        out
    }

    /// The same numbers as JSON: `{"requests": [{"decision", "reason", "count"}...], ...}`,
    /// the provider's last error as text.
    pub fn json(&self) -> String {
        use serde_json::{json, Map, Value};
        let c = &self.counts;
        let by = |list: &[&str], values: &[u64]| -> Value {
            Value::Object(
                list.iter()
                    .zip(values)
                    .map(|(k, v)| ((*k).to_owned(), json!(v)))
                    .collect::<Map<_, _>>(),
            )
        };
        let requests: Vec<Value> = SLOTS
            .iter()
            .zip(&c.requests)
            .map(|((d, r), v)| json!({"decision": DECISIONS[*d], "reason": r, "count": v}))
            .collect();
        let caches: Map<String, Value> = CACHES
            .iter()
            .zip(&c.caches)
            .map(|(name, k)| {
                (
                    (*name).to_owned(),
                    json!({"hits": k.hits, "misses": k.misses, "entries": k.entries}),
                )
            })
            .collect();
        let providers: Vec<Value> = self
            .providers
            .iter()
            .map(|p| {
                json!({
                    "provider": p.provider,
                    "discovery_age_seconds": p.discovery_age,
                    "jwks_age_seconds": p.jwks_age,
                    "last_error": p.last_error,
                })
            })
            .collect();
        json!({
            "requests": requests,
            "logins": {
                "started": c.logins_started,
                "completed": c.logins_completed,
                "failed": by(&LOGIN_FAILURES, &c.logins_failed),
            },
            "refreshes": {
                "done": c.refreshes,
                "failed": by(&REFRESH_FAILURES, &c.refreshes_failed),
            },
            "backchannel_logouts": {
                "accepted": c.logouts_accepted,
                "refused": by(&LOGOUT_REFUSALS, &c.logouts_refused),
            },
            "revocations": self.revocations,
            "providers": providers,
            "caches": caches,
        })
        .to_string()
    }
}

#[cfg(test)]
mod tests;

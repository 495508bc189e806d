//! The identity provider's discovery document and signing keys, per provider, per worker
//! (README "Directives" → "sso_issuer").
//!
//! Lifecycle:
//! - configuration time (`nginx -t` included): the directive code calls [`register`] with a
//!   [`ProviderConfig`]; equal configurations share one [`Provider`]. Nothing is fetched: the
//!   snapshot is empty, so bearer tokens that need the provider's keys are refused (fail
//!   closed) and `nginx -t` never waits for the provider;
//! - worker start (`init_process`): one background thread per provider of the current cycle
//!   fetches `<issuer>/.well-known/openid-configuration` (on the `sso_backchannel_url` origin
//!   with the issuer's `Host` when one is set), then `jwks_uri`, and publishes a [`Snapshot`];
//! - it refreshes every [`REFRESH`]; after a failure it retries with a backoff from 1 s to
//!   [`MAX_BACKOFF`], keeping the last good discovery and keys;
//! - [`Provider::request_refetch`] (a token named an unknown `kid`) wakes the thread at most
//!   once per [`REFETCH_INTERVAL`], shared by all requests of the worker: a kid still unknown
//!   after a re-fetch stays refused for the rest of the interval (the negative cache);
//!   [`Provider::nudge`] (a login while discovery is missing) has its own budget of the
//!   same size, so it never delays the re-fetch for a key the provider just rotated in;
//! - worker exit (`exit_process`): the threads are told to stop.
//!
//! Readers on the event loop ([`Provider::snapshot`]) take an uncontended read lock and clone
//! an `Arc`; they never wait for the network. The threads never touch nginx: their log lines
//! travel to the event loop through [`wake::Poster`] and are written there.
//!
//! Keys published here are the provider's JWKS only, never the client secret: whether HS256
//! tokens may be verified with the secret is `sso_core::jwks::verification_keys`' decision.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use ngx::ffi::{ngx_cycle, ngx_cycle_t, ngx_uint_t, NGX_LOG_ALERT, NGX_LOG_INFO, NGX_LOG_WARN};
use ngx::ngx_log_error;
use parking_lot::{Condvar, Mutex, MutexGuard, RwLock};
use sso_core::flow::{
    discovery_url, parse_discovery, rewrite_to_backchannel, BackchannelOrigin, Discovery,
};
use sso_core::http_client::{HttpClient, HttpError, Options, Trust};
use sso_core::jwks::{JwksError, KeySet};
use sso_core::url::{is_loopback_host, HttpUrl};

use crate::net::wake;

/// Time between two refreshes of a healthy provider.
pub const REFRESH: Duration = Duration::from_secs(300);
/// Longest wait between two attempts while fetches fail.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// At most one re-fetch for an unknown `kid` per this interval.
pub const REFETCH_INTERVAL: Duration = Duration::from_secs(60);
/// The same failure is logged again at most this often (a new failure at once).
const REPEAT_LOG: Duration = Duration::from_secs(600);

/// What identifies a provider's fetcher. Equal configurations share one [`Provider`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderConfig {
    /// `sso_issuer`, exactly as configured (the discovery `issuer` must equal it).
    pub issuer: String,
    /// `sso_backchannel_url`: server-to-server calls go there, with the issuer's `Host`.
    pub backchannel: Option<BackchannelOrigin>,
    /// `sso_trusted_certificate` (a CA file) or the system store.
    pub trust: Trust,
}

impl ProviderConfig {
    /// The warning logged at start (README "sso_issuer") when a non-loopback issuer is plain http
    /// (`None` otherwise). For the directive code to log at configuration time.
    pub fn plain_http_warning(&self) -> Option<String> {
        let url = HttpUrl::parse(&self.issuer).filter(|u| !u.https)?;
        let loopback = url
            .host_port()
            .is_some_and(|(host, _)| is_loopback_host(host));
        (!loopback).then(|| {
            format!(
                "sso_issuer \"{}\" is plain http: tokens and the client secret cross the \
                 network unencrypted",
                self.issuer
            )
        })
    }
}

/// A server-to-server call target: where to connect, and the `Host` to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerCall {
    pub url: String,
    /// The public authority, when the call goes to the backchannel origin.
    pub host: Option<String>,
}

/// What is known about a provider right now. Immutable; replaced as a whole.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// The discovery document with its *public* URLs (what the browser is sent to:
    /// `authorization_endpoint`, `end_session_endpoint`). For server-to-server calls
    /// (`token_endpoint`, `userinfo_endpoint`) use [`Provider::server_call`].
    pub discovery: Option<Arc<Discovery>>,
    /// The provider's JWKS keys (never the client secret). `Some(empty set)` when the
    /// provider publishes an empty JWKS (authentik without a signing key).
    pub keys: Option<Arc<KeySet>>,
    /// Incremented whenever `discovery` or `keys` change.
    pub generation: u64,
    /// Why the last attempt failed (`None` after a success). Safe to log.
    pub last_error: Option<Arc<str>>,
    /// When discovery and keys were last fetched successfully.
    pub fetched_at: Option<Instant>,
    /// When the discovery document was last fetched successfully (the status endpoint).
    pub discovery_at: Option<Instant>,
}

/// Whether [`Provider::request_refetch`] woke the fetcher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refetch {
    Requested,
    /// A re-fetch happened or was requested less than [`REFETCH_INTERVAL`] ago.
    RateLimited,
    /// No fetcher runs (configuration time, or the worker is exiting).
    NotRunning,
}

struct Control {
    refetch: bool,
    shutdown: bool,
    /// Completed attempts (success or failure), for [`Provider::refetch_and_wait`].
    attempts: u64,
}

/// One provider's fetcher state, shared by the locations configured with it.
pub struct Provider {
    config: ProviderConfig,
    snapshot: RwLock<Arc<Snapshot>>,
    control: Mutex<Control>,
    /// Wakes the fetcher (refetch, shutdown).
    wake_fetcher: Condvar,
    /// Signals a completed attempt.
    attempted: Condvar,
    /// `epoch`-relative ms of the last re-fetch request for an unknown `kid`; `u64::MAX`:
    /// never.
    last_refetch_ms: AtomicU64,
    /// The same for [`Provider::nudge`] (a request found no discovery yet): its own budget,
    /// so a login page hit while the provider loads does not use up the unknown-`kid` one.
    last_nudge_ms: AtomicU64,
    epoch: Instant,
    running: AtomicBool,
    client: Mutex<Option<Arc<HttpClient>>>,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Provider {
    fn new(config: ProviderConfig) -> Provider {
        Provider {
            config,
            snapshot: RwLock::new(Arc::new(Snapshot::default())),
            control: Mutex::new(Control {
                refetch: false,
                shutdown: false,
                attempts: 0,
            }),
            wake_fetcher: Condvar::new(),
            attempted: Condvar::new(),
            last_refetch_ms: AtomicU64::new(u64::MAX),
            last_nudge_ms: AtomicU64::new(u64::MAX),
            epoch: Instant::now(),
            running: AtomicBool::new(false),
            client: Mutex::new(None),
        }
    }

    pub fn config(&self) -> &ProviderConfig {
        &self.config
    }

    /// The current discovery and keys. Cheap (read lock + `Arc` clone); never blocks on the
    /// network. Call from anywhere.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.read().clone()
    }

    /// Where to send a server-to-server call for a public provider URL (from discovery or
    /// the issuer): moved onto `sso_backchannel_url` with the public `Host` when one is
    /// configured, unchanged otherwise. `None` for a URL that is not absolute http(s).
    pub fn server_call(&self, public_url: &str) -> Option<ServerCall> {
        match &self.config.backchannel {
            Some(origin) => {
                let r = rewrite_to_backchannel(public_url, origin)?;
                Some(ServerCall {
                    url: r.url,
                    host: Some(r.host),
                })
            }
            None => Some(ServerCall {
                url: public_url.to_owned(),
                host: None,
            }),
        }
    }

    /// The HTTP client for this provider's trust settings, built on first use. Building it
    /// reads the trust store from disk: call from a background thread (e.g. in the `work`
    /// closure of [`wake::spawn`]), not on the event loop.
    pub fn http_client(&self) -> Result<Arc<HttpClient>, HttpError> {
        let mut slot = self.client.lock();
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let mut options = client_options();
        // Backchannel calls tell the provider the public scheme (README "When authentik is
        // a docker service").
        if self.config.backchannel.is_some() {
            let https = self.config.issuer.starts_with("https://");
            options.forwarded_proto = Some(if https { "https" } else { "http" }.to_owned());
        }
        let client = Arc::new(HttpClient::new(&self.config.trust, options)?);
        *slot = Some(client.clone());
        Ok(client)
    }

    /// A token named a `kid` the current keys lack: asks the fetcher to re-fetch now, at most
    /// once per [`REFETCH_INTERVAL`] for the whole worker. Never blocks (the caller refuses
    /// the token now; a later request sees the new keys).
    pub fn request_refetch(&self) -> Refetch {
        self.wake_at_most_once_per_interval(&self.last_refetch_ms)
    }

    /// A request needed discovery that is not there yet (first load pending, or failing):
    /// wakes the fetcher now rather than at the end of its backoff, at most once per
    /// [`REFETCH_INTERVAL`]. Never blocks.
    pub fn nudge(&self) -> Refetch {
        self.wake_at_most_once_per_interval(&self.last_nudge_ms)
    }

    fn wake_at_most_once_per_interval(&self, last_ms: &AtomicU64) -> Refetch {
        if !self.running.load(Ordering::Acquire) {
            return Refetch::NotRunning;
        }
        let now = self.epoch.elapsed().as_millis() as u64;
        let last = last_ms.load(Ordering::Acquire);
        if last != u64::MAX && now.saturating_sub(last) < REFETCH_INTERVAL.as_millis() as u64 {
            return Refetch::RateLimited;
        }
        if last_ms
            .compare_exchange(last, now, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return Refetch::RateLimited;
        }
        let mut ctl = self.control.lock();
        ctl.refetch = true;
        drop(ctl);
        self.wake_fetcher.notify_all();
        Refetch::Requested
    }

    /// For background threads only (e.g. the callback's job when the ID token names an
    /// unknown `kid`): requests a re-fetch and waits up to `timeout` for the attempt to end,
    /// then returns the snapshot. Rate-limited like [`Provider::request_refetch`]; returns at
    /// once when rate-limited, when no fetcher runs, or when called on the event loop.
    pub fn refetch_and_wait(&self, timeout: Duration) -> Arc<Snapshot> {
        if wake::on_event_loop() {
            return self.snapshot();
        }
        let before = self.control.lock().attempts;
        if self.request_refetch() != Refetch::Requested {
            return self.snapshot();
        }
        let deadline = Instant::now() + timeout;
        let mut ctl = self.control.lock();
        while ctl.attempts == before && !ctl.shutdown {
            if self.attempted.wait_until(&mut ctl, deadline).timed_out() {
                break;
            }
        }
        drop(ctl);
        self.snapshot()
    }

    fn publish(&self, f: impl FnOnce(&Snapshot) -> Snapshot) -> Arc<Snapshot> {
        let mut slot = self.snapshot.write();
        let next = Arc::new(f(&slot));
        *slot = next.clone();
        next
    }
}

fn client_options() -> Options {
    Options {
        user_agent: format!("ngx_http_sso_module/{}", crate::VERSION),
        ..Options::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Registry (configuration time, master process or `nginx -t`)
// ---------------------------------------------------------------------------------------------

struct Entry {
    /// The cycle being configured when registered (`ngx_cycle_t *` as an integer).
    cycle: usize,
    provider: Weak<Provider>,
}

static REGISTRY: Mutex<Vec<Entry>> = Mutex::new(Vec::new());

fn registry() -> MutexGuard<'static, Vec<Entry>> {
    REGISTRY.lock()
}

/// The provider for `config` in the configuration of `cycle` (`cf->cycle` of a directive
/// handler or merge function), shared with every location registered with an equal
/// configuration. Keep the returned `Arc` in the location configuration: a provider lives
/// as long as some configuration holds it, and its fetcher runs in the workers of that
/// cycle. Fetches nothing (safe for `nginx -t`).
pub fn register(cycle: *mut ngx_cycle_t, config: ProviderConfig) -> Arc<Provider> {
    let cycle = cycle as usize;
    let mut reg = registry();
    // Forget providers nobody holds any more (configurations of old cycles).
    reg.retain(|e| e.provider.strong_count() > 0);
    for e in reg.iter() {
        if e.cycle == cycle {
            if let Some(p) = e.provider.upgrade() {
                if p.config == config {
                    return p;
                }
            }
        }
    }
    let provider = Arc::new(Provider::new(config));
    reg.push(Entry {
        cycle,
        provider: Arc::downgrade(&provider),
    });
    provider
}

/// Providers whose fetcher this worker started, to stop them at exit.
static STARTED: Mutex<Vec<Arc<Provider>>> = Mutex::new(Vec::new());

/// Starts one fetcher thread per provider of the current cycle. From the module's
/// `init_process` (workers and single-process mode only), after `wake::init_process`.
///
/// # Safety
/// On nginx's thread, with a valid cycle.
pub unsafe fn init_process(cycle: *mut ngx_cycle_t) {
    // SAFETY: the caller guarantees what the `# Safety` section above asks.
    unsafe {
        let log = (*cycle).log;
        let providers: Vec<Arc<Provider>> = registry()
            .iter()
            .filter(|e| e.cycle == cycle as usize)
            .filter_map(|e| e.provider.upgrade())
            .collect();
        if providers.is_empty() {
            return;
        }
        let Some(poster) = wake::poster() else {
            // wake::init_process did not run (a helper process) or failed (it logged why).
            return;
        };
        let mut started = STARTED.lock();
        for provider in providers {
            if provider.running.swap(true, Ordering::AcqRel) {
                continue;
            }
            let p = provider.clone();
            let poster = poster.clone();
            let spawned = std::thread::Builder::new()
                .name("sso-keys".into())
                .spawn(move || {
                    crate::net::wake::block_signals();
                    fetcher(p, poster)
                });
            match spawned {
                Ok(_) => started.push(provider),
                Err(e) => {
                    provider.running.store(false, Ordering::Release);
                    ngx_log_error!(
                        NGX_LOG_ALERT,
                        log,
                        "sso: provider \"{}\": cannot start the key fetcher thread: \"{}\"; \
                     tokens needing its keys are refused",
                        provider.config.issuer,
                        e
                    );
                }
            }
        }
    }
}

/// The providers whose fetcher this worker runs (the status endpoint).
pub fn started() -> Vec<Arc<Provider>> {
    STARTED.lock().clone()
}

/// Tells the fetchers of this worker to stop (they are not joined: one may be inside a
/// provider call, bounded by the client's timeouts). From the module's `exit_process`.
pub fn exit_process() {
    let started = std::mem::take(&mut *STARTED.lock());
    for p in started {
        p.running.store(false, Ordering::Release);
        p.control.lock().shutdown = true;
        p.wake_fetcher.notify_all();
        p.attempted.notify_all();
    }
}

// ---------------------------------------------------------------------------------------------
// The fetcher thread
// ---------------------------------------------------------------------------------------------

/// Logs `msg` through the cycle log, on the event loop.
fn log_later(poster: &wake::Poster, level: u32, msg: String) {
    poster.post(move || {
        // SAFETY: posted closures run on nginx's thread, where ngx_cycle is valid.
        unsafe {
            let log = (*ngx_cycle).log;
            ngx_log_error!(level as ngx_uint_t, log, "{}", msg);
        }
    });
}

/// A failed attempt: which document and why.
struct Failure {
    what: &'static str,
    why: String,
}

fn fetch(
    provider: &Provider,
    client: &HttpClient,
    public_url: &str,
    what: &'static str,
) -> Result<Vec<u8>, Failure> {
    let fail = |why: String| Failure { what, why };
    let call = provider
        .server_call(public_url)
        .ok_or_else(|| fail(format!("\"{public_url}\" is not an absolute http(s) url")))?;
    let resp = client
        .get(&call.url, call.host.as_deref())
        .map_err(|e| fail(format!("\"{}\": {e}", call.url)))?;
    if let Some(location) = resp.redirect_location() {
        return Err(fail(format!(
            "\"{}\" answered {} redirecting to \"{}\" (redirects are not followed)",
            call.url,
            resp.status,
            location.escape_debug()
        )));
    }
    if !resp.is_success() {
        return Err(fail(format!(
            "\"{}\" answered http {}",
            call.url, resp.status
        )));
    }
    Ok(resp.body)
}

/// A failed attempt, with the discovery document when only the JWKS part failed.
type Failed = Box<(Option<Discovery>, Failure)>;

fn failed(discovery: Option<Discovery>, what: &'static str, why: String) -> Failed {
    Box::new((discovery, Failure { what, why }))
}

fn attempt(provider: &Provider, client: &HttpClient) -> Result<(Discovery, KeySet), Failed> {
    let issuer = &provider.config.issuer;
    let body = fetch(provider, client, &discovery_url(issuer), "discovery")
        .map_err(|f| Box::new((None, f)))?;
    let discovery =
        parse_discovery(&body, issuer).map_err(|e| failed(None, "discovery", e.to_string()))?;
    let Some(jwks_uri) = discovery.jwks_uri.clone() else {
        let why = "the discovery document has no jwks_uri".to_owned();
        return Err(failed(Some(discovery), "jwks", why));
    };
    let body = match fetch(provider, client, &jwks_uri, "jwks") {
        Ok(b) => b,
        Err(f) => return Err(Box::new((Some(discovery), f))),
    };
    let keys = match KeySet::from_jwks(&body) {
        Ok(k) => k,
        // An empty set is a valid answer (authentik without a signing key): publish it.
        Err(JwksError::NoUsableKeys { skipped }) if skipped.is_empty() => KeySet::new(),
        Err(e) => {
            let why = format!("\"{jwks_uri}\": {e}");
            return Err(failed(Some(discovery), "jwks", why));
        }
    };
    Ok((discovery, keys))
}

fn keys_changed(old: &Option<Arc<KeySet>>, new: &KeySet) -> bool {
    old.as_ref()
        .map_or(true, |o| o.fingerprint() != new.fingerprint())
}

fn fetcher(provider: Arc<Provider>, poster: wake::Poster) {
    let issuer = provider.config.issuer.clone();
    let mut backoff = Duration::from_secs(1);
    let mut last_logged: Option<(String, Instant)> = None;
    loop {
        if provider.control.lock().shutdown {
            return;
        }
        let result = match provider.http_client() {
            Ok(client) => attempt(&provider, &client),
            Err(e) => Err(failed(None, "discovery", e.to_string())),
        };
        let wait = match result {
            Ok((discovery, keys)) => {
                backoff = Duration::from_secs(1);
                last_logged = None;
                let keys_new = keys_changed(&provider.snapshot().keys, &keys);
                let skipped = keys.skipped().to_vec();
                let count = keys.len();
                provider.publish(|old| {
                    let discovery_new = old.discovery.as_deref() != Some(&discovery);
                    Snapshot {
                        discovery: if discovery_new {
                            Some(Arc::new(discovery))
                        } else {
                            old.discovery.clone()
                        },
                        keys: if keys_new {
                            Some(Arc::new(keys))
                        } else {
                            old.keys.clone()
                        },
                        generation: old.generation + u64::from(keys_new || discovery_new),
                        last_error: None,
                        fetched_at: Some(Instant::now()),
                        discovery_at: Some(Instant::now()),
                    }
                });
                if keys_new {
                    let mut msg = format!(
                        "sso: provider \"{issuer}\" keys loaded: {count} signing key{}",
                        if count == 1 { "" } else { "s" }
                    );
                    if !skipped.is_empty() {
                        msg.push_str(&format!(
                            " ({} skipped: {})",
                            skipped.len(),
                            skipped.join("; ")
                        ));
                    }
                    log_later(&poster, NGX_LOG_INFO, msg);
                }
                REFRESH
            }
            Err(failed) => {
                let (discovery, failure) = *failed;
                let text = failure.why.clone();
                let discovery_at = discovery.as_ref().map(|_| Instant::now());
                provider.publish(|old| {
                    // A fresh discovery document is still worth keeping when only the JWKS
                    // failed; the keys stay the last good ones.
                    let (discovery, changed) = match discovery {
                        Some(d) if old.discovery.as_deref() != Some(&d) => {
                            (Some(Arc::new(d)), true)
                        }
                        _ => (old.discovery.clone(), false),
                    };
                    Snapshot {
                        discovery,
                        keys: old.keys.clone(),
                        generation: old.generation + u64::from(changed),
                        last_error: Some(Arc::from(format!("{}: {}", failure.what, text))),
                        fetched_at: old.fetched_at,
                        discovery_at: discovery_at.or(old.discovery_at),
                    }
                });
                let repeat = last_logged
                    .as_ref()
                    .is_some_and(|(t, at)| *t == text && at.elapsed() < REPEAT_LOG);
                if !repeat {
                    let kept = if provider.snapshot().keys.is_some() {
                        "; keeping the last good keys"
                    } else {
                        "; tokens needing its keys are refused until it succeeds"
                    };
                    log_later(
                        &poster,
                        NGX_LOG_WARN,
                        format!(
                            "sso: provider \"{issuer}\" {} failed: {text}{kept}",
                            failure.what
                        ),
                    );
                    last_logged = Some((text, Instant::now()));
                }
                let wait = backoff;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                wait
            }
        };

        // Wait for the next round, a re-fetch request or shutdown.
        let mut ctl = provider.control.lock();
        ctl.attempts += 1;
        provider.attempted.notify_all();
        let deadline = Instant::now() + wait;
        while !ctl.refetch && !ctl.shutdown {
            if provider
                .wake_fetcher
                .wait_until(&mut ctl, deadline)
                .timed_out()
            {
                break;
            }
        }
        ctl.refetch = false;
    }
}

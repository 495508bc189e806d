//! Many nodes through Redis (README "Session lifecycle" → "Many nodes"): `sso_redis URL`.
//!
//! Every nginx node keeps its revocations in its shared zone (`state/revocations.rs`); with
//! `sso_redis`, one worker per node also syncs that table with Redis, on a background
//! thread, so the request path never waits on Redis:
//!
//! - **One sync per node.** Every worker starts a thread at `init_process`, but only the
//!   worker holding the zone's Redis slot (`Root::redis_owner`: its pid and a heartbeat
//!   second) connects. The holder renews the heartbeat every [`TICK`]; a worker exiting
//!   (reload, stop) frees the slot, and a slot whose heartbeat is [`STALE_SECS`] old (the
//!   worker died) is taken over by the next worker that looks.
//! - **Out.** Every recorded revocation, by any worker, bumps the zone's generation and
//!   becomes the table's newest entry, so the syncing thread reads what changed since it
//!   last looked (`Revocations::newest(generation - seen)`, under the zone's lock) and
//!   writes each entry Redis does not have yet: `SET sso:rev:<kind>:<hex id> <entry> EX
//!   <seconds it still covers>` and `PUBLISH sso:revocations <entry>` (the entry is
//!   `sso_core::revocations::encode_one`, 34 bytes; kind `session` or `subject`).
//! - **In.** It subscribes to `sso:revocations` and applies what others publish to the zone
//!   (`revoke` under the zone's lock) as it arrives: within [`TICK`] of the PUBLISH.
//! - **(Re)connect.** After subscribing, it reads the current set (`SCAN MATCH sso:rev:*` +
//!   `MGET`) and applies it, then writes back every live local revocation Redis lacks: a
//!   node started later refuses what was revoked while it was away, and a Redis restarted
//!   empty gets back what any node remembers. Revocations made while Redis was down are
//!   written then too.
//! - What the thread knows Redis holds (read, received, written) is a map by id: an entry
//!   is written only when the zone holds more than Redis (a new id, a later expiry or a
//!   later `issued_through` after a merge), so what it applies from Redis is never echoed.
//! - **Down.** A failed connect or a broken connection is logged at `warn` once per outage,
//!   then retried with a backoff from [`BACKOFF_MIN`] to [`BACKOFF_MAX`]; the node keeps
//!   serving with its local revocations. A `PING` every [`PING_EVERY`] on both connections
//!   (commands and the subscription) notices a silent network loss. The reconnection is
//!   logged at `notice`.
//! - **Refresh flight.** A refresh job (on its pool thread) takes `SET sso:refresh:<id>
//!   <node> NX PX 60000` first ([`take_flight`], its own short-lived connection): another
//!   node's refresh of the same session is not repeated.
//! - **Stop.** At `exit_process` the thread is told to stop and waited for (every read has
//!   a timeout: [`TICK`] on the subscription, [`TIMEOUT`] on commands and connects), and
//!   the slot is freed.
//!
//! The thread takes the zone's lock itself (`state::with_root`: an atomic lock between
//! processes) and never touches nginx otherwise: log lines and the state file's flush
//! timer go through the worker's event loop ([`wake::Poster`]). The URL's password is never
//! logged (`RedisSpec::shown`).

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ngx::ffi::{
    ngx_cycle, ngx_cycle_t, ngx_http_conf_ctx_t, ngx_http_module, ngx_uint_t, NGX_LOG_ALERT,
    NGX_LOG_NOTICE, NGX_LOG_WARN,
};
use ngx::http::HttpModule;
use ngx::ngx_log_error;
use parking_lot::{Condvar, Mutex};
use redis::{Client, Connection, IntoConnectionInfo, RedisResult, TlsCertificates};
use sso_core::revocations::{decode_one, encode_one, Revocation, RevocationId, Revocations};

use crate::conf::redis::RedisSpec;
use crate::conf::LocConf;
use crate::net::wake;
use crate::state::{self, revocations::words, Root};

/// The prefix of the keys holding revocations: `sso:rev:session:<hex>`, `sso:rev:subject:<hex>`.
pub const KEY_PREFIX: &str = "sso:rev:";
/// The channel revocations are published on.
pub const CHANNEL: &str = "sso:revocations";
/// The subscription's read timeout: how often the thread looks at the zone and the stop flag.
pub const TICK: Duration = Duration::from_millis(100);
/// Connect and command timeout.
pub const TIMEOUT: Duration = Duration::from_secs(1);
/// First and longest wait between two connection attempts.
pub const BACKOFF_MIN: Duration = Duration::from_millis(100);
pub const BACKOFF_MAX: Duration = Duration::from_secs(10);
/// A `PING` on each connection (commands, subscription) this often.
pub const PING_EVERY: Duration = Duration::from_secs(5);
/// A slot whose heartbeat is older than this (seconds) is taken over.
pub const STALE_SECS: u32 = 5;
/// How often a worker not holding the slot looks at it.
const ELECTION_POLL: Duration = Duration::from_millis(500);
/// Entries per pipeline / MGET.
const BATCH: usize = 500;

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The key of `r`.
pub fn key_of(r: &Revocation) -> String {
    format!("{KEY_PREFIX}{}:{}", r.id.kind.name(), r.id.hex())
}

// ---- the slot ----------------------------------------------------------------------------

fn slot(pid: u32, now: u64) -> u64 {
    (pid as u64) << 32 | (now & 0xffff_ffff)
}

/// Takes or renews the slot for `pid`; false when another live worker holds it.
fn hold(root: &Root, pid: u32) -> bool {
    let now = unix_now();
    let cur = root.redis_owner.load(Ordering::Acquire);
    let (owner, beat) = ((cur >> 32) as u32, cur as u32);
    let mine = slot(pid, now);
    if owner == pid {
        if cur != mine {
            // Only the holder writes its own slot, except a takeover of a stale one.
            let _ =
                root.redis_owner
                    .compare_exchange(cur, mine, Ordering::AcqRel, Ordering::Acquire);
        }
        return root.redis_owner.load(Ordering::Acquire) >> 32 == pid as u64;
    }
    let stale = owner == 0 || (now as u32).wrapping_sub(beat) > STALE_SECS;
    stale
        && root
            .redis_owner
            .compare_exchange(cur, mine, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
}

fn release(root: &Root, pid: u32) {
    let cur = root.redis_owner.load(Ordering::Acquire);
    if cur >> 32 == pid as u64 {
        let _ = root
            .redis_owner
            .compare_exchange(cur, 0, Ordering::AcqRel, Ordering::Acquire);
    }
}

// ---- the zone ----------------------------------------------------------------------------

/// Records `entries` (from Redis) in the zone: how many were new or changed it, and the live
/// ones dropped to make room.
fn apply(entries: &[Revocation]) -> Option<(u64, usize)> {
    let now = unix_now();
    // SAFETY: a thread of a worker whose init_process ran (see `state::with_root`).
    unsafe {
        state::with_root(|root| {
            let table = Revocations::attach_or_format(words(root.revocations))?;
            let (mut recorded, mut evicted) = (0u64, 0usize);
            for r in entries {
                let done = table.revoke(*r, now);
                recorded += u64::from(done.recorded);
                evicted += usize::from(done.evicted.is_some());
            }
            root.generation.fetch_add(recorded, Ordering::Relaxed);
            Some((recorded, evicted))
        })
        .flatten()
    }
}

/// The zone's generation and the live entries the revocations since generation `seen` left
/// (all live entries when `seen` is None).
fn changed_since(seen: Option<u64>) -> Option<(u64, Vec<Revocation>)> {
    let now = unix_now();
    // SAFETY: as in `apply`.
    unsafe {
        state::with_root(|root| {
            let generation = root.generation.load(Ordering::Relaxed);
            let n = seen.map_or(usize::MAX, |s| {
                usize::try_from(generation.wrapping_sub(s)).unwrap_or(usize::MAX)
            });
            let table = Revocations::attach(words(root.revocations))?;
            Some((generation, table.newest(n, now)))
        })
        .flatten()
    }
}

// ---- what Redis holds --------------------------------------------------------------------

/// What the thread knows Redis holds, by id: (issued_through, expires).
#[derive(Default)]
struct Known(HashMap<RevocationId, (u64, u64)>);

impl Known {
    /// Whether Redis already holds `r` or more.
    fn covers(&self, r: &Revocation) -> bool {
        self.0
            .get(&r.id)
            .is_some_and(|&(through, expires)| through >= r.issued_through && expires >= r.expires)
    }

    fn note(&mut self, r: &Revocation) {
        let e = self.0.entry(r.id).or_insert((0, 0));
        e.0 = e.0.max(r.issued_through);
        e.1 = e.1.max(r.expires);
    }

    fn prune(&mut self, now: u64) {
        self.0.retain(|_, &mut (_, expires)| expires > now);
    }
}

/// Every live revocation Redis holds.
fn read_all(con: &mut Connection) -> RedisResult<Vec<Revocation>> {
    let now = unix_now();
    let pattern = format!("{KEY_PREFIX}*");
    let mut out = Vec::new();
    let mut cursor: u64 = 0;
    loop {
        let (next, keys): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(BATCH)
            .query(con)?;
        for chunk in keys.chunks(BATCH) {
            let values: Vec<Option<Vec<u8>>> = redis::cmd("MGET").arg(chunk).query(con)?;
            out.extend(
                values
                    .iter()
                    .flatten()
                    .filter_map(|v| decode_one(v)?.bounded(now)),
            );
        }
        cursor = next;
        if cursor == 0 {
            return Ok(out);
        }
    }
}

/// Writes and publishes `entries`; how many were written.
fn write(con: &mut Connection, entries: &[Revocation]) -> RedisResult<usize> {
    let now = unix_now();
    let mut written = 0;
    for chunk in entries.chunks(BATCH) {
        let mut pipe = redis::pipe();
        for r in chunk.iter().filter_map(|r| r.bounded(now)) {
            let value = encode_one(&r);
            pipe.cmd("SET")
                .arg(key_of(&r))
                .arg(&value)
                .arg("EX")
                .arg(r.expires - now)
                .ignore();
            pipe.cmd("PUBLISH").arg(CHANNEL).arg(&value).ignore();
            written += 1;
        }
        pipe.query::<()>(con)?;
    }
    Ok(written)
}

fn client(spec: &RedisSpec) -> RedisResult<Client> {
    let info = spec.url().into_connection_info()?;
    match &spec.trusted_certificate {
        Some(pem) => Client::build_with_tls(
            info,
            TlsCertificates {
                client_tls: None,
                root_cert: Some(pem.clone()),
            },
        ),
        None => Client::open(info),
    }
}

// ---- the refresh flight across nodes -----------------------------------------------------

/// The prefix of the refresh flights' keys: `sso:refresh:<flight_id>`.
pub const FLIGHT_PREFIX: &str = "sso:refresh:";
/// How long a flight is held, and how long its outcome is remembered (milliseconds).
const FLIGHT_HOLD_MS: u64 = 60_000;
const FLIGHT_DONE_MS: u64 = 120_000;
/// The flight's connect and command timeouts (each): a slow Redis holds a request about
/// half a second at most, plus one command for the outcome.
const FLIGHT_TIMEOUT: Duration = Duration::from_millis(250);

/// This worker's `sso_redis` and node id (`<hostname>:<pid>`, set at `init_process`), for
/// the refresh jobs.
static FLIGHT_SPEC: Mutex<Option<(Arc<RedisSpec>, String)>> = Mutex::new(None);
/// The flights found Redis unreachable and the outage was logged.
static FLIGHT_DOWN: AtomicBool = AtomicBool::new(false);

/// What [`take_flight`] found.
pub enum Flight {
    /// This node refreshes; its connection, to record the outcome on ([`land_flight`]).
    /// None: no `sso_redis`, or Redis unreachable (refresh as one node).
    Won(Option<Connection>),
    /// Another node refreshes or refreshed this session: do not call the provider.
    Lost,
}

/// Logs a flight outage once (`warn`) and its end (`notice`), as the sync does.
fn flight_reached(spec: &RedisSpec, err: Option<&redis::RedisError>) {
    let was_down = FLIGHT_DOWN.swap(err.is_some(), Ordering::AcqRel);
    let msg = match err {
        Some(e) if !was_down => format!(
            "sso: redis \"{}\" is unreachable: {}; sessions are refreshed without the \
             cross-node flight until it is back",
            spec.shown,
            e.to_string().escape_debug()
        ),
        None if was_down => format!(
            "sso: redis \"{}\" reachable again for refresh flights",
            spec.shown
        ),
        _ => return,
    };
    let level = if err.is_some() {
        NGX_LOG_WARN
    } else {
        NGX_LOG_NOTICE
    };
    if let Some(poster) = FLIGHT_POSTER.lock().clone() {
        poster.post(move || {
            // SAFETY: posted closures run on nginx's thread, where ngx_cycle is valid.
            unsafe {
                let log = (*ngx_cycle).log;
                ngx_log_error!(level as ngx_uint_t, log, "{}", msg);
            }
        });
    }
}

/// The worker's poster, for the flights' log lines (they run on pool threads).
static FLIGHT_POSTER: Mutex<Option<wake::Poster>> = Mutex::new(None);

/// Takes the cross-node flight of the refresh `id` (`sso_core::flow::refresh::flight_id`)
/// on a short-lived connection: `SET sso:refresh:<id> <node> NX PX 60000`. On a background
/// thread only.
pub fn take_flight(id: &str) -> Flight {
    let Some((spec, node)) = FLIGHT_SPEC.lock().clone() else {
        return Flight::Won(None);
    };
    let got = (|| {
        let mut con = client(&spec)?.get_connection_with_timeout(FLIGHT_TIMEOUT)?;
        con.set_read_timeout(Some(FLIGHT_TIMEOUT))?;
        con.set_write_timeout(Some(FLIGHT_TIMEOUT))?;
        let set: Option<String> = redis::cmd("SET")
            .arg(format!("{FLIGHT_PREFIX}{id}"))
            .arg(&node)
            .arg("NX")
            .arg("PX")
            .arg(FLIGHT_HOLD_MS)
            .query(&mut con)?;
        Ok((set, con))
    })();
    flight_reached(&spec, got.as_ref().err());
    match got {
        Ok((None, _)) => Flight::Lost,
        Ok((Some(_), con)) => Flight::Won(Some(con)),
        Err(_) => Flight::Won(None),
    }
}

/// Records how the flight this node won ended: `renewed` or `refused` (remembered 2 min),
/// or, for None (failed, the session stays), deletes it so that any node retries later.
pub fn land_flight(con: Option<Connection>, id: &str, outcome: Option<&str>) {
    let (Some(mut con), Some((spec, _))) = (con, FLIGHT_SPEC.lock().clone()) else {
        return;
    };
    let key = format!("{FLIGHT_PREFIX}{id}");
    let got = match outcome {
        Some(v) => redis::cmd("SET")
            .arg(&key)
            .arg(v)
            .arg("PX")
            .arg(FLIGHT_DONE_MS)
            .query::<()>(&mut con),
        None => redis::cmd("DEL").arg(&key).query::<()>(&mut con),
    };
    flight_reached(&spec, got.as_ref().err());
}

// ---- the thread --------------------------------------------------------------------------

/// Tells the thread to stop, and says when it has.
#[derive(Default)]
struct Control {
    stop: Mutex<bool>,
    wake: Condvar,
    done: Mutex<bool>,
    finished: Condvar,
}

impl Control {
    fn stopped(&self) -> bool {
        *self.stop.lock()
    }

    /// Sleeps `d` unless told to stop first; true when told to stop.
    fn sleep(&self, d: Duration) -> bool {
        let mut stop = self.stop.lock();
        if !*stop {
            self.wake.wait_for(&mut stop, d);
        }
        *stop
    }
}

/// This worker's thread.
static RUNNING: Mutex<Option<Arc<Control>>> = Mutex::new(None);

struct Syncer {
    spec: Arc<RedisSpec>,
    poster: wake::Poster,
    control: Arc<Control>,
    pid: u32,
    /// An outage was logged and no connection succeeded since.
    down: bool,
}

impl Syncer {
    fn log(&self, level: u32, msg: String) {
        self.poster.post(move || {
            // SAFETY: posted closures run on nginx's thread, where ngx_cycle is valid.
            unsafe {
                let log = (*ngx_cycle).log;
                ngx_log_error!(level as ngx_uint_t, log, "{}", msg);
            }
        });
    }

    /// The state file records what was applied (its timer lives on the event loop).
    fn flush_later(&self) {
        self.poster.post(state::revocations::schedule_flush);
    }

    fn client(&self) -> RedisResult<Client> {
        client(&self.spec)
    }

    fn applied(&self, got: Option<(u64, usize)>) {
        let Some((recorded, evicted)) = got else {
            return;
        };
        if recorded > 0 {
            self.flush_later();
        }
        if evicted > 0 {
            self.log(
                NGX_LOG_WARN,
                format!(
                    "sso: shared zone \"{}\" is full: {} live revocations were dropped to make \
                     room for those of redis \"{}\"; make the zone larger",
                    state::zone_name(),
                    evicted,
                    self.spec.shown
                ),
            );
        }
    }

    /// One connection, until it breaks (Err), the worker stops or loses the slot (Ok).
    fn session(&mut self, root: &Root) -> RedisResult<()> {
        let client = self.client()?;
        let mut sub = client.get_connection_with_timeout(TIMEOUT)?;
        sub.set_write_timeout(Some(TIMEOUT))?;
        let mut cmd = client.get_connection_with_timeout(TIMEOUT)?;
        cmd.set_read_timeout(Some(TIMEOUT))?;
        cmd.set_write_timeout(Some(TIMEOUT))?;
        let mut pubsub = sub.as_pubsub();
        pubsub.set_read_timeout(Some(TIMEOUT))?;
        pubsub.subscribe(CHANNEL)?;
        pubsub.set_read_timeout(Some(TICK))?;

        // Subscribed first: nothing published from now on is missed.
        let mut known = Known::default();
        let remote = read_all(&mut cmd)?;
        remote.iter().for_each(|r| known.note(r));
        self.applied(apply(&remote));
        let Some((mut seen, local)) = changed_since(None) else {
            return Ok(());
        };
        let missing: Vec<Revocation> = local.into_iter().filter(|r| !known.covers(r)).collect();
        let written = write(&mut cmd, &missing)?;
        missing.iter().for_each(|r| known.note(r));
        self.log(
            NGX_LOG_NOTICE,
            format!(
                "sso: redis \"{}\" {}: {} revocations read, {} written back",
                self.spec.shown,
                if self.down {
                    "reachable again"
                } else {
                    "connected"
                },
                remote.len(),
                written
            ),
        );
        self.down = false;

        let mut last_ping = Instant::now();
        let mut last_prune = Instant::now();
        loop {
            if self.control.stopped() || !hold(root, self.pid) {
                return Ok(());
            }
            // In: what others published, as it arrives (at most a tick of waiting).
            let mut incoming = Vec::new();
            for _ in 0..BATCH {
                match pubsub.get_message() {
                    Ok(msg) => {
                        let r = decode_one(msg.get_payload_bytes());
                        if let Some(r) = r.and_then(|r| r.bounded(unix_now())) {
                            if !known.covers(&r) {
                                known.note(&r);
                                incoming.push(r);
                            }
                        }
                    }
                    Err(e) if e.is_timeout() => break,
                    Err(e) => return Err(e),
                }
            }
            if !incoming.is_empty() {
                self.applied(apply(&incoming));
            }
            // Out: what this node's workers revoked since the last look.
            if root.generation.load(Ordering::Relaxed) != seen {
                if let Some((generation, changed)) = changed_since(Some(seen)) {
                    let fresh: Vec<Revocation> =
                        changed.into_iter().filter(|r| !known.covers(r)).collect();
                    write(&mut cmd, &fresh)?;
                    fresh.iter().for_each(|r| known.note(r));
                    seen = generation;
                }
            }
            if last_ping.elapsed() >= PING_EVERY {
                redis::cmd("PING").query::<()>(&mut cmd)?;
                // The subscription too: one dropped silently (a NAT or a load balancer
                // forgetting an idle connection) would otherwise only ever time out, like a
                // quiet channel. Messages read meanwhile are kept for `get_message`.
                pubsub.set_read_timeout(Some(TIMEOUT))?;
                pubsub.ping::<redis::Value>()?;
                pubsub.set_read_timeout(Some(TICK))?;
                last_ping = Instant::now();
            }
            if last_prune.elapsed() >= Duration::from_secs(60) {
                known.prune(unix_now());
                last_prune = Instant::now();
            }
        }
    }

    fn run(mut self) {
        let mut backoff = BACKOFF_MIN;
        while !self.control.stopped() {
            let Some(root) = state::root() else {
                if self.control.sleep(ELECTION_POLL) {
                    break;
                }
                continue;
            };
            if !hold(root, self.pid) {
                if self.control.sleep(ELECTION_POLL) {
                    break;
                }
                continue;
            }
            let result = catch_unwind(AssertUnwindSafe(|| self.session(root)));
            let failure = match result {
                Ok(Ok(())) => {
                    // Stopped, or the slot went to another worker: look again later.
                    backoff = BACKOFF_MIN;
                    if self.control.sleep(ELECTION_POLL) {
                        break;
                    }
                    continue;
                }
                Ok(Err(e)) => e.to_string(),
                Err(_) => {
                    self.log(
                        NGX_LOG_ALERT,
                        format!(
                            "sso: redis \"{}\": the sync failed internally, retrying",
                            self.spec.shown
                        ),
                    );
                    "internal error".to_owned()
                }
            };
            if !self.down {
                self.down = true;
                self.log(
                    NGX_LOG_WARN,
                    format!(
                        "sso: redis \"{}\" is unreachable: {}; revocations stay local to this \
                         node until it is back, reconnecting",
                        self.spec.shown,
                        failure.escape_debug()
                    ),
                );
            }
            // The backoff, holding the slot meanwhile.
            let until = Instant::now() + backoff;
            while Instant::now() < until {
                if self
                    .control
                    .sleep(ELECTION_POLL.min(until - Instant::now()))
                {
                    break;
                }
                hold(root, self.pid);
            }
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
        if let Some(root) = state::root() {
            release(root, self.pid);
        }
    }
}

/// The `http` level configuration of `cycle`, where `sso_redis` lives.
///
/// # Safety
/// On nginx's thread with the process's cycle.
unsafe fn http_conf(cycle: *mut ngx_cycle_t) -> Option<&'static LocConf> {
    // SAFETY: the caller guarantees what the `# Safety` section above asks; conf_ctx holds
    // one entry per core module, the http module's is its ngx_http_conf_ctx_t (or NULL
    // without an http block), whose loc_conf holds our LocConf at our ctx_index.
    unsafe {
        let ctx = *(*cycle).conf_ctx.add(ngx_http_module.index) as *const ngx_http_conf_ctx_t;
        if ctx.is_null() || (*ctx).loc_conf.is_null() {
            return None;
        }
        let conf = *(*ctx).loc_conf.add(crate::Module::module().ctx_index) as *const LocConf;
        conf.as_ref()
    }
}

/// Starts this worker's sync thread when `sso_redis` is configured (from `init_process`,
/// after `state::init_process` and `wake::init_process`).
///
/// # Safety
/// On nginx's thread with the process's cycle.
pub unsafe fn init_process(cycle: *mut ngx_cycle_t) {
    // SAFETY: the caller guarantees what the `# Safety` section above asks.
    let Some(spec) = (unsafe { http_conf(cycle) }).and_then(|c| c.redis.clone()) else {
        return;
    };
    // SAFETY: as above.
    let log = unsafe { (*cycle).log };
    let Some(poster) = wake::poster() else {
        // A helper process, or wake::init_process failed (it logged why).
        return;
    };
    // SAFETY: as above; hostname is an ngx_str_t of the cycle's pool.
    let host = unsafe {
        let h = (*cycle).hostname;
        if h.data.is_null() {
            String::new()
        } else {
            String::from_utf8_lossy(std::slice::from_raw_parts(h.data, h.len)).into_owned()
        }
    };
    let node = format!("{host}:{}", std::process::id());
    *FLIGHT_SPEC.lock() = Some((Arc::clone(&spec), node));
    *FLIGHT_POSTER.lock() = Some(poster.clone());
    let control = Arc::new(Control::default());
    let sync = Syncer {
        spec: Arc::clone(&spec),
        poster,
        control: Arc::clone(&control),
        pid: std::process::id(),
        down: false,
    };
    let spawned = std::thread::Builder::new()
        .name("sso-redis".into())
        .spawn(move || {
            wake::block_signals();
            let done = Arc::clone(&sync.control);
            sync.run();
            *done.done.lock() = true;
            done.finished.notify_all();
        });
    match spawned {
        Ok(_) => *RUNNING.lock() = Some(control),
        Err(e) => {
            ngx_log_error!(
                NGX_LOG_ALERT,
                log,
                "sso: redis \"{}\": cannot start the sync thread: \"{}\"; revocations stay \
                 local to this node",
                spec.shown,
                e
            );
        }
    }
}

/// Stops this worker's sync thread and waits for it (bounded by its timeouts), then frees
/// the slot if it still holds it (from `exit_process`, before `state::exit_process`).
pub fn exit_process() {
    let Some(control) = RUNNING.lock().take() else {
        return;
    };
    *control.stop.lock() = true;
    control.wake.notify_all();
    let mut done = control.done.lock();
    let until = Instant::now() + TIMEOUT * 3;
    while !*done {
        if control.finished.wait_until(&mut done, until).timed_out() {
            break;
        }
    }
    drop(done);
    if let Some(root) = state::root() {
        release(root, std::process::id());
    }
}

//! Background work for an nginx worker, and the way its results come back to the event loop.
//!
//! nginx runs every request of a worker on one thread, its event loop. Blocking calls (the
//! provider's token endpoint, discovery, JWKS) run elsewhere: on a small pool of Rust threads
//! owned by the worker ([`spawn`]) or on the provider threads of `fetcher.rs`. When such a call is
//! done, its result must be handled on the event-loop thread again, because nginx structures
//! (requests, pools, logs) are not thread-safe. This file is that bridge:
//!
//! - at worker start (`init_process`, never in the master, never for `nginx -t`, never in the
//!   cache manager/loader helpers) an `eventfd` is created and registered with nginx's event
//!   loop as an ordinary connection (`ngx_get_connection` + `ngx_handle_read_event`): it is
//!   not `ngx_notify`, which nginx's own thread pools use;
//! - a background thread puts its result on a mutex-protected queue and writes to the eventfd;
//! - the eventfd's read handler, on the event-loop thread, drains the counter and runs every
//!   queued completion, each under the panic guard.
//!
//! Threading contract of [`spawn`]: `work` is `Send` and runs on a pool thread; only its
//! result `T` crosses back. `done` is *not* required to be `Send` (it may capture raw nginx
//! pointers): it never leaves the event-loop thread, where it waits in a thread-local table
//! keyed by the job's id. [`spawn`] and [`cancel`] must be called on the event-loop thread.
//!
//! Cancellation contract: a request may be finalized (client gone, `worker_shutdown_timeout`,
//! an error elsewhere) while its job runs. [`cancel`] removes the job's `done` from the table,
//! so it is dropped without being called; the result, when it arrives, is dropped too. A job
//! still waiting in the queue is taken out of it: its `work` never runs (no pool thread, no
//! provider call). A job already running is not interrupted (it ends by its own timeouts). Registering the
//! cancellation on the request's pool is what `resume.rs` does for requests waiting on a
//! job, and what a caller of [`spawn`] holding nginx pointers must do itself
//! (`resume::spawn_tied_to_pool`).
//!
//! While jobs are pending, a non-cancelable timer stays armed so that a graceful shutdown or
//! reload waits for them (nginx waits for such timers) instead of dropping login callbacks.
//! At `exit_process` the eventfd is closed: late results are dropped and the pool threads end
//! once idle. Pool threads that are still inside a provider call when the worker exits are not
//! joined (their call is bounded by the client's timeouts; the process is exiting).
//!
//! Linux only (eventfd), like the module's targets.

use std::any::Any;
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::sync::Arc;
use std::time::Duration;

use ngx::ffi::{
    ngx_close_connection, ngx_connection_t, ngx_cycle_t, ngx_event_t, ngx_get_connection,
    ngx_handle_read_event, ngx_int_t, ngx_process, NGX_LOG_ALERT, NGX_LOG_ERR, NGX_OK,
    NGX_PROCESS_HELPER,
};
use ngx::ngx_log_error;
use parking_lot::{Condvar, Mutex, MutexGuard};

use crate::guard;

/// Most pool threads per worker. The jobs wait on the network, not the CPU: this bounds how
/// many provider calls (login callbacks) one worker has in flight; more queue up.
pub const MAX_THREADS: usize = 16;
/// Most jobs waiting for a pool thread; beyond that [`spawn`] refuses ([`SpawnError::Busy`]).
pub const MAX_QUEUED: usize = 512;
/// An idle pool thread ends after this long.
const IDLE_EXIT: Duration = Duration::from_secs(60);
/// How often the shutdown-delaying timer re-checks for pending jobs, in ms.
const PENDING_TIMER_MS: usize = 1000;

/// Blocks every signal on the calling (background) thread, as nginx's own thread pools do:
/// a signal meant for nginx (`SIGTERM`, `SIGHUP`, ...) must reach the event-loop thread,
/// where it interrupts `epoll_wait`; handled on another thread it would only set nginx's
/// flag and the worker would notice late. Call first thing in every thread the module starts.
pub fn block_signals() {
    // SAFETY: sigfillset initialises the set; pthread_sigmask only changes this thread's mask.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut set);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, ptr::null_mut());
    }
}

/// Why a job could not be started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SpawnError {
    /// Not in a worker's event loop (before `init_process`, after `exit_process`, in the
    /// master or a helper process).
    NotRunning,
    /// Too many jobs are waiting already.
    Busy,
    /// The system refused to create a thread.
    Thread,
}

impl fmt::Display for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SpawnError::NotRunning => "background jobs are not available in this process",
            SpawnError::Busy => "too many background jobs are waiting",
            SpawnError::Thread => "cannot create a background thread",
        })
    }
}

impl std::error::Error for SpawnError {}

/// The background work panicked; `done` gets this instead of a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobPanicked;

impl fmt::Display for JobPanicked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the background job failed (internal error)")
    }
}

/// Identifies a job started by [`spawn`], for [`cancel`]. Ids are never reused in a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct JobId(pub(super) u64);

// ---------------------------------------------------------------------------------------------
// The completion queue (any thread) and the eventfd
// ---------------------------------------------------------------------------------------------

type JobValue = Result<Box<dyn Any + Send>, JobPanicked>;

enum Completion {
    /// A [`spawn`] job's result; `done` is looked up by id on the event-loop thread.
    Job(u64, JobValue),
    /// A closure to run on the event-loop thread ([`Poster::post`]).
    Call(Box<dyn FnOnce() + Send>),
}

struct QueueState {
    items: VecDeque<Completion>,
    /// Set (under the lock) before the eventfd is closed: nobody writes to it afterwards.
    closed: bool,
}

struct Shared {
    queue: Mutex<QueueState>,
    fd: i32,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock()
}

impl Shared {
    /// Queues a completion and wakes the event loop. False when the worker is exiting.
    fn push(&self, c: Completion) -> bool {
        let mut q = lock(&self.queue);
        if q.closed {
            return false;
        }
        q.items.push_back(c);
        let one: u64 = 1;
        // Under the lock: the fd cannot be closed meanwhile. EAGAIN (counter saturated) is
        // fine: the loop is woken anyway.
        // SAFETY: fd is an open eventfd while !closed; we write 8 bytes from a valid u64.
        unsafe { libc::write(self.fd, ptr::addr_of!(one).cast(), 8) };
        true
    }
}

/// A handle background threads use to run something on the worker's event-loop thread
/// (e.g. to log through nginx, which is not thread-safe). Cheap to clone, `Send + Sync`.
#[derive(Clone)]
pub struct Poster(Arc<Shared>);

impl Poster {
    /// Runs `f` later on the event-loop thread (under the panic guard). False when the worker
    /// is exiting (then `f` is dropped here, on the calling thread).
    pub fn post(&self, f: impl FnOnce() + Send + 'static) -> bool {
        self.0.push(Completion::Call(Box::new(f)))
    }
}

/// The poster of this worker; `None` outside a worker's event loop. Call on the event-loop
/// thread (e.g. in `init_process`, to hand it to a background thread).
pub fn poster() -> Option<Poster> {
    WORKER.with(|w| w.borrow().as_ref().map(|w| Poster(w.shared.clone())))
}

// ---------------------------------------------------------------------------------------------
// The thread pool
// ---------------------------------------------------------------------------------------------

type Task = Box<dyn FnOnce() + Send>;

struct PoolState {
    /// Waiting tasks with their job ids (0: not cancelable).
    tasks: VecDeque<(u64, Task)>,
    threads: usize,
    idle: usize,
    shutdown: bool,
}

struct Pool {
    state: Mutex<PoolState>,
    cv: Condvar,
}

impl Pool {
    fn new() -> Arc<Pool> {
        Arc::new(Pool {
            state: Mutex::new(PoolState {
                tasks: VecDeque::new(),
                threads: 0,
                idle: 0,
                shutdown: false,
            }),
            cv: Condvar::new(),
        })
    }

    fn has_room(&self) -> bool {
        let st = lock(&self.state);
        !st.shutdown && st.tasks.len() < MAX_QUEUED
    }

    /// Takes a waiting task out of the queue; false when it is running or done already.
    fn withdraw(&self, id: u64) -> bool {
        let mut st = lock(&self.state);
        let Some(i) = st.tasks.iter().position(|(t, _)| *t == id) else {
            return false;
        };
        let task = st.tasks.remove(i);
        drop(st);
        // Dropped outside the lock: the task's captures may be large.
        drop(task);
        true
    }

    fn submit(self: &Arc<Pool>, id: u64, task: Task) -> Result<(), SpawnError> {
        let mut st = lock(&self.state);
        if st.shutdown {
            return Err(SpawnError::NotRunning);
        }
        if st.tasks.len() >= MAX_QUEUED {
            return Err(SpawnError::Busy);
        }
        st.tasks.push_back((id, task));
        // Idle threads (including ones woken but not yet running) each take one queued task;
        // start another thread when the queue outgrows them.
        if st.tasks.len() > st.idle && st.threads < MAX_THREADS {
            let pool = self.clone();
            let spawned = std::thread::Builder::new()
                .name("sso-net".into())
                .spawn(move || {
                    block_signals();
                    pool.run()
                });
            match spawned {
                Ok(_) => st.threads += 1,
                Err(_) if st.threads == 0 => {
                    // Nobody would ever run it.
                    st.tasks.pop_back();
                    return Err(SpawnError::Thread);
                }
                Err(_) => {} // a running thread will get to it
            }
        }
        drop(st);
        self.cv.notify_one();
        Ok(())
    }

    fn run(&self) {
        let mut st = lock(&self.state);
        loop {
            if let Some((_, task)) = st.tasks.pop_front() {
                drop(st);
                // The task catches its own panics (see spawn); this is belt and braces.
                let _ = catch_unwind(AssertUnwindSafe(task));
                st = lock(&self.state);
                continue;
            }
            if st.shutdown {
                break;
            }
            st.idle += 1;
            let timeout = self.cv.wait_for(&mut st, IDLE_EXIT);
            st.idle -= 1;
            if timeout.timed_out() && st.tasks.is_empty() {
                break;
            }
        }
        st.threads -= 1;
    }

    fn shutdown(&self) {
        let mut st = lock(&self.state);
        st.shutdown = true;
        st.tasks.clear();
        drop(st);
        self.cv.notify_all();
    }
}

// ---------------------------------------------------------------------------------------------
// Event-loop side (thread-local to the worker's one nginx thread)
// ---------------------------------------------------------------------------------------------

type Done = Box<dyn FnOnce(JobValue)>;

struct Worker {
    shared: Arc<Shared>,
    pool: Arc<Pool>,
    conn: *mut ngx_connection_t,
    /// `done` of every job in flight, by id.
    pending: HashMap<u64, Done>,
    next_id: u64,
    /// Non-cancelable timer that delays a graceful shutdown while jobs are pending.
    timer: Box<ngx_event_t>,
}

thread_local! {
    static WORKER: RefCell<Option<Worker>> = const { RefCell::new(None) };
}

/// Starts the machinery in a worker process. Called from the module's `init_process`.
///
/// # Safety
/// On nginx's thread, from `init_process`, with a valid cycle whose event module is set up.
pub unsafe fn init_process(cycle: *mut ngx_cycle_t) -> ngx_int_t {
    // SAFETY: the caller guarantees what the `# Safety` section above asks.
    unsafe {
        // Cache manager/loader and other helpers run init_process too: they serve no request.
        if ngx_process == NGX_PROCESS_HELPER as ngx::ffi::ngx_uint_t {
            return NGX_OK as ngx_int_t;
        }
        let log = (*cycle).log;
        let fd = libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC);
        if fd == -1 {
            let err = std::io::Error::last_os_error();
            ngx_log_error!(
                NGX_LOG_ALERT,
                log,
                "sso: eventfd() failed: \"{}\"; login callbacks and provider key refresh are \
             disabled in this worker",
                err
            );
            // Not fatal for the worker: requests are still gated (fail closed).
            return NGX_OK as ngx_int_t;
        }
        let c = ngx_get_connection(fd, log);
        if c.is_null() {
            libc::close(fd);
            ngx_log_error!(
                NGX_LOG_ALERT,
                log,
                "sso: no free connection for the background-job notifier; login callbacks and \
             provider key refresh are disabled in this worker"
            );
            return NGX_OK as ngx_int_t;
        }
        (*c).log = log;
        (*c).data = ptr::null_mut();
        let rev = (*c).read;
        (*rev).log = log;
        (*rev).handler = Some(on_wake);
        if ngx_handle_read_event(rev, 0) != NGX_OK as ngx_int_t {
            ngx_close_connection(c);
            ngx_log_error!(
                NGX_LOG_ALERT,
                log,
                "sso: cannot register the background-job notifier with the event loop"
            );
            return NGX_OK as ngx_int_t;
        }

        // SAFETY: ngx_event_t is plain data; all-zero is nginx's own initial state (ngx_pcalloc).
        let mut timer: Box<ngx_event_t> = Box::new(std::mem::zeroed());
        timer.handler = Some(on_pending_timer);
        timer.log = log;
        timer.data = ptr::null_mut();
        timer.set_cancelable(0);

        let worker = Worker {
            shared: Arc::new(Shared {
                queue: Mutex::new(QueueState {
                    items: VecDeque::new(),
                    closed: false,
                }),
                fd,
            }),
            pool: Pool::new(),
            conn: c,
            pending: HashMap::new(),
            next_id: 1,
            timer,
        };
        WORKER.with(|w| *w.borrow_mut() = Some(worker));
        NGX_OK as ngx_int_t
    }
}

/// Stops the machinery. Called from the module's `exit_process` (and when nginx closes the
/// notifier connection itself, e.g. at `worker_shutdown_timeout`).
///
/// # Safety
/// On nginx's thread.
pub unsafe fn exit_process() {
    // SAFETY: the caller guarantees what the `# Safety` section above asks.
    unsafe {
        let Some(mut worker) = WORKER.with(|w| w.borrow_mut().take()) else {
            return;
        };
        {
            let mut q = lock(&worker.shared.queue);
            q.closed = true;
            q.items.clear();
        }
        // No thread writes to the fd any more: close it (ngx_close_connection deletes the event
        // and closes the descriptor).
        ngx_close_connection(worker.conn);
        worker.pool.shutdown();
        if worker.timer.timer_set() != 0 {
            nginx_sys::ngx_del_timer(&mut *worker.timer);
        }
        // Dropping `pending` drops the `done`s without calling them.
        worker.pending.clear();
    }
}

/// Runs `work` on a background thread, then `done(result)` on this worker's event-loop thread.
///
/// `done` is called exactly once, unless the job is cancelled ([`cancel`]) or the worker
/// exits first; it gets `Err(JobPanicked)` when `work` panicked. Call on the event-loop thread.
pub fn spawn<T, W, D>(work: W, done: D) -> Result<JobId, SpawnError>
where
    T: Send + 'static,
    W: FnOnce() -> T + Send + 'static,
    D: FnOnce(Result<T, JobPanicked>) + 'static,
{
    WORKER.with(|w| {
        let mut w = w.borrow_mut();
        let Some(worker) = w.as_mut() else {
            return Err(SpawnError::NotRunning);
        };
        let id = worker.next_id;
        let shared = worker.shared.clone();
        let task: Task = Box::new(move || {
            let value: JobValue = match catch_unwind(AssertUnwindSafe(work)) {
                Ok(v) => Ok(Box::new(v)),
                Err(_) => Err(JobPanicked),
            };
            shared.push(Completion::Job(id, value));
        });
        worker.pool.submit(id, task)?;
        worker.next_id += 1;
        let done: Done = Box::new(move |value: JobValue| {
            let value = value.and_then(|v| v.downcast::<T>().map(|b| *b).map_err(|_| JobPanicked));
            done(value)
        });
        worker.pending.insert(id, done);
        if worker.timer.timer_set() == 0 {
            // SAFETY: the timer event lives as long as the worker state (Box).
            unsafe { nginx_sys::ngx_add_timer(&mut *worker.timer, PENDING_TIMER_MS as _) };
        }
        Ok(JobId(id))
    })
}

/// Forgets a job: its `done` is dropped without being called, and when it is still waiting
/// for a pool thread its `work` is dropped unrun. A no-op when the job already completed or
/// was cancelled. Call on the event-loop thread.
pub fn cancel(id: JobId) {
    let (done, pool) = WORKER.with(|w| {
        let mut w = w.borrow_mut();
        match w.as_mut() {
            Some(w) => (w.pending.remove(&id.0), Some(w.pool.clone())),
            None => (None, None),
        }
    });
    if done.is_some() {
        if let Some(pool) = pool {
            pool.withdraw(id.0);
        }
    }
    // Dropped outside the borrow: its captures' destructors may call back into this module.
    drop(done);
}

/// Whether [`spawn`] would accept a job now (the worker runs and its queue is not full).
/// Nothing but the event-loop thread adds jobs, so a `true` holds until the next [`spawn`].
pub fn has_room() -> bool {
    WORKER.with(|w| w.borrow().as_ref().is_some_and(|w| w.pool.has_room()))
}

/// True on the worker's event-loop thread once `init_process` ran (never on a background
/// thread): lets code that may block refuse to do so there.
pub fn on_event_loop() -> bool {
    WORKER.with(|w| w.try_borrow().map_or(true, |w| w.is_some()))
}

/// Number of jobs whose `done` is still waiting (for the selftest endpoints).
#[cfg(feature = "selftest")]
pub fn pending_jobs() -> usize {
    WORKER.with(|w| w.borrow().as_ref().map_or(0, |w| w.pending.len()))
}

/// The eventfd's read handler: runs every queued completion.
unsafe extern "C" fn on_wake(ev: *mut ngx_event_t) {
    // SAFETY: nginx passes a valid event.
    let log = unsafe { (*ev).log };
    guard::catch(log, "background job notifier", (), || {
        // SAFETY: nginx calls this on its thread with the notifier's read event.
        unsafe { wake(ev) }
    })
}

unsafe fn wake(ev: *mut ngx_event_t) {
    // SAFETY: every caller passes valid nginx pointers, on nginx's thread.
    unsafe {
        let c = (*ev).data as *mut ngx_connection_t;
        if (*c).close() != 0 {
            // nginx is closing connections (worker_shutdown_timeout): stop here, cleanly.
            exit_process();
            return;
        }
        let Some(shared) = WORKER.with(|w| w.borrow().as_ref().map(|w| w.shared.clone())) else {
            return;
        };
        // Reset the counter *before* taking the queue: a push after this read writes again and
        // wakes us again (edge-triggered epoll needs a new edge).
        let mut counter: u64 = 0;
        loop {
            let n = libc::read(shared.fd, ptr::addr_of_mut!(counter).cast(), 8);
            if n != 8 {
                break;
            }
        }
        (*ev).set_ready(0);
        let items = std::mem::take(&mut lock(&shared.queue).items);
        for item in items {
            match item {
                Completion::Call(f) => guard::catch((*ev).log, "background notification", (), f),
                Completion::Job(id, value) => {
                    let done = WORKER
                        .with(|w| w.borrow_mut().as_mut().and_then(|w| w.pending.remove(&id)));
                    // None: cancelled (the request is gone); the value is simply dropped.
                    if let Some(done) = done {
                        guard::catch((*ev).log, "background job completion", (), || done(value));
                    }
                }
            }
        }
        // Still registered? (A completion may have ended the worker state.)
        let alive = WORKER.with(|w| w.borrow().as_ref().is_some_and(|w| w.conn == c));
        if alive && ngx_handle_read_event(ev, 0) != NGX_OK as ngx_int_t {
            ngx_log_error!(
                NGX_LOG_ERR,
                (*ev).log,
                "sso: cannot re-arm the background-job notifier"
            );
        }
    }
}

/// Keeps a graceful shutdown waiting while jobs are pending.
unsafe extern "C" fn on_pending_timer(ev: *mut ngx_event_t) {
    // SAFETY: nginx passes a valid event.
    let log = unsafe { (*ev).log };
    guard::catch(log, "background job timer", (), || {
        WORKER.with(|w| {
            if let Some(w) = w.borrow_mut().as_mut() {
                if !w.pending.is_empty() && w.timer.timer_set() == 0 {
                    // SAFETY: the timer event lives as long as the worker state.
                    unsafe { nginx_sys::ngx_add_timer(&mut *w.timer, PENDING_TIMER_MS as _) };
                }
            }
        })
    })
}

// Background threads get a Poster: it must stay Send + Sync.
const _: () = {
    const fn is<T: Send + Sync>() {}
    is::<Poster>()
};

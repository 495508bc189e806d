//! How ureq connects: the system resolver on the calling thread, and the total deadline on
//! every wait of the connection (module doc). Both are ureq's `unversioned` API, hence the
//! exact version pin in core/Cargo.toml.

use std::net::ToSocketAddrs;
use std::time::{Duration, Instant};

use ureq::http::Uri;
use ureq::unversioned::resolver::{ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{Buffers, ConnectionDetails, Connector, NextTimeout, Transport};

use super::errors::{lower, ResolveFailed};
use super::Target;

/// The system resolver on the calling thread (ureq's own spawns a thread per lookup when a
/// deadline is set); its failures keep their reason.
#[derive(Debug)]
pub(super) struct SystemResolver;

impl Resolver for SystemResolver {
    fn resolve(
        &self,
        uri: &Uri,
        _config: &ureq::config::Config,
        _timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let target = Target::of(uri);
        let failed = |reason: String| ureq::Error::Other(Box::new(ResolveFailed(reason)));
        // `[v6]:port` and `name:port` are both what `ToSocketAddrs` reads.
        let addrs = format!("{}:{}", target.host, target.port)
            .to_socket_addrs()
            .map_err(|e| failed(lower(&e)))?;
        let mut out = self.empty();
        // The most ureq keeps (its `MAX_ADDRS`); `push` past it would panic.
        for addr in addrs.take(16) {
            out.push(addr);
        }
        if out.is_empty() {
            return Err(failed("no address".to_owned()));
        }
        Ok(out)
    }
}

/// The total deadline on every wait of a connection, from the start of connecting to the last
/// byte of the body. ureq arms its own timeouts as socket timeouts only, which a server that
/// sends a byte now and then (a slow drip) never trips: here each send and receive first
/// checks the deadline and waits at most until it.
#[derive(Debug)]
pub(super) struct Deadline(pub(super) Duration);

impl<In: Transport> Connector<In> for Deadline {
    type Out = WithDeadline<In>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        let start = match details.now {
            ureq::unversioned::transport::time::Instant::Exact(t) => t,
            _ => Instant::now(),
        };
        Ok(chained.map(|inner| WithDeadline {
            inner,
            deadline: start + self.0,
        }))
    }
}

#[derive(Debug)]
pub(super) struct WithDeadline<T> {
    inner: T,
    deadline: Instant,
}

impl<T: Transport> WithDeadline<T> {
    /// `timeout` shortened to the deadline; past it, the call's timeout.
    fn within(&self, timeout: NextTimeout) -> Result<NextTimeout, ureq::Error> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ureq::Error::Timeout(ureq::Timeout::Global));
        }
        if timeout.after.is_not_happening() || *timeout.after > left {
            return Ok(NextTimeout {
                after: left.into(),
                reason: ureq::Timeout::Global,
            });
        }
        Ok(timeout)
    }
}

impl<T: Transport> Transport for WithDeadline<T> {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.inner.buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        let timeout = self.within(timeout)?;
        self.inner.transmit_output(amount, timeout)
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        let timeout = self.within(timeout)?;
        self.inner.await_input(timeout)
    }

    fn is_open(&mut self) -> bool {
        self.inner.is_open()
    }

    fn is_tls(&self) -> bool {
        self.inner.is_tls()
    }
}

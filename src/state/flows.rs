//! Single-use login flows across all workers: the states of flows whose callback was
//! accepted, in the shared zone's used-flow table (`sso_core::used_ids`), until the flow
//! would have expired anyway.

use sso_core::used_ids::{Insert, UsedIds};

/// What [`consume`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consume {
    /// First use: recorded, go on.
    Fresh,
    /// Used before (this worker or another): refuse.
    Used,
    /// No shared zone in this process: refuse (fail closed).
    Unavailable,
}

/// Records `state` as used until `expires` (the flow's own expiry, Unix seconds) unless it
/// was used already.
///
/// # Safety
/// On nginx's thread in a worker (after `init_process`).
pub unsafe fn consume(state: &str, now: u64, expires: u64) -> Consume {
    // SAFETY: the caller guarantees what the `# Safety` section above asks.
    unsafe {
        let expires = expires.max(now.saturating_add(1));
        let got = super::with_region(
            |root| root.flows,
            |bytes| {
                UsedIds::attach_or_format(bytes)
                    .map(|mut set| set.insert(state.as_bytes(), now, expires))
            },
        );
        match got.flatten() {
            Some(Insert::Fresh) => Consume::Fresh,
            Some(Insert::Used) => Consume::Used,
            None => Consume::Unavailable,
        }
    }
}

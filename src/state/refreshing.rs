//! One refresh per session across all workers (README "Session lifecycle"): the shared
//! zone's refresh table (`sso_core::flow::refresh::RefreshTable`), keyed by the session's
//! refresh token and the time the provider last vouched for it.

use sso_core::flow::refresh::{refresh_key, Begin, Finish, RefreshTable};

/// Claims the refresh of the session holding `refresh_token`, vouched for at `vouched`.
/// Without a shared zone in this process: [`Begin::Full`] (no refresh; the session stays as
/// it is, and nothing can refresh it twice).
///
/// # Safety
/// On nginx's thread in a worker (after `init_process`).
pub unsafe fn begin(refresh_token: &str, vouched: u64, now: u64) -> Begin {
    let key = refresh_key(refresh_token, vouched);
    // SAFETY: the caller guarantees what the `# Safety` section above asks.
    let got = unsafe {
        super::with_region(
            |root| root.refreshing,
            |bytes| RefreshTable::attach_or_format(bytes).map(|mut t| t.begin(&key, now)),
        )
    };
    got.flatten().unwrap_or(Begin::Full)
}

/// Records how the refresh [`begin`] granted ended. For [`Finish::Failed`]: true when this is
/// the session's first logged failure (log it at `warn`).
///
/// # Safety
/// On nginx's thread in a worker (after `init_process`).
pub unsafe fn finish(refresh_token: &str, vouched: u64, now: u64, how: Finish) -> bool {
    let key = refresh_key(refresh_token, vouched);
    // SAFETY: the caller guarantees what the `# Safety` section above asks.
    let got = unsafe {
        super::with_region(
            |root| root.refreshing,
            |bytes| RefreshTable::attach_or_format(bytes).map(|mut t| t.finish(&key, now, how)),
        )
    };
    got.flatten().unwrap_or(how == Finish::Failed)
}

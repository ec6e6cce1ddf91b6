//! Trim (spec §15): nodes unseen too long become stale; versions every
//! live node holds are dropped.

use crate::store::Store;
use crate::{commit, Rejection};

/// What a trim did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrimReport {
    /// Versions up to this one are gone (0: none).
    pub trimmed_through: u64,
    /// How many versions this trim dropped.
    pub versions_dropped: u64,
    /// How many nodes this trim marked stale.
    pub nodes_marked_stale: u64,
}

/// Trims the history: nodes unseen since `now - stale_after` become
/// stale; the versions every live node holds are dropped.
pub fn trim(store: &dyn Store, now: u64, stale_after: u64) -> Result<TrimReport, Rejection> {
    let mut tx = store.write()?;
    tx.lock_history()?;
    let marked = tx.mark_stale(now.saturating_sub(stale_after))?;
    let latest = tx.latest_version()?;
    let horizon = tx.live_horizon()?.map_or(latest, |h| h.min(latest));
    let before = tx.trimmed_through()?;
    let dropped = if horizon > before {
        tx.drop_history_through(horizon)?
    } else {
        0
    };
    commit(tx)?;
    Ok(TrimReport {
        trimmed_through: horizon.max(before),
        versions_dropped: dropped,
        nodes_marked_stale: marked,
    })
}

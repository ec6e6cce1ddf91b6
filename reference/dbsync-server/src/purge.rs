//! The background purge of nodes that never made a request after
//! registering (spec §9.7), while the server serves.

use crate::{joined, unix_now, Server};
use dbsync_engine::store::NodeRecord;
use dbsync_engine::Rejection;
use std::time::Duration;
use tokio::task::JoinHandle;

/// How often the purge looks for nodes to purge: a tenth of the time a
/// node is given, between a second and an hour.
pub fn purge_interval(after: Duration) -> Duration {
    (after / 10).clamp(Duration::from_secs(1), Duration::from_secs(3600))
}

impl Server {
    /// Purges the nodes registered more than `unseen_for` seconds before
    /// `now` that never made a request; returns them.
    pub async fn purge_unseen(
        &self,
        now: u64,
        unseen_for: u64,
    ) -> Result<Vec<NodeRecord>, Rejection> {
        let server = self.clone();
        joined(
            tokio::task::spawn_blocking(move || server.engine().purge_unseen(now, unseen_for))
                .await,
        )
    }

    /// Starts the background purge of [`crate::Config::purge_unused_after`],
    /// if set.
    pub(crate) fn spawn_purge(&self) -> Option<JoinHandle<()>> {
        let after = self.inner.config.purge_unused_after?;
        let server = self.clone();
        Some(tokio::spawn(async move { server.purge_every(after).await }))
    }

    async fn purge_every(self, after: Duration) {
        let mut ticks = tokio::time::interval(purge_interval(after));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match self.purge_unseen(unix_now(), after.as_secs()).await {
                Ok(purged) if purged.is_empty() => {}
                Ok(purged) => tracing::info!(nodes = purged.len(), "purged nodes never seen"),
                Err(e) => tracing::error!(code = %e.code, message = %e.message, "purge failed"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_purge_looks_every_tenth_of_the_time_between_a_second_and_an_hour() {
        assert_eq!(
            purge_interval(Duration::from_secs(1)),
            Duration::from_secs(1)
        );
        assert_eq!(
            purge_interval(Duration::from_secs(100)),
            Duration::from_secs(10)
        );
        assert_eq!(
            purge_interval(Duration::from_secs(7 * 86_400)),
            Duration::from_secs(3600)
        );
    }
}

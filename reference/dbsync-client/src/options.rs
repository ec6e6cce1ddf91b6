//! How a node's database is opened.

use std::time::Duration;

/// How [`Node::open_with`](crate::Node::open_with) and
/// [`Node::open_tracked_with`](crate::Node::open_tracked_with) open a
/// node's database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenOptions {
    /// How long each statement waits for the application's transactions
    /// (another connection's lock) before the procedure gives up with
    /// [`ClientError::DatabaseBusy`](crate::ClientError::DatabaseBusy)
    /// and changes nothing. Default: 30 s.
    pub busy_timeout: Duration,
}

impl Default for OpenOptions {
    fn default() -> OpenOptions {
        OpenOptions {
            busy_timeout: dbsync_sqlite::DEFAULT_BUSY_TIMEOUT,
        }
    }
}

impl OpenOptions {
    /// The default options with `busy_timeout`.
    pub fn with_busy_timeout(mut self, busy_timeout: Duration) -> OpenOptions {
        self.busy_timeout = busy_timeout;
        self
    }
}

//! How a node's database is opened, and how it is repaired.

use dbsync_sqlite::ExistingRows;
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
    /// What the rows of tables tracked for the first time are (spec §3.5):
    /// the node's own work to push, or a copy of the server's data that the
    /// next repair replaces. `None` (the default) refuses to track a table
    /// that holds rows, with [`ClientError::ExistingRows`](crate::ClientError::ExistingRows).
    pub existing_rows: Option<ExistingRows>,
}

impl Default for OpenOptions {
    fn default() -> OpenOptions {
        OpenOptions {
            busy_timeout: dbsync_sqlite::DEFAULT_BUSY_TIMEOUT,
            existing_rows: None,
        }
    }
}

impl OpenOptions {
    /// These options, with `busy_timeout`.
    pub fn with_busy_timeout(mut self, busy_timeout: Duration) -> OpenOptions {
        self.busy_timeout = busy_timeout;
        self
    }

    /// These options, saying what existing rows are.
    pub fn with_existing_rows(mut self, existing_rows: ExistingRows) -> OpenOptions {
        self.existing_rows = Some(existing_rows);
        self
    }
}

/// How [`Node::repair_with`](crate::Node::repair_with) repairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RepairOptions {
    /// Discard the local work on the tables the repair replaces (spec
    /// §13.5) instead of refusing; the report and the conflict log say
    /// what was discarded.
    pub discard_local_changes: bool,
}

//! Opening the node database a command names, always with the
//! `--busy-timeout` (so a command waits for the application's write
//! transaction instead of failing at once).

use dbsync_client::{ClientError, Node, OpenOptions};
use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

/// The `--busy-timeout` every command opens its database with.
static BUSY_TIMEOUT: OnceLock<Duration> = OnceLock::new();

/// Sets the busy timeout of every database the commands open (once).
pub fn set_busy_timeout(timeout: Duration) {
    let _ = BUSY_TIMEOUT.set(timeout);
}

fn busy_timeout() -> Duration {
    BUSY_TIMEOUT
        .get()
        .copied()
        .unwrap_or(dbsync_sqlite::DEFAULT_BUSY_TIMEOUT)
}

/// Opens a tracked node database.
pub fn open_tracked(db: &Path) -> Result<Node, ClientError> {
    Node::open_tracked_with(
        db,
        &OpenOptions::default().with_busy_timeout(busy_timeout()),
    )
}

/// Opens a database as a plain connection.
pub fn open(db: &Path) -> rusqlite::Result<rusqlite::Connection> {
    dbsync_sqlite::open_with_busy_timeout(db, busy_timeout())
}

/// The role a database was tracked with (`server` or `node`), if any.
pub fn role(db: &Path) -> Option<String> {
    let conn = rusqlite::Connection::open(db).ok()?;
    conn.busy_timeout(busy_timeout()).ok()?;
    conn.query_row(
        "SELECT value FROM dbsync_state WHERE key = 'role'",
        [],
        |r| r.get(0),
    )
    .ok()
}

//! # dbsync-sqlite
//!
//! dbsync's SQLite store (spec §2, §3):
//!
//! - [`introspect`]: a table's shape from SQLite's catalogue, checked against
//!   the restrictions of spec §2;
//! - [`track`]: dbsync's own tables and the capture triggers;
//! - [`existing`]: the rows a table holds when a node first tracks it;
//! - [`key_floor`]: tables whose keys SQLite reuses (spec §2.2.1);
//! - [`oplog`]: reading and marking the captured ops;
//! - [`node`] and [`server`]: the two sides of the protocol.

pub mod changed_columns;
pub mod existing;
pub mod fit;
pub mod introspect;
pub mod key_floor;
pub mod node;
pub mod oplog;
pub mod rows;
pub mod server;
pub mod sql_id;
pub mod track;
pub mod untyped_ids;

pub use existing::{ExistingRows, ExistingRowsRefused, TrackOptions};
pub use introspect::TableRefused;
pub use server::{SqliteStore, StoreOptions};
pub use track::{Role, TableSpec};

use rusqlite::Connection;
use std::path::Path;
use std::time::Duration;

/// A failure of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A table breaks a restriction of spec §2.
    #[error(transparent)]
    Refused(#[from] TableRefused),
    /// SQLite failed.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// Tables a node was asked to track hold rows nobody accounted for
    /// (spec §3.5).
    #[error(transparent)]
    ExistingRows(#[from] ExistingRowsRefused),
    /// dbsync's own tables hold something they should not.
    #[error("dbsync's tables are corrupt: {0}")]
    Corrupt(String),
}

/// How long a statement waits for another connection's lock before it
/// fails with `SQLITE_BUSY`, unless told otherwise.
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Opens a database for use with dbsync: foreign keys enforced, WAL mode
/// (so sync can run beside the application's connections), and a busy
/// timeout of [`DEFAULT_BUSY_TIMEOUT`] instead of immediate `SQLITE_BUSY`.
pub fn open(path: &Path) -> rusqlite::Result<Connection> {
    open_with_busy_timeout(path, DEFAULT_BUSY_TIMEOUT)
}

/// [`open`], with statements waiting up to `busy_timeout` for another
/// connection's lock. The timeout is set first, so that it covers the
/// opening pragmas too (switching to WAL needs the lock).
pub fn open_with_busy_timeout(path: &Path, busy_timeout: Duration) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(busy_timeout)?;
    conn.pragma_update(None, "foreign_keys", true)?;
    conn.pragma_update(None, "journal_mode", "wal")?;
    Ok(conn)
}

/// Whether `e` is SQLite giving up on a lock another connection holds
/// (`SQLITE_BUSY`, or `SQLITE_LOCKED` for a shared cache): the busy
/// timeout passed, nothing was changed, and trying again later is safe.
pub fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

impl StoreError {
    /// Whether this is SQLite giving up on another connection's lock
    /// (see [`is_busy`]).
    pub fn is_busy(&self) -> bool {
        matches!(self, StoreError::Sqlite(e) if is_busy(e))
    }
}

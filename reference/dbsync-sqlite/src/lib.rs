//! # dbsync-sqlite
//!
//! dbsync's SQLite store (spec §2, §3):
//!
//! - [`introspect`]: a table's shape from SQLite's catalogue, checked against
//!   the restrictions of spec §2;
//! - [`track`]: dbsync's own tables and the capture triggers;
//! - [`oplog`]: reading and marking the captured ops.

pub mod introspect;
pub mod node;
pub mod oplog;
pub mod rows;
pub mod server;
pub mod track;

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
    /// dbsync's own tables hold something they should not.
    #[error("dbsync's tables are corrupt: {0}")]
    Corrupt(String),
}

/// Opens a database for use with dbsync: foreign keys enforced, WAL mode
/// (so sync can run beside the application's connections), and a busy
/// timeout instead of immediate `SQLITE_BUSY`.
pub fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "foreign_keys", true)?;
    conn.pragma_update(None, "journal_mode", "wal")?;
    conn.busy_timeout(Duration::from_secs(30))?;
    Ok(conn)
}

//! The server's SQLite connections: one writer behind a mutex (pushes,
//! registrations, nonces, seals and trims are serialized) and a pool of
//! read connections (pulls, repair pages and queries run side by side,
//! each in its own read transaction, thanks to WAL).
//!
//! Every function here blocks; the HTTP layer calls them from
//! `tokio::task::spawn_blocking`.

use dbsync_core::Schema;
use dbsync_sqlite::server::{self, Rejection};
use dbsync_sqlite::{StoreError, TableSpec};
use rusqlite::{Connection, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

/// The connections of one server database.
pub struct Store {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    idle_readers: usize,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock unwound any open transaction (rusqlite
    // rolls back on drop), so the connection is still usable.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Store {
    /// Opens the database, tracks `tables` (every user table when empty)
    /// and creates the server's own tables; returns the synced schema.
    pub fn open(
        path: &Path,
        tables: &[TableSpec],
        idle_readers: usize,
    ) -> Result<(Store, Schema), StoreError> {
        let mut writer = dbsync_sqlite::open(path)?;
        let schema = server::prepare(&mut writer, tables)?;
        let store = Store {
            path: path.to_path_buf(),
            writer: Mutex::new(writer),
            readers: Mutex::new(Vec::new()),
            idle_readers,
        };
        Ok((store, schema))
    }

    /// Runs `f` on the writer connection, alone.
    pub fn write<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, Rejection>,
    ) -> Result<T, Rejection> {
        f(&mut lock(&self.writer))
    }

    /// Runs `f` on a read connection (reused, or opened for the occasion).
    pub fn read<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, Rejection>,
    ) -> Result<T, Rejection> {
        let taken = lock(&self.readers).pop();
        let mut conn = match taken {
            Some(c) => c,
            None => {
                let c = dbsync_sqlite::open(&self.path)?;
                // Defence in depth: a reader never writes.
                c.pragma_update(None, "query_only", true)?;
                c
            }
        };
        let out = f(&mut conn);
        // A reader left inside a transaction (it should never be) is dropped.
        if conn.is_autocommit() {
            let mut idle = lock(&self.readers);
            if idle.len() < self.idle_readers {
                idle.push(conn);
            }
        }
        out
    }

    /// Makes writes done directly on the server database into a version
    /// (spec §6.2), so that the next read sees them in the history.
    pub fn seal(&self, now: u64) -> Result<Option<u64>, Rejection> {
        self.write(|conn| {
            let unsealed: bool = conn.query_row(
                "SELECT EXISTS (SELECT 1 FROM dbsync_oplog WHERE version IS NULL)",
                [],
                |r| r.get(0),
            )?;
            if !unsealed {
                return Ok(None);
            }
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let version = server::seal(&tx, now)?;
            tx.commit()?;
            Ok(version)
        })
    }
}

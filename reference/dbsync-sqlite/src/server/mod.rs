//! The server's store over SQLite: [`SqliteStore`] implements the
//! engine's [`Store`] (spec §6, §9–§15 are in `dbsync-engine`; this is
//! only where their reads and writes go).
//!
//! One writer connection behind a mutex (SQLite has one writer at a time
//! anyway; its transactions are `IMMEDIATE`, so they take the write lock
//! up front) and a pool of read connections: pulls, repair pages and
//! queries each read one WAL snapshot, side by side with the writer.
//!
//! - [`reads`]: the reads every transaction makes;
//! - [`writes`]: the writes of the writer's transactions;
//! - [`faults`]: SQLite's errors as the engine's.

pub mod faults;
pub mod reads;
pub mod scope;
pub mod writes;

use crate::rows::SqlCatalog;
use crate::track::{self, Role, SuspendedCapture, TableSpec};
use crate::StoreError;
use dbsync_core::Schema;
use dbsync_engine::store::{ReadTx, Store, StoreResult, WriteTx};
use faults::Fault;
use rusqlite::Connection;
use std::collections::HashMap;
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

/// The server's own tables, beside those of [`track::META_SQL`].
pub const SERVER_SQL: &str = "
CREATE TABLE IF NOT EXISTS dbsync_versions (
    version INTEGER PRIMARY KEY,
    node_id INTEGER,
    push_id TEXT,
    created_at TEXT NOT NULL,
    last_seq INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS dbsync_nodes (
    node_id INTEGER PRIMARY KEY AUTOINCREMENT,
    secret TEXT NOT NULL,
    user_id TEXT,
    registered_at INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    known_version INTEGER NOT NULL DEFAULT 0,
    stale INTEGER NOT NULL DEFAULT 0,
    seen INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS dbsync_push_ids (
    node_id INTEGER NOT NULL,
    push_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    digest TEXT NOT NULL,
    PRIMARY KEY (node_id, push_id)
);
CREATE TABLE IF NOT EXISTS dbsync_nonces (
    node_id INTEGER NOT NULL,
    nonce TEXT NOT NULL,
    seen_at INTEGER NOT NULL,
    PRIMARY KEY (node_id, nonce)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS dbsync_nonces_by_time ON dbsync_nonces (seen_at);
CREATE INDEX IF NOT EXISTS dbsync_oplog_by_version ON dbsync_oplog (version, seq);
";

/// How long a commit waits for the disk (SQLite's `synchronous`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Synchronous {
    /// Every commit is on disk before it is answered (an fsync per commit).
    #[default]
    Full,
    /// In WAL mode, a commit survives a crash of the process but may be
    /// lost with the last commits on a power failure.
    Normal,
    /// Never waits for the disk: for tests and simulations only.
    Off,
}

impl Synchronous {
    fn pragma(self) -> &'static str {
        match self {
            Synchronous::Full => "full",
            Synchronous::Normal => "normal",
            Synchronous::Off => "off",
        }
    }
}

/// Options of a SQLite server store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Idle read connections kept for pulls, repairs and queries.
    pub idle_readers: usize,
    /// The durability of the writer's commits.
    pub synchronous: Synchronous,
}

impl Default for StoreOptions {
    fn default() -> StoreOptions {
        StoreOptions {
            idle_readers: 8,
            synchronous: Synchronous::default(),
        }
    }
}

/// A server database in one SQLite file.
pub struct SqliteStore {
    path: PathBuf,
    schema: Schema,
    catalog: SqlCatalog,
    /// Table ids of `dbsync_oplog` by name, and names by id.
    table_ids: HashMap<String, i64>,
    table_names: HashMap<i64, String>,
    /// The tables whose keys SQLite reuses, with their oplog ids: a pushed
    /// insert raises their key floor (spec §2.2.1).
    floors: HashMap<String, i64>,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    options: StoreOptions,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock unwound the transaction it had open
    // (the transaction guard rolls back on drop): the connection is usable.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `path`, tracks `specs`
    /// (every user table when empty) with capture for direct writes, and
    /// creates the server's own tables.
    pub fn open(
        path: &Path,
        specs: &[TableSpec],
        options: StoreOptions,
    ) -> Result<SqliteStore, StoreError> {
        let mut writer = crate::open(path)?;
        writer.pragma_update(None, "synchronous", options.synchronous.pragma())?;
        let schema = prepare(&mut writer, specs)?;
        let ids = track::table_ids(&writer)?;
        let mut floors = HashMap::new();
        for (id, name) in &ids {
            if crate::key_floor::floor_of(&writer, name)?.is_some() {
                floors.insert(name.clone(), *id);
            }
        }
        Ok(SqliteStore {
            floors,
            path: path.to_path_buf(),
            catalog: SqlCatalog::new(&schema),
            table_ids: ids.iter().map(|(id, n)| (n.clone(), *id)).collect(),
            table_names: ids.into_iter().collect(),
            schema,
            writer: Mutex::new(writer),
            readers: Mutex::new(Vec::new()),
            options,
        })
    }

    /// Opens a database served before, with the tables (and directions)
    /// it tracks: for tools that work on a server's database.
    pub fn open_tracked(path: &Path, options: StoreOptions) -> Result<SqliteStore, StoreError> {
        let specs = {
            let conn = crate::open(path)?;
            track::ensure_meta(&conn)?;
            track::load_schema(&conn)?
                .tables
                .iter()
                .map(|t| TableSpec {
                    name: t.name.clone(),
                    direction: t.direction,
                })
                .collect::<Vec<_>>()
        };
        if specs.is_empty() {
            return Err(StoreError::Corrupt(format!(
                "{} tracks no table: serve it first",
                path.display()
            )));
        }
        SqliteStore::open(path, &specs, options)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn reader(&self) -> StoreResult<Connection> {
        if let Some(c) = lock(&self.readers).pop() {
            return Ok(c);
        }
        let c = crate::open(&self.path).fault()?;
        // Defence in depth: a reader never writes.
        c.pragma_update(None, "query_only", true).fault()?;
        Ok(c)
    }

    fn give_back(&self, conn: Connection) {
        let mut idle = lock(&self.readers);
        if conn.is_autocommit() && idle.len() < self.options.idle_readers {
            idle.push(conn);
        }
    }
}

/// Tracks the server's tables and creates its own (adding what a
/// database made by an older version lacks).
pub fn prepare(conn: &mut Connection, specs: &[TableSpec]) -> Result<Schema, StoreError> {
    let schema = track::track(conn, specs, Role::Server)?;
    conn.execute_batch(SERVER_SQL)?;
    conn.execute_batch(scope::SCOPE_SQL)?;
    add_seen_column(conn)?;
    Ok(schema)
}

/// Gives `dbsync_nodes` of a database made before nodes were purged its
/// `seen` column. Whether an existing node ever made a request is not
/// known (its last-seen time may be its registration's second), so every
/// existing node counts as seen: none is purged by mistake.
fn add_seen_column(conn: &Connection) -> Result<(), StoreError> {
    crate::introspect::add_missing_column(
        conn,
        "dbsync_nodes",
        "seen",
        "INTEGER NOT NULL DEFAULT 1",
    )?;
    // Claims (spec §19.1): a JSON array, NULL for none.
    crate::introspect::add_missing_column(conn, "dbsync_nodes", "claims", "TEXT")?;
    Ok(())
}

/// A connection a transaction holds: the writer, or a pooled reader.
pub enum Held<'s> {
    /// The writer, locked.
    Writer(MutexGuard<'s, Connection>),
    /// A reader, back to the pool when done.
    Reader(&'s SqliteStore, Option<Connection>),
}

impl Deref for Held<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        match self {
            Held::Writer(g) => g,
            Held::Reader(_, c) => c.as_ref().expect("held until dropped"),
        }
    }
}

impl DerefMut for Held<'_> {
    fn deref_mut(&mut self) -> &mut Connection {
        match self {
            Held::Writer(g) => g,
            Held::Reader(_, c) => c.as_mut().expect("held until dropped"),
        }
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        if let Held::Reader(store, c) = self {
            if let Some(c) = c.take() {
                store.give_back(c);
            }
        }
    }
}

/// One open transaction of a [`SqliteStore`]; rolled back when dropped
/// uncommitted.
pub struct SqliteTx<'s> {
    pub(crate) store: &'s SqliteStore,
    pub(crate) conn: Held<'s>,
    /// The triggers [`WriteTx::begin_row_writes`] dropped.
    pub(crate) suspended: Option<SuspendedCapture>,
}

impl Drop for SqliteTx<'_> {
    fn drop(&mut self) {
        if !self.conn.is_autocommit() {
            if let Err(e) = self.conn.execute_batch("ROLLBACK") {
                tracing::error!(error = %e, "rolling back a server transaction failed");
            }
        }
    }
}

impl Store for SqliteStore {
    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn read(&self) -> StoreResult<Box<dyn ReadTx + '_>> {
        let conn = Held::Reader(self, Some(self.reader()?));
        conn.execute_batch("BEGIN DEFERRED").fault()?;
        Ok(Box::new(SqliteTx {
            store: self,
            conn,
            suspended: None,
        }))
    }

    fn write(&self) -> StoreResult<Box<dyn WriteTx + '_>> {
        let conn = Held::Writer(lock(&self.writer));
        conn.execute_batch("BEGIN IMMEDIATE").fault()?;
        Ok(Box::new(SqliteTx {
            store: self,
            conn,
            suspended: None,
        }))
    }
}

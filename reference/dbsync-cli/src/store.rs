//! The server store a `--db` names: a SQLite file.

use dbsync_server::Store;
use dbsync_sqlite::{SqliteStore, TableSpec};
use std::path::Path;
use std::sync::Arc;

/// Opens the store of `db`, tracking `specs` (every user table when empty).
pub fn open(db: &Path, specs: &[TableSpec]) -> Result<Arc<dyn Store>, String> {
    SqliteStore::open(db, specs, Default::default())
        .map(|s| Arc::new(s) as Arc<dyn Store>)
        .map_err(|e| e.to_string())
}

/// Opens a store served before, with the tables it already tracks.
pub fn open_served(db: &Path) -> Result<Arc<dyn Store>, String> {
    SqliteStore::open_tracked(db, Default::default())
        .map(|s| Arc::new(s) as Arc<dyn Store>)
        .map_err(|e| e.to_string())
}

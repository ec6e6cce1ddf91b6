//! SQLite's errors as the engine sees them: a constraint a row write
//! breaks becomes the [`RowWriteError`] of spec §10.2.4; anything else is
//! a [`StoreFault`], logged by the engine and never shown to a client.

use dbsync_engine::store::{RowWriteError, StoreFault, StoreResult};

/// Turns a rusqlite result into the engine's.
pub trait Fault<T> {
    /// Any error is a store fault.
    fn fault(self) -> StoreResult<T>;
    /// A constraint error is the rule it breaks; any other a fault.
    fn row_write(self) -> Result<T, RowWriteError>;
}

impl<T> Fault<T> for rusqlite::Result<T> {
    fn fault(self) -> StoreResult<T> {
        self.map_err(StoreFault::of)
    }

    fn row_write(self) -> Result<T, RowWriteError> {
        self.map_err(row_write_error)
    }
}

/// SQLite's extended result codes of constraint failures.
const PRIMARY_KEY: i32 = 1555;
const ROWID: i32 = 2579;
const UNIQUE: i32 = 2067;
const FOREIGN_KEY: i32 = 787;

/// The rule a failed statement broke, from its extended result code.
pub fn row_write_error(e: rusqlite::Error) -> RowWriteError {
    match e.sqlite_error().map(|f| f.extended_code) {
        Some(PRIMARY_KEY | ROWID) => RowWriteError::Exists,
        Some(UNIQUE) => RowWriteError::Unique,
        Some(FOREIGN_KEY) => RowWriteError::ForeignKey(None),
        _ => RowWriteError::Fault(StoreFault::of(e)),
    }
}

//! The node's side of the protocol over SQLite (spec §9–§13), one module
//! per procedure:
//!
//! - `state`: what a node knows of itself, registration, key ranges;
//! - `pending`: the pending ops, their compression (§5), restores (§12.3.5)
//!   and pruning;
//! - `push`: the outbound push record (§10.4), built and stored before it
//!   is sent;
//! - `view`: the node's database as the merge planner reads it;
//! - `merge`: merging a whole pull (§11.5, §12);
//! - `apply`: applying the core's merge plan (§12.6);
//! - `repair`: staging and finishing a repair (§13);
//! - `local_work`: the local work a repair would discard (§13.5);
//! - `conflicts`: the conflict log;
//! - `resolve`: settling a unique collision by changing the holder (§12.2.4);
//! - `reused`: rows that took a key SQLite reused move to a fresh one
//!   before a push or a merge (§2.2.1).
//!
//! The network is not here: the client crate sends what these functions
//! build and hands back what the server answered. Every function that
//! writes does so in one `IMMEDIATE` transaction, so the application's
//! writers wait (busy timeout) rather than interleave, and a failure
//! changes nothing.

mod apply;
mod conflicts;
mod local_work;
mod merge;
mod moved_out;
mod next_push;
mod own_versions;
mod pending;
mod push;
mod rekeyed;
mod repair;
mod resolve;
mod reused;
mod state;
mod view;

pub use apply::apply_plan;
pub use conflicts::{conflicts, LoggedConflict};
pub use local_work::{describe_work, local_work, LocalWork};
pub use merge::{merge, MergeReport, StagedPull};
pub use pending::{
    compressed_pending, mark_restore, pending_changes, pending_restores, restores, trim,
};
pub use push::{
    abandon_push, begin_push, begin_push_within, finish_push, OutboundPush, DEFAULT_PUSH_BUDGET,
};
pub use repair::{
    repair_begin, repair_finish, repair_progress, repair_stage, repair_version, RepairReport,
};
pub use resolve::{resolve, Resolved};
pub use state::{
    push_only_base, save_registration, set_server_url, state, store_policy, stored_policy,
    NodeState,
};
pub use view::LocalDb;

use crate::track::{self, Role, TableSpec};
use crate::{StoreError, TrackOptions};
use dbsync_core::compress::InvalidPendingSequence;
use dbsync_core::merge::MergeError;
use dbsync_core::Schema;
use rusqlite::Connection;

/// The node's own tables, beside those of [`track::META_SQL`].
pub const NODE_SQL: &str = "
CREATE TABLE IF NOT EXISTS dbsync_conflicts (
    id INTEGER PRIMARY KEY,
    recorded_at INTEGER NOT NULL,
    version INTEGER,
    entry TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS dbsync_restores (
    seq INTEGER PRIMARY KEY,
    changed INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS dbsync_repair_stage (
    table_id INTEGER NOT NULL,
    row_id NOT NULL,
    row TEXT NOT NULL,
    PRIMARY KEY (table_id, row_id)
) WITHOUT ROWID;
";

/// A failure of a node procedure's local part, one variant per cause.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    InvalidPendingSequence(#[from] InvalidPendingSequence),
    #[error("the merge cannot be planned: {0}")]
    Merge(#[from] MergeError),
    #[error("the node is not registered: run register first")]
    NotRegistered,
    #[error("the pull brought rows that do not fit the schema: {0}")]
    BadPull(String),
    /// The node tracked its existing rows as a copy of the server's
    /// (spec §3.5) and has not repaired since.
    #[error("this node tracked its existing rows as a copy of the server's: repair to replace them first")]
    RepairOwed,
    /// A repair would discard local work nobody asked it to (spec §13.5).
    #[error("the repair would discard local work nobody has pushed: {}; sync first, or repair discarding it", describe_work(.0))]
    UnpushedChanges(Vec<LocalWork>),
    /// Pending ops that must travel in one push need more than one
    /// request's bytes, and none may go ahead in a part (spec §10.1.2).
    #[error("the pending ops that must travel together need about {needed} bytes, over the push budget of {budget}: raise the server's body limit, or push more often")]
    PushTooLarge {
        /// About how many bytes they need.
        needed: usize,
        /// The most one push may take.
        budget: usize,
    },
    /// The pull brought inserts of keys the outstanding push inserts too:
    /// a copy of the push may yet be applied with them re-keyed (spec
    /// §11.5, §10.2.2.2), so the node merges nothing until an answer
    /// settles the push.
    #[error("a push sent earlier got no answer and may yet be applied with new keys: send it again (push or sync) before pulling")]
    PushUnsettled,
    /// A resolution named a table this node does not sync.
    #[error("table {0:?} is not synced")]
    NotSynced(String),
    /// A resolution named a row this node does not hold.
    #[error("{table} has no row {row_id} here")]
    NoSuchRow {
        /// The table.
        table: String,
        /// The row id.
        row_id: dbsync_core::RowId,
    },
    /// A rename named a column the table lacks.
    #[error("{table} has no column {column:?}")]
    UnknownColumn {
        /// The table.
        table: String,
        /// The column named.
        column: String,
    },
    /// A rename named no column.
    #[error("a rename needs at least one COLUMN=VALUE")]
    NothingToRename,
    /// Keeping the server's row would delete a row the server has (spec
    /// §12.2.4).
    #[error("{table} row {row_id} is a row the server has: deleting it would delete it for every node; rename it instead")]
    ServerHasRow {
        /// The table.
        table: String,
        /// The row id.
        row_id: dbsync_core::RowId,
    },
    /// The database refused the resolution's write on a constraint.
    #[error("the database refused the change to {table}: {reason}")]
    ResolutionRefused {
        /// The table.
        table: String,
        /// What the database said.
        reason: String,
    },
}

impl From<rusqlite::Error> for NodeError {
    fn from(e: rusqlite::Error) -> NodeError {
        NodeError::Store(StoreError::Sqlite(e))
    }
}

type Result<T> = std::result::Result<T, NodeError>;

/// Tracks `specs` (every user table when empty) for a node and creates the
/// node's tables.
pub fn prepare(
    conn: &mut Connection,
    specs: &[TableSpec],
) -> std::result::Result<Schema, StoreError> {
    prepare_with(conn, specs, &TrackOptions::default())
}

/// [`prepare`], with `options` saying what the rows of tables tracked for
/// the first time are (spec §3.5).
pub fn prepare_with(
    conn: &mut Connection,
    specs: &[TableSpec],
    options: &TrackOptions,
) -> std::result::Result<Schema, StoreError> {
    let schema = track::track_with(conn, specs, Role::Node, options)?;
    conn.execute_batch(NODE_SQL)?;
    let create = track::retyped(NODE_SQL, "dbsync_repair_stage");
    crate::untyped_ids::retype_row_ids(conn, "dbsync_repair_stage", &create)?;
    Ok(schema)
}

/// Runs `f` in a write transaction that takes the write lock up front
/// (`BEGIN IMMEDIATE`, so it waits out the application's transactions for
/// the busy timeout), or inside the caller's transaction when one is open.
fn in_write_transaction<T, E: From<rusqlite::Error>>(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> std::result::Result<T, E>,
) -> std::result::Result<T, E> {
    if !conn.is_autocommit() {
        return f(conn);
    }
    let tx = rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)?;
    let out = f(&tx)?;
    tx.commit()?;
    Ok(out)
}

/// Commits `tx`; a foreign key the deferred check finds broken at commit
/// is the pulled rows' fault (`what` names them), anything else the store's.
fn commit_checked(tx: rusqlite::Transaction<'_>, what: &str) -> Result<()> {
    tx.commit().map_err(|e| match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::ConstraintViolation) => {
            NodeError::BadPull(format!("{what} break a foreign key: {e}"))
        }
        _ => e.into(),
    })
}

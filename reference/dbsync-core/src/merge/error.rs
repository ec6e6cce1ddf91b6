//! Why a merge cannot be planned (spec §12.2.3, §12.8). A failed plan
//! changes nothing.

use super::view::ViewError;
use crate::error::ErrorCode;
use crate::protocol::row_id::RowId;
use crate::protocol::value::Values;
use serde::{Deserialize, Serialize};

/// A pulled row would hold unique values another local row keeps
/// (spec §12.2.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UniqueCollision {
    /// The table of the row the merge would write.
    pub table: String,
    /// The id of the row the merge would write.
    pub row_id: RowId,
    /// The columns of the unique constraint, as the schema lists them.
    pub columns: Vec<String>,
    /// Each of `columns` with the value both rows hold.
    pub values: Values,
    /// The row holding the values: the local holder by its key as the
    /// node's database has it, or the other written row of a pair.
    pub holder_row_id: RowId,
}

/// A merge that cannot be planned: one variant per rule of spec §12.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// §12.2.3: every unique collision, and nothing else.
    #[error("{} unique collision(s), first: {:?}", .0.len(), .0.first())]
    UniqueCollisions(Vec<UniqueCollision>),
    /// §12.8.1: an op or row names a table the schema does not have.
    #[error("unknown table {table:?}")]
    UnknownTable {
        /// The table named.
        table: String,
    },
    /// §12.8.2: two pulled ops name the same row (they were not compressed).
    #[error("two pulled ops name {table} row {row_id}")]
    DuplicatePulledOp {
        /// The row's table.
        table: String,
        /// The row's id.
        row_id: RowId,
    },
    /// §12.8.2: two pending ops name the same row (they were not compressed).
    #[error("two pending ops name {table} row {row_id}")]
    DuplicatePendingOp {
        /// The row's table.
        table: String,
        /// The row's id.
        row_id: RowId,
    },
    /// §12.8.3: a row the merge would write references a row that neither
    /// the local database nor the message holds.
    #[error("{table} row {row_id} references {parent_table} row {parent_id} through {column}, which neither side holds")]
    MissingParent {
        /// The row's table.
        table: String,
        /// The row's id.
        row_id: RowId,
        /// The foreign-key column.
        column: String,
        /// The table it references.
        parent_table: String,
        /// The referenced row id that neither side holds.
        parent_id: RowId,
    },
    /// §12.8.4: a pending op contradicts the local row (`i`/`u` of a row
    /// that does not exist).
    #[error("pending {command} of {table} row {row_id} but the row does not exist locally")]
    PendingRowMissing {
        /// The row's table.
        table: String,
        /// The row's id.
        row_id: RowId,
        /// The pending command (`i` or `u`).
        command: crate::protocol::op::Command,
    },
    /// §12.3.4: no fresh key is left above the table's largest key.
    #[error("no fresh key left in table {table:?}")]
    KeysExhausted {
        /// The table whose keys ran out.
        table: String,
    },
    /// The local view failed.
    #[error(transparent)]
    View(#[from] ViewError),
}

impl MergeError {
    /// The stable code of the error model (spec §17).
    pub fn code(&self) -> ErrorCode {
        match self {
            MergeError::UniqueCollisions(_) => ErrorCode::UniqueCollision,
            MergeError::UnknownTable { .. } => ErrorCode::UnknownTable,
            MergeError::DuplicatePulledOp { .. } | MergeError::DuplicatePendingOp { .. } => {
                ErrorCode::DuplicateOp
            }
            MergeError::MissingParent { .. } => ErrorCode::MissingRow,
            MergeError::PendingRowMissing { .. } => ErrorCode::InvalidPendingSequence,
            MergeError::KeysExhausted { .. } | MergeError::View(_) => ErrorCode::InternalError,
        }
    }
}

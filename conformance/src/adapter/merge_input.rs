//! The input of a merge vector (spec §12's scenario format) and the shape
//! of its outcome.

use super::bad_input;
use crate::node::protocol::LocalError;
use dbsync_core::merge::{policy_by_name, ConflictEntry, MergeError, Policy, Restore};
use dbsync_core::model::scenario::{LocalState, PullState};
use dbsync_core::{Op, Row, Schema, TableSchema};
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MergeVectorInput {
    pub policy: String,
    pub schema: Vec<TableSchema>,
    pub local: LocalState,
    pub pull: PullState,
}

impl MergeVectorInput {
    pub fn of(vector: &Value) -> Result<MergeVectorInput, LocalError> {
        serde_json::from_value(vector["input"].clone()).map_err(bad_input)
    }

    pub fn schema(&self) -> Schema {
        Schema::new(self.schema.clone())
    }

    pub fn policy(&self) -> Result<&'static dyn Policy, LocalError> {
        policy_by_name(&self.policy).ok_or_else(|| bad_input(format!("policy {:?}", self.policy)))
    }
}

/// `{"rows", "pending", "restores", "conflicts"}`.
pub fn outcome(
    rows: &[Row],
    pending: &[Op],
    restores: &[Restore],
    conflicts: &[ConflictEntry],
) -> Value {
    json!({ "rows": rows, "pending": pending, "restores": restores, "conflicts": conflicts })
}

/// A merge that stopped, as a local error (spec §17.2): the collisions of
/// `unique_collision` in `details.collisions`; for a pending op of a
/// missing row, the row and its op as a one-op `sequence` (§12.8).
pub fn merge_error(e: &MergeError) -> LocalError {
    let err = LocalError::new(e.code().as_str(), e.to_string());
    match e {
        MergeError::UniqueCollisions(c) => err.with(json!({ "collisions": c })),
        MergeError::PendingRowMissing {
            table,
            row_id,
            command,
        } => err.with(json!({ "table": table, "row_id": row_id, "sequence": [command] })),
        _ => err,
    }
}

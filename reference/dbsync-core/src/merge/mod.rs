//! Merge planning (spec §12): from the compressed pulled ops, the rows of
//! the pull, the compressed pending ops and a read-only [`LocalView`] of
//! the node's database, compute either a [`Plan`] (ordered store actions
//! and conflict-log entries) or every unique collision.
//!
//! The steps of spec §12.2–§12.6, one module each:
//!
//! - [`identity`](self::identity): pulled op against pending op of the same
//!   row: direct and insert conflicts, the absent-row rule (§12.3.1,
//!   §12.3.4, §12.5);
//! - `dependency`: remote deletes of rows local rows still reference
//!   (§12.3.2);
//! - `closure`: parents of every row the merge writes: reversed
//!   dependencies and parents carried by the message (§12.3.3);
//! - `unique`: swaps and collisions (§12.2);
//! - `emit`: the order of the actions (§12.6).
//!
//! Planning is linear in the ops: every join is a hash-map look-up keyed
//! by (table, row id), or a [`LocalView`] look-up keyed by a foreign-key
//! target or by unique values.

mod catalog;
mod closure;
mod dependency;
mod emit;
mod error;
pub(crate) mod hash;
mod identity;
mod plan;
mod policy;
mod state;
mod unique;
mod view;

#[cfg(test)]
mod tests;

pub use error::{MergeError, UniqueCollision};
pub use plan::{Action, ConflictEntry, ConflictKind, Plan, RowRef, Rule};
pub use policy::{by_name as policy_by_name, DirectConflict, NodeWins, Policy, ServerWins, Winner};
pub use view::{LocalView, ViewError};

use crate::compress::CompressedPull;
use crate::protocol::op::{Op, VersionedOp};
use crate::protocol::value::Row;
use crate::schema::Schema;
use std::collections::BTreeMap;

/// Everything a merge needs besides the local database (spec §12.1.1).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MergeInput {
    /// The compressed pulled ops (spec §5.3): at most one per row.
    pub pulled: Vec<VersionedOp>,
    /// The rows of the pull (spec §11.3): the current server values of the
    /// rows the ops insert or update, their parents (transitively), and
    /// the server rows of the node's pending rows. When a row comes more
    /// than once (pages of one transfer, in order), the last copy counts.
    pub rows: Vec<Row>,
    /// The compressed pending ops (spec §5.2): at most one per row.
    pub pending: Vec<Op>,
    /// The largest row id each table used in the pulled ops, compressed
    /// away or not (spec §5.3.2).
    pub remote_max_ids: BTreeMap<String, i64>,
    /// The version the node reaches, recorded by the plan's last action.
    pub target_version: Option<u64>,
}

impl MergeInput {
    /// The input of a pull whose ops were compressed into `pull`. The
    /// target version is the pull's last version.
    pub fn new(pull: CompressedPull, rows: Vec<Row>, pending: Vec<Op>) -> MergeInput {
        MergeInput {
            pulled: pull.ops,
            rows,
            pending,
            remote_max_ids: pull.max_row_ids,
            target_version: pull.last_version,
        }
    }
}

/// Plans a merge (spec §12). Nothing is changed: the store applies the
/// plan. On `Err`, the store must change nothing either.
pub fn plan(
    input: &MergeInput,
    schema: &Schema,
    policy: &dyn Policy,
    view: &dyn LocalView,
) -> Result<Plan, MergeError> {
    let mut planner = state::Planner::new(schema, policy, view, input)?;
    planner.resolve_identities()?;
    planner.resolve_dependencies()?;
    planner.close_parents()?;
    planner.check_unique()?;
    planner.emit()
}

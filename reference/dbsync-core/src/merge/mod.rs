//! Merge planning (spec §12): from the compressed pulled ops, the rows of
//! the pull, the compressed pending ops and a read-only [`LocalView`] of
//! the node's database, compute either a [`Plan`] (ordered store actions
//! and conflict-log entries) or every unique collision.
//!
//! The steps of spec §12.2–§12.6, one module each:
//!
//! - `identity`: pulled op against pending op of the same
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
mod columns;
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
pub use plan::{Action, ConflictEntry, ConflictKind, Plan, Restore, RowRef, Rule};
pub use policy::{
    by_name as policy_by_name, DirectConflict, NodeWins, Policy, Resolution, ServerWins, Winner,
};
pub use view::{LocalView, ViewError};

use crate::compress::{compress_pulled, CompressedPull};
use crate::protocol::op::{Command, Op, OplogRecord, VersionedOp};
use crate::protocol::row_id::RowId;
use crate::protocol::value::Row;
use crate::schema::Schema;
use std::collections::{BTreeMap, HashMap, HashSet};

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
    /// The pending `i` ops that are restores (spec §12.3.5).
    pub restores: Vec<Restore>,
    /// The largest row id each table used in the pulled ops, compressed
    /// away or not (spec §5.3.2).
    pub remote_max_ids: BTreeMap<String, RowId>,
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
            restores: Vec::new(),
            remote_max_ids: pull.max_row_ids,
            target_version: pull.last_version,
        }
    }

    /// The input of a merge of the raw pulled ops `pulled` (server order,
    /// the node's own versions removed, spec §5.3.3): compresses them
    /// (§5.3) and feeds every key whose remote ops compress to nothing
    /// and that has a pending `i` to the planner as a remote `d` with the
    /// version of its last remote op (§12.3.4, §12.3.5).
    pub fn of_pull(
        pulled: &[VersionedOp],
        rows: Vec<Row>,
        pending: Vec<Op>,
        restores: Vec<Restore>,
    ) -> MergeInput {
        let mut pull = compress_pulled(pulled);
        let inserts: HashSet<(&str, RowId)> = pending
            .iter()
            .filter(|o| o.command == Command::Insert)
            .map(|o| (o.table.as_str(), o.row_id))
            .collect();
        // The pending inserts' keys the pulled ops name, with the version
        // of their last op; those compression kept are not vanished.
        let mut vanished: HashMap<(&str, RowId), u64> = HashMap::new();
        if !inserts.is_empty() {
            for op in pulled {
                let key = (op.table.as_str(), op.row_id);
                if inserts.contains(&key) {
                    vanished.insert(key, op.version);
                }
            }
            for op in &pull.ops {
                vanished.remove(&(op.table.as_str(), op.row_id));
            }
        }
        let mut extra: Vec<VersionedOp> = vanished
            .into_iter()
            .map(|((table, row_id), version)| VersionedOp {
                version,
                table: table.to_owned(),
                row_id,
                command: Command::Delete,
                columns: None,
                out: false,
            })
            .collect();
        extra.sort_by(|a, b| (a.version, &a.table, a.row_id).cmp(&(b.version, &b.table, b.row_id)));
        pull.ops.extend(extra);
        let mut input = MergeInput::new(pull, rows, pending);
        input.restores = restores;
        input
    }
}

/// The restores among a node's pending records (spec §12.3.5). `marks`
/// maps the `order` of each pending `i` record a merge wrote as a restore
/// to whether it was changed then. A mark counts while its record is the
/// first of its row's pending records and the row is not deleted since
/// (`i u* d` is nothing); an update since makes the restore changed.
/// Sorted by table and row id.
pub fn pending_restores(records: &[OplogRecord], marks: &HashMap<u64, bool>) -> Vec<Restore> {
    if marks.is_empty() {
        return Vec::new();
    }
    // Per row: its first pending record's order, whether it was updated
    // and whether it was deleted after it.
    let mut rows: HashMap<(&str, RowId), (u64, bool, bool)> = HashMap::new();
    let mut sorted: Vec<&OplogRecord> = records.iter().filter(|r| r.version.is_none()).collect();
    sorted.sort_by_key(|r| r.order);
    for r in sorted {
        let e = rows
            .entry((r.table.as_str(), r.row_id))
            .or_insert((r.order, false, false));
        if e.0 != r.order {
            match r.command {
                Command::Update => e.1 = true,
                Command::Delete => e.2 = true,
                Command::Insert => {}
            }
        }
    }
    let mut out: Vec<Restore> = rows
        .into_iter()
        .filter_map(|((table, row_id), (first, updated, deleted))| {
            let changed = marks.get(&first)?;
            (!deleted).then(|| Restore {
                table: table.to_owned(),
                row_id,
                changed: *changed || updated,
            })
        })
        .collect();
    out.sort();
    out
}

/// Plans a merge (spec §12). Nothing is changed: the store applies the
/// plan. On `Err`, the store must change nothing either. The plan's
/// inserts and updates copy the pulled rows' values; [`plan_moving`]
/// moves them.
pub fn plan(
    input: &MergeInput,
    schema: &Schema,
    policy: &dyn Policy,
    view: &dyn LocalView,
) -> Result<Plan, MergeError> {
    let (mut plan, fills) = planned(input, schema, policy, view)?;
    for (action, row) in fills {
        plan.actions[action].set_values(input.rows[row].values.clone());
    }
    Ok(plan)
}

/// [`plan`], moving each pulled row's values into the action that writes
/// them instead of copying them (a pull of many rows allocates each
/// row's values once).
pub fn plan_moving(
    mut input: MergeInput,
    schema: &Schema,
    policy: &dyn Policy,
    view: &dyn LocalView,
) -> Result<Plan, MergeError> {
    let (mut plan, fills) = planned(&input, schema, policy, view)?;
    for (action, row) in fills {
        plan.actions[action].set_values(std::mem::take(&mut input.rows[row].values));
    }
    Ok(plan)
}

/// The plan with its inserts' and updates' values still empty, and which
/// pulled row fills each of them.
fn planned(
    input: &MergeInput,
    schema: &Schema,
    policy: &dyn Policy,
    view: &dyn LocalView,
) -> Result<(Plan, Vec<(usize, usize)>), MergeError> {
    let mut planner = state::Planner::new(schema, policy, view, input)?;
    planner.resolve_identities()?;
    planner.resolve_dependencies()?;
    planner.close_parents()?;
    planner.check_unique()?;
    planner.emit()
}

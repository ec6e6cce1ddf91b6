//! Merging a whole pull into the node's database in one transaction
//! (spec §11.5, §12): the pull's pages are gathered, the node's own push
//! recognised, the core plans the merge and [`apply_plan`] applies it.

use super::apply::apply_plan;
use super::pending::{compressed_pending_pruning, pending_restores};
use super::push::settle_by_pull;
use super::state::{set_state, state};
use super::view::LocalDb;
use super::{commit_checked, NodeError, Result};
use crate::{oplog, rows};
use dbsync_core::compress::without_versions;
use dbsync_core::merge::{self, ConflictEntry, MergeInput, Policy};
use dbsync_core::protocol::{PullResponse, VersionInfo};
use dbsync_core::{Row, Schema, VersionedOp};
use rusqlite::{Connection, TransactionBehavior};
use std::collections::HashSet;

/// Every page of a pull, gathered before the merge (spec §11.4).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StagedPull {
    pub target_version: u64,
    pub versions: Vec<VersionInfo>,
    pub ops: Vec<VersionedOp>,
    pub rows: Vec<Row>,
}

impl StagedPull {
    /// Adds one page.
    pub fn add(&mut self, page: PullResponse) {
        self.target_version = page.target_version;
        self.versions.extend(page.versions);
        self.ops.extend(page.ops);
        // A later page's copy of a row is as new as an earlier one's.
        self.rows.extend(page.rows);
    }
}

/// What a merge did.
#[derive(Debug, Clone, PartialEq)]
pub struct MergeReport {
    /// Versions recognised as the node's own pushes (spec §11.5).
    pub own_versions: Vec<u64>,
    /// How many pulled ops the merge took in (those of the node's own
    /// versions aside), before compression.
    pub ops_merged: usize,
    /// Every resolution the merge applied, as logged (spec §12.7).
    pub conflicts: Vec<ConflictEntry>,
    /// The last version the node now knows.
    pub version: u64,
}

/// Merges a whole pull into the node's database in one transaction
/// (spec §11.5, §12). On any error nothing changes.
pub fn merge(
    conn: &mut Connection,
    schema: &Schema,
    policy: &dyn Policy,
    staged: StagedPull,
    now: u64,
) -> Result<MergeReport> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let st = state(&tx)?;
    let node_id = st.node_id.ok_or(NodeError::NotRegistered)?;
    if st.repair_owed {
        return Err(NodeError::RepairOwed);
    }
    for row in &staged.rows {
        dbsync_core::validate::check_row(schema, row)
            .map_err(|e| NodeError::BadPull(e.to_string()))?;
    }
    // §11.5: a version of our own outstanding push is ours, not remote work.
    let mut own = HashSet::new();
    if let Some(push_id) = &st.outstanding_push {
        let settled = settle_by_pull(
            &tx,
            node_id,
            push_id,
            &staged.versions,
            staged.target_version,
        )?;
        own.extend(settled);
    }
    let ops = without_versions(staged.ops, &own);
    let ops_merged = ops.len();
    super::reused::move_reused_keys(&tx, schema)?;
    let records = oplog::pending(&tx)?;
    let pending = compressed_pending_pruning(&tx, &records)?;
    let restores = pending_restores(&tx, &records)?;
    // A key whose remote ops compress to nothing reaches a local pending
    // `i` as a remote `d` (spec §12.3.4); restores are marked (§12.3.5).
    let mut input = MergeInput::of_pull(&ops, newest_rows(staged.rows), pending, restores);
    input.target_version = Some(staged.target_version);
    let sql = rows::SqlCatalog::new(schema);
    let local = LocalDb {
        conn: &tx,
        schema,
        sql: &sql,
    };
    let plan = merge::plan(&input, schema, policy, &local)?;
    apply_plan(&tx, schema, &plan, now)?;
    let last = state(&tx)?.last_version.max(staged.target_version);
    set_state(&tx, "last_version", &(last as i64))?;
    commit_checked(tx, "the merged rows")?;
    Ok(MergeReport {
        own_versions: own.into_iter().collect(),
        ops_merged,
        conflicts: plan.conflicts,
        version: last,
    })
}

/// The newest copy of each row: a row may come in several pages, and the
/// last copy is the newest.
fn newest_rows(rows: Vec<Row>) -> Vec<Row> {
    let keep: Vec<bool> = {
        let mut seen: HashSet<(&str, i64)> = HashSet::with_capacity(rows.len());
        let mut keep = vec![false; rows.len()];
        for (i, r) in rows.iter().enumerate().rev() {
            keep[i] = seen.insert((r.table.as_str(), r.id));
        }
        keep
    };
    rows.into_iter()
        .zip(keep)
        .filter_map(|(r, k)| k.then_some(r))
        .collect()
}

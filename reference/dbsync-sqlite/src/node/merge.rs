//! Merging a whole pull into the node's database in one transaction
//! (spec §11.5, §12): the pull's pages are gathered, the node's own push
//! recognised, the core plans the merge and [`apply_plan`] applies it.

use super::apply::apply_plan;
use super::own_versions::{forget_through, own_versions};
use super::pending::{compressed_pending_pruning, pending_restores};
use super::push::settle_by_pull;
use super::state::{set_state, state};
use super::view::LocalDb;
use super::{commit_checked, NodeError, Result};
use crate::{oplog, rows};
use dbsync_core::compress::without_versions;
use dbsync_core::merge::{self, ConflictEntry, MergeInput, Policy};
use dbsync_core::protocol::{PullResponse, VersionInfo};
use dbsync_core::RowId;
use dbsync_core::{Row, Schema, VersionedOp};
use rusqlite::{Connection, TransactionBehavior};
use std::collections::HashSet;

/// The pages of a pull gathered for one merge (spec §11.4, §11.6): the
/// whole transfer, or a step of it that ends on a version boundary.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StagedPull {
    /// The version the merge brings the node to.
    pub target_version: u64,
    pub versions: Vec<VersionInfo>,
    pub ops: Vec<VersionedOp>,
    pub rows: Vec<Row>,
    /// How many rows the first page brought (those of the pending ops,
    /// spec §11.3.2, come first).
    first_len: usize,
    /// The first page's rows, copied at the first split (spec §11.6), to
    /// go with every later step; `None` until a split.
    first_rows: Option<Vec<Row>>,
    /// For each page gathered, where its ops and rows end.
    page_ends: Vec<(usize, usize)>,
}

impl StagedPull {
    /// A whole transfer to `target_version`, gathered by the caller.
    pub fn whole(
        target_version: u64,
        versions: Vec<VersionInfo>,
        ops: Vec<VersionedOp>,
        rows: Vec<Row>,
    ) -> StagedPull {
        StagedPull {
            target_version,
            versions,
            ops,
            rows,
            ..StagedPull::default()
        }
    }

    /// Adds one page.
    pub fn add(&mut self, page: PullResponse) {
        if self.page_ends.is_empty() {
            self.first_len = page.rows.len();
        }
        self.target_version = page.target_version;
        self.versions.extend(page.versions);
        self.ops.extend(page.ops);
        // A later page's copy of a row is as new as an earlier one's.
        self.rows.extend(page.rows);
        self.page_ends.push((self.ops.len(), self.rows.len()));
    }

    /// Splits off, as a step to merge now (spec §11.6), the ops of every
    /// version listed so far (a version is listed once all its ops came,
    /// §11.3.1) with the rows gathered; keeps the ops of later versions
    /// and the rows of the pages they came in. `None` when no listed
    /// version has an op here.
    pub fn split_listed(&mut self) -> Option<StagedPull> {
        let cut = self.versions.last()?.version;
        let keep_from = self.ops.partition_point(|o| o.version <= cut);
        if keep_from == 0 {
            return None;
        }
        let page = self
            .page_ends
            .partition_point(|&(ops_end, _)| ops_end <= keep_from);
        let rows_from = page.checked_sub(1).map_or(0, |p| self.page_ends[p].1);
        let kept_rows = self.rows[rows_from..].to_vec();
        let kept_ops = self.ops.split_off(keep_from);
        let rows = match &self.first_rows {
            // The first step holds the first page itself.
            None => {
                let first = self.rows[..self.first_len.min(self.rows.len())].to_vec();
                self.first_rows = Some(first);
                std::mem::take(&mut self.rows)
            }
            Some(first) => {
                let mut rows = first.clone();
                rows.append(&mut self.rows);
                rows
            }
        };
        let step = StagedPull {
            target_version: cut,
            versions: std::mem::take(&mut self.versions),
            ops: std::mem::replace(&mut self.ops, kept_ops),
            rows,
            ..StagedPull::default()
        };
        self.rows = kept_rows;
        self.page_ends = vec![(self.ops.len(), self.rows.len())];
        Some(step)
    }

    /// The rest of the transfer, as its last step. The first page's rows
    /// come first, so that later copies of a row win.
    pub fn last_step(mut self) -> StagedPull {
        let mut rows = self.first_rows.take().unwrap_or_default();
        rows.append(&mut self.rows);
        self.rows = rows;
        self
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
    /// In how many transactions the pull was merged (spec §11.6: steps
    /// that end on version boundaries, then the last).
    pub steps: usize,
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
    // §10.3: versions of pushes accepted behind are ours too.
    let mut own: HashSet<u64> = own_versions(&tx)?.into_iter().collect();
    if let Some(push_id) = &st.outstanding_push {
        let settled = settle_by_pull(
            &tx,
            schema,
            node_id,
            push_id,
            &staged.versions,
            &staged.ops,
            &own,
        )?;
        own.extend(settled);
    }
    forget_through(&tx, staged.target_version)?;
    let ops = without_versions(staged.ops, &own);
    let ops_merged = ops.len();
    super::reused::move_reused_keys(&tx, schema)?;
    // §19.6: rows that left the node's scope take their pending work out.
    let left = super::moved_out::leave_scope(&tx, schema, &ops)?;
    super::conflicts::record(&tx, now, Some(staged.target_version), &left)?;
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
    let plan = merge::plan_moving(input, schema, policy, &local)?;
    apply_plan(&tx, schema, &plan, now)?;
    let last = state(&tx)?.last_version.max(staged.target_version);
    set_state(&tx, "last_version", &(last as i64))?;
    commit_checked(tx, "the merged rows")?;
    Ok(MergeReport {
        own_versions: own.into_iter().collect(),
        ops_merged,
        conflicts: left.into_iter().chain(plan.conflicts).collect(),
        version: last,
        steps: 1,
    })
}

/// The newest copy of each row: a row may come in several pages, and the
/// last copy is the newest.
fn newest_rows(rows: Vec<Row>) -> Vec<Row> {
    let keep: Vec<bool> = {
        let mut seen: HashSet<(&str, RowId)> = HashSet::with_capacity(rows.len());
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

#[cfg(test)]
mod tests {
    use super::*;
    use dbsync_core::Command;

    /// A page of inserts of `item` rows `ids`, in version `v` each, that
    /// lists `listed`.
    fn page(ops: &[(u64, i64)], listed: &[u64]) -> PullResponse {
        PullResponse {
            protocol: "1.0".into(),
            target_version: 9,
            versions: listed
                .iter()
                .map(|&version| VersionInfo {
                    version,
                    node_id: Some(2),
                    push_id: None,
                    created_at: "2026-01-01T00:00:00Z".into(),
                })
                .collect(),
            ops: ops
                .iter()
                .map(|&(version, row_id)| VersionedOp {
                    version,
                    table: "item".into(),
                    row_id: row_id.into(),
                    command: Command::Insert,
                    columns: None,
                    out: false,
                })
                .collect(),
            rows: ops
                .iter()
                .map(|&(_, id)| Row {
                    table: "item".into(),
                    id: id.into(),
                    values: Default::default(),
                })
                .collect(),
            next_cursor: Some("c".into()),
        }
    }

    fn ids<'a>(rows: impl IntoIterator<Item = &'a Row>) -> Vec<i64> {
        rows.into_iter()
            .map(|r| r.id.as_int().expect("an integer id"))
            .collect()
    }

    #[test]
    fn a_step_takes_the_listed_versions_and_keeps_the_rest_with_the_rows_of_its_pages() {
        let mut staged = StagedPull::default();
        staged.add(page(&[(1, 10), (1, 11)], &[]));
        staged.add(page(&[(1, 12), (2, 20)], &[1]));
        staged.add(page(&[(2, 21), (3, 30)], &[]));
        let step = staged.split_listed().expect("version 1 is listed");
        assert_eq!(step.target_version, 1);
        assert_eq!(step.ops.len(), 3);
        // Every page's rows, the first page's first (and only once: the
        // first step holds the first page itself).
        assert_eq!(ids(&step.rows), [10, 11, 12, 20, 21, 30]);
        // Kept: the ops of versions 2 and 3 and the rows of the pages
        // they came in (the second page on).
        assert_eq!(
            staged.ops.iter().map(|o| o.row_id).collect::<Vec<_>>(),
            [20, 21, 30].map(RowId::Int)
        );
        assert_eq!(ids(&staged.rows), [12, 20, 21, 30]);
        assert!(staged.split_listed().is_none(), "no version is listed yet");
        staged.add(page(&[(3, 31)], &[2, 3]));
        let last = staged.last_step();
        assert_eq!((last.versions.len(), last.ops.len()), (2, 4));
        assert_eq!(ids(&last.rows), [10, 11, 12, 20, 21, 30, 31]);
    }
}

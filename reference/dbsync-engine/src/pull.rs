//! Pull (spec §11): pages of the versions after the node's base, their
//! ops and the rows they need (§11.3), cut by cursors (§11.4).

use crate::cursor::{self, CursorKind};
use crate::push::check_base;
use crate::rows::RowsWithParents;
use crate::settings::Limits;
use crate::store::{OpPosition, PositionedOp, ReadTx, Store};
use crate::Rejection;
use dbsync_core::auth::Secret;
use dbsync_core::protocol::{PullRequest, PullResponse};
use dbsync_core::{Command, Schema};

/// Where a page starts: the transfer's target, the position of the last
/// op sent, and the last version listed (spec §11.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PageStart {
    target: u64,
    after: OpPosition,
    listed_through: u64,
}

impl PageStart {
    /// The start of the page `req` asks for.
    fn of(key: &Secret, node_id: u64, req: &PullRequest, latest: u64) -> Result<Self, Rejection> {
        let Some(c) = &req.cursor else {
            return Ok(PageStart {
                target: latest,
                after: OpPosition::default(),
                listed_through: req.base_version,
            });
        };
        let f = cursor::read(key, CursorKind::Pull, node_id, c, 5)?;
        let start = PageStart {
            target: f[1],
            after: OpPosition {
                version: f[2],
                seq: f[3],
            },
            listed_through: f[4],
        };
        if f[0] != req.base_version || start.target > latest || start.listed_through > start.target
        {
            return Err(Rejection::invalid_cursor(
                "this cursor belongs to another base version",
            ));
        }
        Ok(start)
    }

    fn cursor(&self, key: &Secret, node_id: u64, base: u64) -> String {
        let f = [
            base,
            self.target,
            self.after.version,
            self.after.seq,
            self.listed_through,
        ];
        cursor::issue(key, CursorKind::Pull, node_id, &f)
    }
}

/// Serves one page of a pull (spec §11) from one read snapshot.
pub fn pull_page(
    store: &dyn Store,
    limits: &Limits,
    key: &Secret,
    node_id: u64,
    req: &PullRequest,
) -> Result<PullResponse, Rejection> {
    let schema = store.schema();
    let mut tx = store.read()?;
    let node = tx
        .node(node_id)?
        .ok_or_else(|| Rejection::unknown_node(node_id))?;
    let latest = tx.latest_version()?;
    check_base(&mut *tx, &node, req.base_version, latest)?;
    let start = PageStart::of(key, node_id, req, latest)?;
    let limit = limits.pull_page_ops.max(1);
    let mut ops = tx.ops_after(req.base_version, start.target, start.after, limit + 1)?;
    let following = (ops.len() > limit).then(|| ops.split_off(limit).remove(0));
    let next = following.map(|f| next_start(&start, &ops, &f));
    let listed_through = next.map_or(start.target, |n| n.listed_through);
    let versions = tx.versions(start.listed_through, listed_through)?;
    let ops: Vec<_> = ops
        .into_iter()
        .map(|p| p.op)
        .filter(|o| schema.table(&o.table).is_some_and(|t| t.direction.pulls()))
        .collect();
    let rows = page_rows(&mut *tx, schema, req, &ops)?;
    Ok(PullResponse {
        protocol: dbsync_core::PROTOCOL_VERSION.into(),
        target_version: start.target,
        versions,
        ops,
        rows,
        next_cursor: next.map(|n| n.cursor(key, node_id, req.base_version)),
    })
}

/// The start of the page after one that sent `sent`, when `following`
/// is the first op it did not send: every version before `following`'s
/// is complete.
fn next_start(start: &PageStart, sent: &[PositionedOp], following: &PositionedOp) -> PageStart {
    let after = sent.last().map_or(start.after, |p| p.position);
    PageStart {
        target: start.target,
        after,
        listed_through: (following.position.version - 1).max(start.listed_through),
    }
}

/// The rows of a page (spec §11.3.2): those its `i` and `u` ops name,
/// on the first page those `pending` names, and their parents.
fn page_rows(
    tx: &mut dyn ReadTx,
    schema: &Schema,
    req: &PullRequest,
    ops: &[dbsync_core::VersionedOp],
) -> Result<Vec<dbsync_core::Row>, Rejection> {
    let mut rows = RowsWithParents::new(schema);
    if req.cursor.is_none() {
        for op in &req.pending {
            rows.want(&op.table, op.row_id);
        }
    }
    for op in ops.iter().filter(|o| o.command != Command::Delete) {
        rows.want(&op.table, op.row_id);
    }
    Ok(rows.read(tx)?)
}

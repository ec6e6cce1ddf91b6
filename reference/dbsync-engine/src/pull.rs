//! Pull (spec §11): pages of the versions after the node's base, their
//! ops and the rows they need (§11.3), cut by cursors (§11.4).

use crate::cursor::{self, CursorKind};
use crate::push::check_base;
use crate::rows::RowsWithParents;
use crate::scope::{view::NodeView, Scopes};
use crate::settings::Limits;
use crate::store::{OpPosition, PositionedOp, ReadTx, Store};
use crate::Rejection;
use dbsync_core::auth::Secret;
use dbsync_core::protocol::{PullRequest, PullResponse};
use dbsync_core::{Command, Schema};
use std::collections::HashSet;

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

/// Serves one page of a pull (spec §11) from one read snapshot; on a
/// scoped server (`scopes`), only what the node's scope shows (§19.5).
pub fn pull_page(
    store: &dyn Store,
    limits: &Limits,
    key: &Secret,
    node_id: u64,
    req: &PullRequest,
    scopes: Option<&Scopes>,
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
    let view = scopes.map(|_| NodeView::of(&node));
    let (mut ops, unsent) = match &view {
        None => (
            tx.ops_after(req.base_version, start.target, start.after, limit + 1)?,
            HashSet::new(),
        ),
        Some(v) => scoped_ops(&mut *tx, v, req.base_version, &start, limit + 1)?,
    };
    let (mut rows, sent) = page_rows(
        &mut *tx,
        schema,
        req,
        &ops[..ops.len().min(limit)],
        limits.page_bytes,
    )?;
    let following = (ops.len() > sent).then(|| ops.split_off(sent).remove(0));
    let next = following.map(|f| next_start(&start, &ops, &f));
    let listed_through = next.map_or(start.target, |n| n.listed_through);
    let versions = match &view {
        None => tx.versions(start.listed_through, listed_through)?,
        Some(v) => {
            rows = v.rows_in_scope(&mut *tx, rows)?;
            listed_with_ops(&mut *tx, schema, &start, &ops, &unsent, listed_through)?
        }
    };
    let ops: Vec<_> = ops
        .into_iter()
        .filter(|p| !unsent.contains(&p.position))
        .map(|p| p.op)
        .filter(|o| schema.table(&o.table).is_some_and(|t| t.direction.pulls()))
        .collect();
    Ok(PullResponse {
        protocol: dbsync_core::PROTOCOL_VERSION.into(),
        target_version: start.target,
        versions,
        ops,
        rows,
        next_cursor: next.map(|n| n.cursor(key, node_id, req.base_version)),
    })
}

/// The ops of a scoped page (spec §19.5), as the node receives them, and
/// the positions of those it receives nothing of (kept in the list so
/// that the page's cut and cursor are those of the index).
fn scoped_ops(
    tx: &mut dyn ReadTx,
    view: &NodeView,
    base: u64,
    start: &PageStart,
    limit: usize,
) -> Result<(Vec<PositionedOp>, HashSet<OpPosition>), Rejection> {
    let found = tx.scoped_ops_after(&view.keys, base, start.target, start.after, limit)?;
    let mut unsent = HashSet::new();
    let ops = found
        .into_iter()
        .map(|s| {
            let kept = s.op.clone();
            view.deliver(s).unwrap_or_else(|| {
                unsent.insert(kept.position);
                kept
            })
        })
        .collect();
    Ok((ops, unsent))
}

/// The versions a scoped page lists (spec §19.5): those complete by
/// `listed_through` that have an op sent to the node, in this page or,
/// for the version the previous page cut, in an earlier one.
fn listed_with_ops(
    tx: &mut dyn ReadTx,
    schema: &Schema,
    start: &PageStart,
    sent: &[PositionedOp],
    unsent: &HashSet<OpPosition>,
    listed_through: u64,
) -> Result<Vec<dbsync_core::protocol::VersionInfo>, Rejection> {
    let mut versions: Vec<u64> = sent
        .iter()
        .filter(|p| !unsent.contains(&p.position))
        .filter(|p| {
            schema
                .table(&p.op.table)
                .is_some_and(|t| t.direction.pulls())
        })
        .map(|p| p.position.version)
        .collect();
    if start.after.version > start.listed_through {
        versions.push(start.after.version);
    }
    versions.sort_unstable();
    versions.dedup();
    let mut listed = Vec::new();
    for v in versions
        .into_iter()
        .filter(|v| *v > start.listed_through && *v <= listed_through)
    {
        listed.extend(tx.versions(v - 1, v)?);
    }
    Ok(listed)
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
/// on the first page those `pending` names, and their parents; and how
/// many of `ops` the page sends. The ops are taken in parts, the rows of
/// each part read with a query per table, until the page's estimated
/// bytes reach `page_bytes` (at least one part: a page that has ops to
/// send sends one).
fn page_rows(
    tx: &mut dyn ReadTx,
    schema: &Schema,
    req: &PullRequest,
    ops: &[PositionedOp],
    page_bytes: usize,
) -> Result<(Vec<dbsync_core::Row>, usize), Rejection> {
    let mut wanted = RowsWithParents::new(schema);
    if req.cursor.is_none() {
        for op in &req.pending {
            wanted.want(&op.table, op.row_id);
        }
    }
    let (mut rows, mut bytes, mut sent) = (Vec::new(), 0usize, 0usize);
    // At least one part, even of no ops: the first page's pending rows.
    loop {
        let part = &ops[sent..(sent + part_len(bytes, sent, page_bytes)).min(ops.len())];
        for p in part.iter().filter(|p| p.op.command != Command::Delete) {
            wanted.want(&p.op.table, p.op.row_id);
        }
        let read = wanted.read_wanted(tx)?;
        bytes += part
            .iter()
            .map(|p| OP_BYTES + p.op.table.len())
            .sum::<usize>()
            + read.iter().map(|r| r.json_len_estimate()).sum::<usize>();
        rows.extend(read);
        sent += part.len();
        if sent == ops.len() || bytes >= page_bytes {
            return Ok((rows, sent));
        }
    }
}

/// About how many bytes an op takes in a page, besides its table's name.
const OP_BYTES: usize = 64;

/// How many ops the next part of a page takes: 64 at first, then as many
/// as the bytes left are expected to hold at the page's bytes per op so
/// far, up to 1,000.
fn part_len(bytes: usize, sent: usize, page_bytes: usize) -> usize {
    if sent == 0 {
        return 64;
    }
    let per_op = (bytes / sent).max(1);
    (page_bytes.saturating_sub(bytes) / per_op).clamp(1, 1_000)
}

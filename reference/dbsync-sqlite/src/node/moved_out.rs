//! Move-out (spec §19.6): rows that left the node's scope.
//!
//! A pulled `d` marked `out` is not a delete to merge against the node's
//! work: the row is simply no longer the node's to hold. Before the
//! merge, the rows that leave (those the pull moves out, and the node's
//! rows that reference them, transitively) lose their pending ops, which
//! go to the conflict log (rule `moved_out`) and are never pushed; the
//! node's own rows among them that the pull does not bring a `d` for are
//! deleted here, without capture. The merge then deletes the moved-out
//! rows as plain remote deletes that meet no pending op.

use super::Result;
use crate::rows;
use crate::track::{self, table_ids};
use dbsync_core::compress::{compress_pending, compress_pulled};
use dbsync_core::merge::{ConflictEntry, ConflictKind, RowRef, Rule};
use dbsync_core::{Command, OplogRecord, RowId, Schema, VersionedOp};
use rusqlite::{params, Connection};
use std::collections::{HashMap, HashSet};

/// A row that leaves: moved out by the pull (`version` of its `d`), or a
/// local row that references one (`via`, the moved-out row it leaves
/// with).
struct Leaving {
    row: RowRef,
    version: Option<u64>,
    via: Option<RowRef>,
}

/// Takes the rows `pulled` moves out, and the node's rows that reference
/// them, out of the node's pending work (spec §19.6); returns the
/// conflict-log entries of the pending ops dropped.
pub(super) fn leave_scope(
    conn: &Connection,
    schema: &Schema,
    pulled: &[VersionedOp],
) -> Result<Vec<ConflictEntry>> {
    let moved = moved_out(pulled);
    if moved.is_empty() {
        return Ok(Vec::new());
    }
    let pending = crate::oplog::pending(conn)?;
    let leaving = with_local_children(conn, schema, moved)?;
    let mut by_row: HashMap<(&str, RowId), Vec<OplogRecord>> = HashMap::new();
    for r in &pending {
        by_row
            .entry((r.table.as_str(), r.row_id))
            .or_default()
            .push(r.clone());
    }
    let ids: HashMap<String, i64> = table_ids(conn)?.into_iter().map(|(i, n)| (n, i)).collect();
    let mut entries = Vec::new();
    for l in &leaving {
        if let Some(records) = by_row.get(&(l.row.table.as_str(), l.row.row_id)) {
            entries.push(entry(conn, schema, l, records)?);
            let table_id = ids.get(&l.row.table).copied().unwrap_or(-1);
            conn.execute(
                "DELETE FROM dbsync_oplog WHERE version IS NULL AND table_id = ?1 AND row_id = ?2",
                params![table_id, crate::sql_id::SqlId(l.row.row_id)],
            )?;
        }
    }
    // The node's own rows that leave with a moved-out row: children first.
    track::without_capture(conn, || -> Result<()> {
        for l in leaving.iter().rev().filter(|l| l.version.is_none()) {
            let t = schema.table(&l.row.table).expect("a synced table");
            rows::delete(conn, t, l.row.row_id)?;
        }
        Ok(())
    })?;
    Ok(entries)
}

/// The rows whose pulled ops compress (spec §5.3) to a `d` marked `out`,
/// with its version. A row that came in and moved out again within the
/// pull compresses to nothing: the node never held it, and a local row
/// of the same key is the node's own (it leaves only with a parent).
fn moved_out(pulled: &[VersionedOp]) -> Vec<(RowRef, u64)> {
    if !pulled.iter().any(|op| op.out) {
        return Vec::new();
    }
    compress_pulled(pulled)
        .ops
        .into_iter()
        .filter(|op| op.command == Command::Delete && op.out)
        .map(|op| {
            let row = RowRef {
                table: op.table.clone(),
                row_id: op.row_id,
            };
            (row, op.version)
        })
        .collect()
}

/// The moved-out rows, then the node's rows that reference any of them
/// by a declared foreign key, transitively, parents before children.
fn with_local_children(
    conn: &Connection,
    schema: &Schema,
    moved: Vec<(RowRef, u64)>,
) -> Result<Vec<Leaving>> {
    let mut seen: HashSet<RowRef> = moved.iter().map(|(r, _)| r.clone()).collect();
    let mut leaving: Vec<Leaving> = moved
        .into_iter()
        .map(|(row, v)| Leaving {
            via: None,
            version: Some(v),
            row,
        })
        .collect();
    let mut i = 0;
    while i < leaving.len() {
        let parent = leaving[i].row.clone();
        let root = leaving[i].via.clone().unwrap_or_else(|| parent.clone());
        for child in schema.tables.iter() {
            for fk in child
                .foreign_keys
                .iter()
                .filter(|f| f.references == parent.table)
            {
                let id = parent.row_id.to_value();
                for r in rows::find(conn, child, &[(fk.column.as_str(), &id)], None)? {
                    let row = RowRef {
                        table: child.name.clone(),
                        row_id: r.id,
                    };
                    if seen.insert(row.clone()) {
                        leaving.push(Leaving {
                            row,
                            version: None,
                            via: Some(root.clone()),
                        });
                    }
                }
            }
        }
        i += 1;
    }
    Ok(leaving)
}

/// The log entry of a leaving row's dropped pending ops.
fn entry(
    conn: &Connection,
    schema: &Schema,
    l: &Leaving,
    records: &[OplogRecord],
) -> Result<ConflictEntry> {
    let local_op = compress_pending(records)
        .ok()
        .and_then(|ops| ops.first().map(|o| o.command));
    let lost = match local_op {
        Some(Command::Delete) | None => None,
        Some(_) => {
            let t = schema.table(&l.row.table).expect("a synced table");
            rows::read(conn, t, l.row.row_id)?.map(|r| r.values)
        }
    };
    Ok(ConflictEntry {
        kind: ConflictKind::Scope,
        table: l.row.table.clone(),
        row_id: l.row.row_id,
        remote_op: l.version.map(|_| Command::Delete),
        remote_version: l.version,
        local_op,
        policy: "scope".into(),
        rule: Rule::MovedOut,
        lost,
        new_row_id: None,
        related: l.via.clone(),
    })
}

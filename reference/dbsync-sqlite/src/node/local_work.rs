//! The local work a repair would discard (spec §13.5): the rows with
//! pending ops on the tables a repair replaces, and, on a node that never
//! held a version, the rows no op ever named. A repair discards it only
//! when asked, and then logs each row it discarded.

use super::state::state;
use super::Result;
use crate::existing::repair_owed;
use crate::{oplog, rows};
use dbsync_core::compress::compress_pending;
use dbsync_core::merge::{ConflictEntry, ConflictKind, Rule};
use dbsync_core::RowId;
use dbsync_core::{Command, OplogRecord, Schema};
use rusqlite::Connection;
use std::collections::HashMap;

/// A table's local work that a repair would discard.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LocalWork {
    /// The synced table.
    pub table: String,
    /// Rows with pending ops, each counted as the op it would push.
    pub pending_ops: u64,
    /// Rows no op ever named on a node that never held a version: the
    /// server cannot know them.
    pub unsynced_rows: u64,
}

/// Local work in a sentence's words: `city: 2 pending ops; person: 1
/// pending op, 3 unsynced rows`.
pub fn describe_work(work: &[LocalWork]) -> String {
    let plural = |n: u64, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    work.iter()
        .map(|w| {
            let mut parts = Vec::new();
            if w.pending_ops > 0 {
                parts.push(plural(w.pending_ops, "pending op"));
            }
            if w.unsynced_rows > 0 {
                parts.push(plural(w.unsynced_rows, "unsynced row"));
            }
            format!("{}: {}", w.table, parts.join(", "))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// One row of local work: its pending op, or `None` for an unsynced row.
struct LocalRow {
    table: String,
    row_id: RowId,
    op: Option<Command>,
}

/// The local work on the tables a repair replaces, by table (tables
/// without any left out).
pub fn local_work(conn: &Connection, schema: &Schema) -> Result<Vec<LocalWork>> {
    let mut work: Vec<LocalWork> = Vec::new();
    for row in local_rows(conn, schema)? {
        let at = match work.iter().position(|w| w.table == row.table) {
            Some(at) => at,
            None => {
                work.push(LocalWork {
                    table: row.table.clone(),
                    pending_ops: 0,
                    unsynced_rows: 0,
                });
                work.len() - 1
            }
        };
        match row.op {
            Some(_) => work[at].pending_ops += 1,
            None => work[at].unsynced_rows += 1,
        }
    }
    work.sort_by(|a, b| a.table.cmp(&b.table));
    Ok(work)
}

/// The conflict-log entries of discarding the local work (spec §13.5),
/// with the values each row holds now.
pub(super) fn discard_entries(conn: &Connection, schema: &Schema) -> Result<Vec<ConflictEntry>> {
    let sql = rows::SqlCatalog::new(schema);
    let mut entries = Vec::new();
    for row in local_rows(conn, schema)? {
        let lost = match row.op {
            Some(Command::Delete) => None,
            _ => sql
                .get(&row.table)
                .expect("a replaced table")
                .read(conn, row.row_id)?
                .map(|r| r.values),
        };
        entries.push(ConflictEntry {
            kind: ConflictKind::Repair,
            table: row.table,
            row_id: row.row_id,
            remote_op: None,
            remote_version: None,
            local_op: row.op,
            policy: "repair".into(),
            rule: Rule::LocalChangeDiscarded,
            lost,
            new_row_id: None,
            related: None,
        });
    }
    Ok(entries)
}

/// Every row of local work on the tables a repair replaces.
fn local_rows(conn: &Connection, schema: &Schema) -> Result<Vec<LocalRow>> {
    let replaced = |table: &str| schema.table(table).is_some_and(|t| t.direction.pulls());
    let mut out = Vec::new();
    for (key, records) in pending_by_row(oplog::pending(conn)?) {
        if !replaced(&key.0) {
            continue;
        }
        // A row whose sequence no rule allows is local work all the same:
        // its last op stands for it.
        let op = match compress_pending(&records) {
            Ok(ops) => ops.first().map(|o| o.command),
            Err(_) => records.last().map(|r| r.command),
        };
        if let Some(op) = op {
            out.push(LocalRow {
                table: key.0,
                row_id: key.1,
                op: Some(op),
            });
        }
    }
    if state(conn)?.last_version == 0 && !repair_owed(conn)? {
        for t in schema.tables.iter().filter(|t| t.direction.pulls()) {
            for row_id in unsynced_rows(conn, &t.name, &t.primary_key)? {
                out.push(LocalRow {
                    table: t.name.clone(),
                    row_id,
                    op: None,
                });
            }
        }
    }
    Ok(out)
}

/// The pending records grouped by row, rows in the order of their first
/// record.
fn pending_by_row(records: Vec<OplogRecord>) -> Vec<((String, RowId), Vec<OplogRecord>)> {
    let mut index: HashMap<(String, RowId), usize> = HashMap::new();
    let mut rows: Vec<((String, RowId), Vec<OplogRecord>)> = Vec::new();
    for r in records {
        let key = (r.table.clone(), r.row_id);
        match index.get(&key) {
            Some(&at) => rows[at].1.push(r),
            None => {
                index.insert(key.clone(), rows.len());
                rows.push((key, vec![r]));
            }
        }
    }
    rows
}

/// The rows of `table` that no pending record names.
fn unsynced_rows(conn: &Connection, table: &str, pk: &str) -> rusqlite::Result<Vec<RowId>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT \"{pk}\" FROM \"{table}\" WHERE \"{pk}\" NOT IN \
         (SELECT o.row_id FROM dbsync_oplog o JOIN dbsync_tables t ON t.table_id = o.table_id \
          WHERE o.version IS NULL AND t.name = ?1) ORDER BY 1"
    ))?;
    let ids = stmt
        .query_map([table], |r| crate::sql_id::id_at(r, 0))?
        .collect();
    ids
}

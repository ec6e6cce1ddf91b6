//! What the next push carries (spec §10.1, §10.1.2): every pending op, or
//! a part of them. A node with more pending records than
//! [`PUSH_WINDOW`] builds its parts from the oldest records only, so that
//! memory does not grow with the pending work.

use super::pending::compressed_pending_pruning;
use super::{NodeError, Result};
use crate::{oplog, rows, StoreError};
use dbsync_core::parts::{next_part, next_push, NextPush};
use dbsync_core::{Command, Op, OplogRecord, Row, Schema};
use rusqlite::Connection;

/// How many pending records a part is chosen from when more are pending.
pub const PUSH_WINDOW: usize = 50_000;

/// The next push: its ops and rows, whether it is a part, and its
/// watermark (spec §10.1 step 2).
pub(super) struct Chosen {
    pub ops: Vec<Op>,
    pub rows: Vec<Row>,
    pub part: bool,
    pub last_seq: u64,
}

/// Chooses the next push under `budget` bytes, looking at the oldest
/// `window` pending records first; `None` when nothing is pending
/// (records that compressed to nothing are deleted).
pub(super) fn choose(
    conn: &Connection,
    schema: &Schema,
    budget: usize,
    window: usize,
) -> Result<Option<Chosen>> {
    let (records, more) = oplog::pending_first(conn, window)?;
    if !more {
        return from_records(conn, schema, budget, &records);
    }
    let last_seq = records.last().map_or(0, |r| r.order);
    let ops = pushed_ops(conn, schema, &records)?;
    if let Some(chosen) = window_part(conn, schema, &ops, budget, last_seq)? {
        return Ok(Some(chosen));
    }
    // No part from the window: what must travel together is spread wider.
    from_records(conn, schema, budget, &oplog::pending(conn)?)
}

/// The push chosen from `records` (pending, oldest first), whole or a
/// part; `None` when they compress to nothing that travels.
fn from_records(
    conn: &Connection,
    schema: &Schema,
    budget: usize,
    records: &[OplogRecord],
) -> Result<Option<Chosen>> {
    let Some(last_seq) = records.last().map(|r| r.order) else {
        return Ok(None);
    };
    let ops = pushed_ops(conn, schema, records)?;
    if ops.is_empty() {
        return Ok(None);
    }
    chosen(conn, schema, &ops, budget, last_seq).map(Some)
}

/// The compressed pending ops of `records` that travel (spec §2.4).
fn pushed_ops(conn: &Connection, schema: &Schema, records: &[OplogRecord]) -> Result<Vec<Op>> {
    Ok(compressed_pending_pruning(conn, records)?
        .into_iter()
        .filter(|o| schema.table(&o.table).is_some_and(|t| t.direction.pushes()))
        .collect())
}

/// A part from the window's ops, leaving out the rows that have pending
/// records after the window (their current values are not the window's);
/// `None` when no part can be made from the window.
fn window_part(
    conn: &Connection,
    schema: &Schema,
    ops: &[Op],
    budget: usize,
    last_seq: u64,
) -> Result<Option<Chosen>> {
    let later = oplog::rows_pending_after(conn, last_seq)?;
    let sql = rows::SqlCatalog::new(schema);
    let held = |op: &Op| later.contains(&(op.table.clone(), op.row_id));
    match next_part(schema, ops, budget, |op| current_row(conn, &sql, op), held)? {
        NextPush::Part { ops, rows } => Ok(Some(Chosen {
            ops,
            rows,
            part: true,
            last_seq,
        })),
        _ => Ok(None),
    }
}

fn chosen(
    conn: &Connection,
    schema: &Schema,
    ops: &[Op],
    budget: usize,
    last_seq: u64,
) -> Result<Chosen> {
    let sql = rows::SqlCatalog::new(schema);
    let (ops, rows, part) = match next_push(schema, ops, budget, |op| current_row(conn, &sql, op))?
    {
        NextPush::Whole(rows) => (ops.to_vec(), rows, false),
        NextPush::Part { ops, rows } => (ops, rows, true),
        NextPush::TooLarge { needed } => return Err(NodeError::PushTooLarge { needed, budget }),
    };
    Ok(Chosen {
        ops,
        rows,
        part,
        last_seq,
    })
}

/// The current values of the row an `i` or `u` op names (spec §10.1).
fn current_row(conn: &Connection, sql: &rows::SqlCatalog, op: &Op) -> Result<Row> {
    debug_assert_ne!(op.command, Command::Delete);
    let row = sql
        .get(&op.table)
        .expect("a pushed op's table is in the schema")
        .read(conn, op.row_id)?
        .ok_or_else(|| {
            StoreError::Corrupt(format!(
                "pending {} of {} row {} but the row is gone",
                op.command, op.table, op.row_id
            ))
        })?;
    Ok(row)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node_with_ten_items() -> (Connection, Schema) {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE item (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT)")
            .unwrap();
        let schema = super::super::prepare(&mut conn, &[]).unwrap();
        for i in 1..=10 {
            conn.execute("INSERT INTO item (name) VALUES (?1)", [format!("item {i}")])
                .unwrap();
        }
        (conn, schema)
    }

    fn ids(c: &Chosen) -> Vec<i64> {
        c.ops
            .iter()
            .map(|o| o.row_id.as_int().expect("an integer id"))
            .collect()
    }

    #[test]
    fn pending_records_within_the_window_go_whole() {
        let (conn, schema) = node_with_ten_items();
        let c = choose(&conn, &schema, 1 << 20, 100).unwrap().unwrap();
        assert!(!c.part);
        assert_eq!(ids(&c), (1..=10).collect::<Vec<_>>());
        assert_eq!(c.last_seq, 10);
    }

    #[test]
    fn a_part_from_the_window_leaves_out_rows_written_again_after_it() {
        let (conn, schema) = node_with_ten_items();
        conn.execute("UPDATE item SET name = 'again' WHERE id = 2", [])
            .unwrap();
        let c = choose(&conn, &schema, 1 << 20, 5).unwrap().unwrap();
        assert!(c.part, "more records are pending than the window holds");
        assert_eq!(ids(&c), [1, 3, 4, 5]);
        assert_eq!(c.last_seq, 5);
        assert_eq!(c.rows.len(), 4);
    }
}

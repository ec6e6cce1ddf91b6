//! Rows the server re-keyed (spec §10.2.2.2): applying a push's answer
//! (§10.3 step 3), or a pull that brought the push's version (§11.5),
//! the node moves each re-keyed row to the key the server gave it.

use super::conflicts;
use super::pending::table_ids_by_name;
use super::reused::{fresh_key_above, move_row, now, row_exists, Children};
use super::state::reserve_keys;
use super::Result;
use crate::{track, StoreError};
use dbsync_core::merge::{ConflictEntry, ConflictKind, Rule};
use dbsync_core::protocol::Rekey;
use dbsync_core::RowId;
use dbsync_core::{Command, Schema};
use rusqlite::{params, Connection};

/// Moves every row of `moves`, in order, inside the caller's write
/// transaction, and logs each move.
pub(super) fn move_rekeyed(conn: &Connection, schema: &Schema, moves: &[Rekey]) -> Result<()> {
    if moves.is_empty() {
        return Ok(());
    }
    let entries = track::without_capture(conn, || move_all(conn, schema, moves))?;
    conflicts::record(conn, now(), None, &entries)?;
    Ok(())
}

fn move_all(conn: &Connection, schema: &Schema, moves: &[Rekey]) -> Result<Vec<ConflictEntry>> {
    conn.pragma_update(None, "defer_foreign_keys", true)?;
    let ids = table_ids_by_name(conn)?;
    let mut entries = Vec::new();
    for m in moves {
        let (from, to) = (RowId::Int(m.from), RowId::Int(m.to));
        let t = schema.table(&m.table).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "the server re-keyed a row of {}, not a synced table",
                m.table
            ))
        })?;
        if row_exists(conn, t, to)? {
            // A row inserted after the push was built holds the key: it
            // moves on first, above every key this answer hands out.
            let fresh = fresh_key_above(conn, t, greatest_to(moves, &m.table))?;
            move_row(
                conn,
                schema,
                &ids,
                t,
                (to, 0),
                RowId::Int(fresh),
                Children::GetPendingUpdates,
            )?;
            reserve_keys(conn, &t.name, fresh)?;
            entries.push(entry(&m.table, to, RowId::Int(fresh)));
        } else {
            // A row that held the key and is gone never reached the server
            // (the key is above all it held): it came and went (§3.2.1).
            conn.execute(
                "DELETE FROM dbsync_oplog WHERE version IS NULL AND table_id = ?1 AND row_id = ?2",
                params![ids[&t.name], m.to],
            )?;
        }
        // Its children need no pending `u`: those the push carried the
        // server rewrote, the others are pending themselves.
        move_row(conn, schema, &ids, t, (from, 0), to, Children::AlreadyMoved)?;
        reserve_keys(conn, &t.name, m.to)?;
        entries.push(entry(&m.table, from, to));
    }
    Ok(entries)
}

/// The greatest key the moves of `table` hand out.
fn greatest_to(moves: &[Rekey], table: &str) -> i64 {
    moves
        .iter()
        .filter(|m| m.table == table)
        .map(|m| m.to)
        .max()
        .unwrap_or(0)
}

fn entry(table: &str, from: RowId, to: RowId) -> ConflictEntry {
    ConflictEntry {
        kind: ConflictKind::Insert,
        table: table.into(),
        row_id: from,
        remote_op: Some(Command::Insert),
        remote_version: None,
        local_op: Some(Command::Insert),
        policy: "none".into(),
        rule: Rule::LocalInsertRekeyed,
        lost: None,
        new_row_id: Some(to),
        related: None,
    }
}

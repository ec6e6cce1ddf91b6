//! Rows that took a reused key move to a fresh one (spec §2.2.1), before a
//! push or a merge reads the pending ops, in the caller's transaction.
//!
//! The insert trigger of a table whose keys SQLite reuses marks, in
//! `dbsync_reused_keys`, the `i` record of an insert at or below the
//! table's key floor (`crate::key_floor`). Each marked row still there
//! moves above the floor with its later records and every foreign key
//! pointing at it; one deleted again came and went, and its records from
//! the insert on go.

use super::conflicts;
use super::pending::table_ids_by_name;
use super::Result;
use crate::sql_id::{id_at, SqlId};
use crate::track::{self, command_code};
use crate::{key_floor, rows, StoreError};
use dbsync_core::merge::{ConflictEntry, ConflictKind, Rule};
use dbsync_core::RowId;
use dbsync_core::{Command, Schema, TableSchema};
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

/// One marked insert: its record's `seq`, table and key.
struct Mark {
    seq: i64,
    table: String,
    row_id: RowId,
}

/// Moves every row that took a reused key (spec §2.2.1) and logs each
/// move; runs inside the caller's write transaction.
pub(super) fn move_reused_keys(conn: &Connection, schema: &Schema) -> Result<()> {
    if !key_floor::kept(conn)? {
        return Ok(());
    }
    let marks = pending_marks(conn)?;
    if !marks.is_empty() {
        let entries = track::without_capture(conn, || settle(conn, schema, &marks))?;
        conflicts::record(conn, now(), None, &entries)?;
    }
    conn.execute("DELETE FROM dbsync_reused_keys", [])?;
    Ok(())
}

/// The marks of records still pending, oldest first.
fn pending_marks(conn: &Connection) -> rusqlite::Result<Vec<Mark>> {
    let mut stmt = conn.prepare(
        "SELECT m.seq, t.name, o.row_id FROM dbsync_reused_keys m \
         JOIN dbsync_oplog o ON o.seq = m.seq JOIN dbsync_tables t ON t.table_id = o.table_id \
         WHERE o.version IS NULL ORDER BY m.seq",
    )?;
    let marks = stmt
        .query_map([], |r| {
            Ok(Mark {
                seq: r.get(0)?,
                table: r.get(1)?,
                row_id: id_at(r, 2)?,
            })
        })?
        .collect();
    marks
}

fn settle(conn: &Connection, schema: &Schema, marks: &[Mark]) -> Result<Vec<ConflictEntry>> {
    conn.pragma_update(None, "defer_foreign_keys", true)?;
    let ids = table_ids_by_name(conn)?;
    let mut entries = Vec::new();
    for (mark, next) in marks.iter().zip(later_marks_of_the_same_row(marks)) {
        let Some(t) = schema.table(&mark.table) else {
            continue;
        };
        let table_id = ids[&t.name];
        // A row the key took again later, or that is gone, came and went.
        if next.is_some() || !row_exists(conn, t, mark.row_id)? {
            conn.execute(
                "DELETE FROM dbsync_oplog WHERE version IS NULL AND table_id = ?1 AND row_id = ?2 \
                 AND seq >= ?3 AND seq < ?4",
                params![
                    table_id,
                    SqlId(mark.row_id),
                    mark.seq,
                    next.unwrap_or(i64::MAX)
                ],
            )?;
            continue;
        }
        let fresh = fresh_key_above(conn, t, 0)?;
        move_row(
            conn,
            schema,
            &ids,
            t,
            (mark.row_id, mark.seq),
            RowId::Int(fresh),
            Children::GetPendingUpdates,
        )?;
        key_floor::raise_floor(conn, &t.name, fresh)?;
        entries.push(moved_entry(mark, RowId::Int(fresh)));
    }
    Ok(entries)
}

/// For each mark (oldest first), the `seq` of the next mark of the same
/// row, if any: the key was reused again after it.
fn later_marks_of_the_same_row(marks: &[Mark]) -> Vec<Option<i64>> {
    let mut next: HashMap<(&str, RowId), i64> = HashMap::new();
    let mut out = vec![None; marks.len()];
    for (i, m) in marks.iter().enumerate().rev() {
        out[i] = next.insert((m.table.as_str(), m.row_id), m.seq);
    }
    out
}

/// A fresh key of the integer-keyed table `t`: one above its largest key
/// and above `at_least`. `max_key` counts the floor, which is at or above
/// every key the table has held, pending records' included.
pub(super) fn fresh_key_above(conn: &Connection, t: &TableSchema, at_least: i64) -> Result<i64> {
    let top = rows::max_key(conn, t)?.as_int().unwrap_or(0).max(at_least);
    top.checked_add(1)
        .ok_or_else(|| StoreError::Corrupt(format!("no fresh key left in {}", t.name)).into())
}

/// What a move does for a local child whose foreign key it rewrites.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Children {
    /// The server holds the child with the old key: one with no pending
    /// op gets a pending `u` (a row moved off a reused key, a local row
    /// displaced from a key the server handed out).
    GetPendingUpdates,
    /// The server already holds the children with the new key (a row the
    /// server re-keyed, spec §10.2.2.2): their rows change, nothing more.
    AlreadyMoved,
}

/// Moves the row `from.0` to `fresh`: the row, its pending records from
/// `seq` `from.1` on, and every foreign key pointing at it, the children
/// as `children` says.
pub(super) fn move_row(
    conn: &Connection,
    schema: &Schema,
    ids: &HashMap<String, i64>,
    t: &TableSchema,
    (from, first_seq): (RowId, i64),
    fresh: RowId,
    children: Children,
) -> Result<()> {
    let pk = &t.primary_key;
    conn.execute(
        &format!(
            "UPDATE \"{}\" SET \"{pk}\" = ?2 WHERE \"{pk}\" = ?1",
            t.name
        ),
        params![SqlId(from), SqlId(fresh)],
    )?;
    conn.execute(
        "UPDATE dbsync_oplog SET row_id = ?3 WHERE version IS NULL AND table_id = ?1 AND row_id = ?2 AND seq >= ?4",
        params![ids[&t.name], SqlId(from), SqlId(fresh), first_seq],
    )?;
    for child in &schema.tables {
        for fk in child.foreign_keys_to(&t.name) {
            let moved = match children {
                Children::GetPendingUpdates => child_keys(conn, child, &fk.column, from)?,
                Children::AlreadyMoved => Vec::new(),
            };
            conn.execute(
                &format!(
                    "UPDATE \"{}\" SET \"{}\" = ?2 WHERE \"{}\" = ?1",
                    child.name, fk.column, fk.column
                ),
                params![SqlId(from), SqlId(fresh)],
            )?;
            for id in moved {
                give_pending_update(conn, ids[&child.name], id)?;
            }
        }
    }
    Ok(())
}

/// The keys of `child`'s rows whose `column` holds `parent`.
fn child_keys(
    conn: &Connection,
    child: &TableSchema,
    column: &str,
    parent: RowId,
) -> rusqlite::Result<Vec<RowId>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT \"{}\" FROM \"{}\" WHERE \"{column}\" = ?1",
        child.primary_key, child.name
    ))?;
    let keys = stmt.query_map([SqlId(parent)], |r| id_at(r, 0))?.collect();
    keys
}

/// Records a pending `u` of a row that has no pending record.
fn give_pending_update(conn: &Connection, table_id: i64, row_id: RowId) -> rusqlite::Result<()> {
    let pending: Option<i64> = conn
        .query_row(
            "SELECT 1 FROM dbsync_oplog WHERE version IS NULL AND table_id = ?1 AND row_id = ?2 LIMIT 1",
            params![table_id, SqlId(row_id)],
            |r| r.get(0),
        )
        .optional()?;
    if pending.is_none() {
        conn.execute(
            "INSERT INTO dbsync_oplog (table_id, row_id, command) VALUES (?1, ?2, ?3)",
            params![table_id, SqlId(row_id), command_code(Command::Update)],
        )?;
    }
    Ok(())
}

pub(super) fn row_exists(conn: &Connection, t: &TableSchema, id: RowId) -> rusqlite::Result<bool> {
    conn.query_row(
        &format!(
            "SELECT EXISTS (SELECT 1 FROM \"{}\" WHERE \"{}\" = ?1)",
            t.name, t.primary_key
        ),
        [SqlId(id)],
        |r| r.get(0),
    )
}

fn moved_entry(mark: &Mark, fresh: RowId) -> ConflictEntry {
    ConflictEntry {
        kind: ConflictKind::ReusedKey,
        table: mark.table.clone(),
        row_id: mark.row_id,
        remote_op: None,
        remote_version: None,
        local_op: Some(Command::Insert),
        policy: "none".into(),
        rule: Rule::ReusedKeyMoved,
        lost: None,
        new_row_id: Some(fresh),
        related: None,
    }
}

pub(super) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The marked inserts not moved yet, as each row's record `seq`s (oldest
/// first): reading the pending ops without writing (a status, the pending
/// list a pull sends) treats each as the start of another row.
pub(super) fn marks_by_row(conn: &Connection) -> Result<HashMap<(String, RowId), Vec<u64>>> {
    let mut by_row: HashMap<(String, RowId), Vec<u64>> = HashMap::new();
    if !key_floor::kept(conn)? {
        return Ok(by_row);
    }
    for m in pending_marks(conn)? {
        by_row
            .entry((m.table, m.row_id))
            .or_default()
            .push(m.seq as u64);
    }
    Ok(by_row)
}

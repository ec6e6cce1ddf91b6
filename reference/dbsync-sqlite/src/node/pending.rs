//! The node's pending ops (spec §3.2): their compression (§5.2), the
//! restores among them (§12.3.5), pruning the records of rows that came
//! and went, and trimming pushed ops (§15.4).

use super::state::get_state;
use super::Result;
use crate::sql_id::SqlId;
use crate::{oplog, track};
use dbsync_core::compress::compress_pending;
use dbsync_core::merge::{self, Restore};
use dbsync_core::RowId;
use dbsync_core::{Command, Op, OplogRecord};
use rusqlite::{params, Connection};
use std::collections::{HashMap, HashSet};

/// The compressed pending ops (spec §5.2), read without writing. A row
/// that took a reused key and has not moved yet (spec §2.2.1) counts as
/// another row from its insert on, as it will be once moved.
pub fn compressed_pending(conn: &Connection) -> Result<Vec<Op>> {
    compressed_apart(conn, oplog::pending(conn)?)
}

/// The compressed pending ops other than inserts: what a pull request
/// lists (spec §11.2). Only the records of rows whose oldest pending op is
/// not an insert are read.
pub fn pending_changes(conn: &Connection) -> Result<Vec<Op>> {
    Ok(
        compressed_apart(conn, oplog::pending_of_changed_rows(conn)?)?
            .into_iter()
            .filter(|o| o.command != Command::Insert)
            .collect(),
    )
}

/// Compresses `records`, a row that took a reused key counting apart.
fn compressed_apart(conn: &Connection, records: Vec<OplogRecord>) -> Result<Vec<Op>> {
    let marks = super::reused::marks_by_row(conn)?;
    if marks.is_empty() {
        return Ok(compress_pending(&records)?);
    }
    let mut rows_apart: Vec<Vec<OplogRecord>> = vec![Vec::new()];
    for r in records {
        let apart = marks
            .get(&(r.table.clone(), r.row_id))
            .map_or(0, |seqs| seqs.iter().filter(|&&s| s <= r.order).count());
        if rows_apart.len() <= apart {
            rows_apart.resize_with(apart + 1, Vec::new);
        }
        rows_apart[apart].push(r);
    }
    let mut ops = Vec::new();
    for records in &rows_apart {
        ops.extend(compress_pending(records)?);
    }
    Ok(ops)
}

/// The restores among the pending ops (spec §12.3.5): `dbsync_restores`
/// marks the oplog record of each pending `i` a merge wrote as a restore.
pub fn pending_restores(conn: &Connection, records: &[OplogRecord]) -> Result<Vec<Restore>> {
    let mut stmt = conn.prepare_cached(
        // CROSS JOIN keeps the (small) marks table outermost.
        "SELECT r.seq, r.changed FROM dbsync_restores r \
         CROSS JOIN dbsync_oplog o ON o.seq = r.seq WHERE o.version IS NULL",
    )?;
    let marks = stmt
        .query_map([], |r| {
            Ok((r.get::<_, i64>(0)? as u64, r.get::<_, bool>(1)?))
        })?
        .collect::<rusqlite::Result<HashMap<u64, bool>>>()?;
    Ok(merge::pending_restores(records, &marks))
}

/// The restores among the node's pending ops (spec §12.3.5).
pub fn restores(conn: &Connection) -> Result<Vec<Restore>> {
    pending_restores(conn, &oplog::pending(conn)?)
}

/// Marks the pending `i` record `seq` as a restore (spec §12.3.5).
pub fn mark_restore(conn: &Connection, seq: i64, changed: bool) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT OR REPLACE INTO dbsync_restores (seq, changed) VALUES (?1, ?2)",
        params![seq, changed],
    )?;
    Ok(())
}

/// Forgets the restore marks of records that are no longer pending.
pub(super) fn forget_settled_restores(conn: &Connection) -> rusqlite::Result<usize> {
    conn.execute(
        "DELETE FROM dbsync_restores WHERE NOT EXISTS (SELECT 1 FROM dbsync_oplog o \
         WHERE o.seq = dbsync_restores.seq AND o.version IS NULL)",
        [],
    )
}

/// Compresses `records` (the pending ops, spec §5.2) and deletes the
/// records of every row whose ops compress to nothing (`i u* d`): that row
/// came and went locally and is no work for anyone. Left in the oplog,
/// those records would precede the ops of a later row with the same key
/// (a remote insert that takes the key), forming a sequence no rule
/// allows (`i d d`). Runs inside the caller's transaction.
///
/// Records an outstanding push covers (order ≤ its watermark) are never
/// deleted, nor are the later records of the same row (spec §3.2.1): the
/// stored push still carries that row's `i`, and once the server applies
/// it, the later `d` is the only thing that deletes the row there.
pub(super) fn compressed_pending_pruning(
    conn: &Connection,
    records: &[OplogRecord],
) -> Result<Vec<Op>> {
    let ops = compress_pending(records)?;
    let mut kept: HashSet<(&str, RowId)> =
        ops.iter().map(|o| (o.table.as_str(), o.row_id)).collect();
    if get_state::<String>(conn, "push_id")?.is_some() {
        let watermark = get_state::<i64>(conn, "push_last_seq")?.unwrap_or(0) as u64;
        kept.extend(
            records
                .iter()
                .filter(|r| r.order <= watermark)
                .map(|r| (r.table.as_str(), r.row_id)),
        );
    }
    let ids = table_ids_by_name(conn)?;
    let mut stmt = conn.prepare_cached("DELETE FROM dbsync_oplog WHERE version IS NULL AND table_id = ?1 AND row_id = ?2 AND seq <= ?3")?;
    let mut done: HashSet<(&str, RowId)> = HashSet::new();
    for r in records.iter().rev() {
        let key = (r.table.as_str(), r.row_id);
        if !kept.contains(&key) && done.insert(key) {
            if let Some(table_id) = ids.get(&r.table) {
                stmt.execute(params![table_id, SqlId(r.row_id), r.order as i64])?;
            }
        }
    }
    Ok(ops)
}

/// The oplog's table ids, by table name.
pub(super) fn table_ids_by_name(conn: &Connection) -> rusqlite::Result<HashMap<String, i64>> {
    Ok(track::table_ids(conn)?
        .into_iter()
        .map(|(id, n)| (n, id))
        .collect())
}

/// Drops versioned ops a node no longer needs (spec §15.4); pending ops
/// stay. Returns how many were dropped.
pub fn trim(conn: &Connection) -> rusqlite::Result<usize> {
    conn.execute("DELETE FROM dbsync_oplog WHERE version IS NOT NULL", [])
}

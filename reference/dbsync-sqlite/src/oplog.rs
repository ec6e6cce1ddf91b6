//! Reading and marking captured ops (spec §3.2).

use crate::sql_id::{id_at, SqlId};
use crate::track::{command_of, table_ids};
use crate::StoreError;
use dbsync_core::OplogRecord;
use dbsync_core::RowId;
use rusqlite::Connection;
use std::collections::{HashMap, HashSet};

/// Every pending op (no version yet), oldest first.
pub fn pending(conn: &Connection) -> Result<Vec<OplogRecord>, StoreError> {
    records(conn, "WHERE version IS NULL", "")
}

/// The pending ops of the rows whose oldest pending op is not an insert
/// (those whose compressed op may be `u` or `d`), oldest first; the rows
/// are chosen inside SQLite, so new rows, however many, are never read.
pub fn pending_of_changed_rows(conn: &Connection) -> Result<Vec<OplogRecord>, StoreError> {
    records(
        conn,
        "WHERE version IS NULL AND (table_id, row_id) IN (SELECT table_id, row_id FROM \
         (SELECT table_id, row_id, command, min(seq) FROM dbsync_oplog \
          WHERE version IS NULL GROUP BY table_id, row_id) WHERE command != 1)",
        "",
    )
}

/// The `limit` oldest pending ops, and whether more are pending.
pub fn pending_first(
    conn: &Connection,
    limit: usize,
) -> Result<(Vec<OplogRecord>, bool), StoreError> {
    let mut records = records(
        conn,
        "WHERE version IS NULL",
        &format!("LIMIT {}", limit + 1),
    )?;
    let more = records.len() > limit;
    records.truncate(limit);
    Ok((records, more))
}

/// The rows (table, row id) that have pending ops both up to `seq` and
/// after it.
pub fn rows_pending_after(
    conn: &Connection,
    seq: u64,
) -> Result<HashSet<(String, RowId)>, StoreError> {
    let names: HashMap<i64, String> = table_ids(conn)?.into_iter().collect();
    let mut stmt = conn.prepare(
        "SELECT DISTINCT table_id, row_id FROM dbsync_oplog WHERE version IS NULL AND seq > ?1 \
         AND (table_id, row_id) IN \
         (SELECT table_id, row_id FROM dbsync_oplog WHERE version IS NULL AND seq <= ?1)",
    )?;
    let rows = stmt.query_map([seq as i64], |r| Ok((r.get::<_, i64>(0)?, id_at(r, 1)?)))?;
    let mut out = HashSet::new();
    for row in rows {
        let (table_id, row_id) = row?;
        if let Some(name) = names.get(&table_id) {
            out.insert((name.clone(), row_id));
        }
    }
    Ok(out)
}

/// Every op, oldest first.
pub fn all(conn: &Connection) -> Result<Vec<OplogRecord>, StoreError> {
    records(conn, "", "")
}

fn records(conn: &Connection, filter: &str, limit: &str) -> Result<Vec<OplogRecord>, StoreError> {
    let names: HashMap<i64, String> = table_ids(conn)?.into_iter().collect();
    let mut stmt = conn.prepare(&format!(
        "SELECT seq, table_id, row_id, command, version, columns FROM dbsync_oplog {filter} ORDER BY seq {limit}"
    ))?;
    let mut rows = stmt.query([])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let (seq, table_id, row_id, code, version): (i64, i64, RowId, i64, Option<i64>) =
            (r.get(0)?, r.get(1)?, id_at(r, 2)?, r.get(3)?, r.get(4)?);
        let table = names.get(&table_id).ok_or_else(|| {
            StoreError::Corrupt(format!("oplog names unknown table id {table_id}"))
        })?;
        let command = command_of(code)
            .ok_or_else(|| StoreError::Corrupt(format!("oplog has unknown command code {code}")))?;
        out.push(OplogRecord {
            order: seq as u64,
            table: table.clone(),
            row_id,
            command,
            columns: crate::changed_columns::from_sql(r.get(5)?)?,
            version: version.map(|v| v as u64),
        });
    }
    Ok(out)
}

/// Marks the pending ops of the rows `rows` (table id, row id) up to and
/// including `last_seq` with `version`: a part's answer (spec §10.1.2)
/// settles only the rows the part carried.
pub fn mark_rows_pushed(
    conn: &Connection,
    last_seq: u64,
    version: u64,
    rows: &[(i64, RowId)],
) -> rusqlite::Result<usize> {
    conn.execute_batch(
        "CREATE TEMP TABLE IF NOT EXISTS dbsync_part_rows \
         (table_id INTEGER NOT NULL, row_id NOT NULL, PRIMARY KEY (table_id, row_id)); \
         DELETE FROM temp.dbsync_part_rows;",
    )?;
    let mut insert =
        conn.prepare_cached("INSERT OR IGNORE INTO temp.dbsync_part_rows VALUES (?1, ?2)")?;
    for (table_id, row_id) in rows {
        insert.execute(rusqlite::params![table_id, SqlId(*row_id)])?;
    }
    let marked = conn.execute(
        "UPDATE dbsync_oplog SET version = ?1 WHERE version IS NULL AND seq <= ?2 \
         AND (table_id, row_id) IN (SELECT table_id, row_id FROM temp.dbsync_part_rows)",
        [version as i64, last_seq as i64],
    )?;
    conn.execute("DELETE FROM temp.dbsync_part_rows", [])?;
    Ok(marked)
}

/// Marks the pending ops up to and including `last_seq` with `version`
/// (spec §10.3: ops recorded after the push was built stay pending).
pub fn mark_pushed(conn: &Connection, last_seq: u64, version: u64) -> rusqlite::Result<usize> {
    conn.execute(
        "UPDATE dbsync_oplog SET version = ?1 WHERE version IS NULL AND seq <= ?2",
        [version as i64, last_seq as i64],
    )
}

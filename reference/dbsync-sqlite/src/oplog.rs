//! Reading and marking captured ops (spec §3.2).

use crate::track::{command_of, table_ids};
use crate::StoreError;
use dbsync_core::OplogRecord;
use rusqlite::Connection;
use std::collections::HashMap;

/// Every pending op (no version yet), oldest first.
pub fn pending(conn: &Connection) -> Result<Vec<OplogRecord>, StoreError> {
    records(conn, "WHERE version IS NULL")
}

/// Every op, oldest first.
pub fn all(conn: &Connection) -> Result<Vec<OplogRecord>, StoreError> {
    records(conn, "")
}

fn records(conn: &Connection, filter: &str) -> Result<Vec<OplogRecord>, StoreError> {
    let names: HashMap<i64, String> = table_ids(conn)?.into_iter().collect();
    let mut stmt = conn.prepare(&format!(
        "SELECT seq, table_id, row_id, command, version FROM dbsync_oplog {filter} ORDER BY seq"
    ))?;
    let mut rows = stmt.query([])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let (seq, table_id, row_id, code, version): (i64, i64, i64, i64, Option<i64>) =
            (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?);
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
            version: version.map(|v| v as u64),
        });
    }
    Ok(out)
}

/// Marks the pending ops up to and including `last_seq` with `version`
/// (spec §10.3: ops recorded after the push was built stay pending).
pub fn mark_pushed(conn: &Connection, last_seq: u64, version: u64) -> rusqlite::Result<usize> {
    conn.execute(
        "UPDATE dbsync_oplog SET version = ?1 WHERE version IS NULL AND seq <= ?2",
        [version as i64, last_seq as i64],
    )
}

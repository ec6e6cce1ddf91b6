//! The conflict log (`dbsync_conflicts`): every resolution a merge
//! applied, with the version it came with (spec §12).

use super::Result;
use crate::StoreError;
use dbsync_core::merge::ConflictEntry;
use rusqlite::{params, Connection};

/// One entry of the conflict log as stored (spec §12.7).
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedConflict {
    /// The entry's position in the log: increasing, from 1.
    pub id: i64,
    /// When the merge or repair recorded it, Unix seconds.
    pub recorded_at: u64,
    /// The version the merge or repair brought the node to, if it recorded one.
    pub version: Option<u64>,
    /// The entry: kind, row, ops, policy, rule and lost values (spec §12.7).
    pub entry: ConflictEntry,
}

/// Appends `entries` to the log, recorded at `now` with `version`.
pub(super) fn record(
    conn: &Connection,
    now: u64,
    version: Option<u64>,
    entries: &[ConflictEntry],
) -> rusqlite::Result<()> {
    for entry in entries {
        conn.execute(
            "INSERT INTO dbsync_conflicts (recorded_at, version, entry) VALUES (?1, ?2, ?3)",
            params![
                now as i64,
                version.map(|v| v as i64),
                serde_json::to_string(entry).expect("serializable")
            ],
        )?;
    }
    Ok(())
}

/// The conflict log, oldest first.
pub fn conflicts(conn: &Connection) -> Result<Vec<LoggedConflict>> {
    let mut stmt =
        conn.prepare("SELECT id, recorded_at, version, entry FROM dbsync_conflicts ORDER BY id")?;
    let out = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, Option<i64>>(2)?,
                r.get::<_, String>(3)?,
            ))
        })?
        .map(|r| {
            let (id, at, v, json) = r?;
            let entry =
                serde_json::from_str(&json).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            Ok(LoggedConflict {
                id,
                recorded_at: at as u64,
                version: v.map(|v| v as u64),
                entry,
            })
        })
        .collect();
    out
}

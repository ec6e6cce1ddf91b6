//! Repair (spec §13): the server's snapshot is staged page by page in
//! `dbsync_repair_stage` (each page in its own transaction, so a repair
//! cut short resumes), then one transaction replaces the pull-capable
//! tables with it and applies the pull that followed the first page.

use super::conflicts;
use super::local_work::{discard_entries, local_work, LocalWork};
use super::pending::table_ids_by_name;
use super::push::forget_push;
use super::state::{clear_state, get_state, reserve_keys, set_state};
use super::{commit_checked, in_write_transaction, NodeError, Result, StagedPull};
use crate::existing::repair_paid;
use crate::sql_id::{id_at, SqlId};
use crate::{rows, track, StoreError};
use dbsync_core::protocol::value::Values;
use dbsync_core::protocol::RepairPage;
use dbsync_core::RowId;
use dbsync_core::{Command, Row, Schema};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use std::collections::HashMap;

/// Starts a repair: forgets any earlier staging.
pub fn repair_begin(conn: &Connection) -> rusqlite::Result<()> {
    in_write_transaction(conn, |conn| {
        conn.execute("DELETE FROM dbsync_repair_stage", [])?;
        forget_staging(conn)
    })
}

fn forget_staging(conn: &Connection) -> rusqlite::Result<()> {
    clear_state(conn, "repair_version")?;
    clear_state(conn, "repair_cursor")?;
    Ok(())
}

/// Where an interrupted repair stands (spec §13.2): `None` when no repair
/// is under way; `Some(Some(cursor))` to ask for the next page;
/// `Some(None)` when every page is staged.
pub fn repair_progress(conn: &Connection) -> rusqlite::Result<Option<Option<String>>> {
    conn.query_row(
        "SELECT value FROM dbsync_state WHERE key = 'repair_cursor'",
        [],
        |r| r.get::<_, Option<String>>(0),
    )
    .optional()
}

/// Stages one repair page (spec §13.3) in its own transaction; the first
/// page's version is kept. Memory stays bounded by one page.
pub fn repair_stage(conn: &mut Connection, schema: &Schema, page: &RepairPage) -> Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if get_state::<i64>(&tx, "repair_version")?.is_none() {
        set_state(&tx, "repair_version", &(page.version as i64))?;
    }
    // Staged with the page: a repair cut short resumes from here.
    set_state(&tx, "repair_cursor", &page.next_cursor)?;
    let ids = table_ids_by_name(&tx)?;
    {
        let mut ins = tx.prepare_cached("INSERT OR REPLACE INTO dbsync_repair_stage (table_id, row_id, row) VALUES (?1, ?2, ?3)")?;
        for row in &page.rows {
            dbsync_core::validate::check_row(schema, row)
                .map_err(|e| NodeError::BadPull(e.to_string()))?;
            ins.execute(params![
                ids[&row.table],
                SqlId(row.id),
                serde_json::to_string(&row.values).expect("serializable")
            ])?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// The version of the first staged page: the pull after the staging starts
/// there.
pub fn repair_version(conn: &Connection) -> rusqlite::Result<u64> {
    Ok(get_state::<i64>(conn, "repair_version")?.unwrap_or(0) as u64)
}

/// What a repair did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepairReport {
    /// The version the node now holds.
    pub version: u64,
    /// The local work the repair discarded, by table (spec §13.5).
    pub discarded: Vec<LocalWork>,
}

/// Finishes a repair in one transaction (spec §13.3): the pull-capable
/// tables become the staged rows with `pull`'s ops applied on top, the
/// oplog is cleared and the node holds `pull.target_version`.
///
/// Local work on those tables (spec §13.5) is discarded only with
/// `discard_local_changes`, and then logged in the conflict log at `now`;
/// without it the repair refuses with [`NodeError::UnpushedChanges`] and
/// changes nothing (the staged pages stay for a later finish).
pub fn repair_finish(
    conn: &mut Connection,
    schema: &Schema,
    pull: StagedPull,
    discard_local_changes: bool,
    now: u64,
) -> Result<RepairReport> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let discarded = local_work(&tx, schema)?;
    if !discarded.is_empty() {
        if !discard_local_changes {
            return Err(NodeError::UnpushedChanges(discarded));
        }
        let entries = discard_entries(&tx, schema)?;
        conflicts::record(&tx, now, Some(pull.target_version), &entries)?;
    }
    let version = track::without_capture(&tx, || replace_tables(&tx, schema, pull))?;
    commit_checked(tx, "the repaired rows")?;
    Ok(RepairReport { version, discarded })
}

fn replace_tables(tx: &Connection, schema: &Schema, pull: StagedPull) -> Result<u64> {
    tx.pragma_update(None, "defer_foreign_keys", true)?;
    for t in schema.tables.iter().filter(|t| t.direction.pulls()) {
        tx.execute(&format!("DELETE FROM \"{}\"", t.name), [])?;
    }
    insert_staged_rows(tx, schema)?;
    apply_pull(tx, schema, &pull)?;
    for t in &schema.tables {
        if let Some(max) = rows::max_key(tx, t)?.as_int().filter(|m| *m > 0) {
            reserve_keys(tx, &t.name, max)?;
        }
    }
    clear_oplog_but_push_only(tx, schema)?;
    tx.execute("DELETE FROM dbsync_repair_stage", [])?;
    forget_push(tx)?;
    forget_staging(tx)?;
    repair_paid(tx)?;
    let version = pull.target_version;
    set_state(tx, "last_version", &(version as i64))?;
    // The repaired copy holds every version up to `version`, own ones too.
    super::own_versions::forget_through(tx, version)?;
    Ok(version)
}

/// Inserts every staged row into its (emptied) table.
fn insert_staged_rows(tx: &Connection, schema: &Schema) -> Result<()> {
    let names: HashMap<i64, String> = track::table_ids(tx)?.into_iter().collect();
    let mut stmt = tx.prepare(
        "SELECT table_id, row_id, row FROM dbsync_repair_stage ORDER BY table_id, row_id",
    )?;
    let mut staged = stmt.query([])?;
    while let Some(r) = staged.next()? {
        let name = &names[&r.get::<_, i64>(0)?];
        let t = schema
            .table(name)
            .ok_or_else(|| NodeError::BadPull(format!("unknown table {name}")))?;
        let values: Values = serde_json::from_str(&r.get::<_, String>(2)?)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let row = Row {
            table: name.clone(),
            id: id_at(r, 1)?,
            values,
        };
        rows::insert(tx, t, &row)?;
    }
    Ok(())
}

/// The pull from the first page's version, applied on a node with no
/// pending ops (spec §13.3): each row's LAST op decides, not the
/// compressed op — a row inserted and deleted after the first page may
/// still sit in a later page of the snapshot. An insert or update of an
/// existing row updates it; a delete of an absent row does nothing.
fn apply_pull(tx: &Connection, schema: &Schema, pull: &StagedPull) -> Result<()> {
    let rows_by_key: HashMap<(&str, RowId), &Row> = pull
        .rows
        .iter()
        .map(|r| ((r.table.as_str(), r.id), r))
        .collect();
    let mut last: HashMap<(&str, RowId), Command> = HashMap::new();
    let mut order = Vec::new();
    for op in &pull.ops {
        if last
            .insert((op.table.as_str(), op.row_id), op.command)
            .is_none()
        {
            order.push((op.table.as_str(), op.row_id));
        }
    }
    for key in order {
        let Some(t) = schema.table(key.0).filter(|t| t.direction.pulls()) else {
            continue;
        };
        match last[&key] {
            Command::Delete => {
                rows::delete(tx, t, key.1)?;
            }
            _ => {
                if let Some(row) = rows_by_key.get(&key) {
                    if !rows::update(tx, t, row)? {
                        rows::insert(tx, t, row)?;
                    }
                }
            }
        }
    }
    for row in &pull.rows {
        // Parents the pull carried for the rows above.
        if let Some(t) = schema.table(&row.table).filter(|t| t.direction.pulls()) {
            if !rows::exists(tx, t, row.id)? {
                rows::insert(tx, t, row)?;
            }
        }
    }
    Ok(())
}

/// Clears the oplog but for the pending ops of push-only tables, which the
/// repair did not touch and which still have to reach the server
/// (spec §13.3).
fn clear_oplog_but_push_only(tx: &Connection, schema: &Schema) -> rusqlite::Result<()> {
    let kept: Vec<String> = schema
        .tables
        .iter()
        .filter(|t| !t.direction.pulls())
        .map(|t| format!("'{}'", t.name))
        .collect();
    tx.execute(
        &format!(
            "DELETE FROM dbsync_oplog WHERE version IS NOT NULL OR table_id NOT IN \
             (SELECT table_id FROM dbsync_tables WHERE name IN ({}))",
            if kept.is_empty() {
                "NULL".to_string()
            } else {
                kept.join(", ")
            }
        ),
        [],
    )?;
    Ok(())
}

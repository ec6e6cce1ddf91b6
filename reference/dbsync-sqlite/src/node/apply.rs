//! Applying a merge plan (spec §12.6) inside the merge's transaction:
//! foreign keys deferred to commit, the plan's own writes not captured,
//! pending ops changed only where the plan says.

use super::pending::{forget_settled_restores, mark_restore, table_ids_by_name};
use super::state::{reserve_keys, set_state};
use super::{conflicts, NodeError, Result};
use crate::rows;
use crate::sql_id::SqlId;
use crate::track::{self, command_code};
use dbsync_core::merge::{Action, Plan};
use dbsync_core::RowId;
use dbsync_core::{ChangedColumns, Command, Schema, TableSchema};
use rusqlite::{params, Connection};
use std::collections::HashMap;

/// Applies a merge plan inside `conn`'s open transaction (spec §12.6):
/// foreign keys deferred to commit, the plan's own writes not captured,
/// pending ops changed only where the plan says.
pub fn apply_plan(conn: &Connection, schema: &Schema, plan: &Plan, now: u64) -> Result<()> {
    track::without_capture(conn, || apply_actions(conn, schema, plan, now))
}

fn apply_actions(conn: &Connection, schema: &Schema, plan: &Plan, now: u64) -> Result<()> {
    conn.pragma_update(None, "defer_foreign_keys", true)?;
    let mut applier = Applier::new(conn, schema)?;
    for action in &plan.actions {
        applier.apply(action)?;
    }
    let version = applier.finish()?;
    crate::key_floor::raise_to_largest_keys(conn, schema)?;
    forget_settled_restores(conn)?;
    conflicts::record(conn, now, version, &plan.conflicts)?;
    if let Some(v) = version {
        set_state(conn, "last_version", &(v as i64))?;
    }
    Ok(())
}

/// The plan's actions applied one by one; the pending ops the plan sets
/// are written after every action, so that the pending records the plan
/// was made from (`seq ≤ before`) are told apart from the new ones.
struct Applier<'a> {
    conn: &'a Connection,
    schema: &'a Schema,
    sql: rows::SqlCatalog,
    ids: HashMap<String, i64>,
    /// The newest oplog record before the plan is applied.
    before: i64,
    /// `(table id, row id, command, columns)` of each pending op the
    /// plan sets.
    set_pending: Vec<(i64, RowId, Command, Option<ChangedColumns>)>,
    /// `(table id, row id, changed)` of each restore the plan writes.
    restores: Vec<(i64, RowId, bool)>,
    version: Option<u64>,
}

impl<'a> Applier<'a> {
    fn new(conn: &'a Connection, schema: &'a Schema) -> Result<Applier<'a>> {
        let before: i64 =
            conn.query_row("SELECT ifnull(max(seq), 0) FROM dbsync_oplog", [], |r| {
                r.get(0)
            })?;
        Ok(Applier {
            conn,
            schema,
            sql: rows::SqlCatalog::new(schema),
            ids: table_ids_by_name(conn)?,
            before,
            set_pending: Vec::new(),
            restores: Vec::new(),
            version: None,
        })
    }

    fn rows_of(&self, name: &str) -> Result<rows::Rows<'_>> {
        self.sql
            .get(name)
            .ok_or_else(|| NodeError::BadPull(format!("unknown table {name:?}")))
    }

    fn table(&self, name: &str) -> Result<&'a TableSchema> {
        self.schema
            .table(name)
            .ok_or_else(|| NodeError::BadPull(format!("unknown table {name:?}")))
    }

    /// Deletes the pending records of a row that the plan was made from.
    fn drop_pending(&self, table: &str, id: RowId) -> rusqlite::Result<usize> {
        self.conn.execute(
            "DELETE FROM dbsync_oplog WHERE version IS NULL AND table_id = ?1 AND row_id = ?2 AND seq <= ?3",
            params![self.ids[table], SqlId(id), self.before],
        )
    }

    fn apply(&mut self, action: &Action) -> Result<()> {
        match action {
            Action::Rekey { table, from, to } => self.rekey(table, *from, *to)?,
            Action::Delete { table, row_id } => {
                self.rows_of(table)?.delete(self.conn, *row_id)?;
            }
            Action::Insert {
                table,
                row_id,
                values,
            } => self.rows_of(table)?.insert(self.conn, *row_id, values)?,
            Action::Update {
                table,
                row_id,
                values,
            } => {
                self.rows_of(table)?.update(self.conn, *row_id, values)?;
            }
            Action::SetPending {
                table,
                row_id,
                command,
                columns,
            } => {
                self.drop_pending(table, *row_id)?;
                let table_id = self.ids[table.as_str()];
                self.set_pending
                    .push((table_id, *row_id, *command, columns.clone()));
            }
            Action::Restore {
                table,
                row_id,
                changed,
            } => {
                self.drop_pending(table, *row_id)?;
                self.restores
                    .push((self.ids[table.as_str()], *row_id, *changed));
            }
            Action::DropPending { table, row_id } => {
                self.drop_pending(table, *row_id)?;
            }
            Action::ReserveKeys { table, up_to } => reserve_keys(self.conn, table, *up_to)?,
            Action::RecordVersion { version } => self.version = Some(*version),
        }
        Ok(())
    }

    /// Moves a row to a new key, with every foreign key pointing at it and
    /// its pending records (spec §12.3.2).
    fn rekey(&self, name: &str, from: RowId, to: RowId) -> Result<()> {
        let t = self.table(name)?;
        self.conn.execute(
            &format!(
                "UPDATE \"{}\" SET \"{}\" = ?2 WHERE \"{}\" = ?1",
                t.name, t.primary_key, t.primary_key
            ),
            params![SqlId(from), SqlId(to)],
        )?;
        for child in &self.schema.tables {
            for fk in child.foreign_keys_to(&t.name) {
                self.conn.execute(
                    &format!(
                        "UPDATE \"{}\" SET \"{}\" = ?2 WHERE \"{}\" = ?1",
                        child.name, fk.column, fk.column
                    ),
                    params![SqlId(from), SqlId(to)],
                )?;
            }
        }
        self.conn.execute(
            "UPDATE dbsync_oplog SET row_id = ?3 WHERE version IS NULL AND table_id = ?1 AND row_id = ?2 AND seq <= ?4",
            params![self.ids[name], SqlId(from), SqlId(to), self.before],
        )?;
        Ok(())
    }

    /// Writes the pending ops and restores the plan set; returns the
    /// version the plan records.
    fn finish(self) -> Result<Option<u64>> {
        let insert = "INSERT INTO dbsync_oplog (table_id, row_id, command) VALUES (?1, ?2, ?3)";
        for (table_id, row_id, command, columns) in self.set_pending {
            self.conn.execute(
                "INSERT INTO dbsync_oplog (table_id, row_id, command, columns) VALUES (?1, ?2, ?3, ?4)",
                params![
                    table_id,
                    SqlId(row_id),
                    command_code(command),
                    crate::changed_columns::to_sql(columns.as_ref())
                ],
            )?;
        }
        // A restore is a pending `i` whose record is marked (spec §12.3.5).
        for (table_id, row_id, changed) in self.restores {
            self.conn.execute(
                insert,
                params![table_id, SqlId(row_id), command_code(Command::Insert)],
            )?;
            mark_restore(self.conn, self.conn.last_insert_rowid(), changed)?;
        }
        Ok(self.version)
    }
}

//! The in-process harness's side of the [`Ledger`]: what each procedure
//! of a [`World`] tells it, read from the nodes' SQLite connections, and
//! the final check of invariant 2 (spec §18.3).

use super::ledger::{explains_delete, logical, Logical, Note};
use super::rowset::RowSet;
use super::world::World;
use super::Failure;
use dbsync_core::protocol::{PushRequest, Rekey};
use dbsync_core::{RowId, Schema};
use dbsync_sqlite::node::{self, MergeReport};
use dbsync_sqlite::rows;
use dbsync_sqlite::sql_id::SqlId;
use rusqlite::Connection;

/// The uid of `table` row `id` on `conn`.
fn uid_on(conn: &Connection, table: &str, id: RowId) -> Option<String> {
    conn.query_row(
        &format!("SELECT uid FROM \"{table}\" WHERE id = ?1"),
        [SqlId(id)],
        |r| r.get(0),
    )
    .ok()
}

fn read_logical(
    conn: &Connection,
    schema: &Schema,
    table: &str,
    id: RowId,
) -> Result<Option<Logical>, Failure> {
    let t = schema
        .table(table)
        .ok_or_else(|| Failure::new(format!("unknown table {table}")))?;
    match rows::read(conn, t, id)? {
        Some(row) => Ok(Some(logical(schema, table, &row.values, |t, id| {
            uid_on(conn, t, id)
        })?)),
        None => Ok(None),
    }
}

impl World {
    /// Records what an edit of node `n` did, right after it committed.
    /// `before`: node `n`'s rows before the edit.
    pub fn note(&mut self, n: usize, note: Note, before: &RowSet) -> Result<(), Failure> {
        match note {
            Note::Write { table, id } => {
                // A row written then deleted in the same edit is gone.
                if let Some(values) = read_logical(&self.nodes[n].conn, &self.schema, &table, id)? {
                    let earlier = before.logical(&self.schema, &table, id)?;
                    self.ledger.rewrote_key(n, &table, id);
                    self.ledger.wrote(n, table, values, earlier.as_ref())?;
                }
            }
            Note::Delete { table, id, uid } => {
                let server_had = self.server.rows_with_uid(&table, &uid)? > 0;
                self.ledger.removed(n, table, id, uid, server_had);
            }
        }
        Ok(())
    }

    /// Records a push node `n` just built (or reloaded), in logical form,
    /// the first time its push id is seen.
    pub fn note_built(&mut self, n: usize, req: &PushRequest) -> Result<(), Failure> {
        let conn = &self.nodes[n].conn;
        self.ledger
            .built(n, &self.schema, req, |t, id| uid_on(conn, t, id))
    }

    /// Node `n`'s merge committed: the local work it dropped, as its
    /// conflict entries say, is no longer a write that must reach the
    /// server (spec §12.4.2).
    pub fn note_merged(&mut self, n: usize, report: &MergeReport) -> Result<(), Failure> {
        let conn = &self.nodes[n].conn;
        self.ledger
            .merged(n, &report.conflicts, |t, id| uid_on(conn, t, id))
    }

    /// The server applied node `n`'s push (not a duplicate), moving the
    /// inserts of `rekeyed` (spec §10.2.2.2).
    pub fn note_accepted(&mut self, n: usize, req: &PushRequest, rekeyed: &[Rekey]) {
        self.ledger.accepted.push((n, req.push_id.clone()));
        self.ledger.note_rekeyed(n, req, rekeyed);
        let mut applied = req.clone();
        dbsync_core::rekey::rewrite(&self.schema, &mut applied, rekeyed);
        self.model.apply(&applied);
    }

    /// Invariant 2 at the end: every node's last write reached the server
    /// (or the conflict log explains it), and every row inserted and never
    /// deleted is on the server exactly once.
    /// Counts the last writes kept beside another side's columns
    /// (`disjoint_columns_kept`, spec §12.4.4).
    pub fn check_nothing_lost(&mut self) -> Result<(), Failure> {
        let kept_beside = self.ledger.check(
            |n, table, id| {
                Ok(node::conflicts(&self.nodes[n].conn)
                    .map_err(|e| Failure::new(e.to_string()))?
                    .iter()
                    .any(|c| explains_delete(&c.entry, table, id)))
            },
            |uid| Ok(self.server.rows_with_uid_anywhere(uid)? as i64),
        )?;
        for _ in 0..kept_beside {
            self.stats.count("disjoint_columns_kept");
        }
        Ok(())
    }
}

//! Settling a unique collision from the node's side (spec §12.2.4): the
//! local row holding the values takes other ones, or, when the server
//! never had it, goes. Both are ordinary local writes, captured by the
//! triggers and pushed like any other.

use super::pending::{compressed_pending, restores};
use super::{in_write_transaction, NodeError, Result};
use crate::rows::{self, Param};
use crate::sql_id::SqlId;
use dbsync_core::merge::Resolution;
use dbsync_core::protocol::value::Values;
use dbsync_core::{Command, Direction, Row, RowId, Schema, TableSchema};
use rusqlite::types::ToSql;

/// What a resolution changed.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolved {
    /// The holder took new values.
    Renamed {
        /// The row before.
        before: Row,
        /// The row after.
        after: Row,
    },
    /// The holder was deleted; its last values.
    Dropped(Row),
}

/// Settles a collision by changing the holder, `table` row `holder`, in
/// one write transaction; a failure changes nothing.
pub fn resolve(
    conn: &rusqlite::Connection,
    schema: &Schema,
    table: &str,
    holder: RowId,
    resolution: &Resolution,
) -> Result<Resolved> {
    let t = schema
        .table(table)
        .ok_or_else(|| NodeError::NotSynced(table.to_owned()))?;
    if t.direction == Direction::PullOnly {
        // A node never writes a pull-only table (its guard trigger would
        // refuse the write): say why before trying.
        return Err(NodeError::ResolutionRefused {
            table: table.to_owned(),
            reason: "the table is pull-only: the node does not write it".into(),
        });
    }
    in_write_transaction(conn, |conn| {
        let before = rows::read(conn, t, holder)?.ok_or_else(|| NodeError::NoSuchRow {
            table: table.to_owned(),
            row_id: holder,
        })?;
        match resolution {
            Resolution::KeepRemote => {
                only_the_node_has(conn, table, holder)?;
                rows::delete(conn, t, holder).map_err(|e| refused(t, e))?;
                Ok(Resolved::Dropped(before))
            }
            Resolution::Rename(values) => {
                rename(conn, t, holder, values)?;
                let after = rows::read(conn, t, holder)?.expect("the row was just updated");
                Ok(Resolved::Renamed { before, after })
            }
        }
    })
}

/// Refuses to give up a row the server has: deleting it would delete the
/// server's row for every node (spec §12.2.4).
fn only_the_node_has(conn: &rusqlite::Connection, table: &str, id: RowId) -> Result<()> {
    let pending = compressed_pending(conn)?;
    let inserted = pending
        .iter()
        .any(|o| o.table == table && o.row_id == id && o.command == Command::Insert);
    let restored = restores(conn)?
        .iter()
        .any(|r| r.table == table && r.row_id == id);
    if inserted && !restored {
        Ok(())
    } else {
        Err(NodeError::ServerHasRow {
            table: table.to_owned(),
            row_id: id,
        })
    }
}

fn rename(conn: &rusqlite::Connection, t: &TableSchema, id: RowId, values: &Values) -> Result<()> {
    if values.is_empty() {
        return Err(NodeError::NothingToRename);
    }
    let mut sets = Vec::with_capacity(values.len());
    let mut params: Vec<Box<dyn ToSql + '_>> = vec![Box::new(SqlId(id))];
    for (i, (column, value)) in values.iter().enumerate() {
        if !t.columns.iter().any(|c| &c.name == column) {
            return Err(NodeError::UnknownColumn {
                table: t.name.clone(),
                column: column.clone(),
            });
        }
        sets.push(format!("\"{column}\" = ?{}", i + 2));
        params.push(Box::new(Param(value)));
    }
    let sql = format!(
        "UPDATE \"{}\" SET {} WHERE \"{}\" = ?1",
        t.name,
        sets.join(", "),
        t.primary_key
    );
    conn.execute(&sql, rusqlite::params_from_iter(params))
        .map_err(|e| refused(t, e))?;
    Ok(())
}

/// A write the database refused on a constraint (another unique value,
/// a foreign key) is the resolution's fault: say so; any other failure
/// is the store's.
fn refused(t: &TableSchema, e: rusqlite::Error) -> NodeError {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::ConstraintViolation) => NodeError::ResolutionRefused {
            table: t.name.clone(),
            reason: e.to_string(),
        },
        _ => e.into(),
    }
}

//! The application's writes of a history as plain data: the `write`
//! command of the history protocol (`conformance/README.md`), and their
//! execution on a reference node's SQLite database (one transaction,
//! captured by the triggers like any application write).

use dbsync_core::protocol::value::Values;
use dbsync_core::{RowId, Schema, TableSchema};
use dbsync_sqlite::rows::Param;
use dbsync_sqlite::sql_id::SqlId;
use rusqlite::{params_from_iter, Connection};
use serde::{Deserialize, Serialize};

/// One row write. Inserts into an integer-keyed table take their key
/// from the table's key sequence; an insert into a text-keyed table names
/// its key (`id`, spec §2.2). Updates set only the columns they list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum RowWrite {
    Insert {
        table: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<RowId>,
        values: Values,
    },
    Update {
        table: String,
        id: RowId,
        values: Values,
    },
    Delete {
        table: String,
        id: RowId,
    },
}

impl RowWrite {
    /// The table written.
    pub fn table(&self) -> &str {
        match self {
            RowWrite::Insert { table, .. }
            | RowWrite::Update { table, .. }
            | RowWrite::Delete { table, .. } => table,
        }
    }
}

/// Why a transaction of writes changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// A local constraint refused a write (as it would the application's).
    #[error("a constraint refused the write: {0}")]
    Refused(String),
    /// The writes name a table or column the schema lacks.
    #[error("{0}")]
    Unknown(String),
    /// The database failed.
    #[error("sqlite: {0}")]
    Store(#[from] rusqlite::Error),
}

fn columns<'a>(t: &TableSchema, values: &'a Values) -> Result<Vec<&'a String>, WriteError> {
    let names: Vec<&String> = values.keys().collect();
    match names.iter().find(|c| t.column(c).is_none()) {
        Some(c) => Err(WriteError::Unknown(format!(
            "table {:?} has no column {c:?}",
            t.name
        ))),
        None => Ok(names),
    }
}

fn one(conn: &Connection, schema: &Schema, w: &RowWrite) -> Result<RowId, WriteError> {
    let t = schema
        .table(w.table())
        .ok_or_else(|| WriteError::Unknown(format!("no table {:?}", w.table())))?;
    match w {
        RowWrite::Insert { id, values, .. } => {
            let cols = columns(t, values)?;
            let key = id.map(RowId::to_value);
            let mut names: Vec<String> = cols.iter().map(|c| format!("\"{c}\"")).collect();
            if key.is_some() {
                names.push(format!("\"{}\"", t.primary_key));
            }
            let marks: Vec<String> = (1..=names.len()).map(|i| format!("?{i}")).collect();
            conn.execute(
                &format!(
                    "INSERT INTO \"{}\" ({}) VALUES ({})",
                    t.name,
                    names.join(", "),
                    marks.join(", ")
                ),
                params_from_iter(values.values().chain(key.as_ref()).map(Param)),
            )?;
            Ok(id.unwrap_or(RowId::Int(conn.last_insert_rowid())))
        }
        RowWrite::Update { id, values, .. } => {
            let cols = columns(t, values)?;
            let sets: Vec<String> = cols
                .iter()
                .enumerate()
                .map(|(i, c)| format!("\"{c}\" = ?{}", i + 2))
                .collect();
            let mut sql_params: Vec<dbsync_core::Value> = vec![id.to_value()];
            sql_params.extend(values.values().cloned());
            conn.execute(
                &format!(
                    "UPDATE \"{}\" SET {} WHERE \"{}\" = ?1",
                    t.name,
                    sets.join(", "),
                    t.primary_key
                ),
                params_from_iter(sql_params.iter().map(Param)),
            )?;
            Ok(*id)
        }
        RowWrite::Delete { id, .. } => {
            conn.execute(
                &format!(
                    "DELETE FROM \"{}\" WHERE \"{}\" = ?1",
                    t.name, t.primary_key
                ),
                [SqlId(*id)],
            )?;
            Ok(*id)
        }
    }
}

fn refused(e: rusqlite::Error) -> WriteError {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::ConstraintViolation) => WriteError::Refused(e.to_string()),
        _ => WriteError::Store(e),
    }
}

/// Applies `writes` in one transaction: the key of each write (a new key
/// for an insert), or nothing at all when one of them fails.
pub fn execute(
    conn: &mut Connection,
    schema: &Schema,
    writes: &[RowWrite],
) -> Result<Vec<RowId>, WriteError> {
    let tx = conn.transaction()?;
    let mut ids = Vec::with_capacity(writes.len());
    for w in writes {
        match one(&tx, schema, w) {
            Ok(id) => ids.push(id),
            Err(WriteError::Store(e)) => return Err(refused(e)),
            Err(e) => return Err(e),
        }
    }
    tx.commit().map_err(refused)?;
    Ok(ids)
}

//! SQLite helpers shared by the adapter and the history engine: make a
//! replica's tables from a schema, load rows and pending ops as they are,
//! and read every row back.

use dbsync_core::merge::Restore;
use dbsync_core::{Command, Op, Row, Schema};
use dbsync_sqlite::sql_id::SqlId;
use dbsync_sqlite::track::{self, command_code, TableSpec};
use dbsync_sqlite::{node, rows, server};
use rusqlite::{params, Connection};

/// The table specs (name and direction) of a schema.
pub fn specs(schema: &Schema) -> Vec<TableSpec> {
    schema
        .tables
        .iter()
        .map(|t| TableSpec {
            name: t.name.clone(),
            direction: t.direction,
        })
        .collect()
}

/// Which side a replica plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Node,
    Server,
}

/// Creates `schema`'s tables on `conn` and prepares them for dbsync (capture
/// triggers, dbsync's own tables). The store reads the tables back from
/// SQLite's catalogue; their fingerprint must be `schema`'s.
pub fn create(conn: &mut Connection, schema: &Schema, side: Side) -> Result<Schema, String> {
    create_in(crate::ddl::Dialect::Sqlite, conn, schema, side)
}

/// [`create`], with the keys `dialect` declares (SQLite's, reused or not).
pub fn create_in(
    dialect: crate::ddl::Dialect,
    conn: &mut Connection,
    schema: &Schema,
    side: Side,
) -> Result<Schema, String> {
    conn.execute_batch(&crate::ddl::create_all_in(dialect, schema))
        .map_err(|e| format!("creating the tables: {e}"))?;
    let read = match side {
        Side::Node => node::prepare(conn, &specs(schema)),
        Side::Server => server::prepare(conn, &specs(schema)),
    }
    .map_err(|e| format!("tracking the tables: {e}"))?;
    if read.fingerprint() != schema.fingerprint() {
        return Err(format!(
            "the store reads the tables back as another schema:\n{}\ninstead of\n{}",
            read.canonical_text(),
            schema.canonical_text()
        ));
    }
    Ok(read)
}

/// Loads rows as they are, with capture off and foreign keys checked at
/// commit.
pub fn load_rows(conn: &mut Connection, schema: &Schema, loaded: &[Row]) -> Result<(), String> {
    let mut tables = Vec::with_capacity(loaded.len());
    for row in loaded {
        tables.push(
            schema
                .table(&row.table)
                .ok_or_else(|| format!("unknown table {:?}", row.table))?,
        );
    }
    let tx = conn.transaction().map_err(|e| e.to_string())?;
    tx.pragma_update(None, "defer_foreign_keys", true)
        .map_err(|e| e.to_string())?;
    track::without_capture(&tx, || -> rusqlite::Result<()> {
        for (row, t) in loaded.iter().zip(&tables) {
            rows::insert(&tx, t, row)?;
        }
        Ok(())
    })
    .map_err(|e| format!("loading the rows: {e}"))?;
    tx.commit()
        .map_err(|e| format!("the loaded rows break a constraint: {e}"))
}

/// Records pending ops as capture would have (oldest first).
pub fn record_pending(conn: &Connection, ops: &[Op], restores: &[Restore]) -> Result<(), String> {
    let ids = track::table_ids(conn).map_err(|e| e.to_string())?;
    for op in ops {
        let id = ids
            .iter()
            .find(|(_, n)| *n == op.table)
            .map(|(id, _)| *id)
            .ok_or_else(|| format!("unknown table {:?}", op.table))?;
        conn.execute(
            "INSERT INTO dbsync_oplog (table_id, row_id, command, columns) VALUES (?1, ?2, ?3, ?4)",
            params![
                id,
                SqlId(op.row_id),
                command_code(op.command),
                dbsync_sqlite::changed_columns::to_sql(op.columns.as_ref())
            ],
        )
        .map_err(|e| e.to_string())?;
        let restore = restores
            .iter()
            .find(|r| r.table == op.table && r.row_id == op.row_id);
        if let (Some(r), Command::Insert) = (restore, op.command) {
            node::mark_restore(conn, conn.last_insert_rowid(), r.changed)
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// Every row of every table of `schema` (push-only ones too), by table
/// name then id.
pub fn dump(conn: &Connection, schema: &Schema) -> rusqlite::Result<Vec<Row>> {
    let mut out = Vec::new();
    for t in &schema.tables {
        let sql = format!("{} ORDER BY \"{}\"", rows::select_sql(t), t.primary_key);
        let mut stmt = conn.prepare(&sql)?;
        let found = stmt
            .query_map([], |r| rows::row_from(t, r))?
            .collect::<rusqlite::Result<Vec<Row>>>()?;
        out.extend(found);
    }
    Ok(out)
}

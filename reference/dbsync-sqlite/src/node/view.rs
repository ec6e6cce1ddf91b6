//! The node's database as the merge planner reads it (the core's
//! [`LocalView`], spec §12).

use crate::rows;
use crate::sql_id::{id_at, SqlId};
use dbsync_core::merge::{LocalView, ViewError};
use dbsync_core::protocol::value::Values;
use dbsync_core::RowId;
use dbsync_core::{Schema, TableSchema, Value};
use rusqlite::Connection;

/// The node's database as the merge planner reads it.
pub struct LocalDb<'a> {
    pub conn: &'a Connection,
    pub schema: &'a Schema,
    pub sql: &'a rows::SqlCatalog,
}

fn view_err(e: rusqlite::Error) -> ViewError {
    ViewError(Box::new(e))
}

impl LocalDb<'_> {
    fn table(&self, name: &str) -> std::result::Result<&TableSchema, ViewError> {
        self.schema
            .table(name)
            .ok_or_else(|| ViewError(format!("unknown table {name:?}").into()))
    }

    fn rows(&self, name: &str) -> std::result::Result<rows::Rows<'_>, ViewError> {
        self.sql
            .get(name)
            .ok_or_else(|| ViewError(format!("unknown table {name:?}").into()))
    }
}

impl LocalView for LocalDb<'_> {
    fn row(&self, table: &str, id: RowId) -> std::result::Result<Option<Values>, ViewError> {
        Ok(self
            .rows(table)?
            .read(self.conn, id)
            .map_err(view_err)?
            .map(|r| r.values))
    }

    fn contains(&self, table: &str, id: RowId) -> std::result::Result<bool, ViewError> {
        self.rows(table)?.exists(self.conn, id).map_err(view_err)
    }

    fn children(
        &self,
        table: &str,
        column: &str,
        parent_id: RowId,
    ) -> std::result::Result<Vec<RowId>, ViewError> {
        let t = self.table(table)?;
        let col = &t
            .foreign_keys
            .iter()
            .find(|f| f.column == column)
            .ok_or_else(|| ViewError("not a foreign key".into()))?
            .column;
        let sql = format!(
            "SELECT \"{}\" FROM \"{}\" WHERE \"{col}\" = ?1 ORDER BY 1",
            t.primary_key, t.name
        );
        let mut stmt = self.conn.prepare_cached(&sql).map_err(view_err)?;
        let ids = stmt
            .query_map([SqlId(parent_id)], |r| id_at(r, 0))
            .map_err(view_err)?
            .collect::<rusqlite::Result<_>>()
            .map_err(view_err)?;
        Ok(ids)
    }

    fn row_with_unique(
        &self,
        table: &str,
        columns: &[String],
        values: &[Value],
    ) -> std::result::Result<Option<RowId>, ViewError> {
        let t = self.table(table)?;
        let mut filter = Vec::new();
        for (c, v) in columns.iter().zip(values) {
            let col = t
                .column(c)
                .ok_or_else(|| ViewError(format!("no column {c}").into()))?;
            filter.push((col.name.as_str(), v));
        }
        let found = rows::find(self.conn, t, &filter, Some(1)).map_err(view_err)?;
        Ok(found.first().map(|r| r.id))
    }

    fn max_id(&self, table: &str) -> std::result::Result<RowId, ViewError> {
        rows::max_key(self.conn, self.table(table)?).map_err(view_err)
    }
}

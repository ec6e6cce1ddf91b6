//! Row ids in SQL (spec §2.2): a [`RowId`] binds as SQLite's integer or
//! text, and reads back from either. dbsync's own tables declare their
//! `row_id` columns without a type, so a text id that looks like a
//! number (`"0123"`) stays text.

use dbsync_core::RowId;
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};

/// A row id as a SQL parameter or column value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqlId(pub RowId);

impl ToSql for SqlId {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match &self.0 {
            RowId::Int(n) => ToSqlOutput::from(*n),
            RowId::Text(t) => ToSqlOutput::Borrowed(ValueRef::Text(t.as_str().as_bytes())),
        })
    }
}

impl FromSql for SqlId {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<SqlId> {
        match value {
            ValueRef::Integer(n) => Ok(SqlId(RowId::Int(n))),
            ValueRef::Text(t) => std::str::from_utf8(t)
                .ok()
                .and_then(RowId::text)
                .map(SqlId)
                .ok_or(FromSqlError::InvalidType),
            _ => Err(FromSqlError::InvalidType),
        }
    }
}

/// Reads column `i` of `row` as a row id.
pub fn id_at(row: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<RowId> {
    Ok(row.get::<_, SqlId>(i)?.0)
}

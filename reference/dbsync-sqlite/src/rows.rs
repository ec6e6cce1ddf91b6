//! Reading and writing whole rows (spec §4.4).
//!
//! Table and column names come only from the tracked [`TableSchema`]; rows
//! from a message must have passed `dbsync_core::validate::check_row`.

use crate::sql_id::{id_at, SqlId};
use dbsync_core::protocol::value::Values;
use dbsync_core::{ColumnType, KeyType, Row, RowId, Schema, TableSchema, Value};
use rusqlite::types::{ToSqlOutput, Value as Sql, ValueRef};
use rusqlite::{params_from_iter, Connection, OptionalExtension, ToSql};
use std::collections::HashMap;

/// A core value as an SQLite parameter.
pub struct Param<'a>(pub &'a Value);

impl ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self.0 {
            Value::Null => ToSqlOutput::Owned(Sql::Null),
            Value::Integer(i) => ToSqlOutput::Owned(Sql::Integer(*i)),
            Value::Real(r) => ToSqlOutput::Owned(Sql::Real(*r)),
            Value::Text(t) => ToSqlOutput::Borrowed(ValueRef::Text(t.as_bytes())),
            Value::Blob(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
        })
    }
}

/// Reads an SQLite value as the core value of a column of type `ty`
/// (REAL columns holding an integral value are read back as reals).
pub fn from_sql(ty: ColumnType, v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) if ty == ColumnType::Real => Value::Real(i as f64),
        ValueRef::Integer(i) => Value::Integer(i),
        ValueRef::Real(r) => Value::Real(r),
        ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
    }
}

fn column_list(t: &TableSchema) -> String {
    t.columns
        .iter()
        .map(|c| format!("\"{}\"", c.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The SELECT that reads whole rows of `t`, primary key first.
pub fn select_sql(t: &TableSchema) -> String {
    let cols = column_list(t);
    let sep = if cols.is_empty() { "" } else { ", " };
    format!(
        "SELECT \"{}\"{sep}{cols} FROM \"{}\"",
        t.primary_key, t.name
    )
}

/// ` COLLATE BINARY` for a text key (byte order, as `RowId` orders
/// text ids), nothing for an integer key.
fn binary_collation(t: &TableSchema) -> &'static str {
    match t.key_type {
        KeyType::Text => " COLLATE BINARY",
        KeyType::Integer => "",
    }
}

/// Builds a [`Row`] from a result row of [`select_sql`].
pub fn row_from(t: &TableSchema, r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    let id = id_at(r, 0)?;
    let mut values = Values::new();
    for (i, c) in t.columns.iter().enumerate() {
        values.insert(c.name.clone(), from_sql(c.ty, r.get_ref(i + 1)?));
    }
    Ok(Row {
        table: t.name.clone(),
        id,
        values,
    })
}

/// The statements of one table, built once from its schema so that a
/// procedure touching many rows formats no SQL per row.
#[derive(Debug, Clone)]
pub struct TableSql {
    read: String,
    read_many: String,
    after: String,
    exists: String,
    insert: String,
    update: Option<String>,
    delete: String,
}

impl TableSql {
    pub fn new(t: &TableSchema) -> TableSql {
        let (name, pk) = (&t.name, &t.primary_key);
        let mut names = vec![format!("\"{pk}\"")];
        names.extend(t.columns.iter().map(|c| format!("\"{}\"", c.name)));
        let marks: Vec<String> = (1..=names.len()).map(|i| format!("?{i}")).collect();
        let sets: Vec<String> = t
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| format!("\"{}\" = ?{}", c.name, i + 2))
            .collect();
        TableSql {
            read: format!("{} WHERE \"{pk}\" = ?1", select_sql(t)),
            // Any number of keys in one statement: they travel as a JSON array.
            read_many: format!(
                "{} WHERE \"{pk}\" IN (SELECT value FROM json_each(?1)) ORDER BY \"{pk}\"",
                select_sql(t)
            ),
            // Text keys in dbsync's order, byte by byte, whatever the
            // column's collation (spec §2.2, `RowId`'s order).
            after: format!(
                "{} WHERE \"{pk}\"{binary} > ?1 ORDER BY \"{pk}\"{binary} LIMIT ?2",
                select_sql(t),
                binary = binary_collation(t)
            ),
            exists: format!("SELECT 1 FROM \"{name}\" WHERE \"{pk}\" = ?1"),
            insert: format!(
                "INSERT INTO \"{name}\" ({}) VALUES ({})",
                names.join(", "),
                marks.join(", ")
            ),
            update: (!sets.is_empty()).then(|| {
                format!(
                    "UPDATE \"{name}\" SET {} WHERE \"{pk}\" = ?1",
                    sets.join(", ")
                )
            }),
            delete: format!("DELETE FROM \"{name}\" WHERE \"{pk}\" = ?1"),
        }
    }
}

/// The [`TableSql`] of every table of a schema.
#[derive(Debug, Clone, Default)]
pub struct SqlCatalog {
    tables: HashMap<String, (TableSchema, TableSql)>,
}

impl SqlCatalog {
    pub fn new(schema: &Schema) -> SqlCatalog {
        SqlCatalog {
            tables: schema
                .tables
                .iter()
                .map(|t| (t.name.clone(), (t.clone(), TableSql::new(t))))
                .collect(),
        }
    }

    /// The table `name` and its statements.
    pub fn get(&self, name: &str) -> Option<Rows<'_>> {
        self.tables.get(name).map(|(t, sql)| Rows { t, sql })
    }
}

/// Row access to one table through its prepared statements.
#[derive(Debug, Clone, Copy)]
pub struct Rows<'a> {
    pub t: &'a TableSchema,
    sql: &'a TableSql,
}

impl<'a> Rows<'a> {
    fn params<'v>(
        &self,
        id: &'v Value,
        values: &'v Values,
    ) -> impl Iterator<Item = Param<'v>> + use<'v, 'a> {
        std::iter::once(Param(id)).chain(
            self.t
                .columns
                .iter()
                .map(move |c| Param(values.get(&c.name).unwrap_or(&Value::Null))),
        )
    }

    /// The row with key `id`, if there is one.
    pub fn read(&self, conn: &Connection, id: RowId) -> rusqlite::Result<Option<Row>> {
        let t = self.t;
        conn.prepare_cached(&self.sql.read)?
            .query_row([SqlId(id)], |r| row_from(t, r))
            .optional()
    }

    /// The rows whose keys are in `ids` (those that exist), by key.
    pub fn read_many(&self, conn: &Connection, ids: &[RowId]) -> rusqlite::Result<Vec<Row>> {
        let t = self.t;
        let keys = serde_json::to_string(ids).expect("row ids serialize");
        let mut stmt = conn.prepare_cached(&self.sql.read_many)?;
        let rows = stmt.query_map([keys], |r| row_from(t, r))?.collect();
        rows
    }

    /// Up to `limit` rows with keys above `after`, by key. SQLite orders
    /// every integer before every text, so `RowId::default()` (0) starts
    /// a text-keyed table too.
    pub fn after(
        &self,
        conn: &Connection,
        after: RowId,
        limit: usize,
    ) -> rusqlite::Result<Vec<Row>> {
        let t = self.t;
        // A text-keyed table starts below every key: at the empty text
        // (an integer would be compared as text, `'0'`).
        let lower = match (t.key_type, after) {
            (KeyType::Text, RowId::Int(_)) => Sql::Text(String::new()),
            (_, RowId::Int(n)) => Sql::Integer(n),
            (_, RowId::Text(k)) => Sql::Text(k.as_str().to_string()),
        };
        let mut stmt = conn.prepare_cached(&self.sql.after)?;
        let rows = stmt
            .query_map(rusqlite::params![lower, limit as i64], |r| row_from(t, r))?
            .collect();
        rows
    }

    /// Whether a row with key `id` exists.
    pub fn exists(&self, conn: &Connection, id: RowId) -> rusqlite::Result<bool> {
        Ok(conn
            .prepare_cached(&self.sql.exists)?
            .query_row([SqlId(id)], |_| Ok(()))
            .optional()?
            .is_some())
    }

    /// Inserts row `id` with `values` (every column but the key).
    pub fn insert(&self, conn: &Connection, id: RowId, values: &Values) -> rusqlite::Result<()> {
        let id = id.to_value();
        conn.prepare_cached(&self.sql.insert)?
            .execute(params_from_iter(self.params(&id, values)))?;
        Ok(())
    }

    /// Replaces every column of row `id`; returns whether it was there.
    pub fn update(&self, conn: &Connection, id: RowId, values: &Values) -> rusqlite::Result<bool> {
        let Some(sql) = &self.sql.update else {
            return self.exists(conn, id);
        };
        let idv = id.to_value();
        Ok(conn
            .prepare_cached(sql)?
            .execute(params_from_iter(self.params(&idv, values)))?
            == 1)
    }

    /// Deletes row `id`; returns whether it was there.
    pub fn delete(&self, conn: &Connection, id: RowId) -> rusqlite::Result<bool> {
        Ok(conn
            .prepare_cached(&self.sql.delete)?
            .execute([SqlId(id)])?
            == 1)
    }
}

/// The row of `t` with key `id`, if there is one.
pub fn read(conn: &Connection, t: &TableSchema, id: RowId) -> rusqlite::Result<Option<Row>> {
    Rows {
        t,
        sql: &TableSql::new(t),
    }
    .read(conn, id)
}

/// Inserts `row` into `t`.
pub fn insert(conn: &Connection, t: &TableSchema, row: &Row) -> rusqlite::Result<()> {
    Rows {
        t,
        sql: &TableSql::new(t),
    }
    .insert(conn, row.id, &row.values)
}

/// Replaces every column of the existing row `row.id` of `t`; returns
/// whether a row was there.
pub fn update(conn: &Connection, t: &TableSchema, row: &Row) -> rusqlite::Result<bool> {
    Rows {
        t,
        sql: &TableSql::new(t),
    }
    .update(conn, row.id, &row.values)
}

/// Deletes row `id` of `t`; returns whether a row was there.
pub fn delete(conn: &Connection, t: &TableSchema, id: RowId) -> rusqlite::Result<bool> {
    Rows {
        t,
        sql: &TableSql::new(t),
    }
    .delete(conn, id)
}

/// Whether `t` has a row with key `id`.
pub fn exists(conn: &Connection, t: &TableSchema, id: RowId) -> rusqlite::Result<bool> {
    Rows {
        t,
        sql: &TableSql::new(t),
    }
    .exists(conn, id)
}

/// Every row of `t` whose `columns` hold `values` (NULL matches NULL),
/// ordered by key, at most `limit` of them.
pub fn find(
    conn: &Connection,
    t: &TableSchema,
    filter: &[(&str, &Value)],
    limit: Option<usize>,
) -> rusqlite::Result<Vec<Row>> {
    let conds: Vec<String> = filter
        .iter()
        .enumerate()
        .map(|(i, (c, _))| format!("\"{c}\" IS ?{}", i + 1))
        .collect();
    let mut sql = select_sql(t);
    if !conds.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conds.join(" AND "));
    }
    sql.push_str(&format!(" ORDER BY \"{}\"", t.primary_key));
    if let Some(n) = limit {
        sql.push_str(&format!(" LIMIT {n}"));
    }
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt
        .query_map(
            params_from_iter(filter.iter().map(|(_, v)| Param(v))),
            |r| row_from(t, r),
        )?
        .collect();
    rows
}

/// The largest key of `t` (0 when empty), also counting keys AUTOINCREMENT
/// already handed out and the key floor of a table whose keys SQLite
/// reuses (spec §2.2.1).
///
/// A text-keyed table's largest key is its greatest text, byte by byte:
/// no key floor or sequence counts there (text keys are never fresh).
pub fn max_key(conn: &Connection, t: &TableSchema) -> rusqlite::Result<RowId> {
    let largest: Option<SqlId> = conn.query_row(
        &format!(
            "SELECT max(\"{}\"{}) FROM \"{}\"",
            t.primary_key,
            binary_collation(t),
            t.name
        ),
        [],
        |r| r.get(0),
    )?;
    if t.key_type == KeyType::Text {
        return Ok(largest.map_or(RowId::default(), |k| k.0));
    }
    Ok(RowId::Int(max_integer_key(
        conn,
        t,
        largest.and_then(|k| k.0.as_int()),
    )?))
}

/// [`max_key`] of an integer-keyed table whose largest row is `max`.
fn max_integer_key(conn: &Connection, t: &TableSchema, max: Option<i64>) -> rusqlite::Result<i64> {
    if let Some(floor) = crate::key_floor::floor_of(conn, &t.name)? {
        // No AUTOINCREMENT: no sqlite_sequence row (maybe no such table).
        return Ok(max.unwrap_or(0).max(floor));
    }
    let seq: Option<i64> = conn
        .query_row(
            "SELECT seq FROM sqlite_sequence WHERE name = ?1",
            [&t.name],
            |r| r.get(0),
        )
        .optional()?
        .flatten();
    Ok(max.unwrap_or(0).max(seq.unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use dbsync_core::{Column, Direction};

    fn tag_table() -> TableSchema {
        TableSchema {
            name: "tag".into(),
            primary_key: "id".into(),
            key_type: KeyType::Text,
            columns: vec![Column {
                name: "n".into(),
                ty: ColumnType::Integer,
                not_null: false,
            }],
            foreign_keys: vec![],
            unique: vec![],
            direction: Direction::Both,
        }
    }

    #[test]
    fn text_keys_page_in_byte_order_from_below_every_key_whatever_the_collation() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE tag (id TEXT PRIMARY KEY COLLATE NOCASE, n INTEGER);
             INSERT INTO tag VALUES ('a', 1), ('#b', 2), ('Z', 3), ('!c', 4), ('0', 5);",
        )
        .unwrap();
        let t = tag_table();
        let sql = TableSql::new(&t);
        let rows = Rows { t: &t, sql: &sql };
        let keys = |after: RowId, limit: usize| -> Vec<String> {
            rows.after(&conn, after, limit)
                .unwrap()
                .into_iter()
                .map(|r| r.id.as_text().unwrap().to_string())
                .collect()
        };
        assert_eq!(keys(RowId::default(), 10), ["!c", "#b", "0", "Z", "a"]);
        assert_eq!(keys(RowId::text("0").unwrap(), 10), ["Z", "a"]);
        assert_eq!(max_key(&conn, &t).unwrap(), RowId::text("a").unwrap());
    }
}

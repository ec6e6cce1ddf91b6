//! The statements of one synced table, built once from its schema; table
//! and column names come only from the tracked schema, never from a
//! message.

use crate::catalog::PgTable;
use crate::types::{compare_expr, param, read_expr, value_at, write_expr, Param, PgKind};
use dbsync_core::RowId;
use dbsync_core::{Row, TableSchema, Value};
use dbsync_engine::store::StoreFault;

/// A synced table's statements and column kinds.
#[derive(Debug, Clone)]
pub struct TableSql {
    /// Its tracked shape.
    pub table: PgTable,
    select: String,
    /// `WHERE key = ANY($1)`.
    pub read_many: String,
    /// `WHERE key > $1 ORDER BY key LIMIT $2`.
    pub after: String,
    /// Inserts a row: the key, then every column.
    pub insert: String,
    /// Sets every column of a row (none when the table has no column).
    pub update: Option<String>,
    /// Deletes a row by key.
    pub delete: String,
}

impl TableSql {
    /// The statements of `table`.
    pub fn new(table: PgTable) -> TableSql {
        let t = &table.schema;
        let (name, pk) = (&t.name, &t.primary_key);
        let mut reads = vec![format!("\"{pk}\"")];
        reads.extend(
            t.columns
                .iter()
                .zip(&table.kinds)
                .map(|(c, k)| read_expr(&c.name, *k)),
        );
        let select = format!("SELECT {} FROM \"{name}\"", reads.join(", "));
        let mut names = vec![format!("\"{pk}\"")];
        names.extend(t.columns.iter().map(|c| format!("\"{}\"", c.name)));
        let mut values = vec!["$1::int8".to_string()];
        values.extend(
            table
                .kinds
                .iter()
                .enumerate()
                .map(|(i, k)| write_expr(i + 2, *k)),
        );
        let sets: Vec<String> = t
            .columns
            .iter()
            .zip(&table.kinds)
            .enumerate()
            .map(|(i, (c, k))| format!("\"{}\" = {}", c.name, write_expr(i + 2, *k)))
            .collect();
        TableSql {
            read_many: format!("{select} WHERE \"{pk}\" = ANY($1::int8[]) ORDER BY \"{pk}\""),
            after: format!("{select} WHERE \"{pk}\" > $1 ORDER BY \"{pk}\" LIMIT $2"),
            insert: format!(
                "INSERT INTO \"{name}\" ({}) OVERRIDING SYSTEM VALUE VALUES ({})",
                names.join(", "),
                values.join(", ")
            ),
            update: (!sets.is_empty()).then(|| {
                format!(
                    "UPDATE \"{name}\" SET {} WHERE \"{pk}\" = $1::int8",
                    sets.join(", ")
                )
            }),
            delete: format!("DELETE FROM \"{name}\" WHERE \"{pk}\" = $1::int8"),
            select,
            table,
        }
    }

    /// The schema of the table.
    pub fn schema(&self) -> &TableSchema {
        &self.table.schema
    }

    /// The parameters of [`TableSql::insert`] and [`TableSql::update`]:
    /// the key, then every column's value (NULL when the row lacks it).
    pub fn row_params(&self, row: &Row) -> Result<Vec<Param>, StoreFault> {
        let mut out: Vec<Param> = vec![Box::new(int_id(row.id)?)];
        for (c, k) in self.schema().columns.iter().zip(&self.table.kinds) {
            out.push(param(*k, row.values.get(&c.name).unwrap_or(&Value::Null))?);
        }
        Ok(out)
    }

    /// A row read by one of this table's SELECTs.
    pub fn row_from(&self, r: &tokio_postgres::Row) -> Result<Row, StoreFault> {
        let t = self.schema();
        let mut values = dbsync_core::protocol::value::Values::new();
        for (i, (c, k)) in t.columns.iter().zip(&self.table.kinds).enumerate() {
            values.insert(c.name.clone(), value_at(r, i + 1, *k)?);
        }
        Ok(Row {
            table: t.name.clone(),
            id: RowId::Int(r.try_get(0).map_err(StoreFault::of)?),
            values,
        })
    }

    /// The SELECT of rows whose `columns` equal the filter's values (NULL
    /// matching NULL), by key, with its parameters; `None` when a value
    /// cannot occur in its column (so no row matches). Columns are
    /// compared in their wire form, so no value makes the query fail;
    /// an integer column is compared as it is, so that an index of it
    /// serves the filter (a scope move finds a parent's children so).
    pub fn find(
        &self,
        filter: &[(&str, &Value)],
        limit: usize,
    ) -> Result<Option<(String, Vec<Param>)>, StoreFault> {
        self.find_where(filter, None, limit)
    }

    /// [`TableSql::find`] among the rows that also meet `extra`, a
    /// condition whose parameters are numbered after the filter's (from
    /// `filter.len() + 1`), for the caller to add.
    pub fn find_where(
        &self,
        filter: &[(&str, &Value)],
        extra: Option<&str>,
        limit: usize,
    ) -> Result<Option<(String, Vec<Param>)>, StoreFault> {
        let t = self.schema();
        let mut conds = Vec::new();
        let mut params: Vec<Param> = Vec::new();
        for (column, value) in filter {
            let kind = if *column == t.primary_key {
                PgKind::Int
            } else {
                let i = t
                    .columns
                    .iter()
                    .position(|c| c.name == *column)
                    .ok_or_else(|| StoreFault(format!("no column {column}")))?;
                self.table.kinds[i]
            };
            let Ok(p) = param(kind, value) else {
                return Ok(None);
            };
            params.push(p);
            let compared = compare_expr(params.len(), kind);
            conds.push(match (kind, value) {
                (_, Value::Null) => {
                    format!(
                        "{} IS NOT DISTINCT FROM {compared}",
                        read_expr(column, kind)
                    )
                }
                // `=` on the column itself: int2, int4 and int8 compare
                // exactly with an int8, and the column's index applies.
                (PgKind::Int, _) => format!("\"{column}\" = {compared}"),
                _ => format!("{} = {compared}", read_expr(column, kind)),
            });
        }
        conds.extend(extra.map(str::to_string));
        let mut sql = self.select.clone();
        if !conds.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&conds.join(" AND "));
        }
        sql.push_str(&format!(" ORDER BY \"{}\" LIMIT {limit}", t.primary_key));
        Ok(Some((sql, params)))
    }
}

/// A row id as this store keeps it: PostgreSQL tables are integer-keyed
/// here (text keys are served by the SQLite store, spec §2.2), so a text
/// id names no row.
pub fn int_id(id: RowId) -> Result<i64, StoreFault> {
    id.as_int()
        .ok_or_else(|| StoreFault(format!("row id {id} is not an integer key")))
}

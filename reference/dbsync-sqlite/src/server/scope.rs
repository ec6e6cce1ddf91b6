//! The scope index over SQLite (spec §19.4): each row's key in
//! `dbsync_row_scope`, each op's marks in `dbsync_scope_marks`. A pull
//! finds its ops by key and version through the marks' primary key, so it
//! reads only the marks of its own keys.

use super::faults::Fault;
use super::SqliteTx;
use crate::rows;
use crate::sql_id::{id_at, SqlId};
use crate::track::command_code;
use dbsync_core::{Op, Row, RowId, TableSchema, Value};
use dbsync_engine::store::{OpPosition, ScopeMark, ScopedOp, StoreFault, StoreResult};
use rusqlite::types::ToSql;
use rusqlite::{params, params_from_iter, OptionalExtension};

/// The scope index's tables (made on every server database; empty unless
/// it is served with scopes).
pub const SCOPE_SQL: &str = "
CREATE TABLE IF NOT EXISTS dbsync_row_scope (
    table_id INTEGER NOT NULL,
    row_id NOT NULL,
    scope_key TEXT,
    PRIMARY KEY (table_id, row_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS dbsync_row_scope_by_key ON dbsync_row_scope (table_id, scope_key, row_id);
CREATE TABLE IF NOT EXISTS dbsync_scope_marks (
    scope_key TEXT NOT NULL,
    version INTEGER NOT NULL,
    table_id INTEGER NOT NULL,
    row_id NOT NULL,
    key_before TEXT,
    key_after TEXT,
    PRIMARY KEY (scope_key, version, table_id, row_id)
) WITHOUT ROWID;-- Trim drops marks by version.
CREATE INDEX IF NOT EXISTS dbsync_scope_marks_by_version ON dbsync_scope_marks (version);
";

/// `?n, ?n+1, ...` for `count` parameters from `first`.
fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl SqliteTx<'_> {
    fn table_id(&self, table: &str) -> StoreResult<i64> {
        self.store
            .table_ids
            .get(table)
            .copied()
            .ok_or_else(|| StoreFault(format!("table {table} is not tracked")))
    }

    pub(crate) fn enable_scopes_sql(
        &mut self,
        columns: &[(&TableSchema, &str)],
    ) -> StoreResult<()> {
        // The index of keys grows at one place per key (per user): with
        // thousands of users its hot pages outgrow SQLite's default 2 MiB
        // cache, and every insert would read a page back.
        let mut sql = String::from(
            "PRAGMA cache_size = -65536;\
             CREATE INDEX IF NOT EXISTS dbsync_oplog_by_row ON dbsync_oplog (version, table_id, row_id);",
        );
        for (t, c) in columns {
            sql.push_str(&format!(
                "CREATE INDEX IF NOT EXISTS \"dbsync_parent_{0}_{1}\" ON \"{0}\" (\"{1}\");",
                t.name, c
            ));
        }
        self.conn.execute_batch(&sql).fault()
    }

    pub(crate) fn row_scopes_sql(
        &mut self,
        table: &str,
        ids: &[RowId],
    ) -> StoreResult<Vec<(RowId, Option<String>)>> {
        let table_id = self.table_id(table)?;
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT scope_key FROM dbsync_row_scope WHERE table_id = ?1 AND row_id = ?2",
            )
            .fault()?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let key: Option<Option<String>> = stmt
                .query_row(params![table_id, SqlId(*id)], |r| r.get(0))
                .optional()
                .fault()?;
            if let Some(key) = key {
                out.push((*id, key));
            }
        }
        Ok(out)
    }

    pub(crate) fn scoped_ops_sql(
        &mut self,
        keys: &[String],
        base: u64,
        target: u64,
        after: OpPosition,
        limit: usize,
    ) -> StoreResult<Vec<ScopedOp>> {
        let sql = format!(
            "SELECT o.seq, o.version, o.table_id, o.row_id, o.command, o.columns, \
                    m.key_before, m.key_after \
             FROM dbsync_scope_marks m JOIN dbsync_oplog o \
               ON o.version = m.version AND o.table_id = m.table_id AND o.row_id = m.row_id \
             WHERE m.scope_key IN ({}) AND m.version > ?1 AND m.version <= ?2 \
               AND (o.version > ?3 OR (o.version = ?3 AND o.seq > ?4)) \
             GROUP BY o.seq ORDER BY o.version, o.seq LIMIT ?5",
            placeholders(6, keys.len())
        );
        let nums = [
            base as i64,
            target as i64,
            after.version as i64,
            after.seq as i64,
            limit as i64,
        ];
        let params: Vec<&dyn ToSql> = nums
            .iter()
            .map(|n| n as &dyn ToSql)
            .chain(keys.iter().map(|k| k as &dyn ToSql))
            .collect();
        let mut stmt = self.conn.prepare_cached(&sql).fault()?;
        let mut rows = stmt.query(params_from_iter(params)).fault()?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().fault()? {
            let Some(op) = self.positioned(r).fault()? else {
                return Err(StoreFault("an oplog record is corrupt".into()));
            };
            out.push(ScopedOp {
                op,
                before: r.get(6).fault()?,
                after: r.get(7).fault()?,
            });
        }
        Ok(out)
    }

    /// One range of the index `(table_id, scope_key, row_id)` per key,
    /// merged: a query with `IN` over the keys would let SQLite walk the
    /// table's whole primary key instead.
    pub(crate) fn scoped_ids_sql(
        &mut self,
        table: &TableSchema,
        keys: &[String],
        after: RowId,
        limit: usize,
    ) -> StoreResult<Vec<RowId>> {
        let table_id = self.table_id(&table.name)?;
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT row_id FROM dbsync_row_scope \
                 WHERE table_id = ?1 AND scope_key = ?2 AND row_id > ?3 \
                 ORDER BY row_id LIMIT ?4",
            )
            .fault()?;
        let mut ids = Vec::new();
        for key in keys {
            let found = stmt
                .query_map(params![table_id, key, SqlId(after), limit as i64], |r| {
                    id_at(r, 0)
                })
                .fault()?;
            for id in found {
                ids.push(id.fault()?);
            }
        }
        ids.sort();
        ids.truncate(limit);
        Ok(ids)
    }

    pub(crate) fn scoped_count_sql(
        &mut self,
        table: &TableSchema,
        keys: &[String],
    ) -> StoreResult<u64> {
        let table_id = self.table_id(&table.name)?;
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT count(*) FROM dbsync_row_scope WHERE table_id = ?1 AND scope_key = ?2",
            )
            .fault()?;
        let mut sum = 0;
        for key in keys {
            let n: i64 = stmt
                .query_row(params![table_id, key], |r| r.get(0))
                .fault()?;
            sum += n as u64;
        }
        Ok(sum)
    }

    pub(crate) fn scoped_find_sql(
        &mut self,
        t: &TableSchema,
        filter: &[(&str, &Value)],
        keys: &[String],
        limit: usize,
    ) -> StoreResult<Vec<Row>> {
        let table_id = self.table_id(&t.name)?;
        let mut conds: Vec<String> = filter
            .iter()
            .enumerate()
            .map(|(i, (c, _))| format!("\"{c}\" IS ?{}", i + 1))
            .collect();
        conds.push(format!(
            "EXISTS (SELECT 1 FROM dbsync_row_scope s WHERE s.table_id = {table_id} \
             AND s.row_id = \"{}\".\"{}\" AND s.scope_key IN ({}))",
            t.name,
            t.primary_key,
            placeholders(filter.len() + 1, keys.len())
        ));
        let sql = format!(
            "{} WHERE {} ORDER BY \"{}\" LIMIT {limit}",
            rows::select_sql(t),
            conds.join(" AND "),
            t.primary_key
        );
        let values: Vec<rows::Param> = filter.iter().map(|(_, v)| rows::Param(v)).collect();
        let params: Vec<&dyn ToSql> = values
            .iter()
            .map(|p| p as &dyn ToSql)
            .chain(keys.iter().map(|k| k as &dyn ToSql))
            .collect();
        let mut stmt = self.conn.prepare(&sql).fault()?;
        let rows = stmt
            .query_map(params_from_iter(params), |r| rows::row_from(t, r))
            .fault()?;
        rows.collect::<rusqlite::Result<_>>().fault()
    }

    pub(crate) fn set_row_scopes_sql(
        &mut self,
        table: &str,
        keys: &[(RowId, Option<String>)],
    ) -> StoreResult<()> {
        let table_id = self.table_id(table)?;
        let mut stmt = self
            .conn
            .prepare_cached(
                "INSERT INTO dbsync_row_scope (table_id, row_id, scope_key) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (table_id, row_id) DO UPDATE SET scope_key = excluded.scope_key",
            )
            .fault()?;
        for (id, key) in keys {
            stmt.execute(params![table_id, SqlId(*id), key]).fault()?;
        }
        Ok(())
    }

    pub(crate) fn forget_row_scopes_sql(&mut self, table: &str, ids: &[RowId]) -> StoreResult<()> {
        let table_id = self.table_id(table)?;
        let mut stmt = self
            .conn
            .prepare_cached("DELETE FROM dbsync_row_scope WHERE table_id = ?1 AND row_id = ?2")
            .fault()?;
        for id in ids {
            stmt.execute(params![table_id, SqlId(*id)]).fault()?;
        }
        Ok(())
    }

    pub(crate) fn append_scope_marks_sql(&mut self, marks: &[ScopeMark]) -> StoreResult<()> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "INSERT OR REPLACE INTO dbsync_scope_marks \
                 (scope_key, version, table_id, row_id, key_before, key_after) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .fault()?;
        for m in marks {
            let table_id = self.table_id(&m.table)?;
            stmt.execute(params![
                m.key,
                m.version as i64,
                table_id,
                SqlId(m.row_id),
                m.before,
                m.after
            ])
            .fault()?;
        }
        Ok(())
    }

    pub(crate) fn append_ops_sql(&mut self, version: u64, ops: &[Op]) -> StoreResult<()> {
        {
            let mut ins = self
                .conn
                .prepare_cached(
                    "INSERT INTO dbsync_oplog (table_id, row_id, command, version, columns) \
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .fault()?;
            for op in ops {
                let table_id = self.table_id(&op.table)?;
                ins.execute(params![
                    table_id,
                    SqlId(op.row_id),
                    command_code(op.command),
                    version as i64,
                    crate::changed_columns::to_sql(op.columns.as_ref())
                ])
                .fault()?;
            }
        }
        let last_seq = self.conn.last_insert_rowid();
        self.conn
            .execute(
                "UPDATE dbsync_versions SET last_seq = ?2 WHERE version = ?1",
                params![version as i64, last_seq],
            )
            .fault()?;
        Ok(())
    }
}

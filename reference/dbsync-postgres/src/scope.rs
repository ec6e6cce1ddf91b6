//! The scope index over PostgreSQL (spec §19.4): each row's key in
//! `dbsync_row_scope`, each op's marks in `dbsync_scope_marks`. A pull
//! finds its ops by key and version through the marks' primary key, so it
//! reads only the marks of its own keys.
//!
//! Row ids are `bigint`, as in `dbsync_oplog` (tables here are
//! integer-keyed): the marks join the oplog on them, and a table's ids in
//! the index come in the order of its key, as [`ReadTx::rows_after`]
//! gives its rows. A text id names no row here.
//!
//! Key lists travel as one `text[]` parameter (`= ANY($n)`), so each
//! statement is prepared once whatever the number of keys; where an
//! answer must come in order, one walk per key keeps a page's cost that
//! of the page (see [`PgTx::scoped_ops_sql`] and [`PgTx::scoped_ids_sql`]).
//!
//! [`ReadTx::rows_after`]: dbsync_engine::store::ReadTx::rows_after

use crate::meta::SCHEMA_LOCK;
use crate::sql::int_id;
use crate::tx::PgTx;
use dbsync_core::{Op, Row, RowId, TableSchema, Value};
use dbsync_engine::store::{OpPosition, ScopeMark, ScopedOp, StoreFault, StoreResult};
use std::collections::HashMap;

/// The scope index's tables (made on every server database; empty unless
/// it is served with scopes).
pub const SCOPE_SQL: &str = "
CREATE TABLE IF NOT EXISTS dbsync_row_scope (
    table_id integer NOT NULL,
    row_id bigint NOT NULL,
    scope_key text,
    PRIMARY KEY (table_id, row_id)
);
CREATE INDEX IF NOT EXISTS dbsync_row_scope_by_key ON dbsync_row_scope (table_id, scope_key, row_id);
CREATE TABLE IF NOT EXISTS dbsync_scope_marks (
    scope_key text NOT NULL,
    version bigint NOT NULL,
    table_id integer NOT NULL,
    row_id bigint NOT NULL,
    key_before text,
    key_after text,
    PRIMARY KEY (scope_key, version, table_id, row_id)
);-- Trim drops marks by version.
CREATE INDEX IF NOT EXISTS dbsync_scope_marks_by_version ON dbsync_scope_marks (version);
";

/// The index of the oplog by row inside a version: the marks join the
/// oplog through it.
const OPLOG_BY_ROW: &str = "dbsync_oplog_by_row";

/// The name of dbsync's index of `table.column`: PostgreSQL cuts names
/// at 63 bytes, so a longer one is made from a hash of both names
/// (two long names sharing their first 63 bytes would otherwise collide).
fn parent_index_name(table: &str, column: &str) -> String {
    let name = format!("dbsync_parent_{table}_{column}");
    if name.len() <= 63 {
        return name;
    }
    // FNV-1a, 64 bits: stable across builds and platforms.
    let hash = format!("{table}\0{column}")
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        });
    format!("dbsync_parent_{hash:016x}")
}

/// Keeps the last of the items with the same `key`, in the order of
/// their last occurrence: one statement may not touch a row twice
/// (`ON CONFLICT DO UPDATE`), and the last write is the one that holds.
fn last_of_each<'a, T, K: Eq + std::hash::Hash>(
    items: &'a [T],
    key: impl Fn(&'a T) -> K,
) -> Vec<&'a T> {
    let last: HashMap<K, usize> = items.iter().enumerate().map(|(i, t)| (key(t), i)).collect();
    items
        .iter()
        .enumerate()
        .filter(|(i, t)| last.get(&key(t)) == Some(i))
        .map(|(_, t)| t)
        .collect()
}

/// `keys` without repeats, in their order.
fn distinct(keys: &[String]) -> Vec<&str> {
    let mut seen = std::collections::HashSet::new();
    keys.iter()
        .map(String::as_str)
        .filter(|k| seen.insert(*k))
        .collect()
}

impl PgTx<'_> {
    /// Whether an index of `table` has `column` as its first key, with
    /// no predicate (the application may have made one already).
    fn column_indexed(&self, table: &str, column: &str) -> StoreResult<bool> {
        let rows = self.query(
            "SELECT EXISTS (SELECT 1 FROM pg_index i \
               JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] \
              WHERE i.indrelid = $1::text::regclass AND a.attname = $2 AND i.indpred IS NULL)",
            &[&format!("\"{table}\""), &column],
        )?;
        Ok(rows[0].get(0))
    }

    pub(crate) fn enable_scopes_sql(
        &mut self,
        columns: &[(&TableSchema, &str)],
    ) -> StoreResult<()> {
        // Server processes starting at once make each index once; one
        // already there is not made again (nor is its table locked).
        self.query("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])?;
        let mut make = Vec::new();
        let oplog = self.query("SELECT to_regclass($1) IS NULL", &[&OPLOG_BY_ROW])?;
        if oplog[0].get(0) {
            make.push(format!(
                "CREATE INDEX IF NOT EXISTS {OPLOG_BY_ROW} ON dbsync_oplog (version, table_id, row_id)"
            ));
        }
        for (t, c) in columns {
            if !self.column_indexed(&t.name, c)? {
                make.push(format!(
                    "CREATE INDEX IF NOT EXISTS \"{}\" ON \"{}\" (\"{c}\")",
                    parent_index_name(&t.name, c),
                    t.name
                ));
            }
        }
        for sql in make {
            self.batch(&sql)?;
        }
        Ok(())
    }

    pub(crate) fn row_scopes_sql(
        &mut self,
        table: &str,
        ids: &[RowId],
    ) -> StoreResult<Vec<(RowId, Option<String>)>> {
        let table_id = self.table_id(table)?;
        let ids: Vec<i64> = ids.iter().filter_map(|id| id.as_int()).collect();
        let rows = self.query(
            "SELECT s.row_id, s.scope_key \
             FROM unnest($2::int8[]) WITH ORDINALITY AS i(id, n) \
             JOIN dbsync_row_scope s ON s.table_id = $1 AND s.row_id = i.id \
             ORDER BY i.n",
            &[&table_id, &ids],
        )?;
        Ok(rows
            .iter()
            .map(|r| (RowId::Int(r.get(0)), r.get(1)))
            .collect())
    }

    /// The ops of a scoped pull page, in two steps. First, for each key,
    /// the version of its `limit`-th mark after the cursor's version: a
    /// key's marks are distinct ops, so the page ends at or before the
    /// least of these (each is one walk of `limit` entries of the marks'
    /// primary key). Then the ops marked up to there, in history order:
    /// the sort is of a page's worth of ops, not of every op up to the
    /// target (PostgreSQL does not walk the marks of several keys in
    /// version order).
    pub(crate) fn scoped_ops_sql(
        &mut self,
        keys: &[String],
        base: u64,
        target: u64,
        after: OpPosition,
        limit: usize,
    ) -> StoreResult<Vec<ScopedOp>> {
        if keys.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let (b, av, aseq, n) = (
            base as i64,
            after.version as i64,
            after.seq as i64,
            limit as i64,
        );
        let mut through = target as i64;
        for key in distinct(keys) {
            let cut = self.query(
                "SELECT version FROM dbsync_scope_marks \
                 WHERE scope_key = $1 AND version > greatest($2::int8, $3::int8) AND version <= $4 \
                 ORDER BY version, table_id, row_id OFFSET $5 LIMIT 1",
                &[&key, &b, &av, &through, &(n - 1)],
            )?;
            if let Some(r) = cut.first() {
                through = r.get(0);
            }
        }
        // An op marked with several of the keys comes once: its marks
        // all carry the same keys before and after.
        let rows = self.query(
            "SELECT DISTINCT ON (o.version, o.seq) \
                    o.seq, o.version, o.table_id, o.row_id, o.command, o.columns, \
                    m.key_before, m.key_after \
             FROM dbsync_scope_marks m JOIN dbsync_oplog o \
               ON o.version = m.version AND o.table_id = m.table_id AND o.row_id = m.row_id \
             WHERE m.scope_key = ANY($1::text[]) AND m.version > $2 AND m.version <= $3 \
               AND m.version >= $4 AND (o.version, o.seq) > ($4, $5) \
             ORDER BY o.version, o.seq LIMIT $6",
            &[&keys, &b, &through, &av, &aseq, &n],
        )?;
        rows.iter()
            .map(|r| {
                Ok(ScopedOp {
                    op: self.positioned(r)?,
                    before: r.get(6),
                    after: r.get(7),
                })
            })
            .collect()
    }

    /// One walk of the index `(table_id, scope_key, row_id)` per key,
    /// merged: with `= ANY` over the keys, PostgreSQL walks the table's
    /// whole primary key instead, filtering, to give the ids in order.
    pub(crate) fn scoped_ids_sql(
        &mut self,
        table: &TableSchema,
        keys: &[String],
        after: RowId,
        limit: usize,
    ) -> StoreResult<Vec<RowId>> {
        let (table_id, after, n) = (self.table_id(&table.name)?, int_id(after)?, limit as i64);
        let mut ids = Vec::new();
        for key in distinct(keys) {
            let rows = self.query(
                "SELECT row_id FROM dbsync_row_scope \
                 WHERE table_id = $1 AND scope_key = $2 AND row_id > $3 \
                 ORDER BY row_id LIMIT $4",
                &[&table_id, &key, &after, &n],
            )?;
            ids.extend(rows.iter().map(|r| r.get::<_, i64>(0)));
        }
        ids.sort_unstable();
        ids.truncate(limit);
        Ok(ids.into_iter().map(RowId::Int).collect())
    }

    pub(crate) fn scoped_count_sql(
        &mut self,
        table: &TableSchema,
        keys: &[String],
    ) -> StoreResult<u64> {
        let table_id = self.table_id(&table.name)?;
        let rows = self.query(
            "SELECT count(*) FROM dbsync_row_scope \
             WHERE table_id = $1 AND scope_key = ANY($2::text[])",
            &[&table_id, &keys],
        )?;
        Ok(rows[0].get::<_, i64>(0) as u64)
    }

    pub(crate) fn scoped_find_sql(
        &mut self,
        t: &TableSchema,
        filter: &[(&str, &Value)],
        keys: &[String],
        limit: usize,
    ) -> StoreResult<Vec<Row>> {
        let table_id = self.table_id(&t.name)?;
        let in_scope = format!(
            "EXISTS (SELECT 1 FROM dbsync_row_scope s WHERE s.table_id = {table_id} \
             AND s.row_id = \"{}\".\"{}\" AND s.scope_key = ANY(${}::text[]))",
            t.name,
            t.primary_key,
            filter.len() + 1
        );
        let sql = self.store.table(&t.name)?;
        let Some((sql, mut params)) = sql.find_where(filter, Some(&in_scope), limit)? else {
            return Ok(Vec::new());
        };
        params.push(Box::new(keys.to_vec()));
        let found = self.query(&sql, &crate::tx::refs(&params))?;
        self.rows_of(t, found)
    }

    pub(crate) fn set_row_scopes_sql(
        &mut self,
        table: &str,
        keys: &[(RowId, Option<String>)],
    ) -> StoreResult<()> {
        let table_id = self.table_id(table)?;
        let keys = last_of_each(keys, |(id, _)| *id);
        let ids: Vec<i64> = keys
            .iter()
            .map(|(id, _)| int_id(*id))
            .collect::<Result<_, _>>()?;
        let scope_keys: Vec<Option<&str>> = keys.iter().map(|(_, k)| k.as_deref()).collect();
        self.execute(
            "INSERT INTO dbsync_row_scope (table_id, row_id, scope_key) \
             SELECT $1, r, k FROM unnest($2::int8[], $3::text[]) AS u(r, k) \
             ON CONFLICT (table_id, row_id) DO UPDATE SET scope_key = excluded.scope_key",
            &[&table_id, &ids, &scope_keys],
        )?;
        Ok(())
    }

    pub(crate) fn forget_row_scopes_sql(&mut self, table: &str, ids: &[RowId]) -> StoreResult<()> {
        let table_id = self.table_id(table)?;
        let ids: Vec<i64> = ids.iter().filter_map(|id| id.as_int()).collect();
        self.execute(
            "DELETE FROM dbsync_row_scope WHERE table_id = $1 AND row_id = ANY($2::int8[])",
            &[&table_id, &ids],
        )?;
        Ok(())
    }

    pub(crate) fn append_scope_marks_sql(&mut self, marks: &[ScopeMark]) -> StoreResult<()> {
        let marks = last_of_each(marks, |m| {
            (m.key.as_str(), m.version, m.table.as_str(), m.row_id)
        });
        let mut keys = Vec::with_capacity(marks.len());
        let mut versions = Vec::with_capacity(marks.len());
        let mut table_ids = Vec::with_capacity(marks.len());
        let mut row_ids = Vec::with_capacity(marks.len());
        let mut before = Vec::with_capacity(marks.len());
        let mut after = Vec::with_capacity(marks.len());
        for m in marks {
            keys.push(m.key.as_str());
            versions.push(m.version as i64);
            table_ids.push(self.table_id(&m.table)?);
            row_ids.push(int_id(m.row_id)?);
            before.push(m.before.as_deref());
            after.push(m.after.as_deref());
        }
        self.execute(
            "INSERT INTO dbsync_scope_marks \
             (scope_key, version, table_id, row_id, key_before, key_after) \
             SELECT * FROM unnest($1::text[], $2::int8[], $3::int4[], $4::int8[], $5::text[], $6::text[]) \
             ON CONFLICT (scope_key, version, table_id, row_id) DO UPDATE \
             SET key_before = excluded.key_before, key_after = excluded.key_after",
            &[&keys, &versions, &table_ids, &row_ids, &before, &after],
        )?;
        Ok(())
    }

    pub(crate) fn append_ops_sql(&mut self, version: u64, ops: &[Op]) -> StoreResult<()> {
        self.insert_ops(version, ops)
    }

    /// Runs `sql` (no parameters, never prepared: DDL).
    fn batch(&self, sql: &str) -> StoreResult<()> {
        self.store
            .block(self.client().batch_execute(sql))
            .map_err(StoreFault::of)
    }
}

//! The reads of a server transaction ([`ReadTx`]).

use super::faults::Fault;
use super::SqliteTx;
use crate::rows;
use crate::sql_id::id_at;
use crate::track::command_of;
use dbsync_core::auth::Secret;
use dbsync_core::protocol::VersionInfo;
use dbsync_core::RowId;
use dbsync_core::{Row, TableSchema, Value, VersionedOp};
use dbsync_engine::store::{
    Claim, NodeCounts, NodeRecord, OpPosition, PositionedOp, PushRecord, ReadTx, ScopedOp,
    StoreFault, StoreResult,
};
use rusqlite::{params, OptionalExtension};

impl SqliteTx<'_> {
    pub(crate) fn state_int(&self, key: &str) -> StoreResult<i64> {
        let v: Option<i64> = self
            .conn
            .prepare_cached("SELECT value FROM dbsync_state WHERE key = ?1")
            .and_then(|mut s| s.query_row([key], |r| r.get(0)).optional())
            .fault()?;
        Ok(v.unwrap_or(0))
    }

    fn table_rows(&self, table: &TableSchema) -> StoreResult<rows::Rows<'_>> {
        self.store
            .catalog
            .get(&table.name)
            .ok_or_else(|| StoreFault(format!("table {} is not tracked", table.name)))
    }

    pub(crate) fn positioned(
        &self,
        r: &rusqlite::Row<'_>,
    ) -> rusqlite::Result<Option<PositionedOp>> {
        let Some(table) = self.store.table_names.get(&r.get::<_, i64>(2)?) else {
            return Ok(None);
        };
        let Some(command) = command_of(r.get(4)?) else {
            return Ok(None);
        };
        let version = r.get::<_, i64>(1)? as u64;
        Ok(Some(PositionedOp {
            position: OpPosition {
                version,
                seq: r.get::<_, i64>(0)? as u64,
            },
            op: VersionedOp {
                version,
                table: table.clone(),
                row_id: id_at(r, 3)?,
                command,
                // Unreadable columns read as none: an update of any
                // column, the safe reading (spec §3.1.1).
                columns: crate::changed_columns::from_sql(r.get(5)?).unwrap_or(None),
                out: false,
            },
        }))
    }
}

/// The columns of `dbsync_nodes` that [`node_from`] reads, in its order.
pub(crate) const NODE_COLUMNS: &str =
    "node_id, secret, user_id, registered_at, last_seen, known_version, stale, seen, claims";

/// Claims as stored: a JSON array of strings (none when NULL or
/// unreadable).
pub(crate) fn claims_from(text: Option<String>) -> Vec<Claim> {
    text.and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

/// A node from a row of [`NODE_COLUMNS`].
pub(crate) fn node_from(r: &rusqlite::Row<'_>) -> rusqlite::Result<NodeRecord> {
    let secret: String = r.get(1)?;
    Ok(NodeRecord {
        node_id: r.get::<_, i64>(0)? as u64,
        secret: Secret::decode(&secret).unwrap_or(Secret([0; 32])),
        user_id: r.get(2)?,
        registered_at: r.get::<_, i64>(3)? as u64,
        last_seen: r.get::<_, i64>(4)? as u64,
        known_version: r.get::<_, i64>(5)? as u64,
        stale: r.get::<_, i64>(6)? != 0,
        seen: r.get::<_, i64>(7)? != 0,
        claims: claims_from(r.get(8)?),
    })
}

impl ReadTx for SqliteTx<'_> {
    fn latest_version(&mut self) -> StoreResult<u64> {
        let v: Option<i64> = self
            .conn
            .prepare_cached("SELECT max(version) FROM dbsync_versions")
            .and_then(|mut s| s.query_row([], |r| r.get(0)))
            .fault()?;
        Ok(v.unwrap_or(0).max(self.state_int("trimmed_through")?) as u64)
    }

    fn trimmed_through(&mut self) -> StoreResult<u64> {
        Ok(self.state_int("trimmed_through")? as u64)
    }

    fn has_unsealed(&mut self) -> StoreResult<bool> {
        self.conn
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM dbsync_oplog WHERE version IS NULL)")
            .and_then(|mut s| s.query_row([], |r| r.get(0)))
            .fault()
    }

    fn node(&mut self, node_id: u64) -> StoreResult<Option<NodeRecord>> {
        self.conn
            .prepare_cached(&format!(
                "SELECT {NODE_COLUMNS} FROM dbsync_nodes WHERE node_id = ?1"
            ))
            .and_then(|mut s| s.query_row([node_id as i64], node_from).optional())
            .fault()
    }

    fn nodes(&mut self) -> StoreResult<Vec<NodeRecord>> {
        self.conn
            .prepare(&format!(
                "SELECT {NODE_COLUMNS} FROM dbsync_nodes ORDER BY node_id"
            ))
            .and_then(|mut s| s.query_map([], node_from)?.collect())
            .fault()
    }

    fn nonce_used(&mut self, node_id: u64, nonce: &str) -> StoreResult<bool> {
        self.conn
            .prepare_cached("SELECT 1 FROM dbsync_nonces WHERE node_id = ?1 AND nonce = ?2")
            .and_then(|mut s| s.exists(params![node_id as i64, nonce]))
            .fault()
    }

    fn push_record(&mut self, node_id: u64, push_id: &str) -> StoreResult<Option<PushRecord>> {
        self.conn
            .prepare_cached(
                "SELECT version, digest FROM dbsync_push_ids WHERE node_id = ?1 AND push_id = ?2",
            )
            .and_then(|mut s| {
                s.query_row(params![node_id as i64, push_id], |r| {
                    Ok(PushRecord {
                        version: r.get::<_, i64>(0)? as u64,
                        digest: r.get(1)?,
                    })
                })
                .optional()
            })
            .fault()
    }

    fn ops_after(
        &mut self,
        base: u64,
        target: u64,
        after: OpPosition,
        limit: usize,
    ) -> StoreResult<Vec<PositionedOp>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT seq, version, table_id, row_id, command, columns FROM dbsync_oplog \
                 WHERE version > ?1 AND version <= ?2 \
                   AND (version > ?3 OR (version = ?3 AND seq > ?4)) \
                 ORDER BY version, seq LIMIT ?5",
            )
            .fault()?;
        let mut rows = stmt
            .query(params![
                base as i64,
                target as i64,
                after.version as i64,
                after.seq as i64,
                limit as i64
            ])
            .fault()?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().fault()? {
            match self.positioned(r).fault()? {
                Some(op) => out.push(op),
                None => return Err(StoreFault("an oplog record is corrupt".into())),
            }
        }
        Ok(out)
    }

    fn versions(&mut self, after: u64, through: u64) -> StoreResult<Vec<VersionInfo>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT version, node_id, push_id, created_at FROM dbsync_versions \
                 WHERE version > ?1 AND version <= ?2 ORDER BY version",
            )
            .fault()?;
        let rows = stmt
            .query_map(params![after as i64, through as i64], |r| {
                Ok(VersionInfo {
                    version: r.get::<_, i64>(0)? as u64,
                    node_id: r.get::<_, Option<i64>>(1)?.map(|n| n as u64),
                    push_id: r.get(2)?,
                    created_at: r.get(3)?,
                })
            })
            .fault()?;
        rows.collect::<rusqlite::Result<_>>().fault()
    }

    fn rows(&mut self, table: &TableSchema, ids: &[RowId]) -> StoreResult<Vec<Row>> {
        self.table_rows(table)?.read_many(&self.conn, ids).fault()
    }

    fn rows_after(
        &mut self,
        table: &TableSchema,
        after: RowId,
        limit: usize,
    ) -> StoreResult<Vec<Row>> {
        self.table_rows(table)?
            .after(&self.conn, after, limit)
            .fault()
    }

    fn row_count(&mut self, table: &TableSchema) -> StoreResult<u64> {
        let sql = format!("SELECT count(*) FROM \"{}\"", table.name);
        let n: i64 = self.conn.query_row(&sql, [], |r| r.get(0)).fault()?;
        Ok(n as u64)
    }

    fn greatest_key(&mut self, table: &TableSchema) -> StoreResult<i64> {
        // Only integer-keyed tables re-key (spec §10.2.2.2).
        Ok(rows::max_key(&self.conn, table)
            .fault()?
            .as_int()
            .unwrap_or(0))
    }

    fn find(
        &mut self,
        table: &TableSchema,
        filter: &[(&str, &Value)],
        limit: usize,
    ) -> StoreResult<Vec<Row>> {
        rows::find(&self.conn, table, filter, Some(limit)).fault()
    }

    fn cursor_key(&mut self) -> StoreResult<Option<Secret>> {
        let k: Option<String> = self
            .conn
            .query_row(
                "SELECT value FROM dbsync_state WHERE key = 'cursor_key'",
                [],
                |r| r.get(0),
            )
            .optional()
            .fault()?;
        Ok(k.and_then(|k| Secret::decode(&k)))
    }

    fn live_horizon(&mut self) -> StoreResult<Option<u64>> {
        let h: Option<i64> = self
            .conn
            .query_row(
                "SELECT min(known_version) FROM dbsync_nodes WHERE stale = 0",
                [],
                |r| r.get(0),
            )
            .fault()?;
        Ok(h.map(|h| h as u64))
    }

    fn node_counts(&mut self) -> StoreResult<NodeCounts> {
        let (registered, stale): (i64, i64) = self
            .conn
            .query_row(
                "SELECT count(*), coalesce(sum(stale <> 0), 0) FROM dbsync_nodes",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .fault()?;
        Ok(NodeCounts {
            registered: registered as u64,
            stale: stale as u64,
        })
    }

    fn row_scopes(
        &mut self,
        table: &str,
        ids: &[RowId],
    ) -> StoreResult<Vec<(RowId, Option<String>)>> {
        self.row_scopes_sql(table, ids)
    }

    fn scoped_ops_after(
        &mut self,
        keys: &[String],
        base: u64,
        target: u64,
        after: OpPosition,
        limit: usize,
    ) -> StoreResult<Vec<ScopedOp>> {
        self.scoped_ops_sql(keys, base, target, after, limit)
    }

    fn scoped_ids_after(
        &mut self,
        table: &TableSchema,
        keys: &[String],
        after: RowId,
        limit: usize,
    ) -> StoreResult<Vec<RowId>> {
        self.scoped_ids_sql(table, keys, after, limit)
    }

    fn scoped_count(&mut self, table: &TableSchema, keys: &[String]) -> StoreResult<u64> {
        self.scoped_count_sql(table, keys)
    }

    fn scoped_find(
        &mut self,
        table: &TableSchema,
        filter: &[(&str, &Value)],
        keys: &[String],
        limit: usize,
    ) -> StoreResult<Vec<Row>> {
        self.scoped_find_sql(table, filter, keys, limit)
    }
}

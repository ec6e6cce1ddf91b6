//! The writes of a server transaction ([`WriteTx`]).

use super::faults::{row_write_error, Fault};
use super::reads::{node_from, NODE_COLUMNS};
use super::SqliteTx;
use crate::sql_id::{id_at, SqlId};
use crate::track::{self, command_code};
use dbsync_core::auth::Secret;
use dbsync_core::protocol::VersionInfo;
use dbsync_core::RowId;
use dbsync_core::{Op, Row, TableSchema};
use dbsync_engine::store::{
    Claim, ForeignKeyViolation, NewNode, NodeRecord, PushRecord, RowWriteError, ScopeMark,
    StoreFault, StoreResult, WriteTx,
};
use rusqlite::params;

impl SqliteTx<'_> {
    fn set_state(&self, key: &str, value: i64) -> StoreResult<()> {
        self.conn
            .execute(
                "INSERT INTO dbsync_state (key, value) VALUES (?1, ?2) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )
            .fault()?;
        Ok(())
    }

    fn writable(&self, table: &TableSchema) -> Result<crate::rows::Rows<'_>, RowWriteError> {
        self.store
            .catalog
            .get(&table.name)
            .ok_or_else(|| StoreFault(format!("table {} is not tracked", table.name)).into())
    }

    /// The first broken foreign key of the synced tables, if any.
    fn broken_foreign_key(&self) -> StoreResult<Option<ForeignKeyViolation>> {
        for t in &self.store.schema.tables {
            let found: Option<(i64, i64)> = self
                .conn
                .prepare(&format!("PRAGMA foreign_key_check(\"{}\")", t.name))
                .and_then(|mut s| {
                    let mut rows = s.query([])?;
                    rows.next()?
                        .map(|r| Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(3)?)))
                        .transpose()
                })
                .fault()?;
            if let Some((rowid, fk_index)) = found {
                // The check names SQLite's rowid: a text-keyed row's key
                // is another column (synced tables have a rowid, §2.2).
                let row_id: RowId = self
                    .conn
                    .query_row(
                        &format!(
                            "SELECT \"{}\" FROM \"{}\" WHERE rowid = ?1",
                            t.primary_key, t.name
                        ),
                        [rowid],
                        |r| id_at(r, 0),
                    )
                    .fault()?;
                return Ok(Some(self.violation(t, row_id, fk_index)?));
            }
        }
        Ok(None)
    }

    /// The violation of `t`'s foreign key number `fk_index` by `row_id`.
    fn violation(
        &self,
        t: &TableSchema,
        row_id: RowId,
        fk_index: i64,
    ) -> StoreResult<ForeignKeyViolation> {
        let (column, parent): (String, String) = self
            .conn
            .query_row(
                "SELECT \"from\", \"table\" FROM pragma_foreign_key_list(?1) WHERE id = ?2",
                params![t.name, fk_index],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .fault()?;
        Ok(ForeignKeyViolation {
            table: t.name.clone(),
            row_id,
            column,
            parent,
        })
    }
}

impl WriteTx for SqliteTx<'_> {
    fn lock_history(&mut self) -> StoreResult<()> {
        // The writer's transactions are IMMEDIATE: this one already holds
        // SQLite's only write lock.
        Ok(())
    }

    fn seal(&mut self, version: u64, created_at: &str) -> StoreResult<bool> {
        let last: Option<i64> = self
            .conn
            .query_row(
                "SELECT max(seq) FROM dbsync_oplog WHERE version IS NULL",
                [],
                |r| r.get(0),
            )
            .fault()?;
        let Some(last) = last else { return Ok(false) };
        self.conn
            .execute(
                "INSERT INTO dbsync_versions (version, node_id, push_id, created_at, last_seq) \
                 VALUES (?1, NULL, NULL, ?2, ?3)",
                params![version as i64, created_at, last],
            )
            .fault()?;
        self.conn
            .execute(
                "UPDATE dbsync_oplog SET version = ?1 WHERE version IS NULL AND seq <= ?2",
                params![version as i64, last],
            )
            .fault()?;
        Ok(true)
    }

    fn insert_node(&mut self, node: &NewNode) -> StoreResult<u64> {
        self.conn
            .execute(
                "INSERT INTO dbsync_nodes (secret, user_id, registered_at, last_seen, known_version, seen) \
                 VALUES (?1, ?2, ?3, ?3, ?4, 0)",
                params![
                    node.secret.encode(),
                    node.user_id,
                    node.now as i64,
                    node.known_version as i64
                ],
            )
            .fault()?;
        Ok(self.conn.last_insert_rowid() as u64)
    }

    fn renew_node(
        &mut self,
        node_id: u64,
        secret: &Secret,
        user_id: Option<&str>,
        now: u64,
    ) -> StoreResult<bool> {
        let n = self
            .conn
            .execute(
                "UPDATE dbsync_nodes SET secret = ?2, user_id = ?3, last_seen = ?4 WHERE node_id = ?1",
                params![node_id as i64, secret.encode(), user_id, now as i64],
            )
            .fault()?;
        Ok(n == 1)
    }

    fn record_nonce(&mut self, node_id: u64, nonce: &str, now: u64) -> StoreResult<bool> {
        let fresh = self
            .conn
            .prepare_cached(
                "INSERT INTO dbsync_nonces (node_id, nonce, seen_at) VALUES (?1, ?2, ?3) \
                 ON CONFLICT DO NOTHING",
            )
            .and_then(|mut s| s.execute(params![node_id as i64, nonce, now as i64]))
            .fault()?;
        self.conn
            .prepare_cached("UPDATE dbsync_nodes SET last_seen = ?2, seen = 1 WHERE node_id = ?1")
            .and_then(|mut s| s.execute(params![node_id as i64, now as i64]))
            .fault()?;
        Ok(fresh == 1)
    }

    fn set_node_claims(&mut self, node_id: u64, claims: &[Claim]) -> StoreResult<bool> {
        let text = (!claims.is_empty()).then(|| serde_json::to_string(claims).expect("strings"));
        let n = self
            .conn
            .execute(
                "UPDATE dbsync_nodes SET claims = ?2 WHERE node_id = ?1",
                params![node_id as i64, text],
            )
            .fault()?;
        Ok(n > 0)
    }

    fn delete_nodes(&mut self, ids: &[u64]) -> StoreResult<u64> {
        let mut deleted = 0;
        for &id in ids {
            let id = id as i64;
            self.conn
                .execute("DELETE FROM dbsync_nonces WHERE node_id = ?1", [id])
                .fault()?;
            deleted += self
                .conn
                .execute("DELETE FROM dbsync_nodes WHERE node_id = ?1", [id])
                .fault()? as u64;
        }
        Ok(deleted)
    }

    fn purge_unseen(&mut self, registered_before: u64) -> StoreResult<Vec<NodeRecord>> {
        // One writer, holding the write lock since the transaction began:
        // no request can mark these nodes seen before they are deleted.
        let nodes = self
            .conn
            .prepare(&format!(
                "SELECT {NODE_COLUMNS} FROM dbsync_nodes \
                 WHERE seen = 0 AND registered_at < ?1 ORDER BY node_id"
            ))
            .and_then(|mut s| {
                s.query_map([registered_before as i64], node_from)?
                    .collect::<Result<Vec<_>, _>>()
            })
            .fault()?;
        let ids: Vec<u64> = nodes.iter().map(|n| n.node_id).collect();
        self.delete_nodes(&ids)?;
        Ok(nodes)
    }

    fn forget_nonces(&mut self, before: u64) -> StoreResult<u64> {
        let n = self
            .conn
            .execute(
                "DELETE FROM dbsync_nonces WHERE seen_at < ?1",
                [before as i64],
            )
            .fault()?;
        Ok(n as u64)
    }

    fn begin_row_writes(&mut self) -> StoreResult<()> {
        if self.suspended.is_none() {
            self.conn
                .pragma_update(None, "defer_foreign_keys", true)
                .fault()?;
            self.suspended = Some(track::suspend_capture(&self.conn).fault()?);
        }
        Ok(())
    }

    fn insert_row(&mut self, table: &TableSchema, row: &Row) -> Result<(), RowWriteError> {
        let rows = self.writable(table)?;
        rows.insert(&self.conn, row.id, &row.values)
            .map_err(row_write_error)?;
        if let Some(&table_id) = self.store.floors.get(&table.name) {
            // Capture is suspended: a later direct write must not take
            // this key once the row is deleted (spec §2.2.1).
            if let Some(id) = row.id.as_int() {
                crate::key_floor::raise_floor_of(&self.conn, table_id, id).fault()?;
            }
        }
        Ok(())
    }

    fn update_row(&mut self, table: &TableSchema, row: &Row) -> Result<bool, RowWriteError> {
        let rows = self.writable(table)?;
        rows.update(&self.conn, row.id, &row.values)
            .map_err(row_write_error)
    }

    fn delete_row(&mut self, table: &TableSchema, id: RowId) -> Result<bool, RowWriteError> {
        let rows = self.writable(table)?;
        rows.delete(&self.conn, id).map_err(row_write_error)
    }

    fn append_version(&mut self, info: &VersionInfo, ops: &[Op]) -> StoreResult<()> {
        {
            let mut ins = self
                .conn
                .prepare_cached(
                    "INSERT INTO dbsync_oplog (table_id, row_id, command, version, columns) \
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .fault()?;
            for op in ops {
                let table_id = self
                    .store
                    .table_ids
                    .get(&op.table)
                    .ok_or_else(|| StoreFault(format!("table {} is not tracked", op.table)))?;
                ins.execute(params![
                    table_id,
                    SqlId(op.row_id),
                    command_code(op.command),
                    info.version as i64,
                    crate::changed_columns::to_sql(op.columns.as_ref())
                ])
                .fault()?;
            }
        }
        let last_seq = self.conn.last_insert_rowid();
        self.conn
            .execute(
                "INSERT INTO dbsync_versions (version, node_id, push_id, created_at, last_seq) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    info.version as i64,
                    info.node_id.map(|n| n as i64),
                    info.push_id,
                    info.created_at,
                    last_seq
                ],
            )
            .fault()?;
        Ok(())
    }

    fn insert_push_record(
        &mut self,
        node_id: u64,
        push_id: &str,
        record: &PushRecord,
    ) -> StoreResult<()> {
        self.conn
            .execute(
                "INSERT INTO dbsync_push_ids (node_id, push_id, version, digest) VALUES (?1, ?2, ?3, ?4)",
                params![node_id as i64, push_id, record.version as i64, record.digest],
            )
            .fault()?;
        Ok(())
    }

    fn note_known_version(
        &mut self,
        node_id: u64,
        version: u64,
        repaired: bool,
    ) -> StoreResult<()> {
        self.conn
            .prepare_cached(
                "UPDATE dbsync_nodes SET known_version = max(known_version, ?2), \
                 stale = CASE WHEN ?3 THEN 0 ELSE stale END WHERE node_id = ?1",
            )
            .and_then(|mut s| s.execute(params![node_id as i64, version as i64, repaired]))
            .fault()?;
        Ok(())
    }

    fn mark_stale(&mut self, before: u64) -> StoreResult<u64> {
        let n = self
            .conn
            .execute(
                "UPDATE dbsync_nodes SET stale = 1 WHERE stale = 0 AND last_seen < ?1",
                [before as i64],
            )
            .fault()?;
        Ok(n as u64)
    }

    fn drop_history_through(&mut self, version: u64) -> StoreResult<u64> {
        let v = version as i64;
        let c = &self.conn;
        c.execute(
            "DELETE FROM dbsync_oplog WHERE version IS NOT NULL AND version <= ?1",
            [v],
        )
        .fault()?;
        c.execute("DELETE FROM dbsync_push_ids WHERE version <= ?1", [v])
            .fault()?;
        c.execute("DELETE FROM dbsync_scope_marks WHERE version <= ?1", [v])
            .fault()?;
        let dropped = c
            .execute("DELETE FROM dbsync_versions WHERE version <= ?1", [v])
            .fault()?;
        self.set_state("trimmed_through", v)?;
        Ok(dropped as u64)
    }

    fn set_cursor_key(&mut self, key: &Secret) -> StoreResult<()> {
        self.conn
            .execute(
                "INSERT INTO dbsync_state (key, value) VALUES ('cursor_key', ?1) \
                 ON CONFLICT (key) DO NOTHING",
                [key.encode()],
            )
            .fault()?;
        Ok(())
    }

    fn enable_scopes(&mut self, columns: &[(&TableSchema, &str)]) -> StoreResult<()> {
        self.enable_scopes_sql(columns)
    }

    fn set_row_scopes(&mut self, table: &str, keys: &[(RowId, Option<String>)]) -> StoreResult<()> {
        self.set_row_scopes_sql(table, keys)
    }

    fn forget_row_scopes(&mut self, table: &str, ids: &[RowId]) -> StoreResult<()> {
        self.forget_row_scopes_sql(table, ids)
    }

    fn append_scope_marks(&mut self, marks: &[ScopeMark]) -> StoreResult<()> {
        self.append_scope_marks_sql(marks)
    }

    fn append_ops(&mut self, version: u64, ops: &[Op]) -> StoreResult<()> {
        self.append_ops_sql(version, ops)
    }

    fn commit(mut self: Box<Self>) -> Result<(), RowWriteError> {
        if let Some(suspended) = self.suspended.take() {
            track::resume_capture(&self.conn, &suspended).fault()?;
        }
        match self.conn.execute_batch("COMMIT") {
            Ok(()) => Ok(()),
            // A deferred foreign key failed: the transaction is still
            // open, so the broken key can be named before rolling back.
            Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::ConstraintViolation) => {
                Err(RowWriteError::ForeignKey(self.broken_foreign_key()?))
            }
            Err(e) => Err(row_write_error(e)),
        }
    }
}

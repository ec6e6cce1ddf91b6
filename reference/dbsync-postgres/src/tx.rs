//! The store's transactions: the engine's reads ([`ReadTx`]) and writes
//! ([`WriteTx`]) over one pooled connection.

use crate::sql::int_id;
use crate::types::Param;
use crate::PgStore;
use dbsync_core::auth::Secret;
use dbsync_core::protocol::VersionInfo;
use dbsync_core::{Op, Row, RowId, TableSchema, Value};
use dbsync_engine::store::{
    Claim, NewNode, NodeCounts, NodeRecord, OpPosition, PositionedOp, PushRecord, ReadTx,
    RowWriteError, ScopeMark, ScopedOp, StoreFault, StoreResult, WriteTx,
};
use deadpool_postgres::Object;
use std::collections::HashMap;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;

/// One open transaction; rolled back when dropped uncommitted.
pub struct PgTx<'s> {
    pub(crate) store: &'s PgStore,
    client: Option<Object>,
    /// The largest key inserted per table, to move its sequence past it.
    inserted: HashMap<String, i64>,
}

type Params<'a> = Vec<&'a (dyn ToSql + Sync)>;

pub(crate) fn refs(params: &[Param]) -> Params<'_> {
    params
        .iter()
        .map(|p| p.as_ref() as &(dyn ToSql + Sync))
        .collect()
}

impl<'s> PgTx<'s> {
    pub(crate) fn new(store: &'s PgStore, client: Object) -> PgTx<'s> {
        PgTx {
            store,
            client: Some(client),
            inserted: HashMap::new(),
        }
    }

    pub(crate) fn client(&self) -> &Object {
        self.client.as_ref().expect("held until the end")
    }

    async fn run(
        client: &Object,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<tokio_postgres::Row>, tokio_postgres::Error> {
        let stmt = client.prepare_cached(sql).await?;
        client.query(&stmt, params).await
    }

    pub(crate) fn query(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> StoreResult<Vec<tokio_postgres::Row>> {
        self.store
            .block(Self::run(self.client(), sql, params))
            .map_err(StoreFault::of)
    }

    pub(crate) fn execute(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> StoreResult<u64> {
        let client = self.client();
        self.store
            .block(async {
                let stmt = client.prepare_cached(sql).await?;
                client.execute(&stmt, params).await
            })
            .map_err(StoreFault::of)
    }

    /// Writes a row; a broken rule of the table is its [`RowWriteError`].
    fn write_row(
        &self,
        t: &TableSchema,
        sql: &str,
        params: &[Param],
    ) -> Result<u64, RowWriteError> {
        let client = self.client();
        let key_constraint = &self.store.table(&t.name)?.table.key_constraint;
        self.store
            .block(async {
                let stmt = client.prepare_cached(sql).await?;
                client.execute(&stmt, &refs(params)).await
            })
            .map_err(|e| row_write_error(&e, key_constraint))
    }

    pub(crate) fn rows_of(
        &self,
        t: &TableSchema,
        found: Vec<tokio_postgres::Row>,
    ) -> StoreResult<Vec<Row>> {
        let sql = self.store.table(&t.name)?;
        found.iter().map(|r| sql.row_from(r)).collect()
    }

    fn state(&self, key: &str) -> StoreResult<Option<String>> {
        Ok(self
            .query("SELECT value FROM dbsync_state WHERE key = $1", &[&key])?
            .first()
            .and_then(|r| r.get(0)))
    }

    fn set_state(&self, key: &str, value: &str) -> StoreResult<()> {
        self.execute(
            "INSERT INTO dbsync_state (key, value) VALUES ($1, $2) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            &[&key, &value],
        )?;
        Ok(())
    }

    /// Moves the key sequence of every table this transaction inserted
    /// into past the largest key inserted, so that the database's own
    /// inserts never take a key a node chose.
    fn advance_sequences(&self) -> StoreResult<()> {
        for (table, max) in &self.inserted {
            let sequence = &self.store.table(table)?.table.sequence;
            // The name comes from the catalogue (pg_get_serial_sequence).
            self.query(
                &format!(
                    "SELECT setval('{sequence}'::regclass, greatest($1, last_value)) FROM {sequence}"
                ),
                &[max],
            )?;
        }
        Ok(())
    }
}

/// PostgreSQL's errors as the rules of spec §10.2.4 they break.
fn row_write_error(e: &tokio_postgres::Error, key_constraint: &str) -> RowWriteError {
    let Some(db) = e.as_db_error() else {
        return RowWriteError::Fault(StoreFault::of(e));
    };
    let code = db.code();
    if *code == SqlState::UNIQUE_VIOLATION {
        if db.constraint() == Some(key_constraint) {
            RowWriteError::Exists
        } else {
            RowWriteError::Unique
        }
    } else if *code == SqlState::FOREIGN_KEY_VIOLATION {
        RowWriteError::ForeignKey(None)
    } else if code.code().starts_with("22")
        || *code == SqlState::CHECK_VIOLATION
        || *code == SqlState::NOT_NULL_VIOLATION
    {
        RowWriteError::Invalid
    } else {
        RowWriteError::Fault(StoreFault::of(e))
    }
}

impl Drop for PgTx<'_> {
    fn drop(&mut self) {
        let Some(client) = self.client.take() else {
            return;
        };
        if let Err(e) = self.store.block(client.batch_execute("ROLLBACK")) {
            tracing::error!(error = %e, "rolling back a server transaction failed");
            // Never hand a connection in an unknown state back to the pool.
            drop(Object::take(client));
        }
    }
}

/// The columns of `dbsync_nodes` that [`node_from`] reads, in its order.
const NODE_COLUMNS: &str =
    "node_id, secret, user_id, registered_at, last_seen, known_version, stale, seen, claims";

/// A node from a row of [`NODE_COLUMNS`].
fn node_from(r: &tokio_postgres::Row) -> NodeRecord {
    let secret: String = r.get(1);
    NodeRecord {
        node_id: r.get::<_, i64>(0) as u64,
        secret: Secret::decode(&secret).unwrap_or(Secret([0; 32])),
        user_id: r.get(2),
        registered_at: r.get::<_, i64>(3) as u64,
        last_seen: r.get::<_, i64>(4) as u64,
        known_version: r.get::<_, i64>(5) as u64,
        stale: r.get(6),
        seen: r.get(7),
        claims: r
            .get::<_, Option<String>>(8)
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default(),
    }
}

impl ReadTx for PgTx<'_> {
    fn latest_version(&mut self) -> StoreResult<u64> {
        let rows = self.query("SELECT coalesce(max(version), 0) FROM dbsync_versions", &[])?;
        let max: i64 = rows[0].get(0);
        Ok((max as u64).max(self.trimmed_through()?))
    }

    fn trimmed_through(&mut self) -> StoreResult<u64> {
        Ok(self
            .state("trimmed_through")?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0))
    }

    fn has_unsealed(&mut self) -> StoreResult<bool> {
        let rows = self.query(
            "SELECT EXISTS (SELECT 1 FROM dbsync_oplog WHERE version IS NULL)",
            &[],
        )?;
        Ok(rows[0].get(0))
    }

    fn node(&mut self, node_id: u64) -> StoreResult<Option<NodeRecord>> {
        let id = node_id as i64;
        let rows = self.query(
            &format!("SELECT {NODE_COLUMNS} FROM dbsync_nodes WHERE node_id = $1"),
            &[&id],
        )?;
        Ok(rows.first().map(node_from))
    }

    fn nodes(&mut self) -> StoreResult<Vec<NodeRecord>> {
        let rows = self.query(
            &format!("SELECT {NODE_COLUMNS} FROM dbsync_nodes ORDER BY node_id"),
            &[],
        )?;
        Ok(rows.iter().map(node_from).collect())
    }

    fn nonce_used(&mut self, node_id: u64, nonce: &str) -> StoreResult<bool> {
        let id = node_id as i64;
        let rows = self.query(
            "SELECT 1 FROM dbsync_nonces WHERE node_id = $1 AND nonce = $2",
            &[&id, &nonce],
        )?;
        Ok(!rows.is_empty())
    }

    fn push_record(&mut self, node_id: u64, push_id: &str) -> StoreResult<Option<PushRecord>> {
        let id = node_id as i64;
        let rows = self.query(
            "SELECT version, digest FROM dbsync_push_ids WHERE node_id = $1 AND push_id = $2",
            &[&id, &push_id],
        )?;
        Ok(rows.first().map(|r| PushRecord {
            version: r.get::<_, i64>(0) as u64,
            digest: r.get(1),
        }))
    }

    fn ops_after(
        &mut self,
        base: u64,
        target: u64,
        after: OpPosition,
        limit: usize,
    ) -> StoreResult<Vec<PositionedOp>> {
        let (b, t, av, aseq, n) = (
            base as i64,
            target as i64,
            after.version as i64,
            after.seq as i64,
            limit as i64,
        );
        let rows = self.query(
            "SELECT seq, version, table_id, row_id, command, columns FROM dbsync_oplog \
             WHERE version > $1 AND version <= $2 AND (version, seq) > ($3, $4) \
             ORDER BY version, seq LIMIT $5",
            &[&b, &t, &av, &aseq, &n],
        )?;
        rows.iter().map(|r| self.positioned(r)).collect()
    }

    fn versions(&mut self, after: u64, through: u64) -> StoreResult<Vec<VersionInfo>> {
        let (a, t) = (after as i64, through as i64);
        let rows = self.query(
            "SELECT version, node_id, push_id, created_at FROM dbsync_versions \
             WHERE version > $1 AND version <= $2 ORDER BY version",
            &[&a, &t],
        )?;
        Ok(rows
            .iter()
            .map(|r| VersionInfo {
                version: r.get::<_, i64>(0) as u64,
                node_id: r.get::<_, Option<i64>>(1).map(|n| n as u64),
                push_id: r.get(2),
                created_at: r.get(3),
            })
            .collect())
    }

    fn rows(&mut self, table: &TableSchema, ids: &[RowId]) -> StoreResult<Vec<Row>> {
        // Tables here are integer-keyed: a text id names no row of them.
        let ids: Vec<i64> = ids.iter().filter_map(|id| id.as_int()).collect();
        let sql = &self.store.table(&table.name)?.read_many;
        let found = self.query(sql, &[&ids])?;
        self.rows_of(table, found)
    }

    fn rows_after(
        &mut self,
        table: &TableSchema,
        after: RowId,
        limit: usize,
    ) -> StoreResult<Vec<Row>> {
        let after = int_id(after)?;
        let sql = &self.store.table(&table.name)?.after;
        let found = self.query(sql, &[&after, &(limit as i64)])?;
        self.rows_of(table, found)
    }

    fn row_count(&mut self, table: &TableSchema) -> StoreResult<u64> {
        let sql = format!("SELECT count(*) FROM \"{}\"", table.name);
        let n: i64 = self.query(&sql, &[])?[0].get(0);
        Ok(n as u64)
    }

    fn greatest_key(&mut self, table: &TableSchema) -> StoreResult<i64> {
        let sequence = &self.store.table(&table.name)?.table.sequence;
        // The name comes from the catalogue (pg_get_serial_sequence).
        let sql = format!(
            "SELECT greatest((SELECT max(\"{pk}\") FROM \"{name}\"), \
             (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM {sequence}), 0)::bigint",
            pk = table.primary_key,
            name = table.name
        );
        Ok(self.query(&sql, &[])?[0].get(0))
    }

    fn find(
        &mut self,
        table: &TableSchema,
        filter: &[(&str, &Value)],
        limit: usize,
    ) -> StoreResult<Vec<Row>> {
        let Some((sql, params)) = self.store.table(&table.name)?.find(filter, limit)? else {
            return Ok(Vec::new());
        };
        let found = self.query(&sql, &refs(&params))?;
        self.rows_of(table, found)
    }

    fn cursor_key(&mut self) -> StoreResult<Option<Secret>> {
        Ok(self.state("cursor_key")?.and_then(|k| Secret::decode(&k)))
    }

    fn live_horizon(&mut self) -> StoreResult<Option<u64>> {
        let rows = self.query(
            "SELECT min(known_version) FROM dbsync_nodes WHERE NOT stale",
            &[],
        )?;
        Ok(rows[0].get::<_, Option<i64>>(0).map(|v| v as u64))
    }

    fn node_counts(&mut self) -> StoreResult<NodeCounts> {
        let rows = self.query(
            "SELECT count(*), count(*) FILTER (WHERE stale) FROM dbsync_nodes",
            &[],
        )?;
        Ok(NodeCounts {
            registered: rows[0].get::<_, i64>(0) as u64,
            stale: rows[0].get::<_, i64>(1) as u64,
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

impl WriteTx for PgTx<'_> {
    fn lock_history(&mut self) -> StoreResult<()> {
        self.query(
            "SELECT 1 FROM dbsync_state WHERE key = 'history' FOR UPDATE",
            &[],
        )?;
        Ok(())
    }

    fn seal(&mut self, version: u64, created_at: &str) -> StoreResult<bool> {
        let v = version as i64;
        let sealed = self.execute(
            "UPDATE dbsync_oplog SET version = $1 WHERE version IS NULL",
            &[&v],
        )?;
        if sealed == 0 {
            return Ok(false);
        }
        self.execute(
            "INSERT INTO dbsync_versions (version, node_id, push_id, created_at) \
             VALUES ($1, NULL, NULL, $2)",
            &[&v, &created_at],
        )?;
        Ok(true)
    }

    fn insert_node(&mut self, node: &NewNode) -> StoreResult<u64> {
        let (now, known) = (node.now as i64, node.known_version as i64);
        let rows = self.query(
            "INSERT INTO dbsync_nodes (secret, user_id, registered_at, last_seen, known_version, seen) \
             VALUES ($1, $2, $3, $3, $4, false) RETURNING node_id",
            &[&node.secret.encode(), &node.user_id, &now, &known],
        )?;
        Ok(rows[0].get::<_, i64>(0) as u64)
    }

    fn renew_node(
        &mut self,
        node_id: u64,
        secret: &Secret,
        user_id: Option<&str>,
        now: u64,
    ) -> StoreResult<bool> {
        let (id, now) = (node_id as i64, now as i64);
        let n = self.execute(
            "UPDATE dbsync_nodes SET secret = $2, user_id = $3, last_seen = $4 WHERE node_id = $1",
            &[&id, &secret.encode(), &user_id, &now],
        )?;
        Ok(n == 1)
    }

    fn set_node_claims(&mut self, node_id: u64, claims: &[Claim]) -> StoreResult<bool> {
        let id = node_id as i64;
        let claims = (!claims.is_empty()).then(|| serde_json::to_string(claims).expect("strings"));
        let n = self.execute(
            "UPDATE dbsync_nodes SET claims = $2 WHERE node_id = $1",
            &[&id, &claims],
        )?;
        Ok(n == 1)
    }

    fn record_nonce(&mut self, node_id: u64, nonce: &str, now: u64) -> StoreResult<bool> {
        let (id, now) = (node_id as i64, now as i64);
        let fresh = self.execute(
            "INSERT INTO dbsync_nonces (node_id, nonce, seen_at) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
            &[&id, &nonce, &now],
        )?;
        self.execute(
            "UPDATE dbsync_nodes SET last_seen = $2, seen = true WHERE node_id = $1",
            &[&id, &now],
        )?;
        Ok(fresh == 1)
    }

    fn delete_nodes(&mut self, ids: &[u64]) -> StoreResult<u64> {
        let ids: Vec<i64> = ids.iter().map(|&id| id as i64).collect();
        self.execute("DELETE FROM dbsync_nonces WHERE node_id = ANY($1)", &[&ids])?;
        self.execute("DELETE FROM dbsync_nodes WHERE node_id = ANY($1)", &[&ids])
    }

    fn purge_unseen(&mut self, registered_before: u64) -> StoreResult<Vec<NodeRecord>> {
        // One statement: a node a request marks seen meanwhile is either
        // seen (its row lock released, the condition rechecked) or gone.
        let before = registered_before as i64;
        let rows = self.query(
            &format!(
                "DELETE FROM dbsync_nodes WHERE NOT seen AND registered_at < $1 \
                 RETURNING {NODE_COLUMNS}"
            ),
            &[&before],
        )?;
        let mut nodes: Vec<NodeRecord> = rows.iter().map(node_from).collect();
        nodes.sort_by_key(|n| n.node_id);
        let ids: Vec<i64> = nodes.iter().map(|n| n.node_id as i64).collect();
        self.execute("DELETE FROM dbsync_nonces WHERE node_id = ANY($1)", &[&ids])?;
        Ok(nodes)
    }

    fn forget_nonces(&mut self, before: u64) -> StoreResult<u64> {
        let b = before as i64;
        self.execute("DELETE FROM dbsync_nonces WHERE seen_at < $1", &[&b])
    }

    fn begin_row_writes(&mut self) -> StoreResult<()> {
        self.execute("SET LOCAL dbsync.applying = 'on'", &[])?;
        self.execute("SET CONSTRAINTS ALL DEFERRED", &[])?;
        Ok(())
    }

    fn insert_row(&mut self, table: &TableSchema, row: &Row) -> Result<(), RowWriteError> {
        let sql = self.store.table(&table.name)?;
        self.write_row(table, &sql.insert, &sql.row_params(row)?)?;
        let id = int_id(row.id)?;
        let max = self.inserted.entry(table.name.clone()).or_insert(id);
        *max = (*max).max(id);
        Ok(())
    }

    fn update_row(&mut self, table: &TableSchema, row: &Row) -> Result<bool, RowWriteError> {
        let sql = self.store.table(&table.name)?;
        let Some(update) = &sql.update else {
            return Ok(!self.rows(table, &[row.id])?.is_empty());
        };
        Ok(self.write_row(table, update, &sql.row_params(row)?)? == 1)
    }

    fn delete_row(&mut self, table: &TableSchema, id: RowId) -> Result<bool, RowWriteError> {
        let sql = &self.store.table(&table.name)?.delete;
        let params: Vec<Param> = vec![Box::new(int_id(id)?)];
        Ok(self.write_row(table, sql, &params)? == 1)
    }

    fn append_version(&mut self, info: &VersionInfo, ops: &[Op]) -> StoreResult<()> {
        self.insert_ops(info.version, ops)?;
        let v = info.version as i64;
        let node = info.node_id.map(|n| n as i64);
        self.execute(
            "INSERT INTO dbsync_versions (version, node_id, push_id, created_at) VALUES ($1, $2, $3, $4)",
            &[&v, &node, &info.push_id, &info.created_at],
        )?;
        Ok(())
    }

    fn insert_push_record(
        &mut self,
        node_id: u64,
        push_id: &str,
        record: &PushRecord,
    ) -> StoreResult<()> {
        let (id, v) = (node_id as i64, record.version as i64);
        self.execute(
            "INSERT INTO dbsync_push_ids (node_id, push_id, version, digest) VALUES ($1, $2, $3, $4)",
            &[&id, &push_id, &v, &record.digest],
        )?;
        Ok(())
    }

    fn note_known_version(
        &mut self,
        node_id: u64,
        version: u64,
        repaired: bool,
    ) -> StoreResult<()> {
        let (id, v) = (node_id as i64, version as i64);
        self.execute(
            "UPDATE dbsync_nodes SET known_version = greatest(known_version, $2), \
             stale = CASE WHEN $3 THEN false ELSE stale END WHERE node_id = $1",
            &[&id, &v, &repaired],
        )?;
        Ok(())
    }

    fn mark_stale(&mut self, before: u64) -> StoreResult<u64> {
        let b = before as i64;
        self.execute(
            "UPDATE dbsync_nodes SET stale = true WHERE NOT stale AND last_seen < $1",
            &[&b],
        )
    }

    fn drop_history_through(&mut self, version: u64) -> StoreResult<u64> {
        let v = version as i64;
        self.execute(
            "DELETE FROM dbsync_oplog WHERE version IS NOT NULL AND version <= $1",
            &[&v],
        )?;
        self.execute("DELETE FROM dbsync_push_ids WHERE version <= $1", &[&v])?;
        self.execute("DELETE FROM dbsync_scope_marks WHERE version <= $1", &[&v])?;
        let dropped = self.execute("DELETE FROM dbsync_versions WHERE version <= $1", &[&v])?;
        self.set_state("trimmed_through", &v.to_string())?;
        Ok(dropped)
    }

    fn set_cursor_key(&mut self, key: &Secret) -> StoreResult<()> {
        self.execute(
            "INSERT INTO dbsync_state (key, value) VALUES ('cursor_key', $1) ON CONFLICT DO NOTHING",
            &[&key.encode()],
        )?;
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
        self.advance_sequences()?;
        let client = self.client.take().expect("held until the end");
        match self.store.block(client.batch_execute("COMMIT")) {
            Ok(()) => Ok(()),
            // A failed COMMIT has rolled back: the connection is idle again.
            Err(e) => Err(row_write_error(&e, "")),
        }
    }
}

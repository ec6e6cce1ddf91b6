//! The node's side of the protocol over SQLite (spec §9–§13): state,
//! building pushes, merging pulls, repairing, and the conflict log.
//!
//! The network is not here: the client crate sends what these functions
//! build and hands back what the server answered. Every function that
//! writes does so in one `IMMEDIATE` transaction, so the application's
//! writers wait (busy timeout) rather than interleave, and a failure
//! changes nothing.

use crate::rows;
use crate::track::{self, command_code, Role, TableSpec};
use crate::{oplog, StoreError};
use dbsync_core::auth::Secret;
use dbsync_core::compress::{compress_pending, without_versions, InvalidPendingSequence};
use dbsync_core::merge::{
    self, Action, ConflictEntry, LocalView, MergeError, MergeInput, Plan, Policy, Restore,
    ViewError,
};
use dbsync_core::protocol::value::Values;
use dbsync_core::protocol::*;
use dbsync_core::{Command, Op, Row, Schema, TableSchema, Value, VersionedOp};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use std::collections::{HashMap, HashSet};

/// The node's own tables, beside those of [`track::META_SQL`].
pub const NODE_SQL: &str = "
CREATE TABLE IF NOT EXISTS dbsync_conflicts (
    id INTEGER PRIMARY KEY,
    recorded_at INTEGER NOT NULL,
    version INTEGER,
    entry TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS dbsync_restores (
    seq INTEGER PRIMARY KEY,
    changed INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS dbsync_repair_stage (
    table_id INTEGER NOT NULL,
    row_id INTEGER NOT NULL,
    row TEXT NOT NULL,
    PRIMARY KEY (table_id, row_id)
) WITHOUT ROWID;
";

/// A failure of a node procedure's local part, one variant per cause.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    InvalidPendingSequence(#[from] InvalidPendingSequence),
    #[error("the merge cannot be planned: {0}")]
    Merge(#[from] MergeError),
    #[error("the node is not registered: run register first")]
    NotRegistered,
    #[error("the pull brought rows that do not fit the schema: {0}")]
    BadPull(String),
}

impl From<rusqlite::Error> for NodeError {
    fn from(e: rusqlite::Error) -> NodeError {
        NodeError::Store(StoreError::Sqlite(e))
    }
}

type Result<T> = std::result::Result<T, NodeError>;

/// Tracks `specs` (every user table when empty) for a node and creates the
/// node's tables.
pub fn prepare(
    conn: &mut Connection,
    specs: &[TableSpec],
) -> std::result::Result<Schema, StoreError> {
    let schema = track::track(conn, specs, Role::Node)?;
    conn.execute_batch(NODE_SQL)?;
    Ok(schema)
}

fn get_state<T: rusqlite::types::FromSql>(
    conn: &Connection,
    key: &str,
) -> rusqlite::Result<Option<T>> {
    conn.query_row(
        "SELECT value FROM dbsync_state WHERE key = ?1",
        [key],
        |r| r.get(0),
    )
    .optional()
    .map(Option::flatten)
}

fn set_state(conn: &Connection, key: &str, value: &dyn rusqlite::ToSql) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO dbsync_state (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )?;
    Ok(())
}

fn clear_state(conn: &Connection, key: &str) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM dbsync_state WHERE key = ?1", [key])?;
    Ok(())
}

/// What a node knows of itself.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeState {
    pub node_id: Option<u64>,
    pub secret: Option<Secret>,
    pub user_id: Option<String>,
    pub server_url: Option<String>,
    /// The last version the node holds (spec §6).
    pub last_version: u64,
    /// The push id of a push sent but not yet known to be applied.
    pub outstanding_push: Option<String>,
}

/// Reads the node's state.
pub fn state(conn: &Connection) -> rusqlite::Result<NodeState> {
    Ok(NodeState {
        node_id: get_state::<i64>(conn, "node_id")?.map(|n| n as u64),
        secret: get_state::<String>(conn, "secret")?.and_then(|s| Secret::decode(&s)),
        user_id: get_state(conn, "user_id")?,
        server_url: get_state(conn, "server_url")?,
        last_version: get_state::<i64>(conn, "last_version")?.unwrap_or(0) as u64,
        outstanding_push: get_state(conn, "push_id")?,
    })
}

/// The first id of the range a node takes new rows of push-only tables
/// from (spec §2.4): `node_id × 2^32`, so nodes never pick the same id.
/// `None` for node ids of 2^21 and above, whose ranges would pass 2^53.
pub fn push_only_base(node_id: u64) -> Option<i64> {
    (node_id < (1 << 21)).then_some((node_id << 32) as i64)
}

/// Stores the credentials of a registration (spec §9) and the server URL,
/// and moves the key sequence of every push-only table into the node's
/// own range.
pub fn save_registration(
    conn: &Connection,
    server_url: &str,
    r: &RegisterResponse,
) -> rusqlite::Result<()> {
    if let Some(base) = push_only_base(r.node_id) {
        let schema = track::load_schema(conn)
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        for t in schema
            .tables
            .iter()
            .filter(|t| t.direction == dbsync_core::Direction::PushOnly)
        {
            let n = conn.execute(
                "UPDATE sqlite_sequence SET seq = max(seq, ?2) WHERE name = ?1",
                params![t.name, base],
            )?;
            if n == 0 {
                conn.execute(
                    "INSERT INTO sqlite_sequence (name, seq) VALUES (?1, ?2)",
                    params![t.name, base],
                )?;
            }
        }
    }
    set_state(conn, "node_id", &(r.node_id as i64))?;
    set_state(conn, "secret", &r.secret)?;
    set_state(conn, "user_id", &r.user_id)?;
    set_state(conn, "server_url", &server_url)?;
    Ok(())
}

/// Sets the server URL later commands use.
pub fn set_server_url(conn: &Connection, server_url: &str) -> rusqlite::Result<()> {
    set_state(conn, "server_url", &server_url)
}

/// The compressed pending ops (spec §5.2).
pub fn compressed_pending(conn: &Connection) -> Result<Vec<Op>> {
    Ok(compress_pending(&oplog::pending(conn)?)?)
}

/// The restores among the pending ops (spec §12.3.5): `dbsync_restores`
/// marks the oplog record of each pending `i` a merge wrote as a restore.
pub fn pending_restores(
    conn: &Connection,
    records: &[dbsync_core::OplogRecord],
) -> Result<Vec<Restore>> {
    let mut stmt = conn.prepare_cached(
        // CROSS JOIN keeps the (small) marks table outermost.
        "SELECT r.seq, r.changed FROM dbsync_restores r \
         CROSS JOIN dbsync_oplog o ON o.seq = r.seq WHERE o.version IS NULL",
    )?;
    let marks = stmt
        .query_map([], |r| {
            Ok((r.get::<_, i64>(0)? as u64, r.get::<_, bool>(1)?))
        })?
        .collect::<rusqlite::Result<HashMap<u64, bool>>>()?;
    Ok(merge::pending_restores(records, &marks))
}

/// The restores among the node's pending ops (spec §12.3.5).
pub fn restores(conn: &Connection) -> Result<Vec<Restore>> {
    pending_restores(conn, &oplog::pending(conn)?)
}

/// Marks the pending `i` record `seq` as a restore (spec §12.3.5).
pub fn mark_restore(conn: &Connection, seq: i64, changed: bool) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT OR REPLACE INTO dbsync_restores (seq, changed) VALUES (?1, ?2)",
        params![seq, changed],
    )?;
    Ok(())
}

/// Forgets the restore marks of records that are no longer pending.
fn forget_settled_restores(conn: &Connection) -> rusqlite::Result<usize> {
    conn.execute(
        "DELETE FROM dbsync_restores WHERE NOT EXISTS (SELECT 1 FROM dbsync_oplog o \
         WHERE o.seq = dbsync_restores.seq AND o.version IS NULL)",
        [],
    )
}

/// Compresses `records` (the pending ops, spec §5.2) and deletes the
/// records of every row whose ops compress to nothing (`i u* d`): that row
/// came and went locally and is no work for anyone. Left in the oplog,
/// those records would precede the ops of a later row with the same key
/// (a remote insert that takes the key), forming a sequence no rule
/// allows (`i d d`). Runs inside the caller's transaction.
///
/// Records an outstanding push covers (order ≤ its watermark) are never
/// deleted, nor are the later records of the same row (spec §3.2.1): the
/// stored push still carries that row's `i`, and once the server applies
/// it, the later `d` is the only thing that deletes the row there.
fn compressed_pending_pruning(
    conn: &Connection,
    records: &[dbsync_core::OplogRecord],
) -> Result<Vec<Op>> {
    let ops = compress_pending(records)?;
    let mut kept: HashSet<(&str, i64)> = ops.iter().map(|o| (o.table.as_str(), o.row_id)).collect();
    if get_state::<String>(conn, "push_id")?.is_some() {
        let watermark = get_state::<i64>(conn, "push_last_seq")?.unwrap_or(0) as u64;
        kept.extend(
            records
                .iter()
                .filter(|r| r.order <= watermark)
                .map(|r| (r.table.as_str(), r.row_id)),
        );
    }
    let ids: HashMap<String, i64> = track::table_ids(conn)?
        .into_iter()
        .map(|(id, n)| (n, id))
        .collect();
    let mut stmt = conn.prepare_cached("DELETE FROM dbsync_oplog WHERE version IS NULL AND table_id = ?1 AND row_id = ?2 AND seq <= ?3")?;
    let mut done: HashSet<(&str, i64)> = HashSet::new();
    for r in records.iter().rev() {
        let key = (r.table.as_str(), r.row_id);
        if !kept.contains(&key) && done.insert(key) {
            if let Some(table_id) = ids.get(&r.table) {
                stmt.execute(params![table_id, r.row_id, r.order as i64])?;
            }
        }
    }
    Ok(ops)
}

// ----------------------------------------------------------------- push --

/// A push built and stored before it is sent (spec §10.4): retries send
/// exactly these bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundPush {
    pub push_id: String,
    /// The JSON body of the push request.
    pub body: Vec<u8>,
    /// Pending ops up to this one are in the push.
    pub last_seq: u64,
    /// How many ops the push carries.
    pub ops: usize,
}

/// Builds the push of the pending ops, or returns the stored push that was
/// sent but never answered. `None` when nothing is pending.
pub fn begin_push(
    conn: &mut Connection,
    schema: &Schema,
    fingerprint: &str,
    new_push_id: impl FnOnce() -> String,
    app_data: Option<AppData>,
) -> Result<Option<OutboundPush>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if let Some(push_id) = get_state::<String>(&tx, "push_id")? {
        let body: Vec<u8> = get_state::<String>(&tx, "push_body")?
            .unwrap_or_default()
            .into_bytes();
        let last_seq = get_state::<i64>(&tx, "push_last_seq")?.unwrap_or(0) as u64;
        let ops = get_state::<i64>(&tx, "push_ops")?.unwrap_or(0) as usize;
        return Ok(Some(OutboundPush {
            push_id,
            body,
            last_seq,
            ops,
        }));
    }
    let records = oplog::pending(&tx)?;
    let Some(last_seq) = records.last().map(|r| r.order) else {
        return Ok(None);
    };
    let ops: Vec<Op> = compressed_pending_pruning(&tx, &records)?
        .into_iter()
        .filter(|o| schema.table(&o.table).is_some_and(|t| t.direction.pushes()))
        .collect();
    if ops.is_empty() {
        // Everything pending compressed to nothing (`i … d`): done with.
        tx.commit()?;
        return Ok(None);
    }
    let sql = rows::SqlCatalog::new(schema);
    let mut rows_out = Vec::new();
    for op in ops.iter().filter(|o| o.command != Command::Delete) {
        let t = schema.table(&op.table).expect("filtered above");
        let row = sql
            .get(&t.name)
            .expect("schema table")
            .read(&tx, op.row_id)?
            .ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "pending {} of {} row {} but the row is gone",
                    op.command, op.table, op.row_id
                ))
            })?;
        rows_out.push(row);
    }
    let push_id = new_push_id();
    let req = PushRequest {
        protocol: dbsync_core::PROTOCOL_VERSION.into(),
        schema: fingerprint.into(),
        app_data,
        push_id: push_id.clone(),
        base_version: state(&tx)?.last_version,
        ops,
        rows: rows_out,
    };
    let body = serde_json::to_string(&req).expect("serializable");
    set_state(&tx, "push_id", &push_id)?;
    set_state(&tx, "push_body", &body)?;
    set_state(&tx, "push_last_seq", &(last_seq as i64))?;
    set_state(&tx, "push_ops", &(req.ops.len() as i64))?;
    set_state(&tx, "push_base", &(req.base_version as i64))?;
    tx.commit()?;
    Ok(Some(OutboundPush {
        push_id,
        body: body.into_bytes(),
        last_seq,
        ops: req.ops.len(),
    }))
}

fn forget_push(conn: &Connection) -> rusqlite::Result<()> {
    for key in [
        "push_id",
        "push_body",
        "push_last_seq",
        "push_ops",
        "push_base",
    ] {
        clear_state(conn, key)?;
    }
    Ok(())
}

/// The server applied the push as `version`: its ops stop being pending.
pub fn finish_push(conn: &mut Connection, push: &OutboundPush, version: u64) -> Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    oplog::mark_pushed(&tx, push.last_seq, version)?;
    forget_settled_restores(&tx)?;
    let last = state(&tx)?.last_version.max(version);
    set_state(&tx, "last_version", &(last as i64))?;
    forget_push(&tx)?;
    tx.commit()?;
    Ok(())
}

/// The server answered the push with an error that settles it as not
/// applied (spec §10.4.3): the next push is built afresh.
pub fn abandon_push(conn: &Connection) -> rusqlite::Result<()> {
    forget_push(conn)
}

// ------------------------------------------------------------ local view --

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
    fn row(&self, table: &str, id: i64) -> std::result::Result<Option<Values>, ViewError> {
        Ok(self
            .rows(table)?
            .read(self.conn, id)
            .map_err(view_err)?
            .map(|r| r.values))
    }

    fn contains(&self, table: &str, id: i64) -> std::result::Result<bool, ViewError> {
        self.rows(table)?.exists(self.conn, id).map_err(view_err)
    }

    fn children(
        &self,
        table: &str,
        column: &str,
        parent_id: i64,
    ) -> std::result::Result<Vec<i64>, ViewError> {
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
            .query_map([parent_id], |r| r.get(0))
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
    ) -> std::result::Result<Option<i64>, ViewError> {
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

    fn max_id(&self, table: &str) -> std::result::Result<i64, ViewError> {
        rows::max_key(self.conn, self.table(table)?).map_err(view_err)
    }
}

// ---------------------------------------------------------- apply a plan --

/// Applies a merge plan inside `conn`'s open transaction (spec §12.6):
/// foreign keys deferred to commit, the plan's own writes not captured,
/// pending ops changed only where the plan says.
pub fn apply_plan(conn: &Connection, schema: &Schema, plan: &Plan, now: u64) -> Result<()> {
    track::without_capture(conn, || apply_actions(conn, schema, plan, now))
}

fn apply_actions(conn: &Connection, schema: &Schema, plan: &Plan, now: u64) -> Result<()> {
    conn.pragma_update(None, "defer_foreign_keys", true)?;
    let sql = rows::SqlCatalog::new(schema);
    let rows_of = |name: &str| -> Result<rows::Rows<'_>> {
        sql.get(name)
            .ok_or_else(|| NodeError::BadPull(format!("unknown table {name:?}")))
    };
    let before: i64 = conn.query_row("SELECT ifnull(max(seq), 0) FROM dbsync_oplog", [], |r| {
        r.get(0)
    })?;
    let ids: HashMap<String, i64> = track::table_ids(conn)?
        .into_iter()
        .map(|(id, n)| (n, id))
        .collect();
    let table = |name: &str| -> Result<&TableSchema> {
        schema
            .table(name)
            .ok_or_else(|| NodeError::BadPull(format!("unknown table {name:?}")))
    };
    let drop_pending = |t: &str, id: i64| -> rusqlite::Result<usize> {
        conn.execute("DELETE FROM dbsync_oplog WHERE version IS NULL AND table_id = ?1 AND row_id = ?2 AND seq <= ?3", params![ids[t], id, before])
    };
    let mut set_pending = Vec::new();
    let mut restores = Vec::new();
    let mut version = None;
    for action in &plan.actions {
        match action {
            Action::Rekey {
                table: name,
                from,
                to,
            } => {
                let t = table(name)?;
                conn.execute(
                    &format!(
                        "UPDATE \"{}\" SET \"{}\" = ?2 WHERE \"{}\" = ?1",
                        t.name, t.primary_key, t.primary_key
                    ),
                    params![from, to],
                )?;
                for child in &schema.tables {
                    for fk in child.foreign_keys_to(&t.name) {
                        conn.execute(
                            &format!(
                                "UPDATE \"{}\" SET \"{}\" = ?2 WHERE \"{}\" = ?1",
                                child.name, fk.column, fk.column
                            ),
                            params![from, to],
                        )?;
                    }
                }
                conn.execute(
                    "UPDATE dbsync_oplog SET row_id = ?3 WHERE version IS NULL AND table_id = ?1 AND row_id = ?2 AND seq <= ?4",
                    params![ids[name.as_str()], from, to, before],
                )?;
            }
            Action::Delete {
                table: name,
                row_id,
            } => {
                rows_of(name)?.delete(conn, *row_id)?;
            }
            Action::Insert {
                table: name,
                row_id,
                values,
            } => {
                rows_of(name)?.insert(conn, *row_id, values)?;
            }
            Action::Update {
                table: name,
                row_id,
                values,
            } => {
                rows_of(name)?.update(conn, *row_id, values)?;
            }
            Action::SetPending {
                table: name,
                row_id,
                command,
            } => {
                drop_pending(name, *row_id)?;
                set_pending.push((ids[name.as_str()], *row_id, *command));
            }
            Action::Restore {
                table: name,
                row_id,
                changed,
            } => {
                drop_pending(name, *row_id)?;
                restores.push((ids[name.as_str()], *row_id, *changed));
            }
            Action::DropPending {
                table: name,
                row_id,
            } => {
                drop_pending(name, *row_id)?;
            }
            Action::ReserveKeys { table: name, up_to } => {
                let n = conn.execute(
                    "UPDATE sqlite_sequence SET seq = max(seq, ?2) WHERE name = ?1",
                    params![name, up_to],
                )?;
                if n == 0 {
                    conn.execute(
                        "INSERT INTO sqlite_sequence (name, seq) VALUES (?1, ?2)",
                        params![name, up_to],
                    )?;
                }
            }
            Action::RecordVersion { version: v } => version = Some(*v),
        }
    }
    for (table_id, row_id, command) in set_pending {
        conn.execute(
            "INSERT INTO dbsync_oplog (table_id, row_id, command) VALUES (?1, ?2, ?3)",
            params![table_id, row_id, command_code(command)],
        )?;
    }
    // A restore is a pending `i` whose record is marked (spec §12.3.5).
    for (table_id, row_id, changed) in restores {
        conn.execute(
            "INSERT INTO dbsync_oplog (table_id, row_id, command) VALUES (?1, ?2, ?3)",
            params![table_id, row_id, command_code(Command::Insert)],
        )?;
        mark_restore(conn, conn.last_insert_rowid(), changed)?;
    }
    forget_settled_restores(conn)?;
    for entry in &plan.conflicts {
        conn.execute(
            "INSERT INTO dbsync_conflicts (recorded_at, version, entry) VALUES (?1, ?2, ?3)",
            params![
                now as i64,
                version.map(|v| v as i64),
                serde_json::to_string(entry).expect("serializable")
            ],
        )?;
    }
    if let Some(v) = version {
        set_state(conn, "last_version", &(v as i64))?;
    }
    Ok(())
}

// ----------------------------------------------------------------- pull --

/// Every page of a pull, gathered before the merge (spec §11.4).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StagedPull {
    pub target_version: u64,
    pub versions: Vec<VersionInfo>,
    pub ops: Vec<VersionedOp>,
    pub rows: Vec<Row>,
}

impl StagedPull {
    /// Adds one page.
    pub fn add(&mut self, page: PullResponse) {
        self.target_version = page.target_version;
        self.versions.extend(page.versions);
        self.ops.extend(page.ops);
        // A later page's copy of a row is as new as an earlier one's.
        self.rows.extend(page.rows);
    }
}

/// What a merge did.
#[derive(Debug, Clone, PartialEq)]
pub struct MergeReport {
    /// Versions recognised as the node's own pushes (spec §11.5).
    pub own_versions: Vec<u64>,
    pub ops_merged: usize,
    pub conflicts: Vec<ConflictEntry>,
    pub version: u64,
}

/// Merges a whole pull into the node's database in one transaction
/// (spec §11.5, §12). On any error nothing changes.
pub fn merge(
    conn: &mut Connection,
    schema: &Schema,
    policy: &dyn Policy,
    staged: StagedPull,
    now: u64,
) -> Result<MergeReport> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let st = state(&tx)?;
    let node_id = st.node_id.ok_or(NodeError::NotRegistered)?;
    for row in &staged.rows {
        dbsync_core::validate::check_row(schema, row)
            .map_err(|e| NodeError::BadPull(e.to_string()))?;
    }
    // §11.5: a version of our own outstanding push is ours, not remote
    // work. A pull that reaches past the push's base without it tells us
    // the push was never applied and never will be.
    let mut own = HashSet::new();
    if let Some(push_id) = &st.outstanding_push {
        let mine = staged
            .versions
            .iter()
            .find(|v| v.node_id == Some(node_id) && v.push_id.as_deref() == Some(push_id.as_str()));
        if let Some(v) = mine {
            own.insert(v.version);
            let last_seq = get_state::<i64>(&tx, "push_last_seq")?.unwrap_or(0) as u64;
            oplog::mark_pushed(&tx, last_seq, v.version)?;
            forget_push(&tx)?;
        } else if staged.target_version > get_state::<i64>(&tx, "push_base")?.unwrap_or(0) as u64 {
            forget_push(&tx)?;
        }
    }
    let ops = without_versions(staged.ops, &own);
    let ops_merged = ops.len();
    let records = oplog::pending(&tx)?;
    let pending = compressed_pending_pruning(&tx, &records)?;
    let restores = pending_restores(&tx, &records)?;
    // A row may come in several pages; the last copy is the newest.
    let keep: Vec<bool> = {
        let mut seen: HashSet<(&str, i64)> = HashSet::with_capacity(staged.rows.len());
        let mut keep = vec![false; staged.rows.len()];
        for (i, r) in staged.rows.iter().enumerate().rev() {
            keep[i] = seen.insert((r.table.as_str(), r.id));
        }
        keep
    };
    let rows: Vec<Row> = staged
        .rows
        .into_iter()
        .zip(keep)
        .filter_map(|(r, k)| k.then_some(r))
        .collect();
    // A key whose remote ops compress to nothing reaches a local pending
    // `i` as a remote `d` (spec §12.3.4); restores are marked (§12.3.5).
    let mut input = MergeInput::of_pull(&ops, rows, pending, restores);
    input.target_version = Some(staged.target_version);
    let sql = rows::SqlCatalog::new(schema);
    let plan = merge::plan(
        &input,
        schema,
        policy,
        &LocalDb {
            conn: &tx,
            schema,
            sql: &sql,
        },
    )?;
    apply_plan(&tx, schema, &plan, now)?;
    let last = state(&tx)?.last_version.max(staged.target_version);
    set_state(&tx, "last_version", &(last as i64))?;
    if let Err(e) = tx.commit() {
        return Err(match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::ConstraintViolation) => {
                NodeError::BadPull(format!("the merged rows break a foreign key: {e}"))
            }
            _ => e.into(),
        });
    }
    Ok(MergeReport {
        own_versions: own.into_iter().collect(),
        ops_merged,
        conflicts: plan.conflicts,
        version: last,
    })
}

// --------------------------------------------------------------- repair --

/// Starts a repair: forgets any earlier staging.
pub fn repair_begin(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM dbsync_repair_stage", [])?;
    clear_state(conn, "repair_version")?;
    clear_state(conn, "repair_cursor")?;
    Ok(())
}

/// Where an interrupted repair stands (spec §13.2): `None` when no repair
/// is under way; `Some(Some(cursor))` to ask for the next page;
/// `Some(None)` when every page is staged.
pub fn repair_progress(conn: &Connection) -> rusqlite::Result<Option<Option<String>>> {
    conn.query_row(
        "SELECT value FROM dbsync_state WHERE key = 'repair_cursor'",
        [],
        |r| r.get::<_, Option<String>>(0),
    )
    .optional()
}

/// Stages one repair page (spec §13.3) in its own transaction; the first
/// page's version is kept. Memory stays bounded by one page.
pub fn repair_stage(conn: &mut Connection, schema: &Schema, page: &RepairPage) -> Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if get_state::<i64>(&tx, "repair_version")?.is_none() {
        set_state(&tx, "repair_version", &(page.version as i64))?;
    }
    // Staged with the page: a repair cut short resumes from here.
    set_state(&tx, "repair_cursor", &page.next_cursor)?;
    let ids: HashMap<String, i64> = track::table_ids(&tx)?
        .into_iter()
        .map(|(id, n)| (n, id))
        .collect();
    {
        let mut ins = tx.prepare_cached("INSERT OR REPLACE INTO dbsync_repair_stage (table_id, row_id, row) VALUES (?1, ?2, ?3)")?;
        for row in &page.rows {
            dbsync_core::validate::check_row(schema, row)
                .map_err(|e| NodeError::BadPull(e.to_string()))?;
            ins.execute(params![
                ids[&row.table],
                row.id,
                serde_json::to_string(&row.values).expect("serializable")
            ])?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// The version of the first staged page: the pull after the staging starts
/// there.
pub fn repair_version(conn: &Connection) -> rusqlite::Result<u64> {
    Ok(get_state::<i64>(conn, "repair_version")?.unwrap_or(0) as u64)
}

/// Finishes a repair in one transaction (spec §13.3): the pull-capable
/// tables become the staged rows with `pull`'s ops applied on top, the
/// oplog is cleared and the node holds `pull.target_version`.
pub fn repair_finish(conn: &mut Connection, schema: &Schema, pull: StagedPull) -> Result<u64> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let version = track::without_capture(&tx, || replace_tables(&tx, schema, pull))?;
    tx.commit().map_err(|e| match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::ConstraintViolation) => {
            NodeError::BadPull(format!("the repaired rows break a foreign key: {e}"))
        }
        _ => e.into(),
    })?;
    Ok(version)
}

fn replace_tables(tx: &Connection, schema: &Schema, pull: StagedPull) -> Result<u64> {
    tx.pragma_update(None, "defer_foreign_keys", true)?;
    let names: HashMap<i64, String> = track::table_ids(tx)?.into_iter().collect();
    for t in schema.tables.iter().filter(|t| t.direction.pulls()) {
        tx.execute(&format!("DELETE FROM \"{}\"", t.name), [])?;
    }
    {
        let mut stmt = tx.prepare(
            "SELECT table_id, row_id, row FROM dbsync_repair_stage ORDER BY table_id, row_id",
        )?;
        let mut staged = stmt.query([])?;
        while let Some(r) = staged.next()? {
            let name = &names[&r.get::<_, i64>(0)?];
            let t = schema
                .table(name)
                .ok_or_else(|| NodeError::BadPull(format!("unknown table {name}")))?;
            let values: Values = serde_json::from_str(&r.get::<_, String>(2)?)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            rows::insert(
                tx,
                t,
                &Row {
                    table: name.clone(),
                    id: r.get(1)?,
                    values,
                },
            )?;
        }
    }
    // The pull from the first page's version, applied on a node with no
    // pending ops (spec §13.3): each row's LAST op decides, not the
    // compressed op — a row inserted and deleted after the first page may
    // still sit in a later page of the snapshot. An insert or update of an
    // existing row updates it; a delete of an absent row does nothing.
    let rows_by_key: HashMap<(&str, i64), &Row> = pull
        .rows
        .iter()
        .map(|r| ((r.table.as_str(), r.id), r))
        .collect();
    let mut last: HashMap<(&str, i64), Command> = HashMap::new();
    let mut order = Vec::new();
    for op in &pull.ops {
        if last
            .insert((op.table.as_str(), op.row_id), op.command)
            .is_none()
        {
            order.push((op.table.as_str(), op.row_id));
        }
    }
    for key in order {
        let Some(t) = schema.table(key.0).filter(|t| t.direction.pulls()) else {
            continue;
        };
        match last[&key] {
            Command::Delete => {
                rows::delete(tx, t, key.1)?;
            }
            _ => {
                if let Some(row) = rows_by_key.get(&key) {
                    if !rows::update(tx, t, row)? {
                        rows::insert(tx, t, row)?;
                    }
                }
            }
        }
    }
    for row in &pull.rows {
        // Parents the pull carried for the rows above.
        if let Some(t) = schema.table(&row.table).filter(|t| t.direction.pulls()) {
            if !rows::exists(tx, t, row.id)? {
                rows::insert(tx, t, row)?;
            }
        }
    }
    for t in &schema.tables {
        let max = rows::max_key(tx, t)?;
        let n = tx.execute(
            "UPDATE sqlite_sequence SET seq = max(seq, ?2) WHERE name = ?1",
            params![t.name, max],
        )?;
        if n == 0 && max > 0 {
            tx.execute(
                "INSERT INTO sqlite_sequence (name, seq) VALUES (?1, ?2)",
                params![t.name, max],
            )?;
        }
    }
    // The oplog is cleared but for the pending ops of push-only tables,
    // which the repair did not touch and which still have to reach the
    // server (spec §13.3).
    let kept: Vec<String> = schema
        .tables
        .iter()
        .filter(|t| !t.direction.pulls())
        .map(|t| format!("'{}'", t.name))
        .collect();
    tx.execute(
        &format!(
            "DELETE FROM dbsync_oplog WHERE version IS NOT NULL OR table_id NOT IN \
             (SELECT table_id FROM dbsync_tables WHERE name IN ({}))",
            if kept.is_empty() {
                "NULL".to_string()
            } else {
                kept.join(", ")
            }
        ),
        [],
    )?;
    tx.execute("DELETE FROM dbsync_repair_stage", [])?;
    forget_push(tx)?;
    clear_state(tx, "repair_version")?;
    clear_state(tx, "repair_cursor")?;
    let version = pull.target_version;
    set_state(tx, "last_version", &(version as i64))?;
    Ok(version)
}

// ------------------------------------------------------------ conflicts --

/// One entry of the conflict log as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedConflict {
    pub id: i64,
    pub recorded_at: u64,
    pub version: Option<u64>,
    pub entry: ConflictEntry,
}

/// The conflict log, oldest first.
pub fn conflicts(conn: &Connection) -> Result<Vec<LoggedConflict>> {
    let mut stmt =
        conn.prepare("SELECT id, recorded_at, version, entry FROM dbsync_conflicts ORDER BY id")?;
    let out = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, Option<i64>>(2)?,
                r.get::<_, String>(3)?,
            ))
        })?
        .map(|r| {
            let (id, at, v, json) = r?;
            let entry =
                serde_json::from_str(&json).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            Ok(LoggedConflict {
                id,
                recorded_at: at as u64,
                version: v.map(|v| v as u64),
                entry,
            })
        })
        .collect();
    out
}

/// Drops versioned ops a node no longer needs (spec §15.4); pending ops
/// stay. Returns how many were dropped.
pub fn trim(conn: &Connection) -> rusqlite::Result<usize> {
    conn.execute("DELETE FROM dbsync_oplog WHERE version IS NOT NULL", [])
}

//! The outbound push record (spec §10.4): a push is built from the pending
//! ops and stored (id and exact body) before it is sent, so a retry sends
//! the same bytes; only an answer that settles it forgets it.

use super::pending::{compressed_pending_pruning, forget_settled_restores};
use super::state::{clear_state, get_state, set_state, state};
use super::{in_write_transaction, NodeError, Result};
use crate::{oplog, rows, StoreError};
use dbsync_core::protocol::{AppData, PushRequest};
use dbsync_core::{Command, Op, Row, Schema};
use rusqlite::{Connection, TransactionBehavior};

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

/// The `dbsync_state` keys of the stored push.
const PUSH_KEYS: [&str; 5] = [
    "push_id",
    "push_body",
    "push_last_seq",
    "push_ops",
    "push_base",
];

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
    if crate::existing::repair_owed(&tx)? {
        return Err(NodeError::RepairOwed);
    }
    if let Some(stored) = stored_push(&tx)? {
        return Ok(Some(stored));
    }
    super::reused::move_reused_keys(&tx, schema)?;
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
    let rows = current_rows(&tx, schema, &ops)?;
    let push_id = new_push_id();
    let req = PushRequest {
        protocol: dbsync_core::PROTOCOL_VERSION.into(),
        schema: fingerprint.into(),
        app_data,
        push_id: push_id.clone(),
        base_version: state(&tx)?.last_version,
        ops,
        rows,
    };
    let push = store_push(&tx, &req, last_seq)?;
    tx.commit()?;
    Ok(Some(push))
}

/// The push stored earlier and not yet settled, if any.
fn stored_push(conn: &Connection) -> Result<Option<OutboundPush>> {
    let Some(push_id) = get_state::<String>(conn, "push_id")? else {
        return Ok(None);
    };
    let body: Vec<u8> = get_state::<String>(conn, "push_body")?
        .unwrap_or_default()
        .into_bytes();
    let last_seq = get_state::<i64>(conn, "push_last_seq")?.unwrap_or(0) as u64;
    let ops = get_state::<i64>(conn, "push_ops")?.unwrap_or(0) as usize;
    Ok(Some(OutboundPush {
        push_id,
        body,
        last_seq,
        ops,
    }))
}

/// The current values of the rows `ops` insert or update (spec §10.1).
fn current_rows(conn: &Connection, schema: &Schema, ops: &[Op]) -> Result<Vec<Row>> {
    let sql = rows::SqlCatalog::new(schema);
    let mut out = Vec::new();
    for op in ops.iter().filter(|o| o.command != Command::Delete) {
        let row = sql
            .get(&op.table)
            .expect("a pushed op's table is in the schema")
            .read(conn, op.row_id)?
            .ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "pending {} of {} row {} but the row is gone",
                    op.command, op.table, op.row_id
                ))
            })?;
        out.push(row);
    }
    Ok(out)
}

/// Stores `req` as the outstanding push covering the pending ops up to
/// `last_seq`.
fn store_push(conn: &Connection, req: &PushRequest, last_seq: u64) -> Result<OutboundPush> {
    let body = serde_json::to_string(req).expect("serializable");
    set_state(conn, "push_id", &req.push_id)?;
    set_state(conn, "push_body", &body)?;
    set_state(conn, "push_last_seq", &(last_seq as i64))?;
    set_state(conn, "push_ops", &(req.ops.len() as i64))?;
    set_state(conn, "push_base", &(req.base_version as i64))?;
    Ok(OutboundPush {
        push_id: req.push_id.clone(),
        body: body.into_bytes(),
        last_seq,
        ops: req.ops.len(),
    })
}

/// Forgets the stored push.
pub(super) fn forget_push(conn: &Connection) -> rusqlite::Result<()> {
    for key in PUSH_KEYS {
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
    in_write_transaction(conn, forget_push)
}

/// Settles the outstanding push `push_id` by what a pull brought (spec
/// §11.5): a version of this node with that push id is the push, applied
/// (its ops stop being pending, and the version is returned: it is the
/// node's own, not remote work); a pull that reaches past the push's base
/// without it shows the push was never applied and never will be.
pub(super) fn settle_by_pull(
    conn: &Connection,
    node_id: u64,
    push_id: &str,
    versions: &[dbsync_core::protocol::VersionInfo],
    target_version: u64,
) -> Result<Option<u64>> {
    let mine = versions
        .iter()
        .find(|v| v.node_id == Some(node_id) && v.push_id.as_deref() == Some(push_id));
    if let Some(v) = mine {
        let last_seq = get_state::<i64>(conn, "push_last_seq")?.unwrap_or(0) as u64;
        oplog::mark_pushed(conn, last_seq, v.version)?;
        forget_push(conn)?;
        return Ok(Some(v.version));
    }
    if target_version > get_state::<i64>(conn, "push_base")?.unwrap_or(0) as u64 {
        forget_push(conn)?;
    }
    Ok(None)
}

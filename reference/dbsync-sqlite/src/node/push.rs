//! The outbound push record (spec §10.4): a push is built from the pending
//! ops and stored (id and exact body) before it is sent, so a retry sends
//! the same bytes; only an answer that settles it forgets it. Pending ops
//! that do not fit in one request go in parts (§10.1.2): each part is an
//! ordinary push whose answer settles only the rows it carried.

use super::next_push::choose;
use super::pending::forget_settled_restores;
use super::rekeyed::move_rekeyed;
use super::state::{clear_state, get_state, set_state, state};
use super::{in_write_transaction, NodeError, Result};
use crate::{oplog, StoreError};
use dbsync_core::protocol::{AppData, PushRequest, Rekey};
use dbsync_core::rekey::moves_between;
use dbsync_core::RowId;
use dbsync_core::{Command, Op, Schema, VersionedOp};
use rusqlite::{Connection, TransactionBehavior};
use std::collections::{BTreeMap, HashMap, HashSet};

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
    /// Whether it is a part (spec §10.1.2): some pending ops wait for a
    /// later push.
    pub part: bool,
}

/// The `dbsync_state` keys of the stored push.
const PUSH_KEYS: [&str; 6] = [
    "push_id",
    "push_body",
    "push_last_seq",
    "push_ops",
    "push_base",
    "push_part",
];

/// The body size a node aims under when nothing else is known: half the
/// default body limit of spec §16.2, so the envelope and the estimate's
/// slack always fit.
pub const DEFAULT_PUSH_BUDGET: usize = 8 << 20;

/// [`begin_push_within`] the [`DEFAULT_PUSH_BUDGET`].
pub fn begin_push(
    conn: &mut Connection,
    schema: &Schema,
    fingerprint: &str,
    new_push_id: impl FnOnce() -> String,
    app_data: Option<AppData>,
) -> Result<Option<OutboundPush>> {
    begin_push_within(
        conn,
        schema,
        fingerprint,
        new_push_id,
        app_data,
        DEFAULT_PUSH_BUDGET,
    )
}

/// Builds the push of the pending ops, or a part of them when they need
/// more than `budget` bytes (spec §10.1.2), or returns the stored push
/// that was sent but never answered. `None` when nothing is pending.
pub fn begin_push_within(
    conn: &mut Connection,
    schema: &Schema,
    fingerprint: &str,
    new_push_id: impl FnOnce() -> String,
    app_data: Option<AppData>,
    budget: usize,
) -> Result<Option<OutboundPush>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if crate::existing::repair_owed(&tx)? {
        return Err(NodeError::RepairOwed);
    }
    if let Some(stored) = stored_push(&tx)? {
        return Ok(Some(stored));
    }
    super::reused::move_reused_keys(&tx, schema)?;
    let Some(next) = choose(&tx, schema, budget, super::next_push::PUSH_WINDOW)? else {
        tx.commit()?; // records that compressed to nothing are gone
        return Ok(None);
    };
    let push_id = new_push_id();
    let new_rows = new_rows(&tx, &next.ops)?;
    let req = PushRequest {
        protocol: dbsync_core::PROTOCOL_VERSION.into(),
        schema: fingerprint.into(),
        app_data,
        push_id: push_id.clone(),
        base_version: state(&tx)?.last_version,
        ops: next.ops,
        rows: next.rows,
        new_rows,
    };
    let push = store_push(&tx, &req, next.last_seq, next.part)?;
    tx.commit()?;
    Ok(Some(push))
}

/// The keys of the `i` ops whose rows the node created, by table (spec
/// §10.1): every `i` but a restore (§12.3.5), which brings back a row
/// the server held.
fn new_rows(conn: &Connection, ops: &[Op]) -> Result<BTreeMap<String, Vec<i64>>> {
    let marked: bool =
        conn.query_row("SELECT EXISTS (SELECT 1 FROM dbsync_restores)", [], |r| {
            r.get(0)
        })?;
    let restored: HashSet<(String, RowId)> = if marked {
        super::pending::restores(conn)?
            .into_iter()
            .map(|r| (r.table, r.row_id))
            .collect()
    } else {
        HashSet::new() // no restore pending: skip reading the records again
    };
    let mut new: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for op in ops.iter().filter(|o| o.command == Command::Insert) {
        // Only integer keys are new rows: text keys are never re-keyed.
        let Some(key) = op.row_id.as_int() else {
            continue;
        };
        if !restored.contains(&(op.table.clone(), op.row_id)) {
            new.entry(op.table.clone()).or_default().push(key);
        }
    }
    Ok(new)
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
    let part = get_state::<bool>(conn, "push_part")?.unwrap_or(false);
    Ok(Some(OutboundPush {
        push_id,
        body,
        last_seq,
        ops,
        part,
    }))
}

/// Stores `req` as the outstanding push covering the pending ops up to
/// `last_seq`.
fn store_push(
    conn: &Connection,
    req: &PushRequest,
    last_seq: u64,
    part: bool,
) -> Result<OutboundPush> {
    let body = serde_json::to_string(req).expect("serializable");
    set_state(conn, "push_id", &req.push_id)?;
    set_state(conn, "push_body", &body)?;
    set_state(conn, "push_last_seq", &(last_seq as i64))?;
    set_state(conn, "push_ops", &(req.ops.len() as i64))?;
    set_state(conn, "push_base", &(req.base_version as i64))?;
    set_state(conn, "push_part", &part)?;
    Ok(OutboundPush {
        push_id: req.push_id.clone(),
        body: body.into_bytes(),
        last_seq,
        ops: req.ops.len(),
        part,
    })
}

/// Forgets the stored push.
pub(super) fn forget_push(conn: &Connection) -> rusqlite::Result<()> {
    for key in PUSH_KEYS {
        clear_state(conn, key)?;
    }
    Ok(())
}

/// The server applied the push as `version`, moving the inserts of
/// `rekeyed` to fresh keys (spec §10.3): its ops stop being pending and
/// those rows move.
pub fn finish_push(
    conn: &mut Connection,
    schema: &Schema,
    push: &OutboundPush,
    version: u64,
    rekeyed: &[Rekey],
) -> Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    mark_settled(&tx, &push.body, push.last_seq, push.part, version)?;
    move_rekeyed(&tx, schema, rekeyed)?;
    forget_settled_restores(&tx)?;
    let last = state(&tx)?.last_version;
    if version == last + 1 {
        set_state(&tx, "last_version", &(version as i64))?;
    } else if version > last + 1 {
        // Accepted behind (spec §10.2.2.1): the versions between are
        // still to be pulled.
        super::own_versions::remember(&tx, version)?;
    }
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
/// (its ops stop being pending, the rows the server re-keyed move, and
/// the version is returned: it is the node's own, not remote work).
/// Without it, the push is forgotten when a pulled op (of a version not
/// in `own`) names a row it has an op of and C1 refuses it from now on
/// (§10.2.2.1): its ops merge as pending ops. When the only such ops are
/// inserts of keys the push inserts too, a copy may yet be applied
/// re-keyed: [`NodeError::PushUnsettled`]. Otherwise it stays
/// outstanding: the answer to sending it again settles it.
pub(super) fn settle_by_pull(
    conn: &Connection,
    schema: &Schema,
    node_id: u64,
    push_id: &str,
    versions: &[dbsync_core::protocol::VersionInfo],
    pulled: &[VersionedOp],
    own: &HashSet<u64>,
) -> Result<Option<u64>> {
    let Some(push) = stored_push(conn)? else {
        return Ok(None);
    };
    let mine = versions
        .iter()
        .find(|v| v.node_id == Some(node_id) && v.push_id.as_deref() == Some(push_id));
    if let Some(v) = mine {
        let applied = pulled
            .iter()
            .filter(|o| o.version == v.version)
            .map(|o| (o.table.as_str(), o.row_id));
        let rekeyed = moves_between(&push_ops(&push.body)?, applied);
        mark_settled(conn, &push.body, push.last_seq, push.part, v.version)?;
        move_rekeyed(conn, schema, &rekeyed)?;
        forget_push(conn)?;
        return Ok(Some(v.version));
    }
    match touch(&push_ops(&push.body)?, pulled, own) {
        Touch::None => Ok(None),
        Touch::Refused => {
            forget_push(conn)?;
            Ok(None)
        }
        Touch::MayBeRekeyed => Err(NodeError::PushUnsettled),
    }
}

/// How the pulled ops of other versions touch an outstanding push.
enum Touch {
    None,
    /// C1 refuses it from now on (§10.2.2.1).
    Refused,
    /// Only by inserts of keys the push inserts: the server would re-key
    /// them (§10.2.2.2).
    MayBeRekeyed,
}

fn touch(ops: &[Op], pulled: &[VersionedOp], own: &HashSet<u64>) -> Touch {
    let named: HashMap<(&str, RowId), Command> = ops
        .iter()
        .map(|o| ((o.table.as_str(), o.row_id), o.command))
        .collect();
    let mut first: HashMap<(&str, RowId), Command> = HashMap::new();
    for o in pulled.iter().filter(|o| !own.contains(&o.version)) {
        let key = (o.table.as_str(), o.row_id);
        if named.contains_key(&key) {
            first.entry(key).or_insert(o.command);
        }
    }
    // Only integer keys are re-keyed; a text key is one row (§12.3.4).
    let rekeyable = |key: &(&str, RowId), remote: &Command| {
        *remote == Command::Insert && named[key] == Command::Insert && key.1.as_int().is_some()
    };
    if first.is_empty() {
        Touch::None
    } else if first.iter().all(|(k, c)| rekeyable(k, c)) {
        Touch::MayBeRekeyed
    } else {
        Touch::Refused
    }
}

/// Marks what an applied push settled with its `version`: every pending
/// record up to its watermark, or for a part (spec §10.1.2) only the
/// records of the rows the part carried.
fn mark_settled(
    conn: &Connection,
    body: &[u8],
    last_seq: u64,
    part: bool,
    version: u64,
) -> Result<()> {
    if !part {
        oplog::mark_pushed(conn, last_seq, version)?;
        return Ok(());
    }
    let ops = push_ops(body)?;
    let ids = super::pending::table_ids_by_name(conn)?;
    let rows: Vec<(i64, RowId)> = ops
        .iter()
        .filter_map(|o| ids.get(&o.table).map(|t| (*t, o.row_id)))
        .collect();
    oplog::mark_rows_pushed(conn, last_seq, version, &rows)?;
    Ok(())
}

/// The ops of a stored push body.
fn push_ops(body: &[u8]) -> Result<Vec<Op>> {
    #[derive(serde::Deserialize)]
    struct OpsOf {
        ops: Vec<Op>,
    }
    let ops: OpsOf = serde_json::from_slice(body)
        .map_err(|e| StoreError::Corrupt(format!("the stored push is not a push: {e}")))?;
    Ok(ops.ops)
}

//! What an operator does with registered nodes (spec §9.7): list them,
//! revoke some, and purge the ones that never made a request.

use crate::store::{NodeRecord, Store};
use crate::{commit, Rejection};
use dbsync_core::ErrorCode;
use serde_json::json;

/// Every registered node, by id.
pub fn list(store: &dyn Store) -> Result<Vec<NodeRecord>, Rejection> {
    Ok(store.read()?.nodes()?)
}

/// Revokes the nodes `ids` (duplicates count once): they are forgotten,
/// their requests get `unknown_node`, and they stop holding back trim.
/// When some id is not registered, nothing changes and the answer is
/// `unknown_node` naming every such id (`details.node_ids`). Returns the
/// revoked ids, in order.
pub fn revoke(store: &dyn Store, ids: &[u64]) -> Result<Vec<u64>, Rejection> {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let mut tx = store.write()?;
    let mut unknown = Vec::new();
    for &id in &ids {
        if tx.node(id)?.is_none() {
            unknown.push(id);
        }
    }
    if !unknown.is_empty() {
        let list = unknown.iter().map(u64::to_string).collect::<Vec<_>>();
        return Err(Rejection::new(
            ErrorCode::UnknownNode,
            format!(
                "no registered node has the id {}: nothing was revoked",
                list.join(", ")
            ),
        )
        .with(json!({ "node_ids": unknown })));
    }
    tx.delete_nodes(&ids)?;
    commit(tx)?;
    tracing::info!(nodes = ?ids, "revoked nodes");
    Ok(ids)
}

/// Purges the nodes that registered more than `unseen_for` seconds before
/// `now` and never made a request since: returns them, by id.
pub fn purge_unseen(
    store: &dyn Store,
    now: u64,
    unseen_for: u64,
) -> Result<Vec<NodeRecord>, Rejection> {
    let mut tx = store.write()?;
    let purged = tx.purge_unseen(now.saturating_sub(unseen_for))?;
    commit(tx)?;
    if !purged.is_empty() {
        let ids: Vec<u64> = purged.iter().map(|n| n.node_id).collect();
        tracing::info!(nodes = ?ids, "purged nodes never seen");
    }
    Ok(purged)
}

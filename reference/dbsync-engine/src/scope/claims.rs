//! Changing a node's claims (spec §19.1, §19.11): one version of scope
//! moves that only that node sees, so its next pull removes the rows it
//! lost and brings the rows it gained, without a repair.

use super::keys::{claim_key, node_key};
use crate::register::sorted;
use crate::store::{Claim, ScopeMark, Store, WriteTx};
use crate::versions::{rfc3339, seal_direct_writes};
use crate::{commit, Rejection};
use dbsync_core::protocol::VersionInfo;
use dbsync_core::{ChangedColumns, Command, Op, RowId, Schema};
use std::collections::BTreeSet;

/// How many keys one read of the key index takes.
const PAGE: usize = 5_000;

/// What a claim change did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClaimChange {
    /// The version of its scope moves (`None`: no row changed hands).
    pub version: Option<u64>,
    /// Rows the node's next pull brings in.
    pub moved_in: u64,
    /// Rows the node's next pull takes out.
    pub moved_out: u64,
}

/// Sets node `node_id`'s claims to `claims`; on a scoped server, records
/// the version that moves the rows of its lost and gained claims, marked
/// only under the node's own key.
pub fn set_claims(
    store: &dyn Store,
    scopes: Option<&super::Scopes>,
    node_id: u64,
    claims: &[String],
    now: u64,
) -> Result<ClaimChange, Rejection> {
    let names = sorted(claims);
    let mut tx = store.write()?;
    tx.lock_history()?;
    let node = tx
        .node(node_id)?
        .ok_or_else(|| Rejection::unknown_node(node_id))?;
    let latest = seal_direct_writes(&mut *tx, store.schema(), scopes, now)?;
    let mut change = ClaimChange::default();
    if scopes.is_some() {
        let old: BTreeSet<&String> = node.claims.iter().map(|c| &c.name).collect();
        let new: BTreeSet<&String> = names.iter().collect();
        let lost: Vec<String> = old.difference(&new).map(|c| claim_key(c)).collect();
        let gained: Vec<String> = new.difference(&old).map(|c| claim_key(c)).collect();
        let moves = Moves::of(&mut *tx, store.schema(), node_id, &lost, &gained)?;
        if !moves.ops.is_empty() {
            let version = latest + 1;
            let info = VersionInfo {
                version,
                node_id: None,
                push_id: None,
                created_at: rfc3339(now),
            };
            tx.append_version(&info, &moves.ops)?;
            let marks: Vec<ScopeMark> = moves.marks(version);
            tx.append_scope_marks(&marks)?;
            change = ClaimChange {
                version: Some(version),
                moved_in: moves.moved_in,
                moved_out: moves.ops.len() as u64 - moves.moved_in,
            };
        }
    }
    // A claim kept keeps its version; one gained takes effect after the
    // version that moved its rows in (or the latest, if none moved).
    let since = change.version.unwrap_or(latest);
    let claims: Vec<Claim> = names
        .into_iter()
        .map(|name| {
            let kept = node.claims.iter().find(|c| c.name == name);
            let since = kept.map_or(since, |c| c.since);
            Claim { name, since }
        })
        .collect();
    if !tx.set_node_claims(node_id, &claims)? {
        return Err(Rejection::unknown_node(node_id));
    }
    commit(tx)?;
    Ok(change)
}

/// The scope moves of a claim change: one `u` naming no columns per row
/// of a lost or gained claim, and whether it moves in.
struct Moves {
    node: String,
    ops: Vec<Op>,
    gained: Vec<bool>,
    moved_in: u64,
}

impl Moves {
    fn of(
        tx: &mut dyn WriteTx,
        schema: &Schema,
        node_id: u64,
        lost: &[String],
        gained: &[String],
    ) -> Result<Moves, Rejection> {
        let mut moves = Moves {
            node: node_key(node_id),
            ops: Vec::new(),
            gained: Vec::new(),
            moved_in: 0,
        };
        for t in &schema.tables {
            for (keys, moves_in) in [(lost, false), (gained, true)] {
                if keys.is_empty() {
                    continue;
                }
                let mut after = RowId::default();
                loop {
                    let ids = tx.scoped_ids_after(t, keys, after, PAGE)?;
                    for id in &ids {
                        moves.push(&t.name, *id, moves_in);
                    }
                    match ids.last() {
                        Some(last) if ids.len() == PAGE => after = *last,
                        _ => break,
                    }
                }
            }
        }
        Ok(moves)
    }

    fn push(&mut self, table: &str, row_id: RowId, moves_in: bool) {
        self.ops.push(Op {
            table: table.to_string(),
            row_id,
            command: Command::Update,
            columns: Some(ChangedColumns::new()),
        });
        self.gained.push(moves_in);
        self.moved_in += u64::from(moves_in);
    }

    /// One mark per op, under the node's own key: a row it gained moves
    /// from no key to that key, a row it lost from that key to none of
    /// its keys (spec §19.5 then sends an `i` or a `d` marked `out`).
    fn marks(&self, version: u64) -> Vec<ScopeMark> {
        self.ops
            .iter()
            .zip(&self.gained)
            .map(|(op, gained)| {
                let me = Some(self.node.clone());
                let (before, after) = if *gained { (None, me) } else { (me, None) };
                ScopeMark {
                    key: self.node.clone(),
                    version,
                    table: op.table.clone(),
                    row_id: op.row_id,
                    before,
                    after,
                }
            })
            .collect()
    }
}

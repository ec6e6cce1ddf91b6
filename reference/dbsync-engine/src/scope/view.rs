//! What a scoped server shows a node (spec §19.5, §19.8): each op as the
//! node must see it (as it is, a move-in, a move-out, or not at all),
//! and only the rows in its scope.

use super::keys::{claim_key, node_keys};
use crate::store::{NodeRecord, PositionedOp, ReadTx, ScopedOp, StoreResult};
use dbsync_core::{Command, Row};
use std::collections::BTreeMap;

/// A node's keys (spec §19.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeView {
    /// The keys of the rows the node reads.
    pub keys: Vec<String>,
    /// The keys of its claims, each with the version it gained it at: it
    /// sees their ops only after that version (spec §19.11).
    pub since: Vec<(String, u64)>,
}

impl NodeView {
    /// The view of `node`.
    pub fn of(node: &NodeRecord) -> NodeView {
        NodeView {
            keys: node_keys(node),
            since: node
                .claims
                .iter()
                .map(|c| (claim_key(&c.name), c.since))
                .collect(),
        }
    }

    /// Whether `key` is one of the node's keys now.
    fn reads(&self, key: &Option<String>) -> bool {
        key.as_ref().is_some_and(|k| self.keys.contains(k))
    }

    /// Whether the node saw rows of `key` at `version`.
    fn holds_at(&self, key: &Option<String>, version: u64) -> bool {
        let since = |k: &String| {
            self.since
                .iter()
                .find(|(s, _)| s == k)
                .map_or(0, |(_, v)| *v)
        };
        self.reads(key) && key.as_ref().is_some_and(|k| version > since(k))
    }

    /// The op as this node receives it (spec §19.5), or `None` when it
    /// receives nothing of it: a `u` that brings the row into the scope
    /// is an `i`, one that takes it out is a `d` marked `out`.
    pub fn deliver(&self, s: ScopedOp) -> Option<PositionedOp> {
        let v = s.op.position.version;
        let (before, after) = (self.holds_at(&s.before, v), self.holds_at(&s.after, v));
        let mut p = s.op;
        let sent = match p.op.command {
            Command::Insert => after,
            Command::Delete => before,
            Command::Update => {
                if !before && after {
                    p.op.command = Command::Insert;
                    p.op.columns = None;
                } else if before && !after {
                    p.op.command = Command::Delete;
                    p.op.columns = None;
                    p.op.out = true;
                }
                before || after
            }
        };
        sent.then_some(p)
    }

    /// The rows of `rows` whose current key is one of the node's.
    pub fn rows_in_scope(&self, tx: &mut dyn ReadTx, rows: Vec<Row>) -> StoreResult<Vec<Row>> {
        let mut by_table: BTreeMap<String, Vec<Row>> = BTreeMap::new();
        for r in rows {
            by_table.entry(r.table.clone()).or_default().push(r);
        }
        let mut kept = Vec::new();
        for (table, rows) in by_table {
            let ids: Vec<_> = rows.iter().map(|r| r.id).collect();
            let keys: std::collections::HashMap<_, _> =
                tx.row_scopes(&table, &ids)?.into_iter().collect();
            kept.extend(
                rows.into_iter()
                    .filter(|r| keys.get(&r.id).is_some_and(|k| self.reads(k))),
            );
        }
        Ok(kept)
    }
}

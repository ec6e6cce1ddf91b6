//! Scope keys (spec §19.1, §19.4): the key of a row, and the keys of a
//! node. A node reads the rows whose key is one of its keys.

use super::rules::{ReadRule, Scopes};
use crate::store::{NodeRecord, ReadTx, StoreResult};
use dbsync_core::protocol::row_id::TextId;
use dbsync_core::{Row, RowId, Value};
use std::collections::HashMap;

/// The key of every row of an `all` table: every node holds it.
pub const ALL: &str = "*";

/// The keys a node holds (spec §19.1): [`ALL`], its own ([`node_key`]),
/// `u:` with its user when it has one, and `c:` with each claim.
pub fn node_keys(node: &NodeRecord) -> Vec<String> {
    let mut keys = vec![ALL.to_string(), node_key(node.node_id)];
    if let Some(user) = &node.user_id {
        keys.push(user_key(user));
    }
    keys.extend(node.claims.iter().map(|c| claim_key(&c.name)));
    keys
}

/// The key only node `id` holds: the marks of its claim changes.
pub fn node_key(id: u64) -> String {
    format!("n:{id}")
}

/// The key of the rows a claim reads.
pub fn claim_key(claim: &str) -> String {
    format!("c:{claim}")
}

/// The key of the rows a user owns.
pub fn user_key(user: &str) -> String {
    format!("u:{user}")
}

/// The row id a foreign-key value names, if it can name one.
pub fn id_of(v: &Value) -> Option<RowId> {
    match v {
        Value::Integer(i) => Some(RowId::Int(*i)),
        Value::Text(s) => TextId::new(s).map(RowId::Text),
        _ => None,
    }
}

/// Where the keys of rows come from while they are being computed: keys
/// already known in this step first, then the store's index.
pub struct KeySource<'a> {
    /// Keys computed in this step, by (table, row): `None` for a row
    /// absent or in no scope.
    pub known: &'a HashMap<(String, RowId), Option<String>>,
}

impl KeySource<'_> {
    /// The key of the row `id` of `table`: known, else the store's.
    pub fn key(&self, tx: &mut dyn ReadTx, table: &str, id: RowId) -> StoreResult<Option<String>> {
        if let Some(k) = self.known.get(&(table.to_string(), id)) {
            return Ok(k.clone());
        }
        Ok(tx
            .row_scopes(table, &[id])?
            .into_iter()
            .next()
            .and_then(|(_, k)| k))
    }
}

impl Scopes {
    /// The key `row` has under the rules (spec §19.4): `*` in an `all`
    /// table, `u:` and the owner column's value, or the parent's key;
    /// `None` when the column is NULL or the parent absent.
    pub fn key_of(
        &self,
        tx: &mut dyn ReadTx,
        source: &KeySource<'_>,
        row: &Row,
    ) -> StoreResult<Option<String>> {
        let Some(rule) = self.table(&row.table) else {
            return Ok(None);
        };
        match &rule.read {
            ReadRule::All => Ok(Some(ALL.into())),
            ReadRule::Owner { column } => Ok(owner_text(row, column).map(|u| user_key(&u))),
            ReadRule::Claim { column } => Ok(owner_text(row, column).map(|c| claim_key(&c))),
            ReadRule::Parent { column, table } => match row.values.get(column).and_then(id_of) {
                Some(parent) => source.key(tx, table, parent),
                None => Ok(None),
            },
        }
    }
}

/// The user or claim `row`'s `column` names (the key column itself when
/// the rule names it): text as it is, an integer in decimal.
fn owner_text(row: &Row, column: &str) -> Option<String> {
    let key = row.id.to_value();
    match row.values.get(column).unwrap_or(&key) {
        Value::Text(s) => Some(s.clone()),
        Value::Integer(i) => Some(i.to_string()),
        _ => None,
    }
}

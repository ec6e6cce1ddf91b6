//! A replica's rows as plain data: what an edit is planned on, and what
//! the invariants are checked on when rows come through an adapter.

use super::writes::RowWrite;
use dbsync_core::protocol::value::Values;
use dbsync_core::{Row, RowId, Schema, Value};
use std::collections::BTreeMap;

/// Every row of a replica, by table then key.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RowSet {
    tables: BTreeMap<String, BTreeMap<RowId, Values>>,
}

impl RowSet {
    pub fn new(rows: impl IntoIterator<Item = Row>) -> RowSet {
        let mut set = RowSet::default();
        for r in rows {
            set.tables
                .entry(r.table)
                .or_default()
                .insert(r.id, r.values);
        }
        set
    }

    /// The keys of `table`'s rows, ascending.
    pub fn ids(&self, table: &str) -> Vec<RowId> {
        self.tables
            .get(table)
            .map(|t| t.keys().copied().collect())
            .unwrap_or_default()
    }

    pub fn get(&self, table: &str, id: RowId) -> Option<&Values> {
        self.tables.get(table)?.get(&id)
    }

    /// A row's values in the ledger's logical form, or `None` when the
    /// row is not here.
    pub fn logical(
        &self,
        schema: &Schema,
        table: &str,
        id: RowId,
    ) -> Result<Option<super::ledger::Logical>, super::Failure> {
        self.get(table, id)
            .map(|v| super::ledger::logical(schema, table, v, |t, i| self.uid(t, i)))
            .transpose()
    }

    /// The `uid` of a row (every generated table has one).
    pub fn uid(&self, table: &str, id: RowId) -> Option<String> {
        match self.get(table, id)?.get("uid") {
            Some(Value::Text(u)) => Some(u.clone()),
            _ => None,
        }
    }

    /// The rows of `child` whose `column` holds `id`, ascending.
    pub fn referencing(&self, child: &str, column: &str, id: RowId) -> Vec<RowId> {
        let want = id.to_value();
        self.tables
            .get(child)
            .map(|t| {
                t.iter()
                    .filter(|(_, v)| v.get(column) == Some(&want))
                    .map(|(k, _)| *k)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The (table, key) of every row that references `table` row `id`.
    pub fn children(&self, schema: &Schema, table: &str, id: RowId) -> Vec<(String, RowId)> {
        let mut out = Vec::new();
        for c in &schema.tables {
            for fk in c.foreign_keys_to(table) {
                for cid in self.referencing(&c.name, &fk.column, id) {
                    out.push((c.name.clone(), cid));
                }
            }
        }
        out
    }

    /// Applies a write that succeeded; `id` is the key it wrote.
    pub fn apply(&mut self, w: &RowWrite, id: RowId) {
        match w {
            RowWrite::Insert { table, values, .. } => {
                self.tables
                    .entry(table.clone())
                    .or_default()
                    .insert(id, values.clone());
            }
            RowWrite::Update { table, values, .. } => {
                if let Some(row) = self.tables.get_mut(table).and_then(|t| t.get_mut(&id)) {
                    row.extend(values.iter().map(|(k, v)| (k.clone(), v.clone())));
                }
            }
            RowWrite::Delete { table, .. } => {
                if let Some(t) = self.tables.get_mut(table) {
                    t.remove(&id);
                    if t.is_empty() {
                        self.tables.remove(table);
                    }
                }
            }
        }
    }

    /// Every row, by table name then key.
    pub fn rows(&self) -> Vec<Row> {
        self.tables
            .iter()
            .flat_map(|(t, rows)| {
                rows.iter().map(move |(id, values)| Row {
                    table: t.clone(),
                    id: *id,
                    values: values.clone(),
                })
            })
            .collect()
    }

    /// Whether `table` has a row with this `uid`.
    pub fn has_uid(&self, table: &str, uid: &str) -> bool {
        let want = Value::Text(uid.to_string());
        self.tables
            .get(table)
            .is_some_and(|t| t.values().any(|v| v.get("uid") == Some(&want)))
    }

    /// How many rows of any table have this `uid`.
    pub fn count_uid(&self, uid: &str) -> usize {
        let want = Value::Text(uid.to_string());
        self.tables
            .values()
            .flat_map(|t| t.values())
            .filter(|v| v.get("uid") == Some(&want))
            .count()
    }
}

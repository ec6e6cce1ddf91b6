//! The rows a message carries with their parents (spec §11.3.2): the
//! rows asked for, then every row they reference by a declared foreign
//! key, repeated until nothing is added — read a table at a time, never a
//! row at a time.

use crate::store::{ReadTx, StoreResult};
use dbsync_core::RowId;
use dbsync_core::{Row, Schema, TableSchema};
use std::collections::{BTreeMap, HashSet};

/// Rows to read from pull-capable tables, with their parents.
pub struct RowsWithParents<'s> {
    schema: &'s Schema,
    /// Every key asked for so far, found or not.
    asked: HashSet<(&'s str, RowId)>,
    /// The keys to read next, by table.
    wanted: BTreeMap<&'s str, Vec<RowId>>,
}

impl<'s> RowsWithParents<'s> {
    /// An empty set over `schema`.
    pub fn new(schema: &'s Schema) -> Self {
        RowsWithParents {
            schema,
            asked: HashSet::new(),
            wanted: BTreeMap::new(),
        }
    }

    /// Asks for row `id` of `table` (ignored unless `table` is a synced
    /// table that pulls carry).
    pub fn want(&mut self, table: &str, id: RowId) {
        let Some(t) = self.schema.table(table).filter(|t| t.direction.pulls()) else {
            return;
        };
        if self.asked.insert((t.name.as_str(), id)) {
            self.wanted.entry(t.name.as_str()).or_default().push(id);
        }
    }

    /// Reads the rows asked for since the last read that exist, and their
    /// parents not read before: a page can be read in parts, and no row
    /// is read twice.
    pub fn read_wanted(&mut self, tx: &mut dyn ReadTx) -> StoreResult<Vec<Row>> {
        let mut out = Vec::new();
        while !self.wanted.is_empty() {
            let round = std::mem::take(&mut self.wanted);
            for (table, mut ids) in round {
                let t = self.schema.table(table).expect("asked tables are synced");
                ids.sort_unstable();
                let found = tx.rows(t, &ids)?;
                for row in &found {
                    self.want_parents(t, row);
                }
                out.extend(found);
            }
        }
        Ok(out)
    }

    fn want_parents(&mut self, t: &'s TableSchema, row: &Row) {
        for fk in &t.foreign_keys {
            if let Some(parent) = row.values.get(&fk.column).and_then(RowId::from_value) {
                self.want(&fk.references, parent);
            }
        }
    }
}

//! The schema as the planner indexes it: tables by number, and the
//! foreign keys in both directions.

use super::error::MergeError;
use crate::protocol::row_id::RowId;
use crate::schema::{Schema, TableSchema};
use std::collections::HashMap;

pub(crate) type TableId = u32;
/// A row: table number and key.
pub(crate) type Key = (TableId, RowId);

pub(crate) struct Catalog<'s> {
    tables: Vec<&'s TableSchema>,
    index: HashMap<&'s str, TableId>,
    /// Per table: the foreign keys that reference it, as (child table,
    /// column).
    referenced_by: Vec<Vec<(TableId, &'s str)>>,
    /// Per table: its foreign keys, as (column, parent table).
    references: Vec<Vec<(&'s str, TableId)>>,
}

impl<'s> Catalog<'s> {
    pub(crate) fn new(schema: &'s Schema) -> Catalog<'s> {
        let tables: Vec<&TableSchema> = schema.tables.iter().collect();
        let index: HashMap<&str, TableId> = tables
            .iter()
            .enumerate()
            .map(|(i, t)| (t.name.as_str(), i as TableId))
            .collect();
        let mut referenced_by = vec![Vec::new(); tables.len()];
        let mut references = vec![Vec::new(); tables.len()];
        for (i, t) in tables.iter().enumerate() {
            for fk in &t.foreign_keys {
                if let Some(&p) = index.get(fk.references.as_str()) {
                    referenced_by[p as usize].push((i as TableId, fk.column.as_str()));
                    references[i].push((fk.column.as_str(), p));
                }
            }
        }
        Catalog {
            tables,
            index,
            referenced_by,
            references,
        }
    }

    pub(crate) fn id(&self, name: &str) -> Result<TableId, MergeError> {
        // A few string comparisons beat hashing the name for small schemas.
        let found = if self.tables.len() <= 8 {
            self.tables
                .iter()
                .position(|t| t.name == name)
                .map(|i| i as TableId)
        } else {
            self.index.get(name).copied()
        };
        found.ok_or_else(|| MergeError::UnknownTable {
            table: name.to_owned(),
        })
    }

    pub(crate) fn table(&self, id: TableId) -> &'s TableSchema {
        self.tables[id as usize]
    }

    pub(crate) fn name(&self, id: TableId) -> &'s str {
        self.tables[id as usize].name.as_str()
    }

    pub(crate) fn len(&self) -> usize {
        self.tables.len()
    }

    pub(crate) fn referenced_by(&self, id: TableId) -> &[(TableId, &'s str)] {
        &self.referenced_by[id as usize]
    }

    pub(crate) fn references(&self, id: TableId) -> &[(&'s str, TableId)] {
        &self.references[id as usize]
    }
}

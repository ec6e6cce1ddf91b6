//! Starting a scoped server (spec §19.4): the indexes scopes need, and
//! the key of every row, computed from the rows as they are.

use super::keys::KeySource;
use super::rules::{ReadRule, Scopes};
use crate::store::{Store, StoreResult};
use dbsync_core::{RowId, Schema, TableSchema};
use std::collections::HashMap;

/// How many rows one page of the start takes.
const PAGE: usize = 5_000;

/// The columns children inherit their scope through: the store indexes
/// them (a parent's move finds its children by them).
pub fn parent_columns<'a>(
    schema: &'a Schema,
    scopes: &'a Scopes,
) -> Vec<(&'a TableSchema, &'a str)> {
    schema
        .tables
        .iter()
        .filter_map(|t| match &scopes.table(&t.name)?.read {
            ReadRule::Parent { column, .. } => Some((t, column.as_str())),
            _ => None,
        })
        .collect()
}

/// Makes the key of every row of every table, parents' tables first, one
/// transaction per page. Linear in the rows; a server runs it once at
/// start.
pub fn index_every_row(store: &dyn Store, scopes: &Scopes) -> StoreResult<()> {
    for t in parents_first(store.schema(), scopes) {
        index_table(store, scopes, t)?;
    }
    Ok(())
}

fn index_table(store: &dyn Store, scopes: &Scopes, t: &TableSchema) -> StoreResult<()> {
    let known = HashMap::new();
    let mut after = RowId::default();
    loop {
        let mut tx = store.write()?;
        let rows = tx.rows_after(t, after, PAGE)?;
        let mut keys: Vec<(RowId, Option<String>)> = Vec::with_capacity(rows.len());
        for row in &rows {
            keys.push((
                row.id,
                scopes.key_of(&mut *tx, &KeySource { known: &known }, row)?,
            ));
        }
        tx.set_row_scopes(&t.name, &keys)?;
        tx.commit().map_err(crate::store::StoreFault::of)?;
        match rows.last() {
            Some(last) if rows.len() == PAGE => after = last.id,
            _ => return Ok(()),
        }
    }
}

/// The tables, each after the table its parent rule names.
fn parents_first<'a>(schema: &'a Schema, scopes: &Scopes) -> Vec<&'a TableSchema> {
    let mut tables: Vec<(usize, &TableSchema)> = schema
        .tables
        .iter()
        .map(|t| (super::record::depth(scopes, &t.name), t))
        .collect();
    tables.sort_by_key(|(d, _)| *d);
    tables.into_iter().map(|(_, t)| t).collect()
}

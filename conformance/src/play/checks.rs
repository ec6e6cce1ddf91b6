//! The invariants of spec §18.3, checked from outside: on the rows a node
//! reports through its adapter and on the rows the server answers queries
//! with.

use crate::history::rowset::RowSet;
use crate::history::{diff, Failure};
use dbsync_core::{RowId, Schema, Value};
use std::collections::BTreeMap;

/// Invariant 3 on one replica's rows: every foreign key names a row that
/// is there, no two rows share the values of a unique constraint (NULLs
/// aside), and no row is there twice (same `uid`).
pub fn integrity(schema: &Schema, rows: &RowSet, who: &str) -> Result<(), Failure> {
    for t in &schema.tables {
        for id in rows.ids(&t.name) {
            let values = rows.get(&t.name, id).expect("listed");
            for fk in &t.foreign_keys {
                if let Some(p) = values.get(&fk.column).and_then(RowId::from_value) {
                    if rows.get(&fk.references, p).is_none() {
                        return Err(Failure::new(format!(
                            "{who}: {} row {id} references a missing {} row {p}",
                            t.name, fk.references
                        )));
                    }
                }
            }
        }
        let mut groups: Vec<Vec<String>> = t.unique.clone();
        groups.push(vec!["uid".into()]);
        for cols in groups {
            let mut seen: BTreeMap<String, RowId> = BTreeMap::new();
            for id in rows.ids(&t.name) {
                let values = rows.get(&t.name, id).expect("listed");
                let key: Vec<&Value> = cols.iter().filter_map(|c| values.get(c)).collect();
                if key.len() < cols.len() || key.iter().any(|v| **v == Value::Null) {
                    continue;
                }
                let text = serde_json::to_string(&key).unwrap_or_default();
                if let Some(other) = seen.insert(text, id) {
                    return Err(Failure::new(format!(
                        "{who}: {} rows {other} and {id} share ({})",
                        t.name,
                        cols.join(", ")
                    )));
                }
            }
        }
    }
    Ok(())
}

/// `a` and `b` hold the same rows; otherwise a failure saying `what`,
/// with the rows that differ (`a`'s first).
pub fn same_rows(a: &RowSet, b: &RowSet, what: &str) -> Result<(), Failure> {
    if a == b {
        return Ok(());
    }
    Err(Failure::new(format!(
        "{what}:{}",
        diff(&a.rows(), &b.rows())
    )))
}

//! Keeping the scope index (spec §19.4): the key of every row, and a mark
//! per op and key, written in the transaction of each version; and scope
//! moves, the ops that carry a parent's children along when its key
//! changes.

use super::keys::KeySource;
use super::rules::{ReadRule, Scopes};
use crate::store::{OpPosition, ScopeMark, StoreResult, WriteTx};
use dbsync_core::{ChangedColumns, Command, Op, RowId, Schema, TableSchema};
use std::collections::{BTreeMap, HashMap, HashSet};

/// How many rows one index read or write takes.
const CHUNK: usize = 500;

/// A limit that limits nothing (and that every store can take as a
/// 64-bit integer).
const NO_LIMIT: usize = i64::MAX as usize;

/// The rows of one version and their keys before and after it.
#[derive(Default)]
struct Step {
    /// Each row's key after the version (`None`: absent or in no scope).
    after: HashMap<(String, RowId), Option<String>>,
    /// Each row's key before it, in the order the rows were met.
    before: Vec<((String, RowId), Option<String>)>,
    /// The rows that exist after it.
    present: HashSet<(String, RowId)>,
    /// The scope moves the version gains.
    moves: Vec<Op>,
}

/// Indexes the ops of `version`, just recorded (spec §19.4): marks, the
/// rows' keys, and a scope move for each child whose parent's key the
/// version changed and that no op of it names.
pub fn record_version(
    tx: &mut dyn WriteTx,
    schema: &Schema,
    scopes: &Scopes,
    version: u64,
) -> StoreResult<()> {
    let ops = tx.ops_after(version - 1, version, OpPosition::default(), NO_LIMIT)?;
    let mut last: BTreeMap<(usize, String, RowId), Command> = BTreeMap::new();
    for p in &ops {
        let depth = depth(scopes, &p.op.table);
        last.insert((depth, p.op.table.clone(), p.op.row_id), p.op.command);
    }
    let mut step = Step::default();
    let rows: Vec<_> = last.into_iter().collect();
    for by_table in rows.chunk_by(|a, b| a.0 .1 == b.0 .1) {
        let Some(t) = schema.table(&by_table[0].0 .1) else {
            continue;
        };
        let present: Vec<RowId> = by_table
            .iter()
            .filter(|(_, c)| *c != Command::Delete)
            .map(|((_, _, id), _)| *id)
            .collect();
        let ids: Vec<RowId> = by_table.iter().map(|((_, _, id), _)| *id).collect();
        index_rows(tx, scopes, &mut step, t, &ids, &present)?;
    }
    carry_children(tx, schema, scopes, &mut step)?;
    if !step.moves.is_empty() {
        tx.append_ops(version, &step.moves)?;
    }
    save(tx, &step, version)
}

/// How many parent rules lead from `table` to an owner or `all` rule:
/// parents' keys are computed before their children's.
pub(super) fn depth(scopes: &Scopes, table: &str) -> usize {
    let mut at = table;
    let mut d = 0;
    while let Some(ReadRule::Parent { table, .. }) = scopes.table(at).map(|s| &s.read) {
        at = table;
        d += 1;
    }
    d
}

/// Reads the keys before, and computes the keys after, of the rows `ids`
/// of `t` (`present`: those no op deleted last).
fn index_rows(
    tx: &mut dyn WriteTx,
    scopes: &Scopes,
    step: &mut Step,
    t: &TableSchema,
    ids: &[RowId],
    present: &[RowId],
) -> StoreResult<()> {
    for part in ids.chunks(CHUNK) {
        let before: HashMap<RowId, Option<String>> =
            tx.row_scopes(&t.name, part)?.into_iter().collect();
        for id in part {
            let b = before.get(id).cloned().flatten();
            step.before.push(((t.name.clone(), *id), b));
            step.after.insert((t.name.clone(), *id), None);
        }
    }
    for part in present.chunks(CHUNK) {
        for row in tx.rows(t, part)? {
            let key = scopes.key_of(tx, &KeySource { known: &step.after }, &row)?;
            step.after.insert((t.name.clone(), row.id), key);
            step.present.insert((t.name.clone(), row.id));
        }
    }
    Ok(())
}

/// Scope moves (spec §19.4): every child of a row whose key changed,
/// named by no op of the version, takes the new key with a `u` naming no
/// columns; and so on down.
fn carry_children(
    tx: &mut dyn WriteTx,
    schema: &Schema,
    scopes: &Scopes,
    step: &mut Step,
) -> StoreResult<()> {
    let mut changed: Vec<(String, RowId, Option<String>)> = step
        .before
        .iter()
        .filter_map(|((t, id), b)| {
            let a = step.after.get(&(t.clone(), *id)).cloned().flatten();
            (a != *b).then(|| (t.clone(), *id, a))
        })
        .collect();
    let mut named: HashSet<(String, RowId)> = step.after.keys().cloned().collect();
    while let Some((table, id, key)) = changed.pop() {
        let children: Vec<(String, String)> = scopes
            .children_of(&table)
            .map(|(c, col)| (c.to_string(), col.to_string()))
            .collect();
        for (child, column) in children {
            let Some(ct) = schema.table(&child) else {
                continue;
            };
            let found = tx.find(ct, &[(column.as_str(), &id.to_value())], NO_LIMIT)?;
            for row in found {
                if !named.insert((child.clone(), row.id)) {
                    continue;
                }
                let b = tx.row_scopes(&child, &[row.id])?.pop().and_then(|(_, k)| k);
                step.after.insert((child.clone(), row.id), key.clone());
                step.present.insert((child.clone(), row.id));
                step.before.push(((child.clone(), row.id), b.clone()));
                if b != key {
                    step.moves.push(Op {
                        table: child.clone(),
                        row_id: row.id,
                        command: Command::Update,
                        columns: Some(ChangedColumns::new()),
                    });
                    changed.push((child.clone(), row.id, key.clone()));
                }
            }
        }
    }
    Ok(())
}

/// Writes the step's marks and keys.
fn save(tx: &mut dyn WriteTx, step: &Step, version: u64) -> StoreResult<()> {
    let mut marks = Vec::new();
    let mut keep: BTreeMap<&str, Vec<(RowId, Option<String>)>> = BTreeMap::new();
    let mut gone: BTreeMap<&str, Vec<RowId>> = BTreeMap::new();
    for ((table, id), before) in &step.before {
        let after = step.after.get(&(table.clone(), *id)).cloned().flatten();
        for key in [before, &after].into_iter().flatten() {
            if marks
                .last()
                .is_some_and(|m: &ScopeMark| m.key == *key && m.row_id == *id && m.table == *table)
            {
                continue; // the same key before and after: one mark
            }
            marks.push(ScopeMark {
                key: key.clone(),
                version,
                table: table.clone(),
                row_id: *id,
                before: before.clone(),
                after: after.clone(),
            });
        }
        if step.present.contains(&(table.clone(), *id)) {
            keep.entry(table).or_default().push((*id, after));
        } else {
            gone.entry(table).or_default().push(*id);
        }
    }
    for part in marks.chunks(CHUNK) {
        tx.append_scope_marks(part)?;
    }
    for (table, rows) in keep {
        for part in rows.chunks(CHUNK) {
            tx.set_row_scopes(table, part)?;
        }
    }
    for (table, ids) in gone {
        for part in ids.chunks(CHUNK) {
            tx.forget_row_scopes(table, part)?;
        }
    }
    Ok(())
}

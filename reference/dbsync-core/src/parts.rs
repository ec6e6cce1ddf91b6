//! Pushing in parts (spec §10.1.2): when a node's pending ops do not fit
//! in one request, which of them may go ahead in a push of their own, so
//! that the server's foreign keys and unique constraints hold after every
//! part, not only after the last.
//!
//! An op may go **early** (in a part before the rest) when:
//!
//! - it is an `i` of a table without unique constraints, or of a table
//!   with unique constraints where no row has a pending `u` or `d` (so
//!   no value it takes is still held on the server by a row this node
//!   changed);
//! - it is a `u` of a table without unique constraints (it changes no
//!   unique value and no key a child refers to);
//! - it is a `d` of a table no declared foreign key references (nothing
//!   on the server can point at the row);
//!
//! and, for `i` and `u`, every row its values reference through a
//! declared foreign key that this node has a pending `i` of goes in the
//! same part or an earlier one. Every other op waits for the part that
//! carries all the remaining ops.

use crate::protocol::op::{Command, Op};
use crate::protocol::row_id::RowId;
use crate::protocol::value::Row;
use crate::schema::Schema;
use std::collections::HashSet;

/// What a node sends next, given its pending ops and its byte budget.
#[derive(Debug, Clone, PartialEq)]
pub enum NextPush {
    /// Every pending op fits: the ordinary push of §10.1, with its rows.
    Whole(Vec<Row>),
    /// A part (§10.1.2): these ops and rows, a subset of the pending ops.
    Part {
        /// The ops of the part, in pending order.
        ops: Vec<Op>,
        /// The rows of its `i` and `u` ops.
        rows: Vec<Row>,
    },
    /// Nothing may go early and the rest does not fit: the node reports
    /// `push_too_large`.
    TooLarge {
        /// About how many bytes the ops that must travel together need.
        needed: usize,
    },
}

/// About how many bytes of a push body an op with its row takes.
fn cost(op: &Op, row: Option<&Row>) -> usize {
    // `{"table":…,"row_id":…,"command":"i"},` and the row's JSON; an
    // insert's key again in `new_rows` (spec §10.1), digits and a comma.
    let listed = if op.command == Command::Insert { 21 } else { 0 };
    op.table.len() + 48 + listed + row.map_or(0, |r| r.json_len_estimate() + 2)
}

/// Bytes of a push body outside its ops and rows (protocol, schema
/// fingerprint, push id, base version, `app_data`).
pub const ENVELOPE_BYTES: usize = 1024;

/// Chooses the next push for `ops` (the compressed pending ops, §5) under
/// a body of at most `budget` bytes. `read` gives the current row of an
/// `i` or `u` op.
pub fn next_push<E>(
    schema: &Schema,
    ops: &[Op],
    budget: usize,
    mut read: impl FnMut(&Op) -> Result<Row, E>,
) -> Result<NextPush, E> {
    let budget = budget.saturating_sub(ENVELOPE_BYTES);
    let mut rows = Vec::new();
    let mut used = 0;
    for op in ops {
        let row = has_row(op).then(|| read(op)).transpose()?;
        used += cost(op, row.as_ref());
        if used > budget {
            return next_part(schema, ops, budget + ENVELOPE_BYTES, read, |_| false);
        }
        rows.extend(row);
    }
    Ok(NextPush::Whole(rows))
}

/// The largest part (never [`NextPush::Whole`]) that fits a body of
/// `budget` bytes, taking early ops in pending order; ops `held` says are
/// not early whatever their kind.
pub fn next_part<E>(
    schema: &Schema,
    ops: &[Op],
    budget: usize,
    mut read: impl FnMut(&Op) -> Result<Row, E>,
    held: impl Fn(&Op) -> bool,
) -> Result<NextPush, E> {
    let budget = budget.saturating_sub(ENVELOPE_BYTES);
    let early = early_ops(schema, ops);
    let referenced = referenced_tables(schema);
    let inserted: HashSet<(&str, RowId)> = ops
        .iter()
        .filter(|o| o.command == Command::Insert && referenced.contains(o.table.as_str()))
        .map(|o| (o.table.as_str(), o.row_id))
        .collect();
    let mut placed: HashSet<(&str, RowId)> = HashSet::new();
    let (mut part_ops, mut rows, mut used) = (Vec::new(), Vec::new(), 0);
    let mut waiting = 0;
    for (op, early) in ops.iter().zip(early) {
        let early = early && !held(op);
        let row = (early && has_row(op)).then(|| read(op)).transpose()?;
        let ready = early && parents_ready(schema, row.as_ref(), &inserted, &placed);
        if !ready {
            waiting += cost(op, None);
            continue;
        }
        let c = cost(op, row.as_ref());
        if used + c > budget {
            break;
        }
        used += c;
        placed.insert((op.table.as_str(), op.row_id));
        part_ops.push(op.clone());
        rows.extend(row);
    }
    if part_ops.is_empty() {
        return Ok(NextPush::TooLarge {
            needed: waiting.max(budget + 1),
        });
    }
    Ok(NextPush::Part {
        ops: part_ops,
        rows,
    })
}

fn has_row(op: &Op) -> bool {
    op.command != Command::Delete
}

/// Whether every row `row` references that has a pending `i` is placed.
fn parents_ready(
    schema: &Schema,
    row: Option<&Row>,
    inserted: &HashSet<(&str, RowId)>,
    placed: &HashSet<(&str, RowId)>,
) -> bool {
    let Some(row) = row else { return true };
    let Some(table) = schema.table(&row.table) else {
        return true;
    };
    table.foreign_keys.iter().all(|fk| {
        let Some(parent) = row.values.get(&fk.column).and_then(RowId::from_value) else {
            return true;
        };
        let key = (fk.references.as_str(), parent);
        !inserted.contains(&key) || placed.contains(&key)
    })
}

/// For each op, whether it may go in a part before the rest (the rules
/// of the module's documentation, without the parents' condition).
pub fn early_ops(schema: &Schema, ops: &[Op]) -> Vec<bool> {
    let changed_in_place: HashSet<&str> = ops
        .iter()
        .filter(|o| o.command != Command::Insert)
        .map(|o| o.table.as_str())
        .collect();
    let referenced = referenced_tables(schema);
    ops.iter()
        .map(|op| {
            let Some(t) = schema.table(&op.table) else {
                return false;
            };
            match op.command {
                Command::Insert => {
                    t.unique.is_empty() || !changed_in_place.contains(t.name.as_str())
                }
                Command::Update => t.unique.is_empty(),
                Command::Delete => !referenced.contains(t.name.as_str()),
            }
        })
        .collect()
}

/// The tables a declared foreign key of some table references.
fn referenced_tables(schema: &Schema) -> HashSet<&str> {
    schema
        .tables
        .iter()
        .flat_map(|t| t.foreign_keys.iter().map(|fk| fk.references.as_str()))
        .collect()
}

#[cfg(test)]
mod tests;

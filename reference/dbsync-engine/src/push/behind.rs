//! P3 for a push behind the latest version (spec §10.2.2.1): accepted
//! when it is clear of every op of the later versions: C1 (row), C2
//! (parent), C3 (child), C4 (unique).

use super::rekey;
use crate::store::{OpPosition, ReadTx};
use crate::Rejection;
use dbsync_core::protocol::{PushRequest, Rekey};
use dbsync_core::RowId;
use dbsync_core::{ErrorCode, Row, Schema, Value};
use serde_json::json;
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};

/// The most ops of later versions a push behind is compared with; beyond
/// it the push gets `pull_required` with reason `far_behind`.
pub const MAX_LATER_OPS: usize = 10_000;

/// Why a push behind is not clear, and the push's row at fault.
struct NotClear<'r> {
    reason: &'static str,
    table: &'r str,
    row_id: RowId,
}

/// A push behind that passed P3: as re-keyed (spec §10.2.2.2), with the
/// moves its answer lists.
pub struct Cleared<'r> {
    pub req: Cow<'r, PushRequest>,
    pub rekeyed: Vec<Rekey>,
}

/// P3: `Ok` when the push (with base `req.base_version` behind `latest`)
/// has ops and, once its inserts of keys a later version took are
/// re-keyed, is clear of every later version; `pull_required` naming
/// what conflicted otherwise.
pub fn check_clear<'r>(
    tx: &mut dyn ReadTx,
    schema: &Schema,
    req: &'r PushRequest,
    latest: u64,
) -> Result<Cleared<'r>, Rejection> {
    if req.ops.is_empty() {
        return Err(pull_required(latest, None));
    }
    let later = tx.ops_after(
        req.base_version,
        latest,
        OpPosition::default(),
        MAX_LATER_OPS + 1,
    )?;
    if later.len() > MAX_LATER_OPS {
        return Err(pull_required(latest, Some(("far_behind", None))));
    }
    let rekeyed = rekey::choose(tx, schema, req, &later)?;
    let req = if rekeyed.is_empty() {
        Cow::Borrowed(req)
    } else {
        let mut moved = req.clone();
        dbsync_core::rekey::rewrite(schema, &mut moved, &rekeyed);
        Cow::Owned(moved)
    };
    let changed: HashSet<(&str, RowId)> = later
        .iter()
        .map(|p| (p.op.table.as_str(), p.op.row_id))
        .collect();
    let current = current_rows(tx, schema, &changed)?;
    let fault = same_row(&req, &changed)
        .or_else(|| parent_changed(schema, &req, &changed))
        .or_else(|| child_written(schema, &req, &current))
        .or_else(|| unique_taken(schema, &req, &current))
        .map(|f| {
            (
                f.reason,
                f.table.to_string(),
                pushed_key(&rekeyed, f.table, f.row_id),
            )
        });
    match fault {
        None => Ok(Cleared { req, rekeyed }),
        Some((reason, table, row_id)) => Err(pull_required(
            latest,
            Some((reason, Some((&table, row_id)))),
        )),
    }
}

/// The key the push gave a row the server re-keyed to `row_id`: an
/// answer names rows as the node knows them.
fn pushed_key(rekeyed: &[Rekey], table: &str, row_id: RowId) -> RowId {
    rekeyed
        .iter()
        .find(|m| m.table == table && RowId::Int(m.to) == row_id)
        .map_or(row_id, |m| RowId::Int(m.from))
}

/// The current rows of the rows later versions named (those that exist).
fn current_rows(
    tx: &mut dyn ReadTx,
    schema: &Schema,
    changed: &HashSet<(&str, RowId)>,
) -> Result<Vec<Row>, Rejection> {
    let mut by_table: BTreeMap<&str, Vec<RowId>> = BTreeMap::new();
    for (table, id) in changed {
        by_table.entry(table).or_default().push(*id);
    }
    let mut rows = Vec::new();
    for (name, ids) in by_table {
        if let Some(t) = schema.table(name) {
            rows.extend(tx.rows(t, &ids)?);
        }
    }
    Ok(rows)
}

/// C1: the push has an op of a row a later version named.
fn same_row<'r>(req: &'r PushRequest, changed: &HashSet<(&str, RowId)>) -> Option<NotClear<'r>> {
    let op = req
        .ops
        .iter()
        .find(|o| changed.contains(&(o.table.as_str(), o.row_id)))?;
    Some(NotClear {
        reason: "row",
        table: &op.table,
        row_id: op.row_id,
    })
}

/// The row ids a row references, with the referenced table's name.
fn references<'a>(schema: &'a Schema, row: &'a Row) -> impl Iterator<Item = (&'a str, RowId)> + 'a {
    schema
        .table(&row.table)
        .into_iter()
        .flat_map(|t| t.foreign_keys.iter())
        .filter_map(|fk| {
            let id = row.values.get(&fk.column).and_then(RowId::from_value)?;
            Some((fk.references.as_str(), id))
        })
}

/// C2: a row of the push references a row a later version named.
fn parent_changed<'r>(
    schema: &Schema,
    req: &'r PushRequest,
    changed: &HashSet<(&str, RowId)>,
) -> Option<NotClear<'r>> {
    let row = req
        .rows
        .iter()
        .find(|r| references(schema, r).any(|p| changed.contains(&p)))?;
    Some(NotClear {
        reason: "parent",
        table: &row.table,
        row_id: row.id,
    })
}

/// C3: a row a later version wrote references a row the push names.
fn child_written<'r>(
    schema: &Schema,
    req: &'r PushRequest,
    current: &[Row],
) -> Option<NotClear<'r>> {
    // Keyed by any borrow, valued by the request's own name, so that the
    // answer borrows the request, not the server's rows.
    let named: HashMap<(&str, RowId), &'r str> = req
        .ops
        .iter()
        .map(|o| ((o.table.as_str(), o.row_id), o.table.as_str()))
        .collect();
    current.iter().find_map(|x| {
        references(schema, x).find_map(|p| {
            named.get(&p).map(|table| NotClear {
                reason: "child",
                table,
                row_id: p.1,
            })
        })
    })
}

/// The values `row` gives the columns of each unique constraint of its
/// table, as text (constraints with a `null` among them hold nothing).
fn unique_keys(schema: &Schema, row: &Row) -> Vec<String> {
    let Some(t) = schema.table(&row.table) else {
        return Vec::new();
    };
    t.unique
        .iter()
        .enumerate()
        .filter_map(|(i, cols)| {
            let vals: Option<Vec<&Value>> = cols
                .iter()
                .map(|c| row.values.get(c).filter(|v| **v != Value::Null))
                .collect();
            vals.map(|v| format!("{}\u{0}{i}\u{0}{}", row.table, json!(v)))
        })
        .collect()
}

/// C4: a row a later version wrote holds a unique value a row of the
/// push writes.
fn unique_taken<'r>(
    schema: &Schema,
    req: &'r PushRequest,
    current: &[Row],
) -> Option<NotClear<'r>> {
    let held: HashSet<String> = current
        .iter()
        .flat_map(|x| unique_keys(schema, x))
        .collect();
    if held.is_empty() {
        return None;
    }
    let row = req
        .rows
        .iter()
        .find(|r| unique_keys(schema, r).iter().any(|k| held.contains(k)))?;
    Some(NotClear {
        reason: "unique",
        table: &row.table,
        row_id: row.id,
    })
}

/// P3's answer: `pull_required` with the latest version, and what
/// conflicted when known.
pub fn pull_required(latest: u64, why: Option<(&str, Option<(&str, RowId)>)>) -> Rejection {
    let mut details = json!({ "latest_version": latest });
    let message = match why {
        None => format!("the server is at version {latest}; pull, merge, then push again"),
        Some((reason, at)) => {
            details["reason"] = json!(reason);
            if let Some((table, row_id)) = at {
                details["table"] = json!(table);
                details["row_id"] = json!(row_id);
                format!("{table} {row_id} is touched by a version after this push's base ({reason}); the server is at version {latest}: pull, merge, then push again")
            } else {
                format!("the server is at version {latest}, too far ahead to compare; pull, merge, then push again")
            }
        }
    };
    Rejection::new(ErrorCode::PullRequired, message).with(details)
}

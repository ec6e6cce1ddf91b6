//! P6a (spec §19.7): a push writes only inside the node's write scope.

use super::keys::{id_of, KeySource};
use super::rules::{ReadRule, Scopes};
use crate::store::ReadTx;
use crate::Rejection;
use dbsync_core::protocol::PushRequest;
use dbsync_core::{Command, ErrorCode, Op, Row, RowId};
use serde_json::json;
use std::collections::HashMap;

/// Refuses, with `forbidden`, a push that writes a row of a read-only
/// table, changes a row outside `keys`, or leaves a row outside them.
pub fn check_write(
    tx: &mut dyn ReadTx,
    scopes: &Scopes,
    keys: &[String],
    req: &PushRequest,
) -> Result<(), Rejection> {
    let pushed: HashMap<(&str, RowId), &Row> = req
        .rows
        .iter()
        .map(|r| ((r.table.as_str(), r.id), r))
        .collect();
    for op in &req.ops {
        let Some(rule) = scopes.table(&op.table) else {
            continue; // P5 refused unknown tables
        };
        if !rule.write {
            return Err(forbidden(op, "the table is read-only for nodes"));
        }
        if op.command != Command::Insert {
            let now = tx.row_scopes(&op.table, &[op.row_id])?.pop();
            if let Some((_, key)) = now {
                if !key.is_some_and(|k| keys.contains(&k)) {
                    return Err(forbidden(op, "the row is outside this node's scope"));
                }
            }
        }
        if op.command != Command::Delete {
            let key = pushed_key(tx, scopes, &pushed, &op.table, op.row_id, 0)?;
            if !key.is_some_and(|k| keys.contains(&k)) {
                return Err(forbidden(op, "the row would be outside this node's scope"));
            }
        }
    }
    Ok(())
}

/// The key the row `id` of `table` has after the push: from the push's
/// own row when it carries one (its parent the same way), else the key
/// the server holds.
fn pushed_key(
    tx: &mut dyn ReadTx,
    scopes: &Scopes,
    pushed: &HashMap<(&str, RowId), &Row>,
    table: &str,
    id: RowId,
    depth: usize,
) -> Result<Option<String>, Rejection> {
    let no_known = HashMap::new();
    let source = KeySource { known: &no_known };
    let Some(row) = pushed.get(&(table, id)) else {
        return Ok(source.key(tx, table, id)?);
    };
    match scopes.table(table).map(|s| &s.read) {
        Some(ReadRule::Parent {
            column,
            table: parent,
        }) if depth < 64 => match row.values.get(column).and_then(id_of) {
            Some(pid) => pushed_key(tx, scopes, pushed, parent, pid, depth + 1),
            None => Ok(None),
        },
        _ => Ok(scopes.key_of(tx, &source, row)?),
    }
}

fn forbidden(op: &Op, why: &str) -> Rejection {
    Rejection::new(
        ErrorCode::Forbidden,
        format!(
            "row {} of table {:?} is outside this node's write scope: {why}",
            op.row_id, op.table
        ),
    )
    .with(json!({ "table": op.table, "row_id": op.row_id }))
}

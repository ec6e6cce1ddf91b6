//! P6a (spec §19.7): a push writes only inside the node's write scope.

use super::keys::{id_of, KeySource};
use super::rules::{ReadRule, Scopes};
use crate::store::ReadTx;
use crate::Rejection;
use dbsync_core::protocol::PushRequest;
use dbsync_core::{Command, ErrorCode, Op, Row, RowId};
use serde_json::json;
use std::collections::{HashMap, HashSet};

/// Refuses, with `forbidden`, a push that writes a row of a read-only
/// table, changes a row outside `keys`, or leaves a row outside them.
pub fn check_write(
    tx: &mut dyn ReadTx,
    scopes: &Scopes,
    keys: &[String],
    req: &PushRequest,
) -> Result<(), Rejection> {
    let pushed = Pushed {
        rows: req
            .rows
            .iter()
            .map(|r| ((r.table.as_str(), r.id), r))
            .collect(),
        deleted: req
            .ops
            .iter()
            .filter(|o| o.command == Command::Delete)
            .map(|o| (o.table.as_str(), o.row_id))
            .collect(),
    };
    for op in &req.ops {
        let Some(rule) = scopes.table(&op.table) else {
            continue; // P5 refused unknown tables
        };
        if !rule.write {
            return Err(forbidden(op, "nodes may not write this table"));
        }
        if op.command != Command::Insert {
            // A row the server does not hold is refused the same way: the
            // answer must not tell a row outside the scope from none.
            let now = tx.row_scopes(&op.table, &[op.row_id])?.pop();
            if !now.and_then(|(_, k)| k).is_some_and(|k| keys.contains(&k)) {
                return Err(forbidden(op, "the server holds no such row in it"));
            }
        }
        if op.command != Command::Delete {
            let key = pushed_key(tx, scopes, &pushed, &op.table, op.row_id, 0)?;
            if !key.is_some_and(|k| keys.contains(&k)) {
                return Err(forbidden(op, "the row's new values would put it outside"));
            }
        }
    }
    Ok(())
}

/// The rows a push writes and the rows it deletes.
struct Pushed<'a> {
    rows: HashMap<(&'a str, RowId), &'a Row>,
    deleted: HashSet<(&'a str, RowId)>,
}

/// The key the row `id` of `table` has after the push (spec §19.7): from
/// the push's own row when it carries one (its parent the same way),
/// none when the push deletes it, else the key the server holds.
fn pushed_key(
    tx: &mut dyn ReadTx,
    scopes: &Scopes,
    pushed: &Pushed<'_>,
    table: &str,
    id: RowId,
    depth: usize,
) -> Result<Option<String>, Rejection> {
    let no_known = HashMap::new();
    let source = KeySource { known: &no_known };
    if pushed.deleted.contains(&(table, id)) {
        return Ok(None);
    }
    let Some(row) = pushed.rows.get(&(table, id)) else {
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

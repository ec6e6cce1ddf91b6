//! P8: applying a checked push (spec §10.2.4) so that its effect is that
//! of all ops at once, on a store that checks unique constraints per
//! statement: deletes first; then the updates of tables with unique
//! constraints, each as a delete and, after all such deletes, a
//! re-insert (so swapped unique values never collide); then inserts;
//! then the other updates; foreign keys are checked at commit.

use crate::push::checks::synced;
use crate::rejection::{row_absent, row_write};
use crate::store::WriteTx;
use crate::Rejection;
use dbsync_core::protocol::PushRequest;
use dbsync_core::RowId;
use dbsync_core::{Command, Op, Row, Schema};
use std::collections::HashMap;

/// Applies `req`'s ops with capture off.
pub fn apply_push(
    tx: &mut dyn WriteTx,
    schema: &Schema,
    req: &PushRequest,
) -> Result<(), Rejection> {
    tx.begin_row_writes()?;
    let values: HashMap<(&str, RowId), &Row> = req
        .rows
        .iter()
        .map(|r| ((r.table.as_str(), r.id), r))
        .collect();
    let of = |command: Command| req.ops.iter().filter(move |o| o.command == command);
    for op in of(Command::Delete) {
        delete(tx, schema, op, "delete")?;
    }
    let mut reinsert = Vec::new();
    for op in of(Command::Update) {
        if !synced(schema, &op.table)?.unique.is_empty() {
            delete(tx, schema, op, "update")?;
            reinsert.push(op);
        }
    }
    // An insert of a key the server holds fails on the primary key: an
    // integrity violation like any other constraint.
    for op in of(Command::Insert).chain(reinsert) {
        let t = synced(schema, &op.table)?;
        tx.insert_row(t, values[&(op.table.as_str(), op.row_id)])
            .map_err(|e| row_write(e, &op.table, op.row_id))?;
    }
    for op in of(Command::Update) {
        let t = synced(schema, &op.table)?;
        if t.unique.is_empty() {
            let updated = tx
                .update_row(t, values[&(op.table.as_str(), op.row_id)])
                .map_err(|e| row_write(e, &op.table, op.row_id))?;
            if !updated {
                return Err(row_absent(&op.table, op.row_id, "update"));
            }
        }
    }
    Ok(())
}

fn delete(tx: &mut dyn WriteTx, schema: &Schema, op: &Op, what: &str) -> Result<(), Rejection> {
    let t = synced(schema, &op.table)?;
    let deleted = tx
        .delete_row(t, op.row_id)
        .map_err(|e| row_write(e, &op.table, op.row_id))?;
    if deleted {
        Ok(())
    } else {
        Err(row_absent(&op.table, op.row_id, what))
    }
}

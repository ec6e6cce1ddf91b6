//! The ops and rows of a push (spec §10.2.3): P4 (not empty), P5 (every
//! op acceptable: O1–O3) and P6 (every row acceptable: W1–W4), before
//! anything is written.

use crate::Rejection;
use dbsync_core::protocol::PushRequest;
use dbsync_core::validate::check_row;
use dbsync_core::RowId;
use dbsync_core::{Command, ErrorCode, Op, Schema, TableSchema};
use serde_json::json;
use std::collections::HashSet;

/// P4–P6.
pub fn check_push(schema: &Schema, req: &PushRequest) -> Result<(), Rejection> {
    if req.ops.is_empty() {
        return Err(Rejection::new(
            ErrorCode::EmptyPush,
            "a push must carry at least one op",
        ));
    }
    let needs_row = check_ops(schema, req)?;
    check_rows(schema, req, &needs_row)
}

/// The table an op or row names, if synced (O1).
pub(crate) fn synced<'s>(schema: &'s Schema, name: &str) -> Result<&'s TableSchema, Rejection> {
    schema
        .table(name)
        .ok_or_else(|| Rejection::unknown_table(name))
}

/// P5: O1 (synced table), O2 (a table nodes push), O3 (one op per row),
/// O4 (a row id of the kind its table's key holds), O5 (changed columns
/// its table has).
/// Returns the rows the `i` and `u` ops need.
fn check_ops<'r>(
    schema: &Schema,
    req: &'r PushRequest,
) -> Result<HashSet<(&'r str, RowId)>, Rejection> {
    let mut seen = HashSet::with_capacity(req.ops.len());
    let mut needs_row = HashSet::with_capacity(req.rows.len());
    for op in &req.ops {
        let t = synced(schema, &op.table)?;
        if !t.direction.pushes() {
            return Err(Rejection::new(
                ErrorCode::DirectionViolation,
                format!("table {:?} is pull-only", t.name),
            )
            .with(json!({"table": t.name, "direction": t.direction.name()})));
        }
        if !seen.insert((op.table.as_str(), op.row_id)) {
            return Err(Rejection::new(
                ErrorCode::DuplicateOp,
                format!("two ops name {} row {}", op.table, op.row_id),
            )
            .with(json!({"table": op.table, "row_id": op.row_id})));
        }
        if !t.holds_id_kind(op.row_id) {
            return Err(Rejection::new(
                ErrorCode::InvalidValue,
                format!(
                    "{} row {}: the table's key is of type {}",
                    op.table,
                    op.row_id,
                    t.key_type.name()
                ),
            )
            .with(json!({"table": op.table, "row_id": op.row_id})));
        }
        check_changed_columns(t, op)?;
        if op.command != Command::Delete {
            needs_row.insert((op.table.as_str(), op.row_id));
        }
    }
    Ok(needs_row)
}

/// O5: a `u`'s changed columns (spec §3.1.1) are non-key columns of its
/// table.
fn check_changed_columns(t: &TableSchema, op: &Op) -> Result<(), Rejection> {
    let unknown = op.columns.iter().flatten().find(|c| t.column(c).is_none());
    match unknown {
        None => Ok(()),
        Some(column) => Err(Rejection::new(
            ErrorCode::UnknownColumn,
            format!(
                "{} {} names the changed column {column}, which {} does not have",
                op.table, op.row_id, op.table
            ),
        )
        .with(json!({"table": op.table, "row_id": op.row_id, "column": column}))),
    }
}

/// P6: every row belongs to an `i` or `u` op, once, and fits its table;
/// every `i` and `u` op has its row.
fn check_rows(
    schema: &Schema,
    req: &PushRequest,
    needs_row: &HashSet<(&str, RowId)>,
) -> Result<(), Rejection> {
    let mut has_row = HashSet::with_capacity(req.rows.len());
    for row in &req.rows {
        if !needs_row.contains(&(row.table.as_str(), row.id))
            || !has_row.insert((row.table.as_str(), row.id))
        {
            return Err(missing_row(
                format!(
                    "row {} {} has no insert or update op (or comes twice)",
                    row.table, row.id
                ),
                &row.table,
                row.id,
            ));
        }
        check_row(schema, row)
            .map_err(|e| Rejection::new(e.code(), e.to_string()).with(e.details()))?;
    }
    if let Some((t, id)) = needs_row.iter().find(|k| !has_row.contains(*k)) {
        return Err(missing_row(
            format!("op on {t} row {id} comes without its row"),
            t,
            *id,
        ));
    }
    Ok(())
}

fn missing_row(message: String, table: &str, row_id: RowId) -> Rejection {
    Rejection::new(ErrorCode::MissingRow, message).with(json!({"table": table, "row_id": row_id}))
}

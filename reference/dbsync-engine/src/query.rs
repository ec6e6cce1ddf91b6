//! Query (spec §14): a read-only query of one pull-capable table with
//! equality filters, Q1–Q4, answered from one read snapshot.

use crate::scope::view::NodeView;
use crate::settings::Limits;
use crate::store::Store;
use crate::Rejection;
use dbsync_core::protocol::{QueryRequest, QueryResponse};
use dbsync_core::{ErrorCode, TableSchema, Value};
use serde_json::json;

/// Answers a read-only query; with a node's `view`, among the rows in its
/// scope only (spec §19.8).
pub fn query(
    store: &dyn Store,
    limits: &Limits,
    req: &QueryRequest,
    view: Option<&NodeView>,
) -> Result<QueryResponse, Rejection> {
    let t = store
        .schema()
        .table(&req.table)
        .ok_or_else(|| Rejection::unknown_table(&req.table))?;
    if !t.direction.pulls() {
        return Err(Rejection::new(
            ErrorCode::DirectionViolation,
            format!("table {:?} is push-only", t.name),
        )
        .with(json!({ "table": t.name, "direction": t.direction.name() })));
    }
    let filter = filter_columns(t, req)?;
    let limit = req
        .limit
        .unwrap_or(limits.query_default)
        .min(limits.query_max) as usize;
    let mut rows = match view {
        None => store.read()?.find(t, &filter, limit + 1)?,
        Some(v) => store.read()?.scoped_find(t, &filter, &v.keys, limit + 1)?,
    };
    let truncated = rows.len() > limit;
    rows.truncate(limit);
    Ok(QueryResponse {
        protocol: dbsync_core::PROTOCOL_VERSION.into(),
        rows,
        truncated,
    })
}

/// The filter's columns, named from the schema (never from the message).
fn filter_columns<'a>(
    t: &'a TableSchema,
    req: &'a QueryRequest,
) -> Result<Vec<(&'a str, &'a Value)>, Rejection> {
    let mut filter = Vec::with_capacity(req.filter.len());
    for (col, v) in &req.filter {
        let column = if *col == t.primary_key {
            t.primary_key.as_str()
        } else {
            t.column(col).map(|c| c.name.as_str()).ok_or_else(|| {
                Rejection::new(
                    ErrorCode::UnknownColumn,
                    format!("table {:?} has no column {col:?}", t.name),
                )
                .with(json!({ "table": t.name, "column": col }))
            })?
        };
        filter.push((column, v));
    }
    Ok(filter)
}

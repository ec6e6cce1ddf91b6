//! Compression vectors (spec §5) on `dbsync_core::compress`.

use super::bad_input;
use crate::node::protocol::LocalError;
use dbsync_core::compress::{compress_pending, compress_pulled};
use dbsync_core::{OplogRecord, VersionedOp};
use serde_json::{json, Value};

pub fn run(vector: &Value) -> Result<Value, LocalError> {
    let input = &vector["input"];
    let ops = input.get("ops").cloned().unwrap_or(Value::Null);
    match input.get("side").and_then(Value::as_str) {
        Some("pending") => {
            let records: Vec<OplogRecord> = serde_json::from_value(ops).map_err(bad_input)?;
            match compress_pending(&records) {
                Ok(ops) => Ok(json!({ "ops": ops })),
                Err(e) => Err(
                    LocalError::new(e.code().as_str(), e.to_string()).with(json!({
                        "table": e.table,
                        "row_id": e.row_id,
                        "sequence": e.sequence,
                    })),
                ),
            }
        }
        Some("pulled") => {
            let pulled: Vec<VersionedOp> = serde_json::from_value(ops).map_err(bad_input)?;
            let c = compress_pulled(&pulled);
            Ok(json!({ "ops": c.ops, "max_row_ids": c.max_row_ids }))
        }
        other => Err(bad_input(format!("unknown side {other:?}"))),
    }
}

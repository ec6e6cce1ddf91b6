//! Schema vectors (spec §2.5.1, §2.3.2, §7.2) on the reference SQLite
//! store: the vector's `CREATE` statements run in a fresh SQLite file, its
//! tables are tracked as a node tracks them, and the outcome is the
//! canonical text and fingerprint the node would send.

use super::bad_input;
use crate::node::protocol::LocalError;
use dbsync_core::TableSpec;
use dbsync_sqlite::{track, Role};
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
struct Input {
    sqlite: Vec<String>,
    tables: Vec<TableSpec>,
}

pub fn run(vector: &Value) -> Result<Value, LocalError> {
    let input: Input = serde_json::from_value(vector["input"].clone()).map_err(bad_input)?;
    let dir = tempfile::tempdir().map_err(internal)?;
    let mut conn = dbsync_sqlite::open(&dir.path().join("node.db")).map_err(internal)?;
    for statement in &input.sqlite {
        conn.execute_batch(statement).map_err(bad_input)?;
    }
    let schema = track::track(&mut conn, &input.tables, Role::Node)
        .map_err(|e| LocalError::new("unsupported_schema", e.to_string()))?;
    Ok(json!({
        "canonical": schema.canonical_text(),
        "fingerprint": schema.fingerprint(),
    }))
}

fn internal(e: impl std::fmt::Display) -> LocalError {
    LocalError::new("internal_error", e.to_string())
}

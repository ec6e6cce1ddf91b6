//! Merge vectors on a real SQLite node database (the reference store).

use super::merge_input::{merge_error, outcome, MergeVectorInput};
use crate::node::protocol::LocalError;
use crate::replica::{self, Side};
use dbsync_core::protocol::{RegisterResponse, VersionInfo};
use dbsync_sqlite::node::{self, NodeError, StagedPull};
use rusqlite::Connection;
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// The time the merge records in the conflict log.
const NOW: u64 = 1_735_732_800;

fn internal(e: impl std::fmt::Display) -> LocalError {
    LocalError::new("internal_error", e.to_string())
}

fn node_error(e: NodeError) -> LocalError {
    match e {
        NodeError::Merge(m) => merge_error(&m),
        NodeError::InvalidPendingSequence(p) => {
            LocalError::new(p.code().as_str(), p.to_string()).with(json!(p))
        }
        other => internal(other),
    }
}

pub fn run(vector: &Value) -> Result<Value, LocalError> {
    let input = MergeVectorInput::of(vector)?;
    let policy = input.policy()?;
    let schema = input.schema();
    let mut conn = Connection::open_in_memory().map_err(internal)?;
    conn.pragma_update(None, "foreign_keys", true)
        .map_err(internal)?;
    replica::create(&mut conn, &schema, Side::Node).map_err(internal)?;
    replica::load_rows(&mut conn, &schema, &input.local.rows).map_err(internal)?;
    replica::record_pending(&conn, &input.local.pending, &input.local.restores)
        .map_err(internal)?;
    node::save_registration(
        &conn,
        "http://conformance.invalid",
        &RegisterResponse {
            protocol: "1.0".into(),
            node_id: 1,
            secret: "WeFOT0W6f9zLUR5Ugq3p685bndLnC-aA234oIyciWvo".into(),
            user_id: None,
            latest_version: 0,
        },
    )
    .map_err(internal)?;
    let versions: BTreeSet<u64> = input.pull.ops.iter().map(|o| o.version).collect();
    let staged = StagedPull::whole(
        versions.iter().next_back().copied().unwrap_or(0),
        versions
            .iter()
            .map(|v| VersionInfo {
                version: *v,
                node_id: None,
                push_id: None,
                created_at: "2025-01-01T12:00:00Z".into(),
            })
            .collect(),
        input.pull.ops.clone(),
        input.pull.rows.clone(),
    );
    node::merge(&mut conn, &schema, policy, staged, NOW).map_err(node_error)?;
    let rows = replica::dump(&conn, &schema).map_err(internal)?;
    let pending = node::compressed_pending(&conn).map_err(node_error)?;
    let restores = node::restores(&conn).map_err(node_error)?;
    let conflicts: Vec<_> = node::conflicts(&conn)
        .map_err(node_error)?
        .into_iter()
        .map(|c| c.entry)
        .collect();
    Ok(outcome(&rows, &pending, &restores, &conflicts))
}

//! From a schema name to the reference implementation's Rust type: parse a
//! JSON document into its type and write it back.

use dbsync_core::merge::ConflictEntry;
use dbsync_core::protocol::*;
use dbsync_core::OplogRecord;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

fn through<T: DeserializeOwned + Serialize>(json: &Value) -> Result<Value, String> {
    let typed: T = serde_json::from_value(json.clone()).map_err(|e| e.to_string())?;
    serde_json::to_value(&typed).map_err(|e| e.to_string())
}

/// Parses `json` as the Rust type of schema `name` and serializes it back.
/// `None` when no Rust type belongs to that schema.
pub fn roundtrip(name: &str, json: &Value) -> Option<Result<Value, String>> {
    Some(match name {
        "register-request" => through::<RegisterRequest>(json),
        "register-response" => through::<RegisterResponse>(json),
        "push-request" => through::<PushRequest>(json),
        "push-response" => through::<PushResponse>(json),
        "pull-request" => through::<PullRequest>(json),
        "pull-response" => through::<PullResponse>(json),
        "repair-request" => through::<RepairRequest>(json),
        "repair-page" => through::<RepairPage>(json),
        "query-request" => through::<QueryRequest>(json),
        "query-response" => through::<QueryResponse>(json),
        "error" => through::<ErrorResponse>(json),
        "oplog-record" => through::<OplogRecord>(json),
        "conflict-entry" => through::<ConflictEntry>(json),
        _ => return None,
    })
}

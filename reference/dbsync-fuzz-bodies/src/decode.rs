//! The `decode` target: arbitrary bytes read as every wire type.
//!
//! Whatever parses must serialize, parse back to an equal value, and
//! serialize again to the same bytes (a receiver that forwards or stores a
//! message never changes it). The server's own reading of a body
//! ([`dbsync_engine::envelope`]) runs on the same bytes: it must never panic.

use dbsync_core::compress::InvalidPendingSequence;
use dbsync_core::merge::{ConflictEntry, Plan, UniqueCollision};
use dbsync_core::model::scenario::{CompressionScenario, MergeScenario};
use dbsync_core::protocol::*;
use dbsync_core::{Command, Op, OplogRecord, Row, Schema, Value, VersionedOp};
use dbsync_engine::envelope as wire;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt::Debug;

/// Parses `data` as `T`; if it parses, checks the round trip.
fn roundtrip<T>(name: &str, data: &[u8])
where
    T: DeserializeOwned + Serialize + PartialEq + Debug,
{
    let Ok(value) = serde_json::from_slice::<T>(data) else {
        return;
    };
    let text = serde_json::to_vec(&value)
        .unwrap_or_else(|e| panic!("{name}: {value:?} parsed but does not serialize: {e}"));
    let back: T = serde_json::from_slice(&text).unwrap_or_else(|e| {
        panic!(
            "{name}: {value:?} serializes to {} which does not parse back: {e}",
            String::from_utf8_lossy(&text)
        )
    });
    assert_eq!(
        back,
        value,
        "{name}: the value changed in a round trip through {}",
        String::from_utf8_lossy(&text)
    );
    let again = serde_json::to_vec(&back).expect("a value that serialized once serializes again");
    assert_eq!(
        String::from_utf8_lossy(&again),
        String::from_utf8_lossy(&text),
        "{name}: serializing is not stable"
    );
}

/// The server's reading of a body: the protocol probe, then each request
/// type with the checks of its JSON Schema.
fn server_reads(data: &[u8]) {
    let _ = wire::check_protocol(data);
    if let Ok(r) = wire::parse::<RegisterRequest>(data) {
        let _ = wire::check_register(&r);
    }
    if let Ok(r) = wire::parse::<PushRequest>(data) {
        let _ = wire::check_push(&r);
    }
    if let Ok(r) = wire::parse::<PullRequest>(data) {
        let _ = wire::check_pull(&r);
    }
    if let Ok(r) = wire::parse::<RepairRequest>(data) {
        let _ = wire::check_repair(&r);
    }
    if let Ok(r) = wire::parse::<QueryRequest>(data) {
        let _ = wire::check_query(&r);
    }
}

/// The target body.
pub fn run(data: &[u8]) {
    // Every message of spec §9–§14 and §17.
    roundtrip::<RegisterRequest>("RegisterRequest", data);
    roundtrip::<RegisterResponse>("RegisterResponse", data);
    roundtrip::<PushRequest>("PushRequest", data);
    roundtrip::<PushResponse>("PushResponse", data);
    roundtrip::<PullRequest>("PullRequest", data);
    roundtrip::<PullResponse>("PullResponse", data);
    roundtrip::<VersionInfo>("VersionInfo", data);
    roundtrip::<RepairRequest>("RepairRequest", data);
    roundtrip::<RepairPage>("RepairPage", data);
    roundtrip::<QueryRequest>("QueryRequest", data);
    roundtrip::<QueryResponse>("QueryResponse", data);
    roundtrip::<ErrorResponse>("ErrorResponse", data);
    roundtrip::<ErrorBody>("ErrorBody", data);
    // Their parts, and the oplog record (spec §3, §4).
    roundtrip::<OplogRecord>("OplogRecord", data);
    roundtrip::<Op>("Op", data);
    roundtrip::<VersionedOp>("VersionedOp", data);
    roundtrip::<Command>("Command", data);
    roundtrip::<Row>("Row", data);
    roundtrip::<Value>("Value", data);
    // What the core reads and writes besides messages: plans, conflict
    // entries, errors, schemas and the spec's scenarios.
    roundtrip::<Plan>("Plan", data);
    roundtrip::<ConflictEntry>("ConflictEntry", data);
    roundtrip::<UniqueCollision>("UniqueCollision", data);
    roundtrip::<InvalidPendingSequence>("InvalidPendingSequence", data);
    roundtrip::<Schema>("Schema", data);
    roundtrip::<CompressionScenario>("CompressionScenario", data);
    roundtrip::<MergeScenario>("MergeScenario", data);
    server_reads(data);
}

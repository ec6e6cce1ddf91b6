//! Every request and response of the protocol (spec §9–§14, §17).
//!
//! Optional fields are `Option` and are left out when `None`; fields the
//! schema requires but allows `null` (`next_cursor`, `user_id`, ...) are
//! always written.

use super::op::{Op, VersionedOp};
use super::row_id::RowId;
use super::value::{Row, Value};
use crate::error::ErrorCode;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Application data: any JSON object the application attaches to a request
/// (spec §7.3). The protocol never interprets it; server hooks may.
pub type AppData = serde_json::Map<String, serde_json::Value>;

/// `POST /v1/register` (spec §9).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// The protocol version, `"1.0"` (spec §7.1).
    pub protocol: String,
    /// The node's schema fingerprint (spec §7.2).
    pub schema: String,
    /// Application data for the server's hooks (spec §7.3).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "super::unique::app_data"
    )]
    pub app_data: Option<AppData>,
    /// The registration token, unless the server allows open registration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// The application user the node is for (spec §9.1, §19.1): accepted
    /// under a registration token when no register hook decides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

/// The answer to a register request (spec §9.3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterResponse {
    /// The protocol version, `"1.0"` (spec §7.1).
    pub protocol: String,
    /// The node's id, 1 to 2^53 − 1: it signs every later request (spec §8).
    #[serde(deserialize_with = "super::integer::u64")]
    pub node_id: u64,
    /// The node's secret, base64url without padding, 32 bytes decoded.
    pub secret: String,
    /// The application user the server attached to the node, if any.
    pub user_id: Option<String>,
    /// The server's latest version when the node was registered.
    #[serde(deserialize_with = "super::integer::u64")]
    pub latest_version: u64,
}

/// `POST /v1/push` (spec §10).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushRequest {
    /// The protocol version, `"1.0"` (spec §7.1).
    pub protocol: String,
    /// The node's schema fingerprint (spec §7.2).
    pub schema: String,
    /// Application data for the server's hooks (spec §7.3).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "super::unique::app_data"
    )]
    pub app_data: Option<AppData>,
    /// Chosen by the node, stored before the first try (spec §10.4).
    pub push_id: String,
    /// The last version the node knows.
    #[serde(deserialize_with = "super::integer::u64")]
    pub base_version: u64,
    /// Compressed pending ops: at most one per row.
    pub ops: Vec<Op>,
    /// The current values of every row an `i` or `u` op names.
    pub rows: Vec<Row>,
    /// For each table, the keys of the push's `i` ops whose rows the node
    /// created (not restores, spec §12.3.5): only these may be re-keyed
    /// (§10.2.2.2). Empty (and absent on the wire) when none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub new_rows: BTreeMap<String, Vec<i64>>,
}

impl PushRequest {
    /// Whether the node says it created row `row_id` of `table` (spec
    /// §10.1).
    /// Only integer keys are ever new rows: text keys are never re-keyed.
    pub fn is_new_row(&self, table: &str, row_id: RowId) -> bool {
        let Some(n) = row_id.as_int() else {
            return false;
        };
        self.new_rows
            .get(table)
            .is_some_and(|keys| keys.contains(&n))
    }
}

/// The answer to an accepted push (spec §10.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushResponse {
    /// The protocol version, `"1.0"` (spec §7.1).
    pub protocol: String,
    /// The version the push became.
    #[serde(deserialize_with = "super::integer::u64")]
    pub version: u64,
    /// The push id of the request, echoed.
    pub push_id: String,
    /// True when this push id had already been applied: nothing was
    /// applied again (spec §10.4).
    pub duplicate: bool,
    /// The inserts the server moved to fresh keys (spec §10.2.2.2), in
    /// the order of the push's ops; empty (and absent on the wire) when
    /// none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rekeyed: Vec<Rekey>,
}

/// One insert of a push that the server moved to a fresh key (spec
/// §10.2.2.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rekey {
    /// The table of the row.
    pub table: String,
    /// The key the push gave the row.
    #[serde(deserialize_with = "super::integer::i64")]
    pub from: i64,
    /// The key the row has on the server.
    #[serde(deserialize_with = "super::integer::i64")]
    pub to: i64,
}

/// One version of the server's history (spec §6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionInfo {
    /// The version (spec §6.1): 1, 2, 3, ... in commit order.
    #[serde(deserialize_with = "super::integer::u64")]
    pub version: u64,
    /// The node whose push made it (`null` for a write made on the server).
    #[serde(default, deserialize_with = "super::integer::option_u64")]
    pub node_id: Option<u64>,
    /// That push's id (`null` for a write made on the server).
    pub push_id: Option<String>,
    /// When the server committed it, RFC 3339 in UTC.
    pub created_at: String,
}

/// `POST /v1/pull` (spec §11).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullRequest {
    /// The protocol version, `"1.0"` (spec §7.1).
    pub protocol: String,
    /// The node's schema fingerprint (spec §7.2).
    pub schema: String,
    /// Application data for the server's hooks (spec §7.3).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "super::unique::app_data"
    )]
    pub app_data: Option<AppData>,
    /// The last version the node knows.
    #[serde(deserialize_with = "super::integer::u64")]
    pub base_version: u64,
    /// The node's compressed pending ops (spec §11.2).
    pub pending: Vec<Op>,
    /// `null` for the first page; then the previous page's `next_cursor`.
    pub cursor: Option<String>,
}

impl PullRequest {
    /// The request for one page of a pull (spec §11.1), without
    /// `app_data`: `pending` goes with the first page only (`cursor`
    /// null); later pages send `[]` (§11.2).
    pub fn page(
        schema: impl Into<String>,
        base_version: u64,
        pending: &[Op],
        cursor: Option<String>,
    ) -> PullRequest {
        PullRequest {
            protocol: crate::PROTOCOL_VERSION.into(),
            schema: schema.into(),
            app_data: None,
            base_version,
            pending: if cursor.is_none() {
                pending.to_vec()
            } else {
                Vec::new()
            },
            cursor,
        }
    }
}

/// One page of a pull (spec §11.3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullResponse {
    /// The protocol version, `"1.0"` (spec §7.1).
    pub protocol: String,
    /// The version the whole transfer brings the node to.
    #[serde(deserialize_with = "super::integer::u64")]
    pub target_version: u64,
    /// The versions this page completes, oldest first.
    pub versions: Vec<VersionInfo>,
    /// Their ops, in server order.
    pub ops: Vec<VersionedOp>,
    /// The rows the ops and the merge need (spec §11.3).
    pub rows: Vec<Row>,
    /// `null` on the last page.
    pub next_cursor: Option<String>,
}

/// `POST /v1/repair` (spec §13).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepairRequest {
    /// The protocol version, `"1.0"` (spec §7.1).
    pub protocol: String,
    /// The node's schema fingerprint (spec §7.2).
    pub schema: String,
    /// Application data for the server's hooks (spec §7.3).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "super::unique::app_data"
    )]
    pub app_data: Option<AppData>,
    /// `null` for the first page; then the previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// One page of a repair snapshot (spec §13.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepairPage {
    /// The protocol version, `"1.0"` (spec §7.1).
    pub protocol: String,
    /// The server's latest version when this page was read.
    #[serde(deserialize_with = "super::integer::u64")]
    pub version: u64,
    /// Rows of the pull-capable synced tables, in snapshot order.
    pub rows: Vec<Row>,
    /// The cursor of the next page; `null` on the last page.
    pub next_cursor: Option<String>,
    /// First page only: how many rows the whole repair sends, counted
    /// when the first page was read (for progress, §13.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(deserialize_with = "super::integer::option_u64")]
    pub total_rows: Option<u64>,
}

/// `POST /v1/query` (spec §14).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryRequest {
    /// The protocol version, `"1.0"` (spec §7.1).
    pub protocol: String,
    /// The node's schema fingerprint (spec §7.2).
    pub schema: String,
    /// Application data for the server's hooks (spec §7.3).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "super::unique::app_data"
    )]
    pub app_data: Option<AppData>,
    /// The synced table to read; not a `push_only` one (spec §14.3).
    pub table: String,
    /// Equality filters, all of which must hold (`null` matches NULL).
    #[serde(rename = "where", deserialize_with = "super::unique::values")]
    pub filter: BTreeMap<String, Value>,
    /// The most rows to return, 1 to 10,000; 100 when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(deserialize_with = "super::integer::option_u32")]
    pub limit: Option<u32>,
}

/// The answer to a query (spec §14.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryResponse {
    /// The protocol version, `"1.0"` (spec §7.1).
    pub protocol: String,
    /// The matching rows, at most `limit` of them.
    pub rows: Vec<Row>,
    /// True when more rows matched than the limit allowed.
    pub truncated: bool,
}

/// The body of every error response (spec §17).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorResponse {
    /// The protocol version, `"1.0"` (spec §7.1).
    pub protocol: String,
    /// What went wrong.
    pub error: ErrorBody,
}

/// The `error` member of an error response (spec §17.1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorBody {
    /// The stable code of the rule broken (spec §17.2).
    pub code: ErrorCode,
    /// A sentence for a person; not stable.
    pub message: String,
    /// Machine-readable facts about the error; the keys per code are in
    /// spec §17.2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Map<String, serde_json::Value>>,
}

//! The wire error (spec §17): a request the server refuses, with its
//! stable code, a sentence for a person and machine-readable details.
//!
//! Stores never build a [`Rejection`]: they report a [`StoreFault`]
//! (answered as `internal_error`, its text logged and never sent) or a
//! [`RowWriteError`] the engine turns into the rule it breaks.

use crate::store::{ForeignKeyViolation, RowWriteError, StoreFault};
use dbsync_core::protocol::{ErrorBody, ErrorResponse};
use dbsync_core::ErrorCode;
use dbsync_core::RowId;
use serde_json::json;

/// A request the server refuses: the code of spec §17, a sentence, and
/// machine-readable details.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    /// The stable code (spec §17.2).
    pub code: ErrorCode,
    /// A sentence for a person; not stable.
    pub message: String,
    /// Machine-readable facts; the keys per code are in spec §17.2.
    pub details: Option<serde_json::Map<String, serde_json::Value>>,
}

impl Rejection {
    /// A rejection without details.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Rejection {
        Rejection {
            code,
            message: message.into(),
            details: None,
        }
    }

    /// The same rejection with `details` (a JSON object; anything else
    /// is ignored).
    pub fn with(mut self, details: serde_json::Value) -> Rejection {
        if let serde_json::Value::Object(map) = details {
            self.details = Some(map);
        }
        self
    }

    /// The error response body.
    pub fn to_response(&self) -> ErrorResponse {
        ErrorResponse {
            protocol: dbsync_core::PROTOCOL_VERSION.into(),
            error: ErrorBody {
                code: self.code,
                message: self.message.clone(),
                details: self.details.clone(),
            },
        }
    }

    /// `internal_error`: the server failed and changed nothing. The
    /// message reveals nothing of the cause (spec §16.3); callers log it.
    pub fn internal() -> Rejection {
        Rejection::new(
            ErrorCode::InternalError,
            "the server failed; nothing was changed, and the request can be retried",
        )
    }

    /// `malformed_request` without a pointer.
    pub fn malformed(message: impl Into<String>) -> Rejection {
        Rejection::new(ErrorCode::MalformedRequest, message)
    }

    /// `malformed_request` naming the member at `pointer`.
    pub fn malformed_at(pointer: String, message: String) -> Rejection {
        Rejection::malformed(format!("{pointer}: {message}")).with(json!({ "pointer": pointer }))
    }

    /// `unknown_node`.
    pub fn unknown_node(node_id: u64) -> Rejection {
        Rejection::new(
            ErrorCode::UnknownNode,
            format!("node {node_id} is not registered on this server"),
        )
        .with(json!({ "node_id": node_id }))
    }

    /// `unknown_table`.
    pub fn unknown_table(table: &str) -> Rejection {
        Rejection::new(
            ErrorCode::UnknownTable,
            format!("table {table:?} is not synced"),
        )
        .with(json!({ "table": table }))
    }

    /// `repair_required` with its `reason` (spec §10.2.2).
    pub fn repair_required(reason: &str, message: String) -> Rejection {
        Rejection::new(ErrorCode::RepairRequired, message).with(json!({ "reason": reason }))
    }

    /// `invalid_cursor`.
    pub fn invalid_cursor(message: &str) -> Rejection {
        Rejection::new(ErrorCode::InvalidCursor, message)
    }

    /// `integrity_violation` for one row (spec §10.2.4).
    pub fn integrity(table: &str, row_id: RowId, reason: &str, message: String) -> Rejection {
        Rejection::new(ErrorCode::IntegrityViolation, message)
            .with(json!({ "table": table, "row_id": row_id, "reason": reason }))
    }
}

impl From<StoreFault> for Rejection {
    fn from(fault: StoreFault) -> Rejection {
        // The cause stays in the server's log (spec §16.3).
        tracing::error!(cause = %fault, "store failure");
        Rejection::internal()
    }
}

/// What a failed row write (or a commit) means for a push (spec
/// §10.2.4): `integrity_violation` with the reason the spec names.
pub(crate) fn row_write(e: RowWriteError, table: &str, row_id: RowId) -> Rejection {
    match e {
        RowWriteError::Fault(f) => f.into(),
        RowWriteError::Exists => Rejection::integrity(
            table,
            row_id,
            "exists",
            format!("{table} row {row_id} to insert is already on the server"),
        ),
        RowWriteError::Unique => Rejection::integrity(
            table,
            row_id,
            "unique",
            format!("{table} row {row_id} holds a unique value another row holds"),
        ),
        RowWriteError::ForeignKey(found) => foreign_key(found),
        RowWriteError::Invalid => Rejection::new(
            ErrorCode::InvalidValue,
            format!("a value of {table} row {row_id} does not fit its column on this server"),
        )
        .with(json!({ "table": table, "row_id": row_id })),
    }
}

/// What a failed commit means (spec §10.2.4): deferred constraints are
/// checked there, and the store may not tell which row broke one.
pub(crate) fn commit_failed(e: RowWriteError) -> Rejection {
    match e {
        RowWriteError::Fault(f) => f.into(),
        RowWriteError::ForeignKey(found) => foreign_key(found),
        RowWriteError::Invalid => Rejection::new(
            ErrorCode::InvalidValue,
            "a value does not fit its column on this server",
        ),
        RowWriteError::Unique | RowWriteError::Exists => Rejection::new(
            ErrorCode::IntegrityViolation,
            "the push breaks a unique constraint",
        )
        .with(json!({ "reason": "unique" })),
    }
}

/// `integrity_violation`, reason `foreign_key`, naming the row and column
/// when the store could tell.
pub(crate) fn foreign_key(found: Option<ForeignKeyViolation>) -> Rejection {
    match found {
        Some(v) => Rejection::new(
            ErrorCode::IntegrityViolation,
            format!(
                "{} row {} references a {} row that does not exist (column {})",
                v.table, v.row_id, v.parent, v.column
            ),
        )
        .with(json!({
            "table": v.table, "row_id": v.row_id, "reason": "foreign_key", "column": v.column
        })),
        None => Rejection::new(
            ErrorCode::IntegrityViolation,
            "the push leaves a foreign key pointing at a missing row",
        )
        .with(json!({ "reason": "foreign_key" })),
    }
}

/// `integrity_violation`, reason `absent`: the row an op changes is not
/// on the server.
pub(crate) fn row_absent(table: &str, row_id: RowId, what: &str) -> Rejection {
    Rejection::integrity(
        table,
        row_id,
        "absent",
        format!("{table} row {row_id} to {what} is not on the server"),
    )
}

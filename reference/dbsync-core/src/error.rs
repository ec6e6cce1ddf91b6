//! The error model (spec §17): one stable machine code per rule broken.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! error_codes {
    ($( $(#[$doc:meta])* $variant:ident = $code:literal, $status:literal, $wire:literal; )*) => {
        /// A stable error code. The string form never changes within
        /// protocol version 1; the HTTP status is the one spec §17.2 gives.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum ErrorCode {
            $( $(#[$doc])* #[serde(rename = $code)] $variant, )*
        }

        impl ErrorCode {
            /// Every code, in the order of the table in spec §17.2.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The code as it appears on the wire.
            pub fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $code,)* }
            }

            /// The HTTP status a server answers with (0 for local codes).
            pub fn http_status(self) -> u16 {
                match self { $(ErrorCode::$variant => $status,)* }
            }

            /// Whether the code can appear in an error response on the wire
            /// (`false`: only a node reports it, locally).
            pub fn on_wire(self) -> bool {
                match self { $(ErrorCode::$variant => $wire,)* }
            }

            /// Parses a wire code.
            pub fn parse(s: &str) -> Option<ErrorCode> {
                match s { $($code => Some(ErrorCode::$variant),)* _ => None }
            }
        }
    };
}

error_codes! {
    /// The body is not JSON, or not the message the path expects.
    MalformedRequest = "malformed_request", 400, true;
    /// The `protocol` field names a version the server does not speak.
    UnsupportedProtocol = "unsupported_protocol", 400, true;
    /// The request's content type is not `application/json`.
    UnsupportedMediaType = "unsupported_media_type", 415, true;
    /// The body is larger than the server's limit.
    BodyTooLarge = "body_too_large", 413, true;
    /// No endpoint has this path.
    NotFound = "not_found", 404, true;
    /// The path exists but not with this method.
    MethodNotAllowed = "method_not_allowed", 405, true;
    /// The headers or body did not arrive in time.
    RequestTimeout = "request_timeout", 408, true;
    /// The server failed; nothing was changed.
    InternalError = "internal_error", 500, true;
    /// An authentication header is missing or not well formed.
    MissingCredentials = "missing_credentials", 401, true;
    /// The node id is not registered on this server.
    UnknownNode = "unknown_node", 401, true;
    /// The MAC does not match the request.
    BadSignature = "bad_signature", 401, true;
    /// The timestamp is outside the server's clock-skew window.
    StaleTimestamp = "stale_timestamp", 401, true;
    /// The nonce was already used by this node inside the window.
    ReplayedNonce = "replayed_nonce", 401, true;
    /// Registration needs a valid registration token.
    RegistrationRefused = "registration_refused", 403, true;
    /// The server accepts no more registrations for now: retry after
    /// `details.retry_after` seconds (spec §9.6).
    RateLimited = "rate_limited", 429, true;
    /// The request's schema fingerprint differs from the server's.
    SchemaMismatch = "schema_mismatch", 409, true;
    /// A table name is not a synced table.
    UnknownTable = "unknown_table", 400, true;
    /// A column name is not a column of its table.
    UnknownColumn = "unknown_column", 400, true;
    /// A value does not fit its column's type, or a NOT NULL column is null.
    InvalidValue = "invalid_value", 400, true;
    /// The push's base version is not the server's latest: pull first.
    PullRequired = "pull_required", 409, true;
    /// A push carries no ops.
    EmptyPush = "empty_push", 400, true;
    /// A push id already applied with different content.
    PushIdReused = "push_id_reused", 409, true;
    /// Two ops of one message name the same row.
    DuplicateOp = "duplicate_op", 400, true;
    /// An insert or update without its row, or a row no op needs.
    MissingRow = "missing_row", 400, true;
    /// A push carries a pull-only table.
    DirectionViolation = "direction_violation", 403, true;
    /// Applying the push would break a foreign key or unique constraint.
    IntegrityViolation = "integrity_violation", 409, true;
    /// An application hook refused the request.
    HookRejected = "hook_rejected", 403, true;
    /// A cursor the server did not issue, or one for another transfer.
    InvalidCursor = "invalid_cursor", 400, true;
    /// The node's version is trimmed, unknown or it was unseen too long.
    RepairRequired = "repair_required", 410, true;
    /// (local) Pulled rows hold unique values of other local rows.
    UniqueCollision = "unique_collision", 0, false;
    /// (local) A unique collision's resolution cannot be applied; nothing
    /// was changed (spec §12.2.4).
    ResolutionRefused = "resolution_refused", 0, false;
    /// (local) Pending ops of one row form a sequence no rule allows.
    InvalidPendingSequence = "invalid_pending_sequence", 0, false;
    /// (local) The node has no credentials yet.
    NotRegistered = "not_registered", 0, false;
    /// (local) The server could not be reached.
    NetworkUnreachable = "network_unreachable", 0, false;
    /// (local) The server's TLS certificate is not trusted.
    UntrustedCertificate = "untrusted_certificate", 0, false;
    /// (local) The node's own settings are unusable (server URL, CA file).
    InvalidConfiguration = "invalid_configuration", 0, false;
    /// (local) Another connection held the database's write lock for longer
    /// than the node's busy timeout; nothing was changed.
    DatabaseBusy = "database_busy", 0, false;
    /// (local) Tables to track hold rows, and nobody said whether to push
    /// them or have the server's copy replace them.
    ExistingRows = "existing_rows", 0, false;
    /// (local) Tables to sync break a rule of spec §2 (or hold a value
    /// their columns cannot carry); nothing was tracked.
    TableRefused = "table_refused", 0, false;
    /// (local) A repair would discard local work the server may not have.
    UnpushedChanges = "unpushed_changes", 0, false;
    /// (local) Pending ops that must travel in one push do not fit in one
    /// request, and none may go ahead in a part (spec §10.1.2).
    PushTooLarge = "push_too_large", 0, false;
    /// The request writes a row outside the node's write scope (spec
    /// §19.7); nothing was changed.
    Forbidden = "forbidden", 403, true;
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

//! # dbsync-core
//!
//! The database-agnostic heart of dbsync (spec chapters in brackets):
//!
//! - [`protocol`]: the wire messages, operations and values (spec §3, §4, §6, §9–§14);
//! - [`schema`]: the synced-table model and its fingerprint (spec §2, §7.2);
//! - [`error`]: the stable error codes of the error model (spec §17);
//! - [`auth`]: request signing and its headers (spec §8);
//! - [`validate`]: checking a row against its table (spec §2.2, §4);
//! - [`compress`]: oplog compression (spec §5);
//! - [`merge`]: merge planning: conflicts, policies, the plan (spec §12);
//! - [`parts`]: which pending ops may go ahead when a push takes several
//!   requests (spec §10.1.2);
//! - [`model`]: an in-memory store that applies plans, for tests and the
//!   conformance kit (spec §5, §12 scenarios).
//!
//! Architecture invariant: this crate has no database, network, async or
//! file-system dependency. Stores and transports live in other crates.

#![deny(missing_docs)]

pub mod auth;
mod column_union;
pub mod compress;
pub mod error;
pub mod merge;
pub mod model;
pub mod parts;
pub mod protocol;
pub mod rekey;
pub mod schema;
pub mod validate;

pub use compress::{compress_pending, compress_pulled, CompressedPull, InvalidPendingSequence};
pub use error::ErrorCode;
pub use merge::{plan, LocalView, MergeError, MergeInput, NodeWins, Plan, Policy, ServerWins};
pub use model::MemoryStore;

pub use protocol::op::{ChangedColumns, Command, Op, OplogRecord, VersionedOp};
pub use protocol::row_id::RowId;
pub use protocol::value::{Row, Value};
pub use schema::{
    Column, ColumnType, Direction, ForeignKey, KeyType, Schema, TableSchema, TableSpec,
};

/// The protocol version this crate speaks (spec §7.1).
pub const PROTOCOL_VERSION: &str = "1.0";

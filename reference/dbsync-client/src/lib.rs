//! # dbsync-client
//!
//! A node of dbsync over a SQLite file: register, push, pull (with the
//! merge), sync, repair, query, status and the conflict log (spec §9–§14).
//!
//! An existing SQLite application syncs with three calls: [`Node::open`]
//! tracks its tables (spec §2, §3.4), [`Node::register`] gets the node's
//! credentials from the server once (spec §9), and [`Node::sync`] pushes
//! the application's writes and merges everyone else's (spec §10–§12),
//! on a timer or after the application writes. The application keeps its
//! own connections; its writes are captured by triggers, whichever
//! connection makes them:
//!
//! ```
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # dbsync_client::doc_example!(url, path);
//! use dbsync_client::{ExistingRows, Node, OpenOptions, TableSpec};
//! use std::time::Duration;
//!
//! // `path`: the application's SQLite file, which already holds data.
//! let app = rusqlite::Connection::open(&path)?;
//! app.execute("INSERT INTO city (name) VALUES ('Lisbon')", [])?;
//!
//! let tables = [TableSpec::both("city"), TableSpec::both("person")];
//! let options = OpenOptions::default()
//!     // The rows the tables hold are this node's own work: push them
//!     // (spec §3.5). Without this, `open` refuses a table that holds rows.
//!     .with_existing_rows(ExistingRows::Push)
//!     // How long the node waits for the application's transactions.
//!     .with_busy_timeout(Duration::from_secs(10));
//! let node = Node::open_with(&path, &tables, &options)?;
//! // `url`: the dbsync server, which asks for a registration token.
//! node.register(&url, Some("let-me-in")).await?;
//!
//! app.execute("INSERT INTO city (name) VALUES ('Porto')", [])?;
//! let report = node.sync().await?;
//! assert_eq!(report.pushed_ops, 2); // Lisbon and Porto
//! # Ok(()) }
//! ```
//!
//! Each procedure's page has an example that runs against a real server:
//!
//! | procedure | spec | |
//! |---|---|---|
//! | [`Node::register`] | §9 | credentials from the server, once |
//! | [`Node::push`] | §10 | send the pending ops |
//! | [`Node::pull`] | §11, §12 | fetch and merge what others pushed |
//! | [`Node::sync`] | §11.7 | push, pulling first when needed |
//! | [`Node::repair`], [`Node::repair_with`] | §13 | replace the tables with the server's |
//! | [`Node::query`] | §14 | read the server's rows without pulling |
//! | [`Node::status`] | | what the node knows of itself |
//! | [`Node::conflicts`] | §12.7 | the conflict log |
//! | [`Node::with_policy`] | §12.4 | an application's own resolution policy |
//!
//! Everything a procedure takes and gives is re-exported here (table
//! specs, policies, reports, values, error codes), so an application needs
//! no other dbsync crate. Failures are [`ClientError`]s, each with a
//! stable code ([`ClientError::code`], spec §17).
//!
//! The repository's `docs/embedding.md` walks from an existing SQLite
//! application to a syncing one.

#![deny(missing_docs)]

mod connect;
mod credentials;
mod error;
mod node;
mod options;
mod progress;
mod pull;
mod push;
mod report;
mod resolve;
mod rounds;
mod tls;
pub mod transport;

#[doc(hidden)]
pub mod doctest_support;

// What the procedures take and give, so that an application needs no
// other dbsync crate to call them.
pub use dbsync_core::compress::InvalidPendingSequence;
pub use dbsync_core::merge::{
    ConflictEntry, ConflictKind, DirectConflict, NodeWins, Policy, Resolution, RowRef, Rule,
    ServerWins, UniqueCollision, Winner,
};
pub use dbsync_core::protocol::value::Values;
pub use dbsync_core::protocol::{AppData, QueryResponse, RegisterResponse};
pub use dbsync_core::{
    Command, Direction, ErrorCode, KeyType, Row, RowId, Schema, TableSpec, Value,
};
pub use dbsync_sqlite::node::{LocalWork, LoggedConflict, MergeReport, RepairReport, Resolved};
pub use dbsync_sqlite::{ExistingRows, ExistingRowsRefused};
pub use error::ClientError;
pub use node::Node;
pub use options::{OpenOptions, RepairOptions};
pub use progress::{Procedure, Progress, ProgressFn};
pub use report::{PushOutcome, Status, SyncReport};
pub use resolve::SpecPolicy;
pub use tls::CaCert;
pub use transport::Timeouts;

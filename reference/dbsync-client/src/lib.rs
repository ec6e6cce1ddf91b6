//! # dbsync-client
//!
//! A node of dbsync over a SQLite file: register, push, pull (with the
//! merge), sync, repair, query, status and the conflict log (spec §9–§14).
//!
//! Everything a procedure takes and gives is re-exported here (table
//! specs, policies, reports), so an application needs no other dbsync
//! crate:
//!
//! ```no_run
//! use dbsync_client::{Node, ServerWins, TableSpec};
//! use std::sync::Arc;
//! # async fn demo() -> Result<(), dbsync_client::ClientError> {
//! let tables = [TableSpec::both("city"), TableSpec::both("person")];
//! let node = Node::open(std::path::Path::new("app.db"), &tables)?
//!     .with_policy(Arc::new(ServerWins));
//! node.register("http://127.0.0.1:8080", Some("token")).await?;
//! let report = node.sync().await?;
//! println!("pushed {} ops", report.pushed_ops);
//! # Ok(()) }
//! ```

mod connect;
mod credentials;
mod error;
mod node;
mod options;
mod progress;
mod tls;
pub mod transport;

// What the procedures take and give, so that an application needs no
// other dbsync crate to call them.
pub use dbsync_core::merge::{ConflictEntry, NodeWins, Policy, ServerWins};
pub use dbsync_core::{Direction, TableSpec};
pub use dbsync_sqlite::node::{LocalWork, LoggedConflict, MergeReport, RepairReport};
pub use dbsync_sqlite::ExistingRows;
pub use error::ClientError;
pub use node::{Node, PushOutcome, Status, SyncReport};
pub use options::{OpenOptions, RepairOptions};
pub use progress::{Procedure, Progress};
pub use tls::CaCert;
pub use transport::Timeouts;

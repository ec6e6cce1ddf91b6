//! # dbsync-client
//!
//! A node of dbsync over a SQLite file: register, push, pull (with the
//! merge), sync, repair, query, status and the conflict log (spec §9–§14).
//!
//! ```no_run
//! # async fn demo() -> Result<(), dbsync_client::ClientError> {
//! let node = dbsync_client::Node::open(std::path::Path::new("app.db"), &[])?;
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

pub use dbsync_sqlite::node::{LocalWork, RepairReport};
pub use dbsync_sqlite::ExistingRows;
pub use error::ClientError;
pub use node::{Node, PushOutcome, Status, SyncReport};
pub use options::{OpenOptions, RepairOptions};
pub use progress::{Procedure, Progress};
pub use tls::CaCert;
pub use transport::Timeouts;

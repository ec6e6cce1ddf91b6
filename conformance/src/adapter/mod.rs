//! The reference implementation's adapter (the program behind
//! `dbsync-conformance-adapter`): answers node vectors and history
//! commands with the reference crates, as any port's adapter would with
//! its own code.
//!
//! - `compression` vectors run `dbsync_core::compress`;
//! - `schema` vectors track the vector's SQLite tables with the reference
//!   store and answer the canonical text and fingerprint;
//! - `merge` vectors run on a real SQLite node database
//!   ([`Store::Sqlite`], the default: tables created, tracked, loaded,
//!   pending ops recorded, then `dbsync_sqlite::node::merge`) or on the
//!   core's in-memory model store ([`Store::Memory`]);
//! - history commands (`open`, `write`, `push`, ...) drive one reference
//!   node over HTTP ([`host`]); the runner plays `history` vectors and
//!   generated histories through them.

mod compression;
pub mod host;
mod memory;
mod merge_input;
mod schema;
mod sqlite;

use crate::node::protocol::{Answer, Incoming, LocalError, Reply};
use serde_json::Value;

/// Where merge vectors run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Store {
    /// A real SQLite node database (the reference store).
    #[default]
    Sqlite,
    /// The core's in-memory model store.
    Memory,
}

/// The reply to one vector.
pub fn reply(vector: &Value, store: Store) -> Reply {
    let result = match vector.get("kind").and_then(Value::as_str) {
        Some("compression") => compression::run(vector),
        Some("schema") => schema::run(vector),
        Some("merge") => match store {
            Store::Sqlite => sqlite::run(vector),
            Store::Memory => memory::run(vector),
        },
        Some(other) => {
            return Reply::NotImplemented(format!(
                "this adapter does not play {other} vectors as a whole (history vectors \
                 play through the history commands)"
            ))
        }
        None => Err(LocalError::new(
            "malformed_request",
            "the vector has no `kind`",
        )),
    };
    match result {
        Ok(outcome) => Reply::Outcome(outcome),
        Err(e) => Reply::Error(e),
    }
}

/// One adapter process: where merge vectors run, and the node its
/// history commands drive.
pub struct AdapterState {
    store: Store,
    host: host::Host,
}

impl AdapterState {
    pub fn new(store: Store) -> AdapterState {
        AdapterState {
            store,
            host: host::Host::new(),
        }
    }

    /// Answers one request line.
    pub fn answer_line(&mut self, line: &str) -> String {
        let (id, reply) = match Incoming::parse(line) {
            Ok(Incoming::Vector(req)) => (req.id, reply(&req.vector, self.store)),
            Ok(Incoming::Command(c)) => (c.id, self.host.reply(&c.command, &c.args)),
            Err(e) => {
                // Without a readable id, answer with id 0: the runner reports it.
                let id = serde_json::from_str::<Value>(line)
                    .ok()
                    .and_then(|v| v.get("id").and_then(Value::as_u64))
                    .unwrap_or(0);
                (
                    id,
                    Reply::Error(LocalError::new(
                        "malformed_request",
                        format!("not a request: {e}"),
                    )),
                )
            }
        };
        Answer { id, reply }.to_line()
    }
}

/// An input the adapter cannot read.
fn bad_input(e: impl std::fmt::Display) -> LocalError {
    LocalError::new("malformed_request", format!("the vector's input: {e}"))
}

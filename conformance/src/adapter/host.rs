//! History commands on the reference node (the history protocol,
//! `crate::node::history`): one `dbsync_client::Node` over a real SQLite
//! file, syncing over HTTP with the server the runner names.
//!
//! `pull` with `crash` ends the process inside the merge's transaction:
//! an update hook notes the merge's first write, then SQLite's progress
//! handler counts `after` × 64 virtual-machine steps (or the commit hook
//! fires) and the process exits on the spot, so the uncommitted
//! transaction is lost as it would be in a real crash.

use crate::ddl;
use crate::history::writes::{self, WriteError};
use crate::node::history::*;
use crate::node::protocol::{LocalError, Reply};
use crate::replica;
use dbsync_client::{ClientError, Node, PushOutcome};
use dbsync_core::merge::{NodeWins, Policy, ServerWins};
use dbsync_core::Schema;
use dbsync_sqlite::TableSpec;
use rusqlite::hooks::Action;
use rusqlite::Connection;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;

/// The node an adapter process hosts, once opened.
struct Hosted {
    node: Node,
    schema: Schema,
}

/// The history side of the reference adapter.
pub struct Host {
    runtime: tokio::runtime::Runtime,
    opened: Option<Hosted>,
}

fn local(code: &str, message: impl Into<String>) -> LocalError {
    LocalError::new(code, message)
}

fn bad_args(e: impl std::fmt::Display) -> LocalError {
    local("malformed_request", format!("the command's args: {e}"))
}

fn internal(e: impl std::fmt::Display) -> LocalError {
    local("internal_error", e.to_string())
}

/// A client failure as the local error of spec §17.1.
fn client_error(e: ClientError) -> LocalError {
    let err = local(e.code().as_str(), e.to_string());
    match e {
        ClientError::Rejected {
            details: Some(d), ..
        } => err.with(Value::Object(d)),
        ClientError::UniqueCollisions(c) => err.with(json!({ "collisions": c })),
        ClientError::InvalidPendingSequence(p) => err.with(json!(p)),
        _ => err,
    }
}

fn outcome(v: impl Serialize) -> Result<Value, LocalError> {
    serde_json::to_value(v).map_err(internal)
}

fn args<T: DeserializeOwned>(v: &Value) -> Result<T, LocalError> {
    let v = if v.is_null() { json!({}) } else { v.clone() };
    serde_json::from_value(v).map_err(bad_args)
}

fn policy(name: &str) -> Result<Arc<dyn Policy + Send + Sync>, LocalError> {
    match name {
        "node_wins" => Ok(Arc::new(NodeWins)),
        "server_wins" => Ok(Arc::new(ServerWins)),
        other => Err(bad_args(format!("unknown policy {other:?}"))),
    }
}

/// Creates the tables the first time (a database without them).
fn create_tables(path: &Path, schema: &Schema, dialect: ddl::Dialect) -> Result<(), LocalError> {
    let conn = dbsync_sqlite::open(path).map_err(internal)?;
    let first = schema.tables.first().map(|t| t.name.as_str()).unwrap_or("");
    let exists: bool = conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?1)",
            [first],
            |r| r.get(0),
        )
        .map_err(internal)?;
    if !exists {
        conn.execute_batch(&ddl::create_all_in(dialect, schema))
            .map_err(internal)?;
    }
    Ok(())
}

impl Host {
    pub fn new() -> Host {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        Host {
            runtime,
            opened: None,
        }
    }

    /// Answers one history command.
    pub fn reply(&mut self, command: &str, args: &Value) -> Reply {
        let result = match command {
            "open" => self.open(args),
            _ => match &self.opened {
                None => Err(local(
                    "not_registered",
                    format!("{command} before open: open a node first"),
                )),
                Some(o) => self.on_node(o, command, args),
            },
        };
        match result {
            Ok(v) => Reply::Outcome(v),
            Err(e) if e.code == "not_implemented" => Reply::NotImplemented(e.message),
            Err(e) => Reply::Error(e),
        }
    }

    fn open(&mut self, a: &Value) -> Result<Value, LocalError> {
        let a: OpenArgs = args(a)?;
        let schema = Schema::new(a.tables.clone());
        let path = Path::new(&a.path);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(internal)?;
        }
        let dialect = if a.reused_keys {
            ddl::Dialect::SqliteReusingKeys
        } else {
            ddl::Dialect::Sqlite
        };
        create_tables(path, &schema, dialect)?;
        let specs: Vec<TableSpec> = replica::specs(&schema);
        let node = Node::open(path, &specs)
            .map_err(client_error)?
            .with_policy(policy(&a.policy)?)
            .with_server(&a.server);
        // Durability against power loss is not under test; a process
        // crash loses nothing the OS has.
        node.database()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pragma_update(None, "synchronous", "off")
            .map_err(internal)?;
        let status = self.runtime.block_on(node.status()).map_err(client_error)?;
        let node_id = match status.node_id {
            Some(id) => id,
            None => {
                let reg = self
                    .runtime
                    .block_on(node.register(&a.server, a.token.as_deref()));
                reg.map_err(client_error)?.node_id
            }
        };
        self.opened = Some(Hosted { node, schema });
        outcome(Opened { node_id })
    }

    fn on_node(&self, o: &Hosted, command: &str, a: &Value) -> Result<Value, LocalError> {
        let node = &o.node;
        let rt = &self.runtime;
        match command {
            "write" => {
                let a: WriteArgs = args(a)?;
                let db = node.database();
                let mut conn = db.lock().unwrap_or_else(|p| p.into_inner());
                match writes::execute(&mut conn, &o.schema, &a.writes) {
                    Ok(ids) => outcome(WriteOutcome { ids }),
                    Err(WriteError::Refused(why)) => Err(local(CONSTRAINT_VIOLATION, why)),
                    Err(WriteError::Unknown(why)) => Err(bad_args(why)),
                    Err(e) => Err(internal(e)),
                }
            }
            "push" => match rt.block_on(node.push()).map_err(client_error)? {
                PushOutcome::NothingToPush => outcome(Pushed {
                    pushed: false,
                    version: None,
                    duplicate: false,
                }),
                PushOutcome::Pushed {
                    version, duplicate, ..
                } => outcome(Pushed {
                    pushed: true,
                    version: Some(version),
                    duplicate,
                }),
            },
            "pull" => {
                let a: PullArgs = args(a)?;
                if let Some(crash) = a.crash {
                    arm_crash(
                        &mut node.database().lock().unwrap_or_else(|p| p.into_inner()),
                        crash,
                    )
                    .map_err(internal)?;
                }
                let merged = rt.block_on(node.pull());
                disarm(&mut node.database().lock().unwrap_or_else(|p| p.into_inner()))
                    .map_err(internal)?;
                outcome(Synced {
                    version: merged.map_err(client_error)?.version,
                })
            }
            "sync" => outcome(Synced {
                version: rt.block_on(node.sync()).map_err(client_error)?.version,
            }),
            "repair" => outcome(Synced {
                version: rt.block_on(node.repair()).map_err(client_error)?,
            }),
            "rows" => {
                let db = node.database();
                let conn = db.lock().unwrap_or_else(|p| p.into_inner());
                outcome(RowsOutcome {
                    rows: replica::dump(&conn, &o.schema).map_err(internal)?,
                })
            }
            "conflicts" => outcome(ConflictsOutcome {
                conflicts: rt
                    .block_on(node.conflicts())
                    .map_err(client_error)?
                    .into_iter()
                    .map(|c| c.entry)
                    .collect(),
            }),
            "status" => {
                let st = rt.block_on(node.status()).map_err(client_error)?;
                let db = node.database();
                let conn = db.lock().unwrap_or_else(|p| p.into_inner());
                let pending = dbsync_sqlite::node::compressed_pending(&conn)
                    .map_err(|e| client_error(e.into()))?;
                outcome(Status {
                    last_version: st.last_version,
                    pending,
                    outstanding_push: st.outstanding_push.is_some(),
                })
            }
            other => Err(local(
                "not_implemented",
                format!("no history command {other:?}"),
            )),
        }
    }
}

impl Default for Host {
    fn default() -> Host {
        Host::new()
    }
}

/// Ends the process now, as a crash would (no destructor, no rollback).
fn crash_now() -> ! {
    std::process::exit(CRASH_EXIT)
}

/// Makes the next merge's transaction end the process: after about
/// `after` × 64 virtual-machine steps from its first write, or at its
/// commit.
fn arm_crash(conn: &mut Connection, crash: Crash) -> rusqlite::Result<()> {
    let merging = Arc::new(AtomicBool::new(false));
    let first_write = merging.clone();
    conn.update_hook(Some(move |_: Action, _: &str, _: &str, _: i64| {
        first_write.store(true, Ordering::Relaxed);
    }))?;
    if crash.at_commit {
        conn.commit_hook(Some(move || {
            if merging.load(Ordering::Relaxed) {
                crash_now();
            }
            false
        }))?;
    } else {
        let left = AtomicI64::new(i64::from(crash.after.unwrap_or(0)) + 1);
        conn.progress_handler(
            64,
            Some(move || {
                if merging.load(Ordering::Relaxed) && left.fetch_sub(1, Ordering::Relaxed) <= 1 {
                    crash_now();
                }
                false
            }),
        )?;
    }
    Ok(())
}

fn disarm(conn: &mut Connection) -> rusqlite::Result<()> {
    conn.update_hook(None::<fn(Action, &str, &str, i64)>)?;
    conn.commit_hook(None::<fn() -> bool>)?;
    conn.progress_handler(0, None::<fn() -> bool>)
}

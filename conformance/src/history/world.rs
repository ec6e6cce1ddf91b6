//! The databases of a history: one server and the nodes, each a real SQLite
//! file in a temporary folder with one connection, opened the way the
//! reference server and client open theirs.

use super::case::Case;
use super::edits::Fresh;
use super::ledger::Ledger;
use super::model::ServerModel;
use super::server::{ServerDb, ServerStore};
use super::{failed, Failure, Stats};
use crate::replica::{self, Side};
use dbsync_core::merge::{NodeWins, Policy, ServerWins};
use dbsync_core::protocol::RegisterRequest;
use dbsync_core::Schema;
use dbsync_engine::settings::Limits;
use dbsync_sqlite::node;
use rusqlite::Connection;
use std::path::{Path, PathBuf};

/// The clock of a history (fixed: timestamps do not matter here).
pub const NOW: u64 = 1_735_732_800;

/// One node.
pub struct NodeDb {
    pub path: PathBuf,
    pub conn: Connection,
    pub id: u64,
    /// Push ids made so far (push ids are `p-<node>-<n>`).
    pub pushes: u32,
    /// The policy its merges use.
    pub policy: &'static dyn Policy,
}

/// The server, the nodes and what the checks need to know.
pub struct World {
    pub schema: Schema,
    pub fingerprint: String,
    pub server: ServerDb,
    pub nodes: Vec<NodeDb>,
    pub ledger: Ledger,
    pub model: ServerModel,
    pub stats: Stats,
    /// Values no other write of this history uses.
    pub fresh: Fresh,
    // Declared last: dropped after the connections.
    _dir: tempfile::TempDir,
}

/// Opens a database as the reference does (foreign keys on, WAL, busy
/// timeout). Durability is not under test here (crashes are simulated at
/// the connection), so commits do not wait for the disk.
fn open(path: &Path) -> Result<Connection, Failure> {
    let conn = dbsync_sqlite::open(path).map_err(|e| failed("opening")(&e))?;
    conn.pragma_update(None, "synchronous", "off")?;
    Ok(conn)
}

impl World {
    /// Creates the server (on `store`) and registers every node.
    pub fn new(case: &Case, store: ServerStore) -> Result<World, Failure> {
        let schema = case.schema();
        let dir = tempfile::Builder::new()
            .prefix("dbsync-history-")
            .tempdir()
            .map_err(|e| failed("temporary folder")(&e))?;
        let limits = Limits {
            pull_page_ops: case.page_ops.max(1) as usize,
            ..Limits::default()
        };
        let server = ServerDb::create(store, dir.path(), &schema, case.sqlite_dialect(), limits)?;
        let register = RegisterRequest {
            protocol: dbsync_core::PROTOCOL_VERSION.into(),
            schema: schema.fingerprint(),
            app_data: None,
            token: None,
            user: None,
        };
        let mut nodes = Vec::new();
        for i in 0..case.nodes.max(1) {
            let path = dir.path().join(format!("node{i}.db"));
            let mut conn = open(&path)?;
            replica::create_in(case.sqlite_dialect(), &mut conn, &schema, Side::Node)?;
            let reg = server
                .engine
                .register(&register, NOW)
                .map_err(|r| Failure::new(format!("register: {}: {}", r.code, r.message)))?;
            node::save_registration(&conn, "http://in-process", &reg)?;
            let policy: &'static dyn Policy = if case.server_wins.contains(&i) {
                &ServerWins
            } else {
                &NodeWins
            };
            nodes.push(NodeDb {
                path,
                conn,
                id: reg.node_id,
                pushes: 0,
                policy,
            });
        }
        Ok(World {
            fingerprint: schema.fingerprint(),
            schema,
            server,
            nodes,
            ledger: Ledger::new(case.server_wins.iter().map(|&n| usize::from(n))),
            model: ServerModel::default(),
            stats: Stats::default(),
            fresh: Fresh::default(),
            _dir: dir,
        })
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// A value no other write of this history uses: `<prefix><n>`.
    pub fn fresh(&mut self, prefix: &str) -> String {
        self.fresh.next(prefix)
    }

    /// The server's process restarts: its store closes and the database
    /// is opened and prepared again, as the server does at start.
    pub fn restart_server(&mut self) -> Result<(), Failure> {
        self.server.restart()?;
        self.stats.count("restart_server");
        Ok(())
    }

    /// Node `n`'s process restarts (after a crash, or between procedures).
    pub fn restart_node(&mut self, n: usize) -> Result<(), Failure> {
        let placeholder = Connection::open_in_memory()?;
        drop(std::mem::replace(&mut self.nodes[n].conn, placeholder));
        let mut conn = open(&self.nodes[n].path)?;
        let read = node::prepare(&mut conn, &replica::specs(&self.schema))
            .map_err(|e| failed("preparing the node again")(&e))?;
        if read.fingerprint() != self.fingerprint {
            return Err(Failure::new("the node's schema changed across a restart"));
        }
        self.nodes[n].conn = conn;
        Ok(())
    }
}

//! An in-process loopback: a server (the engine over a SQLite store) and
//! node databases, driven through the functions the HTTP layers call,
//! without a network.

#![allow(dead_code)]

use dbsync_core::merge::{NodeWins, Policy};
use dbsync_core::protocol::*;
use dbsync_core::Schema;
use dbsync_engine::settings::{Limits, Registration, Settings};
use dbsync_engine::{Engine, Rejection};
use dbsync_sqlite::node::{self, MergeReport, StagedPull};
use dbsync_sqlite::{open, SqliteStore};
use rusqlite::Connection;
use std::path::Path;
use std::sync::Arc;

pub const APP: &str = "
CREATE TABLE city (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE, founded DATE);
CREATE TABLE person (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL,
                     city_id INTEGER REFERENCES city(id), photo BLOB, height REAL);
";

pub const NOW: u64 = 1_700_000_000;

pub struct Server {
    /// A connection of its own to the server's database, as any other
    /// program writing to it directly would have.
    pub conn: Connection,
    pub schema: Schema,
    pub store: Arc<SqliteStore>,
    pub engine: Engine,
}

fn engine(store: &Arc<SqliteStore>, limits: Limits) -> Engine {
    let settings = Settings {
        limits,
        registration: Registration::Open,
        ..Settings::default()
    };
    Engine::open(store.clone(), settings).unwrap()
}

impl Server {
    /// Changes the page sizes of the server.
    pub fn set_limits(&mut self, change: impl FnOnce(&mut Limits)) {
        let mut limits = self.engine.settings().limits.clone();
        change(&mut limits);
        self.engine = engine(&self.store, limits);
    }

    /// The server's latest version.
    pub fn latest(&self) -> u64 {
        self.engine.seal(NOW).unwrap()
    }
}

pub struct Node {
    pub conn: Connection,
    pub schema: Schema,
    pub id: u64,
    pub next_push: u32,
}

pub fn server(dir: &Path) -> Server {
    server_of(dir, APP)
}

/// A server whose database `app_sql` makes.
pub fn server_of(dir: &Path, app_sql: &str) -> Server {
    let path = dir.join("server.db");
    let conn = open(&path).unwrap();
    conn.execute_batch(app_sql).unwrap();
    let store = Arc::new(SqliteStore::open(&path, &[], Default::default()).unwrap());
    Server {
        conn,
        schema: dbsync_engine::Store::schema(&*store).clone(),
        engine: engine(&store, Limits::default()),
        store,
    }
}

pub fn node(dir: &Path, name: &str, server: &mut Server) -> Node {
    node_of(dir, name, server, APP)
}

/// A node whose database `app_sql` makes.
pub fn node_of(dir: &Path, name: &str, server: &mut Server, app_sql: &str) -> Node {
    let mut conn = open(&dir.join(format!("{name}.db"))).unwrap();
    conn.execute_batch(app_sql).unwrap();
    let schema = node::prepare(&mut conn, &[]).unwrap();
    assert_eq!(schema.fingerprint(), server.schema.fingerprint());
    let register = RegisterRequest {
        protocol: "1.0".into(),
        schema: schema.fingerprint(),
        app_data: None,
        token: None,
        user: None,
    };
    let reg = server.engine.register(&register, NOW).unwrap();
    node::save_registration(&conn, "http://loopback", &reg).unwrap();
    Node {
        conn,
        schema,
        id: reg.node_id,
        next_push: 0,
    }
}

impl Node {
    pub fn exec(&self, sql: &str) {
        self.conn.execute_batch(sql).unwrap();
    }

    fn push_id(&mut self) -> String {
        self.next_push += 1;
        format!("p-{}-{:08}", self.id, self.next_push)
    }

    /// Builds (or reloads) the outbound push.
    pub fn begin_push(&mut self) -> Option<node::OutboundPush> {
        let id = self.push_id();
        let fp = self.schema.fingerprint();
        node::begin_push(&mut self.conn, &self.schema, &fp, || id, None).unwrap()
    }

    pub fn push(&mut self, server: &mut Server) -> Result<Option<u64>, Rejection> {
        let Some(out) = self.begin_push() else {
            return Ok(None);
        };
        let req: PushRequest = serde_json::from_slice(&out.body).unwrap();
        match server.engine.push(self.id, &req, NOW) {
            Ok(resp) => {
                node::finish_push(
                    &mut self.conn,
                    &self.schema,
                    &out,
                    resp.version,
                    &resp.rekeyed,
                )
                .unwrap();
                Ok(Some(resp.version))
            }
            Err(e) => {
                node::abandon_push(&self.conn).unwrap();
                Err(e)
            }
        }
    }

    pub fn fetch(&self, server: &mut Server) -> StagedPull {
        let st = node::state(&self.conn).unwrap();
        let pending = node::compressed_pending(&self.conn).unwrap();
        let mut staged = StagedPull::default();
        let mut cursor = None;
        loop {
            let req =
                PullRequest::page(self.schema.fingerprint(), st.last_version, &pending, cursor);
            let page = server.engine.pull(self.id, &req, NOW).unwrap();
            cursor = page.next_cursor.clone();
            staged.add(page);
            if cursor.is_none() {
                return staged;
            }
        }
    }

    pub fn pull_with(
        &mut self,
        server: &mut Server,
        policy: &dyn Policy,
    ) -> Result<MergeReport, node::NodeError> {
        let staged = self.fetch(server);
        node::merge(&mut self.conn, &self.schema, policy, staged, NOW)
    }

    pub fn pull(&mut self, server: &mut Server) -> MergeReport {
        self.pull_with(server, &NodeWins).unwrap()
    }

    /// Push; on pull_required pull and push again.
    pub fn sync(&mut self, server: &mut Server) {
        for _ in 0..5 {
            match self.push(server) {
                Ok(Some(version)) => {
                    // Accepted behind (spec §11.7 step 2): pull the
                    // versions in between.
                    if node::state(&self.conn).unwrap().last_version < version {
                        self.pull(server);
                    }
                    if node::compressed_pending(&self.conn).unwrap().is_empty() {
                        return;
                    }
                }
                Ok(None) => {
                    self.pull(server);
                    if node::compressed_pending(&self.conn).unwrap().is_empty() {
                        return;
                    }
                }
                Err(r) if r.code == dbsync_core::ErrorCode::PullRequired => {
                    self.pull(server);
                }
                Err(r) => panic!("sync rejected: {r:?}"),
            }
        }
        panic!("sync did not settle");
    }
}

/// Every row of every synced table, for comparing replicas.
pub fn dump(conn: &Connection, schema: &Schema) -> Vec<String> {
    let mut out = Vec::new();
    for t in &schema.tables {
        let mut stmt = conn.prepare(&dbsync_sqlite::rows::select_sql(t)).unwrap();
        let rows: Vec<dbsync_core::Row> = stmt
            .query_map([], |r| dbsync_sqlite::rows::row_from(t, r))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        for r in rows {
            out.push(serde_json::to_string(&r).unwrap());
        }
    }
    out.sort();
    out
}

pub fn count(conn: &Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

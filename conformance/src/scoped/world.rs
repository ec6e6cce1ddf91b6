//! The world of one scoped history: a real server (`Server::bind` on
//! 127.0.0.1:0, scope rules, a SQLite file), real client nodes over HTTP
//! registered for users, and a connection to the server's file for
//! direct writes and for reading what the server holds.

use super::case::{user_name, Case, APP_SQL, RULES, TOKEN};
use super::checks;
use super::fresh::{Fresh, Keys};
use super::ledger::{Ledger, Writer};
use super::rows::{Rows, Table};
use crate::history::{Failure, Stats};
use dbsync_client::Node;
use dbsync_server::{Config, Scopes, Server, ServerHandle};
use dbsync_sqlite::server::Synchronous;
use dbsync_sqlite::{SqliteStore, StoreOptions};
use rusqlite::{params, Connection};
use std::path::Path;
use std::sync::Arc;

/// A node of the history and its user.
pub struct NodeSlot {
    pub node: Node,
    pub user: String,
    /// How many conflict-log entries the trace has shown.
    pub logged: usize,
}

pub struct World {
    /// The folder of every file; removed with the world.
    dir: tempfile::TempDir,
    pub server: ServerHandle,
    /// The server's file, for direct writes and reads.
    pub server_db: Connection,
    pub nodes: Vec<NodeSlot>,
    pub ledger: Ledger,
    pub fresh: Fresh,
    pub stats: Stats,
    /// What each step did, resolved (row ids, tokens), for the report.
    pub trace: Vec<String>,
    /// The current step (0: setting up; step `i` of the case is `i + 1`).
    pub step: usize,
    pub users: u8,
}

fn sql(context: &str) -> impl Fn(rusqlite::Error) -> Failure + '_ {
    move |e| Failure::new(format!("{context}: {e}"))
}

impl World {
    /// Makes the server's file with the case's rows, starts the server,
    /// registers every node for its user and repairs it.
    pub async fn new(case: &Case, keys: Keys) -> Result<World, Failure> {
        let dir = tempfile::tempdir().map_err(|e| Failure::new(format!("tempdir: {e}")))?;
        let path = dir.path().join("server.db");
        let server_db = dbsync_sqlite::open(&path).map_err(sql("opening the server's file"))?;
        server_db
            .execute_batch(APP_SQL)
            .map_err(sql("creating the server's tables"))?;
        let mut ledger = Ledger::default();
        let mut fresh = Fresh::new(keys);
        seed_rows(&server_db, case, &mut ledger, &mut fresh)?;
        let mut world = World {
            server: start_server(&path).await?,
            dir,
            server_db,
            nodes: Vec::new(),
            ledger,
            fresh,
            stats: Stats::default(),
            trace: Vec::new(),
            step: 0,
            users: case.users.max(1),
        };
        for n in 0..case.nodes.len() {
            let user = user_name(case.user_of(n));
            let slot = world.add_node(n, user).await?;
            world.nodes.push(slot);
            world.check_node(n, true)?;
        }
        Ok(world)
    }

    /// Inserts a list for `owner` with items (`notes[i]` notes on item
    /// `i`) on the server's file, in one transaction; returns its id.
    pub fn server_insert_list(&mut self, owner: &str, notes: &[u8]) -> Result<i64, Failure> {
        let mut new = NewRows {
            db: &self.server_db,
            ledger: &mut self.ledger,
            fresh: &mut self.fresh,
            step: self.step,
        };
        new.list(owner, None, notes)
    }

    /// Node `n`: a fresh file with the application's tables, tracked,
    /// registered for `user` and repaired (it then holds its scope).
    async fn add_node(&self, n: usize, user: String) -> Result<NodeSlot, Failure> {
        let path = self.dir.path().join(format!("node{n}.db"));
        let make = |path: &Path| -> rusqlite::Result<()> {
            Connection::open(path)?.execute_batch(APP_SQL)
        };
        make(&path).map_err(sql("creating a node's tables"))?;
        let who = format!("node {n} ({user})");
        let fail =
            |what: &str, e: &dyn std::fmt::Display| Failure::new(format!("{who}: {what}: {e}"));
        let node = Node::open(&path, &[]).map_err(|e| fail("open", &e))?;
        // No crash is simulated: durability is not what is tested.
        node.database()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pragma_update(None, "synchronous", "OFF")
            .map_err(|e| fail("pragma", &e))?;
        let url = format!("http://{}", self.server.local_addr());
        node.register_as(&url, Some(TOKEN), Some(&user))
            .await
            .map_err(|e| fail("register", &e))?;
        node.repair().await.map_err(|e| fail("repair", &e))?;
        Ok(NodeSlot {
            node,
            user,
            logged: 0,
        })
    }

    /// Every row on the server's file.
    pub fn server_rows(&self) -> Result<Rows, Failure> {
        Rows::read(&self.server_db).map_err(sql("reading the server"))
    }

    /// Node `n`'s rows and compressed pending ops, checking on the way
    /// that no row of it references a row it lacks (check 2).
    pub fn node_state(&self, n: usize) -> Result<(Rows, checks::Pending), Failure> {
        let db = self.nodes[n].node.database();
        let conn = db.lock().unwrap_or_else(|p| p.into_inner());
        let rows = Rows::read(&conn).map_err(sql("reading a node"))?;
        let pending = checks::pending(&conn).map_err(Failure::new)?;
        checks::foreign_keys(&conn).map_err(|e| self.about(n, e))?;
        Ok((rows, pending))
    }

    /// A failure of node `n`.
    pub fn about(&self, n: usize, what: impl std::fmt::Display) -> Failure {
        Failure::new(format!("node {n} ({}): {what}", self.nodes[n].user))
    }

    /// Checks 1 to 3 on node `n` (and 4 when `exact`).
    pub fn check_node(&self, n: usize, exact: bool) -> Result<(), Failure> {
        let server = self.server_rows()?;
        let (rows, pending) = self.node_state(n)?;
        let user = &self.nodes[n].user;
        let fail = |e| self.about(n, e);
        checks::rows_in_scope(user, &rows, &pending, &server).map_err(fail)?;
        checks::pending_in_write_scope(user, &rows, &pending, &server).map_err(fail)?;
        if exact {
            checks::holds_its_scope(user, &rows, &server).map_err(fail)?;
        }
        Ok(())
    }
}

/// The case's tags and lists (with items and notes), written on the
/// server's file before the server starts.
fn seed_rows(
    db: &Connection,
    case: &Case,
    ledger: &mut Ledger,
    fresh: &mut Fresh,
) -> Result<(), Failure> {
    let mut new = NewRows {
        db,
        ledger,
        fresh,
        step: 0,
    };
    let mut tags = Vec::new();
    for _ in 0..case.tags.max(1) {
        tags.push(new.tag()?);
    }
    for l in &case.lists {
        let tag = l.tag.map(|t| tags[usize::from(t) % tags.len()]);
        new.list(&user_name(l.owner % case.users.max(1)), tag, &l.items)?;
    }
    Ok(())
}

/// Rows inserted on the server's file, each with a fresh token noted in
/// the ledger.
struct NewRows<'a> {
    db: &'a Connection,
    ledger: &'a mut Ledger,
    fresh: &'a mut Fresh,
    step: usize,
}

impl NewRows<'_> {
    /// A row of `table` (item or note) under `parent`.
    fn row(&mut self, table: Table, parent: i64) -> Result<i64, Failure> {
        let token = self.fresh.token(table);
        let id = self.fresh.id(Writer::Server);
        let sql_text = match table {
            Table::Item => "INSERT INTO item (id, list_id, text) VALUES (?1, ?2, ?3)",
            _ => "INSERT INTO note (id, item_id, body) VALUES (?1, ?2, ?3)",
        };
        self.db
            .execute(sql_text, params![id, parent, token])
            .map_err(sql("inserting on the server"))?;
        self.ledger.insert(table, &token, self.step, Writer::Server);
        Ok(self.db.last_insert_rowid())
    }

    fn tag(&mut self) -> Result<i64, Failure> {
        let token = self.fresh.token(Table::Tag);
        let id = self.fresh.id(Writer::Server);
        self.db
            .execute(
                "INSERT INTO tag (id, name) VALUES (?1, ?2)",
                params![id, token],
            )
            .map_err(sql("inserting a tag on the server"))?;
        self.ledger
            .insert(Table::Tag, &token, self.step, Writer::Server);
        Ok(self.db.last_insert_rowid())
    }

    /// A list with items (`notes[i]` notes on item `i`), in one
    /// transaction.
    fn list(&mut self, owner: &str, tag: Option<i64>, notes: &[u8]) -> Result<i64, Failure> {
        let tx = self.db.unchecked_transaction().map_err(sql("server"))?;
        let title = self.fresh.token(Table::List);
        let id = self.fresh.id(Writer::Server);
        tx.execute(
            "INSERT INTO list (id, owner, title, tag_id) VALUES (?1, ?2, ?3, ?4)",
            params![id, owner, title, tag],
        )
        .map_err(sql("inserting a list on the server"))?;
        let list = tx.last_insert_rowid();
        self.ledger
            .insert(Table::List, &title, self.step, Writer::Server);
        for &count in notes {
            let item = self.row(Table::Item, list)?;
            for _ in 0..count {
                self.row(Table::Note, item)?;
            }
        }
        tx.commit().map_err(sql("server"))?;
        Ok(list)
    }
}

async fn start_server(path: &Path) -> Result<ServerHandle, Failure> {
    let options = StoreOptions {
        synchronous: Synchronous::Off,
        ..StoreOptions::default()
    };
    let store = SqliteStore::open(path, &[], options)
        .map_err(|e| Failure::new(format!("opening the server's store: {e}")))?;
    let store: Arc<dyn dbsync_server::Store> = Arc::new(store);
    let scopes = Scopes::parse(RULES, store.schema())
        .map_err(|e| Failure::new(format!("the rules: {e}")))?;
    let mut config = Config::new();
    config.registration_token = Some(TOKEN.into());
    config.scopes = Some(Arc::new(scopes));
    Server::bind(store, config)
        .await
        .map_err(|e| Failure::new(format!("starting the server: {e}")))
}

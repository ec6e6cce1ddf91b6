//! The demo's last act, partial sync (spec §19): a server with scope
//! rules, alice's and bob's nodes each holding only their own tasks and
//! the shared project, a write outside alice's scope refused, and a task
//! the server gives from alice to bob leaving one node and reaching the
//! other.

use super::{store_err, QUIET};
use dbsync_client::{ClientError, Node};
use dbsync_server::{Config, Scopes, Server};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;

const SCHEMA: &str = "
CREATE TABLE project (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL);
CREATE TABLE task (id INTEGER PRIMARY KEY AUTOINCREMENT, owner TEXT NOT NULL,
                   project_id INTEGER NOT NULL REFERENCES project(id), title TEXT NOT NULL);
";

/// Every node reads the projects and writes none; a task is its owner's.
const RULES: &str = r#"{"tables": {
  "project": {"read": "all"},
  "task": {"read": {"owner": "owner"}}
}}"#;

const SERVER_ROWS: &str = "
INSERT INTO project VALUES (1, 'Garden');
INSERT INTO task VALUES (1, 'alice', 1, 'sow tomatoes'), (2, 'alice', 1, 'water basil'),
                        (3, 'bob', 1, 'fix the fence');
";

const TOKEN: &str = "demo-scopes-token";

/// What the act showed: each node held only its own rows and the shared
/// project, the write outside alice's scope was refused, and the task
/// moved from alice's node to bob's.
pub struct ScopesOutcome {
    pub own_rows_only: bool,
    pub refused: bool,
    pub moved: bool,
}

impl ScopesOutcome {
    pub fn shown(&self) -> bool {
        self.own_rows_only && self.refused && self.moved
    }
}

fn say_rows(who: &str, db: &Path) -> Vec<String> {
    let rows = rows(db);
    for r in &rows {
        say!("   {who}: {r}");
    }
    rows
}

/// The project and task rows of `db`, as lines.
fn rows(db: &Path) -> Vec<String> {
    let read = || -> rusqlite::Result<Vec<String>> {
        let conn = rusqlite::Connection::open(db)?;
        let mut stmt = conn.prepare(
            "SELECT 'project ' || id || ' ' || name FROM project \
             UNION ALL SELECT 'task ' || id || ' (' || owner || ') ' || title FROM task",
        )?;
        let lines = stmt.query_map([], |r| r.get(0))?;
        lines.collect()
    };
    read().unwrap_or_default()
}

async fn node_for(dir: &Path, user: &str, url: &str) -> Result<Node, ClientError> {
    let path = dir.join(format!("{user}-scoped.db"));
    rusqlite::Connection::open(&path)
        .and_then(|c| c.execute_batch(SCHEMA))
        .map_err(store_err)?;
    let node = Node::open(&path, &[])?;
    node.register_as(url, Some(TOKEN), Some(user)).await?;
    node.repair().await?;
    Ok(node)
}

/// Plays the act in `dir`.
pub async fn act(dir: &Path) -> Result<ScopesOutcome, ClientError> {
    let server_db = dir.join("scoped-server.db");
    rusqlite::Connection::open(&server_db)
        .and_then(|c| c.execute_batch(&format!("{SCHEMA}{SERVER_ROWS}")))
        .map_err(store_err)?;
    let store = crate::store::open(&crate::store::ServerDb::Sqlite(server_db.clone()), &[])
        .map_err(ClientError::Store)?;
    let scopes = Scopes::parse(RULES, store.schema()).map_err(store_err)?;
    let mut config = Config::new();
    config.registration_token = Some(TOKEN.into());
    config.scopes = Some(Arc::new(scopes));
    let server = Server::bind(store, config).await.map_err(store_err)?;
    let url = format!("http://{}", server.local_addr());
    say!();
    say!("8. Partial sync: a second server, with scope rules (`dbsync serve --scopes FILE`):");
    say!("   every node reads the projects and writes none; a task belongs to its owner.");
    say!("   It holds project 1 and three tasks, two of alice's, one of bob's.");
    say!("   alice and bob register as users (`dbsync register --user alice`) and repair:");
    let alice = node_for(dir, "alice", &url).await?;
    let bob = node_for(dir, "bob", &url).await?;
    let (a, b) = (dir.join("alice-scoped.db"), dir.join("bob-scoped.db"));
    let a_rows = say_rows("alice", &a);
    let b_rows = say_rows("bob", &b);
    let own_rows_only = a_rows.len() == 3
        && b_rows.len() == 2
        && a_rows
            .iter()
            .chain(&b_rows)
            .all(|r| !r.contains("(bob)") || b_rows.contains(r))
        && a_rows.iter().any(|r| r.starts_with("project 1"))
        && b_rows.iter().any(|r| r.starts_with("project 1"));
    let refused = refuse_outside(&alice, &a).await?;
    say!();
    say!("9. The server's application gives task 2 to bob (UPDATE task SET owner = 'bob').");
    say!("   Both sync: the task leaves alice's node (a move-out: deleted there, nothing to push)");
    say!("   and reaches bob's as a new row.");
    rusqlite::Connection::open(&server_db)
        .and_then(|c| c.execute("UPDATE task SET owner = 'bob' WHERE id = 2", []))
        .map_err(store_err)?;
    alice.sync().await?;
    bob.sync().await?;
    let a_rows = say_rows("alice", &a);
    let b_rows = say_rows("bob", &b);
    let moved = !a_rows.iter().any(|r| r.starts_with("task 2"))
        && b_rows.iter().any(|r| r == "task 2 (bob) water basil")
        && alice.status().await?.pending_ops == 0;
    server.shutdown().await;
    Ok(ScopesOutcome {
        own_rows_only,
        refused,
        moved,
    })
}

/// Alice writes a task for bob: the push is refused and changes nothing;
/// she takes it back.
async fn refuse_outside(alice: &Node, db: &Path) -> Result<bool, ClientError> {
    say!("   alice writes a task owned by bob, and syncs:");
    let write = |sql: &str| {
        rusqlite::Connection::open(db)
            .and_then(|c| c.execute_batch(sql))
            .map_err(store_err)
    };
    write("INSERT INTO task (id, owner, project_id, title) VALUES (9, 'bob', 1, 'a gift')")?;
    let refused = match alice.sync().await {
        Err(ClientError::Rejected { code, message, .. }) => {
            say!("   refused: {code}: {message}");
            code == dbsync_core::ErrorCode::Forbidden
        }
        Err(e) => return Err(e),
        Ok(_) => false,
    };
    write("DELETE FROM task WHERE id = 9")?;
    say!("   she deletes it again (an insert and a delete compress to nothing).");
    Ok(refused)
}

//! Partial sync (spec §19) end to end: a real server with scope rules
//! over a real SQLite file, nodes registered for users alice and bob.
//! `project` is shared (read by all, written by none), a `list` belongs
//! to its `owner`, an `item` to its list's owner.

mod common;

use common::{url, TOKEN};
use dbsync_client::{ClientError, Node};
use dbsync_core::merge::Rule;
use dbsync_core::{ErrorCode, Value};
use dbsync_server::{Config, Scopes, Server, ServerHandle};
use rusqlite::Connection;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

const APP: &str = "
CREATE TABLE project (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL);
CREATE TABLE list (id INTEGER PRIMARY KEY AUTOINCREMENT, owner TEXT NOT NULL,
                   project_id INTEGER REFERENCES project(id), title TEXT NOT NULL);
CREATE TABLE item (id INTEGER PRIMARY KEY AUTOINCREMENT, list_id INTEGER NOT NULL REFERENCES list(id),
                   text TEXT NOT NULL);
";

const RULES: &str = r#"{"tables": {
  "project": {"read": "all"},
  "list": {"read": {"owner": "owner"}},
  "item": {"read": {"parent": "list_id"}}
}}"#;

const SERVER_ROWS: &str = "
INSERT INTO project VALUES (1, 'garden');
INSERT INTO list VALUES (1, 'alice', 1, 'seeds'), (2, 'bob', 1, 'tools');
INSERT INTO item VALUES (1, 1, 'tomato'), (2, 1, 'basil'), (3, 2, 'rake');
";

async fn scoped_server(dir: &Path) -> ServerHandle {
    let db = dir.join("server.db");
    let conn = Connection::open(&db).unwrap();
    conn.execute_batch(APP).unwrap();
    conn.execute_batch(SERVER_ROWS).unwrap();
    drop(conn);
    let store = common::sqlite_store(&db);
    let mut config = Config::new();
    config.registration_token = Some(TOKEN.into());
    config.scopes = Some(Arc::new(Scopes::parse(RULES, store.schema()).unwrap()));
    Server::bind(store, config).await.unwrap()
}

/// A node for `user`, holding what a repair gives it.
async fn user_node(dir: &Path, user: &str, server: &ServerHandle) -> Node {
    let path = dir.join(format!("{user}.db"));
    Connection::open(&path).unwrap().execute_batch(APP).unwrap();
    let node = Node::open(&path, &[]).unwrap();
    node.register_as(&url(server.local_addr()), Some(TOKEN), Some(user))
        .await
        .unwrap();
    node.repair().await.unwrap();
    node
}

/// `table`'s rows as `id:text` (the row's second column).
fn rows(dir: &Path, who: &str, table: &str) -> Vec<String> {
    let conn = Connection::open(dir.join(format!("{who}.db"))).unwrap();
    let col = match table {
        "project" => "name",
        "list" => "owner || '/' || title",
        _ => "list_id || '/' || text",
    };
    let mut stmt = conn
        .prepare(&format!(
            "SELECT id || ':' || {col} FROM {table} ORDER BY id"
        ))
        .unwrap();
    let out = stmt.query_map([], |r| r.get(0)).unwrap();
    out.map(Result::unwrap).collect()
}

fn server_sql(dir: &Path, sql: &str) {
    Connection::open(dir.join("server.db"))
        .unwrap()
        .execute_batch(sql)
        .unwrap();
}

fn local_sql(dir: &Path, who: &str, sql: &str) {
    Connection::open(dir.join(format!("{who}.db")))
        .unwrap()
        .execute_batch(sql)
        .unwrap();
}

#[tokio::test]
async fn each_user_receives_only_their_rows_and_the_shared_parent() {
    let dir = tempfile::tempdir().unwrap();
    let server = scoped_server(dir.path()).await;
    let _alice = user_node(dir.path(), "alice", &server).await;
    let _bob = user_node(dir.path(), "bob", &server).await;
    let d = dir.path();
    assert_eq!(rows(d, "alice", "project"), ["1:garden"]);
    assert_eq!(rows(d, "alice", "list"), ["1:alice/seeds"]);
    assert_eq!(rows(d, "alice", "item"), ["1:1/tomato", "2:1/basil"]);
    assert_eq!(rows(d, "bob", "list"), ["2:bob/tools"]);
    assert_eq!(rows(d, "bob", "item"), ["3:2/rake"]);
}

#[tokio::test]
async fn a_list_moved_to_bob_leaves_alice_with_its_items_and_reaches_bob_with_them() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let server = scoped_server(d).await;
    let alice = user_node(d, "alice", &server).await;
    let bob = user_node(d, "bob", &server).await;
    server_sql(d, "UPDATE list SET owner = 'bob' WHERE id = 1");
    alice.sync().await.unwrap();
    bob.sync().await.unwrap();
    assert!(rows(d, "alice", "list").is_empty());
    assert!(rows(d, "alice", "item").is_empty());
    assert_eq!(rows(d, "alice", "project"), ["1:garden"]);
    assert_eq!(rows(d, "bob", "list"), ["1:bob/seeds", "2:bob/tools"]);
    assert_eq!(
        rows(d, "bob", "item"),
        ["1:1/tomato", "2:1/basil", "3:2/rake"]
    );
    // Alice's node made no pending delete of what left: nothing to push.
    assert_eq!(alice.status().await.unwrap().pending_ops, 0);
    // And back again: alice receives the list and its items as inserts.
    server_sql(d, "UPDATE list SET owner = 'alice' WHERE id = 1");
    alice.sync().await.unwrap();
    bob.sync().await.unwrap();
    assert_eq!(rows(d, "alice", "item"), ["1:1/tomato", "2:1/basil"]);
    assert_eq!(rows(d, "bob", "item"), ["3:2/rake"]);
}

#[tokio::test]
async fn a_write_outside_the_write_scope_is_forbidden_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let server = scoped_server(d).await;
    let alice = user_node(d, "alice", &server).await;
    let _bob = user_node(d, "bob", &server).await;
    let before = rows(d, "server", "list");
    // A list for bob: it would leave alice's scope.
    local_sql(d, "alice", "INSERT INTO list VALUES (9, 'bob', 1, 'gift')");
    let refused = alice.sync().await.unwrap_err();
    assert_forbidden(&refused);
    local_sql(d, "alice", "DELETE FROM list WHERE id = 9");
    // The shared project is read-only.
    local_sql(d, "alice", "UPDATE project SET name = 'mine' WHERE id = 1");
    assert_forbidden(&alice.sync().await.unwrap_err());
    assert_eq!(rows(d, "server", "list"), before);
    assert_eq!(rows(d, "server", "project"), ["1:garden"]);
}

fn assert_forbidden(e: &ClientError) {
    match e {
        ClientError::Rejected { code, status, .. } => {
            assert_eq!((*code, *status), (ErrorCode::Forbidden, 403), "{e}");
        }
        other => panic!("expected forbidden, got {other}"),
    }
}

#[tokio::test]
async fn a_pending_change_to_an_item_that_moved_out_is_logged_and_never_pushed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let server = scoped_server(d).await;
    let alice = user_node(d, "alice", &server).await;
    let bob = user_node(d, "bob", &server).await;
    local_sql(
        d,
        "alice",
        "UPDATE item SET text = 'cherry tomato' WHERE id = 1",
    );
    local_sql(d, "alice", "INSERT INTO item VALUES (10, 1, 'mint')");
    server_sql(d, "UPDATE list SET owner = 'bob' WHERE id = 1");
    alice.sync().await.unwrap();
    assert!(rows(d, "alice", "item").is_empty());
    assert_eq!(alice.status().await.unwrap().pending_ops, 0);
    let log = alice.conflicts().await.unwrap();
    let moved: Vec<_> = log
        .iter()
        .filter(|c| c.entry.rule == Rule::MovedOut)
        .map(|c| (c.entry.table.as_str(), c.entry.row_id.to_string()))
        .collect();
    assert_eq!(
        moved,
        [("item", "1".to_string()), ("item", "10".to_string())]
    );
    let lost = log[0].entry.lost.as_ref().unwrap();
    assert_eq!(lost["text"], Value::Text("cherry tomato".into()));
    bob.sync().await.unwrap();
    assert_eq!(
        rows(d, "bob", "item"),
        ["1:1/tomato", "2:1/basil", "3:2/rake"]
    );
}

#[tokio::test]
async fn a_query_answers_only_rows_in_the_nodes_scope() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let server = scoped_server(d).await;
    let alice = user_node(d, "alice", &server).await;
    let all = alice.query("item", BTreeMap::new(), None).await.unwrap();
    let ids: Vec<String> = all.rows.iter().map(|r| r.id.to_string()).collect();
    assert_eq!(ids, ["1", "2"]);
    let mut of_bob = BTreeMap::new();
    of_bob.insert("list_id".to_string(), Value::Integer(2));
    assert!(alice
        .query("item", of_bob, None)
        .await
        .unwrap()
        .rows
        .is_empty());
}

#[tokio::test]
async fn items_alice_adds_reach_the_server_and_never_bob() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let server = scoped_server(d).await;
    let alice = user_node(d, "alice", &server).await;
    let bob = user_node(d, "bob", &server).await;
    local_sql(
        d,
        "alice",
        "INSERT INTO list VALUES (5, 'alice', 1, 'herbs'); INSERT INTO item VALUES (7, 5, 'thyme')",
    );
    alice.sync().await.unwrap();
    bob.sync().await.unwrap();
    assert_eq!(rows(d, "server", "item").len(), 4);
    assert_eq!(rows(d, "bob", "item"), ["3:2/rake"]);
    assert_eq!(rows(d, "bob", "list"), ["2:bob/tools"]);
}

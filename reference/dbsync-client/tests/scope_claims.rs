//! Claims (spec §19.1, §19.11) end to end: a team's documents, read by
//! the nodes holding the team's claim; a claim change moves the rows at
//! the node's next pull, without a repair.

mod common;

use common::{url, TOKEN};
use dbsync_client::Node;
use dbsync_core::merge::Rule;
use dbsync_server::{Config, Scopes, Server, ServerHandle};
use rusqlite::Connection;
use std::path::Path;
use std::sync::Arc;

const APP: &str = "
CREATE TABLE doc (id INTEGER PRIMARY KEY AUTOINCREMENT, team TEXT NOT NULL, title TEXT NOT NULL);
CREATE TABLE note (id INTEGER PRIMARY KEY AUTOINCREMENT, doc_id INTEGER NOT NULL REFERENCES doc(id),
                   text TEXT NOT NULL);
";

const RULES: &str = r#"{"tables": {
  "doc": {"read": {"claim": "team"}},
  "note": {"read": {"parent": "doc_id"}}
}}"#;

async fn server(dir: &Path) -> ServerHandle {
    let db = dir.join("server.db");
    let conn = Connection::open(&db).unwrap();
    conn.execute_batch(APP).unwrap();
    conn.execute_batch(
        "INSERT INTO doc VALUES (1, 'red', 'plan'), (2, 'blue', 'budget');
         INSERT INTO note VALUES (1, 1, 'draft'), (2, 2, 'q3');",
    )
    .unwrap();
    let store = common::sqlite_store(&db);
    let mut config = Config::new();
    config.registration_token = Some(TOKEN.into());
    config.scopes = Some(Arc::new(Scopes::parse(RULES, store.schema()).unwrap()));
    Server::bind(store, config).await.unwrap()
}

async fn alice(dir: &Path, server: &ServerHandle) -> (Node, u64) {
    let path = dir.join("alice.db");
    Connection::open(&path).unwrap().execute_batch(APP).unwrap();
    let node = Node::open(&path, &[]).unwrap();
    let id = node
        .register_as(&url(server.local_addr()), Some(TOKEN), Some("alice"))
        .await
        .unwrap()
        .node_id;
    node.repair().await.unwrap();
    (node, id)
}

fn claims(server: &ServerHandle, node: u64, claims: &[&str]) {
    let claims: Vec<String> = claims.iter().map(|c| c.to_string()).collect();
    let now = dbsync_server::unix_now();
    server
        .server()
        .engine()
        .set_claims(node, &claims, now)
        .unwrap();
}

fn rows(dir: &Path) -> Vec<String> {
    let conn = Connection::open(dir.join("alice.db")).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT 'doc ' || id || ' ' || team || ' ' || title FROM doc \
             UNION ALL SELECT 'note ' || id || ' ' || text FROM note",
        )
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

#[tokio::test]
async fn a_claim_gained_brings_its_rows_and_a_claim_lost_takes_them_away_without_a_repair() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let server = server(d).await;
    let (alice, id) = alice(d, &server).await;
    assert!(rows(d).is_empty());
    claims(&server, id, &["red"]);
    alice.sync().await.unwrap();
    assert_eq!(rows(d), ["doc 1 red plan", "note 1 draft"]);
    claims(&server, id, &["blue"]);
    alice.sync().await.unwrap();
    assert_eq!(rows(d), ["doc 2 blue budget", "note 2 q3"]);
    let status = alice.status().await.unwrap();
    assert_eq!(status.pending_ops, 0);
}

#[tokio::test]
async fn changes_to_a_teams_rows_made_before_the_node_gained_the_claim_arrive_as_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let server = server(d).await;
    let (alice, id) = alice(d, &server).await;
    // Versions alice has not pulled: a red note added, a red doc renamed.
    server_sql(
        d,
        "INSERT INTO note VALUES (3, 1, 'review'); UPDATE doc SET title = 'plan v2' WHERE id = 1",
    );
    server
        .server()
        .engine()
        .seal(dbsync_server::unix_now())
        .unwrap();
    claims(&server, id, &["red"]);
    alice.sync().await.unwrap();
    assert_eq!(
        rows(d),
        ["doc 1 red plan v2", "note 1 draft", "note 3 review"]
    );
    // And changes after the claim reach her as any change.
    server_sql(d, "UPDATE note SET text = 'final' WHERE id = 1");
    alice.sync().await.unwrap();
    assert_eq!(
        rows(d),
        ["doc 1 red plan v2", "note 1 final", "note 3 review"]
    );
}

#[tokio::test]
async fn work_pending_on_a_lost_claims_rows_is_logged_and_never_pushed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let server = server(d).await;
    let (alice, id) = alice(d, &server).await;
    claims(&server, id, &["red"]);
    alice.sync().await.unwrap();
    Connection::open(d.join("alice.db"))
        .unwrap()
        .execute_batch("UPDATE note SET text = 'mine' WHERE id = 1")
        .unwrap();
    claims(&server, id, &[]);
    alice.sync().await.unwrap();
    assert!(rows(d).is_empty());
    let log = alice.conflicts().await.unwrap();
    assert!(log
        .iter()
        .any(|c| c.entry.rule == Rule::MovedOut && c.entry.table == "note"));
    assert_eq!(alice.status().await.unwrap().pending_ops, 0);
    let conn = Connection::open(d.join("server.db")).unwrap();
    let text: String = conn
        .query_row("SELECT text FROM note WHERE id = 1", [], |r| r.get(0))
        .unwrap();
    assert_eq!(text, "draft");
}

#[tokio::test]
async fn claims_the_register_hook_gives_count_from_the_start_so_a_pull_from_zero_brings_their_rows()
{
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = d.join("server.db");
    let conn = Connection::open(&db).unwrap();
    conn.execute_batch(APP).unwrap();
    drop(conn);
    let store = common::sqlite_store(&db);
    let mut config = Config::new();
    config.registration_token = Some(TOKEN.into());
    config.scopes = Some(Arc::new(Scopes::parse(RULES, store.schema()).unwrap()));
    config.hooks.register = Some(Arc::new(|req: &dbsync_server::RegisterRequest| {
        let team = req
            .app_data
            .as_ref()
            .and_then(|a| a.get("team"))
            .and_then(|t| t.as_str());
        Ok(dbsync_server::RegisterDecision {
            claims: team.map(|t| vec![t.to_string()]).unwrap_or_default(),
            ..Default::default()
        })
    }));
    let server = Server::bind(store, config).await.unwrap();
    // Rows written before the node registers, through versions.
    server_sql(
        d,
        "INSERT INTO doc VALUES (1, 'red', 'plan'), (2, 'blue', 'budget')",
    );
    server
        .server()
        .engine()
        .seal(dbsync_server::unix_now())
        .unwrap();
    let path = d.join("alice.db");
    Connection::open(&path).unwrap().execute_batch(APP).unwrap();
    let app_data = serde_json::json!({"team": "red"})
        .as_object()
        .cloned()
        .unwrap();
    let node = Node::open(&path, &[]).unwrap().with_app_data(app_data);
    node.register(&url(server.local_addr()), Some(TOKEN))
        .await
        .unwrap();
    // A pull from version 0, not a repair: the claim counts from 0.
    let conn = Connection::open(&path).unwrap();
    conn.execute(
        "UPDATE dbsync_state SET value = 0 WHERE key = 'last_version'",
        [],
    )
    .unwrap();
    drop(conn);
    node.pull().await.unwrap();
    assert_eq!(rows(d), ["doc 1 red plan"]);
}

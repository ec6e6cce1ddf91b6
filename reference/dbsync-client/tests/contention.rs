//! Many nodes racing for the next version (spec §11.7): a sync keeps
//! going, with a random pause after each lost race, until its time limit;
//! it never gives up after a fixed count of rounds.

mod common;

use common::*;
use dbsync_client::Node;
use dbsync_core::RowId;

const NODES: usize = 16;
const SYNCS: usize = 4;

fn exec(n: &Node, sql: &str) {
    n.database().lock().unwrap().execute_batch(sql).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_nodes_updating_one_row_at_once_all_sync_and_converge() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path()).await;
    let base = url(server.local_addr());
    let mut nodes = Vec::new();
    for i in 0..NODES {
        let n = node(dir.path(), &format!("n{i}"), &base).await;
        if i == 0 {
            exec(&n, "INSERT INTO city (name) VALUES ('shared');");
        }
        n.sync().await.unwrap();
        nodes.push(n);
    }
    for n in &nodes {
        n.sync().await.unwrap();
    }
    // Every node updates the one row and syncs, SYNCS times, all at once.
    let nodes = race(nodes, |i, j| {
        format!(
            "UPDATE city SET founded = '20{i:02}-01-{:02}' WHERE id = 1;",
            j + 1
        )
    })
    .await;
    let server_rows = converged(dir.path(), &nodes).await;
    assert_eq!(server_rows.len(), 1);
    server.shutdown().await;
}

/// Each node runs `write(i, j)` then syncs, `SYNCS` times, all nodes at
/// once; every sync must go through.
async fn race(nodes: Vec<Node>, write: fn(usize, usize) -> String) -> Vec<Node> {
    let racers = nodes.into_iter().enumerate().map(|(i, n)| {
        tokio::spawn(async move {
            for j in 0..SYNCS {
                exec(&n, &write(i, j));
                if let Err(e) = n.sync().await {
                    panic!("node {i} gave up at its sync {j}: {e}");
                }
            }
            n
        })
    });
    let mut nodes = Vec::new();
    for racer in racers.collect::<Vec<_>>() {
        nodes.push(racer.await.expect("every sync went through"));
    }
    nodes
}

/// Syncs every node once more, then checks that each holds the server's
/// rows; returns them.
async fn converged(dir: &std::path::Path, nodes: &[Node]) -> Vec<String> {
    for n in nodes {
        n.sync().await.unwrap();
    }
    let server_rows = dump(&dir.join("server.db"));
    for i in 0..nodes.len() {
        assert_eq!(
            dump(&db_path(dir, &format!("n{i}"))),
            server_rows,
            "node n{i}"
        );
    }
    server_rows
}

/// Spec §11.7 step 2: a push accepted behind (§10.2.2.1) is followed by
/// a pull, so the sync leaves the node holding the versions in between
/// and its next push is based on the latest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_whose_push_is_accepted_behind_pulls_the_versions_in_between() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path()).await;
    let base = url(server.local_addr());
    let a = node(dir.path(), "a", &base).await;
    let b = node(dir.path(), "b", &base).await;
    exec(&a, "INSERT INTO city (id, name) VALUES (1, 'Lisbon');");
    a.sync().await.unwrap();
    exec(&b, "INSERT INTO city (id, name) VALUES (2, 'Porto');");
    let report = b.sync().await.unwrap();
    assert_eq!(report.version, 2, "b's push became version 2, behind");
    assert_eq!(report.pulls, 1, "one pull, after the push, to catch up");
    assert_eq!(report.merged_ops, 1, "a's insert, not b's own");
    assert_eq!(b.status().await.unwrap().last_version, 2);
    assert_eq!(
        dump(&db_path(dir.path(), "b")),
        dump(&dir.path().join("server.db"))
    );
    server.shutdown().await;
}

/// Spec §10.2.2.2: two nodes that give a new row the same next key both
/// get it to the server in one push each; the server moves the second
/// (and the child that references it), and the node follows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_inserting_the_same_next_key_are_not_in_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path()).await;
    let base = url(server.local_addr());
    let a = node(dir.path(), "a", &base).await;
    let b = node(dir.path(), "b", &base).await;
    exec(&a, "INSERT INTO city (name) VALUES ('Lisbon');");
    a.sync().await.unwrap();
    exec(
        &b,
        "INSERT INTO city (name) VALUES ('Porto'); \
         INSERT INTO person (name, city_id) VALUES ('Rui', 1);",
    );
    let report = b.sync().await.unwrap();
    assert_eq!(
        report.pushed_ops, 2,
        "one push, not a refused one and a retry"
    );
    assert_eq!(report.conflicts, 0, "the merge met no insert conflict");
    let moved: Vec<_> = b
        .conflicts()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.entry)
        .filter(|e| e.rule == dbsync_core::merge::Rule::LocalInsertRekeyed)
        .map(|e| (e.table, e.row_id, e.new_row_id, e.remote_version))
        .collect();
    assert_eq!(
        moved,
        [("city".to_string(), RowId::Int(1), Some(RowId::Int(2)), None)],
        "moved by the server"
    );
    let porto: (i64, i64) = b
        .database()
        .lock()
        .unwrap()
        .query_row(
            "SELECT c.id, p.city_id FROM city c JOIN person p ON p.name = 'Rui' WHERE c.name = 'Porto'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(
        porto,
        (2, 2),
        "Porto and the person who lives there moved together"
    );
    a.sync().await.unwrap();
    let server_rows = dump(&dir.path().join("server.db"));
    assert_eq!(dump(&db_path(dir.path(), "a")), server_rows);
    assert_eq!(dump(&db_path(dir.path(), "b")), server_rows);
    server.shutdown().await;
}

/// Sixteen nodes inserting rows at once, each with its next key: every
/// sync goes through and every row reaches the server exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_nodes_inserting_at_once_lose_no_row_and_converge() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path()).await;
    let base = url(server.local_addr());
    let mut nodes = Vec::new();
    for i in 0..NODES {
        nodes.push(node(dir.path(), &format!("n{i}"), &base).await);
    }
    let nodes = race(nodes, |i, j| {
        format!("INSERT INTO city (name) VALUES ('n{i} s{j}');")
    })
    .await;
    let server_rows = converged(dir.path(), &nodes).await;
    assert_eq!(
        server_rows.len(),
        NODES * SYNCS,
        "every row once: {server_rows:?}"
    );
    server.shutdown().await;
}

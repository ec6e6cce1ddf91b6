//! Many nodes racing for the next version (spec §11.7): a sync keeps
//! going, with a random pause after each lost race, until its time limit;
//! it never gives up after a fixed count of rounds.

mod common;

use common::*;
use dbsync_client::Node;

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
    let racers = nodes.into_iter().enumerate().map(|(i, n)| {
        tokio::spawn(async move {
            for j in 0..SYNCS {
                exec(
                    &n,
                    &format!(
                        "UPDATE city SET founded = '20{i:02}-01-{:02}' WHERE id = 1;",
                        j + 1
                    ),
                );
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
    for n in &nodes {
        n.sync().await.unwrap();
    }
    let server_rows = dump(&dir.path().join("server.db"));
    for i in 0..NODES {
        assert_eq!(
            dump(&db_path(dir.path(), &format!("n{i}"))),
            server_rows,
            "node n{i}"
        );
    }
    server.shutdown().await;
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

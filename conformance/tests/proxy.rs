//! The fault proxy between a real node (the reference client) and the
//! reference server: each fault does to a push what it says, and the
//! proxy's log tells what reached the server.

use dbsync_client::{ClientError, Node};
use dbsync_conformance::history::{generate, Case};
use dbsync_conformance::play::proxy::{Fault, Proxy};
use dbsync_conformance::play::target::{ServerChoice, Target};
use dbsync_conformance::{ddl, replica};
use std::path::Path;
use std::time::Duration;

fn case() -> Case {
    Case {
        tables: generate::fixed_tables(),
        nodes: 1,
        page_ops: 10,
        server_wins: vec![],
        steps: vec![],
        reused_keys: false,
    }
}

struct Setup {
    target: Target,
    proxy: Proxy,
    node: Node,
    _dir: tempfile::TempDir,
}

async fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let case = case();
    let target = Target::start(&ServerChoice::Reference, &case, dir.path())
        .await
        .unwrap();
    let proxy = Proxy::start(target.base()).await.unwrap();
    let path = dir.path().join("node.db");
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(&ddl::create_all(&case.schema()))
        .unwrap();
    let node = Node::open(&path, &replica::specs(&case.schema())).unwrap();
    node.register(&proxy.base(), target.token()).await.unwrap();
    proxy.take_log();
    Setup {
        target,
        proxy,
        node,
        _dir: dir,
    }
}

fn server_rows(dir: &Path) -> i64 {
    dbsync_sqlite::open(&dir.join("server.db"))
        .unwrap()
        .query_row("SELECT count(*) FROM t0", [], |r| r.get(0))
        .unwrap()
}

fn insert(node: &Node) {
    node.database()
        .lock()
        .unwrap()
        .execute_batch("INSERT INTO t0 (uid, label) VALUES ('a', 'x')")
        .unwrap();
}

/// Pushes one insert with `fault` armed: the node's answer, the statuses
/// the server gave, and the rows the server then holds.
async fn push_with(fault: Fault) -> (Result<(), ClientError>, Vec<u16>, i64) {
    let s = setup().await;
    insert(&s.node);
    s.proxy.arm("/v1/push", fault);
    let answer = s.node.push().await.map(|_| ());
    let log = s.proxy.take_log();
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0].fault, Some(fault));
    assert_eq!(log[0].node, s.node.status().await.unwrap().node_id);
    let statuses = log[0].answers.iter().map(|(s, _)| *s).collect();
    let rows = server_rows(s._dir.path());
    s.target.stop().await;
    (answer, statuses, rows)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_request_never_reaches_the_server() {
    let (answer, statuses, rows) = push_with(Fault::DropRequest).await;
    assert!(matches!(answer, Err(ClientError::Network(_))), "{answer:?}");
    assert_eq!((statuses, rows), (vec![], 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_answer_leaves_the_push_applied_and_the_node_unaware() {
    let (answer, statuses, rows) = push_with(Fault::DropResponse).await;
    assert!(matches!(answer, Err(ClientError::Network(_))), "{answer:?}");
    assert_eq!((statuses, rows), (vec![200], 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_delivered_twice_is_applied_once_and_its_copy_refused_as_a_replay() {
    let (answer, statuses, rows) = push_with(Fault::Duplicate).await;
    assert!(answer.is_ok(), "{answer:?}");
    assert_eq!((statuses, rows), (vec![200, 401], 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_cut_short_changes_nothing_and_the_node_hears_nothing() {
    let (answer, statuses, rows) = push_with(Fault::CutBody).await;
    assert!(matches!(answer, Err(ClientError::Network(_))), "{answer:?}");
    assert_eq!((statuses, rows), (vec![], 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delayed_request_is_delivered_once() {
    let (answer, statuses, rows) = push_with(Fault::Delay(Duration::from_millis(30))).await;
    assert!(answer.is_ok(), "{answer:?}");
    assert_eq!((statuses, rows), (vec![200], 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unarmed_proxy_passes_every_exchange_through_and_logs_it() {
    let s = setup().await;
    insert(&s.node);
    s.node.sync().await.unwrap();
    let log = s.proxy.take_log();
    assert!(
        log.iter()
            .all(|e| e.fault.is_none() && e.answers.len() == 1),
        "{log:?}"
    );
    assert!(log
        .iter()
        .any(|e| e.path == "/v1/push" && !e.body.is_empty()));
    assert_eq!(server_rows(s._dir.path()), 1);
    s.target.stop().await;
}

//! How requests fail: a server that accepts and never answers, a body
//! the server refuses for its size before reading it, a malformed URL.
//! Real sockets on 127.0.0.1 and a real server.

mod common;

use common::*;
use dbsync_client::{ClientError, Node, Timeouts};
use dbsync_core::ErrorCode;
use dbsync_server::{Config, Server};
use std::time::{Duration, Instant};

/// A TCP listener that accepts every connection and never answers,
/// holding the connections open.
async fn silent_server() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    addr
}

const SHORT: Timeouts = Timeouts {
    connect: Duration::from_secs(1),
    read: Duration::from_secs(1),
    request: Duration::from_secs(3),
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_never_answers_gives_a_retry_safe_network_error_within_the_timeouts() {
    let dir = tempfile::tempdir().unwrap();
    let silent = silent_server().await;
    let path = db_path(dir.path(), "a");
    make_db(&path);
    let node = Node::open(&path, &[]).unwrap().with_timeouts(SHORT);
    let started = Instant::now();
    let err = tokio::time::timeout(
        Duration::from_secs(20),
        node.register(&url(silent), Some(TOKEN)),
    )
    .await
    .expect("register must give up on its own")
    .unwrap_err();
    assert!(matches!(err, ClientError::Network(_)), "{err:?}");
    assert_eq!(err.code(), ErrorCode::NetworkUnreachable);
    assert!(err.to_string().contains("read timeout"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_to_a_server_that_stopped_answering_is_kept_for_a_retry() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path()).await;
    let a = node(dir.path(), "a", &url(server.local_addr())).await;
    a.database()
        .lock()
        .unwrap()
        .execute_batch("INSERT INTO city (name) VALUES ('Lisbon');")
        .unwrap();
    let silent = silent_server().await;
    let a = Node::open_tracked(&db_path(dir.path(), "a"))
        .unwrap()
        .with_server(&url(silent))
        .with_timeouts(SHORT);
    let err = tokio::time::timeout(Duration::from_secs(20), a.push())
        .await
        .expect("push must give up on its own")
        .unwrap_err();
    assert!(matches!(err, ClientError::Network(_)), "{err:?}");
    // Its fate is unknown: the push is kept and retried unchanged.
    assert!(a.status().await.unwrap().outstanding_push.is_some());
    let a = Node::open_tracked(&db_path(dir.path(), "a")).unwrap();
    assert_eq!(a.sync().await.unwrap().pushed_ops, 1);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_the_server_refuses_for_its_size_is_reported_as_body_too_large() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("server.db");
    make_db(&db);
    let mut config = Config::new();
    config.registration_token = Some(TOKEN.into());
    config.body_limit = 64 * 1024;
    let server = Server::bind(common::sqlite_store(&db), config)
        .await
        .unwrap();
    // The pending ops would go in parts (spec §10.1.2), but application
    // data of 100 KB rides on every push: each gets 413, the node lowers
    // its push budget to the least, then reports the 413.
    let mut app = dbsync_client::AppData::new();
    app.insert("blob".into(), "y".repeat(100 * 1024).into());
    let a = node(dir.path(), "a", &url(server.local_addr()))
        .await
        .with_app_data(app);
    {
        let db = a.database();
        let mut conn = db.lock().unwrap();
        let tx = conn.transaction().unwrap();
        let text = "x".repeat(1000);
        for i in 0..4000 {
            tx.execute(
                "INSERT INTO city (name, founded) VALUES (?1, '1131-03-01')",
                (format!("city {i} {text}"),),
            )
            .unwrap();
        }
        tx.commit().unwrap();
    }
    // Whether hyper reads the answer before its next write fails is a
    // race: every one of several tries must see the answer.
    for _ in 0..8 {
        let err = a.push().await.unwrap_err();
        match &err {
            ClientError::Rejected { code, status, .. } => {
                assert_eq!((*code, *status), (ErrorCode::BodyTooLarge, 413), "{err}")
            }
            other => panic!("{other:?}"),
        }
        assert!(!err.to_string().contains("retrying is safe"), "{err}");
        // Refused for good: no push is kept to be resent as it is; the
        // ops stay pending.
        let status = a.status().await.unwrap();
        assert_eq!(status.outstanding_push, None);
        assert_eq!(status.pending_ops, 4000);
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_server_url_is_a_configuration_error_and_sends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(dir.path(), "a");
    make_db(&path);
    let node = Node::open(&path, &[]).unwrap();
    for bad in [
        "localhost:8080",
        "htp://127.0.0.1:1",
        "http://127.0.0.1:70000",
    ] {
        let err = node.register(bad, Some(TOKEN)).await.unwrap_err();
        assert!(
            matches!(err, ClientError::InvalidServerUrl { .. }),
            "{bad}: {err:?}"
        );
        assert_eq!(err.code(), ErrorCode::InvalidConfiguration);
    }
}

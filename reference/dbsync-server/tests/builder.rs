//! A server made with `Server::builder`, its hooks given as closures,
//! mounted in an axum app under a nested prefix (`/api` + `/sync`) and
//! served by `Server::serve_with` on 127.0.0.1 over a real SQLite file;
//! driven by real nodes.

use dbsync_client::{ClientError, Node};
use dbsync_core::ErrorCode;
use dbsync_server::axum::{routing::get, Router};
use dbsync_server::{RegisterDecision, Server, ServerBuilder, ServerHandle};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SCHEMA: &str =
    "CREATE TABLE city (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE);";

fn builder(dir: &Path) -> ServerBuilder {
    let db = dir.join("server.db");
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch(SCHEMA)
        .unwrap();
    let store = dbsync_sqlite::SqliteStore::open(&db, &[], Default::default()).unwrap();
    Server::builder(Arc::new(store))
}

/// Serves `server` inside an app: its routes at `/api/sync`, nested.
async fn serve_in_app(server: Server) -> ServerHandle {
    let api = Router::new()
        .route("/hello", get(|| async { "hello" }))
        .merge(server.router("/sync"));
    let app = Router::new().nest("/api", api);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    server.serve_with(listener, app).unwrap()
}

fn node(dir: &Path, name: &str) -> Node {
    let path = dir.join(format!("{name}.db"));
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(SCHEMA)
        .unwrap();
    Node::open(&path, &[]).unwrap()
}

fn app_data(user: &str) -> dbsync_core::protocol::AppData {
    serde_json::json!({ "user": user })
        .as_object()
        .unwrap()
        .clone()
}

fn rejected_code(err: ClientError) -> ErrorCode {
    match err {
        ClientError::Rejected { code, .. } => code,
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hooks_given_to_the_builder_as_closures_decide_registers_and_pushes() {
    let dir = tempfile::tempdir().unwrap();
    let frozen = Arc::new(AtomicBool::new(false));
    let versions = Arc::new(Mutex::new(Vec::new()));
    let server = builder(dir.path())
        .open_registration(true)
        .on_register(|request| {
            let user = request.app_data.as_ref().and_then(|d| d.get("user"));
            match user.and_then(|u| u.as_str()) {
                Some(user) => Ok(RegisterDecision {
                    user_id: Some(user.to_owned()),
                    ..Default::default()
                }),
                None => Err("who are you?".into()),
            }
        })
        .before_push({
            let frozen = frozen.clone();
            move |_node, _push| match frozen.load(Ordering::SeqCst) {
                true => Err("the server is frozen".into()),
                false => Ok(()),
            }
        })
        .after_push({
            let versions = versions.clone();
            move |node, _push, answer| versions.lock().unwrap().push((node, answer.version))
        })
        .build()
        .unwrap();
    let running = serve_in_app(server).await;
    let url = format!("http://{}/api/sync", running.local_addr());

    // Without app data the register hook refuses.
    let refused = node(dir.path(), "x")
        .register(&url, None)
        .await
        .unwrap_err();
    assert_eq!(rejected_code(refused), ErrorCode::HookRejected);
    let a = node(dir.path(), "a").with_app_data(app_data("ana"));
    let registered = a.register(&url, None).await.unwrap();
    let users: Vec<Option<String>> = rusqlite::Connection::open(dir.path().join("server.db"))
        .unwrap()
        .prepare("SELECT user_id FROM dbsync_nodes")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(users, [Some("ana".to_string())]);

    let insert = |name: &str| {
        a.database()
            .lock()
            .unwrap()
            .execute("INSERT INTO city (name) VALUES (?1)", [name])
            .unwrap();
    };
    insert("Lisbon");
    let pushed = a.sync().await.unwrap();
    assert_eq!(pushed.pushed_ops, 1);
    let node_id = registered.node_id;
    assert_eq!(*versions.lock().unwrap(), [(node_id, pushed.version)]);

    frozen.store(true, Ordering::SeqCst);
    insert("Porto");
    let refused = a.push().await.unwrap_err();
    assert_eq!(rejected_code(refused), ErrorCode::HookRejected);
    assert_eq!(
        versions.lock().unwrap().len(),
        1,
        "a refused push is not seen after"
    );
    running.shutdown().await;
}

/// Sends `request` on a fresh connection; the time until the first byte
/// of the answer, and the answer up to the server closing.
async fn timed_exchange(addr: std::net::SocketAddr, request: String) -> (Duration, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let sent = Instant::now();
    let mut first = [0u8; 1];
    stream.read_exact(&mut first).await.unwrap();
    let waited = sent.elapsed();
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut rest)).await;
    let answer = [&first[..], &rest].concat();
    (waited, String::from_utf8_lossy(&answer).into_owned())
}

fn register_head(length: usize) -> String {
    format!(
        "POST /api/sync/v1/register HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\
         content-type: application/json\r\ncontent-length: {length}\r\n\r\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_a_prefix_a_body_waits_for_a_read_permit_like_at_the_root() {
    let dir = tempfile::tempdir().unwrap();
    let server = builder(dir.path())
        .open_registration(true)
        .configure(|c| {
            c.max_body_reads = 1;
            c.body_read_timeout = Duration::from_secs(2);
        })
        .build()
        .unwrap();
    let running = serve_in_app(server).await;
    let addr = running.local_addr();
    // The first request announces a body it never sends: it holds the
    // only permit until its body read time runs out.
    let slow = tokio::spawn(timed_exchange(addr, register_head(10)));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let body = r#"{"protocol":"1.0"}"#;
    let (waited, answer) = timed_exchange(addr, register_head(body.len()) + body).await;
    assert!(
        waited >= Duration::from_millis(1200),
        "a whole body was answered after {waited:?}, beside a body being read: {answer}"
    );
    let (_, slow) = slow.await.unwrap();
    assert!(slow.starts_with("HTTP/1.1 408"), "{slow}");
    running.shutdown().await;
}

//! The `mounted` example's application (`examples/mounted/app.rs`, the
//! same code) served over HTTPS on 127.0.0.1 with a certificate the test
//! makes: real nodes sync through `/sync` while the app's own routes keep
//! answering, and the server's checks and limits hold under the prefix.

#[path = "../examples/mounted/app.rs"]
mod app;
#[path = "../../dbsync-client/tests/common/certs.rs"]
mod certs;

use certs::{make_pki, TestPki};
use dbsync_client::{CaCert, Node};
use dbsync_server::ServerHandle;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use std::path::Path;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TOKEN: &str = "notes-token";

async fn start_app(dir: &Path, pki: &TestPki) -> ServerHandle {
    app::start(app::Options {
        db: dir.join("app.db"),
        listen: ([127, 0, 0, 1], 0).into(),
        token: TOKEN.into(),
        tls: Some((pki.server_cert.clone(), pki.server_key.clone())),
    })
    .await
    .unwrap()
}

/// A node's database: the app's table, tracked.
fn node_db(dir: &Path, name: &str) -> Node {
    let path = dir.join(format!("{name}.db"));
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(app::SCHEMA)
        .unwrap();
    Node::open(&path, &[]).unwrap()
}

/// Sends `request` (bytes as on the wire) over HTTPS, trusting only the
/// test's CA, and returns everything the server sent until it closed.
async fn exchange(running: &ServerHandle, pki: &TestPki, request: &str) -> String {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(&pki.ca_cert).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(running.local_addr())
        .await
        .unwrap();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let mut tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .unwrap();
    tls.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let read = tls.read_to_end(&mut answer);
    // The server closes the connection: after `Connection: close`, or
    // after an answer sent before the body was read.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), read).await;
    String::from_utf8_lossy(&answer).into_owned()
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n")
}

/// The JSON body of a whole HTTP answer.
fn body_of(answer: &str) -> serde_json::Value {
    let (_, body) = answer.split_once("\r\n\r\n").expect("a head and a body");
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {answer}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_sync_over_https_through_the_app_that_mounts_the_server_and_the_apps_routes_still_answer(
) {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path(), "app", &["127.0.0.1"]);
    let running = start_app(dir.path(), &pki).await;
    let url = format!("https://{}{}", running.local_addr(), app::SYNC_PREFIX);
    let ca = CaCert::from_pem_file(&pki.ca_cert).unwrap();
    for name in ["a", "b"] {
        node_db(dir.path(), name)
            .with_ca_cert(ca.clone())
            .register(&url, Some(TOKEN))
            .await
            .unwrap();
    }
    // Reopened without the CA: the one stored with the credentials is used.
    let a = Node::open_tracked(&dir.path().join("a.db")).unwrap();
    a.database()
        .lock()
        .unwrap()
        .execute_batch("INSERT INTO note (title, body) VALUES ('buy milk', 'two litres');")
        .unwrap();
    assert_eq!(a.sync().await.unwrap().pushed_ops, 1);
    let b = Node::open_tracked(&dir.path().join("b.db")).unwrap();
    assert_eq!(b.sync().await.unwrap().merged_ops, 1);
    let on_b: String = b
        .database()
        .lock()
        .unwrap()
        .query_row("SELECT title FROM note", [], |r| r.get(0))
        .unwrap();
    assert_eq!(on_b, "buy milk");

    // The app's own routes, on the same port: its data holds the note.
    let health = exchange(&running, &pki, &get("/health")).await;
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert!(health.ends_with("\r\n\r\nok\n"), "{health}");
    let notes = exchange(&running, &pki, &get("/api/notes")).await;
    assert!(notes.starts_with("HTTP/1.1 200"), "{notes}");
    assert_eq!(
        body_of(&notes),
        serde_json::json!([{"id": 1, "title": "buy milk", "body": "two litres"}])
    );
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_the_prefix_every_path_is_the_servers_and_outside_it_the_apps() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path(), "app", &["127.0.0.1"]);
    let running = start_app(dir.path(), &pki).await;
    // No endpoint: the protocol's 404, naming the path as the node sent it.
    let missing = exchange(&running, &pki, &get("/sync/v1/pul")).await;
    assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
    assert!(missing.contains("dbsync-protocol: 1.0\r\n"), "{missing}");
    let body = body_of(&missing);
    assert_eq!(body["error"]["code"], "not_found", "{missing}");
    assert_eq!(
        body["error"]["details"]["path"], "/sync/v1/pul",
        "{missing}"
    );
    // An endpoint, with the wrong method.
    let wrong = exchange(&running, &pki, &get("/sync/v1/push")).await;
    assert!(wrong.starts_with("HTTP/1.1 405"), "{wrong}");
    assert!(wrong.contains("allow: POST\r\n"), "{wrong}");
    assert_eq!(body_of(&wrong)["error"]["code"], "method_not_allowed");
    // Outside the prefix (a look-alike included) the app answers: axum's
    // own empty 404, no protocol header.
    for path in ["/v1/push", "/syncing/v1/push", "/elsewhere"] {
        let theirs = exchange(&running, &pki, &get(path)).await;
        assert!(theirs.starts_with("HTTP/1.1 404"), "{path}: {theirs}");
        assert!(!theirs.contains("dbsync-protocol"), "{path}: {theirs}");
    }
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_above_the_limit_is_refused_under_the_prefix_before_it_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path(), "app", &["127.0.0.1"]);
    let running = start_app(dir.path(), &pki).await;
    // Register takes at most 64 KiB; the body is announced, never sent.
    let request = "POST /sync/v1/register HTTP/1.1\r\nhost: 127.0.0.1\r\n\
                   content-type: application/json\r\ncontent-length: 70000\r\n\r\n";
    let answer = exchange(&running, &pki, request).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("connection: close\r\n"), "{answer}");
    let body = body_of(&answer);
    assert_eq!(body["error"]["code"], "body_too_large", "{answer}");
    assert_eq!(body["error"]["details"]["limit"], 65536, "{answer}");
    running.shutdown().await;
}

//! Nodes and a real server speaking HTTPS on 127.0.0.1, with certificates
//! each test makes: trusted through the CA the node was given (and kept
//! with its credentials), refused when signed by another CA or made for
//! another host.

mod common;

use common::certs::{make_pki, TestPki};
use common::*;
use dbsync_client::{CaCert, ClientError, Node};
use dbsync_core::ErrorCode;
use dbsync_server::{Config, Server, ServerHandle};

async fn start_https_server(dir: &std::path::Path, pki: &TestPki) -> ServerHandle {
    let db = dir.join("server.db");
    make_db(&db);
    let mut config = Config::new();
    config.registration_token = Some(TOKEN.into());
    config.tls_cert = Some(pki.server_cert.clone());
    config.tls_key = Some(pki.server_key.clone());
    Server::bind(common::sqlite_store(&db), config)
        .await
        .unwrap()
}

fn https(server: &ServerHandle) -> String {
    format!("https://{}", server.local_addr())
}

fn open(dir: &std::path::Path, name: &str) -> Node {
    let path = db_path(dir, name);
    make_db(&path);
    Node::open(&path, &[]).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_given_the_servers_ca_registers_and_syncs_over_https() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path(), "good", &["127.0.0.1", "localhost"]);
    let server = start_https_server(dir.path(), &pki).await;
    let ca = CaCert::from_pem_file(&pki.ca_cert).unwrap();
    for name in ["a", "b"] {
        open(dir.path(), name)
            .with_ca_cert(ca.clone())
            .register(&https(&server), Some(TOKEN))
            .await
            .unwrap();
    }
    // Reopened without the CA: the one stored with the credentials is used.
    let a = Node::open_tracked(&db_path(dir.path(), "a")).unwrap();
    a.database()
        .lock()
        .unwrap()
        .execute_batch("INSERT INTO city (name) VALUES ('Lisbon');")
        .unwrap();
    assert_eq!(a.sync().await.unwrap().pushed_ops, 1);
    let b = Node::open_tracked(&db_path(dir.path(), "b")).unwrap();
    assert_eq!(b.sync().await.unwrap().merged_ops, 1);
    assert_eq!(
        dump(&db_path(dir.path(), "b")),
        dump(&dir.path().join("server.db"))
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_signed_by_another_ca_is_refused_as_untrusted_and_nothing_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path(), "good", &["127.0.0.1"]);
    let other = make_pki(dir.path(), "other", &["127.0.0.1"]);
    let server = start_https_server(dir.path(), &pki).await;
    let node = open(dir.path(), "a").with_ca_cert(CaCert::from_pem_file(&other.ca_cert).unwrap());
    let err = node
        .register(&https(&server), Some(TOKEN))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClientError::UntrustedCertificate { .. }),
        "{err:?}"
    );
    assert_eq!(err.code(), ErrorCode::UntrustedCertificate);
    let message = err.to_string();
    assert!(
        message.contains("UnknownIssuer") && message.contains("--ca-cert"),
        "{message}"
    );
    assert_eq!(node.status().await.unwrap().node_id, None);
    // Without any CA the platform's roots do not sign it either.
    let err = open(dir.path(), "b")
        .register(&https(&server), Some(TOKEN))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClientError::UntrustedCertificate { .. }),
        "{err:?}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_made_for_another_host_is_refused_as_untrusted() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path(), "elsewhere", &["sync.example.com"]);
    let server = start_https_server(dir.path(), &pki).await;
    let err = open(dir.path(), "a")
        .with_ca_cert(CaCert::from_pem_file(&pki.ca_cert).unwrap())
        .register(&https(&server), Some(TOKEN))
        .await
        .unwrap_err();
    match err {
        ClientError::UntrustedCertificate { problem, .. } => {
            assert!(problem.contains("not valid for name"), "{problem}")
        }
        other => panic!("{other:?}"),
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_still_works_beside_https() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path()).await;
    let a = node(dir.path(), "a", &url(server.local_addr())).await;
    a.database()
        .lock()
        .unwrap()
        .execute_batch("INSERT INTO city (name) VALUES ('Porto');")
        .unwrap();
    assert_eq!(a.sync().await.unwrap().pushed_ops, 1);
    // An https:// URL to a plain HTTP server fails the handshake: a
    // network failure, not a certificate one.
    let err = open(dir.path(), "b")
        .register(&format!("https://{}", server.local_addr()), Some(TOKEN))
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Network(_)), "{err:?}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_starts_its_handshake_does_not_hold_up_others() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path(), "good", &["127.0.0.1"]);
    let server = start_https_server(dir.path(), &pki).await;
    let _silent = tokio::net::TcpStream::connect(server.local_addr())
        .await
        .unwrap();
    let registered = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        open(dir.path(), "a")
            .with_ca_cert(CaCert::from_pem_file(&pki.ca_cert).unwrap())
            .register(&https(&server), Some(TOKEN)),
    )
    .await
    .expect("register answered while another connection stalls");
    registered.unwrap();
    server.shutdown().await;
}

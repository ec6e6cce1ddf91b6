//! Starting an HTTPS server: certificate and key are both required, must
//! be PEM files that hold what they should, and must belong together.

use dbsync_server::{Config, Server, ServerError, Store};
use std::path::Path;
use std::sync::Arc;

#[path = "../../dbsync-client/tests/common/certs.rs"]
mod certs;

/// A store of one table in `dir`.
fn store(dir: &Path) -> Arc<dyn Store> {
    let db = dir.join("server.db");
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch(
            "CREATE TABLE IF NOT EXISTS city (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT);",
        )
        .unwrap();
    Arc::new(dbsync_sqlite::SqliteStore::open(&db, &[], Default::default()).unwrap())
}

async fn refused(config: Config) -> String {
    let dir = tempfile::tempdir().unwrap();
    match Server::bind(store(dir.path()), config).await {
        Err(ServerError::Config(why)) => why,
        Err(other) => panic!("{other:?}"),
        Ok(_) => panic!("the server started"),
    }
}

#[tokio::test]
async fn https_needs_both_a_certificate_and_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let pki = certs::make_pki(dir.path(), "good", &["127.0.0.1"]);
    let mut only_cert = Config::new();
    only_cert.tls_cert = Some(pki.server_cert.clone());
    assert!(refused(only_cert).await.contains("both"));
    let mut only_key = Config::new();
    only_key.tls_key = Some(pki.server_key.clone());
    assert!(refused(only_key).await.contains("both"));
}

#[tokio::test]
async fn files_that_do_not_hold_a_certificate_and_its_key_are_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let pki = certs::make_pki(dir.path(), "good", &["127.0.0.1"]);
    let other = certs::make_pki(dir.path(), "other", &["127.0.0.1"]);
    let mut swapped = Config::new();
    swapped.tls_cert = Some(pki.server_key.clone());
    swapped.tls_key = Some(pki.server_cert.clone());
    let why = refused(swapped).await;
    assert!(why.contains("TLS certificate file"), "{why}");
    let mut missing = Config::new();
    missing.tls_cert = Some(dir.path().join("nowhere.pem"));
    missing.tls_key = Some(pki.server_key.clone());
    let why = refused(missing).await;
    assert!(why.contains("nowhere.pem"), "{why}");
    let mut mismatched = Config::new();
    mismatched.tls_cert = Some(pki.server_cert.clone());
    mismatched.tls_key = Some(other.server_key.clone());
    let why = refused(mismatched).await;
    assert!(why.contains("does not fit"), "{why}");
}

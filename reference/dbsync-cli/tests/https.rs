//! `dbsync serve --tls-cert --tls-key` and `dbsync register --ca-cert`
//! as subprocesses: a sync over HTTPS with a certificate the test makes,
//! and a server signed by another CA refused with its own exit code.

use std::path::Path;
use std::process::Stdio;

const SCHEMA: &str =
    "CREATE TABLE city (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE);";

mod support {
    pub mod run;
    pub mod serving;
}
use support::run::{dbsync, ok, BIN};
#[path = "../../dbsync-client/tests/common/certs.rs"]
mod certs;

fn make_db(path: &Path) -> String {
    rusqlite::Connection::open(path)
        .unwrap()
        .execute_batch(SCHEMA)
        .unwrap();
    path.to_str().unwrap().to_string()
}

fn serve_https(dir: &Path, pki: &certs::TestPki) -> support::serving::Serving {
    let db = dir.join("server.db");
    make_db(&db);
    support::serving::serve(
        BIN,
        db.to_str().unwrap(),
        &[
            "--open-registration",
            "--tls-cert",
            pki.server_cert.to_str().unwrap(),
            "--tls-key",
            pki.server_key.to_str().unwrap(),
        ],
        Stdio::null(),
    )
}

#[test]
fn a_node_registered_with_the_servers_ca_syncs_over_https() {
    let dir = tempfile::tempdir().unwrap();
    let pki = certs::make_pki(dir.path(), "good", &["127.0.0.1"]);
    let server = serve_https(dir.path(), &pki);
    assert!(
        server.url.starts_with("https://127.0.0.1:"),
        "{}",
        server.url
    );
    let db = make_db(&dir.path().join("a.db"));
    ok(&["track", "--db", &db]);
    let ca = pki.ca_cert.to_str().unwrap();
    ok(&[
        "register",
        "--db",
        &db,
        "--server",
        &server.url,
        "--ca-cert",
        ca,
    ]);
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch("INSERT INTO city (name) VALUES ('Lisbon');")
        .unwrap();
    let synced = ok(&["sync", "--db", &db]);
    assert!(synced.contains("pushed 1 ops"), "{synced}");
}

#[test]
fn a_server_signed_by_another_ca_is_refused_with_its_own_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let pki = certs::make_pki(dir.path(), "good", &["127.0.0.1"]);
    let other = certs::make_pki(dir.path(), "other", &["127.0.0.1"]);
    let server = serve_https(dir.path(), &pki);
    let db = make_db(&dir.path().join("a.db"));
    ok(&["track", "--db", &db]);
    let wrong = other.ca_cert.to_str().unwrap();
    let out = dbsync(&[
        "register",
        "--db",
        &db,
        "--server",
        &server.url,
        "--ca-cert",
        wrong,
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(7), "{stderr}");
    assert!(
        stderr.contains("untrusted_certificate") && stderr.contains("not trusted"),
        "{stderr}"
    );
    // A CA file that holds no certificate is a usage error.
    let out = dbsync(&[
        "register",
        "--db",
        &db,
        "--server",
        &server.url,
        "--ca-cert",
        &db,
    ]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let help = ok(&["--help"]);
    assert!(help.contains("7  untrusted certificate"), "{help}");
}

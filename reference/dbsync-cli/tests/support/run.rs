//! The `dbsync` binary run from a test: its output, or its stdout when it
//! must succeed.

#![allow(dead_code, reason = "each test file uses some of these")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_dbsync");

/// Runs `dbsync ARGS` to the end.
pub fn dbsync(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("dbsync runs")
}

/// Runs `dbsync ARGS`, which must succeed, and returns its stdout.
pub fn ok(args: &[&str]) -> String {
    let out = dbsync(args);
    assert!(
        out.status.success(),
        "dbsync {args:?} failed ({:?}):\n{}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A node database `dir/name` holding `schema`, tracked and registered
/// with the server at `url` under the tests' token (`sesame`).
pub fn tracked_node(dir: &Path, name: &str, schema: &str, url: &str) -> PathBuf {
    let path = dir.join(name);
    create_db(&path, schema);
    let db = path.to_str().unwrap();
    ok(&["track", "--db", db]);
    ok(&["register", "--db", db, "--server", url, "--token", "sesame"]);
    path
}

/// A SQLite database at `path` holding `schema`.
pub fn create_db(path: &Path, schema: &str) {
    rusqlite::Connection::open(path)
        .unwrap()
        .execute_batch(schema)
        .unwrap();
}

/// `server.db` and `node.db` in `dir`, each holding one `note` table.
pub fn server_and_node_dbs(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (server_db, node_db) = (dir.join("server.db"), dir.join("node.db"));
    for db in [&server_db, &node_db] {
        create_db(
            db,
            "CREATE TABLE note (id INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT);",
        );
    }
    (server_db, node_db)
}

//! An application database's rows as text, for tests that compare the
//! nodes and the server after syncing through the CLI.

#![allow(dead_code, reason = "each test file uses some of these")]

use super::run::ok;
use std::path::Path;
use std::process::Command;

/// Runs `sql` as the application: Python's `sqlite3`, one transaction.
pub fn app(db: &Path, sql: &str) {
    let status = Command::new("python3")
        .args([
            "-c",
            "import sqlite3, sys\nc = sqlite3.connect(sys.argv[1])\nc.executescript(sys.argv[2])\nc.commit()",
            db.to_str().unwrap(),
            sql,
        ])
        .status()
        .expect("python3 runs (the application of this test)");
    assert!(status.success(), "the application ran {sql}");
}

/// A value as SQL writes it, with its kind: `1`, `0.99` (a real), `'x'`.
pub fn cell(v: rusqlite::types::ValueRef<'_>) -> String {
    use rusqlite::types::ValueRef;
    match v {
        ValueRef::Null => "NULL".into(),
        ValueRef::Integer(i) => i.to_string(),
        ValueRef::Real(f) => format!("{f:?}"),
        ValueRef::Text(t) => format!("'{}'", String::from_utf8_lossy(t)),
        ValueRef::Blob(b) => format!(
            "x'{}'",
            b.iter().map(|x| format!("{x:02x}")).collect::<String>()
        ),
    }
}

/// Every row of `tables` in `db`, table by table, by key, as SQL writes
/// its values.
pub fn every_row(db: &Path, tables: &[&str]) -> Vec<String> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut out = Vec::new();
    for table in tables {
        let mut stmt = conn
            .prepare(&format!("SELECT * FROM \"{table}\" ORDER BY 1"))
            .unwrap();
        let n = stmt.column_count();
        let rows = stmt
            .query_map([], |r| {
                let cells: Vec<String> = (0..n).map(|i| cell(r.get_ref(i).unwrap())).collect();
                Ok(format!("{table}: {}", cells.join(", ")))
            })
            .unwrap();
        out.extend(rows.map(Result::unwrap));
    }
    out
}

/// `dbsync sync`, which must succeed.
pub fn sync(db: &Path) -> String {
    ok(&["sync", "--db", db.to_str().unwrap()])
}

/// The node's conflict log as `dbsync conflicts --json` prints it.
pub fn conflicts(db: &Path) -> String {
    ok(&["conflicts", "--db", db.to_str().unwrap(), "--json"])
}

/// `dbsync track` of `tables` in `db` (unchanged application tables; the
/// rows it holds are pushed when `existing`), then `register` with the
/// server at `url` under the tests' token (`sesame`).
pub fn track_and_register(db: &Path, tables: &[&str], existing: bool, url: &str) {
    let path = db.to_str().unwrap();
    let tables = tables.join(",");
    let mut track = vec!["track", "--db", path, "--tables", &tables];
    if existing {
        track.extend(["--existing-rows", "push"]);
    }
    ok(&track);
    ok(&[
        "register", "--db", path, "--server", url, "--token", "sesame",
    ]);
}

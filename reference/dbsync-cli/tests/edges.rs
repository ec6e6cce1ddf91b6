//! The edges of the command line (issue 14): a missing `--db` file, `--json`
//! on every command that prints, `DBSYNC_LOG` in `--help`, a direction
//! named for one table, and the operator's page size and `stale_after`
//! (spec §18.4).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

mod support {
    pub mod run;
    pub mod serving;
}
use support::run::{dbsync, ok, BIN};
use support::serving::{serve, Serving};

const SCHEMA: &str = "
CREATE TABLE city (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE);
CREATE TABLE person (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, city_id INTEGER REFERENCES city(id));
CREATE TABLE visit (id INTEGER PRIMARY KEY AUTOINCREMENT, person_id INTEGER REFERENCES person(id), at TEXT);
";

/// `ok` with `--json`, its stdout parsed.
fn json(args: &[&str]) -> serde_json::Value {
    let mut args = args.to_vec();
    args.push("--json");
    let text = ok(&args);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?}: {e}: {text}"))
}

fn make_db(path: &Path) -> String {
    rusqlite::Connection::open(path)
        .unwrap()
        .execute_batch(SCHEMA)
        .unwrap();
    path.to_str().unwrap().to_string()
}

fn insert(db: &str, sql: &str) {
    rusqlite::Connection::open(db)
        .unwrap()
        .execute_batch(sql)
        .unwrap();
}

fn serve_with(db: &str, flags: &[&str]) -> Serving {
    let mut all = vec!["--registration-token", "sesame"];
    all.extend_from_slice(flags);
    serve(BIN, db, &all, Stdio::null())
}

/// A tracked node database registered with `server`.
fn node(dir: &Path, name: &str, server: &Serving) -> String {
    let db = make_db(&dir.join(name));
    ok(&["track", "--db", &db]);
    let token = ["--token", "sesame"];
    ok(&[
        &["register", "--db", &db, "--server", &server.url],
        &token[..],
    ]
    .concat());
    db
}

#[test]
fn sync_and_every_node_command_on_a_missing_database_exit_2_and_create_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.db");
    let db = missing.to_str().unwrap();
    for command in [
        vec!["sync", "--db", db],
        vec!["push", "--db", db],
        vec!["pull", "--db", db],
        vec!["repair", "--db", db],
        vec!["status", "--db", db],
        vec!["conflicts", "--db", db],
        vec!["untrack", "--db", db],
        vec!["trim", "--db", db],
        vec!["query", "--db", db, "--table", "city"],
        vec!["register", "--db", db, "--server", "http://127.0.0.1:9"],
    ] {
        let out = dbsync(&command);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{command:?}: {stderr}");
        assert!(stderr.contains("no database at"), "{command:?}: {stderr}");
        assert!(!missing.exists(), "{command:?} created {db}");
    }
}

#[test]
fn track_and_serve_on_a_mistyped_path_exit_2_instead_of_tracking_zero_tables() {
    let dir = tempfile::tempdir().unwrap();
    make_db(&dir.path().join("app.db"));
    let typo = dir.path().join("ap.db");
    let typo = typo.to_str().unwrap();
    let out = dbsync(&["track", "--db", typo]);
    assert_eq!(out.status.code(), Some(2), "track");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no database at"));
    let out = dbsync(&[
        "serve",
        "--db",
        typo,
        "--listen",
        "127.0.0.1:0",
        "--open-registration",
    ]);
    assert_eq!(out.status.code(), Some(2), "serve");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no database at"));
    assert!(!Path::new(typo).exists());
}

#[test]
fn serve_without_db_still_creates_its_default_demo_database() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--open-registration"])
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(first.starts_with("listening on http://"), "{first}");
    assert!(dir.path().join("dbsync-server.db").is_file());
}

#[test]
fn every_command_that_prints_something_takes_json() {
    let dir = tempfile::tempdir().unwrap();
    let server_db = make_db(&dir.path().join("server.db"));
    let mut child = Command::new(BIN)
        .args(["serve", "--db", &server_db, "--listen", "127.0.0.1:0"])
        .args(["--open-registration", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let announced: serde_json::Value = serde_json::from_str(&first).expect(&first);
    let url = announced["listening"].as_str().unwrap().to_string();
    assert_eq!(announced["tables"].as_array().unwrap().len(), 3);

    let db = make_db(&dir.path().join("a.db"));
    assert_eq!(json(&["track", "--db", &db])["tables"][0]["name"], "city");
    let registered = json(&["register", "--db", &db, "--server", &url]);
    assert!(registered["node_id"].as_u64().unwrap() > 0);
    assert_eq!(json(&["push", "--db", &db])["pushed"], false);
    insert(&db, "INSERT INTO city (name) VALUES ('Lisbon');");
    assert_eq!(json(&["push", "--db", &db])["ops"], 1);
    assert_eq!(json(&["pull", "--db", &db])["version"], 1);
    assert_eq!(json(&["sync", "--db", &db])["version"], 1);
    assert_eq!(json(&["repair", "--db", &db])["version"], 1);
    let rows = json(&["query", "--db", &db, "--table", "city"]);
    assert_eq!(rows["rows"].as_array().unwrap().len(), 1);
    assert_eq!(json(&["status", "--db", &db])["last_version"], 1);
    assert!(json(&["conflicts", "--db", &db]).is_array());
    assert!(json(&["trim", "--db", &db])["ops_dropped"].is_u64());
    let _ = child.kill();
    let _ = child.wait();
    let failed = dbsync(&["sync", "--db", &db, "--json"]);
    assert_eq!(failed.status.code(), Some(5), "the server is gone");
    let body: serde_json::Value = serde_json::from_slice(&failed.stderr).unwrap();
    assert_eq!(body["error"]["code"], "network_unreachable", "{body}");
    assert_eq!(body["protocol"], "1.0");
    assert!(json(&["trim", "--db", &server_db])["trimmed_through"].is_u64());
    assert_eq!(json(&["untrack", "--db", &db])["every_table"], true);
    assert_eq!(json(&["demo"])["converged"], true);
}

#[test]
fn dbsync_log_is_documented_in_help() {
    let help = ok(&["--help"]);
    assert!(help.contains("DBSYNC_LOG"), "{help}");
    assert!(help.contains("Exit codes:"), "{help}");
}

#[test]
fn naming_only_a_direction_for_one_table_keeps_every_other_table_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let server_db = make_db(&dir.path().join("server.db"));
    let mut child = Command::new(BIN)
        .args(["serve", "--db", &server_db, "--listen", "127.0.0.1:0"])
        .args(["--open-registration", "--json", "--push-only", "visit"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let _ = child.kill();
    let output = child.wait_with_output().unwrap();
    let announced: serde_json::Value = serde_json::from_str(&first).unwrap_or_else(|_| {
        panic!(
            "serve did not start: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    let directions: Vec<(String, String)> = announced["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap().into(),
                t["direction"].as_str().unwrap().into(),
            )
        })
        .collect();
    let expected = [("city", "both"), ("person", "both"), ("visit", "push_only")];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(n, d)| (n.to_string(), d.to_string()))
        .collect();
    assert_eq!(directions, expected);

    let db = make_db(&dir.path().join("a.db"));
    let tracked = ok(&["track", "--db", &db, "--push-only", "visit"]);
    for line in [
        "tracking city (both)",
        "tracking person (both)",
        "tracking visit (push_only)",
    ] {
        assert!(tracked.contains(line), "{tracked}");
    }
    let out = dbsync(&[
        "track",
        "--db",
        &db,
        "--push-only",
        "visit",
        "--pull-only",
        "visit",
    ]);
    assert_eq!(out.status.code(), Some(2), "a table named twice");
}

#[test]
fn serve_page_size_sets_how_many_ops_a_pull_page_holds() {
    let dir = tempfile::tempdir().unwrap();
    let server_db = make_db(&dir.path().join("server.db"));
    let server = serve_with(&server_db, &["--page-size", "2"]);
    let a = node(dir.path(), "a.db", &server);
    let b = node(dir.path(), "b.db", &server);
    for name in ["Lisbon", "Porto", "Faro", "Braga", "Evora"] {
        insert(&a, &format!("INSERT INTO city (name) VALUES ('{name}');"));
        ok(&["push", "--db", &a]);
    }
    let pages = Arc::new(AtomicUsize::new(0));
    let counted = pages.clone();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let report = runtime.block_on(async move {
        dbsync_client::Node::open_tracked(Path::new(&b))
            .unwrap()
            .with_progress(Arc::new(move |_| {
                counted.fetch_add(1, Ordering::SeqCst);
            }))
            .pull()
            .await
            .unwrap()
    });
    assert_eq!(report.version, 5);
    assert_eq!(pages.load(Ordering::SeqCst), 3, "5 ops in pages of 2");
    assert_eq!(
        dbsync(&["serve", "--page-size", "0"]).status.code(),
        Some(2)
    );
}

#[test]
fn serve_stale_after_with_trim_every_makes_an_unseen_node_repair() {
    let dir = tempfile::tempdir().unwrap();
    let server_db = make_db(&dir.path().join("server.db"));
    let server = serve_with(&server_db, &["--stale-after", "1s", "--trim-every", "1s"]);
    let a = node(dir.path(), "a.db", &server);
    let b = node(dir.path(), "b.db", &server);
    insert(&a, "INSERT INTO city (name) VALUES ('Lisbon');");
    ok(&["sync", "--db", &a]);
    std::thread::sleep(std::time::Duration::from_millis(3_500));
    let out = dbsync(&["sync", "--db", &b]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("repair_required"), "{stderr}");
    assert!(ok(&["repair", "--db", &b]).contains("version 1"));
    let bad = dbsync(&["serve", "--stale-after", "soon", "--open-registration"]);
    assert_eq!(bad.status.code(), Some(2));
}

//! The `dbsync` binary driven as a subprocess: a whole serve, track,
//! register, sync cycle, and the documented exit codes.

use std::path::Path;
use std::process::Stdio;

const SCHEMA: &str = "
CREATE TABLE city (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE, founded DATE);
CREATE TABLE person (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, city_id INTEGER REFERENCES city(id));
";

fn make_db(path: &Path) {
    rusqlite::Connection::open(path)
        .unwrap()
        .execute_batch(SCHEMA)
        .unwrap();
}

mod support {
    pub mod run;
    pub mod serving;
}
use support::run::{dbsync, ok, BIN};
use support::serving::Serving;

fn serve(db: &Path) -> Serving {
    support::serving::serve(
        BIN,
        db.to_str().unwrap(),
        &["--registration-token", "sesame"],
        Stdio::null(),
    )
}

#[test]
fn serve_track_register_sync_query_status_and_conflicts_work_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    make_db(&dir.path().join("server.db"));
    let server = serve(&dir.path().join("server.db"));
    for name in ["a.db", "b.db"] {
        make_db(&dir.path().join(name));
        let tracked = ok(&["track", "--db", &p(name)]);
        assert!(tracked.contains("tracking city (both)"), "{tracked}");
        ok(&[
            "register",
            "--db",
            &p(name),
            "--server",
            &server.url,
            "--token",
            "sesame",
        ]);
    }
    rusqlite::Connection::open(p("a.db"))
        .unwrap()
        .execute_batch("INSERT INTO city (name) VALUES ('Lisbon');")
        .unwrap();
    rusqlite::Connection::open(p("b.db"))
        .unwrap()
        .execute_batch("INSERT INTO city (name) VALUES ('Porto');")
        .unwrap();
    assert!(ok(&["sync", "--db", &p("a.db")]).contains("pushed 1 ops"));
    assert!(ok(&["sync", "--db", &p("b.db")]).starts_with("synced"));
    ok(&["sync", "--db", &p("a.db")]);
    let status: serde_json::Value =
        serde_json::from_str(&ok(&["status", "--db", &p("a.db"), "--json"])).unwrap();
    assert_eq!(status["pending_ops"], 0);
    assert_eq!(status["last_version"], 2);
    let rows: serde_json::Value = serde_json::from_str(&ok(&[
        "query",
        "--db",
        &p("b.db"),
        "--table",
        "city",
        "--where",
        "name=Lisbon",
    ]))
    .unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 1);
    let log = ok(&["conflicts", "--db", &p("b.db")]);
    assert!(log.contains("local_insert_rekeyed"), "{log}");
    let json: serde_json::Value =
        serde_json::from_str(&ok(&["conflicts", "--db", &p("b.db"), "--json"])).unwrap();
    assert_eq!(json[0]["entry"]["rule"], "local_insert_rekeyed");
    assert!(ok(&["trim", "--db", &p("a.db")]).contains("pending ops kept"));
    assert!(ok(&["trim", "--db", &p("server.db")]).starts_with("trimmed through version"));
    ok(&["untrack", "--db", &p("a.db")]);
}

#[test]
fn each_failure_has_its_documented_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("n.db");
    make_db(&db);
    let db = db.to_str().unwrap();
    ok(&["track", "--db", db]);
    assert_eq!(
        dbsync(&["push", "--db", db]).status.code(),
        Some(6),
        "not registered"
    );
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let out = dbsync(&[
        "register",
        "--db",
        db,
        "--server",
        &format!("http://{closed}"),
        "--token",
        "x",
    ]);
    assert_eq!(out.status.code(), Some(5), "network unreachable");
    make_db(&dir.path().join("server.db"));
    let server = serve(&dir.path().join("server.db"));
    let out = dbsync(&[
        "register",
        "--db",
        db,
        "--server",
        &server.url,
        "--token",
        "wrong",
    ]);
    assert_eq!(out.status.code(), Some(3), "rejected");
    assert!(String::from_utf8_lossy(&out.stderr).contains("registration_refused"));
    assert_eq!(dbsync(&["sync"]).status.code(), Some(2), "usage");
    let help = ok(&["--help"]);
    assert!(help.contains("Exit codes:") && help.contains("unique collision"));
}

#[test]
fn a_unique_collision_exits_with_its_own_code() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    make_db(&dir.path().join("server.db"));
    let server = serve(&dir.path().join("server.db"));
    for name in ["a.db", "b.db"] {
        make_db(&dir.path().join(name));
        ok(&["track", "--db", &p(name)]);
        ok(&[
            "register",
            "--db",
            &p(name),
            "--server",
            &server.url,
            "--token",
            "sesame",
        ]);
    }
    rusqlite::Connection::open(p("a.db"))
        .unwrap()
        .execute_batch("INSERT INTO city (name) VALUES ('Lisbon');")
        .unwrap();
    ok(&["sync", "--db", &p("a.db")]);
    rusqlite::Connection::open(p("b.db"))
        .unwrap()
        .execute_batch("INSERT INTO city (id, name) VALUES (9, 'Lisbon');")
        .unwrap();
    let out = dbsync(&["sync", "--db", &p("b.db")]);
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("city row"));
}

#[test]
fn the_demo_shows_every_rule_it_claims() {
    let out = ok(&["demo"]);
    for rule in [
        "local_update_kept",
        "deleted_row_restored",
        "local_insert_rekeyed",
        "unique_swap_applied",
        "error [unique_collision]",
        "--keep-remote",
    ] {
        assert!(out.contains(rule), "{rule} missing from:\n{out}");
    }
    assert!(out.contains("hold the same rows: yes"), "{out}");
    assert!(out.contains("both kept, nothing logged): yes"), "{out}");
    assert!(out.contains("rules shown: 4 of 4"), "{out}");
    assert!(out.contains("bob's pending ops (its push, unless a merge changes them): u city 1 (name), u city 3 (founded), d city 4"), "{out}");
}

#[test]
fn the_demo_keeps_its_folder_when_asked_so_its_conflicts_command_works() {
    let out = ok(&["demo", "--keep", "--json"]);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["collision_resolved"], true, "{report}");
    let folder = std::path::PathBuf::from(report["folder"].as_str().unwrap());
    let bob = folder.join("bob.db");
    let log = ok(&["conflicts", "--db", bob.to_str().unwrap()]);
    assert!(log.contains("local_update_kept"), "{log}");
    std::fs::remove_dir_all(folder).unwrap();
}

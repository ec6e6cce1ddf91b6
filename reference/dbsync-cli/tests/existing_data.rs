//! `dbsync track --existing-rows` and `dbsync repair
//! --discard-local-changes` (spec §3.5, §13.5), driven as subprocesses
//! against a real `dbsync serve`.

use std::path::Path;
use std::process::Stdio;

const SCHEMA: &str = "
CREATE TABLE city (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE, founded DATE);
CREATE TABLE person (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, city_id INTEGER REFERENCES city(id));
";

mod support {
    pub mod run;
    pub mod serving;
}
use support::run::{dbsync, ok, BIN};

fn sql(db: &Path, statements: &str) {
    rusqlite::Connection::open(db)
        .unwrap()
        .execute_batch(statements)
        .unwrap();
}

fn count(db: &Path, query: &str) -> i64 {
    rusqlite::Connection::open(db)
        .unwrap()
        .query_row(query, [], |r| r.get(0))
        .unwrap()
}

fn serve(db: &Path) -> support::serving::Serving {
    sql(db, SCHEMA);
    support::serving::serve(
        BIN,
        db.to_str().unwrap(),
        &["--registration-token", "sesame"],
        Stdio::null(),
    )
}

fn register(db: &str, url: &str) {
    ok(&["register", "--db", db, "--server", url, "--token", "sesame"]);
}

#[test]
fn existing_rows_are_tracked_only_when_the_operator_says_what_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(&dir.path().join("server.db"));
    let a = dir.path().join("a.db");
    sql(&a, SCHEMA);
    sql(
        &a,
        "INSERT INTO city (name) VALUES ('Lisbon'), ('Porto'), ('Braga');
         INSERT INTO person (name, city_id) VALUES ('Rui', 3);",
    );
    let a_db = a.to_str().unwrap();
    let refused = dbsync(&["track", "--db", a_db]);
    let err = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{err}");
    assert!(err.contains("existing_rows"), "{err}");
    assert!(err.contains("city (3 rows), person (1 row)"), "{err}");
    assert!(
        err.contains("--existing-rows push") && err.contains("--existing-rows replace"),
        "{err}"
    );
    assert_eq!(
        count(
            &a,
            "SELECT count(*) FROM sqlite_schema WHERE name LIKE 'dbsync%'"
        ),
        0,
        "nothing was tracked"
    );

    ok(&["track", "--db", a_db, "--existing-rows", "push"]);
    register(a_db, &server.url);
    let synced = ok(&["sync", "--db", a_db]);
    assert!(synced.contains("pushed 4 ops"), "{synced}");

    // A second node gets them.
    let b = dir.path().join("b.db");
    sql(&b, SCHEMA);
    let b_db = b.to_str().unwrap();
    ok(&["track", "--db", b_db]);
    register(b_db, &server.url);
    ok(&["sync", "--db", b_db]);
    assert_eq!(count(&b, "SELECT count(*) FROM city"), 3);
    assert_eq!(
        count(&b, "SELECT city_id FROM person WHERE name = 'Rui'"),
        3
    );

    // A copy of the server's data is replaced by the first repair, which
    // needs no consent for it.
    let c = dir.path().join("c.db");
    sql(&c, SCHEMA);
    sql(&c, "INSERT INTO city (name) VALUES ('Lisboa (old copy)');");
    let c_db = c.to_str().unwrap();
    ok(&["track", "--db", c_db, "--existing-rows", "replace"]);
    register(c_db, &server.url);
    assert!(ok(&["status", "--db", c_db]).contains("repair owed"));
    let out = dbsync(&["sync", "--db", c_db]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("repair_required"), "{err}");
    ok(&["repair", "--db", c_db]);
    assert_eq!(
        count(&c, "SELECT count(*) FROM city WHERE name = 'Lisbon'"),
        1
    );
    assert_eq!(count(&c, "SELECT count(*) FROM city"), 3);
}

#[test]
fn repair_keeps_unpushed_work_unless_told_to_discard_it_and_says_what_it_discarded() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(&dir.path().join("server.db"));
    let n = dir.path().join("n.db");
    sql(&n, SCHEMA);
    let db = n.to_str().unwrap();
    ok(&["track", "--db", db]);
    register(db, &server.url);
    sql(
        &n,
        "INSERT INTO city (name) VALUES ('Faro'), ('Evora');
         INSERT INTO person (name, city_id) VALUES ('Ana', 1);",
    );
    let out = dbsync(&["repair", "--db", db]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("unpushed_changes"), "{err}");
    assert!(
        err.contains("city: 2 pending ops; person: 1 pending op"),
        "{err}"
    );
    assert!(err.contains("--discard-local-changes"), "{err}");
    assert_eq!(count(&n, "SELECT count(*) FROM city"), 2, "nothing changed");

    let repaired = ok(&["repair", "--db", db, "--discard-local-changes"]);
    assert!(
        repaired.contains("discarded local work: city: 2 pending ops; person: 1 pending op"),
        "{repaired}"
    );
    assert_eq!(count(&n, "SELECT count(*) FROM city"), 0);
    let log = ok(&["conflicts", "--db", db]);
    assert_eq!(log.matches("local_change_discarded").count(), 3, "{log}");
    let status: serde_json::Value =
        serde_json::from_str(&ok(&["status", "--db", db, "--json"])).unwrap();
    assert_eq!(status["pending_ops"], 0);
}

#[test]
fn rows_in_the_server_database_before_the_first_serve_reach_a_new_node() {
    let dir = tempfile::tempdir().unwrap();
    let server_db = dir.path().join("server.db");
    sql(&server_db, SCHEMA);
    sql(
        &server_db,
        "INSERT INTO city (name) VALUES ('Lisbon'), ('Porto');
         INSERT INTO person (name, city_id) VALUES ('Rui', 2);",
    );
    let server = support::serving::serve(
        BIN,
        server_db.to_str().unwrap(),
        &["--registration-token", "sesame"],
        Stdio::null(),
    );
    let n = dir.path().join("n.db");
    sql(&n, SCHEMA);
    let db = n.to_str().unwrap();
    ok(&["track", "--db", db]);
    register(db, &server.url);
    ok(&["sync", "--db", db]);
    assert_eq!(count(&n, "SELECT count(*) FROM city"), 2);
    assert_eq!(
        count(&n, "SELECT city_id FROM person WHERE name = 'Rui'"),
        2
    );
    // The node's next insert takes a fresh key and reaches the server.
    sql(&n, "INSERT INTO city (name) VALUES ('Faro');");
    let synced = ok(&["sync", "--db", db]);
    assert!(synced.contains("pushed 1 ops"), "{synced}");
    assert_eq!(count(&server_db, "SELECT count(*) FROM city"), 3);
}

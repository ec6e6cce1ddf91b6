//! `dbsync serve --scopes FILE` and `dbsync register --user ID` (spec
//! §19): the rules checked at start with errors that name the table, and
//! two users' nodes holding only their own rows, through the binary.

use std::path::Path;
use std::process::Stdio;

mod support {
    pub mod run;
    pub mod serving;
}
use support::run::{create_db, dbsync, ok, BIN};

const APP: &str = "
CREATE TABLE project (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL);
CREATE TABLE task (id INTEGER PRIMARY KEY AUTOINCREMENT, owner TEXT NOT NULL,
                   project_id INTEGER NOT NULL REFERENCES project(id), title TEXT NOT NULL);
";

const RULES: &str =
    r#"{"tables": {"project": {"read": "all"}, "task": {"read": {"owner": "owner"}}}}"#;

fn write(path: &Path, text: &str) -> String {
    std::fs::write(path, text).unwrap();
    path.to_str().unwrap().to_string()
}

/// `dbsync serve` on `db` with the rules `rules`: its exit code and
/// stderr, when it refuses to start.
fn refused_start(dir: &Path, rules: &str) -> (Option<i32>, String) {
    let db = dir.join("server.db");
    if !db.exists() {
        create_db(&db, APP);
    }
    let file = write(&dir.join("scopes.json"), rules);
    let out = dbsync(&[
        "serve",
        "--db",
        db.to_str().unwrap(),
        "--registration-token",
        "sesame",
        "--listen",
        "127.0.0.1:0",
        "--scopes",
        &file,
    ]);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn serve_refuses_rules_that_leave_a_table_without_a_rule_and_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let (code, err) = refused_start(dir.path(), r#"{"tables": {"project": {"read": "all"}}}"#);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("scopes.json"), "{err}");
    assert!(err.contains("table \"task\" has no rule"), "{err}");
}

#[test]
fn serve_refuses_a_foreign_key_that_would_break_closure() {
    let dir = tempfile::tempdir().unwrap();
    let rules = r#"{"tables": {"project": {"read": {"owner": "name"}}, "task": {"read": {"owner": "owner"}}}}"#;
    let (code, err) = refused_start(dir.path(), rules);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("foreign key \"project_id\" references \"project\""),
        "{err}"
    );
}

#[test]
fn serve_refuses_a_scopes_file_that_is_not_json() {
    let dir = tempfile::tempdir().unwrap();
    let (code, err) = refused_start(dir.path(), "tables: all");
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("not JSON"), "{err}");
}

fn rows(db: &Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn
        .prepare("SELECT 'project ' || id FROM project UNION ALL SELECT 'task ' || id || ' ' || owner FROM task")
        .unwrap();
    let out = stmt.query_map([], |r| r.get(0)).unwrap();
    out.map(Result::unwrap).collect()
}

#[test]
fn nodes_registered_with_user_sync_only_their_own_tasks_and_the_shared_project() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let server_db = d.join("server.db");
    create_db(&server_db, APP);
    create_db(
        &server_db,
        "INSERT INTO project VALUES (1, 'Garden'); \
         INSERT INTO task VALUES (1, 'alice', 1, 'sow'), (2, 'bob', 1, 'fence');",
    );
    let file = write(&d.join("scopes.json"), RULES);
    let server = support::serving::serve(
        BIN,
        server_db.to_str().unwrap(),
        &["--registration-token", "sesame", "--scopes", &file],
        Stdio::null(),
    );
    for user in ["alice", "bob"] {
        let db = d.join(format!("{user}.db"));
        create_db(&db, APP);
        let db = db.to_str().unwrap();
        ok(&["track", "--db", db]);
        let args = [
            "register",
            "--db",
            db,
            "--server",
            &server.url,
            "--token",
            "sesame",
            "--user",
            user,
        ];
        ok(&args);
        ok(&["repair", "--db", db]);
    }
    assert_eq!(rows(&d.join("alice.db")), ["project 1", "task 1 alice"]);
    assert_eq!(rows(&d.join("bob.db")), ["project 1", "task 2 bob"]);
    // Alice writes a task for bob: refused, exit code of a server refusal.
    create_db(
        &d.join("alice.db"),
        "INSERT INTO task VALUES (9, 'bob', 1, 'gift')",
    );
    let out = dbsync(&["sync", "--db", d.join("alice.db").to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("forbidden"), "{err}");
    assert_eq!(
        rows(&server_db),
        ["project 1", "task 1 alice", "task 2 bob"]
    );
}

#[test]
fn register_with_a_user_under_open_registration_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let server_db = d.join("server.db");
    create_db(&server_db, APP);
    let file = write(&d.join("scopes.json"), RULES);
    let server = support::serving::serve(
        BIN,
        server_db.to_str().unwrap(),
        &["--open-registration", "--scopes", &file],
        Stdio::null(),
    );
    let db = d.join("mallory.db");
    create_db(&db, APP);
    let db = db.to_str().unwrap();
    ok(&["track", "--db", db]);
    let out = dbsync(&[
        "register",
        "--db",
        db,
        "--server",
        &server.url,
        "--user",
        "alice",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("registration_refused"), "{err}");
}

//! A typical app schema designed for sync, keyed by UUIDs the application
//! chooses (spec §2.2 text keys): projects, tasks, tags and a join table
//! with its own text key, foreign keys between text-keyed tables, and
//! both ways between text- and integer-keyed tables (a task's assignee is
//! an integer-keyed person; an integer-keyed comment belongs to a task).
//! Tracked unchanged and synced through the CLI between two nodes and a
//! `dbsync serve`, with Python's `sqlite3` as the application: offline
//! conflicts (an update of one task on both nodes, the same tag inserted
//! on both nodes under the key both derive from its label, a comment
//! given the same integer key on both), and convergence.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

mod support {
    pub mod app_rows;
    pub mod run;
    pub mod serving;
}
use support::app_rows::{conflicts, every_row, sync, track_and_register};
use support::run::{dbsync, ok, BIN};
use support::serving::serve;

const SCHEMA: &str = "
CREATE TABLE person (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL);
CREATE TABLE project (id TEXT PRIMARY KEY, name TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE task (
  id TEXT PRIMARY KEY,
  project_id TEXT NOT NULL REFERENCES project (id),
  assignee_id INTEGER REFERENCES person (id),
  title TEXT NOT NULL,
  done INTEGER NOT NULL DEFAULT 0,
  meta JSON
);
CREATE TABLE tag (id VARCHAR(36) PRIMARY KEY, label TEXT NOT NULL UNIQUE, color TEXT);
CREATE TABLE task_tag (
  id TEXT PRIMARY KEY,
  task_id TEXT NOT NULL REFERENCES task (id),
  tag_id VARCHAR(36) NOT NULL REFERENCES tag (id),
  UNIQUE (task_id, tag_id)
);
CREATE TABLE comment (id INTEGER PRIMARY KEY, task_id TEXT NOT NULL REFERENCES task (id), body TEXT NOT NULL);
";

/// Parents first.
const SYNCED: [&str; 6] = ["person", "project", "task", "tag", "task_tag", "comment"];

/// The application: Python's sqlite3, one transaction. `uuid4()` gives
/// new rows their keys; a tag's key is `uuid5` of its label, so every
/// node that adds the tag "urgent" names the same row.
fn app(db: &Path, script: &str) {
    let program = format!(
        "import sqlite3, sys, uuid\n\
         c = sqlite3.connect(sys.argv[1])\n\
         def new(): return str(uuid.uuid4())\n\
         def tag(label): return str(uuid.uuid5(uuid.NAMESPACE_URL, 'tag:' + label))\n\
         {script}\n\
         c.commit()\n"
    );
    let status = Command::new("python3")
        .args(["-c", &program, db.to_str().unwrap()])
        .status()
        .expect("python3 runs (the application of this test)");
    assert!(status.success(), "the application ran {script}");
}

/// The first rows, with fixed keys the test can name.
const ROWS: &str = "
c.execute(\"INSERT INTO person (name) VALUES ('Ana'), ('Bo')\")
c.execute(\"INSERT INTO project VALUES ('b1f2c3d4-0000-4000-8000-000000000001', 'Launch', '2026-11-30T09:00:00Z')\")
for i, title in enumerate(['Write the spec', 'Ship it']):
    c.execute('INSERT INTO task (id, project_id, assignee_id, title, meta) VALUES (?, ?, ?, ?, ?)',
              ('7a000000-0000-4000-8000-00000000000%d' % (i + 1), 'b1f2c3d4-0000-4000-8000-000000000001', 1, title, '{\"prio\": %d}' % i))
c.execute('INSERT INTO tag VALUES (?, ?, ?)', (tag('docs'), 'docs', 'blue'))
c.execute('INSERT INTO task_tag VALUES (?, ?, ?)', (new(), '7a000000-0000-4000-8000-000000000001', tag('docs')))
c.execute(\"INSERT INTO comment (task_id, body) VALUES ('7a000000-0000-4000-8000-000000000002', 'after the spec')\")
";

const TASK_1: &str = "7a000000-0000-4000-8000-000000000001";

/// A database the application made (schema, then `script`).
fn app_db(dir: &Path, name: &str, script: &str) -> PathBuf {
    let db = dir.join(name);
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch(SCHEMA)
        .unwrap();
    if !script.is_empty() {
        app(&db, script);
    }
    db
}

/// A node: the application's database, tracked unchanged and registered.
fn node(dir: &Path, name: &str, url: &str, script: &str) -> PathBuf {
    let db = app_db(dir, name, script);
    track_and_register(&db, &SYNCED, !script.is_empty(), url);
    db
}

#[test]
fn a_uuid_keyed_app_schema_syncs_unchanged_between_two_nodes_with_offline_conflicts() {
    let dir = tempfile::tempdir().unwrap();
    let server_db = app_db(dir.path(), "server.db", "");
    let tables = SYNCED.join(",");
    let server = serve(
        BIN,
        server_db.to_str().unwrap(),
        &["--registration-token", "sesame", "--tables", &tables],
        Stdio::null(),
    );
    let a = node(dir.path(), "a.db", &server.url, ROWS);
    sync(&a);
    let b = node(dir.path(), "b.db", &server.url, "");
    sync(&b);
    assert_eq!(rows_of(&b), rows_of(&a), "b pulled a's rows");

    // Offline: both edit task 1; both tag it "urgent" (one row: its key
    // is derived from the label) with different colours and their own
    // join rows; both comment on it, SQLite giving each comment key 2.
    app(
        &a,
        &format!(
            "c.execute(\"UPDATE task SET title = 'Write the spec, v2' WHERE id = '{TASK_1}'\")
c.execute('INSERT INTO tag VALUES (?, ?, ?)', (tag('urgent'), 'urgent', 'red'))
c.execute('INSERT INTO task_tag VALUES (?, ?, ?)', (new(), '{TASK_1}', tag('urgent')))
c.execute(\"INSERT INTO comment (task_id, body) VALUES ('{TASK_1}', 'from a')\")"
        ),
    );
    app(
        &b,
        &format!(
            "c.execute(\"UPDATE task SET done = 1 WHERE id = '{TASK_1}'\")
c.execute('INSERT INTO tag VALUES (?, ?, ?)', (tag('urgent'), 'urgent', 'orange'))
c.execute(\"INSERT INTO comment (task_id, body) VALUES ('{TASK_1}', 'from b')\")"
        ),
    );
    sync(&a);
    sync(&b);
    sync(&a);

    let on_server = rows_of(&server_db);
    assert_eq!(rows_of(&a), on_server);
    assert_eq!(rows_of(&b), on_server);
    let b_log = conflicts(&b);
    // b synced second: its tag is one row that both nodes wrote, decided
    // by node_wins, never moved to another key. The task's title (a) and
    // done flag (b) are different columns: both kept, nothing logged
    // (spec §12.4.4).
    assert!(b_log.contains("local_update_kept"), "{b_log}");
    assert!(!b_log.contains(TASK_1), "{b_log}");
    // Only the integer-keyed comment moved.
    assert_eq!(b_log.matches("local_insert_rekeyed").count(), 1, "{b_log}");
    let joined = on_server.join("\n");
    for expected in [
        format!(
            "task: '{TASK_1}', 'b1f2c3d4-0000-4000-8000-000000000001', 1, 'Write the spec, v2', 1,"
        ),
        "'urgent', 'orange'".to_string(),
        "comment: 2, '7a000000-0000-4000-8000-000000000001', 'from a'".to_string(),
        "comment: 3, '7a000000-0000-4000-8000-000000000001', 'from b'".to_string(),
    ] {
        assert!(joined.contains(&expected), "{expected} in\n{joined}");
    }
    assert_eq!(joined.matches("'urgent'").count(), 1, "{joined}");
    assert_eq!(joined.matches("task_tag: ").count(), 2, "{joined}");
}

#[test]
fn a_key_declared_uuid_is_refused_with_both_declarations_as_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.db");
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch("CREATE TABLE item (id UUID PRIMARY KEY, name TEXT);")
        .unwrap();
    let out = dbsync(&["check", "--db", db.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("`TEXT PRIMARY KEY`"), "{err}");
    assert!(err.contains("`INTEGER PRIMARY KEY`"), "{err}");
}

#[test]
fn a_tracked_text_key_refuses_a_null_or_over_long_key_in_the_app_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let db = app_db(dir.path(), "app.db", "");
    ok(&[
        "track",
        "--db",
        db.to_str().unwrap(),
        "--tables",
        &SYNCED.join(","),
    ]);
    let conn = rusqlite::Connection::open(&db).unwrap();
    for bad in [
        "INSERT INTO tag (id, label) VALUES (NULL, 'x')".to_string(),
        format!(
            "INSERT INTO tag (id, label) VALUES ('{}', 'y')",
            "k".repeat(65)
        ),
        "INSERT INTO tag (id, label) VALUES (x'00', 'z')".to_string(),
    ] {
        let err = conn.execute(&bad, []).unwrap_err().to_string();
        assert!(err.contains("does not fit"), "{bad}: {err}");
    }
    let written: i64 = conn
        .query_row("SELECT count(*) FROM tag", [], |r| r.get(0))
        .unwrap();
    assert_eq!(written, 0);
    conn.execute("INSERT INTO tag (id, label) VALUES ('k', 'fine')", [])
        .unwrap();
}

/// Every synced row of `db`.
fn rows_of(db: &Path) -> Vec<String> {
    every_row(db, &SYNCED)
}

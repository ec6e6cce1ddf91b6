//! Tracking an existing SQLite database: restrictions, idempotence, and
//! capture of every writer.

use dbsync_core::{Command, Direction, KeyType};
use dbsync_sqlite::{
    open, open_with_busy_timeout, oplog, track, ExistingRows, ExistingRowsRefused, Role,
    StoreError, TableRefused, TableSpec, TrackOptions,
};
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::time::Duration;

const APP: &str = "
CREATE TABLE city (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE, founded DATE);
CREATE TABLE person (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL,
                     city_id INTEGER REFERENCES city(id), photo BLOB, height REAL,
                     UNIQUE (name, city_id));
";

fn app_db(dir: &Path) -> PathBuf {
    let path = dir.join("app.db");
    let conn = open(&path).unwrap();
    conn.execute_batch(APP).unwrap();
    path
}

fn refused(sql: &str, table: &str) -> TableRefused {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = open(&dir.path().join("x.db")).unwrap();
    conn.execute_batch(sql).unwrap();
    match track::track(&mut conn, &[TableSpec::both(table)], Role::Node) {
        Err(StoreError::Refused(r)) => r,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn commands(conn: &Connection) -> Vec<(String, i64, Command)> {
    oplog::pending(conn)
        .unwrap()
        .into_iter()
        .map(|r| {
            (
                r.table,
                r.row_id.as_int().expect("an integer id"),
                r.command,
            )
        })
        .collect()
}

#[test]
fn tracking_reads_keys_foreign_keys_unique_constraints_and_types() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = open(&app_db(dir.path())).unwrap();
    let schema = track::track(&mut conn, &[], Role::Node).unwrap();
    let person = schema.table("person").unwrap();
    assert_eq!(person.primary_key, "id");
    assert_eq!(person.foreign_keys[0].column, "city_id");
    assert_eq!(person.foreign_keys[0].references, "city");
    assert_eq!(
        person.unique,
        vec![vec!["city_id".to_string(), "name".to_string()]]
    );
    let types: Vec<(&str, &str)> = person
        .columns
        .iter()
        .map(|c| (c.name.as_str(), c.ty.name()))
        .collect();
    assert_eq!(
        types,
        vec![
            ("name", "text"),
            ("city_id", "integer"),
            ("photo", "blob"),
            ("height", "real")
        ]
    );
    let city = schema.table("city").unwrap();
    assert_eq!(city.unique, vec![vec!["name".to_string()]]);
    assert_eq!(city.column("founded").unwrap().ty.name(), "date");
}

#[test]
fn a_composite_primary_key_is_refused_with_what_to_change() {
    let r = refused(
        "CREATE TABLE t (a INTEGER, b INTEGER, PRIMARY KEY (a, b));",
        "t",
    );
    assert!(matches!(r, TableRefused::CompositeKey { .. }));
    assert!(r.to_string().contains("UNIQUE constraint"), "{r}");
}

#[test]
fn a_key_neither_integer_nor_text_is_refused() {
    // Text keys are tracked since spec §2.2 allowed them; a key of any
    // other type is still refused.
    for declared in ["REAL", "BLOB", "NUMERIC"] {
        let r = refused(
            &format!("CREATE TABLE t (code {declared} PRIMARY KEY);"),
            "t",
        );
        assert!(matches!(r, TableRefused::NonIntegerKey { .. }), "{r:?}");
    }
}

#[test]
fn a_text_primary_key_is_tracked_as_a_text_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = open(&dir.path().join("x.db")).unwrap();
    conn.execute_batch("CREATE TABLE t (code TEXT PRIMARY KEY);")
        .unwrap();
    let schema = track::track(&mut conn, &[TableSpec::both("t")], Role::Node).unwrap();
    let t = schema.table("t").unwrap();
    assert_eq!(
        (t.primary_key.as_str(), t.key_type),
        ("code", KeyType::Text)
    );
}

#[test]
fn an_integer_key_that_is_not_the_rowid_is_refused() {
    // SQLite's quirk: `PRIMARY KEY DESC` as a column constraint makes a
    // separate key, not an alias of the rowid.
    let r = refused("CREATE TABLE t (id INTEGER PRIMARY KEY DESC, v TEXT);", "t");
    assert!(matches!(r, TableRefused::NotRowid { .. }), "{r:?}");
    assert!(r.to_string().contains("INTEGER PRIMARY KEY"), "{r}");
}

#[test]
fn plain_integer_keys_are_tracked_however_they_are_declared() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = open(&dir.path().join("x.db")).unwrap();
    conn.execute_batch(
        "CREATE TABLE a (id INTEGER PRIMARY KEY, v TEXT);
         CREATE TABLE b (Id integer NOT NULL, v TEXT, CONSTRAINT pk_b PRIMARY KEY (Id));
         CREATE TABLE c (id INTEGER PRIMARY KEY ASC, v TEXT);
         INSERT INTO b (Id, v) VALUES (7, 'x');",
    )
    .unwrap();
    let schema = track::track_with(
        &mut conn,
        &[
            TableSpec::both("a"),
            TableSpec::both("b"),
            TableSpec::both("c"),
        ],
        Role::Node,
        &TrackOptions {
            existing_rows: Some(ExistingRows::Push),
        },
    )
    .unwrap();
    assert_eq!(schema.table("b").unwrap().primary_key, "Id");
    for (table, floor) in [("a", 0), ("b", 7), ("c", 0)] {
        assert_eq!(
            dbsync_sqlite::key_floor::floor_of(&conn, table).unwrap(),
            Some(floor),
            "{table}"
        );
    }
}

#[test]
fn a_table_without_primary_key_is_refused() {
    let r = refused("CREATE TABLE t (v TEXT);", "t");
    assert_eq!(r, TableRefused::NoPrimaryKey("t".into()));
}

#[test]
fn a_foreign_key_to_an_unsynced_table_is_refused() {
    let r = refused(
        "CREATE TABLE p (id INTEGER PRIMARY KEY AUTOINCREMENT);
         CREATE TABLE c (id INTEGER PRIMARY KEY AUTOINCREMENT, p_id INTEGER REFERENCES p(id));",
        "c",
    );
    assert!(matches!(r, TableRefused::ForeignKeyToUnsynced { ref parent, .. } if parent == "p"));
}

#[test]
fn a_missing_table_is_refused() {
    let r = refused("SELECT 1;", "nope");
    assert_eq!(r, TableRefused::NoSuchTable("nope".into()));
}

#[test]
fn tracking_twice_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = open(&app_db(dir.path())).unwrap();
    let first = track::track(&mut conn, &[], Role::Node).unwrap();
    let dump = |c: &Connection| -> Vec<String> {
        let mut s = c.prepare("SELECT type || ' ' || name || ' ' || ifnull(sql, '') FROM sqlite_schema ORDER BY name").unwrap();
        s.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    let before = dump(&conn);
    let second = track::track(&mut conn, &[], Role::Node).unwrap();
    assert_eq!(first, second);
    assert_eq!(before, dump(&conn));
    conn.execute("INSERT INTO city (name) VALUES ('Lisbon')", [])
        .unwrap();
    assert_eq!(commands(&conn).len(), 1, "one op per write, not two");
}

#[test]
fn tracking_a_database_tracked_as_asked_only_reads_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = app_db(dir.path());
    track::track(&mut open(&path).unwrap(), &[], Role::Node).unwrap();
    // The application holds the write lock.
    let app = open(&path).unwrap();
    app.execute_batch("BEGIN; INSERT INTO city (name) VALUES ('Lisbon');")
        .unwrap();
    let mut again = open_with_busy_timeout(&path, Duration::ZERO).unwrap();
    let schema = track::track(&mut again, &[], Role::Node).unwrap();
    assert_eq!(schema.tables.len(), 2);
    // A change of direction has something to write: it waits for the
    // lock, and gives up with a busy error once the timeout passed.
    let specs = [
        TableSpec::both("city"),
        TableSpec {
            name: "person".into(),
            direction: Direction::PushOnly,
        },
    ];
    match track::track(&mut again, &specs, Role::Node) {
        Err(e) => assert!(e.is_busy(), "{e}"),
        Ok(_) => panic!("tracking wrote while the application held the lock"),
    }
    app.execute_batch("COMMIT;").unwrap();
    let changed = track::track(&mut again, &specs, Role::Node).unwrap();
    assert_eq!(
        changed.table("person").unwrap().direction,
        Direction::PushOnly
    );
    assert_eq!(commands(&again).len(), 1, "the application's insert");
}

#[test]
fn existing_rows_become_pending_inserts_parents_first_or_a_refusal() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = open(&app_db(dir.path())).unwrap();
    conn.execute_batch(
        "INSERT INTO city (id, name) VALUES (5, 'Braga'), (2, 'Porto');
         INSERT INTO person (id, name, city_id) VALUES (4, 'Rui', 5);",
    )
    .unwrap();
    let push_person = |choice| {
        let specs = [
            TableSpec::both("city"),
            TableSpec {
                name: "person".into(),
                direction: Direction::PushOnly,
            },
        ];
        let options = TrackOptions {
            existing_rows: choice,
        };
        (specs, options)
    };
    // Unasked: refused, with every table's count.
    let (specs, options) = push_person(None);
    match track::track_with(&mut conn, &specs, Role::Node, &options) {
        Err(StoreError::ExistingRows(r)) => {
            assert_eq!(r.tables(), [("city", 2), ("person", 1)])
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    // A push-only table is never replaced by a repair.
    let (specs, options) = push_person(Some(ExistingRows::Replace));
    match track::track_with(&mut conn, &specs, Role::Node, &options) {
        Err(StoreError::ExistingRows(ExistingRowsRefused::RuledOut(held, _))) => {
            assert_eq!(held.table, "person")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let dbsync_objects: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_schema WHERE name LIKE 'dbsync%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(dbsync_objects, 0, "a refusal tracks nothing");
    let (specs, options) = push_person(Some(ExistingRows::Push));
    track::track_with(&mut conn, &specs, Role::Node, &options).unwrap();
    assert_eq!(
        commands(&conn),
        [
            ("city".to_string(), 2, Command::Insert),
            ("city".to_string(), 5, Command::Insert),
            ("person".to_string(), 4, Command::Insert),
        ]
    );
    // Tracking again records nothing more.
    track::track_with(&mut conn, &specs, Role::Node, &options).unwrap();
    assert_eq!(commands(&conn).len(), 3);
}

#[test]
fn untracking_removes_the_triggers_and_keeps_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = open(&app_db(dir.path())).unwrap();
    track::track(&mut conn, &[], Role::Node).unwrap();
    conn.execute("INSERT INTO city (name) VALUES ('Lisbon')", [])
        .unwrap();
    track::untrack(&mut conn, &[]).unwrap();
    conn.execute("INSERT INTO city (name) VALUES ('Porto')", [])
        .unwrap();
    let n: i64 = conn
        .query_row("SELECT count(*) FROM city", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 2);
    let triggers: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_schema WHERE type = 'trigger'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(triggers, 0);
    assert!(commands(&conn).is_empty());
}

#[test]
fn inserts_updates_deletes_and_rekeys_are_captured_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = open(&app_db(dir.path())).unwrap();
    track::track(&mut conn, &[], Role::Node).unwrap();
    conn.execute_batch(
        "INSERT INTO city (name) VALUES ('Lisbon');
         UPDATE city SET name = 'Lisboa' WHERE id = 1;
         UPDATE city SET id = 7 WHERE id = 1;
         DELETE FROM city WHERE id = 7;",
    )
    .unwrap();
    let c = |id, cmd| ("city".to_string(), id, cmd);
    assert_eq!(
        commands(&conn),
        vec![
            c(1, Command::Insert),
            c(1, Command::Update),
            c(1, Command::Delete),
            c(7, Command::Insert),
            c(7, Command::Update),
            c(7, Command::Delete)
        ]
    );
}

#[test]
fn a_rolled_back_write_leaves_no_op() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = open(&app_db(dir.path())).unwrap();
    track::track(&mut conn, &[], Role::Node).unwrap();
    let tx = conn.transaction().unwrap();
    tx.execute("INSERT INTO city (name) VALUES ('Lisbon')", [])
        .unwrap();
    tx.rollback().unwrap();
    assert!(commands(&conn).is_empty());
}

#[test]
fn a_second_independent_connection_is_captured() {
    let dir = tempfile::tempdir().unwrap();
    let path = app_db(dir.path());
    let mut conn = open(&path).unwrap();
    track::track(&mut conn, &[], Role::Node).unwrap();
    let other = Connection::open(&path).unwrap(); // plain rusqlite, no dbsync setup
    other
        .execute("INSERT INTO city (name) VALUES ('Porto')", [])
        .unwrap();
    assert_eq!(commands(&conn), vec![("city".into(), 1, Command::Insert)]);
}

#[test]
fn the_sqlite3_shell_and_python_are_captured_when_present() {
    let dir = tempfile::tempdir().unwrap();
    let path = app_db(dir.path());
    let mut conn = open(&path).unwrap();
    track::track(&mut conn, &[], Role::Node).unwrap();
    let mut expected = Vec::new();
    let shell = Process::new("sqlite3")
        .arg(&path)
        .arg("INSERT INTO city (name) VALUES ('from the shell');")
        .status();
    match shell {
        Ok(s) if s.success() => expected.push(("city".to_string(), 1, Command::Insert)),
        _ => eprintln!("sqlite3 shell not available: skipped that writer"),
    }
    let python = Process::new("python3")
        .arg("-c")
        .arg("import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(\"INSERT INTO city (name) VALUES ('from python')\"); c.commit()")
        .arg(&path)
        .status();
    match python {
        Ok(s) if s.success() => expected.push((
            "city".to_string(),
            expected.len() as i64 + 1,
            Command::Insert,
        )),
        _ => eprintln!("python3 not available: skipped that writer"),
    }
    assert_eq!(commands(&conn), expected);
}

#[test]
fn a_pull_only_table_refuses_writes_on_a_node_but_is_captured_on_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let path = app_db(dir.path());
    let mut conn = open(&path).unwrap();
    let specs = [
        TableSpec {
            name: "city".into(),
            direction: Direction::PullOnly,
        },
        TableSpec::both("person"),
    ];
    track::track(&mut conn, &specs, Role::Node).unwrap();
    let refused = conn
        .execute("INSERT INTO city (name) VALUES ('Lisbon')", [])
        .unwrap_err();
    assert!(refused.to_string().contains("pull-only"), "{refused}");
    assert!(commands(&conn).is_empty());
    track::track(&mut conn, &specs, Role::Server).unwrap();
    conn.execute("INSERT INTO city (name) VALUES ('Porto')", [])
        .unwrap();
    assert_eq!(commands(&conn).len(), 1);
}

#[test]
fn a_cascading_foreign_key_is_refused_with_the_delete_to_write_instead() {
    let r = refused(
        "CREATE TABLE p (id INTEGER PRIMARY KEY AUTOINCREMENT);
         CREATE TABLE c (id INTEGER PRIMARY KEY AUTOINCREMENT, p_id INTEGER REFERENCES p(id) ON DELETE CASCADE);",
        "c",
    );
    assert!(
        matches!(
            r,
            TableRefused::ForeignKeyAction {
                event: "DELETE",
                ..
            }
        ),
        "{r:?}"
    );
    let text = r.to_string();
    assert!(
        text.contains("`p_id INTEGER REFERENCES p` without the clause"),
        "{text}"
    );
    assert!(text.contains("DELETE FROM c WHERE p_id = ?"), "{text}");
}

#[test]
fn a_set_null_foreign_key_is_refused_with_the_update_to_write_instead() {
    let r = refused(
        "CREATE TABLE p (id INTEGER PRIMARY KEY);
         CREATE TABLE c (id INTEGER PRIMARY KEY, p_id INTEGER REFERENCES p(id) ON DELETE SET NULL);",
        "c",
    );
    let text = r.to_string();
    assert!(
        text.contains("UPDATE c SET p_id = NULL WHERE p_id = ?"),
        "{text}"
    );
}

#[test]
fn a_pulled_table_referencing_a_push_only_table_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = open(&app_db(dir.path())).unwrap();
    let specs = [
        TableSpec {
            name: "city".into(),
            direction: Direction::PushOnly,
        },
        TableSpec::both("person"),
    ];
    match track::track(&mut conn, &specs, Role::Node) {
        Err(StoreError::Refused(TableRefused::ForeignKeyToPushOnly { table, .. })) => {
            assert_eq!(table, "person")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let tracked: i64 = conn
        .query_row("SELECT count(*) FROM dbsync_tables", [], |r| r.get(0))
        .unwrap_or(0);
    assert_eq!(tracked, 0, "a refused track changes nothing");
}

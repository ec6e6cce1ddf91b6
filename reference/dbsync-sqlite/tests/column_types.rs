//! Declared SQLite types become column types by spec §2.5.1; a value a
//! column's type cannot carry is refused when the application writes it
//! (§3.4, C7), and a unique index the merge cannot check is refused at
//! tracking (§2.3.2).

use dbsync_core::ColumnType;
use dbsync_sqlite::{open, track, Role, StoreError, TableRefused};
use rusqlite::Connection;
use std::process::Command as Process;

fn tracked(sql: &str) -> (tempfile::TempDir, Connection) {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = open(&dir.path().join("app.db")).unwrap();
    conn.execute_batch(sql).unwrap();
    track::track(&mut conn, &[], Role::Node).unwrap();
    (dir, conn)
}

fn refusal(sql: &str) -> TableRefused {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = open(&dir.path().join("app.db")).unwrap();
    conn.execute_batch(sql).unwrap();
    match track::track(&mut conn, &[], Role::Node) {
        Err(StoreError::Refused(r)) => r,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn every_row_of_the_declared_type_table_gives_its_column_type() {
    let (_dir, conn) = tracked(
        "CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT,
           a DATETIME, b timestamp with time zone, c DATE, d TIME(3), e BIGINT, f BOOLEAN,
           g POINT, h VARCHAR(20), i CLOB, j BLOB, k DOUBLE PRECISION, l FLOAT,
           m, n NUMERIC(10,2), o DECIMAL, p JSON, q UUID, r ANY, s DATEISH)",
    );
    let schema = track::load_schema(&conn).unwrap();
    let types: Vec<(String, ColumnType)> = schema.tables[0]
        .columns
        .iter()
        .map(|c| (c.name.clone(), c.ty))
        .collect();
    use ColumnType::*;
    let want = [
        ("a", Datetime),
        ("b", Datetime),
        ("c", Date),
        ("d", Time),
        ("e", Integer),
        ("f", Integer),
        ("g", Integer),
        ("h", Text),
        ("i", Text),
        ("j", Blob),
        ("k", Real),
        ("l", Real),
        ("m", Any),
        ("n", Any),
        ("o", Any),
        ("p", Any),
        ("q", Any),
        ("r", Any),
        ("s", Any),
    ];
    let want: Vec<(String, ColumnType)> = want.iter().map(|(n, t)| (n.to_string(), *t)).collect();
    assert_eq!(types, want);
}

#[test]
fn a_value_its_column_cannot_carry_is_refused_at_the_write_and_records_nothing() {
    let (_dir, conn) = tracked(
        "CREATE TABLE event (id INTEGER PRIMARY KEY AUTOINCREMENT, at DATETIME, title TEXT)",
    );
    let err = conn
        .execute(
            "INSERT INTO event (at, title) VALUES (1718000000, 'launch')",
            [],
        )
        .unwrap_err()
        .to_string();
    // The message spec §3.4 shows.
    assert_eq!(
        err,
        "dbsync: a value does not fit its column in table event (at datetime, title text); \
         dates and times are text as in spec 4.3, and a column declared without a type holds any value"
    );
    conn.execute(
        "INSERT INTO event (at, title) VALUES ('2025-03-14 09:30:00', 'launch')",
        [],
    )
    .unwrap();
    let bad_update = conn.execute("UPDATE event SET at = '2025-02-30 09:30:00'", []);
    assert!(bad_update.is_err(), "an invalid calendar date is refused");
    let ops: i64 = conn
        .query_row("SELECT count(*) FROM dbsync_oplog", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ops, 1, "only the insert that fits was captured");
}

#[test]
fn an_untyped_column_keeps_every_kind_of_value_as_stored() {
    let (_dir, conn) = tracked(
        "CREATE TABLE note (id INTEGER PRIMARY KEY AUTOINCREMENT, meta JSON, score NUMERIC, raw)",
    );
    conn.execute_batch(
        "INSERT INTO note (meta, score, raw) VALUES ('{\"tags\": [\"a\"]}', 4.5, x'0001');
         INSERT INTO note (meta, score, raw) VALUES (12, 'n/a', 'text');",
    )
    .unwrap();
    let kinds: Vec<String> = conn
        .prepare("SELECT typeof(meta) || typeof(score) || typeof(raw) FROM note ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(kinds, ["textrealblob", "integertexttext"]);
}

#[test]
fn python_s_sqlite3_is_refused_a_misfit_too_when_present() {
    let (dir, conn) = tracked(
        "CREATE TABLE event (id INTEGER PRIMARY KEY AUTOINCREMENT, at DATETIME, title TEXT)",
    );
    drop(conn);
    let script = "import sqlite3, sys\n\
        c = sqlite3.connect(sys.argv[1])\n\
        try:\n    c.execute(\"INSERT INTO event (at, title) VALUES (1718000000, 'x')\"); c.commit(); print('stored')\n\
        except sqlite3.DatabaseError as e:\n    print('refused')\n";
    let Ok(out) = Process::new("python3")
        .args(["-c", script])
        .arg(dir.path().join("app.db"))
        .output()
    else {
        eprintln!("python3 is not installed: skipped");
        return;
    };
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "refused");
}

#[test]
fn a_table_already_holding_a_misfit_is_refused_with_the_count() {
    let r = refusal(
        "CREATE TABLE event (id INTEGER PRIMARY KEY AUTOINCREMENT, at DATETIME);
         INSERT INTO event (at) VALUES (1718000000), ('2025-03-14 09:30:00');",
    );
    assert!(
        matches!(&r, TableRefused::ValuesDoNotFit { table, rows: 1, .. } if table == "event"),
        "{r:?}"
    );
}

#[test]
fn partial_and_expression_unique_indexes_are_refused_naming_the_index() {
    let partial = refusal(
        "CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, email TEXT, deleted INTEGER);
         CREATE UNIQUE INDEX live_email ON t (email) WHERE deleted = 0;",
    );
    assert!(
        partial.to_string().contains("\"live_email\" is partial"),
        "{partial}"
    );
    let expression = refusal(
        "CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, email TEXT);
         CREATE UNIQUE INDEX email_ci ON t (lower(email));",
    );
    assert!(
        expression
            .to_string()
            .contains("\"email_ci\" is over an expression"),
        "{expression}"
    );
}

#[test]
fn a_unique_index_over_plain_columns_is_a_unique_constraint() {
    let (_dir, conn) = tracked(
        "CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, a TEXT, b TEXT);
         CREATE UNIQUE INDEX ab ON t (b, a);",
    );
    let schema = track::load_schema(&conn).unwrap();
    assert_eq!(
        schema.tables[0].unique,
        vec![vec!["a".to_string(), "b".into()]]
    );
}

#[test]
fn track_reports_every_refused_table_at_once() {
    let r = refusal(
        "CREATE TABLE a (id INTEGER PRIMARY KEY AUTOINCREMENT, v TEXT);
         CREATE TABLE b (x INTEGER, y INTEGER, PRIMARY KEY (x, y));
         CREATE TABLE c (id INTEGER PRIMARY KEY AUTOINCREMENT, email TEXT);
         CREATE UNIQUE INDEX c_email ON c (lower(email));
         CREATE TABLE d (id INTEGER PRIMARY KEY AUTOINCREMENT, at DATE);
         INSERT INTO d (at) VALUES ('tomorrow');",
    );
    let TableRefused::Several(all) = &r else {
        panic!("expected several refusals, got {r:?}");
    };
    assert_eq!(all.len(), 3, "{r}");
    let text = r.to_string();
    for table in ["\"b\"", "\"c\"", "\"d\""] {
        assert!(text.contains(table), "{text}");
    }
    assert!(
        text.starts_with("3 tables cannot be synced as they are:\n- "),
        "{text}"
    );
}

//! Tables whose keys SQLite reuses, a plain `INTEGER PRIMARY KEY` (spec
//! §2.2.1): a row that takes a deleted row's key moves to a fresh key
//! before the next push or merge, with its children; the server refuses
//! a direct write that reuses a key.

mod common;

use common::*;
use dbsync_core::merge::{ConflictKind, Rule};
use dbsync_core::RowId;
use dbsync_sqlite::key_floor::floor_of;
use dbsync_sqlite::node;

const NOTES: &str = "
CREATE TABLE note (id INTEGER PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE tag (id INTEGER PRIMARY KEY, note_id INTEGER REFERENCES note(id), label TEXT);
";

fn body(conn: &rusqlite::Connection, id: i64) -> Option<String> {
    conn.query_row("SELECT body FROM note WHERE id = ?1", [id], |r| r.get(0))
        .ok()
}

/// A server and node `a` holding notes 1 to 3, synced.
fn three_notes(dir: &std::path::Path) -> (Server, Node) {
    let mut s = server_of(dir, NOTES);
    let mut a = node_of(dir, "a", &mut s, NOTES);
    a.exec("INSERT INTO note (body) VALUES ('one'), ('two'), ('three');");
    a.sync(&mut s);
    (s, a)
}

#[test]
fn an_insert_on_a_deleted_key_moves_to_a_fresh_key_before_the_push() {
    let dir = tempfile::tempdir().unwrap();
    let (mut s, mut a) = three_notes(dir.path());
    a.exec("DELETE FROM note WHERE id = 3; INSERT INTO note (body) VALUES ('Groceries');");
    assert_eq!(
        body(&a.conn, 3).as_deref(),
        Some("Groceries"),
        "SQLite reused key 3"
    );
    a.sync(&mut s);
    assert_eq!(body(&a.conn, 4).as_deref(), Some("Groceries"));
    assert_eq!(body(&a.conn, 3), None);
    assert_eq!(body(&s.conn, 3), None, "the server deleted note 3");
    assert_eq!(dump(&a.conn, &a.schema), dump(&s.conn, &s.schema));
    assert_eq!(floor_of(&a.conn, "note").unwrap(), Some(4));
    let log = node::conflicts(&a.conn).unwrap();
    let moved: Vec<_> = log
        .iter()
        .filter(|c| c.entry.rule == Rule::ReusedKeyMoved)
        .collect();
    assert_eq!(moved.len(), 1, "{log:?}");
    assert_eq!(moved[0].entry.kind, ConflictKind::ReusedKey);
    assert_eq!(
        (moved[0].entry.row_id, moved[0].entry.new_row_id),
        (RowId::Int(3), Some(RowId::Int(4)))
    );
}

#[test]
fn another_node_s_update_of_the_deleted_row_never_lands_on_the_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let (mut s, mut a) = three_notes(dir.path());
    let mut b = node_of(dir.path(), "b", &mut s, NOTES);
    b.pull(&mut s);
    b.exec("UPDATE note SET body = 'three, edited' WHERE id = 3;");
    a.exec("DELETE FROM note WHERE id = 3; INSERT INTO note (body) VALUES ('Groceries');");
    a.sync(&mut s);
    b.sync(&mut s);
    a.sync(&mut s);
    // b's update keeps note 3 (node_wins, spec §12.4.1); Groceries is 4.
    for conn in [&a.conn, &b.conn, &s.conn] {
        assert_eq!(body(conn, 3).as_deref(), Some("three, edited"));
        assert_eq!(body(conn, 4).as_deref(), Some("Groceries"));
    }
}

#[test]
fn a_child_inserted_under_a_reused_key_follows_its_parent() {
    let dir = tempfile::tempdir().unwrap();
    let (mut s, mut a) = three_notes(dir.path());
    a.exec(
        "DELETE FROM note WHERE id = 3; INSERT INTO note (body) VALUES ('Groceries');
         INSERT INTO tag (note_id, label) VALUES (last_insert_rowid(), 'shopping');",
    );
    a.sync(&mut s);
    for conn in [&a.conn, &s.conn] {
        let parent: i64 = conn
            .query_row(
                "SELECT note_id FROM tag WHERE label = 'shopping'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(parent, 4);
    }
    assert_eq!(dump(&a.conn, &a.schema), dump(&s.conn, &s.schema));
}

#[test]
fn a_row_on_a_reused_key_deleted_again_before_the_sync_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (mut s, mut a) = three_notes(dir.path());
    a.exec(
        "DELETE FROM note WHERE id = 3; INSERT INTO note (body) VALUES ('brief');
         DELETE FROM note WHERE id = 3;",
    );
    a.sync(&mut s);
    assert!(node::compressed_pending(&a.conn).unwrap().is_empty());
    assert_eq!(count(&s.conn, "SELECT count(*) FROM note"), 2);
    assert_eq!(dump(&a.conn, &a.schema), dump(&s.conn, &s.schema));
}

#[test]
fn the_pending_ops_count_a_row_on_a_reused_key_apart_before_it_moves() {
    let dir = tempfile::tempdir().unwrap();
    let (_s, a) = three_notes(dir.path());
    a.exec("DELETE FROM note WHERE id = 3; INSERT INTO note (body) VALUES ('Groceries');");
    let ops = node::compressed_pending(&a.conn).expect("no invalid sequence `d i`");
    let commands: Vec<_> = ops.iter().map(|o| (o.row_id, o.command)).collect();
    use dbsync_core::Command::{Delete, Insert};
    assert_eq!(
        commands,
        vec![(RowId::Int(3), Delete), (RowId::Int(3), Insert)]
    );
}

#[test]
fn a_key_a_pull_deleted_is_not_taken_again() {
    let dir = tempfile::tempdir().unwrap();
    let (mut s, mut a) = three_notes(dir.path());
    let mut b = node_of(dir.path(), "b", &mut s, NOTES);
    b.pull(&mut s);
    a.exec("DELETE FROM note WHERE id = 3;");
    a.sync(&mut s);
    b.pull(&mut s);
    assert_eq!(floor_of(&b.conn, "note").unwrap(), Some(3));
    b.exec("INSERT INTO note (body) VALUES ('from b');");
    b.sync(&mut s);
    let id: i64 = s
        .conn
        .query_row("SELECT id FROM note WHERE body = 'from b'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(id, 4);
}

#[test]
fn the_server_refuses_a_direct_write_that_reuses_a_pushed_key() {
    let dir = tempfile::tempdir().unwrap();
    let (mut s, mut a) = three_notes(dir.path());
    a.exec("INSERT INTO note (body) VALUES ('four');");
    a.sync(&mut s);
    a.exec("DELETE FROM note WHERE id = 4;");
    a.sync(&mut s);
    assert_eq!(floor_of(&s.conn, "note").unwrap(), Some(4));
    let err = s
        .conn
        .execute("INSERT INTO note (body) VALUES ('direct')", [])
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("takes a key at or below the largest key the table has held"),
        "{err}"
    );
    s.conn
        .execute("INSERT INTO note (id, body) VALUES (5, 'direct')", [])
        .unwrap();
}

#[test]
fn a_key_reused_twice_before_the_sync_moves_only_the_row_that_holds_it_now() {
    let dir = tempfile::tempdir().unwrap();
    let (mut s, mut a) = three_notes(dir.path());
    a.exec(
        "DELETE FROM note WHERE id = 3; INSERT INTO note (body) VALUES ('brief');
         DELETE FROM note WHERE id = 3; INSERT INTO note (body) VALUES ('kept');",
    );
    a.sync(&mut s);
    assert_eq!(body(&s.conn, 4).as_deref(), Some("kept"));
    assert_eq!(count(&s.conn, "SELECT count(*) FROM note"), 3);
    assert_eq!(dump(&a.conn, &a.schema), dump(&s.conn, &s.schema));
}

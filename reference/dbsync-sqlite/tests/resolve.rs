//! Settling a unique collision from the node's side (spec §12.2.4):
//! what `node::resolve` refuses, changing nothing, and what it does.

use dbsync_core::merge::Resolution;
use dbsync_core::{Direction, RowId, Schema, Value};
use dbsync_sqlite::node::{self, NodeError, Resolved};
use dbsync_sqlite::TableSpec;
use rusqlite::Connection;

/// A node database syncing `city` both ways and `region` pull-only,
/// with city "Lisbon" added locally (a pending `i`) and region "North"
/// as a pull would have written it.
fn node_db(dir: &std::path::Path) -> (Connection, Schema) {
    let mut conn = Connection::open(dir.join("node.db")).unwrap();
    conn.execute_batch(
        "CREATE TABLE city (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE);
         CREATE TABLE region (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE);",
    )
    .unwrap();
    let spec = |name: &str, direction| TableSpec {
        name: name.into(),
        direction,
    };
    let specs = [
        spec("city", Direction::Both),
        spec("region", Direction::PullOnly),
    ];
    let schema = node::prepare(&mut conn, &specs).unwrap();
    conn.execute_batch("INSERT INTO city (name) VALUES ('Lisbon');")
        .unwrap();
    // As a merge writes a pull-only table: without capture or its guard.
    let tx = conn.transaction().unwrap();
    dbsync_sqlite::track::without_capture(&tx, || {
        tx.execute_batch("INSERT INTO region (name) VALUES ('North');")
    })
    .unwrap();
    tx.commit().unwrap();
    (conn, schema)
}

fn names(conn: &Connection) -> Vec<String> {
    let mut stmt = conn
        .prepare("SELECT name FROM city UNION ALL SELECT name FROM region")
        .unwrap();
    let rows = stmt.query_map([], |r| r.get(0)).unwrap();
    rows.map(Result::unwrap).collect()
}

fn rename(column: &str, to: &str) -> Resolution {
    Resolution::Rename([(column.to_string(), Value::Text(to.into()))].into())
}

#[test]
fn a_resolution_that_cannot_apply_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (conn, schema) = node_db(dir.path());
    let one = RowId::Int(1);
    let refusals = [
        ("region", one, rename("name", "South")),
        ("city", one, rename("nope", "x")),
        ("city", RowId::Int(9), rename("name", "x")),
        ("city", one, Resolution::Rename(Default::default())),
        ("nowhere", one, Resolution::KeepRemote),
    ];
    for (table, id, how) in refusals {
        let got = node::resolve(&conn, &schema, table, id, &how);
        assert!(
            matches!(
                got,
                Err(NodeError::ResolutionRefused { .. }
                    | NodeError::UnknownColumn { .. }
                    | NodeError::NoSuchRow { .. }
                    | NodeError::NothingToRename
                    | NodeError::NotSynced(_))
            ),
            "{table} {id} {how:?}: {got:?}"
        );
        assert_eq!(names(&conn), ["Lisbon", "North"]);
        assert_eq!(node::compressed_pending(&conn).unwrap().len(), 1);
    }
}

#[test]
fn keeping_the_remote_row_deletes_a_row_the_server_never_had_and_leaves_nothing_to_push() {
    let dir = tempfile::tempdir().unwrap();
    let (conn, schema) = node_db(dir.path());
    let dropped = node::resolve(
        &conn,
        &schema,
        "city",
        RowId::Int(1),
        &Resolution::KeepRemote,
    );
    assert!(matches!(dropped, Ok(Resolved::Dropped(_))), "{dropped:?}");
    assert_eq!(names(&conn), ["North"]);
    assert!(node::compressed_pending(&conn).unwrap().is_empty());
}

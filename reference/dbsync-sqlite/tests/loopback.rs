//! Node and server stores driven together, in process: the protocol's
//! procedures end to end, without the network.

mod common;

use common::*;
use dbsync_core::merge::{ConflictKind, Restore, Rule, ServerWins};
use dbsync_core::{ErrorCode, RowId};
use dbsync_sqlite::node;

#[test]
fn two_nodes_converge_after_independent_inserts() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = server(dir.path());
    let mut a = node(dir.path(), "a", &mut s);
    let mut b = node(dir.path(), "b", &mut s);
    a.exec("INSERT INTO city (name) VALUES ('Lisbon'); INSERT INTO person (name, city_id) VALUES ('Ana', 1);");
    b.exec("INSERT INTO city (name) VALUES ('Porto');");
    a.sync(&mut s);
    b.sync(&mut s);
    a.sync(&mut s);
    let server_rows = dump(&s.conn, &s.schema);
    assert_eq!(server_rows.len(), 3, "{server_rows:?}");
    assert_eq!(dump(&a.conn, &a.schema), server_rows);
    assert_eq!(dump(&b.conn, &b.schema), server_rows);
    // b's Porto collided with a's Lisbon on key 1 and was moved.
    let log = node::conflicts(&b.conn).unwrap();
    assert!(
        log.iter().any(|c| c.entry.rule == Rule::LocalInsertRekeyed),
        "{log:?}"
    );
}

#[test]
fn a_stale_push_is_told_to_pull_first_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = server(dir.path());
    let mut a = node(dir.path(), "a", &mut s);
    let mut b = node(dir.path(), "b", &mut s);
    a.exec("INSERT INTO city (name) VALUES ('Lisbon');");
    a.sync(&mut s);
    b.sync(&mut s);
    a.exec("UPDATE city SET name = 'Lisboa' WHERE id = 1;");
    a.sync(&mut s);
    b.exec("UPDATE city SET name = 'Olisipo' WHERE id = 1;");
    let before = dump(&s.conn, &s.schema);
    let err = b.push(&mut s).unwrap_err();
    assert_eq!(err.code, ErrorCode::PullRequired);
    assert_eq!(dump(&s.conn, &s.schema), before);
}

#[test]
fn a_stale_insert_of_a_key_another_node_took_is_moved_by_the_server_and_on_the_node() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = server(dir.path());
    let mut a = node(dir.path(), "a", &mut s);
    let mut b = node(dir.path(), "b", &mut s);
    a.exec("INSERT INTO city (name) VALUES ('Lisbon');");
    a.sync(&mut s);
    b.exec("INSERT INTO city (name) VALUES ('Porto'); INSERT INTO person (name, city_id) VALUES ('Rui', 1);");
    let out = b.begin_push().unwrap();
    let req: dbsync_core::protocol::PushRequest = serde_json::from_slice(&out.body).unwrap();
    let resp = s.engine.push(b.id, &req, NOW).unwrap();
    // §10.2.2.2: one above the greatest key the server held (1).
    assert_eq!(
        resp.rekeyed,
        [dbsync_core::protocol::Rekey {
            table: "city".into(),
            from: 1,
            to: 2
        }]
    );
    // The node writes meanwhile: its new row takes the key the server
    // handed out, and moves on when the answer is applied.
    b.exec("INSERT INTO city (name) VALUES ('Braga');");
    node::finish_push(&mut b.conn, &b.schema, &out, resp.version, &resp.rekeyed).unwrap();
    let city = |conn: &rusqlite::Connection, id: i64| -> Option<String> {
        conn.query_row("SELECT name FROM city WHERE id = ?1", [id], |r| r.get(0))
            .ok()
    };
    assert_eq!(city(&s.conn, 2).as_deref(), Some("Porto"));
    assert_eq!(city(&b.conn, 2).as_deref(), Some("Porto"));
    assert_eq!(city(&b.conn, 3).as_deref(), Some("Braga"));
    let rui_city: i64 = s
        .conn
        .query_row("SELECT city_id FROM person WHERE name = 'Rui'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(rui_city, 2, "the pushed child follows its parent");
    let log = node::conflicts(&b.conn).unwrap();
    let moves: Vec<(RowId, Option<RowId>)> = log
        .iter()
        .filter(|c| c.entry.rule == Rule::LocalInsertRekeyed)
        .map(|c| (c.entry.row_id, c.entry.new_row_id))
        .collect();
    assert!(
        moves.contains(&(RowId::Int(1), Some(RowId::Int(2))))
            && moves.contains(&(RowId::Int(2), Some(RowId::Int(3)))),
        "{log:?}"
    );
    b.sync(&mut s);
    a.sync(&mut s);
    let server_rows = dump(&s.conn, &s.schema);
    assert_eq!(server_rows.len(), 4, "{server_rows:?}");
    assert_eq!(dump(&a.conn, &a.schema), server_rows);
    assert_eq!(dump(&b.conn, &b.schema), server_rows);
}

#[test]
fn remote_update_vs_local_delete_restores_the_row_on_the_node() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = server(dir.path());
    let mut a = node(dir.path(), "a", &mut s);
    let mut b = node(dir.path(), "b", &mut s);
    a.exec("INSERT INTO city (name) VALUES ('Lisbon');");
    a.sync(&mut s);
    b.sync(&mut s);
    a.exec("UPDATE city SET founded = '1147-10-25' WHERE id = 1;");
    b.exec("DELETE FROM city WHERE id = 1;");
    a.sync(&mut s);
    b.sync(&mut s);
    a.sync(&mut s);
    assert_eq!(
        count(
            &s.conn,
            "SELECT count(*) FROM city WHERE founded = '1147-10-25'"
        ),
        1
    );
    assert_eq!(dump(&b.conn, &b.schema), dump(&s.conn, &s.schema));
    assert_eq!(dump(&a.conn, &a.schema), dump(&s.conn, &s.schema));
    let log = node::conflicts(&b.conn).unwrap();
    assert_eq!(log[0].entry.rule, Rule::DeletedRowRestored);
}

#[test]
fn remote_delete_vs_local_update_reinserts_the_row_under_node_wins() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = server(dir.path());
    let mut a = node(dir.path(), "a", &mut s);
    let mut b = node(dir.path(), "b", &mut s);
    a.exec("INSERT INTO city (name) VALUES ('Lisbon');");
    a.sync(&mut s);
    b.sync(&mut s);
    a.exec("DELETE FROM city WHERE id = 1;");
    b.exec("UPDATE city SET name = 'Lisboa' WHERE id = 1;");
    a.sync(&mut s);
    b.sync(&mut s);
    a.sync(&mut s);
    assert_eq!(
        count(&s.conn, "SELECT count(*) FROM city WHERE name = 'Lisboa'"),
        1
    );
    assert_eq!(dump(&a.conn, &a.schema), dump(&s.conn, &s.schema));
}

#[test]
fn remote_delete_vs_local_update_deletes_the_row_under_server_wins() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = server(dir.path());
    let mut a = node(dir.path(), "a", &mut s);
    let mut b = node(dir.path(), "b", &mut s);
    a.exec("INSERT INTO city (name) VALUES ('Lisbon');");
    a.sync(&mut s);
    b.sync(&mut s);
    a.exec("DELETE FROM city WHERE id = 1;");
    a.sync(&mut s);
    b.exec("UPDATE city SET name = 'Lisboa' WHERE id = 1;");
    let report = b.pull_with(&mut s, &ServerWins).unwrap();
    assert_eq!(report.conflicts[0].rule, Rule::RemoteDeleteTaken);
    assert_eq!(count(&b.conn, "SELECT count(*) FROM city"), 0);
    assert!(node::compressed_pending(&b.conn).unwrap().is_empty());
    let lost = report.conflicts[0].lost.as_ref().unwrap();
    assert_eq!(lost["name"], dbsync_core::Value::Text("Lisboa".into()));
}

#[test]
fn a_swap_of_unique_values_is_pushed_and_pulled() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = server(dir.path());
    let mut a = node(dir.path(), "a", &mut s);
    let mut b = node(dir.path(), "b", &mut s);
    a.exec("INSERT INTO city (name) VALUES ('Lisbon'); INSERT INTO city (name) VALUES ('Porto');");
    a.sync(&mut s);
    b.sync(&mut s);
    a.exec("UPDATE city SET name = 'tmp' WHERE id = 1; UPDATE city SET name = 'Lisbon' WHERE id = 2; UPDATE city SET name = 'Porto' WHERE id = 1;");
    a.sync(&mut s);
    b.sync(&mut s);
    assert_eq!(
        count(
            &s.conn,
            "SELECT count(*) FROM city WHERE id = 1 AND name = 'Porto'"
        ),
        1
    );
    assert_eq!(dump(&b.conn, &b.schema), dump(&s.conn, &s.schema));
}

#[test]
fn a_real_unique_collision_stops_the_merge_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = server(dir.path());
    let mut a = node(dir.path(), "a", &mut s);
    let mut b = node(dir.path(), "b", &mut s);
    a.exec("INSERT INTO city (name) VALUES ('Lisbon');");
    a.sync(&mut s);
    b.exec("INSERT INTO city (id, name) VALUES (5, 'Lisbon');");
    let before = dump(&b.conn, &b.schema);
    let err = b
        .pull_with(&mut s, &dbsync_core::merge::NodeWins)
        .unwrap_err();
    match err {
        node::NodeError::Merge(dbsync_core::merge::MergeError::UniqueCollisions(c)) => {
            assert_eq!(c.len(), 1);
            assert_eq!(c[0].columns, vec!["name".to_string()]);
        }
        other => panic!("expected collisions, got {other:?}"),
    }
    assert_eq!(dump(&b.conn, &b.schema), before);
    assert_eq!(node::state(&b.conn).unwrap().last_version, 0);
}

#[test]
fn a_retried_push_after_a_lost_response_applies_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = server(dir.path());
    let mut a = node(dir.path(), "a", &mut s);
    a.exec("INSERT INTO city (name) VALUES ('Lisbon');");
    // The server applies the push, but the answer never reaches the node.
    let out = a.begin_push().unwrap();
    let req: dbsync_core::protocol::PushRequest = serde_json::from_slice(&out.body).unwrap();
    let first = s.engine.push(a.id, &req, NOW).unwrap();
    // The node writes more meanwhile; the retry still sends the same push.
    a.exec("INSERT INTO city (name) VALUES ('Porto');");
    let again = a.begin_push().unwrap();
    assert_eq!(again, out);
    let req: dbsync_core::protocol::PushRequest = serde_json::from_slice(&again.body).unwrap();
    let second = s.engine.push(a.id, &req, NOW).unwrap();
    assert_eq!(second.version, first.version);
    assert!(second.duplicate);
    node::finish_push(
        &mut a.conn,
        &a.schema,
        &again,
        second.version,
        &second.rekeyed,
    )
    .unwrap();
    assert_eq!(count(&s.conn, "SELECT count(*) FROM city"), 1);
    a.sync(&mut s);
    assert_eq!(count(&s.conn, "SELECT count(*) FROM city"), 2);
    assert_eq!(dump(&a.conn, &a.schema), dump(&s.conn, &s.schema));
}

#[test]
fn a_node_that_pulls_after_a_lost_push_response_recognises_its_own_version() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = server(dir.path());
    let mut a = node(dir.path(), "a", &mut s);
    let mut b = node(dir.path(), "b", &mut s);
    a.exec("INSERT INTO city (name) VALUES ('Lisbon');");
    let out = a.begin_push().unwrap();
    let req: dbsync_core::protocol::PushRequest = serde_json::from_slice(&out.body).unwrap();
    s.engine.push(a.id, &req, NOW).unwrap();
    b.exec("INSERT INTO city (name) VALUES ('Porto');");
    b.sync(&mut s);
    let report = a.pull(&mut s);
    assert_eq!(report.own_versions, vec![1]);
    assert!(report.conflicts.is_empty(), "{:?}", report.conflicts);
    assert!(node::compressed_pending(&a.conn).unwrap().is_empty());
    assert_eq!(dump(&a.conn, &a.schema), dump(&s.conn, &s.schema));
    assert_eq!(count(&a.conn, "SELECT count(*) FROM city"), 2);
}

#[test]
fn a_pull_in_small_pages_equals_a_pull_in_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = server(dir.path());
    let mut a = node(dir.path(), "a", &mut s);
    let mut b = node(dir.path(), "b", &mut s);
    for i in 0..25 {
        a.exec(&format!("INSERT INTO city (name) VALUES ('c{i}'); INSERT INTO person (name, city_id) VALUES ('p{i}', last_insert_rowid());"));
        if i % 5 == 0 {
            a.sync(&mut s);
        }
    }
    a.sync(&mut s);
    s.set_limits(|l| l.pull_page_ops = 3);
    let staged = b.fetch(&mut s);
    assert_eq!(staged.ops.len(), 50);
    node::merge(
        &mut b.conn,
        &b.schema,
        &dbsync_core::merge::NodeWins,
        staged,
        NOW,
    )
    .unwrap();
    assert_eq!(dump(&b.conn, &b.schema), dump(&s.conn, &s.schema));
}

#[test]
fn repair_replaces_the_node_tables_and_discards_local_work_only_when_told() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = server(dir.path());
    let mut a = node(dir.path(), "a", &mut s);
    let mut b = node(dir.path(), "b", &mut s);
    for i in 0..30 {
        a.exec(&format!("INSERT INTO city (name) VALUES ('c{i}');"));
    }
    a.exec("INSERT INTO person (name, city_id) VALUES ('Ana', 3);");
    a.sync(&mut s);
    b.exec("INSERT INTO city (name) VALUES ('junk');");
    s.set_limits(|l| l.repair_page_rows = 7);
    node::repair_begin(&b.conn).unwrap();
    let mut cursor = None;
    loop {
        let req = dbsync_core::protocol::RepairRequest {
            protocol: "1.0".into(),
            schema: b.schema.fingerprint(),
            app_data: None,
            cursor,
        };
        let page = s.engine.repair(b.id, &req, NOW).unwrap();
        cursor = page.next_cursor.clone();
        node::repair_stage(&mut b.conn, &b.schema, &page).unwrap();
        if cursor.is_none() {
            break;
        }
    }
    // A write lands on the server between the snapshot and the catch-up.
    a.exec("UPDATE city SET name = 'late' WHERE id = 2;");
    a.sync(&mut s);
    let staged = {
        let mut st = dbsync_sqlite::node::StagedPull::default();
        let req = dbsync_core::protocol::PullRequest::page(
            b.schema.fingerprint(),
            node::repair_version(&b.conn).unwrap(),
            &[],
            None,
        );
        st.add(s.engine.pull(b.id, &req, NOW).unwrap());
        st
    };
    // The junk row is local work nobody pushed: the repair refuses to
    // discard it unless told to, and then says what it discarded.
    let junk = node::LocalWork {
        table: "city".into(),
        pending_ops: 1,
        unsynced_rows: 0,
    };
    match node::repair_finish(&mut b.conn, &b.schema, staged.clone(), false, NOW) {
        Err(node::NodeError::UnpushedChanges(work)) => {
            assert_eq!(work, std::slice::from_ref(&junk))
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(node::compressed_pending(&b.conn).unwrap().len(), 1);
    let report = node::repair_finish(&mut b.conn, &b.schema, staged, true, NOW).unwrap();
    assert_eq!(report.discarded, [junk]);
    let log = node::conflicts(&b.conn).unwrap();
    let discarded = log.last().unwrap();
    assert_eq!(discarded.entry.rule, Rule::LocalChangeDiscarded);
    assert_eq!(discarded.entry.local_op, Some(dbsync_core::Command::Insert));
    assert_eq!(
        discarded.entry.lost.as_ref().unwrap()["name"],
        dbsync_core::Value::Text("junk".into())
    );
    assert_eq!(dump(&b.conn, &b.schema), dump(&s.conn, &s.schema));
    assert!(node::compressed_pending(&b.conn).unwrap().is_empty());
    assert_eq!(node::state(&b.conn).unwrap().last_version, s.latest());
    b.exec("INSERT INTO city (name) VALUES ('after repair');");
    b.sync(&mut s);
    assert_eq!(
        dump(&a.conn, &a.schema).len() + 1,
        dump(&s.conn, &s.schema).len()
    );
}

#[test]
fn direct_writes_on_the_server_database_become_a_version_nodes_pull() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = server(dir.path());
    let mut a = node(dir.path(), "a", &mut s);
    s.conn
        .execute_batch("INSERT INTO city (name) VALUES ('from the server');")
        .unwrap();
    let report = a.pull(&mut s);
    assert_eq!(report.version, 1);
    assert_eq!(dump(&a.conn, &a.schema), dump(&s.conn, &s.schema));
}

#[test]
fn a_conflicting_dependency_keeps_the_parent_a_local_child_references() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = server(dir.path());
    let mut a = node(dir.path(), "a", &mut s);
    let mut b = node(dir.path(), "b", &mut s);
    a.exec("INSERT INTO city (name) VALUES ('Lisbon');");
    a.sync(&mut s);
    b.sync(&mut s);
    a.exec("DELETE FROM city WHERE id = 1;");
    a.sync(&mut s);
    b.exec("INSERT INTO person (name, city_id) VALUES ('Ana', 1);");
    b.sync(&mut s);
    a.sync(&mut s);
    assert_eq!(count(&s.conn, "SELECT count(*) FROM city"), 1);
    assert_eq!(
        count(&s.conn, "SELECT count(*) FROM person WHERE city_id = 1"),
        1
    );
    let log = node::conflicts(&b.conn).unwrap();
    assert!(
        log.iter().any(|c| c.entry.kind == ConflictKind::Dependency),
        "{log:?}"
    );
    assert_eq!(dump(&a.conn, &a.schema), dump(&s.conn, &s.schema));
}

#[test]
fn a_row_inserted_after_a_lost_push_request_is_pushed_next() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = server(dir.path());
    let mut a = node(dir.path(), "a", &mut s);
    a.exec("INSERT INTO city (name) VALUES ('A'); INSERT INTO city (name) VALUES ('B'); DELETE FROM city WHERE id = 1;");
    // The request is lost before the server sees it: the push stays outstanding.
    let lost = a.begin_push().unwrap();
    assert_eq!(lost.ops, 1);
    a.exec("INSERT INTO city (name) VALUES ('C');");
    a.sync(&mut s);
    a.sync(&mut s);
    assert!(node::compressed_pending(&a.conn).unwrap().is_empty());
    assert_eq!(dump(&a.conn, &a.schema), dump(&s.conn, &s.schema));
}

#[test]
fn a_local_insert_of_a_key_the_server_inserted_and_deleted_moves_to_a_fresh_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = server(dir.path());
    let mut a = node(dir.path(), "a", &mut s);
    let mut b = node(dir.path(), "b", &mut s);
    let mut c = node(dir.path(), "c", &mut s);
    a.exec("INSERT INTO city (name) VALUES ('X');");
    a.sync(&mut s);
    c.sync(&mut s);
    c.exec("DELETE FROM city WHERE id = 1;");
    c.sync(&mut s);
    // b never saw X: its own first row takes key 1, which the server's
    // history used and compresses to nothing.
    b.exec("INSERT INTO city (name) VALUES ('Y');");
    b.sync(&mut s);
    assert_eq!(
        count(
            &s.conn,
            "SELECT count(*) FROM city WHERE name = 'Y' AND id <> 1"
        ),
        1
    );
    let log = node::conflicts(&b.conn).unwrap();
    assert!(
        log.iter().any(|e| e.entry.rule == Rule::LocalInsertRekeyed),
        "{log:?}"
    );
    for n in [&mut a, &mut c] {
        n.sync(&mut s);
    }
    assert_eq!(dump(&a.conn, &a.schema), dump(&s.conn, &s.schema));
    assert_eq!(dump(&b.conn, &b.schema), dump(&s.conn, &s.schema));
}

#[test]
fn a_pull_keeps_the_deletes_written_after_a_push_whose_request_was_lost() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = server(dir.path());
    let mut a = node(dir.path(), "a", &mut s);
    a.exec("INSERT INTO city (name) VALUES ('Lisbon'); INSERT INTO person (name, city_id) VALUES ('Ana', 1);");
    // The request is lost: the stored push still carries `i` of both rows.
    let lost = a.begin_push().unwrap();
    assert_eq!(lost.ops, 2);
    a.exec("DELETE FROM person WHERE id = 1; DELETE FROM city WHERE id = 1;");
    // Both rows compress to nothing (`i d`), but the records after the
    // push's watermark must survive the pull (spec §3.2.1).
    a.pull(&mut s);
    a.sync(&mut s);
    a.sync(&mut s);
    assert_eq!(count(&s.conn, "SELECT count(*) FROM city"), 0);
    assert_eq!(count(&s.conn, "SELECT count(*) FROM person"), 0);
    assert!(node::compressed_pending(&a.conn).unwrap().is_empty());
    assert_eq!(dump(&a.conn, &a.schema), dump(&s.conn, &s.schema));
}

#[test]
fn two_nodes_that_restore_the_same_row_leave_one_copy_on_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = server(dir.path());
    let mut a = node(dir.path(), "a", &mut s);
    let mut b = node(dir.path(), "b", &mut s);
    let mut c = node(dir.path(), "c", &mut s);
    a.exec("INSERT INTO city (name) VALUES ('Lisbon');");
    a.sync(&mut s);
    b.sync(&mut s);
    c.sync(&mut s);
    // b updates the city, c gives it a person, a deletes it.
    b.exec("UPDATE city SET name = 'Lisboa' WHERE id = 1;");
    c.exec("INSERT INTO person (name, city_id) VALUES ('Ana', 1);");
    a.exec("DELETE FROM city WHERE id = 1;");
    a.sync(&mut s);
    // c keeps the city for its person: an unchanged restore.
    c.pull(&mut s);
    assert_eq!(
        node::restores(&c.conn).unwrap(),
        vec![Restore {
            table: "city".into(),
            row_id: RowId::Int(1),
            changed: false
        }]
    );
    // b keeps it for its update (a changed restore) and pushes it first.
    b.sync(&mut s);
    assert_eq!(count(&s.conn, "SELECT count(*) FROM city"), 1);
    // c pulls b's `i` of the city: the same row, not an insert conflict.
    c.sync(&mut s);
    for n in [&mut a, &mut b] {
        n.sync(&mut s);
    }
    assert_eq!(count(&s.conn, "SELECT count(*) FROM city"), 1);
    assert_eq!(
        count(
            &s.conn,
            "SELECT count(*) FROM city WHERE id = 1 AND name = 'Lisboa'"
        ),
        1
    );
    assert_eq!(
        count(&s.conn, "SELECT count(*) FROM person WHERE city_id = 1"),
        1
    );
    let log = node::conflicts(&c.conn).unwrap();
    assert!(
        !log.iter().any(|e| e.entry.rule == Rule::LocalInsertRekeyed),
        "{log:?}"
    );
    for n in [&a, &b, &c] {
        assert_eq!(dump(&n.conn, &n.schema), dump(&s.conn, &s.schema));
        assert!(node::restores(&n.conn).unwrap().is_empty());
    }
}

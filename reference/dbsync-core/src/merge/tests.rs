//! One test per rule of spec §12, named as the rule's sentence.

use super::*;
use crate::model::MemoryStore;
use crate::protocol::op::Command::{self, Delete as D, Insert as I, Update as U};
use crate::protocol::value::{Row, Value, Values};
use crate::schema::{Column, ColumnType, Direction, ForeignKey, KeyType, TableSchema};
use serde_json::json;

fn col(name: &str, ty: ColumnType) -> Column {
    Column {
        name: name.into(),
        ty,
        not_null: false,
    }
}

fn table(
    name: &str,
    columns: Vec<Column>,
    fks: &[(&str, &str)],
    unique: &[&[&str]],
) -> TableSchema {
    TableSchema {
        name: name.into(),
        primary_key: "id".into(),
        key_type: KeyType::Integer,
        columns,
        foreign_keys: fks
            .iter()
            .map(|(c, r)| ForeignKey {
                column: (*c).into(),
                references: (*r).into(),
            })
            .collect(),
        unique: unique
            .iter()
            .map(|u| u.iter().map(|c| (*c).to_string()).collect())
            .collect(),
        direction: Direction::Both,
    }
}

/// author(name unique) <- book(author_id, title) <- note(book_id);
/// pair(a, b) unique (a, b); log is push-only.
fn schema() -> Schema {
    use ColumnType::*;
    let mut log = table("log", vec![col("msg", Text)], &[], &[]);
    log.direction = Direction::PushOnly;
    Schema::new(vec![
        table("author", vec![col("name", Text)], &[], &[&["name"]]),
        table(
            "book",
            vec![col("author_id", Integer), col("title", Text)],
            &[("author_id", "author")],
            &[],
        ),
        table(
            "note",
            vec![col("book_id", Integer)],
            &[("book_id", "book")],
            &[],
        ),
        table(
            "pair",
            vec![col("a", Integer), col("b", Integer)],
            &[],
            &[&["a", "b"]],
        ),
        log,
    ])
}

fn vals(v: serde_json::Value) -> Values {
    serde_json::from_value(v).unwrap()
}

fn row(table: &str, id: impl Into<RowId>, v: serde_json::Value) -> Row {
    Row {
        table: table.into(),
        id: id.into(),
        values: vals(v),
    }
}

fn author(id: i64, name: &str) -> Row {
    row("author", id, json!({ "name": name }))
}

fn book(id: i64, author_id: i64, title: &str) -> Row {
    row(
        "book",
        id,
        json!({ "author_id": author_id, "title": title }),
    )
}

fn op(version: u64, table: &str, row_id: impl Into<RowId>, command: Command) -> VersionedOp {
    VersionedOp {
        version,
        table: table.into(),
        row_id: row_id.into(),
        command,
        columns: None,
        out: false,
    }
}

fn store(rows: Vec<Row>) -> MemoryStore {
    let mut s = MemoryStore::new(schema());
    s.load(rows).unwrap();
    assert_eq!(s.check_integrity(), vec![]);
    s
}

fn merge(s: &mut MemoryStore, pulled: &[VersionedOp], rows: Vec<Row>, policy: &dyn Policy) -> Plan {
    let plan = s.pull(pulled, rows, policy).expect("merge");
    assert_eq!(s.check_integrity(), vec![]);
    plan
}

fn rules(plan: &Plan) -> Vec<Rule> {
    plan.conflicts.iter().map(|c| c.rule).collect()
}

fn pending(s: &MemoryStore) -> Vec<(String, RowId, Command)> {
    let mut v: Vec<_> = s
        .pending_ops()
        .unwrap()
        .into_iter()
        .map(|o| (o.table, o.row_id, o.command))
        .collect();
    v.sort();
    v
}

fn p(table: &str, id: impl Into<RowId>, c: Command) -> (String, RowId, Command) {
    (table.into(), id.into(), c)
}

fn name(s: &MemoryStore, id: impl Into<RowId>) -> Option<Value> {
    s.get("author", id.into()).map(|v| v["name"].clone())
}

fn text(t: &str) -> Option<Value> {
    Some(Value::Text(t.into()))
}

// ---- node_wins: direct conflicts ----------------------------------------

#[test]
fn remote_update_vs_local_update_keeps_local_values() {
    let mut s = store(vec![author(1, "ann")]);
    s.update("author", 1.into(), vals(json!({"name": "anne"})))
        .unwrap();
    let plan = merge(
        &mut s,
        &[op(2, "author", 1, U)],
        vec![author(1, "annie")],
        &NodeWins,
    );
    assert_eq!(name(&s, 1), text("anne"));
    assert_eq!(pending(&s), vec![p("author", 1, U)]);
    assert_eq!(rules(&plan), vec![Rule::LocalUpdateKept]);
    let c = &plan.conflicts[0];
    assert_eq!(c.kind, ConflictKind::Direct);
    assert_eq!(c.lost, Some(vals(json!({"name": "annie"}))));
    assert_eq!(
        (c.remote_op, c.local_op, c.remote_version),
        (Some(U), Some(U), Some(2))
    );
}

#[test]
fn remote_update_vs_local_delete_restores_row() {
    let mut s = store(vec![author(1, "ann")]);
    s.delete("author", 1.into()).unwrap();
    let plan = merge(
        &mut s,
        &[op(2, "author", 1, U)],
        vec![author(1, "annie")],
        &NodeWins,
    );
    assert_eq!(name(&s, 1), text("annie"));
    assert_eq!(pending(&s), vec![]);
    assert_eq!(rules(&plan), vec![Rule::DeletedRowRestored]);
}

#[test]
fn remote_delete_vs_local_update_keeps_row_as_pending_insert() {
    let mut s = store(vec![author(1, "ann")]);
    s.update("author", 1.into(), vals(json!({"name": "anne"})))
        .unwrap();
    let plan = merge(&mut s, &[op(2, "author", 1, D)], vec![], &NodeWins);
    assert_eq!(name(&s, 1), text("anne"));
    assert_eq!(pending(&s), vec![p("author", 1, I)]);
    assert_eq!(rules(&plan), vec![Rule::LocalUpdateReinsertsRow]);
}

#[test]
fn remote_delete_vs_local_delete_drops_both() {
    let mut s = store(vec![author(1, "ann")]);
    s.delete("author", 1.into()).unwrap();
    let plan = merge(&mut s, &[op(2, "author", 1, D)], vec![], &NodeWins);
    assert_eq!(name(&s, 1), None);
    assert_eq!(pending(&s), vec![]);
    assert_eq!(rules(&plan), vec![Rule::BothDeletesDropped]);
}

#[test]
fn remote_insert_of_a_row_with_local_update_counts_as_remote_update() {
    let mut s = store(vec![author(1, "ann")]);
    s.update("author", 1.into(), vals(json!({"name": "anne"})))
        .unwrap();
    let plan = merge(
        &mut s,
        &[op(2, "author", 1, I)],
        vec![author(1, "ann")],
        &NodeWins,
    );
    assert_eq!(name(&s, 1), text("anne"));
    assert_eq!(rules(&plan), vec![Rule::LocalUpdateKept]);
    assert_eq!(plan.conflicts[0].remote_op, Some(I));
}

// ---- node_wins: dependency and reversed dependency ----------------------

#[test]
fn remote_delete_of_parent_of_local_child_keeps_parent_as_pending_insert() {
    let mut s = store(vec![author(1, "ann")]);
    s.insert(
        "book",
        Some(10.into()),
        vals(json!({"author_id": 1, "title": "t"})),
    )
    .unwrap();
    let plan = merge(&mut s, &[op(2, "author", 1, D)], vec![], &NodeWins);
    assert_eq!(name(&s, 1), text("ann"));
    assert_eq!(pending(&s), vec![p("author", 1, I), p("book", 10, I)]);
    assert_eq!(rules(&plan), vec![Rule::ParentKeptForLocalChild]);
    let c = &plan.conflicts[0];
    assert_eq!(
        (c.kind, c.table.as_str(), c.row_id),
        (ConflictKind::Dependency, "author", 1.into())
    );
    assert_eq!(
        c.related,
        Some(RowRef {
            table: "book".into(),
            row_id: 10.into()
        })
    );
    assert_eq!((c.remote_op, c.local_op), (Some(D), Some(I)));
}

#[test]
fn kept_parent_keeps_its_own_deleted_parent_too() {
    let mut s = store(vec![author(1, "ann"), book(5, 1, "t")]);
    s.insert("note", Some(9.into()), vals(json!({"book_id": 5})))
        .unwrap();
    let pulled = [op(2, "book", 5, D), op(2, "author", 1, D)];
    let plan = merge(&mut s, &pulled, vec![], &NodeWins);
    assert!(s.get("author", 1.into()).is_some() && s.get("book", 5.into()).is_some());
    assert_eq!(
        pending(&s),
        vec![p("author", 1, I), p("book", 5, I), p("note", 9, I)]
    );
    assert_eq!(rules(&plan), vec![Rule::ParentKeptForLocalChild; 2]);
}

#[test]
fn remote_child_of_locally_deleted_parent_restores_parent() {
    let mut s = store(vec![author(1, "ann")]);
    s.delete("author", 1.into()).unwrap();
    let plan = merge(
        &mut s,
        &[op(2, "book", 7, I)],
        vec![book(7, 1, "t"), author(1, "ann")],
        &NodeWins,
    );
    assert_eq!(name(&s, 1), text("ann"));
    assert!(s.get("book", 7.into()).is_some());
    assert_eq!(pending(&s), vec![]);
    assert_eq!(rules(&plan), vec![Rule::ParentRestoredForRemoteChild]);
    let c = &plan.conflicts[0];
    assert_eq!(
        (c.kind, c.row_id, c.remote_op, c.local_op),
        (ConflictKind::ReversedDependency, 1.into(), Some(I), Some(D))
    );
}

// ---- insert conflicts ------------------------------------------------------

#[test]
fn remote_insert_vs_local_insert_moves_local_row_to_fresh_key() {
    let mut s = store(vec![author(1, "ann")]);
    s.insert("author", Some(2.into()), vals(json!({"name": "bob"})))
        .unwrap();
    s.insert(
        "book",
        Some(3.into()),
        vals(json!({"author_id": 2, "title": "b"})),
    )
    .unwrap();
    let pulled = [
        op(5, "author", 2, I),
        op(5, "author", 4, I),
        op(6, "author", 4, D),
    ];
    let plan = merge(&mut s, &pulled, vec![author(2, "cy")], &NodeWins);
    // fresh key: above local max 2 and the server's max 4
    assert_eq!(name(&s, 5), text("bob"));
    assert_eq!(name(&s, 2), text("cy"));
    assert_eq!(
        s.get("book", 3.into()).unwrap()["author_id"],
        Value::Integer(5)
    );
    assert_eq!(pending(&s), vec![p("author", 5, I), p("book", 3, I)]);
    assert_eq!(rules(&plan), vec![Rule::LocalInsertRekeyed]);
    assert_eq!(plan.conflicts[0].new_row_id, Some(5.into()));
    assert!(plan.actions.contains(&Action::ReserveKeys {
        table: "author".into(),
        up_to: 5
    }));
    assert_eq!(
        plan.actions.last(),
        Some(&Action::RecordVersion { version: 6 })
    );
}

#[test]
fn server_wins_insert_conflict_moves_local_row_too() {
    let mut s = store(vec![]);
    s.insert("author", Some(1.into()), vals(json!({"name": "bob"})))
        .unwrap();
    let plan = merge(
        &mut s,
        &[op(1, "author", 1, I)],
        vec![author(1, "cy")],
        &ServerWins,
    );
    assert_eq!(name(&s, 2), text("bob"));
    assert_eq!(name(&s, 1), text("cy"));
    assert_eq!(rules(&plan), vec![Rule::LocalInsertRekeyed]);
    assert_eq!(plan.conflicts[0].policy, "server_wins");
}

#[test]
fn remote_delete_vs_local_insert_moves_local_row_to_fresh_key() {
    let mut s = store(vec![]);
    s.insert("author", Some(1.into()), vals(json!({"name": "bob"})))
        .unwrap();
    let plan = merge(&mut s, &[op(1, "author", 1, D)], vec![], &NodeWins);
    assert_eq!(name(&s, 2), text("bob"));
    assert_eq!(pending(&s), vec![p("author", 2, I)]);
    assert_eq!(rules(&plan), vec![Rule::LocalInsertRekeyed]);
}

// ---- unique constraints ---------------------------------------------------

#[test]
fn unique_swap_of_two_rows_is_applied() {
    let mut s = store(vec![author(1, "x"), author(2, "y")]);
    let pulled = [op(3, "author", 1, U), op(3, "author", 2, U)];
    let plan = merge(
        &mut s,
        &pulled,
        vec![author(1, "y"), author(2, "x")],
        &NodeWins,
    );
    assert_eq!((name(&s, 1), name(&s, 2)), (text("y"), text("x")));
    assert_eq!(rules(&plan), vec![Rule::UniqueSwapApplied; 2]);
}

#[test]
fn unique_swap_cycle_of_three_rows_is_applied() {
    let mut s = store(vec![author(1, "x"), author(2, "y"), author(3, "z")]);
    s.insert(
        "book",
        Some(1.into()),
        vals(json!({"author_id": 1, "title": "kept"})),
    )
    .unwrap();
    let pulled = [
        op(3, "author", 1, U),
        op(3, "author", 2, U),
        op(3, "author", 3, U),
    ];
    let rows = vec![author(1, "y"), author(2, "z"), author(3, "x")];
    let plan = merge(&mut s, &pulled, rows, &NodeWins);
    assert_eq!(
        (name(&s, 1), name(&s, 2), name(&s, 3)),
        (text("y"), text("z"), text("x"))
    );
    assert_eq!(rules(&plan), vec![Rule::UniqueSwapApplied; 3]);
    assert!(s.get("book", 1.into()).is_some());
}

#[test]
fn multi_column_unique_swap_is_applied() {
    let pair = |id: i64, a: i64, b: i64| row("pair", id, json!({"a": a, "b": b}));
    let mut s = store(vec![pair(1, 1, 1), pair(2, 1, 2)]);
    let pulled = [op(3, "pair", 1, U), op(3, "pair", 2, U)];
    let plan = merge(
        &mut s,
        &pulled,
        vec![pair(1, 1, 2), pair(2, 1, 1)],
        &NodeWins,
    );
    assert_eq!(s.get("pair", 1.into()).unwrap()["b"], Value::Integer(2));
    assert_eq!(rules(&plan), vec![Rule::UniqueSwapApplied; 2]);
}

#[test]
fn holder_that_comes_only_in_the_message_joins_the_swap() {
    let mut s = store(vec![author(1, "x"), author(2, "y")]);
    // Row 2's own update is in a later page; the message has its new values.
    let plan = merge(
        &mut s,
        &[op(3, "author", 1, U)],
        vec![author(1, "y"), author(2, "w")],
        &NodeWins,
    );
    assert_eq!((name(&s, 1), name(&s, 2)), (text("y"), text("w")));
    assert_eq!(rules(&plan), vec![Rule::UniqueSwapApplied; 2]);
}

#[test]
fn unique_collision_stops_the_merge_and_lists_every_collision() {
    let mut s = store(vec![author(1, "x")]);
    s.insert("author", Some(2.into()), vals(json!({"name": "y"})))
        .unwrap();
    s.update("author", 1.into(), vals(json!({"name": "z"})))
        .unwrap();
    let before = s.clone();
    let pulled = [op(3, "author", 5, I), op(3, "author", 6, I)];
    let err = s
        .pull(&pulled, vec![author(5, "y"), author(6, "z")], &NodeWins)
        .unwrap_err();
    let crate::model::PullError::Merge(MergeError::UniqueCollisions(c)) = err else {
        panic!("{err:?}")
    };
    let ids: Vec<RowId> = c.iter().map(|c| c.row_id).collect();
    assert_eq!(ids, vec![RowId::Int(5), RowId::Int(6)]);
    assert_eq!(c[0].columns, vec!["name".to_string()]);
    assert_eq!(s, before);
}

#[test]
fn local_update_that_wins_does_not_collide_with_remote_values() {
    // Remote sets row 1 to x, which local row 2 now holds; but the local
    // update of row 1 wins, so row 1 never takes x.
    let mut s = store(vec![author(1, "a"), author(2, "b")]);
    s.update("author", 1.into(), vals(json!({"name": "c"})))
        .unwrap();
    s.update("author", 2.into(), vals(json!({"name": "x"})))
        .unwrap();
    merge(
        &mut s,
        &[op(3, "author", 1, U)],
        vec![author(1, "x")],
        &NodeWins,
    );
    assert_eq!((name(&s, 1), name(&s, 2)), (text("c"), text("x")));
    let err = s
        .clone()
        .pull(&[op(3, "author", 1, U)], vec![author(1, "x")], &ServerWins);
    assert!(matches!(
        err,
        Err(crate::model::PullError::Merge(
            MergeError::UniqueCollisions(_)
        ))
    ));
}

#[test]
fn remote_insert_vs_local_insert_with_the_same_unique_value_is_a_collision() {
    let mut s = store(vec![]);
    s.insert("author", Some(1.into()), vals(json!({"name": "x"})))
        .unwrap();
    let err = s
        .pull(&[op(1, "author", 1, I)], vec![author(1, "x")], &NodeWins)
        .unwrap_err();
    assert!(matches!(
        err,
        crate::model::PullError::Merge(MergeError::UniqueCollisions(_))
    ));
}

// ---- remaining remote ops --------------------------------------------------

#[test]
fn remote_insert_of_existing_row_without_pending_op_becomes_update() {
    let mut s = store(vec![author(1, "ann")]);
    let plan = merge(
        &mut s,
        &[op(2, "author", 1, I)],
        vec![author(1, "anne")],
        &NodeWins,
    );
    assert_eq!(name(&s, 1), text("anne"));
    assert!(matches!(plan.actions[0], Action::Update { .. }));
    assert!(plan.conflicts.is_empty());
}

#[test]
fn remote_update_of_row_absent_from_message_is_skipped() {
    let mut s = store(vec![author(1, "ann")]);
    s.update("author", 1.into(), vals(json!({"name": "anne"})))
        .unwrap();
    let plan = merge(&mut s, &[op(2, "author", 1, U)], vec![], &NodeWins);
    assert_eq!(name(&s, 1), text("anne"));
    assert!(plan.conflicts.is_empty());
    assert_eq!(plan.actions, vec![Action::RecordVersion { version: 2 }]);
}

#[test]
fn remote_delete_of_row_absent_locally_is_a_no_op() {
    let mut s = store(vec![]);
    let plan = merge(&mut s, &[op(2, "author", 1, D)], vec![], &NodeWins);
    assert!(!plan
        .actions
        .iter()
        .any(|a| matches!(a, Action::Delete { .. })));
}

#[test]
fn remote_ops_of_push_only_tables_are_ignored() {
    let mut s = store(vec![]);
    let plan = merge(
        &mut s,
        &[op(2, "log", 1, I)],
        vec![row("log", 1, json!({"msg": "m"}))],
        &NodeWins,
    );
    assert!(s.get("log", 1.into()).is_none());
    assert_eq!(plan.actions, vec![Action::RecordVersion { version: 2 }]);
}

#[test]
fn parent_carried_by_the_message_is_inserted_with_its_child() {
    let mut s = store(vec![]);
    merge(
        &mut s,
        &[op(2, "book", 7, I)],
        vec![book(7, 1, "t"), author(1, "ann")],
        &NodeWins,
    );
    assert_eq!(name(&s, 1), text("ann"));
}

// ---- server_wins --------------------------------------------------------

#[test]
fn server_wins_remote_update_vs_local_update_takes_server_values() {
    let mut s = store(vec![author(1, "ann")]);
    s.update("author", 1.into(), vals(json!({"name": "anne"})))
        .unwrap();
    let plan = merge(
        &mut s,
        &[op(2, "author", 1, U)],
        vec![author(1, "annie")],
        &ServerWins,
    );
    assert_eq!(name(&s, 1), text("annie"));
    assert_eq!(pending(&s), vec![]);
    assert_eq!(rules(&plan), vec![Rule::RemoteUpdateTaken]);
    assert_eq!(plan.conflicts[0].lost, Some(vals(json!({"name": "anne"}))));
}

#[test]
fn server_wins_remote_update_vs_local_delete_restores_row() {
    let mut s = store(vec![author(1, "ann")]);
    s.delete("author", 1.into()).unwrap();
    let plan = merge(
        &mut s,
        &[op(2, "author", 1, U)],
        vec![author(1, "annie")],
        &ServerWins,
    );
    assert_eq!(name(&s, 1), text("annie"));
    assert_eq!(rules(&plan), vec![Rule::DeletedRowRestored]);
}

#[test]
fn server_wins_remote_delete_vs_local_update_deletes_row() {
    let mut s = store(vec![author(1, "ann")]);
    s.update("author", 1.into(), vals(json!({"name": "anne"})))
        .unwrap();
    let plan = merge(&mut s, &[op(2, "author", 1, D)], vec![], &ServerWins);
    assert_eq!(name(&s, 1), None);
    assert_eq!(pending(&s), vec![]);
    assert_eq!(rules(&plan), vec![Rule::RemoteDeleteTaken]);
    assert_eq!(plan.conflicts[0].lost, Some(vals(json!({"name": "anne"}))));
}

#[test]
fn server_wins_remote_delete_vs_local_delete_drops_both() {
    let mut s = store(vec![author(1, "ann")]);
    s.delete("author", 1.into()).unwrap();
    let plan = merge(&mut s, &[op(2, "author", 1, D)], vec![], &ServerWins);
    assert_eq!(pending(&s), vec![]);
    assert_eq!(rules(&plan), vec![Rule::BothDeletesDropped]);
}

#[test]
fn server_wins_dependency_deletes_local_children_with_parent() {
    let mut s = store(vec![author(1, "ann"), author(2, "bob"), book(5, 1, "t")]);
    s.insert(
        "book",
        Some(6.into()),
        vals(json!({"author_id": 1, "title": "new"})),
    )
    .unwrap();
    s.insert("note", Some(9.into()), vals(json!({"book_id": 6})))
        .unwrap();
    s.update(
        "book",
        5.into(),
        vals(json!({"author_id": 1, "title": "t2"})),
    )
    .unwrap();
    // The server moved book 5 to author 2, then deleted author 1.
    let pulled = [op(3, "book", 5, U), op(4, "author", 1, D)];
    let plan = merge(&mut s, &pulled, vec![book(5, 2, "t")], &ServerWins);
    assert!(
        s.get("author", 1.into()).is_none()
            && s.get("book", 6.into()).is_none()
            && s.get("note", 9.into()).is_none()
    );
    assert_eq!(
        s.get("book", 5.into()).unwrap()["author_id"],
        Value::Integer(2)
    );
    assert_eq!(pending(&s), vec![]);
    let mut r = rules(&plan);
    r.sort();
    assert_eq!(
        r,
        vec![
            Rule::RemoteUpdateTaken,
            Rule::LocalChildrenDeletedWithParent,
            Rule::LocalChildrenDeletedWithParent
        ]
    );
}

#[test]
fn server_wins_dependency_reverts_local_child_the_server_has() {
    let mut s = store(vec![author(1, "ann"), author(2, "bob"), book(5, 2, "t")]);
    s.update(
        "book",
        5.into(),
        vals(json!({"author_id": 1, "title": "t"})),
    )
    .unwrap();
    let plan = merge(
        &mut s,
        &[op(4, "author", 1, D)],
        vec![book(5, 2, "t")],
        &ServerWins,
    );
    assert_eq!(
        s.get("book", 5.into()).unwrap()["author_id"],
        Value::Integer(2)
    );
    assert_eq!(rules(&plan), vec![Rule::LocalChildReverted]);
    let c = &plan.conflicts[0];
    assert_eq!(
        c.related,
        Some(RowRef {
            table: "author".into(),
            row_id: 1.into()
        })
    );
    assert_eq!(c.lost, Some(vals(json!({"author_id": 1, "title": "t"}))));
}

#[test]
fn server_wins_reversed_dependency_restores_parent() {
    let mut s = store(vec![author(1, "ann")]);
    s.delete("author", 1.into()).unwrap();
    let plan = merge(
        &mut s,
        &[op(2, "book", 7, I)],
        vec![book(7, 1, "t"), author(1, "ann")],
        &ServerWins,
    );
    assert_eq!(name(&s, 1), text("ann"));
    assert_eq!(rules(&plan), vec![Rule::ParentRestoredForRemoteChild]);
}

// ---- errors -----------------------------------------------------------------

fn plan_on(s: &MemoryStore, input: MergeInput) -> Result<Plan, MergeError> {
    plan(&input, s.schema(), &NodeWins, s)
}

#[test]
fn unknown_table_is_an_error() {
    let s = store(vec![]);
    let input = MergeInput {
        pulled: vec![op(1, "nope", 1, D)],
        ..Default::default()
    };
    assert!(matches!(
        plan_on(&s, input),
        Err(MergeError::UnknownTable { .. })
    ));
}

#[test]
fn uncompressed_ops_are_an_error() {
    let s = store(vec![]);
    let input = MergeInput {
        pulled: vec![op(1, "author", 1, D), op(2, "author", 1, D)],
        ..Default::default()
    };
    assert!(matches!(
        plan_on(&s, input),
        Err(MergeError::DuplicatePulledOp { .. })
    ));
}

#[test]
fn written_row_whose_parent_neither_side_has_is_an_error() {
    let s = store(vec![]);
    let input = MergeInput {
        pulled: vec![op(1, "book", 1, I)],
        rows: vec![book(1, 9, "t")],
        ..Default::default()
    };
    let err = plan_on(&s, input).unwrap_err();
    assert!(matches!(
        err,
        MergeError::MissingParent {
            parent_id: RowId::Int(9),
            ..
        }
    ));
    assert_eq!(err.code(), crate::ErrorCode::MissingRow);
}

#[test]
fn conflict_entry_serializes_as_snake_case_json() {
    let mut s = store(vec![author(1, "ann")]);
    s.update("author", 1.into(), vals(json!({"name": "anne"})))
        .unwrap();
    let plan = merge(
        &mut s,
        &[op(2, "author", 1, U)],
        vec![author(1, "annie")],
        &NodeWins,
    );
    let v = serde_json::to_value(&plan.conflicts[0]).unwrap();
    assert_eq!(
        v,
        json!({"kind": "direct", "table": "author", "row_id": 1, "remote_op": "u",
               "remote_version": 2, "local_op": "u", "policy": "node_wins",
               "rule": "local_update_kept", "lost": {"name": "annie"},
               "new_row_id": null, "related": null})
    );
}

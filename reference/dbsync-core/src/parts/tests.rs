//! One test per rule of spec §10.1.2, named as the rule's sentence.

use super::*;
use crate::protocol::value::{Value, Values};
use crate::schema::{Column, ColumnType, Direction, ForeignKey, KeyType, TableSchema};
use serde_json::json;
use std::convert::Infallible;

fn table(name: &str, fks: &[(&str, &str)], unique: bool) -> TableSchema {
    let mut columns = vec![Column {
        name: "name".into(),
        ty: ColumnType::Text,
        not_null: false,
    }];
    columns.extend(fks.iter().map(|(c, _)| Column {
        name: (*c).into(),
        ty: ColumnType::Integer,
        not_null: false,
    }));
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
        unique: if unique {
            vec![vec!["name".into()]]
        } else {
            vec![]
        },
        direction: Direction::Both,
    }
}

/// city(name unique) <- person(city_id) ; tag (no constraints).
fn schema() -> Schema {
    Schema::new(vec![
        table("city", &[], true),
        table("person", &[("city_id", "city")], false),
        table("tag", &[], false),
    ])
}

fn op(table: &str, row_id: impl Into<RowId>, command: Command) -> Op {
    Op {
        table: table.into(),
        row_id: row_id.into(),
        command,
        columns: None,
    }
}

/// The current row of an op: person `n` lives in city `n / 10`.
fn read(op: &Op) -> Result<Row, Infallible> {
    let mut values: Values =
        serde_json::from_value(json!({"name": format!("{}{}", op.table, op.row_id)})).unwrap();
    if op.table == "person" {
        values.insert(
            "city_id".into(),
            Value::Integer(op.row_id.as_int().unwrap() / 10),
        );
    }
    Ok(Row {
        table: op.table.clone(),
        id: op.row_id,
        values,
    })
}

fn ids(next: &NextPush) -> Vec<(String, RowId)> {
    match next {
        NextPush::Part { ops, .. } => ops.iter().map(|o| (o.table.clone(), o.row_id)).collect(),
        other => panic!("expected a part, got {other:?}"),
    }
}

const ROOMY: usize = 1 << 20;

fn budget_for(n: usize) -> usize {
    ENVELOPE_BYTES
        + n * (cost(
            &op("tag", 1, Command::Insert),
            read(&op("tag", 1, Command::Insert)).ok().as_ref(),
        ) + 2)
}

#[test]
fn pending_ops_that_fit_go_whole_with_their_rows() {
    let ops = vec![
        op("city", 1, Command::Insert),
        op("person", 10, Command::Insert),
        op("tag", 3, Command::Delete),
    ];
    let next = next_push(&schema(), &ops, ROOMY, read).unwrap();
    let NextPush::Whole(rows) = next else {
        panic!("{next:?}")
    };
    assert_eq!(rows.len(), 2);
}

#[test]
fn inserts_that_do_not_fit_go_ahead_in_a_part_in_pending_order() {
    let ops: Vec<Op> = (1..=100).map(|i| op("tag", i, Command::Insert)).collect();
    let next = next_push(&schema(), &ops, budget_for(10), read).unwrap();
    let got = ids(&next);
    assert!(got.len() >= 5 && got.len() < 100, "{}", got.len());
    assert_eq!(got[0], ("tag".to_string(), 1.into()));
    assert!(got.windows(2).all(|w| w[0].1 < w[1].1));
}

#[test]
fn a_child_waits_for_the_part_that_carries_its_inserted_parent() {
    // person 20 (city 2) is pending before city 2's insert: it must wait.
    let mut ops = vec![
        op("person", 20, Command::Insert),
        op("city", 2, Command::Insert),
        op("person", 21, Command::Insert),
    ];
    ops.extend((1..=100).map(|i| op("tag", i, Command::Insert)));
    let got = ids(&next_push(&schema(), &ops, budget_for(20), read).unwrap());
    assert!(!got.contains(&("person".into(), 20.into())));
    assert!(got.contains(&("city".into(), 2.into())));
    assert!(
        got.contains(&("person".into(), 21.into())),
        "its parent is in the part: {got:?}"
    );
}

#[test]
fn a_child_of_a_parent_the_server_holds_goes_ahead() {
    // city 5 has no pending insert: the server holds it.
    let mut ops = vec![op("person", 50, Command::Insert)];
    ops.extend((1..=100).map(|i| op("tag", i, Command::Insert)));
    let got = ids(&next_push(&schema(), &ops, budget_for(20), read).unwrap());
    assert_eq!(got[0], ("person".to_string(), 50.into()));
}

#[test]
fn inserts_into_a_unique_table_wait_while_a_row_of_it_is_updated_or_deleted() {
    let mut ops = vec![
        op("city", 1, Command::Update),
        op("city", 2, Command::Insert),
    ];
    ops.extend((1..=100).map(|i| op("tag", i, Command::Insert)));
    let got = ids(&next_push(&schema(), &ops, budget_for(20), read).unwrap());
    assert!(
        !got.contains(&("city".into(), 1.into())),
        "a unique table's update waits"
    );
    assert!(
        !got.contains(&("city".into(), 2.into())),
        "its insert may take the value the update freed"
    );
    assert_eq!(got[0], ("tag".to_string(), 1.into()));
}

#[test]
fn updates_of_a_table_without_unique_constraints_go_ahead() {
    let ops: Vec<Op> = (1..=100)
        .map(|i| op("person", i, Command::Update))
        .collect();
    let got = ids(&next_push(&schema(), &ops, budget_for(10), read).unwrap());
    assert_eq!(got[0], ("person".to_string(), 1.into()));
}

#[test]
fn a_delete_of_a_referenced_table_waits_and_a_delete_of_a_leaf_goes_ahead() {
    let mut ops = vec![
        op("city", 1, Command::Delete),
        op("person", 7, Command::Delete),
    ];
    ops.extend((1..=100).map(|i| op("tag", i, Command::Insert)));
    let got = ids(&next_push(&schema(), &ops, budget_for(20), read).unwrap());
    assert!(!got.contains(&("city".into(), 1.into())));
    assert_eq!(got[0], ("person".to_string(), 7.into()));
}

#[test]
fn ops_that_must_travel_together_and_do_not_fit_are_too_large() {
    let ops: Vec<Op> = (1..=100).map(|i| op("city", i, Command::Update)).collect();
    let next = next_push(&schema(), &ops, budget_for(10), read).unwrap();
    assert!(matches!(next, NextPush::TooLarge { .. }), "{next:?}");
}

//! The ledger's own rules, on hand-made histories.

use super::*;

/// A conflict entry of §12.8 dropping the node's update of `uid`.
fn taken(policy: &str, uid: &str) -> ConflictEntry {
    serde_json::from_value(serde_json::json!({
        "kind": "direct", "table": "t0", "row_id": 1, "remote_op": "u",
        "remote_version": 7, "local_op": "u", "policy": policy,
        "rule": "remote_update_taken", "lost": {"uid": uid, "a": 1},
        "new_row_id": null, "related": null
    }))
    .expect("a §12.8 conflict entry")
}

fn wrote_once(ledger: &mut Ledger, n: usize) {
    let values: Logical = [("uid".to_string(), Value::Text("r1".into()))].into();
    ledger
        .wrote(n, "t0".into(), values, None)
        .expect("a row with a uid");
}

#[test]
fn a_node_wins_node_that_logs_a_dropped_update_fails_the_ledger() {
    let mut ledger = Ledger::new([1]);
    wrote_once(&mut ledger, 0);
    let err = ledger
        .merged(0, &[taken("node_wins", "r1")], |_, _| None)
        .unwrap_err();
    assert!(err.to_string().contains("node_wins"), "{err}");
}

#[test]
fn a_server_wins_node_that_logs_a_dropped_update_ends_its_last_write() {
    let mut ledger = Ledger::new([1]);
    wrote_once(&mut ledger, 1);
    ledger
        .merged(1, &[taken("server_wins", "r1")], |_, _| None)
        .expect("a loss server_wins allows");
    assert!(ledger.last.is_empty());
}

fn row(uid: &str, label: &str, code: i64) -> Logical {
    [
        ("uid".to_string(), Value::Text(uid.into())),
        ("label".to_string(), Value::Text(label.into())),
        ("code".to_string(), Value::Integer(code)),
    ]
    .into()
}

/// Node 0's push `p` carried `values` and the server applied it.
fn accepted(ledger: &mut Ledger, push: &str, values: Logical) {
    let op = LogicalOp {
        uid: "r1".into(),
        table: "t0".into(),
        command: Command::Update,
        values: Some(values),
    };
    ledger.built.insert((0, push.into()), vec![op]);
    ledger.accepted.push((0, push.into()));
}

#[test]
fn a_column_the_node_changed_must_reach_the_server_but_one_a_merge_took_need_not() {
    let mut ledger = Ledger::new([]);
    let before = row("r1", "a", 1);
    ledger
        .wrote(0, "t0".into(), row("r1", "b", 1), Some(&before))
        .unwrap();
    // The push carried the node's label, with the code another node
    // changed meanwhile (a column-level merge, spec §12.4.4).
    accepted(&mut ledger, "p1", row("r1", "b", 9));
    ledger.check(|_, _, _| Ok(false), |_| Ok(1)).unwrap();
}

#[test]
fn a_changed_column_whose_value_never_reached_the_server_fails_the_ledger() {
    let mut ledger = Ledger::new([]);
    let before = row("r1", "a", 1);
    ledger
        .wrote(0, "t0".into(), row("r1", "b", 1), Some(&before))
        .unwrap();
    accepted(&mut ledger, "p1", row("r1", "a", 9));
    let err = ledger.check(|_, _, _| Ok(false), |_| Ok(1)).unwrap_err();
    assert!(err.to_string().contains(r#"["label"]"#), "{err}");
}

#[test]
fn columns_of_writes_no_push_carried_add_up() {
    let mut ledger = Ledger::new([]);
    ledger
        .wrote(0, "t0".into(), row("r1", "b", 1), Some(&row("r1", "a", 1)))
        .unwrap();
    ledger
        .wrote(0, "t0".into(), row("r1", "b", 2), Some(&row("r1", "b", 1)))
        .unwrap();
    let Some(LastOp::Write { columns, .. }) = ledger.last.get(&(0, "r1".to_string())) else {
        panic!("a write");
    };
    assert_eq!(columns.iter().collect::<Vec<_>>(), ["code", "label"]);
}

#[test]
fn a_text_key_deleted_again_after_its_reinsert_was_pushed_is_deleted_under_the_later_uid() {
    // Seed 7179065: deleted (uid n0.0), inserted again as n0.3 and pushed
    // as a `u`, deleted again; the next push's `d` deletes n0.3.
    let mut ledger = Ledger::new([0usize; 0]);
    let key = RowId::text("s0k").expect("a text key");
    ledger.removed(0, "t0".into(), key, "n0.0".into(), true);
    ledger.removed(0, "t0".into(), key, "n0.3".into(), true);
    let push: PushRequest = serde_json::from_value(serde_json::json!({
        "protocol": "1.0", "schema": "f", "push_id": "p", "base_version": 2,
        "ops": [{"table": "t0", "row_id": "s0k", "command": "d"}], "rows": []
    }))
    .expect("a push request");
    ledger
        .built(0, &Schema::new(Vec::new()), &push, |_, _| None)
        .expect("the delete names a deleted row");
    assert_eq!(ledger.built[&(0, "p".to_string())][0].uid, "n0.3");
}

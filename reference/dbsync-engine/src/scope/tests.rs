//! The rules' validation (spec §19.3) and the classification of ops
//! (§19.5), on a to-do schema: `project`, `list` (owner) and `item`
//! (parent `list_id`); `tag` referenced by `item`.

use super::rules::{ReadRule, Scopes};
use super::view::NodeView;
use crate::store::{OpPosition, PositionedOp, ScopedOp};
use dbsync_core::{Command, Schema, VersionedOp};
use serde_json::json;

fn schema() -> Schema {
    let col = |name: &str, ty: &str| json!({"name": name, "type": ty, "not_null": false});
    let table = |name: &str, columns: Vec<serde_json::Value>, fks: serde_json::Value| json!({"name": name, "primary_key": "id", "columns": columns, "foreign_keys": fks});
    serde_json::from_value(json!({"tables": [
        table("item", vec![col("list_id", "integer"), col("tag_id", "integer"), col("text", "text")],
              json!([{"column": "list_id", "references": "list"}, {"column": "tag_id", "references": "tag"}])),
        table("list", vec![col("owner", "text"), col("project_id", "integer")],
              json!([{"column": "project_id", "references": "project"}])),
        table("project", vec![col("name", "text")], json!([])),
        table("tag", vec![col("name", "text")], json!([])),
    ]}))
    .unwrap()
}

fn parse(tables: serde_json::Value) -> Result<Scopes, String> {
    Scopes::parse(&json!({ "tables": tables }).to_string(), &schema()).map_err(|e| e.0)
}

fn good() -> serde_json::Value {
    json!({
        "project": {"read": "all"},
        "tag": {"read": "all", "write": true},
        "list": {"read": {"owner": "owner"}},
        "item": {"read": {"parent": "list_id"}, "write": false}
    })
}

#[test]
fn owner_parent_and_all_rules_parse_with_their_write_defaults() {
    let s = parse(good()).unwrap();
    assert_eq!(s.table("project").unwrap().read, ReadRule::All);
    assert!(!s.table("project").unwrap().write);
    assert!(s.table("tag").unwrap().write);
    assert!(s.table("list").unwrap().write);
    assert!(!s.table("item").unwrap().write);
    let children: Vec<_> = s.children_of("list").collect();
    assert_eq!(children, [("item", "list_id")]);
}

fn refused(edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let mut t = good();
    edit(&mut t);
    parse(t).unwrap_err()
}

#[test]
fn a_synced_table_without_a_rule_is_refused() {
    let why = refused(|t| {
        t.as_object_mut().unwrap().remove("tag");
    });
    assert!(why.contains("\"tag\" has no rule"), "{why}");
}

#[test]
fn a_table_the_schema_lacks_is_refused() {
    let why = refused(|t| t["ghost"] = json!({"read": "all"}));
    assert!(why.contains("\"ghost\" is not a synced table"), "{why}");
}

#[test]
fn an_owner_column_the_table_lacks_is_refused() {
    let why = refused(|t| t["list"] = json!({"read": {"owner": "user"}}));
    assert!(why.contains("no column \"user\""), "{why}");
}

#[test]
fn a_parent_column_that_is_no_foreign_key_is_refused() {
    let why = refused(|t| t["item"] = json!({"read": {"parent": "text"}}));
    assert!(why.contains("not a declared foreign key"), "{why}");
}

#[test]
fn a_foreign_key_to_a_table_some_readers_cannot_read_breaks_closure() {
    // Tags owned by users: an item's reader might not read its tag.
    let why = refused(|t| t["tag"] = json!({"read": {"owner": "name"}}));
    assert!(
        why.contains("foreign key \"tag_id\" references \"tag\""),
        "{why}"
    );
}

#[test]
fn unknown_members_and_shapes_are_refused() {
    assert!(refused(|t| t["list"]["read_only"] = json!(true)).contains("unknown member"));
    assert!(refused(|t| t["list"]["write"] = json!("yes")).contains("true or false"));
    assert!(refused(|t| t["list"]["read"] = json!("some")).contains("must be \"all\""));
    let not_json = Scopes::parse("{", &schema()).unwrap_err().0;
    assert!(not_json.starts_with("not JSON"), "{not_json}");
}

fn scoped(command: Command, before: Option<&str>, after: Option<&str>) -> ScopedOp {
    ScopedOp {
        op: PositionedOp {
            position: OpPosition { version: 3, seq: 1 },
            op: VersionedOp {
                version: 3,
                table: "list".into(),
                row_id: 5.into(),
                command,
                columns: None,
                out: false,
            },
        },
        before: before.map(str::to_string),
        after: after.map(str::to_string),
    }
}

fn seen(command: Command, before: Option<&str>, after: Option<&str>) -> Option<(Command, bool)> {
    let alice = NodeView {
        keys: vec!["*".into(), "u:alice".into()],
        since: Vec::new(),
    };
    alice
        .deliver(scoped(command, before, after))
        .map(|p| (p.op.command, p.op.out))
}

#[test]
fn an_update_into_the_scope_is_a_move_in_and_out_of_it_a_move_out() {
    let (a, b) = (Some("u:alice"), Some("u:bob"));
    assert_eq!(seen(Command::Update, a, a), Some((Command::Update, false)));
    assert_eq!(seen(Command::Update, b, a), Some((Command::Insert, false)));
    assert_eq!(seen(Command::Update, a, b), Some((Command::Delete, true)));
    assert_eq!(seen(Command::Update, b, b), None);
    assert_eq!(
        seen(Command::Update, a, None),
        Some((Command::Delete, true))
    );
}

#[test]
fn inserts_and_deletes_are_sent_only_to_nodes_that_read_the_row() {
    let (a, b) = (Some("u:alice"), Some("u:bob"));
    assert_eq!(
        seen(Command::Insert, None, a),
        Some((Command::Insert, false))
    );
    assert_eq!(seen(Command::Insert, None, b), None);
    assert_eq!(
        seen(Command::Delete, a, None),
        Some((Command::Delete, false))
    );
    assert_eq!(seen(Command::Delete, b, None), None);
}

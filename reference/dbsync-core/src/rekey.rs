//! Inserts re-keyed by the server (spec §10.2.2.2): a push rewritten to
//! the keys the server chose, and the moves found again by comparing a
//! push with the version it became.

use crate::protocol::row_id::RowId;
use crate::protocol::{PushRequest, Rekey};
use crate::{Command, Op, Schema, Value};
use std::collections::HashMap;

/// Makes every move of `moves` in `req` (§10.2.2.2 step 2): each moved
/// insert's `row_id`, its row's `id` and its entry in `new_rows`, and
/// every foreign-key value of the push's rows that references a moved
/// key in its table.
pub fn rewrite(schema: &Schema, req: &mut PushRequest, moves: &[Rekey]) {
    if moves.is_empty() {
        return;
    }
    let to: HashMap<(&str, RowId), RowId> = moves
        .iter()
        .map(|m| ((m.table.as_str(), RowId::Int(m.from)), RowId::Int(m.to)))
        .collect();
    for op in req.ops.iter_mut().filter(|o| o.command == Command::Insert) {
        if let Some(k) = to.get(&(op.table.as_str(), op.row_id)) {
            op.row_id = *k;
        }
    }
    for (table, keys) in &mut req.new_rows {
        for key in keys.iter_mut() {
            if let Some(k) = to.get(&(table.as_str(), RowId::Int(*key))) {
                *key = k.as_int().unwrap_or(*key);
            }
        }
    }
    for row in &mut req.rows {
        if let Some(k) = to.get(&(row.table.as_str(), row.id)) {
            row.id = *k;
        }
        let Some(t) = schema.table(&row.table) else {
            continue;
        };
        for fk in &t.foreign_keys {
            if let Some(Value::Integer(id)) = row.values.get_mut(&fk.column) {
                if let Some(k) = to.get(&(fk.references.as_str(), RowId::Int(*id))) {
                    *id = k.as_int().unwrap_or(*id);
                }
            }
        }
    }
}

/// The moves the server made, found again (§10.2.2.2, §10.4.2, §11.5):
/// the i-th op of the version a push became is the push's i-th op, and
/// an insert whose key differs was re-keyed.
/// `applied` gives each op of the version as its table and key.
pub fn moves_between<'a>(
    pushed: &[Op],
    applied: impl IntoIterator<Item = (&'a str, RowId)>,
) -> Vec<Rekey> {
    pushed
        .iter()
        .zip(applied)
        .filter(|(p, (table, key))| {
            p.command == Command::Insert && p.table == *table && p.row_id != *key
        })
        .filter_map(|(p, (_, key))| {
            Some(Rekey {
                table: p.table.clone(),
                from: p.row_id.as_int()?,
                to: key.as_int()?,
            })
        })
        .collect()
}

/// The ops as the pairs [`moves_between`] compares.
pub fn keys_of(ops: &[Op]) -> impl Iterator<Item = (&str, RowId)> {
    ops.iter().map(|o| (o.table.as_str(), o.row_id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::value::Row;

    fn schema() -> Schema {
        let table = |v: serde_json::Value| serde_json::from_value(v).unwrap();
        let text =
            |name: &str| serde_json::json!({"name": name, "type": "text", "not_null": false});
        Schema::new(vec![
            table(
                serde_json::json!({"name": "author", "primary_key": "id", "columns": [text("name")]}),
            ),
            table(serde_json::json!({"name": "book", "primary_key": "id",
                "columns": [text("title"), {"name": "author_id", "type": "integer", "not_null": false}],
                "foreign_keys": [{"column": "author_id", "references": "author"}]})),
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

    fn row(table: &str, id: impl Into<RowId>, values: serde_json::Value) -> Row {
        let id: RowId = id.into();
        serde_json::from_value(serde_json::json!({"table": table, "id": id, "values": values}))
            .unwrap()
    }

    fn push() -> PushRequest {
        PushRequest {
            protocol: "1.0".into(),
            schema: "s".into(),
            app_data: None,
            push_id: "p-1".into(),
            base_version: 43,
            ops: vec![
                op("author", 12, Command::Insert),
                op("book", 30, Command::Insert),
                op("book", 12, Command::Update),
            ],
            rows: vec![
                row("author", 12, serde_json::json!({"name": "Ada"})),
                row(
                    "book",
                    30,
                    serde_json::json!({"title": "Notes", "author_id": 12}),
                ),
                row(
                    "book",
                    12,
                    serde_json::json!({"title": "Other", "author_id": 11}),
                ),
            ],
            new_rows: [
                ("author".to_string(), vec![12]),
                ("book".to_string(), vec![30]),
            ]
            .into(),
        }
    }

    #[test]
    fn a_rewrite_moves_the_insert_its_row_and_the_foreign_keys_that_reference_it() {
        let mut req = push();
        let moves = [Rekey {
            table: "author".into(),
            from: 12,
            to: 13,
        }];
        rewrite(&schema(), &mut req, &moves);
        assert_eq!(req.ops[0], op("author", 13, Command::Insert));
        assert_eq!(
            req.ops[2],
            op("book", 12, Command::Update),
            "another table's key 12 stays"
        );
        assert_eq!(req.rows[0].id, RowId::Int(13));
        assert_eq!(req.rows[1].values["author_id"], Value::Integer(13));
        assert_eq!(req.rows[2].id, RowId::Int(12));
        assert_eq!(req.rows[2].values["author_id"], Value::Integer(11));
        assert!(req.is_new_row("author", 13.into()) && !req.is_new_row("author", 12.into()));
        assert_eq!(moves_between(&push().ops, keys_of(&req.ops)), moves);
    }

    #[test]
    fn a_version_with_the_pushed_keys_shows_no_move() {
        let req = push();
        assert!(moves_between(&req.ops, keys_of(&req.ops)).is_empty());
    }
}

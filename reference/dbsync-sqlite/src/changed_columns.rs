//! The changed columns of a `u` (spec §3.1.1) in `dbsync_oplog.columns`:
//! a JSON array of names, written by the update trigger or by a pushed
//! op, or NULL for an op that names none.

use crate::StoreError;
use dbsync_core::schema::TableSchema;
use dbsync_core::ChangedColumns;
use rusqlite::Connection;

/// Adds `dbsync_oplog.columns` to a database made before it existed.
pub(crate) fn add_to_oplog(conn: &Connection) -> rusqlite::Result<()> {
    crate::introspect::add_missing_column(conn, "dbsync_oplog", "columns", "TEXT")
}

/// The SQL expression an `AFTER UPDATE` trigger of `t` records as the
/// changed columns: the names of the non-key columns whose value `IS
/// NOT` the old one, in byte order, as a JSON array. Plain SQL, so that
/// it runs in any program's SQLite.
pub(crate) fn trigger_expr(t: &TableSchema) -> String {
    let mut names: Vec<&str> = t.columns.iter().map(|c| c.name.as_str()).collect();
    names.sort_unstable();
    if names.is_empty() {
        return "'[]'".to_owned();
    }
    // Names are identifiers (spec §2.1): no quote, comma or backslash.
    let each: Vec<String> = names
        .iter()
        .map(|n| format!("CASE WHEN OLD.\"{n}\" IS NOT NEW.\"{n}\" THEN '\"{n}\",' ELSE '' END"))
        .collect();
    format!("'[' || rtrim({}, ',') || ']'", each.join(" || "))
}

/// The column's text for an op's changed columns.
pub fn to_sql(columns: Option<&ChangedColumns>) -> Option<String> {
    columns.map(|c| serde_json::to_string(c).expect("names serialize"))
}

/// The changed columns a `dbsync_oplog.columns` text names.
pub fn from_sql(text: Option<String>) -> Result<Option<ChangedColumns>, StoreError> {
    text.map(|t| {
        serde_json::from_str(&t)
            .map_err(|e| StoreError::Corrupt(format!("oplog columns {t:?} unreadable: {e}")))
    })
    .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use dbsync_core::schema::{Column, ColumnType};

    fn table() -> TableSchema {
        let mut t: TableSchema = serde_json::from_value(serde_json::json!({
            "name": "track", "primary_key": "id", "columns": []
        }))
        .unwrap();
        for name in ["unit_price", "name", "composer"] {
            t.columns.push(Column {
                name: name.into(),
                ty: ColumnType::Any,
                not_null: false,
            });
        }
        t
    }

    #[test]
    fn the_update_trigger_names_the_columns_whose_value_changed_in_byte_order() {
        let conn = Connection::open_in_memory().unwrap();
        let expr = trigger_expr(&table());
        conn.execute_batch(&format!(
            "CREATE TABLE track (id INTEGER PRIMARY KEY, name, composer, unit_price);
             CREATE TABLE seen (columns TEXT);
             CREATE TRIGGER u AFTER UPDATE ON track BEGIN INSERT INTO seen VALUES ({expr}); END;
             INSERT INTO track VALUES (1, 'Fast', NULL, 1);
             UPDATE track SET unit_price = 1.0;
             UPDATE track SET composer = 'Queen', unit_price = 2;
             UPDATE track SET name = 'Fast';"
        ))
        .unwrap();
        let seen: Vec<String> = conn
            .prepare("SELECT columns FROM seen ORDER BY rowid")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(seen, ["[]", r#"["composer","unit_price"]"#, "[]"]);
        let parsed = from_sql(Some(seen[1].clone())).unwrap().unwrap();
        assert_eq!(to_sql(Some(&parsed)).as_deref(), Some(seen[1].as_str()));
    }
}

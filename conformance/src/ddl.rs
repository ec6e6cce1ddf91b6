//! SQLite `CREATE TABLE` statements for a schema of spec §2, so that a
//! vector's tables (or a generated schema) become real SQLite tables the
//! reference store tracks.

use dbsync_core::{ColumnType, Schema, TableSchema};

/// The declared SQLite type of a column type, as the reference store's
/// introspection reads it back.
pub fn sqlite_type(ty: ColumnType) -> &'static str {
    match ty {
        ColumnType::Integer => "INTEGER",
        ColumnType::Real => "REAL",
        ColumnType::Text => "TEXT",
        ColumnType::Blob => "BLOB",
        ColumnType::Date => "DATE",
        ColumnType::Time => "TIME",
        ColumnType::Datetime => "DATETIME",
    }
}

/// One table: an `AUTOINCREMENT` integer key, the columns, the foreign keys
/// (to the referenced table's key) and the unique constraints.
pub fn create_table(schema: &Schema, t: &TableSchema) -> String {
    let mut parts = vec![format!(
        "\"{}\" INTEGER PRIMARY KEY AUTOINCREMENT",
        t.primary_key
    )];
    for c in &t.columns {
        let mut def = format!("\"{}\" {}", c.name, sqlite_type(c.ty));
        if c.not_null {
            def.push_str(" NOT NULL");
        }
        if let Some(fk) = t.foreign_keys.iter().find(|f| f.column == c.name) {
            let pk = schema
                .table(&fk.references)
                .map_or("id", |p| p.primary_key.as_str());
            def.push_str(&format!(" REFERENCES \"{}\"(\"{pk}\")", fk.references));
        }
        parts.push(def);
    }
    for u in &t.unique {
        let cols: Vec<String> = u.iter().map(|c| format!("\"{c}\"")).collect();
        parts.push(format!("UNIQUE ({})", cols.join(", ")));
    }
    format!("CREATE TABLE \"{}\" ({});", t.name, parts.join(", "))
}

/// Every table of `schema`.
pub fn create_all(schema: &Schema) -> String {
    schema
        .tables
        .iter()
        .map(|t| create_table(schema, t))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use dbsync_core::{Column, Direction, ForeignKey};

    #[test]
    fn a_table_with_a_foreign_key_and_a_two_column_unique_becomes_one_statement() {
        let parent = TableSchema {
            name: "a".into(),
            primary_key: "id".into(),
            columns: vec![],
            foreign_keys: vec![],
            unique: vec![],
            direction: Direction::Both,
        };
        let child = TableSchema {
            name: "b".into(),
            primary_key: "id".into(),
            columns: vec![
                Column {
                    name: "a_id".into(),
                    ty: ColumnType::Integer,
                    not_null: true,
                },
                Column {
                    name: "x".into(),
                    ty: ColumnType::Date,
                    not_null: false,
                },
            ],
            foreign_keys: vec![ForeignKey {
                column: "a_id".into(),
                references: "a".into(),
            }],
            unique: vec![vec!["a_id".into(), "x".into()]],
            direction: Direction::Both,
        };
        let schema = Schema::new(vec![parent, child.clone()]);
        assert_eq!(
            create_table(&schema, &child),
            "CREATE TABLE \"b\" (\"id\" INTEGER PRIMARY KEY AUTOINCREMENT, \
             \"a_id\" INTEGER NOT NULL REFERENCES \"a\"(\"id\"), \"x\" DATE, \
             UNIQUE (\"a_id\", \"x\"));"
        );
    }
}

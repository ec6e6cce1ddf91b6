//! Reading a synced table's shape from SQLite's own catalogue (spec §2).
//!
//! Every restriction of spec §2 that SQLite can show is checked here, with
//! one error per rule broken, each saying what to change.

use dbsync_core::{Column, ColumnType, Direction, ForeignKey, KeyType, TableSchema};
use rusqlite::{Connection, OptionalExtension};

/// Why a table cannot be synced as it is.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TableRefused {
    /// Several tables are refused: each with its reason, so that one run
    /// of `track` says everything to change.
    #[error("{} tables cannot be synced as they are:\n{}", .0.len(), .0.iter().map(|r| format!("- {r}")).collect::<Vec<_>>().join("\n"))]
    Several(Vec<TableRefused>),
    #[error("table {0:?} does not exist")]
    NoSuchTable(String),
    #[error("table {0:?}: names starting with dbsync_ are reserved for dbsync's own tables")]
    ReservedName(String),
    #[error("table {0:?}: a table or column name must match [A-Za-z_][A-Za-z0-9_]* (at most 63 characters); rename it")]
    BadName(String),
    #[error("table {0:?} has no primary key; declare `id INTEGER PRIMARY KEY` (AUTOINCREMENT spares the moves of spec 2.2.1)")]
    NoPrimaryKey(String),
    #[error("table {table:?} has a composite primary key ({columns}); give it a single `id INTEGER PRIMARY KEY` and make the old key a UNIQUE constraint")]
    CompositeKey { table: String, columns: String },
    #[error("table {table:?}: primary key {column:?} is declared {declared:?}; declare it `INTEGER PRIMARY KEY` (SQLite's rowid; AUTOINCREMENT optional) or `TEXT PRIMARY KEY` (keys the application chooses, such as UUIDs)")]
    NonIntegerKey {
        table: String,
        column: String,
        declared: String,
    },
    #[error("table {table:?}: primary key {column:?} is declared INTEGER but is not SQLite's rowid (`PRIMARY KEY DESC` as a column constraint makes a separate key); declare it `INTEGER PRIMARY KEY`")]
    NotRowid { table: String, column: String },
    #[error("table {table:?} is WITHOUT ROWID; synced tables need a rowid: drop WITHOUT ROWID (the key, INTEGER or TEXT, stays)")]
    WithoutRowid { table: String },
    #[error("table {table:?}: foreign key {column:?} references the text key of {parent:?} but is declared {declared:?}; declare it TEXT")]
    ForeignKeyNotText {
        table: String,
        column: String,
        parent: String,
        declared: String,
    },
    #[error("table {table:?}: foreign key on ({columns}) has several columns; reference the parent's single key instead")]
    CompositeForeignKey { table: String, columns: String },
    #[error("table {table:?}: foreign key {column:?} references {parent:?}, which is not synced; sync {parent:?} too or drop the foreign key")]
    ForeignKeyToUnsynced {
        table: String,
        column: String,
        parent: String,
    },
    #[error("table {table:?}: foreign key {column:?} declares ON {event} {action}; dbsync applies merges by deleting and re-inserting rows, so only NO ACTION is allowed (spec 2.3.1): declare it `{column} INTEGER REFERENCES {parent}` without the clause, and {}", dbsync_core::ForeignKey::rewrite_of_action(.table, .column, .event, .action))]
    ForeignKeyAction {
        table: String,
        column: String,
        parent: String,
        event: &'static str,
        action: String,
    },
    #[error("table {table:?} is pulled but its foreign key {column:?} references the push-only table {parent:?}, whose rows pulls never carry; make {table:?} push-only too or drop the foreign key")]
    ForeignKeyToPushOnly {
        table: String,
        column: String,
        parent: String,
    },
    #[error("table {table:?}: {rows} row(s) hold a value their column's type cannot carry ({columns}); fix those values (dates and times are text, spec §4.3) or declare the column without a type to hold any value")]
    ValuesDoNotFit {
        table: String,
        rows: i64,
        columns: String,
    },
    #[error("table {table:?}: unique index {index:?} is {what}; dbsync's merge checks unique constraints over plain columns only (spec §2.3.2): make it a UNIQUE constraint over columns, or drop it and check the rule in the application")]
    UnsupportedUniqueIndex {
        table: String,
        index: String,
        what: &'static str,
    },
    #[error("table {table:?}: foreign key {column:?} references {parent}({parent_column}), which is not its primary key; reference the primary key")]
    ForeignKeyNotToPrimaryKey {
        table: String,
        column: String,
        parent: String,
        parent_column: String,
    },
}

impl TableRefused {
    /// Every refusal, one per table (a [`TableRefused::Several`] opened).
    pub fn each(&self) -> Vec<&TableRefused> {
        match self {
            TableRefused::Several(all) => all.iter().flat_map(TableRefused::each).collect(),
            one => vec![one],
        }
    }

    /// The name of the refused table (of the first, for several).
    pub fn table(&self) -> &str {
        use TableRefused::*;
        match self {
            Several(all) => all.first().map_or("", TableRefused::table),
            NoSuchTable(t) | ReservedName(t) | BadName(t) | NoPrimaryKey(t) => t,
            CompositeKey { table, .. }
            | NonIntegerKey { table, .. }
            | NotRowid { table, .. }
            | WithoutRowid { table }
            | CompositeForeignKey { table, .. }
            | ForeignKeyToUnsynced { table, .. }
            | ForeignKeyAction { table, .. }
            | ForeignKeyToPushOnly { table, .. }
            | ValuesDoNotFit { table, .. }
            | UnsupportedUniqueIndex { table, .. }
            | ForeignKeyNotText { table, .. }
            | ForeignKeyNotToPrimaryKey { table, .. } => table,
        }
    }

    /// One refusal for all of `refusals`: `None` when there are none,
    /// the refusal itself when there is one.
    pub fn all(mut refusals: Vec<TableRefused>) -> Option<TableRefused> {
        match refusals.len() {
            0 => None,
            1 => refusals.pop(),
            _ => Some(TableRefused::Several(refusals)),
        }
    }
}

/// Whether `name` is a valid protocol identifier (spec §2.1).
pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 63
}

/// The column type of a declared SQLite type (spec §2.5.1): the first
/// row of the spec's table that matches, names compared case
/// insensitively as SQLite's affinity rules compare them.
pub fn column_type(declared: &str) -> ColumnType {
    let d = declared.trim().to_ascii_uppercase();
    let named = |name: &str| {
        d == name || d.starts_with(&format!("{name} ")) || d.starts_with(&format!("{name}("))
    };
    if d.contains("DATETIME") || d.contains("TIMESTAMP") {
        ColumnType::Datetime
    } else if named("DATE") {
        ColumnType::Date
    } else if named("TIME") {
        ColumnType::Time
    } else if d.contains("INT") || d.contains("BOOL") {
        ColumnType::Integer
    } else if d.contains("CHAR") || d.contains("CLOB") || d.contains("TEXT") {
        ColumnType::Text
    } else if d.contains("BLOB") {
        ColumnType::Blob
    } else if d.contains("REAL") || d.contains("FLOA") || d.contains("DOUB") {
        ColumnType::Real
    } else {
        // No declared type, NUMERIC, DECIMAL, JSON, UUID, ANY, ...: the
        // column holds whatever the application stores.
        ColumnType::Any
    }
}

/// Reads the schema of `table`, checking spec §2's restrictions. `synced`
/// names every table that will be synced, so foreign keys can be checked.
pub fn read_table(
    conn: &Connection,
    table: &str,
    synced: &[String],
    direction: Direction,
) -> Result<TableSchema, crate::StoreError> {
    let refused = |r: TableRefused| crate::StoreError::Refused(r);
    if table.starts_with("dbsync_") {
        return Err(refused(TableRefused::ReservedName(table.into())));
    }
    if !is_identifier(table) {
        return Err(refused(TableRefused::BadName(table.into())));
    }
    let sql: Option<String> = conn
        .query_row(
            "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = ?1",
            [table],
            |r| r.get(0),
        )
        .optional()?;
    let Some(sql) = sql else {
        return Err(refused(TableRefused::NoSuchTable(table.into())));
    };
    let sql_upper = sql.to_ascii_uppercase();
    if sql_upper.contains("WITHOUT ROWID") {
        return Err(refused(TableRefused::WithoutRowid {
            table: table.into(),
        }));
    }

    // PRAGMA table_info: cid, name, type, notnull, dflt_value, pk
    let mut stmt = conn.prepare(&format!("PRAGMA table_info(\"{table}\")"))?;
    let cols: Vec<(String, String, bool, i64)> = stmt
        .query_map([], |r| {
            Ok((r.get(1)?, r.get(2)?, r.get::<_, i64>(3)? != 0, r.get(5)?))
        })?
        .collect::<Result<_, _>>()?;
    let pk_cols: Vec<&(String, String, bool, i64)> = cols.iter().filter(|c| c.3 > 0).collect();
    let pk = match pk_cols.as_slice() {
        [] => return Err(refused(TableRefused::NoPrimaryKey(table.into()))),
        [one] => one,
        many => {
            return Err(refused(TableRefused::CompositeKey {
                table: table.into(),
                columns: many
                    .iter()
                    .map(|c| c.0.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            }))
        }
    };
    let key_type = key_type(table, pk)?;
    if key_type == KeyType::Integer && has_separate_key(conn, table)? {
        return Err(refused(TableRefused::NotRowid {
            table: table.into(),
            column: pk.0.clone(),
        }));
    }
    let mut columns = Vec::new();
    for (name, declared, not_null, pk_pos) in &cols {
        if !is_identifier(name) {
            return Err(refused(TableRefused::BadName(format!("{table}.{name}"))));
        }
        if *pk_pos == 0 {
            columns.push(Column {
                name: name.clone(),
                ty: column_type(declared),
                not_null: *not_null,
            });
        }
    }

    // PRAGMA foreign_key_list: id, seq, table, from, to, ...
    let mut stmt = conn.prepare(&format!("PRAGMA foreign_key_list(\"{table}\")"))?;
    type FkRow = (i64, String, String, Option<String>, String, String);
    let fk_rows: Vec<FkRow> = stmt
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
            ))
        })?
        .collect::<Result<_, _>>()?;
    let mut foreign_keys = Vec::new();
    for (id, parent, from, to, on_update, on_delete) in &fk_rows {
        let parts: Vec<&str> = fk_rows
            .iter()
            .filter(|f| f.0 == *id)
            .map(|f| f.2.as_str())
            .collect();
        if parts.len() > 1 {
            return Err(refused(TableRefused::CompositeForeignKey {
                table: table.into(),
                columns: parts.join(", "),
            }));
        }
        for (event, action) in [("UPDATE", on_update), ("DELETE", on_delete)] {
            if !action.eq_ignore_ascii_case("NO ACTION") {
                return Err(refused(TableRefused::ForeignKeyAction {
                    table: table.into(),
                    column: from.clone(),
                    parent: parent.clone(),
                    event,
                    action: action.clone(),
                }));
            }
        }
        if !synced.iter().any(|s| s == parent) {
            return Err(refused(TableRefused::ForeignKeyToUnsynced {
                table: table.into(),
                column: from.clone(),
                parent: parent.clone(),
            }));
        }
        let parent_pk = primary_key_of(conn, parent)?.map(|(name, _)| name);
        if let Some(to) = to {
            if Some(to) != parent_pk.as_ref() {
                return Err(refused(TableRefused::ForeignKeyNotToPrimaryKey {
                    table: table.into(),
                    column: from.clone(),
                    parent: parent.clone(),
                    parent_column: to.clone(),
                }));
            }
        }
        let declared = cols
            .iter()
            .find(|c| c.0 == *from)
            .map_or("", |c| c.1.as_str());
        if parent_has_text_key(conn, parent)? && column_type(declared) != ColumnType::Text {
            return Err(refused(TableRefused::ForeignKeyNotText {
                table: table.into(),
                column: from.clone(),
                parent: parent.clone(),
                declared: declared.into(),
            }));
        }
        foreign_keys.push(ForeignKey {
            column: from.clone(),
            references: parent.clone(),
        });
    }

    let unique = unique_constraints(conn, table)?;

    Ok(TableSchema {
        name: table.into(),
        primary_key: pk.0.clone(),
        key_type,
        columns,
        foreign_keys,
        unique,
        direction,
    })
}

/// Every unique constraint of `table`: its UNIQUE indexes but the
/// primary key's, each as its sorted columns. A partial index or one over
/// an expression is refused (spec §2.3.2).
fn unique_constraints(
    conn: &Connection,
    table: &str,
) -> Result<Vec<Vec<String>>, crate::StoreError> {
    // PRAGMA index_list: seq, name, unique, origin, partial
    let mut stmt = conn.prepare(&format!("PRAGMA index_list(\"{table}\")"))?;
    let indexes: Vec<(String, bool, String, bool)> = stmt
        .query_map([], |r| {
            Ok((
                r.get(1)?,
                r.get::<_, i64>(2)? != 0,
                r.get(3)?,
                r.get::<_, i64>(4)? != 0,
            ))
        })?
        .collect::<Result<_, _>>()?;
    let refused = |index: &str, what| {
        crate::StoreError::Refused(TableRefused::UnsupportedUniqueIndex {
            table: table.into(),
            index: index.into(),
            what,
        })
    };
    let mut unique = Vec::new();
    for (index, is_unique, origin, partial) in indexes {
        if !is_unique || origin == "pk" {
            continue;
        }
        if partial {
            return Err(refused(&index, "partial (it has a WHERE clause)"));
        }
        // PRAGMA index_info: seqno, cid, name (NULL for an expression)
        let mut stmt = conn.prepare(&format!("PRAGMA index_info(\"{index}\")"))?;
        let names: Vec<Option<String>> = stmt
            .query_map([], |r| r.get::<_, Option<String>>(2))?
            .collect::<Result<_, _>>()?;
        let Some(mut cols) = names.into_iter().collect::<Option<Vec<String>>>() else {
            return Err(refused(&index, "over an expression"));
        };
        cols.sort();
        if !cols.is_empty() && !unique.contains(&cols) {
            unique.push(cols);
        }
    }
    unique.sort();
    Ok(unique)
}

/// What the key column `pk` (name, declared type) holds (spec §2.2): an
/// `INTEGER` key is SQLite's rowid; a type SQLite gives text affinity
/// (`TEXT`, `VARCHAR(36)`, ...) holds text keys; any other is refused.
fn key_type(table: &str, pk: &(String, String, bool, i64)) -> Result<KeyType, crate::StoreError> {
    if pk.1.eq_ignore_ascii_case("INTEGER") {
        return Ok(KeyType::Integer);
    }
    if column_type(&pk.1) == ColumnType::Text {
        return Ok(KeyType::Text);
    }
    Err(crate::StoreError::Refused(TableRefused::NonIntegerKey {
        table: table.into(),
        column: pk.0.clone(),
        declared: pk.1.clone(),
    }))
}

/// Whether the primary key of `table` is an index of its own rather than
/// the rowid (SQLite makes one for a key that is not a rowid alias).
fn has_separate_key(conn: &Connection, table: &str) -> rusqlite::Result<bool> {
    let mut stmt = conn.prepare(&format!("PRAGMA index_list(\"{table}\")"))?;
    let origins: Vec<String> = stmt
        .query_map([], |r| r.get(3))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(origins.iter().any(|o| o == "pk"))
}

/// Whether SQLite may give `table`'s new rows the key of a deleted row:
/// its `INTEGER PRIMARY KEY` lacks AUTOINCREMENT (spec §2.2.1).
pub fn reuses_keys(conn: &Connection, table: &str) -> rusqlite::Result<bool> {
    let sql: String = conn.query_row(
        "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = ?1",
        [table],
        |r| r.get(0),
    )?;
    Ok(!sql.to_ascii_uppercase().contains("AUTOINCREMENT"))
}

/// The single key column of `table` (name, declared type), if it has
/// exactly one.
fn primary_key_of(conn: &Connection, table: &str) -> rusqlite::Result<Option<(String, String)>> {
    let mut stmt = conn.prepare(&format!("PRAGMA table_info(\"{table}\")"))?;
    let mut pks: Vec<(String, String)> = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(5)?,
            ))
        })?
        .filter_map(|c| c.ok())
        .filter(|c| c.2 > 0)
        .map(|c| (c.0, c.1))
        .collect();
    Ok(if pks.len() == 1 { pks.pop() } else { None })
}

/// Whether `table`'s single key is a text key (spec §2.2).
fn parent_has_text_key(conn: &Connection, table: &str) -> rusqlite::Result<bool> {
    Ok(primary_key_of(conn, table)?.is_some_and(|(_, declared)| {
        !declared.eq_ignore_ascii_case("INTEGER") && column_type(&declared) == ColumnType::Text
    }))
}

/// Every user table of the database (not SQLite's, not dbsync's), by name.
pub fn user_tables(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare(
        "SELECT name FROM sqlite_schema WHERE type = 'table' \
         AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name NOT LIKE 'dbsync\\_%' ESCAPE '\\' \
         ORDER BY name",
    )?;
    let names = stmt.query_map([], |r| r.get(0))?.collect();
    names
}

/// Adds `column` (its SQL definition `definition`) to `table` of a
/// database made before the column existed; does nothing otherwise.
pub(crate) fn add_missing_column(
    conn: &Connection,
    table: &str,
    column: &str,
    definition: &str,
) -> rusqlite::Result<()> {
    let has: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2)",
        [table, column],
        |r| r.get(0),
    )?;
    if !has {
        conn.execute_batch(&format!(
            "ALTER TABLE \"{table}\" ADD COLUMN {column} {definition};"
        ))?;
    }
    Ok(())
}

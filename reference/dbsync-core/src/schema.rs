//! The synced-table model (spec §2) and the schema fingerprint (spec §7.2).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt::Write as _;

/// How a column's values are encoded on the wire (spec §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnType {
    /// `integer`: a signed 64-bit integer (spec §4.1.1).
    Integer,
    /// `real`: a finite IEEE 754 binary64 number (spec §4.1.2).
    Real,
    /// `text`: a Unicode string (spec §4.1.3).
    Text,
    /// `blob`: a byte string, `{"base64": "..."}` on the wire (spec §4.2).
    Blob,
    /// `date`: a calendar date, `YYYY-MM-DD` (spec §4.3).
    Date,
    /// `time`: a time of day, `HH:MM:SS[.fraction]` (spec §4.3).
    Time,
    /// `datetime`: a date and time, optionally with a UTC offset (spec §4.3).
    Datetime,
    /// Whatever the application stored, as it stored it: an integer, a
    /// real, a text or a blob (spec §2.5, §4.1.5).
    Any,
}

impl ColumnType {
    /// The type's name in the canonical text of spec §7.2.1 (`integer`,
    /// `real`, ...), as serde writes it too.
    pub fn name(self) -> &'static str {
        match self {
            ColumnType::Integer => "integer",
            ColumnType::Real => "real",
            ColumnType::Text => "text",
            ColumnType::Blob => "blob",
            ColumnType::Date => "date",
            ColumnType::Time => "time",
            ColumnType::Datetime => "datetime",
            ColumnType::Any => "any",
        }
    }
}

/// Which way a table's changes travel (spec §2.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Pushed and pulled.
    #[default]
    Both,
    /// Nodes push it; pulls never carry it.
    PushOnly,
    /// Nodes pull it; a push that carries it is rejected.
    PullOnly,
}

impl Direction {
    /// The direction's name in the canonical text of spec §7.2.1
    /// (`both`, `push_only`, `pull_only`).
    pub fn name(self) -> &'static str {
        match self {
            Direction::Both => "both",
            Direction::PushOnly => "push_only",
            Direction::PullOnly => "pull_only",
        }
    }
    /// Whether nodes push the table (`both` or `push_only`, spec §2.4).
    pub fn pushes(self) -> bool {
        self != Direction::PullOnly
    }
    /// Whether pulls, repairs and queries carry the table (`both` or
    /// `pull_only`, spec §2.4).
    pub fn pulls(self) -> bool {
        self != Direction::PushOnly
    }
}

/// One table a store is asked to track, and which way it syncs (spec
/// §2.1, §2.4). The rest of the table's shape (key, columns, foreign keys,
/// unique constraints) is read from the database itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableSpec {
    /// The table's name.
    pub name: String,
    /// Which way its changes travel.
    pub direction: Direction,
}

impl TableSpec {
    /// A table synced both ways.
    pub fn both(name: &str) -> TableSpec {
        TableSpec {
            name: name.into(),
            direction: Direction::Both,
        }
    }
}

/// A column other than the primary key (spec §2.5).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Column {
    /// The column's name, an identifier (spec §2.1).
    pub name: String,
    /// How its values travel and which are valid (spec §2.5, §4).
    #[serde(rename = "type")]
    pub ty: ColumnType,
    /// Whether the column is NOT NULL (`not_null` in the canonical text).
    pub not_null: bool,
}

/// A foreign key: `column` holds the primary key of a row of `references`
/// (spec §2.3.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ForeignKey {
    /// The referencing column, of this table.
    pub column: String,
    /// The referenced synced table (possibly this table itself).
    pub references: String,
}

impl ForeignKey {
    /// What the application does instead of a foreign-key action `ON
    /// {event} {action}` of column `column` of `table` (the table of spec
    /// §2.3.1), for a refusal that says how to rewrite it.
    pub fn rewrite_of_action(table: &str, column: &str, event: &str, action: &str) -> String {
        match (event, action.to_ascii_uppercase().as_str()) {
            ("DELETE", "CASCADE") => format!(
                "delete the children first, in the same transaction: DELETE FROM {table} WHERE {column} = ?"
            ),
            ("DELETE", "SET NULL") => format!(
                "clear them first, in the same transaction: UPDATE {table} SET {column} = NULL WHERE {column} = ?"
            ),
            ("DELETE", "SET DEFAULT") => format!(
                "set them first, in the same transaction: UPDATE {table} SET {column} = <default> WHERE {column} = ?"
            ),
            ("DELETE", _) => "nothing else: NO ACTION refuses the same delete, at commit".to_string(),
            _ => "nothing else: keys never change, and dbsync rewrites the children of a row it moves"
                .to_string(),
        }
    }
}

/// What a table's primary key holds (spec §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyType {
    /// Integers, 1 to 2^53 − 1, that a database assigns.
    #[default]
    Integer,
    /// Strings of 1 to 64 bytes the application chooses (UUIDs).
    Text,
}

/// One synced table (spec §2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableSchema {
    /// The table's name, an identifier (spec §2.1).
    pub name: String,
    /// The primary key column.
    pub primary_key: String,
    /// What the primary key holds; `integer` when absent.
    #[serde(default, skip_serializing_if = "KeyType::is_integer")]
    pub key_type: KeyType,
    /// Every other column.
    pub columns: Vec<Column>,
    /// Its declared foreign keys (spec §2.3.1).
    #[serde(default)]
    pub foreign_keys: Vec<ForeignKey>,
    /// Each unique constraint as its list of columns (spec §2.3.2).
    #[serde(default)]
    pub unique: Vec<Vec<String>>,
    /// Which way its changes travel (spec §2.4).
    #[serde(default)]
    pub direction: Direction,
}

impl KeyType {
    /// The type's name (`integer`, `text`).
    pub fn name(self) -> &'static str {
        match self {
            KeyType::Integer => "integer",
            KeyType::Text => "text",
        }
    }

    /// Whether the key is an integer one.
    pub fn is_integer(&self) -> bool {
        *self == KeyType::Integer
    }
}

impl TableSchema {
    /// Whether `id` is of the kind this table's key holds.
    pub fn holds_id_kind(&self, id: crate::RowId) -> bool {
        match self.key_type {
            KeyType::Integer => id.as_int().is_some(),
            KeyType::Text => id.as_text().is_some(),
        }
    }

    /// The non-key column named `name`, if the table has one.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The foreign keys of this table that reference `table`.
    pub fn foreign_keys_to<'a>(&'a self, table: &'a str) -> impl Iterator<Item = &'a ForeignKey> {
        self.foreign_keys
            .iter()
            .filter(move |fk| fk.references == table)
    }
}

/// The set of synced tables node and server agree on (spec §7.2).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Schema {
    /// The synced tables; [`Schema::new`] sorts them by name.
    pub tables: Vec<TableSchema>,
}

impl Schema {
    /// A schema of `tables`, sorted by name.
    pub fn new(mut tables: Vec<TableSchema>) -> Schema {
        tables.sort_by(|a, b| a.name.cmp(&b.name));
        Schema { tables }
    }

    /// `names` with every table after the tables it references among
    /// `names` (self-references aside), so rows inserted in this order
    /// meet their parents; a cycle keeps the given order.
    pub fn parents_first<'a>(&self, names: &[&'a str]) -> Vec<&'a str> {
        let mut placed: Vec<&'a str> = Vec::with_capacity(names.len());
        let mut left: Vec<&'a str> = names.to_vec();
        while !left.is_empty() {
            let ready = left.iter().position(|name| {
                self.table(name).is_some_and(|t| {
                    t.foreign_keys.iter().all(|fk| {
                        fk.references == *name
                            || placed.contains(&fk.references.as_str())
                            || !left.contains(&fk.references.as_str())
                    })
                })
            });
            placed.push(left.remove(ready.unwrap_or(0)));
        }
        placed
    }

    /// The synced table named `name`, if any.
    pub fn table(&self, name: &str) -> Option<&TableSchema> {
        self.tables.iter().find(|t| t.name == name)
    }

    /// The canonical text of spec §7.2, from which the fingerprint is made.
    pub fn canonical_text(&self) -> String {
        let mut tables: Vec<&TableSchema> = self.tables.iter().collect();
        tables.sort_by(|a, b| a.name.cmp(&b.name));
        let mut out = String::from("dbsync-schema 1\n");
        for t in tables {
            let _ = writeln!(
                out,
                "table {} {} {}",
                t.name,
                t.primary_key,
                t.direction.name()
            );
            if t.key_type == KeyType::Text {
                let _ = writeln!(out, "key text");
            }
            let mut cols: Vec<&Column> = t.columns.iter().collect();
            cols.sort_by(|a, b| a.name.cmp(&b.name));
            for c in cols {
                let null = if c.not_null { "not_null" } else { "null" };
                let _ = writeln!(out, "column {} {} {}", c.name, c.ty.name(), null);
            }
            let mut fks: Vec<&ForeignKey> = t.foreign_keys.iter().collect();
            fks.sort_by(|a, b| (&a.column, &a.references).cmp(&(&b.column, &b.references)));
            for fk in fks {
                let _ = writeln!(out, "foreign_key {} {}", fk.column, fk.references);
            }
            let mut uniques: Vec<Vec<&str>> = t
                .unique
                .iter()
                .map(|u| {
                    let mut cols: Vec<&str> = u.iter().map(String::as_str).collect();
                    cols.sort();
                    cols
                })
                .collect();
            uniques.sort();
            for u in uniques {
                let _ = writeln!(out, "unique {}", u.join(" "));
            }
        }
        out
    }

    /// The schema fingerprint (spec §7.2): lowercase hex SHA-256 of the
    /// canonical text.
    pub fn fingerprint(&self) -> String {
        let digest = Sha256::digest(self.canonical_text().as_bytes());
        crate::auth::hex(&digest)
    }
}

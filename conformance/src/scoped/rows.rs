//! The application's rows as the harness reads them from one database
//! (the server's or a node's), with the scope key the server gives each
//! (spec §19.4), computed here from the rows alone.

use rusqlite::Connection;
use std::collections::BTreeMap;
use std::fmt;

/// The four tables, parents first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Table {
    Tag,
    List,
    Item,
    Note,
}

impl Table {
    pub const ALL: [Table; 4] = [Table::Tag, Table::List, Table::Item, Table::Note];

    pub fn name(self) -> &'static str {
        match self {
            Table::Tag => "tag",
            Table::List => "list",
            Table::Item => "item",
            Table::Note => "note",
        }
    }

    pub fn from_name(name: &str) -> Option<Table> {
        Table::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The column that holds the row's traced value (its token).
    pub fn token_column(self) -> &'static str {
        match self {
            Table::Tag => "name",
            Table::List => "title",
            Table::Item => "text",
            Table::Note => "body",
        }
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A row's scope key (spec §19.4): `"*"` or `"u:<user>"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    All,
    User(String),
}

impl Key {
    /// Whether a node of `user` reads rows of this key.
    pub fn is_read_by(&self, user: &str) -> bool {
        match self {
            Key::All => true,
            Key::User(u) => u == user,
        }
    }
}

/// One row: its foreign key (`tag_id`, `list_id`, `item_id`; none for a
/// tag), its owner (lists only) and its token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub parent: Option<i64>,
    pub owner: Option<String>,
    pub token: String,
}

/// Every row of the four tables, by table and id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rows {
    pub tables: BTreeMap<Table, BTreeMap<i64, Row>>,
}

const SELECTS: [(Table, &str); 4] = [
    (Table::Tag, "SELECT id, NULL, NULL, name FROM tag"),
    (Table::List, "SELECT id, tag_id, owner, title FROM list"),
    (Table::Item, "SELECT id, list_id, NULL, text FROM item"),
    (Table::Note, "SELECT id, item_id, NULL, body FROM note"),
];

impl Rows {
    /// Reads every row of the four tables on `conn`.
    pub fn read(conn: &Connection) -> rusqlite::Result<Rows> {
        let mut tables = BTreeMap::new();
        for (table, sql) in SELECTS {
            let mut stmt = conn.prepare_cached(sql)?;
            let rows = stmt.query_map([], |r| {
                let row = Row {
                    parent: r.get(1)?,
                    owner: r.get(2)?,
                    token: r.get(3)?,
                };
                Ok((r.get::<_, i64>(0)?, row))
            })?;
            tables.insert(table, rows.collect::<rusqlite::Result<_>>()?);
        }
        Ok(Rows { tables })
    }

    pub fn get(&self, table: Table, id: i64) -> Option<&Row> {
        self.tables.get(&table).and_then(|t| t.get(&id))
    }

    /// The ids of `table`, ascending.
    pub fn ids(&self, table: Table) -> Vec<i64> {
        self.tables
            .get(&table)
            .map(|t| t.keys().copied().collect())
            .unwrap_or_default()
    }

    /// The id at position `pick` (modulo their number) among `table`'s.
    pub fn pick(&self, table: Table, pick: u16) -> Option<i64> {
        let ids = self.ids(table);
        (!ids.is_empty()).then(|| ids[usize::from(pick) % ids.len()])
    }

    /// The ids of the notes on item `item`.
    pub fn notes_of(&self, item: i64) -> Vec<i64> {
        self.tables
            .get(&Table::Note)
            .map(|t| {
                t.iter()
                    .filter(|(_, r)| r.parent == Some(item))
                    .map(|(id, _)| *id)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The scope key of `table` row `id`: none when the row, or the row
    /// it inherits its key from, is missing.
    pub fn key(&self, table: Table, id: i64) -> Option<Key> {
        let row = self.get(table, id)?;
        self.key_of_row(table, row)
    }

    /// The key a row with these values has among these rows.
    pub fn key_of_row(&self, table: Table, row: &Row) -> Option<Key> {
        match table {
            Table::Tag => Some(Key::All),
            Table::List => row.owner.clone().map(Key::User),
            Table::Item => self.key(Table::List, row.parent?),
            Table::Note => self.key(Table::Item, row.parent?),
        }
    }

    /// The rows a node of `user` reads (its read scope, spec §19.4).
    pub fn scope_of(&self, user: &str) -> Rows {
        let mut out = Rows::default();
        for (table, rows) in &self.tables {
            let kept = rows
                .iter()
                .filter(|(_, row)| {
                    self.key_of_row(*table, row)
                        .is_some_and(|k| k.is_read_by(user))
                })
                .map(|(id, row)| (*id, row.clone()))
                .collect();
            out.tables.insert(*table, kept);
        }
        out
    }

    /// Every token any row holds.
    pub fn tokens(&self) -> impl Iterator<Item = &str> {
        self.tables
            .values()
            .flat_map(|t| t.values().map(|r| r.token.as_str()))
    }

    /// One line per row, parents first, for comparing two databases.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (table, rows) in &self.tables {
            for (id, r) in rows {
                let parent = r.parent.map_or("null".into(), |p| p.to_string());
                let owner = r.owner.as_deref().map(|o| format!(" owner={o}"));
                out.push(format!(
                    "{table} {id} parent={parent}{} {}",
                    owner.unwrap_or_default(),
                    r.token
                ));
            }
        }
        out
    }
}

/// What differs between `expected` and `actual` lines: those missing and
/// those extra, one per line.
pub fn line_diff(expected: &[String], actual: &[String]) -> String {
    let missing = expected.iter().filter(|l| !actual.contains(l));
    let extra = actual.iter().filter(|l| !expected.contains(l));
    let mut out: Vec<String> = missing.map(|l| format!("  missing: {l}")).collect();
    out.extend(extra.map(|l| format!("  extra:   {l}")));
    out.join("\n")
}

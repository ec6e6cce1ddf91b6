//! The fresh values of a history: a token for every written value (`T1`,
//! `L2`, `I3`, `N4`...: the letter says the table), and the key of every
//! inserted row.

use super::ledger::Writer;
use super::rows::Table;

/// How writers choose the keys of the rows they insert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Keys {
    /// Every writer takes its database's next key (SQLite's
    /// AUTOINCREMENT), as applications do.
    #[default]
    Shared,
    /// Each writer takes keys from a range of its own (the server from 1,
    /// node `n` from `(n + 1) * 1,000,000`), so that no two writers ever
    /// choose one key: what an application can do while scoped nodes
    /// cannot see the keys of rows outside their scope.
    Disjoint,
}

/// The width of each writer's range of keys under [`Keys::Disjoint`].
const RANGE: i64 = 1_000_000;

#[derive(Debug, Default)]
pub struct Fresh {
    count: u64,
    keys: Keys,
    /// The last key each writer chose (server first, then the nodes).
    last: Vec<i64>,
}

impl Fresh {
    pub fn new(keys: Keys) -> Fresh {
        Fresh {
            keys,
            ..Fresh::default()
        }
    }

    /// A value no write used before, for `table`.
    pub fn token(&mut self, table: Table) -> String {
        self.count += 1;
        let prefix = match table {
            Table::Tag => "T",
            Table::List => "L",
            Table::Item => "I",
            Table::Note => "N",
        };
        format!("{prefix}{}", self.count)
    }

    /// The key `writer` gives a new row: `None` for the database's next
    /// key.
    pub fn id(&mut self, writer: Writer) -> Option<i64> {
        if self.keys == Keys::Shared {
            return None;
        }
        let w = match writer {
            Writer::Server => 0,
            Writer::Node(n) => n + 1,
        };
        if self.last.len() <= w {
            self.last.resize(w + 1, 0);
        }
        self.last[w] += 1;
        Some(w as i64 * RANGE + self.last[w])
    }
}

//! A history: a generated schema, a number of nodes, and the steps they
//! take (offline edits, push, pull, sync, injected faults). Plain data, so
//! that a shrunk failure can be saved as a regression vector and replayed.

use dbsync_core::{Column, ColumnType, Direction, ForeignKey, KeyType, Schema, TableSchema};
use serde::{Deserialize, Serialize};

/// One generated table `t<i>`: foreign keys to earlier tables, and which
/// unique constraints it has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableGen {
    /// Foreign keys: (index of an earlier table, nullable). Column `r<j>`
    /// references table `t<j>`.
    pub parents: Vec<(u8, bool)>,
    /// A single-column unique constraint on `code TEXT` (nullable).
    pub code: bool,
    /// A two-column unique constraint on `(pa INTEGER, pb TEXT)` (nullable).
    pub pair: bool,
    /// A text key the application chooses (spec §2.2): `id TEXT PRIMARY
    /// KEY`, foreign keys to it `TEXT`; otherwise an integer key.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub text_key: bool,
}

/// A unique value a write uses: one no other write uses, or one from a
/// small pool every node draws from (so that nodes can collide).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UniqueVal {
    Fresh,
    Shared(u8),
}

/// The values of an inserted row that the case chooses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vals {
    pub label: u16,
    pub code: Option<UniqueVal>,
    pub pair: Option<UniqueVal>,
    /// A text-keyed table's new key: fresh, or one of the pool every node
    /// draws from (two nodes inserting it insert one row, spec §12.3.4);
    /// absent: fresh. Integer-keyed tables ignore it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<UniqueVal>,
}

/// What an update changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    Label(u16),
    Code(Option<UniqueVal>),
    Pair(Option<UniqueVal>),
    /// Points foreign key number `fk` at another row (`None`: NULL, when
    /// the key is nullable).
    Reparent {
        fk: u8,
        to: Option<u16>,
    },
}

/// An offline edit by the application on one node. Rows are picked by
/// position among the table's rows in id order (modulo their number), so
/// that any edit applies to any state; an edit that cannot apply (no row,
/// a local constraint) does nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Edit {
    /// `parents`: per foreign key, the parent row to point at (`None`:
    /// NULL when nullable, else the first row).
    Insert {
        table: u8,
        parents: Vec<Option<u16>>,
        vals: Vals,
    },
    Update {
        table: u8,
        row: u16,
        change: Change,
    },
    /// Rotates the unique values (`code`, or the pair) of 2 or 3 rows in
    /// one transaction.
    Swap {
        table: u8,
        rows: Vec<u16>,
        pair: bool,
    },
    /// Deletes a row; rows that reference it are deleted (NOT NULL key) or
    /// detached (nullable key) first, in the same transaction.
    Delete {
        table: u8,
        row: u16,
    },
    /// The same, but picks among the rows that other rows reference.
    DeleteParent {
        table: u8,
        row: u16,
    },
}

/// How a push goes wrong. Over HTTP the runner's fault proxy does it
/// (`crate::play::proxy`); in process the harness plays the closest
/// equivalent ([`PushFault::in_process`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PushFault {
    None,
    /// The request never reaches the server: the node keeps its
    /// outstanding push.
    RequestLost,
    /// The server commits the push but the node never hears the answer.
    ResponseLost,
    /// The request reaches the server twice, byte for byte (the second
    /// copy must be refused as a replay and change nothing); the node
    /// hears the first answer.
    Duplicated,
    /// The server receives the head and half of the body, then the
    /// connection closes; the node hears nothing.
    BodyCut,
    /// The request waits a little on the way.
    Delayed,
}

impl PushFault {
    /// What the fault amounts to without HTTP: a duplicate or a delay is
    /// no fault for the node, a cut body is a lost request.
    pub fn in_process(self) -> PushFault {
        match self {
            PushFault::Duplicated | PushFault::Delayed => PushFault::None,
            PushFault::BodyCut => PushFault::RequestLost,
            other => other,
        }
    }
}

/// How a pull goes wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PullFault {
    None,
    /// The node crashes while its merge transaction runs: SQLite's
    /// progress handler interrupts it after about `after` × 64 virtual
    /// machine steps, the transaction rolls back, the node restarts.
    /// Through an adapter: the adapter's process ends after about `after`
    /// units of its merge work.
    CrashMidMerge {
        after: u16,
    },
    /// The node crashes at the merge's commit: the commit hook turns the
    /// COMMIT into a rollback, the node restarts.
    CrashAtCommit,
    /// The answer to the pull's first page request is lost after the
    /// server sent it (over HTTP only; the node may ask again with the
    /// same cursor, spec §11.4).
    PageLost,
}

impl PullFault {
    /// What the fault amounts to without HTTP.
    pub fn in_process(self) -> PullFault {
        match self {
            PullFault::PageLost => PullFault::None,
            other => other,
        }
    }
}

/// One step of a history. Node numbers are taken modulo the node count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Write {
        node: u8,
        edit: Edit,
    },
    Push {
        node: u8,
        fault: PushFault,
    },
    Pull {
        node: u8,
        fault: PullFault,
    },
    Sync {
        node: u8,
    },
    /// The server's process restarts: its connection is closed and the
    /// database opened again.
    RestartServer,
    /// A node's process restarts (between procedures).
    RestartNode {
        node: u8,
    },
}

/// A whole history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub tables: Vec<TableGen>,
    /// 2 to 5.
    pub nodes: u8,
    /// The server's pull page size, in ops (small values exercise paging).
    pub page_ops: u16,
    /// The nodes that merge with `server_wins` (spec §12.4.2); the others
    /// use `node_wins`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub server_wins: Vec<u8>,
    pub steps: Vec<Step>,
    /// Every replica's tables have keys SQLite reuses, a plain `INTEGER
    /// PRIMARY KEY` (spec §2.2.1); otherwise `AUTOINCREMENT`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reused_keys: bool,
}

/// The name of generated table `i`.
pub fn table_name(i: usize) -> String {
    format!("t{i}")
}

/// The foreign-key column of a reference to table `j`.
pub fn fk_column(j: u8) -> String {
    format!("r{j}")
}

fn column(name: &str, ty: ColumnType, not_null: bool) -> Column {
    Column {
        name: name.into(),
        ty,
        not_null,
    }
}

impl TableGen {
    /// The parents, without duplicates and only earlier tables.
    pub fn clean_parents(&self, index: usize) -> Vec<(u8, bool)> {
        let mut out: Vec<(u8, bool)> = Vec::new();
        for &(p, nullable) in &self.parents {
            if (p as usize) < index && !out.iter().any(|(q, _)| *q == p) {
                out.push((p, nullable));
            }
        }
        out
    }
}

impl Case {
    /// The synced schema: every table `both`, with `uid` (the row's
    /// identity across nodes, never updated) and `label` columns.
    pub fn schema(&self) -> Schema {
        let tables = self
            .tables
            .iter()
            .enumerate()
            .map(|(i, g)| {
                let mut columns = vec![
                    column("uid", ColumnType::Text, true),
                    column("label", ColumnType::Text, true),
                ];
                let mut unique = Vec::new();
                if g.code {
                    columns.push(column("code", ColumnType::Text, false));
                    unique.push(vec!["code".to_string()]);
                }
                if g.pair {
                    columns.push(column("pa", ColumnType::Integer, false));
                    columns.push(column("pb", ColumnType::Text, false));
                    unique.push(vec!["pa".to_string(), "pb".to_string()]);
                }
                let mut foreign_keys = Vec::new();
                for (p, nullable) in g.clean_parents(i) {
                    let text = self.tables.get(p as usize).is_some_and(|t| t.text_key);
                    let ty = if text {
                        ColumnType::Text
                    } else {
                        ColumnType::Integer
                    };
                    columns.push(column(&fk_column(p), ty, !nullable));
                    foreign_keys.push(ForeignKey {
                        column: fk_column(p),
                        references: table_name(p as usize),
                    });
                }
                TableSchema {
                    name: table_name(i),
                    primary_key: "id".into(),
                    key_type: if g.text_key {
                        KeyType::Text
                    } else {
                        KeyType::Integer
                    },
                    columns,
                    foreign_keys,
                    unique,
                    direction: Direction::Both,
                }
            })
            .collect();
        Schema::new(tables)
    }

    /// How every replica's tables declare their keys, in SQLite.
    pub fn sqlite_dialect(&self) -> crate::ddl::Dialect {
        if self.reused_keys {
            crate::ddl::Dialect::SqliteReusingKeys
        } else {
            crate::ddl::Dialect::Sqlite
        }
    }

    /// The same history with every table integer-keyed.
    pub fn with_integer_keys(&self) -> Case {
        let mut case = self.clone();
        for t in &mut case.tables {
            t.text_key = false;
        }
        case
    }

    /// The node a step names.
    pub fn node(&self, n: u8) -> usize {
        n as usize % self.nodes.max(1) as usize
    }
}

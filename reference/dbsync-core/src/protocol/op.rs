//! Operations: what the oplog records and what messages carry (spec §3).

use super::row_id::RowId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;

/// The columns a `u` changed (spec §3.1.1): non-key column names, each
/// once, in byte order. An update without them may have changed any
/// column.
pub type ChangedColumns = BTreeSet<String>;

/// The kind of write an operation records (spec §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Command {
    /// `i`: the row was inserted.
    #[serde(rename = "i")]
    Insert,
    /// `u`: the row was updated.
    #[serde(rename = "u")]
    Update,
    /// `d`: the row was deleted.
    #[serde(rename = "d")]
    Delete,
}

impl Op {
    /// An op without changed columns: an `i`, a `d`, or a `u` that may
    /// have changed any column.
    pub fn new(table: impl Into<String>, row_id: RowId, command: Command) -> Op {
        Op {
            table: table.into(),
            row_id,
            command,
            columns: None,
        }
    }
}

impl Command {
    /// The one-letter wire code.
    pub fn letter(self) -> char {
        match self {
            Command::Insert => 'i',
            Command::Update => 'u',
            Command::Delete => 'd',
        }
    }

    /// Parses a one-letter wire code.
    pub fn from_letter(c: char) -> Option<Command> {
        match c {
            'i' => Some(Command::Insert),
            'u' => Some(Command::Update),
            'd' => Some(Command::Delete),
            _ => None,
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.letter())
    }
}

/// An operation as a push or pull request carries it: one row, one command
/// (spec §3.3). Messages only carry compressed ops: at most one per row.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Op {
    /// The synced table written.
    pub table: String,
    /// The row's id (spec §2.2).
    pub row_id: RowId,
    /// What happened to the row.
    pub command: Command,
    /// For a `u`: the columns it changed, when known (spec §3.1.1);
    /// `None` for `i` and `d`, and for an update that may have changed any
    /// column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub columns: Option<ChangedColumns>,
}

/// An operation as the server recorded it, inside a version (spec §3.3, §11).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionedOp {
    /// The version the op belongs to (spec §6).
    #[serde(deserialize_with = "super::integer::u64")]
    pub version: u64,
    /// The synced table written.
    pub table: String,
    /// The row's id (spec §2.2).
    pub row_id: RowId,
    /// What happened to the row.
    pub command: Command,
    /// For a `u`: the columns it changed, when known (spec §3.1.1);
    /// `None` for `i` and `d`, and for an update that may have changed any
    /// column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub columns: Option<ChangedColumns>,
    /// On a `d` of a scoped pull: the row left the node's scope rather
    /// than being deleted (a *move-out*, spec §19.5, §19.6).
    #[serde(default, skip_serializing_if = "is_false")]
    pub out: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl VersionedOp {
    /// The op without its version.
    pub fn op(&self) -> Op {
        Op {
            table: self.table.clone(),
            row_id: self.row_id,
            command: self.command,
            columns: self.columns.clone(),
        }
    }
}

/// One record of an oplog (spec §3.2): `version` is `None` while the op is
/// pending on a node.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OplogRecord {
    /// The record's position in this replica's oplog: strictly increasing
    /// in the order the writes committed.
    #[serde(deserialize_with = "super::integer::u64")]
    pub order: u64,
    /// The synced table written.
    pub table: String,
    /// The row's id (spec §2.2).
    pub row_id: RowId,
    /// What happened to the row.
    pub command: Command,
    /// For a `u`: the columns it changed, when known (spec §3.1.1);
    /// `None` for `i` and `d`, and for an update that may have changed any
    /// column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub columns: Option<ChangedColumns>,
    /// The version the op belongs to; `None` while it is pending on a node.
    #[serde(default, deserialize_with = "super::integer::option_u64")]
    pub version: Option<u64>,
}

impl OplogRecord {
    /// The op without its order and version.
    pub fn op(&self) -> Op {
        Op {
            table: self.table.clone(),
            row_id: self.row_id,
            command: self.command,
            columns: self.columns.clone(),
        }
    }
}

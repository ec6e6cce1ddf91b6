//! Conflict resolution policies (spec §12.4).
//!
//! A policy decides only where spec §12.4 leaves a choice: a remote update
//! or delete against a local update (per row), and dependency conflicts
//! (per merge). Every other resolution is fixed by the spec. A unique
//! collision stops the merge (§12.2.3); a policy may say how the node
//! settles it (§12.2.4), and the node then merges again.

use super::error::UniqueCollision;
use crate::protocol::op::{ChangedColumns, Command};
use crate::protocol::row_id::RowId;
use crate::protocol::value::Values;

/// Which side a resolution keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Winner {
    /// The node's pending work is kept.
    Local,
    /// The server's state is taken.
    Remote,
}

/// A direct conflict the policy decides: a remote `u` (or `i` of a row the
/// node knows) or `d` against a local pending `u` on the same row.
#[derive(Debug, Clone, Copy)]
pub struct DirectConflict<'a> {
    /// The row's table.
    pub table: &'a str,
    /// The row's id.
    pub row_id: RowId,
    /// `Command::Update` or `Command::Delete`.
    pub remote: Command,
    /// The server's values (`None` for a remote delete).
    pub remote_values: Option<&'a Values>,
    /// The node's current values.
    pub local_values: &'a Values,
    /// When both sides named the columns they changed (spec §12.4.4):
    /// the columns both changed to different values, the only ones the
    /// decision is about; every other column keeps the side that changed
    /// it. `None`: the decision is about the whole row.
    pub columns: Option<&'a ChangedColumns>,
}

/// How a node settles a unique collision by changing its own row, the
/// holder (spec §12.2.4).
#[derive(Debug, Clone, PartialEq)]
pub enum Resolution {
    /// The holder, a row the server never had, is deleted; the server's
    /// row arrives at the next pull.
    KeepRemote,
    /// The holder takes these values (text values are converted by the
    /// column's type where the database does so, as SQLite's affinity).
    Rename(Values),
}

/// A conflict resolution policy (spec §12.4).
pub trait Policy {
    /// The policy's name in conflict-log entries: `node_wins`,
    /// `server_wins`, or an application policy's own snake_case name.
    fn name(&self) -> &str;

    /// Remote `u` or `d` against a local pending `u` of the same row.
    fn direct(&self, conflict: &DirectConflict<'_>) -> Winner;

    /// Dependency conflicts of this merge (spec §12.3.2): `Local` keeps
    /// every parent a local row still references; `Remote` applies the
    /// remote deletes and deletes or reverts the local children.
    fn dependency(&self) -> Winner;

    /// A unique collision stopped the merge (spec §12.2.3): how the node
    /// settles it, changing its holder, or `None` (the default) to leave
    /// it to the application, the merge having changed nothing.
    fn collision(&self, collision: &UniqueCollision) -> Option<Resolution> {
        let _ = collision;
        None
    }
}

/// The default policy (spec §12.4.1): the node's work wins, nothing is
/// lost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NodeWins;

impl Policy for NodeWins {
    fn name(&self) -> &str {
        "node_wins"
    }
    fn direct(&self, _: &DirectConflict<'_>) -> Winner {
        Winner::Local
    }
    fn dependency(&self) -> Winner {
        Winner::Local
    }
}

/// The server's state wins (spec §12.4.2).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerWins;

impl Policy for ServerWins {
    fn name(&self) -> &str {
        "server_wins"
    }
    fn direct(&self, _: &DirectConflict<'_>) -> Winner {
        Winner::Remote
    }
    fn dependency(&self) -> Winner {
        Winner::Remote
    }
}

/// The policy of a name, for the two the spec defines.
pub fn by_name(name: &str) -> Option<&'static dyn Policy> {
    match name {
        "node_wins" => Some(&NodeWins),
        "server_wins" => Some(&ServerWins),
        _ => None,
    }
}

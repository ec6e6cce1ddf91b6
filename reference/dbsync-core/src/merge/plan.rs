//! The output of merge planning (spec §12.6, §12.7): the ordered store
//! actions and the conflict-log entries.

use crate::protocol::op::{ChangedColumns, Command};
use crate::protocol::row_id::RowId;
use crate::protocol::value::Values;
use serde::{Deserialize, Serialize};

/// A merge plan: apply `actions` in order, in one transaction, with
/// foreign-key checks deferred to its end (spec §12.6), and append
/// `conflicts` to the conflict log.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// The store actions, in the order they must be applied (spec §12.6.2).
    pub actions: Vec<Action>,
    /// The conflict-log entries the merge appends (spec §12.7).
    pub conflicts: Vec<ConflictEntry>,
}

/// One store action (spec §12.6). Actions never record pending ops by
/// themselves: the store applies them with capture off, and pending ops
/// change only through `rekey`, `set_pending`, `restore` and
/// `drop_pending`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// Move row `from` to the free key `to`: every foreign-key column of
    /// every synced table that holds `from` (referencing `table`) is set to
    /// `to`, and the row's pending ops move with it.
    Rekey {
        /// The row's table.
        table: String,
        /// The row's old key.
        from: RowId,
        /// Its new key, free on both sides.
        to: RowId,
    },
    /// Delete a row that exists.
    Delete {
        /// The row's table.
        table: String,
        /// The row's id.
        row_id: RowId,
    },
    /// Insert a row that does not exist.
    Insert {
        /// The row's table.
        table: String,
        /// The row's id.
        row_id: RowId,
        /// Every non-key column's value.
        values: Values,
    },
    /// Replace every value of a row that exists.
    Update {
        /// The row's table.
        table: String,
        /// The row's id.
        row_id: RowId,
        /// Every non-key column's new value.
        values: Values,
    },
    /// Replace the row's pending ops by one pending op `command`: a `u`
    /// or a `d` (a pending `i` set by a merge is always a [`Action::Restore`]).
    SetPending {
        /// The row's table.
        table: String,
        /// The row's id.
        row_id: RowId,
        /// The one pending op left: `u` or `d`.
        command: Command,
        /// For a `u`: the columns it changed, when known (spec §3.1.1).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        columns: Option<ChangedColumns>,
    },
    /// Replace the row's pending ops by one pending `i` that is a restore
    /// (spec §12.3.5): the row the server deleted comes back under its own
    /// key. `changed`: the node's values are local work.
    Restore {
        /// The row's table.
        table: String,
        /// The row's id.
        row_id: RowId,
        /// Whether the node's values are local work.
        changed: bool,
    },
    /// Remove the row's pending ops.
    DropPending {
        /// The row's table.
        table: String,
        /// The row's id.
        row_id: RowId,
    },
    /// Raise the table's key sequence to at least `up_to`, so that no
    /// later local insert takes a key the server used (spec §12.6.3).
    ReserveKeys {
        /// The table.
        table: String,
        /// The largest key the server used in it.
        up_to: i64,
    },
    /// The node now knows every version up to `version`.
    RecordVersion {
        /// The version reached.
        version: u64,
    },
}

impl Action {
    /// Gives an insert or an update its values (the planner emits them
    /// empty, then fills them, `merge::plan`); other actions carry none.
    pub(crate) fn set_values(&mut self, new: Values) {
        match self {
            Action::Insert { values, .. } | Action::Update { values, .. } => *values = new,
            other => debug_assert!(false, "{other:?} carries no values"),
        }
    }
}

/// The kind of a conflict (spec §12.3, §12.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConflictKind {
    /// A remote op against a pending op of the same row (spec §12.3.1).
    Direct,
    /// A remote delete of a row local rows still reference (spec §12.3.2).
    Dependency,
    /// A row the merge writes references a row the node deleted (spec
    /// §12.3.3).
    ReversedDependency,
    /// Two replicas gave the same new key to two different rows (spec
    /// §12.3.4).
    Insert,
    /// Rows that exchange unique values (spec §12.2.2).
    UniqueSwap,
    /// Not a merge conflict: local work a repair discarded (spec §13.5).
    Repair,
    /// Not a merge conflict: a row moved off a key its database reused
    /// (spec §2.2.1).
    ReusedKey,
    /// Not a merge conflict: a row left the node's scope while it had a
    /// pending change (spec §19.6).
    Scope,
}

/// The rule a resolution applied: a stable id (spec §12.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// Remote `u` vs local `u`, local wins: the local values stay.
    LocalUpdateKept,
    /// Remote `u` vs local `u`, remote wins: the server's values are taken.
    RemoteUpdateTaken,
    /// Remote `u` vs local `d`: the row comes back with the server's values.
    DeletedRowRestored,
    /// Remote `d` vs local `u`, local wins: the row stays, its op becomes `i`.
    LocalUpdateReinsertsRow,
    /// Remote `d` vs local `u`, remote wins: the row is deleted.
    RemoteDeleteTaken,
    /// Remote `d` vs local `d`: both are dropped.
    BothDeletesDropped,
    /// Dependency, local wins: the parent stays, with a pending `i`.
    ParentKeptForLocalChild,
    /// Dependency, remote wins: a local child is deleted with its parent.
    LocalChildrenDeletedWithParent,
    /// Dependency, remote wins: a local child takes the server's values.
    LocalChildReverted,
    /// Reversed dependency: the parent comes back, the local `d` is dropped.
    ParentRestoredForRemoteChild,
    /// Insert conflict: the local row moves to a fresh key.
    LocalInsertRekeyed,
    /// Unique swap: the rows of the swap are deleted and re-inserted.
    UniqueSwapApplied,
    /// Repair: the row's local work was discarded, as the application
    /// asked (spec §13.5).
    LocalChangeDiscarded,
    /// Reused key: the row an insert gave a reused key moves to a fresh
    /// key (spec §2.2.1).
    ReusedKeyMoved,
    /// Scope: the row left the node's scope; its pending change is
    /// dropped, never pushed (spec §19.6).
    MovedOut,
}

/// A row named by table and key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RowRef {
    /// The row's table.
    pub table: String,
    /// The row's id.
    pub row_id: RowId,
}

/// One entry of the conflict log (spec §12.7).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConflictEntry {
    /// Which kind of conflict was resolved.
    pub kind: ConflictKind,
    /// The table of the row the resolution acted on.
    pub table: String,
    /// The id of the row the resolution acted on (its old key for an
    /// insert conflict).
    pub row_id: RowId,
    /// The remote op of the pair (`None`: no remote op).
    pub remote_op: Option<Command>,
    /// The version of the server's last op on the row of `remote_op`.
    pub remote_version: Option<u64>,
    /// The local pending op of the pair (`None`: no pending op).
    pub local_op: Option<Command>,
    /// The name of the policy in force: `node_wins`, `server_wins` or an
    /// application policy's name.
    pub policy: String,
    /// The rule the resolution applied.
    pub rule: Rule,
    /// The values that lost, by column (`None`: no values were lost).
    pub lost: Option<Values>,
    /// The row's new key (insert conflicts only).
    pub new_row_id: Option<RowId>,
    /// The other row of a dependency pair: the local child for
    /// `dependency`, the incoming child for `reversed_dependency`.
    pub related: Option<RowRef>,
}

/// A pending `i` that is a restore (spec §12.3.5): the row the server
/// deleted and a resolution kept. `changed`: the node's values are local
/// work (a kept local update, or an update since).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Restore {
    /// The row's table.
    pub table: String,
    /// The row's id.
    pub row_id: RowId,
    /// Whether the node's values are local work.
    pub changed: bool,
}

//! The history protocol: the commands that drive one node through a
//! history (`conformance/README.md`, "The history protocol"), as typed
//! arguments and outcomes shared by the runner and the reference adapter.
//!
//! | command | args | outcome |
//! |---------|------|---------|
//! | `open` | [`OpenArgs`] | [`Opened`] |
//! | `write` | [`WriteArgs`] | [`WriteOutcome`] |
//! | `push` | `{}` | [`Pushed`] |
//! | `pull` | [`PullArgs`] | [`Synced`] |
//! | `sync`, `repair` | `{}` | [`Synced`] |
//! | `rows` | `{}` | [`RowsOutcome`] |
//! | `conflicts` | `{}` | [`ConflictsOutcome`] |
//! | `status` | `{}` | [`Status`] |

use crate::history::writes::RowWrite;
use dbsync_core::merge::ConflictEntry;
use dbsync_core::{Op, Row, RowId, TableSchema};
use serde::{Deserialize, Serialize};

/// The code of an adapter's local error when a local constraint refuses a
/// `write` (nothing changed). Not a protocol code: the adapter's own.
pub const CONSTRAINT_VIOLATION: &str = "constraint_violation";

/// The exit status the reference adapter ends with when told to crash.
pub const CRASH_EXIT: i32 = 86;

/// `open`: open (creating it if needed) the node's database at `path`,
/// with `tables` (created when missing), merging with `policy`, syncing
/// with `server`; register there (with `token`) the first time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenArgs {
    /// A path the adapter owns (a file or a folder): the same path after a
    /// restart gives back the same node.
    pub path: String,
    /// The synced tables, as spec §2 writes them.
    pub tables: Vec<TableSchema>,
    /// `node_wins` or `server_wins` (spec §12.4).
    pub policy: String,
    /// The server's base URL.
    pub server: String,
    /// The registration token, if the server wants one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Make the tables with keys the database reuses, where it can (in
    /// SQLite a plain `INTEGER PRIMARY KEY`, spec §2.2.1); an adapter whose
    /// database never reuses keys ignores it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reused_keys: bool,
}

/// What `open` answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Opened {
    /// The node id the server gave (spec §9).
    pub node_id: u64,
}

/// `write`: the application's writes, in one transaction, captured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WriteArgs {
    pub writes: Vec<RowWrite>,
}

/// What `write` answers: the key of each write, in order (for an insert,
/// the key it took).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WriteOutcome {
    pub ids: Vec<RowId>,
}

/// What `push` answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pushed {
    /// False when nothing was pending (no request was sent).
    pub pushed: bool,
    /// The version the server gave the push.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    /// The server had applied this push id already (spec §10.4).
    #[serde(default)]
    pub duplicate: bool,
}

/// Where a `pull` crashes: after about `after` units of merge work, or at
/// the merge's commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Crash {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<u16>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub at_commit: bool,
}

/// `pull`: pull and merge; with `crash`, end the process inside the
/// merge's transaction instead of answering.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullArgs {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crash: Option<Crash>,
}

/// What `pull`, `sync` and `repair` answer: the node's last version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Synced {
    pub version: u64,
}

/// What `rows` answers: every row of every synced table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RowsOutcome {
    pub rows: Vec<Row>,
}

/// What `conflicts` answers: the conflict log (spec §12.7), oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConflictsOutcome {
    pub conflicts: Vec<ConflictEntry>,
}

/// What `status` answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// The last version the node knows (spec §6).
    pub last_version: u64,
    /// The compressed pending ops (spec §5.2), in any order.
    pub pending: Vec<Op>,
    /// Whether a push is outstanding (spec §10.4.3).
    pub outstanding_push: bool,
}

impl Status {
    /// Nothing to push and nothing outstanding.
    pub fn settled(&self) -> bool {
        self.pending.is_empty() && !self.outstanding_push
    }
}

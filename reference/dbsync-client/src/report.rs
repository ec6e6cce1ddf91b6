//! What the procedures report: a push's outcome, a sync's report and a
//! node's status.

/// What a push did (spec §10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushOutcome {
    /// Nothing was pending.
    NothingToPush,
    /// The server applied `ops` ops as `version` (`duplicate`: it had
    /// already applied this push id, spec §10.4).
    Pushed {
        /// The version the push became (spec §10.3).
        version: u64,
        /// How many (compressed) ops it carried: at most one per row
        /// (spec §5.2).
        ops: usize,
        /// The server had already applied this push id, from an earlier
        /// try whose answer was lost; nothing was applied twice.
        duplicate: bool,
    },
}

/// What a sync did (spec §11.7).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SyncReport {
    /// How many ops the push that ended the sync carried (0: nothing was
    /// pending).
    pub pushed_ops: usize,
    /// How many pulls the sync made: before its push was accepted, and
    /// after a push accepted behind (spec §11.7).
    pub pulls: usize,
    /// How many pulled ops those pulls merged ([`MergeReport::ops_merged`](crate::MergeReport::ops_merged)).
    pub merged_ops: usize,
    /// How many conflict-log entries those merges wrote (spec §12.7).
    pub conflicts: usize,
    /// The last version the node knows after the sync.
    pub version: u64,
}

/// A node's status: what it knows of itself, read from its database only.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Status {
    /// The node id its registration gave (spec §9.3); `None` before it.
    pub node_id: Option<u64>,
    /// The server URL stored at registration.
    pub server_url: Option<String>,
    /// The last version the node holds (spec §6.4); 0 before it first
    /// pulls or pushes.
    pub last_version: u64,
    /// How many ops the next push would carry: the pending ops compressed
    /// to at most one per row (spec §5.2).
    pub pending_ops: usize,
    /// The id of a push sent whose answer never settled it (spec §10.4.3):
    /// the next push sends it again, unchanged.
    pub outstanding_push: Option<String>,
    /// The node tracked existing rows as a copy of the server's and must
    /// repair before it pushes or pulls (spec §3.5).
    pub repair_owed: bool,
    /// The fingerprint of the synced tables (spec §7.2).
    pub schema_fingerprint: String,
    /// The synced tables, by name.
    pub tables: Vec<String>,
    /// The name of the policy merges resolve conflicts under (spec §12.4).
    pub policy: String,
}

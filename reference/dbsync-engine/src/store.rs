//! The store trait: what the engine needs of a server database, one
//! transaction at a time.
//!
//! A store owns its SQL, its connections, introspection of the synced
//! tables, the capture of direct writes, and the mapping of its own
//! errors. The engine owns the protocol: which reads and writes a request
//! makes, in which order, and what is refused.
//!
//! Architecture invariant: each step of a request (recording its nonce,
//! sealing direct writes, a push, a page's reads, noting the version a
//! node reached) happens inside one transaction of [`Store::write`] or
//! [`Store::read`]; a transaction dropped without [`WriteTx::commit`]
//! rolls back, so a rejected step changes nothing. A request may make
//! several such steps (see the engine's endpoints); a push is one.
//!
//! Architecture invariant: a read transaction sees one consistent
//! snapshot, and versions become visible in version order: a snapshot
//! that holds version `v` holds every version before it.

use dbsync_core::auth::Secret;
use dbsync_core::protocol::VersionInfo;
use dbsync_core::RowId;
use dbsync_core::{Op, Row, Schema, TableSchema, Value, VersionedOp};
use std::fmt;

/// A failure inside a store (the database is unreachable, a statement
/// failed, its own tables are corrupt). The engine answers
/// `internal_error` and logs the text, which never reaches a client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct StoreFault(pub String);

impl StoreFault {
    /// A fault from any error that can print itself.
    pub fn of(e: impl fmt::Display) -> StoreFault {
        StoreFault(e.to_string())
    }
}

/// The result of a store operation.
pub type StoreResult<T> = Result<T, StoreFault>;

/// A foreign key found broken, as far as the store can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignKeyViolation {
    /// The child table.
    pub table: String,
    /// The child row.
    pub row_id: RowId,
    /// The foreign-key column of the child.
    pub column: String,
    /// The table the column references.
    pub parent: String,
}

/// Why a row write or a commit failed (spec §10.2.4).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RowWriteError {
    /// An insert's key is already taken.
    #[error("the key is taken")]
    Exists,
    /// A unique constraint would be broken.
    #[error("a unique constraint would break")]
    Unique,
    /// A foreign key would be broken (the row when the store can tell).
    #[error("a foreign key would break")]
    ForeignKey(Option<ForeignKeyViolation>),
    /// The database refuses a value the protocol allows (a number out of
    /// a narrower column's range, a text longer than its column allows).
    #[error("the database refuses a value")]
    Invalid,
    /// The store failed.
    #[error(transparent)]
    Fault(#[from] StoreFault),
}

/// A registered node as the server knows it (spec §9, §15).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRecord {
    /// The node's id.
    pub node_id: u64,
    /// The secret its requests are signed with.
    pub secret: Secret,
    /// The application user attached at registration.
    pub user_id: Option<String>,
    /// When it registered (Unix seconds).
    pub registered_at: u64,
    /// Its last authenticated request (Unix seconds).
    pub last_seen: u64,
    /// The latest version it is known to hold (it holds back trim).
    pub known_version: u64,
    /// Unseen too long: no longer holds back trim, must repair (§15.2).
    pub stale: bool,
    /// Whether a request of the node ever passed authentication after it
    /// registered: a node never seen may be purged (§9.7).
    pub seen: bool,
    /// Its claims (spec §19.1), in byte order.
    pub claims: Vec<Claim>,
}

/// A claim of a node (spec §19.1) and the version it took effect after:
/// a node reads a claim's rows through the ops of later versions only
/// (the version that gave it the claim brought the rows themselves).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Claim {
    /// The claim.
    pub name: String,
    /// The latest version when the node gained it.
    pub since: u64,
}

/// How many nodes a server knows (for its operators' metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NodeCounts {
    /// Every registered node, stale ones included.
    pub registered: u64,
    /// The registered nodes that are stale (spec §15.2).
    pub stale: u64,
}

/// A new node to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNode {
    /// Its secret.
    pub secret: Secret,
    /// The application user the register hook attached.
    pub user_id: Option<String>,
    /// Now (Unix seconds).
    pub now: u64,
    /// The version it starts from (the latest, spec §9.3).
    pub known_version: u64,
}

/// The server's record of an applied push (spec §10.4.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushRecord {
    /// The version it became.
    pub version: u64,
    /// The digest of its content.
    pub digest: String,
}

/// Where an op stands in the history: its version, then its order
/// inside the version. Pull cursors carry one (spec §11.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub struct OpPosition {
    /// The op's version.
    pub version: u64,
    /// The store's sequence number of the op, increasing within a version.
    pub seq: u64,
}

/// An op of the history with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PositionedOp {
    /// Where it stands.
    pub position: OpPosition,
    /// The op.
    pub op: VersionedOp,
}

/// One mark of the scope index (spec §19.4): the op of `version` on a
/// row, seen by the nodes holding `key`, with the row's keys before and
/// after the version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeMark {
    /// The scope key the mark is found by.
    pub key: String,
    /// The version of the op.
    pub version: u64,
    /// The op's table.
    pub table: String,
    /// The op's row.
    pub row_id: RowId,
    /// The row's scope key before the version (`None`: absent or no key).
    pub before: Option<String>,
    /// The row's scope key after the version (`None`: absent or no key).
    pub after: Option<String>,
}

/// An op found through the scope index, with the row's keys before and
/// after its version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopedOp {
    /// The op and where it stands.
    pub op: PositionedOp,
    /// The row's scope key before the op's version.
    pub before: Option<String>,
    /// The row's scope key after the op's version.
    pub after: Option<String>,
}

/// What a store without scopes answers to a scope read or write.
fn no_scopes<T>() -> StoreResult<T> {
    Err(StoreFault("this store does not support scopes".into()))
}

/// A server database.
pub trait Store: Send + Sync {
    /// The synced tables, as the store read them from its catalogue.
    fn schema(&self) -> &Schema;
    /// Opens a read transaction: one consistent snapshot, never waiting
    /// for a writer.
    fn read(&self) -> StoreResult<Box<dyn ReadTx + '_>>;
    /// Opens a write transaction. Writers that assign versions serialize
    /// on [`WriteTx::lock_history`].
    fn write(&self) -> StoreResult<Box<dyn WriteTx + '_>>;
}

/// The reads of one transaction.
pub trait ReadTx {
    /// The latest version: the largest recorded, or the trim horizon
    /// when every version is trimmed (0 before the first).
    fn latest_version(&mut self) -> StoreResult<u64>;
    /// Versions up to this one were trimmed (0: none).
    fn trimmed_through(&mut self) -> StoreResult<u64>;
    /// Whether direct writes wait to be sealed into a version (§6.1).
    fn has_unsealed(&mut self) -> StoreResult<bool>;
    /// The node `node_id`, if registered.
    fn node(&mut self, node_id: u64) -> StoreResult<Option<NodeRecord>>;
    /// Every registered node, by id.
    fn nodes(&mut self) -> StoreResult<Vec<NodeRecord>>;
    /// Whether `node_id` used `nonce` and it is not forgotten yet (§8.4).
    fn nonce_used(&mut self, node_id: u64, nonce: &str) -> StoreResult<bool>;
    /// The push record of `push_id` from `node_id`, if applied.
    fn push_record(&mut self, node_id: u64, push_id: &str) -> StoreResult<Option<PushRecord>>;
    /// Up to `limit` ops of the versions `(base, target]` after `after`,
    /// in history order.
    fn ops_after(
        &mut self,
        base: u64,
        target: u64,
        after: OpPosition,
        limit: usize,
    ) -> StoreResult<Vec<PositionedOp>>;
    /// The versions `(after, through]`, oldest first.
    fn versions(&mut self, after: u64, through: u64) -> StoreResult<Vec<VersionInfo>>;
    /// The rows of `table` whose keys are in `ids` (those that exist).
    fn rows(&mut self, table: &TableSchema, ids: &[RowId]) -> StoreResult<Vec<Row>>;
    /// Up to `limit` rows of `table` with keys above `after`, by key.
    fn rows_after(
        &mut self,
        table: &TableSchema,
        after: RowId,
        limit: usize,
    ) -> StoreResult<Vec<Row>>;
    /// How many rows `table` holds.
    fn row_count(&mut self, table: &TableSchema) -> StoreResult<u64>;
    /// The greatest key `table` holds or has held, as far as the
    /// database's own key allocation knows (SQLite's `sqlite_sequence`
    /// or key floor, a PostgreSQL sequence); 0 for a table that never
    /// held a row. A re-keyed insert takes a key above it (spec
    /// §10.2.2.2).
    fn greatest_key(&mut self, table: &TableSchema) -> StoreResult<i64>;
    /// Up to `limit` rows of `table` whose columns equal the filter's
    /// values (`Null` matches NULL), by key.
    fn find(
        &mut self,
        table: &TableSchema,
        filter: &[(&str, &Value)],
        limit: usize,
    ) -> StoreResult<Vec<Row>>;
    /// The key that authenticates cursors, if made yet.
    fn cursor_key(&mut self) -> StoreResult<Option<Secret>>;
    /// The smallest known version of the nodes that are not stale.
    fn live_horizon(&mut self) -> StoreResult<Option<u64>>;
    /// How many nodes are registered, and how many of them are stale.
    fn node_counts(&mut self) -> StoreResult<NodeCounts>;
    /// The scope keys of the rows `ids` of `table` that have one
    /// recorded (spec §19.4); `None` for a row in no node's scope. A row
    /// without an entry is absent (or not yet indexed).
    fn row_scopes(
        &mut self,
        table: &str,
        ids: &[RowId],
    ) -> StoreResult<Vec<(RowId, Option<String>)>> {
        let _ = (table, ids);
        no_scopes()
    }
    /// Up to `limit` ops of the versions `(base, target]` after `after`
    /// that have a mark with one of `keys`, in history order, each once.
    fn scoped_ops_after(
        &mut self,
        keys: &[String],
        base: u64,
        target: u64,
        after: OpPosition,
        limit: usize,
    ) -> StoreResult<Vec<ScopedOp>> {
        let _ = (keys, base, target, after, limit);
        no_scopes()
    }
    /// Up to `limit` keys above `after` of the rows of `table` whose scope
    /// key is one of `keys`, by key.
    fn scoped_ids_after(
        &mut self,
        table: &TableSchema,
        keys: &[String],
        after: RowId,
        limit: usize,
    ) -> StoreResult<Vec<RowId>> {
        let _ = (table, keys, after, limit);
        no_scopes()
    }
    /// How many rows of `table` have one of `keys`.
    fn scoped_count(&mut self, table: &TableSchema, keys: &[String]) -> StoreResult<u64> {
        let _ = (table, keys);
        no_scopes()
    }
    /// [`ReadTx::find`] among the rows whose scope key is one of `keys`.
    fn scoped_find(
        &mut self,
        table: &TableSchema,
        filter: &[(&str, &Value)],
        keys: &[String],
        limit: usize,
    ) -> StoreResult<Vec<Row>> {
        let _ = (table, filter, keys, limit);
        no_scopes()
    }
}

/// The reads and writes of one write transaction.
pub trait WriteTx: ReadTx {
    /// Waits for, and holds until the end of the transaction, the right to
    /// assign the next version, so that versions are assigned in one
    /// linear order and become visible in that order.
    fn lock_history(&mut self) -> StoreResult<()>;
    /// Puts every unsealed direct write into `version` (spec §6.1);
    /// returns whether there was any. Needs [`WriteTx::lock_history`].
    fn seal(&mut self, version: u64, created_at: &str) -> StoreResult<bool>;
    /// Records a new node and returns its id.
    fn insert_node(&mut self, node: &NewNode) -> StoreResult<u64>;
    /// Gives node `node_id` a new secret and user; false if unknown.
    fn renew_node(
        &mut self,
        node_id: u64,
        secret: &Secret,
        user_id: Option<&str>,
        now: u64,
    ) -> StoreResult<bool>;
    /// Sets the claims of node `node_id` (spec §19.1); false if unknown.
    fn set_node_claims(&mut self, node_id: u64, claims: &[Claim]) -> StoreResult<bool>;
    /// Forgets the nodes `ids` (spec §9.7): their records and the nonces
    /// they used, so nothing authenticates them any more; their versions
    /// and push records stay. Returns how many of them were registered.
    /// A forgotten id is never given to a new node.
    fn delete_nodes(&mut self, ids: &[u64]) -> StoreResult<u64>;
    /// Forgets the nodes registered before `registered_before` that were
    /// never seen ([`NodeRecord::seen`]), and returns them, by id.
    fn purge_unseen(&mut self, registered_before: u64) -> StoreResult<Vec<NodeRecord>>;
    /// Records that `node_id` used `nonce` at `now`; false if it already
    /// had. Also records the node as seen at `now`.
    fn record_nonce(&mut self, node_id: u64, nonce: &str, now: u64) -> StoreResult<bool>;
    /// Forgets nonces seen before `before`; returns how many.
    fn forget_nonces(&mut self, before: u64) -> StoreResult<u64>;
    /// Stops capturing row writes for the rest of the transaction and
    /// defers foreign-key checks to commit: the engine's own writes are
    /// recorded by [`WriteTx::append_version`], never as direct writes.
    fn begin_row_writes(&mut self) -> StoreResult<()>;
    /// Inserts `row`.
    fn insert_row(&mut self, table: &TableSchema, row: &Row) -> Result<(), RowWriteError>;
    /// Sets every non-key column of row `row.id`; false if absent.
    fn update_row(&mut self, table: &TableSchema, row: &Row) -> Result<bool, RowWriteError>;
    /// Deletes row `id`; false if absent.
    fn delete_row(&mut self, table: &TableSchema, id: RowId) -> Result<bool, RowWriteError>;
    /// Records `info`'s version with `ops`, in their order.
    fn append_version(&mut self, info: &VersionInfo, ops: &[Op]) -> StoreResult<()>;
    /// Records a push (spec §10.4.2).
    fn insert_push_record(
        &mut self,
        node_id: u64,
        push_id: &str,
        record: &PushRecord,
    ) -> StoreResult<()>;
    /// Records that `node_id` holds `version` (never lowering it), and
    /// when `repaired`, that it is live again.
    fn note_known_version(&mut self, node_id: u64, version: u64, repaired: bool)
        -> StoreResult<()>;
    /// Marks stale the live nodes unseen since `before`; returns how many.
    fn mark_stale(&mut self, before: u64) -> StoreResult<u64>;
    /// Drops the versions up to `version`, their ops and push records,
    /// and records the trim horizon; returns how many versions went.
    fn drop_history_through(&mut self, version: u64) -> StoreResult<u64>;
    /// Stores the key that authenticates cursors, unless one is stored
    /// already (then it keeps that one).
    fn set_cursor_key(&mut self, key: &Secret) -> StoreResult<()>;
    /// Makes what scopes need that a server without them does not: the
    /// index of ops by row inside a version, and indexes of the
    /// `columns` (foreign keys children inherit their scope through).
    fn enable_scopes(&mut self, columns: &[(&TableSchema, &str)]) -> StoreResult<()> {
        let _ = columns;
        no_scopes()
    }
    /// Records the scope keys of rows of `table` (`None`: in no node's
    /// scope), replacing those recorded.
    fn set_row_scopes(&mut self, table: &str, keys: &[(RowId, Option<String>)]) -> StoreResult<()> {
        let _ = (table, keys);
        no_scopes()
    }
    /// Forgets the scope keys of the rows `ids` of `table` (deleted rows).
    fn forget_row_scopes(&mut self, table: &str, ids: &[RowId]) -> StoreResult<()> {
        let _ = (table, ids);
        no_scopes()
    }
    /// Records scope marks (spec §19.4). [`WriteTx::drop_history_through`]
    /// drops them with their versions.
    fn append_scope_marks(&mut self, marks: &[ScopeMark]) -> StoreResult<()> {
        let _ = marks;
        no_scopes()
    }
    /// Appends `ops` to the recorded version `version` (scope moves,
    /// spec §19.4).
    fn append_ops(&mut self, version: u64, ops: &[Op]) -> StoreResult<()> {
        let _ = (version, ops);
        no_scopes()
    }
    /// Commits. Foreign keys deferred by [`WriteTx::begin_row_writes`]
    /// are checked here.
    fn commit(self: Box<Self>) -> Result<(), RowWriteError>;
}

//! The client's errors: one variant per kind of failure, each with a
//! message a person can act on.

use dbsync_core::merge::UniqueCollision;
use dbsync_core::ErrorCode;

/// Why a client procedure failed.
///
/// A failure leaves the node's database as it was before the procedure
/// (a push stays stored, to be sent again unchanged when its fate is
/// unknown; a repair cut short keeps its staged pages and resumes), so
/// every procedure can simply be called again. [`ClientError::code`] gives the stable code of spec §17. Worth
/// retrying later, unchanged: [`ClientError::Network`],
/// [`ClientError::DatabaseBusy`], [`ClientError::TooManyRounds`] and a
/// [`ClientError::Rejected`] with a 5xx status or
/// [`ErrorCode::RequestTimeout`], or [`ErrorCode::RateLimited`] (after
/// the `retry_after` seconds of its details). The others need someone to act first:
/// the message of each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server could not be reached, the connection broke, or no
    /// complete answer came within the timeouts. Nothing is lost: a push
    /// is retried with the same push id.
    #[error("network: {0} (check the server URL and that the server runs; retrying is safe)")]
    Network(String),
    /// The server's TLS certificate is not trusted: no platform root and
    /// no CA given to the node signs it, or it does not name the host, or
    /// it expired. Retrying does not help.
    #[error("the TLS certificate of {url} is not trusted ({problem}): give the node the CA that signed it (`dbsync register --ca-cert FILE`), or fix the server's certificate")]
    UntrustedCertificate {
        /// The URL asked for.
        url: String,
        /// What is wrong with the certificate, in rustls's words.
        problem: String,
    },
    /// The server URL is not an `http://` or `https://` URL with a host.
    #[error("the server URL {url:?} is not usable: {reason} (expected http://HOST[:PORT][/PATH] or https://…)")]
    InvalidServerUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A CA certificate file or text holds no usable certificate.
    #[error("CA certificate: {0}")]
    InvalidCaCert(String),
    /// The server rejected the request with a stable code (spec §17).
    #[error("rejected by the server: {code}: {message}")]
    Rejected {
        /// The stable code of the rule broken (spec §17.2).
        code: ErrorCode,
        /// The HTTP status of the answer.
        status: u16,
        /// The server's sentence for a person; not stable.
        message: String,
        /// Machine-readable facts, per code (spec §17.2).
        details: Option<serde_json::Map<String, serde_json::Value>>,
    },
    /// Pulled rows would take unique values other local rows hold: the
    /// application must decide (spec §12.2.3). Nothing was changed.
    #[error("{} unique collision(s) need a decision: {}", .0.len(), describe(.0))]
    UniqueCollisions(Vec<UniqueCollision>),
    /// Pending ops of a row form a sequence no rule allows (spec §5.2.2).
    #[error("{0}; a key was reused or a write bypassed the triggers: repair the node")]
    InvalidPendingSequence(dbsync_core::compress::InvalidPendingSequence),
    /// Node and server disagree on the synced tables (spec §7.2).
    #[error("schema mismatch: the server's synced tables have fingerprint {expected}, this node's {received}; make both track the same tables with the same columns, keys and constraints")]
    SchemaMismatch {
        /// The server's fingerprint.
        expected: String,
        /// This node's fingerprint, as the server received it.
        received: String,
    },
    /// The node has no credentials yet.
    #[error("this database is not registered with a server: run `dbsync register` first")]
    NotRegistered,
    /// Sync gave up at its time limit, after this many rounds, while others
    /// kept pushing first or the application kept writing (spec §11.7).
    #[error("sync gave up after {0} rounds in its time limit: the server kept moving; try again")]
    TooManyRounds(usize),
    /// The server answered something the protocol does not allow.
    #[error("protocol violation by the server: {0}")]
    Protocol(String),
    /// Another connection (the application) held the database's write
    /// lock for longer than the node's busy timeout. Nothing was changed;
    /// retrying is safe (a push is stored before it is sent).
    #[error("the database is busy: another connection held its write lock for longer than the busy timeout; nothing was changed, retrying is safe (commit or shorten the application's transaction, or raise the busy timeout)")]
    DatabaseBusy,
    /// Tables to track hold rows and nobody said what they are (spec §3.5).
    /// Nothing was tracked.
    #[error("{0}")]
    ExistingRows(dbsync_sqlite::ExistingRowsRefused),
    /// Tables to sync break a rule of spec §2; each refusal says what to
    /// change. Nothing was tracked.
    #[error("{0}")]
    TableRefused(dbsync_sqlite::TableRefused),
    /// The node tracked its existing rows as a copy of the server's and
    /// must repair first (spec §3.5).
    #[error("this node tracked its existing rows as a copy of the server's: repair first (`dbsync repair`), which replaces them with the server's")]
    RepairOwed,
    /// A repair would discard local work nobody has pushed (spec §13.5).
    /// Nothing was changed.
    #[error("the repair would discard local work nobody has pushed: {}; sync first, or repair discarding it (`dbsync repair --discard-local-changes`)", dbsync_sqlite::node::describe_work(.0))]
    UnpushedChanges(Vec<dbsync_sqlite::node::LocalWork>),
    /// Pending ops that must travel in one push need more bytes than one
    /// request may carry, and none may go ahead in a part (spec §10.1.2).
    /// Nothing was sent.
    #[error("the pending ops that must travel in one push need about {needed} bytes, over the push budget of {budget}: raise the server's body limit and the node's push budget, or push more often")]
    PushTooLarge {
        /// About how many bytes they need.
        needed: usize,
        /// The most one push may take.
        budget: usize,
    },
    /// A pull met inserts of keys the unanswered outstanding push inserts
    /// too, and sending that push again did not settle it (spec §11.5).
    /// Nothing was merged; pulling again later is safe.
    #[error("a push sent earlier got no answer and may yet be applied with new keys: nothing was merged; sync again once the server answers")]
    PushUnsettled,
    /// A unique collision's resolution cannot be applied (spec §12.2.4);
    /// nothing was changed.
    #[error("{0}")]
    ResolutionRefused(String),
    /// The local database failed.
    #[error("local database: {0}")]
    Store(String),
}

fn describe(c: &[UniqueCollision]) -> String {
    c.iter()
        .map(|u| {
            let values = serde_json::to_string(&u.values).expect("serializable");
            format!(
                "incoming {table} row {row} wants {values}, which local {table} row {holder} holds",
                table = u.table,
                row = u.row_id,
                holder = u.holder_row_id,
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

impl ClientError {
    /// The stable code of spec §17 this failure corresponds to.
    pub fn code(&self) -> ErrorCode {
        match self {
            ClientError::Network(_) => ErrorCode::NetworkUnreachable,
            ClientError::UntrustedCertificate { .. } => ErrorCode::UntrustedCertificate,
            ClientError::InvalidServerUrl { .. } | ClientError::InvalidCaCert(_) => {
                ErrorCode::InvalidConfiguration
            }
            ClientError::Rejected { code, .. } => *code,
            ClientError::UniqueCollisions(_) => ErrorCode::UniqueCollision,
            ClientError::InvalidPendingSequence(_) => ErrorCode::InvalidPendingSequence,
            ClientError::SchemaMismatch { .. } => ErrorCode::SchemaMismatch,
            ClientError::NotRegistered => ErrorCode::NotRegistered,
            ClientError::TooManyRounds(_) => ErrorCode::PullRequired,
            ClientError::DatabaseBusy => ErrorCode::DatabaseBusy,
            ClientError::ExistingRows(_) => ErrorCode::ExistingRows,
            ClientError::TableRefused(_) => ErrorCode::TableRefused,
            ClientError::RepairOwed => ErrorCode::RepairRequired,
            ClientError::UnpushedChanges(_) => ErrorCode::UnpushedChanges,
            ClientError::PushTooLarge { .. } => ErrorCode::PushTooLarge,
            ClientError::ResolutionRefused(_) => ErrorCode::ResolutionRefused,
            ClientError::Protocol(_) | ClientError::Store(_) | ClientError::PushUnsettled => {
                ErrorCode::InternalError
            }
        }
    }
}

impl From<dbsync_sqlite::node::NodeError> for ClientError {
    fn from(e: dbsync_sqlite::node::NodeError) -> ClientError {
        use dbsync_core::merge::MergeError;
        use dbsync_sqlite::node::NodeError;
        match e {
            NodeError::Merge(MergeError::UniqueCollisions(c)) => ClientError::UniqueCollisions(c),
            NodeError::InvalidPendingSequence(s) => ClientError::InvalidPendingSequence(s),
            NodeError::NotRegistered => ClientError::NotRegistered,
            NodeError::RepairOwed => ClientError::RepairOwed,
            NodeError::PushUnsettled => ClientError::PushUnsettled,
            NodeError::UnpushedChanges(work) => ClientError::UnpushedChanges(work),
            NodeError::PushTooLarge { needed, budget } => {
                ClientError::PushTooLarge { needed, budget }
            }
            NodeError::Store(s) => s.into(),
            e @ (NodeError::NotSynced(_)
            | NodeError::NoSuchRow { .. }
            | NodeError::UnknownColumn { .. }
            | NodeError::NothingToRename
            | NodeError::ServerHasRow { .. }
            | NodeError::ResolutionRefused { .. }) => ClientError::ResolutionRefused(e.to_string()),
            other => ClientError::Store(other.to_string()),
        }
    }
}

impl From<dbsync_sqlite::StoreError> for ClientError {
    fn from(e: dbsync_sqlite::StoreError) -> ClientError {
        match e {
            e if e.is_busy() => ClientError::DatabaseBusy,
            dbsync_sqlite::StoreError::ExistingRows(r) => ClientError::ExistingRows(r),
            dbsync_sqlite::StoreError::Refused(r) => ClientError::TableRefused(r),
            e => ClientError::Store(e.to_string()),
        }
    }
}

impl From<rusqlite::Error> for ClientError {
    fn from(e: rusqlite::Error) -> ClientError {
        dbsync_sqlite::StoreError::Sqlite(e).into()
    }
}

//! What an operator or an application sets for the protocol: page sizes,
//! the clock-skew window, registration, and the application's hooks
//! (spec §7.3, §8.4, §9, §11.4, §13, §14).

use crate::scope::Scopes;
use dbsync_core::protocol::{PushRequest, PushResponse, RegisterRequest};
use std::fmt;
use std::sync::Arc;

/// The default byte bound of a repair or pull page: 1 MiB. A page's
/// answer is held while it is sent, so this bounds the memory one unread
/// answer takes (with the server's answer budget, `dbsync-server`).
pub const DEFAULT_PAGE_BYTES: usize = 1 << 20;

/// Page sizes and limits of a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// At most this many ops in one pull page.
    pub pull_page_ops: usize,
    /// At most this many rows in one repair page.
    pub repair_page_rows: usize,
    /// A repair page stops at the row that takes its rows past this many
    /// bytes of JSON (estimated), a pull page at the part of its ops
    /// (up to 1,000) whose ops and rows take it past them; neither is
    /// ever empty.
    pub page_bytes: usize,
    /// The default query limit.
    pub query_default: u32,
    /// The largest query limit.
    pub query_max: u32,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            pull_page_ops: 10_000,
            repair_page_rows: 10_000,
            page_bytes: DEFAULT_PAGE_BYTES,
            query_default: 100,
            query_max: 10_000,
        }
    }
}

/// What the register hook decides for a node that passed the token check.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegisterDecision {
    /// The application user to attach to the node.
    pub user_id: Option<String>,
    /// Hand back this existing node id (with a new secret) instead of a
    /// new node (spec §9.4).
    pub reuse_node: Option<u64>,
    /// The node's claims (spec §19.1): what else it reads on a scoped
    /// server, by rules `{"claim": COLUMN}`.
    pub claims: Vec<String>,
}

/// Runs at register after the token check; `Err(why)` refuses with
/// `hook_rejected`. It sees the whole request, `app_data` included.
pub type RegisterHook =
    Arc<dyn Fn(&RegisterRequest) -> Result<RegisterDecision, String> + Send + Sync>;
/// Runs inside the push's transaction after every protocol check and
/// before anything is written, with the authenticated node id;
/// `Err(why)` refuses with `hook_rejected` and nothing changes.
pub type BeforePushHook = Arc<dyn Fn(u64, &PushRequest) -> Result<(), String> + Send + Sync>;
/// Runs after a push committed (not for a duplicate), with the node id,
/// the request and the answer. It cannot change the answer; a panic in it
/// is logged and the node still gets its answer.
pub type AfterPushHook = Arc<dyn Fn(u64, &PushRequest, &PushResponse) + Send + Sync>;

/// The application's hooks (spec §7.3). Each is optional.
#[derive(Clone, Default)]
pub struct Hooks {
    /// Decides a registration's user (or refuses it).
    pub register: Option<RegisterHook>,
    /// May refuse a push before it is applied.
    pub before_push: Option<BeforePushHook>,
    /// Sees every applied push.
    pub after_push: Option<AfterPushHook>,
}

impl fmt::Debug for Hooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hooks")
            .field("register", &self.register.is_some())
            .field("before_push", &self.before_push.is_some())
            .field("after_push", &self.after_push.is_some())
            .finish()
    }
}

/// Who may register (spec §9.2).
#[derive(Clone, Default, PartialEq, Eq)]
pub enum Registration {
    /// Nobody: no token is set and registration is not open.
    #[default]
    Closed,
    /// Whoever presents this token (compared in constant time).
    Token(String),
    /// Anybody.
    Open,
}

impl fmt::Debug for Registration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The token is a secret: never printed.
        f.write_str(match self {
            Registration::Closed => "Closed",
            Registration::Token(_) => "Token(..)",
            Registration::Open => "Open",
        })
    }
}

/// Everything the engine needs besides its store.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Page sizes and query limits.
    pub limits: Limits,
    /// The clock-skew window of request timestamps, in seconds (§8.4);
    /// nonces are remembered for twice as long.
    pub skew_window: u64,
    /// Who may register.
    pub registration: Registration,
    /// The application's hooks.
    pub hooks: Hooks,
    /// The scope rules (spec §19); `None`: every node reads and writes
    /// every row.
    pub scopes: Option<Arc<Scopes>>,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            limits: Limits::default(),
            skew_window: dbsync_core::auth::DEFAULT_SKEW_SECONDS,
            registration: Registration::Closed,
            hooks: Hooks::default(),
            scopes: None,
        }
    }
}

//! What an operator or an application sets: the database, the address,
//! the synced tables, registration, limits, timeouts and hooks.

use dbsync_core::protocol::{PushRequest, PushResponse, RegisterRequest};
use dbsync_sqlite::server::Limits;
use dbsync_sqlite::TableSpec;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The default body limit: 16 MiB (spec §16).
pub const DEFAULT_BODY_LIMIT: usize = 16 * 1024 * 1024;
/// How long a client may take to send the request head.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client may take to send the body, once the head is in.
pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// A node unseen this long stops holding back trim (spec §15): 30 days.
pub const DEFAULT_STALE_AFTER: Duration = Duration::from_secs(30 * 24 * 3600);

/// What the register hook decides for a node that passed the token check.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegisterDecision {
    /// The application user to attach to the node.
    pub user_id: Option<String>,
    /// Hand back this existing node id (with a new secret) instead of a
    /// new node (spec §9.4).
    pub reuse_node: Option<u64>,
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
    pub register: Option<RegisterHook>,
    pub before_push: Option<BeforePushHook>,
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

/// A server's configuration. [`Config::new`] gives the defaults; set the
/// fields you need.
#[derive(Clone)]
pub struct Config {
    /// The SQLite database the server serves (created if missing; its
    /// tables must exist before the server starts).
    pub db_path: PathBuf,
    /// Where to listen; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Serve HTTPS with this certificate chain (a PEM file, the server's
    /// certificate first); needs [`Config::tls_key`]. `None`: plain HTTP.
    pub tls_cert: Option<PathBuf>,
    /// The private key of [`Config::tls_cert`] (a PEM file: PKCS#8,
    /// PKCS#1 or SEC1).
    pub tls_key: Option<PathBuf>,
    /// The tables to sync, each with its direction; empty: every user table.
    pub tables: Vec<TableSpec>,
    /// The token a register request must carry (compared in constant time).
    pub registration_token: Option<String>,
    /// Lets anyone register without a token.
    pub open_registration: bool,
    /// The largest request body, in bytes (413 `body_too_large` above it).
    pub body_limit: usize,
    /// The clock-skew window of request timestamps (spec §8.4); nonces
    /// are remembered for twice as long.
    pub skew_window: Duration,
    /// Page sizes and query limits.
    pub limits: Limits,
    /// A node unseen this long stops holding back trim and must repair.
    pub stale_after: Duration,
    /// Trim in the background this often; `None` (the default): never.
    pub trim_interval: Option<Duration>,
    /// The time a client has to send the request head (the connection is
    /// closed after it).
    pub header_read_timeout: Duration,
    /// The time a client has to send the body (408 `request_timeout`).
    pub body_read_timeout: Duration,
    /// How long shutdown waits for requests in flight before closing.
    pub shutdown_grace: Duration,
    /// Idle read connections kept for pulls, repairs and queries.
    pub idle_readers: usize,
    pub hooks: Hooks,
}

impl Config {
    /// The defaults, serving every user table of `db_path` on
    /// `127.0.0.1:0`, with registration closed until a token is set or
    /// open registration is enabled.
    pub fn new(db_path: impl Into<PathBuf>) -> Config {
        Config {
            db_path: db_path.into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            tls_cert: None,
            tls_key: None,
            tables: Vec::new(),
            registration_token: None,
            open_registration: false,
            body_limit: DEFAULT_BODY_LIMIT,
            skew_window: Duration::from_secs(dbsync_core::auth::DEFAULT_SKEW_SECONDS),
            limits: Limits::default(),
            stale_after: DEFAULT_STALE_AFTER,
            trim_interval: None,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            body_read_timeout: DEFAULT_BODY_READ_TIMEOUT,
            shutdown_grace: Duration::from_secs(10),
            idle_readers: 8,
            hooks: Hooks::default(),
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The registration token is a secret: never printed.
        f.debug_struct("Config")
            .field("db_path", &self.db_path)
            .field("listen", &self.listen)
            .field("tls_cert", &self.tls_cert)
            .field("tls_key", &self.tls_key)
            .field("tables", &self.tables)
            .field(
                "registration_token",
                &self.registration_token.as_ref().map(|_| "(set)"),
            )
            .field("open_registration", &self.open_registration)
            .field("body_limit", &self.body_limit)
            .field("skew_window", &self.skew_window)
            .field("limits", &self.limits)
            .field("stale_after", &self.stale_after)
            .field("trim_interval", &self.trim_interval)
            .field("header_read_timeout", &self.header_read_timeout)
            .field("body_read_timeout", &self.body_read_timeout)
            .field("shutdown_grace", &self.shutdown_grace)
            .field("idle_readers", &self.idle_readers)
            .field("hooks", &self.hooks)
            .finish()
    }
}

//! What an operator or an application sets: the address, registration,
//! limits, timeouts and hooks. The database and its synced tables are the
//! store's (see [`crate::Server::open`]).

use crate::register_rate::RegisterRate;
use dbsync_engine::scope::Scopes;
use dbsync_engine::settings::{Hooks, Limits, Registration, Settings};
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The default body limit: 16 MiB (spec §16).
pub const DEFAULT_BODY_LIMIT: usize = 16 * 1024 * 1024;
/// The default body limit of register: 64 KiB. A register request holds
/// a fingerprint, a token and the application's data (spec §9.1).
pub const DEFAULT_REGISTER_BODY_LIMIT: usize = 64 * 1024;
/// How long a client may take to send the request head.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client may take to send the body, once the head is in.
pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// At most this many connections at once (more wait in the backlog).
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// At most this many request bodies read at once.
pub const DEFAULT_MAX_BODY_READS: usize = 8;
/// At most this many requests handled at once (database work and the
/// building of the answer); the others wait.
pub const DEFAULT_MAX_HANDLING: usize = 8;
/// The bytes of page answers (pull, repair, query) held at once, built or
/// being sent: 128 MiB.
pub const DEFAULT_ANSWER_BUDGET: usize = 128 << 20;
/// A client that reads nothing of its answer this long is dropped.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// The default rate of open registration: 60 a minute, in bursts of up
/// to 60 (spec §9.6). Enough for a fleet enrolling at once (a refused
/// node retries after `Retry-After`), and it caps a flood at 86,400
/// nodes a day, which the purge then removes.
pub const DEFAULT_REGISTER_RATE: RegisterRate = RegisterRate {
    count: 60,
    per: Duration::from_secs(60),
};
/// A node that never made a request this long after registering is
/// purged (spec §9.7): 7 days. It holds nothing on the server but its
/// record, and its own work is still pending on it: registering again
/// loses nothing.
pub const DEFAULT_PURGE_UNUSED_AFTER: Duration = Duration::from_secs(7 * 24 * 3600);
/// A node unseen this long stops holding back trim (spec §15): 30 days.
pub const DEFAULT_STALE_AFTER: Duration = Duration::from_secs(30 * 24 * 3600);

/// A server's configuration. [`Config::new`] gives the defaults; set the
/// fields you need.
#[derive(Clone)]
pub struct Config {
    /// Where to listen; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Serve the metrics (`GET /metrics`, Prometheus text format) on this
    /// address of their own; `None` (the default): not served.
    pub metrics_listen: Option<SocketAddr>,
    /// Serve HTTPS with this certificate chain (a PEM file, the server's
    /// certificate first); needs [`Config::tls_key`]. `None`: plain HTTP.
    pub tls_cert: Option<PathBuf>,
    /// The private key of [`Config::tls_cert`] (a PEM file: PKCS#8,
    /// PKCS#1 or SEC1).
    pub tls_key: Option<PathBuf>,
    /// The token a register request must carry (compared in constant time).
    pub registration_token: Option<String>,
    /// Lets anyone register without a token.
    pub open_registration: bool,
    /// The rate of open registration (spec §9.6; not applied with a
    /// registration token): over it, register gets 429 `rate_limited`
    /// before its body is read. `None`: no limit.
    pub register_rate: Option<RegisterRate>,
    /// Nodes that registered more than this long ago and never made a
    /// request since are purged in the background while the server serves
    /// (spec §9.7); at least 1 s. `None`: never.
    pub purge_unused_after: Option<Duration>,
    /// The largest request body, in bytes (413 `body_too_large` above it).
    pub body_limit: usize,
    /// The largest register body, in bytes (never above `body_limit`):
    /// register is unauthenticated, so it gets a small limit.
    pub register_body_limit: usize,
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
    /// At most this many connections at once; the next wait in the
    /// listen backlog.
    pub max_connections: usize,
    /// At most this many request bodies read at once (each up to
    /// `body_limit` bytes); the others wait, within `body_read_timeout`.
    pub max_body_reads: usize,
    /// At most this many requests handled at once (their database work
    /// and the building of their answers); the others wait.
    pub max_handling: usize,
    /// The bytes of page answers (pull, repair, query) held at once,
    /// built or being sent: each reserves a page's bytes
    /// (`limits.page_bytes`) before it is built, and holds its true size
    /// until it is sent or its connection dropped. The next waits.
    pub answer_budget: usize,
    /// A connection whose client accepts no byte of its answer for this
    /// long is closed.
    pub write_timeout: Duration,
    /// How long shutdown waits for requests in flight before closing.
    pub shutdown_grace: Duration,
    /// The application's hooks (spec §7.3).
    pub hooks: Hooks,
    /// The scope rules (spec §19), validated against the served schema
    /// ([`Scopes::parse`]); `None`: every node reads every row.
    pub scopes: Option<Arc<Scopes>>,
}

impl Config {
    /// The defaults: `127.0.0.1:0`, with registration closed until a
    /// token is set or open registration is enabled.
    pub fn new() -> Config {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            metrics_listen: None,
            tls_cert: None,
            tls_key: None,
            registration_token: None,
            open_registration: false,
            register_rate: Some(DEFAULT_REGISTER_RATE),
            purge_unused_after: Some(DEFAULT_PURGE_UNUSED_AFTER),
            body_limit: DEFAULT_BODY_LIMIT,
            register_body_limit: DEFAULT_REGISTER_BODY_LIMIT,
            skew_window: Duration::from_secs(dbsync_core::auth::DEFAULT_SKEW_SECONDS),
            limits: Limits::default(),
            stale_after: DEFAULT_STALE_AFTER,
            trim_interval: None,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            body_read_timeout: DEFAULT_BODY_READ_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_body_reads: DEFAULT_MAX_BODY_READS,
            max_handling: DEFAULT_MAX_HANDLING,
            answer_budget: DEFAULT_ANSWER_BUDGET,
            write_timeout: DEFAULT_WRITE_TIMEOUT,
            shutdown_grace: Duration::from_secs(10),
            hooks: Hooks::default(),
            scopes: None,
        }
    }

    /// What the engine needs of this configuration.
    pub fn settings(&self) -> Settings {
        let registration = match (&self.registration_token, self.open_registration) {
            (_, true) => Registration::Open,
            (Some(token), false) => Registration::Token(token.clone()),
            (None, false) => Registration::Closed,
        };
        Settings {
            limits: self.limits.clone(),
            skew_window: self.skew_window.as_secs(),
            registration,
            hooks: self.hooks.clone(),
            scopes: self.scopes.clone(),
        }
    }
}

impl Default for Config {
    fn default() -> Config {
        Config::new()
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The registration token is a secret: never printed.
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("metrics_listen", &self.metrics_listen)
            .field("tls_cert", &self.tls_cert)
            .field("tls_key", &self.tls_key)
            .field(
                "registration_token",
                &self.registration_token.as_ref().map(|_| "(set)"),
            )
            .field("open_registration", &self.open_registration)
            .field("register_rate", &self.register_rate)
            .field("purge_unused_after", &self.purge_unused_after)
            .field("body_limit", &self.body_limit)
            .field("register_body_limit", &self.register_body_limit)
            .field("skew_window", &self.skew_window)
            .field("limits", &self.limits)
            .field("stale_after", &self.stale_after)
            .field("trim_interval", &self.trim_interval)
            .field("header_read_timeout", &self.header_read_timeout)
            .field("body_read_timeout", &self.body_read_timeout)
            .field("max_connections", &self.max_connections)
            .field("max_body_reads", &self.max_body_reads)
            .field("max_handling", &self.max_handling)
            .field("answer_budget", &self.answer_budget)
            .field("write_timeout", &self.write_timeout)
            .field("shutdown_grace", &self.shutdown_grace)
            .field("hooks", &self.hooks)
            .finish()
    }
}

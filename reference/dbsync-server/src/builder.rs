//! [`ServerBuilder`]: a server made in code, its hooks given as closures.

use crate::{Config, Limits, RegisterDecision, Server, ServerError, ServerHandle, Store};
use dbsync_core::protocol::{PushRequest, PushResponse, RegisterRequest};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Builds a [`Server`]: made by [`Server::builder`], it starts from
/// [`Config::new`]'s defaults; each method sets one thing, and
/// [`ServerBuilder::build`] opens the server.
///
/// The application's hooks (spec §7.3) are closures:
///
/// ```no_run
/// # fn run(store: std::sync::Arc<dyn dbsync_server::Store>) -> Result<(), dbsync_server::ServerError> {
/// use dbsync_server::{RegisterDecision, Server};
/// let server = Server::builder(store)
///     .registration_token("let-me-in")
///     .on_register(|request| {
///         // Which user is this device's? Here: the one its app data names.
///         let user = request.app_data.as_ref().and_then(|d| d.get("user"));
///         match user.and_then(|u| u.as_str()) {
///             Some(user) => Ok(RegisterDecision { user_id: Some(user.into()), ..Default::default() }),
///             None => Err("tell us who you are".into()),
///         }
///     })
///     .before_push(|node, push| match push.ops.len() {
///         0..=10_000 => Ok(()),
///         n => Err(format!("node {node}: {n} ops in one push is more than we take")),
///     })
///     .after_push(|node, _push, answer| println!("node {node} made version {}", answer.version))
///     .build()?;
/// # let _ = server; Ok(()) }
/// ```
#[must_use = "a builder does nothing until .build()"]
pub struct ServerBuilder {
    store: Arc<dyn Store>,
    config: Config,
}

impl std::fmt::Debug for ServerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// A builder of a server over `store`, with [`Config::new`]'s
    /// defaults (registration closed until a token is set or it is
    /// opened).
    pub fn builder(store: Arc<dyn Store>) -> ServerBuilder {
        ServerBuilder {
            store,
            config: Config::new(),
        }
    }
}

impl ServerBuilder {
    /// Replaces the whole configuration, hooks included (the methods
    /// called after this one change it further).
    pub fn config(mut self, config: Config) -> ServerBuilder {
        self.config = config;
        self
    }

    /// Changes any field of the configuration.
    pub fn configure(mut self, change: impl FnOnce(&mut Config)) -> ServerBuilder {
        change(&mut self.config);
        self
    }

    /// The address [`ServerBuilder::bind`] listens on (default
    /// `127.0.0.1:0`, a free port).
    pub fn listen(mut self, addr: SocketAddr) -> ServerBuilder {
        self.config.listen = addr;
        self
    }

    /// Serves the metrics on this address of their own
    /// ([`Config::metrics_listen`]; port 0 picks a free port).
    pub fn metrics_listen(mut self, addr: SocketAddr) -> ServerBuilder {
        self.config.metrics_listen = Some(addr);
        self
    }

    /// Serves HTTPS with this certificate chain and its private key (PEM
    /// files: [`Config::tls_cert`], [`Config::tls_key`]), read when the
    /// server starts to serve.
    pub fn tls(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> ServerBuilder {
        self.config.tls_cert = Some(cert.into());
        self.config.tls_key = Some(key.into());
        self
    }

    /// The token a register request must carry.
    pub fn registration_token(mut self, token: impl Into<String>) -> ServerBuilder {
        self.config.registration_token = Some(token.into());
        self
    }

    /// Lets anyone register without a token (`true`), or not (`false`,
    /// the default).
    pub fn open_registration(mut self, open: bool) -> ServerBuilder {
        self.config.open_registration = open;
        self
    }

    /// The rate of open registration ([`Config::register_rate`]);
    /// `None`: no limit.
    pub fn register_rate(mut self, rate: Option<crate::RegisterRate>) -> ServerBuilder {
        self.config.register_rate = rate;
        self
    }

    /// Purges nodes never seen this long after registering
    /// ([`Config::purge_unused_after`]); `None`: never.
    pub fn purge_unused_after(mut self, after: Option<Duration>) -> ServerBuilder {
        self.config.purge_unused_after = after;
        self
    }

    /// Page sizes and query limits.
    pub fn limits(mut self, limits: Limits) -> ServerBuilder {
        self.config.limits = limits;
        self
    }

    /// The largest request body, in bytes ([`Config::body_limit`]).
    pub fn body_limit(mut self, bytes: usize) -> ServerBuilder {
        self.config.body_limit = bytes;
        self
    }

    /// How long an unseen node holds back trim ([`Config::stale_after`]).
    pub fn stale_after(mut self, after: Duration) -> ServerBuilder {
        self.config.stale_after = after;
        self
    }

    /// Trims the history in the background this often while the server
    /// serves ([`Config::trim_interval`]).
    pub fn trim_every(mut self, every: Duration) -> ServerBuilder {
        self.config.trim_interval = Some(every);
        self
    }

    /// The register hook: runs after the token check with the whole
    /// request (its `app_data` included) and decides the node's user, or
    /// refuses with `Err(why)` (answered `hook_rejected`, spec §9.2).
    pub fn on_register<F>(mut self, hook: F) -> ServerBuilder
    where
        F: Fn(&RegisterRequest) -> Result<RegisterDecision, String> + Send + Sync + 'static,
    {
        self.config.hooks.register = Some(Arc::new(hook));
        self
    }

    /// The hook before a push: runs inside the push's transaction after
    /// every protocol check, with the node id; `Err(why)` refuses the push
    /// (`hook_rejected`) and nothing changes.
    pub fn before_push<F>(mut self, hook: F) -> ServerBuilder
    where
        F: Fn(u64, &PushRequest) -> Result<(), String> + Send + Sync + 'static,
    {
        self.config.hooks.before_push = Some(Arc::new(hook));
        self
    }

    /// The hook after a push: runs once the push committed (not for a
    /// duplicate), with the node id, the request and the answer. It cannot
    /// change the answer; a panic in it is logged.
    pub fn after_push<F>(mut self, hook: F) -> ServerBuilder
    where
        F: Fn(u64, &PushRequest, &PushResponse) + Send + Sync + 'static,
    {
        self.config.hooks.after_push = Some(Arc::new(hook));
        self
    }

    /// The configuration as it stands.
    pub fn config_ref(&self) -> &Config {
        &self.config
    }

    /// Opens the server ([`Server::open`]; blocking: the engine reads the
    /// store once). Serve it with [`Server::serve`], or mount it in an
    /// application with [`Server::service`] (or `Server::router`, feature
    /// `axum`).
    pub fn build(self) -> Result<Server, ServerError> {
        Server::open(self.store, self.config)
    }

    /// Opens the server and serves it on [`ServerBuilder::listen`]'s
    /// address ([`Server::bind`]).
    pub async fn bind(self) -> Result<ServerHandle, ServerError> {
        Server::bind(self.store, self.config).await
    }
}

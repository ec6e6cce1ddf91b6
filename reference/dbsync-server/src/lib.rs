//! # dbsync-server
//!
//! The reference dbsync server: the HTTP binding of the protocol (spec
//! §16) on hyper 1 and tokio, over the engine of `dbsync-engine` and any
//! store that implements its [`Store`] trait (`dbsync-sqlite`,
//! `dbsync-postgres`).
//!
//! - [`Server`]: a server over one store; [`Server::builder`] makes one
//!   in code, the application's hooks given as closures;
//! - [`Server::bind`], [`Server::serve`]: the server on its own port
//!   (what `dbsync serve` runs), HTTPS when given a certificate;
//! - [`Server::service`]: the endpoints as a tower service
//!   ([`SyncService`]) an application mounts under a path prefix; with
//!   the feature `axum`, `Server::router` gives them as an axum `Router`
//!   to merge into the application's; [`Server::serve_with`] serves the
//!   whole application with this server's connection limits and TLS
//!   (`examples/mounted/` is such an application);
//! - [`config`]: what an operator sets, and the application's hooks;
//! - [`http`]: the route table, content type, body limits and responses;
//! - [`auth`]: the authentication headers (spec §8.2);
//! - [`limits`]: the write timeout of a connection;
//! - [`register_rate`]: the rate limit of open registration (spec §9.6);
//!   the background purge of nodes never seen (§9.7) is `purge.rs`;
//! - [`metrics`]: what operators measure ([`Server::metrics`]), served
//!   in the Prometheus text format on [`Config::metrics_listen`];
//! - [`example`]: the example application of spec §2.6.
//!
//! A server over a SQLite file, answering a register request in process
//! (over the network, [`Server::bind`] or [`Server::serve_with`] pass
//! every request to the same code):
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! # let db = dir.path().join("app.db");
//! use std::sync::Arc;
//! rusqlite::Connection::open(&db)?.execute_batch(
//!     "CREATE TABLE city (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE);",
//! )?;
//! let store = dbsync_sqlite::SqliteStore::open(&db, &[], Default::default())?;
//! let server = dbsync_server::Server::builder(Arc::new(store))
//!     .registration_token("let-me-in")
//!     .after_push(|node, _push, answer| println!("node {node} made version {}", answer.version))
//!     .build()?;
//! let body = serde_json::json!({
//!     "protocol": "1.0", "schema": server.fingerprint(), "token": "let-me-in",
//! });
//! let request = hyper::Request::post("/v1/register")
//!     .header("content-type", "application/json")
//!     .body(http_body_util::Full::new(bytes::Bytes::from(body.to_string())))?;
//! let answer = tokio::runtime::Runtime::new()?.block_on(server.handle(request));
//! assert_eq!(answer.status(), 200);
//! # Ok(()) }
//! ```
//!
//! Each request goes through the checks of spec §16.4 in order: path and
//! method, content type, body size, authentication (all but register), the
//! `protocol` member, the whole message, the schema fingerprint, then the
//! endpoint. A rejected request changes nothing (beyond the nonce it used
//! and the node's last-seen time, once it authenticated).
//!
//! Architecture invariant: this crate depends on no database crate; the
//! store is given to [`Server::open`].

#![deny(missing_docs)]

pub mod auth;
mod budget;
mod builder;
pub mod config;
pub mod example;
mod head;
pub mod http;
pub mod limits;
pub mod metrics;
mod purge;
pub mod register_rate;
#[cfg(feature = "axum")]
mod router;
mod scrape;
mod serve;
mod service;
mod tls;

#[cfg(feature = "axum")]
/// The axum this crate's [`Server::router`] is made with (feature `axum`):
/// use it to build the application's own router, so the versions match.
pub use axum;
pub use builder::ServerBuilder;
pub use config::Config;
pub use dbsync_core::protocol::{PushRequest, PushResponse, RegisterRequest};
pub use dbsync_engine::scope::{claims::ClaimChange, Scopes, ScopesError};
pub use dbsync_engine::settings::{
    AfterPushHook, BeforePushHook, Hooks, Limits, RegisterDecision, RegisterHook,
};
pub use dbsync_engine::{store::NodeRecord, versions::rfc3339};
pub use dbsync_engine::{Endpoint, Engine, Rejection, Store, TrimReport};
pub use http::ROUTES;
pub use metrics::Metrics;
pub use purge::purge_interval;
pub use register_rate::RegisterRate;
pub use scrape::METRICS_PATH;
pub use serve::{AnswerBody, HttpApp, ServerHandle};
pub use service::SyncService;

use bytes::Bytes;
use dbsync_core::auth::AuthHeaders;
use dbsync_core::{ErrorCode, Schema};
use dbsync_engine::SignedRequest;
use http_body_util::Full;
use hyper::body::Body;
use hyper::{Method, Request, Response};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::Semaphore;

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The store could not be read or prepared.
    #[error("database: {0}")]
    Store(String),
    /// The address could not be bound.
    #[error("network: {0}")]
    Io(#[from] std::io::Error),
    /// The configuration is not usable.
    #[error("configuration: {0}")]
    Config(String),
}

/// What every request handler shares.
struct Inner {
    engine: Engine,
    config: Config,
    /// One permit per request body being read at once.
    body_reads: Semaphore,
    /// One permit per request being handled at once (its database work
    /// and the building of its answer).
    handling: Semaphore,
    /// The bytes of page answers held at once.
    answers: budget::AnswerBudget,
    /// The rate limit of open registration, when there is one.
    register_bucket: Option<register_rate::RegisterBucket>,
    /// What operators measure.
    metrics: Metrics,
}

/// What answering a request learns of it, for the request log and the
/// metrics.
#[derive(Debug, Default)]
struct Progress {
    /// The body was read (or reading it began).
    body_read: bool,
    /// The body's bytes, once read whole.
    bytes_in: u64,
    /// The node, once the request is authenticated.
    node: Option<u64>,
}

/// The request log: one line per request. It names no secret: no header
/// (the signature), no body (tokens, secrets, application data).
fn log_request(method: &Method, path: &str, node: Option<u64>, exchange: &metrics::Exchange) {
    tracing::info!(
        method = %method,
        path = %path,
        endpoint = metrics::endpoint_label(exchange.endpoint),
        node,
        status = exchange.status,
        code = exchange.code.map(ErrorCode::as_str),
        ms = exchange.duration.as_secs_f64() * 1000.0,
        bytes_in = exchange.bytes_in,
        bytes_out = exchange.bytes_out,
        "request"
    );
}

/// A server over one store: answers requests (through [`Server::bind`]
/// or directly with [`Server::handle`]) and trims. Cheap to clone.
#[derive(Clone)]
pub struct Server {
    inner: Arc<Inner>,
}

/// The current Unix time in seconds.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

pub(crate) fn joined<T>(
    r: Result<Result<T, Rejection>, tokio::task::JoinError>,
) -> Result<T, Rejection> {
    r.unwrap_or_else(|e| {
        tracing::error!(error = %e, "a request's task failed");
        Err(Rejection::internal())
    })
}

impl Server {
    /// A server over `store` (blocking: the engine reads the store once
    /// to make or load the cursor key), without listening.
    pub fn open(store: Arc<dyn Store>, config: Config) -> Result<Server, ServerError> {
        if config.body_limit == 0 {
            return Err(ServerError::Config(
                "body_limit must be at least 1 byte".into(),
            ));
        }
        if config.max_connections == 0 || config.max_body_reads == 0 || config.max_handling == 0 {
            return Err(ServerError::Config(
                "max_connections, max_body_reads and max_handling must be at least 1".into(),
            ));
        }
        if config.skew_window.as_secs() == 0 {
            return Err(ServerError::Config(
                "skew_window must be at least 1 s".into(),
            ));
        }
        if config.register_rate.is_some_and(|r| !r.is_usable())
            || config.purge_unused_after.is_some_and(|d| d.as_secs() == 0)
        {
            return Err(ServerError::Config(
                "register_rate must allow at least 1 registration in a time above 0, \
                 and purge_unused_after must be at least 1 s"
                    .into(),
            ));
        }
        let register_bucket = match (config.open_registration, config.register_rate) {
            (true, Some(rate)) => Some(register_rate::RegisterBucket::new(rate, Instant::now())),
            _ => None,
        };
        let engine =
            Engine::open(store, config.settings()).map_err(|r| ServerError::Store(r.message))?;
        Ok(Server {
            inner: Arc::new(Inner {
                engine,
                body_reads: Semaphore::new(config.max_body_reads),
                handling: Semaphore::new(config.max_handling),
                answers: budget::AnswerBudget::new(config.answer_budget),
                register_bucket,
                metrics: Metrics::new(),
                config,
            }),
        })
    }

    /// The synced schema.
    pub fn schema(&self) -> &Schema {
        self.inner.engine.schema()
    }

    /// The schema fingerprint requests must carry (spec §7.2).
    pub fn fingerprint(&self) -> &str {
        self.inner.engine.fingerprint()
    }

    /// The server's metrics: what [`Server::scrape`] and the metrics
    /// listener ([`Config::metrics_listen`]) show.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// The engine, for work outside HTTP (tests, tools).
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// Trims the history (spec §15): nodes unseen since `now - stale_after`
    /// seconds become stale; versions every live node holds are dropped.
    pub async fn trim(&self, now: u64, stale_after: u64) -> Result<TrimReport, Rejection> {
        let inner = self.inner.clone();
        joined(tokio::task::spawn_blocking(move || inner.engine.trim(now, stale_after)).await)
    }

    async fn trim_every(self, every: Duration) {
        let mut ticks = tokio::time::interval(every);
        ticks.tick().await; // the first tick is immediate
        loop {
            ticks.tick().await;
            match self
                .trim(unix_now(), self.inner.config.stale_after.as_secs())
                .await
            {
                Ok(r) => tracing::info!(
                    trimmed_through = r.trimmed_through,
                    versions_dropped = r.versions_dropped,
                    nodes_marked_stale = r.nodes_marked_stale,
                    "trimmed"
                ),
                Err(e) => tracing::error!(code = %e.code, message = %e.message, "trim failed"),
            }
        }
    }

    /// Answers one HTTP request: the whole of spec §16, whatever the
    /// transport, with the routes at the root of the path. Never fails:
    /// every problem is an error response. [`Server::service`] answers
    /// under a path prefix.
    pub async fn handle<B>(&self, req: Request<B>) -> Response<Full<Bytes>>
    where
        B: Body + Send,
        B::Data: Send,
        B::Error: std::fmt::Display,
    {
        self.respond(req, "").await
    }

    /// Answers one request for the routes under `prefix` (normalized, see
    /// [`service::normalize`]): [`Server::handle`] and [`SyncService`].
    async fn respond<B>(&self, req: Request<B>, prefix: &str) -> Response<Full<Bytes>>
    where
        B: Body + Send,
        B::Data: Send,
        B::Error: std::fmt::Display,
    {
        let started = Instant::now();
        let method = req.method().clone();
        // The path as the client sent it, prefix included: what it
        // signed (spec §8.3) and what errors name (spec §16.4).
        let path = service::path_as_sent(&req);
        // The route: the path the service is given, under its prefix
        // (an axum router strips its own prefixes before).
        let endpoint = service::route_under(req.uri().path(), prefix).and_then(http::endpoint_of);
        let mut progress = Progress::default();
        let (resp, code) = match self.answer(req, endpoint, &path, &mut progress).await {
            Ok(body) => (http::ok(body), None),
            Err(rejection) if progress.body_read => (http::error(&rejection), Some(rejection.code)),
            // The body is still on the wire, unread: close the connection.
            Err(rejection) => (http::closing(http::error(&rejection)), Some(rejection.code)),
        };
        let exchange = metrics::Exchange {
            endpoint,
            status: resp.status().as_u16(),
            code,
            duration: started.elapsed(),
            bytes_in: progress.bytes_in,
            bytes_out: resp.body().size_hint().exact().unwrap_or(0),
        };
        self.inner.metrics.record(&exchange);
        log_request(&method, &path, progress.node, &exchange);
        resp
    }

    async fn answer<B>(
        &self,
        req: Request<B>,
        endpoint: Option<Endpoint>,
        path: &str,
        progress: &mut Progress,
    ) -> Result<Bytes, Rejection>
    where
        B: Body + Send,
        B::Data: Send,
        B::Error: std::fmt::Display,
    {
        let (parts, body) = req.into_parts();
        let endpoint = endpoint.ok_or_else(|| {
            Rejection::new(
                ErrorCode::NotFound,
                format!("no endpoint has the path {path:?}"),
            )
            .with(serde_json::json!({ "path": path }))
        })?;
        if parts.method != Method::POST {
            return Err(Rejection::new(
                ErrorCode::MethodNotAllowed,
                format!("{path} takes POST, not {}", parts.method),
            ));
        }
        if !http::content_type_ok(&parts.headers) {
            return Err(Rejection::new(
                ErrorCode::UnsupportedMediaType,
                "the body must be sent as application/json (optionally with charset=utf-8)",
            ));
        }
        let config = &self.inner.config;
        let limit = match endpoint {
            Endpoint::Register => config.register_body_limit.min(config.body_limit),
            _ => config.body_limit,
        };
        http::check_declared_size(&parts.headers, body.size_hint().lower(), limit)?;
        if let (Endpoint::Register, Some(bucket)) = (endpoint, &self.inner.register_bucket) {
            bucket.take(Instant::now())?;
        }
        let headers = match endpoint.authenticated() {
            true => Some(self.precheck(&parts.headers).await?),
            false => None,
        };
        progress.body_read = true;
        let body = self.read_body(body, &parts.headers, limit).await?;
        progress.bytes_in = body.len() as u64;
        let reservation = self.reserve_answer(endpoint).await;
        let handling = self.inner.handling.acquire().await;
        let (node, answer) = self.run_endpoint(endpoint, headers, path, body).await;
        progress.node = node;
        let answer = match reservation {
            Some(reservation) => reservation.hold(answer?).await,
            None => Bytes::from(answer?),
        };
        drop(handling);
        Ok(answer)
    }

    /// A page answer's share of the answer budget, waited for before the
    /// answer is built (`budget.rs`); `None` for the endpoints whose
    /// answers are small.
    async fn reserve_answer(&self, endpoint: Endpoint) -> Option<budget::Reservation> {
        match endpoint {
            Endpoint::Pull | Endpoint::Repair | Endpoint::Query => {
                let page_bytes = self.inner.config.limits.page_bytes;
                Some(self.inner.answers.reserve(page_bytes).await)
            }
            Endpoint::Register | Endpoint::Push => None,
        }
    }

    /// Authenticates a request (all but register: A4, its MAC and nonce)
    /// and runs its endpoint, on the blocking pool: the node once
    /// authenticated, and the answer.
    async fn run_endpoint(
        &self,
        endpoint: Endpoint,
        headers: Option<AuthHeaders>,
        path: &str,
        body: Bytes,
    ) -> (Option<u64>, Result<Vec<u8>, Rejection>) {
        let inner = self.inner.clone();
        let path = path.to_owned();
        tokio::task::spawn_blocking(move || {
            let now = unix_now();
            let auth = match &headers {
                Some(headers) => {
                    let signed = SignedRequest {
                        headers,
                        method: "POST",
                        path: &path,
                        body: &body,
                    };
                    match inner.engine.authenticate(signed, now) {
                        Ok(auth) => Some(auth),
                        Err(rejection) => return (None, Err(rejection)),
                    }
                }
                None => None,
            };
            let answer = inner.engine.handle(endpoint, auth.as_ref(), &body, now);
            (auth.map(|a| a.node_id()), answer)
        })
        .await
        .unwrap_or_else(|e| (None, joined(Err(e))))
    }

    /// Reads a body once one of the `max_body_reads` permits is free;
    /// the wait counts in the body read timeout.
    async fn read_body<B>(
        &self,
        body: B,
        headers: &hyper::HeaderMap,
        limit: usize,
    ) -> Result<Bytes, Rejection>
    where
        B: Body,
        B::Error: std::fmt::Display,
    {
        let timeout = self.inner.config.body_read_timeout;
        let started = Instant::now();
        let _permit = tokio::time::timeout(timeout, self.inner.body_reads.acquire())
            .await
            .map_err(|_| http::read_timed_out(timeout))?
            .expect("the semaphore stays open");
        http::read_body(
            body,
            headers,
            limit,
            timeout.saturating_sub(started.elapsed()),
        )
        .await
    }

    /// What authentication checks before the body is read (spec §16.4):
    /// the headers (A1), then the node, timestamp and nonce (A2, A3, A5).
    async fn precheck(&self, headers: &hyper::HeaderMap) -> Result<AuthHeaders, Rejection> {
        let headers = auth::parse_headers(headers)?;
        let inner = self.inner.clone();
        joined(
            tokio::task::spawn_blocking(move || {
                inner.engine.precheck(&headers, unix_now())?;
                Ok(headers)
            })
            .await,
        )
    }
}

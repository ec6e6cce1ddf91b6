//! # dbsync-server
//!
//! The reference dbsync server: the HTTP binding of the protocol (spec
//! §16) on hyper 1 and tokio, over the engine of `dbsync-engine` and any
//! store that implements its [`Store`] trait (`dbsync-sqlite`,
//! `dbsync-postgres`).
//!
//! - [`config`]: what an operator sets, and the application's hooks;
//! - [`http`]: the route table, content type, body limits and responses;
//! - [`auth`]: the authentication headers (spec §8.2);
//! - [`example`]: the example application of spec §2.6.
//!
//! ```no_run
//! # async fn run(store: std::sync::Arc<dyn dbsync_server::Store>) -> Result<(), dbsync_server::ServerError> {
//! let mut config = dbsync_server::Config::new();
//! config.registration_token = Some("let-me-in".into());
//! let running = dbsync_server::Server::bind(store, config).await?;
//! println!("listening on http://{}", running.local_addr());
//! running.shutdown().await;
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

pub mod auth;
pub mod config;
pub mod example;
pub mod http;
pub mod limits;
mod tls;

pub use config::Config;
pub use dbsync_engine::settings::{
    AfterPushHook, BeforePushHook, Hooks, Limits, RegisterDecision, RegisterHook,
};
pub use dbsync_engine::{Endpoint, Engine, Rejection, Store, TrimReport};
pub use http::ROUTES;

use bytes::Bytes;
use dbsync_core::auth::AuthHeaders;
use dbsync_core::{ErrorCode, Schema};
use dbsync_engine::SignedRequest;
use http_body_util::Full;
use hyper::body::Body;
use hyper::{Method, Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use limits::WriteTimeout;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::net::TcpListener;
use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;

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

fn joined<T>(r: Result<Result<T, Rejection>, tokio::task::JoinError>) -> Result<T, Rejection> {
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
        if config.max_connections == 0 || config.max_body_reads == 0 {
            return Err(ServerError::Config(
                "max_connections and max_body_reads must be at least 1".into(),
            ));
        }
        if config.skew_window.as_secs() == 0 {
            return Err(ServerError::Config(
                "skew_window must be at least 1 s".into(),
            ));
        }
        let engine =
            Engine::open(store, config.settings()).map_err(|r| ServerError::Store(r.message))?;
        Ok(Server {
            inner: Arc::new(Inner {
                engine,
                body_reads: Semaphore::new(config.max_body_reads),
                config,
            }),
        })
    }

    /// Opens a server over `store`, binds `config.listen` and serves until
    /// the returned handle is shut down (or dropped).
    pub async fn bind(store: Arc<dyn Store>, config: Config) -> Result<ServerHandle, ServerError> {
        let listen = config.listen;
        let server = tokio::task::spawn_blocking(move || Server::open(store, config))
            .await
            .map_err(|e| ServerError::Config(format!("opening the store panicked: {e}")))??;
        let listener = TcpListener::bind(listen).await?;
        server.serve(listener)
    }

    /// Serves on an already bound listener.
    pub fn serve(self, listener: TcpListener) -> Result<ServerHandle, ServerError> {
        let addr = listener.local_addr()?;
        let tls = tls::acceptor(&self.inner.config)?;
        let (stop, stopped) = oneshot::channel();
        let trim = self.inner.config.trim_interval.map(|every| {
            let server = self.clone();
            tokio::spawn(async move { server.trim_every(every).await })
        });
        let https = tls.is_some();
        let task = tokio::spawn(self.clone().accept_loop(listener, tls, stopped));
        tracing::info!(%addr, https, tables = self.schema().tables.len(), "dbsync server listening");
        Ok(ServerHandle {
            addr,
            server: self,
            stop: Some(stop),
            task,
            trim,
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
    /// transport. Never fails: every problem is an error response.
    pub async fn handle<B>(&self, req: Request<B>) -> Response<Full<Bytes>>
    where
        B: Body + Send,
        B::Data: Send,
        B::Error: std::fmt::Display,
    {
        let started = Instant::now();
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        let mut body_read = false;
        let resp = match self.answer(req, &mut body_read).await {
            Ok(body) => http::ok(body),
            Err(rejection) if body_read => http::error(&rejection),
            // The body is still on the wire, unread: close the connection.
            Err(rejection) => http::closing(http::error(&rejection)),
        };
        tracing::info!(
            method = %method,
            path = ?path,
            status = resp.status().as_u16(),
            ms = started.elapsed().as_secs_f64() * 1000.0,
            "request"
        );
        resp
    }

    async fn answer<B>(&self, req: Request<B>, body_read: &mut bool) -> Result<Vec<u8>, Rejection>
    where
        B: Body + Send,
        B::Data: Send,
        B::Error: std::fmt::Display,
    {
        let (parts, body) = req.into_parts();
        let path = parts.uri.path().to_owned();
        let endpoint = http::endpoint_of(&path).ok_or_else(|| {
            Rejection::new(
                ErrorCode::NotFound,
                format!("no endpoint has the path {path:?}"),
            )
            .with(serde_json::json!({ "path": path }))
        })?;
        if parts.method != Method::POST {
            return Err(Rejection::new(
                ErrorCode::MethodNotAllowed,
                format!(
                    "{} takes POST, not {}",
                    http::path_of(endpoint),
                    parts.method
                ),
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
        let headers = match endpoint.authenticated() {
            true => Some(self.precheck(&parts.headers).await?),
            false => None,
        };
        *body_read = true;
        let body = self.read_body(body, &parts.headers, limit).await?;
        let inner = self.inner.clone();
        joined(
            tokio::task::spawn_blocking(move || {
                let now = unix_now();
                let node = match &headers {
                    Some(headers) => Some(inner.engine.authenticate(
                        SignedRequest {
                            headers,
                            method: "POST",
                            path: &path,
                            body: &body,
                        },
                        now,
                    )?),
                    None => None,
                };
                inner.engine.handle(endpoint, node, &body, now)
            })
            .await,
        )
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

    async fn accept_loop(
        self,
        listener: TcpListener,
        tls: Option<tokio_rustls::TlsAcceptor>,
        mut stopped: oneshot::Receiver<()>,
    ) {
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        // Dropped at shutdown: ends TLS handshakes still running.
        let (closing, closed) = tokio::sync::watch::channel(());
        let mut http1 = hyper::server::conn::http1::Builder::new();
        http1
            .timer(TokioTimer::new())
            .header_read_timeout(self.inner.config.header_read_timeout);
        // At most this many connections at once: the next waits in the
        // listen backlog until one ends.
        let slots = Arc::new(Semaphore::new(self.inner.config.max_connections));
        loop {
            let slot = tokio::select! {
                slot = slots.clone().acquire_owned() => slot.expect("the semaphore stays open"),
                _ = &mut stopped => break,
            };
            tokio::select! {
                accepted = listener.accept() => {
                    let (stream, peer) = match accepted {
                        Ok(x) => x,
                        Err(e) => {
                            // Out of file descriptors and the like: wait a little.
                            tracing::warn!(error = %e, "accept failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    let conn = Connection { stream, peer, slot, tls: tls.clone(), closed: closed.clone() };
                    tokio::spawn(self.clone().serve_connection(conn, http1.clone(), graceful.watcher()));
                }
                _ = &mut stopped => break,
            }
        }
        drop(listener);
        drop(closing);
        let grace = self.inner.config.shutdown_grace;
        if tokio::time::timeout(grace, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!(
                ?grace,
                "requests still running at the end of the grace period were cut off"
            );
        }
        tracing::info!("dbsync server stopped");
    }

    /// Serves one accepted connection (after its TLS handshake), with the
    /// write timeout; its slot is given back when it ends.
    async fn serve_connection(
        self,
        conn: Connection,
        http1: hyper::server::conn::http1::Builder,
        watcher: hyper_util::server::graceful::Watcher,
    ) {
        let _ = conn.stream.set_nodelay(true);
        let config = &self.inner.config;
        let (write_timeout, handshake_timeout) = (config.write_timeout, config.header_read_timeout);
        let server = self.clone();
        let service = hyper::service::service_fn(move |req| {
            let server = server.clone();
            async move { Ok::<_, Infallible>(server.handle(req).await) }
        });
        let served = match conn.tls {
            None => {
                let io = TokioIo::new(WriteTimeout::new(conn.stream, write_timeout));
                watcher.watch(http1.serve_connection(io, service)).await
            }
            Some(acceptor) => {
                let Some(stream) =
                    tls::handshake(&acceptor, conn.stream, handshake_timeout, conn.closed).await
                else {
                    return;
                };
                let io = TokioIo::new(WriteTimeout::new(stream, write_timeout));
                watcher.watch(http1.serve_connection(io, service)).await
            }
        };
        if let Err(e) = served {
            tracing::debug!(peer = %conn.peer, error = %e, "connection ended with an error");
        }
        drop(conn.slot);
    }
}

/// An accepted connection and what serving it needs.
struct Connection {
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    slot: OwnedSemaphorePermit,
    tls: Option<tokio_rustls::TlsAcceptor>,
    closed: tokio::sync::watch::Receiver<()>,
}

/// A running server. Dropping it stops the server too (without waiting).
pub struct ServerHandle {
    addr: SocketAddr,
    server: Server,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
    trim: Option<JoinHandle<()>>,
}

impl ServerHandle {
    /// The address the server listens on (with the real port when the
    /// configuration asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server, for [`Server::trim`] and the like.
    pub fn server(&self) -> &Server {
        &self.server
    }

    /// Stops accepting connections, lets the requests in flight finish
    /// (up to `shutdown_grace`), and returns when the server has stopped.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(trim) = self.trim.take() {
            trim.abort();
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        if let Some(trim) = &self.trim {
            trim.abort();
        }
        // Dropping `stop` ends the accept loop.
    }
}

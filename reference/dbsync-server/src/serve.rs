//! Serving connections: accepting them (at most `max_connections` at
//! once), the TLS handshake, HTTP/1.1 with the header read and write
//! timeouts, the background trim and purge, and shutdown with a grace period —
//! for the dbsync endpoints alone ([`Server::serve`]) or for an
//! application's service that mounts them ([`Server::serve_with`]).

use crate::limits::WriteTimeout;
use crate::metrics::Limit;
use crate::{head, scrape, tls, Server, ServerError};
use hyper::body::{Body, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use tower_service::Service;

/// The error type a response body of an application may have.
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A tower service [`Server::serve_with`] can run: it answers hyper's
/// requests with bodies of type `B` and never fails (an error is an
/// answer). Every such service is one.
pub trait HttpApp<B>:
    Service<Request<Incoming>, Response = Response<B>, Error = Infallible, Future: Send + 'static>
    + Clone
    + Send
    + 'static
{
}

impl<S, B> HttpApp<B> for S where
    S: Service<
            Request<Incoming>,
            Response = Response<B>,
            Error = Infallible,
            Future: Send + 'static,
        > + Clone
        + Send
        + 'static
{
}

/// The body of an answer [`Server::serve_with`] can send. Every such body
/// is one.
pub trait AnswerBody: Body<Data: Send, Error: Into<BoxError>> + Send + 'static {}

impl<B> AnswerBody for B where B: Body<Data: Send, Error: Into<BoxError>> + Send + 'static {}

impl Server {
    /// Opens a server over `store`, binds `config.listen` and serves until
    /// the returned handle is shut down (or dropped).
    pub async fn bind(
        store: Arc<dyn crate::Store>,
        config: crate::Config,
    ) -> Result<ServerHandle, ServerError> {
        let listen = config.listen;
        let server = tokio::task::spawn_blocking(move || Server::open(store, config))
            .await
            .map_err(|e| ServerError::Config(format!("opening the store panicked: {e}")))??;
        let listener = TcpListener::bind(listen).await?;
        server.serve(listener)
    }

    /// Serves the dbsync endpoints at the root of an already bound
    /// listener (HTTPS when the configuration names a certificate).
    pub fn serve(self, listener: TcpListener) -> Result<ServerHandle, ServerError> {
        let app = self.service("");
        self.serve_with(listener, app)
    }

    /// Serves `app`, an application's own tower service that mounts this
    /// server (through [`Server::service`], or `Server::router` with the
    /// feature `axum`), on an
    /// already bound listener, with everything this server's
    /// configuration sets for connections: HTTPS when it names a
    /// certificate, `max_connections`, the header read and write
    /// timeouts, the background trim and the shutdown grace period.
    ///
    /// Requests outside the mounted prefix are the application's, and
    /// get whatever it answers.
    pub fn serve_with<S, RB>(
        self,
        listener: TcpListener,
        app: S,
    ) -> Result<ServerHandle, ServerError>
    where
        S: HttpApp<RB>,
        RB: AnswerBody,
    {
        let addr = listener.local_addr()?;
        let tls = tls::acceptor(&self.inner.config)?;
        let (stop, stopped) = oneshot::channel();
        let trim = self.inner.config.trim_interval.map(|every| {
            let server = self.clone();
            tokio::spawn(async move { server.trim_every(every).await })
        });
        let purge = self.spawn_purge();
        let https = tls.is_some();
        let metrics = scrape::start(&self)?;
        let task = tokio::spawn(self.clone().accept_loop(listener, tls, stopped, app));
        tracing::info!(%addr, https, tables = self.schema().tables.len(), "dbsync server listening");
        Ok(ServerHandle {
            addr,
            server: self,
            stop: Some(stop),
            task,
            trim,
            purge,
            metrics,
        })
    }

    async fn accept_loop<S, RB>(
        self,
        listener: TcpListener,
        tls: Option<tokio_rustls::TlsAcceptor>,
        mut stopped: oneshot::Receiver<()>,
        app: S,
    ) where
        S: HttpApp<RB>,
        RB: AnswerBody,
    {
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        // Dropped at shutdown: ends TLS handshakes still running.
        let (closing, closed) = tokio::sync::watch::channel(());
        let mut http1 = hyper::server::conn::http1::Builder::new();
        // The header read time is kept beneath hyper by
        // `head::HeadGuard`, which answers a late head with 408.
        http1.timer(TokioTimer::new()).header_read_timeout(None);
        // At most this many connections at once: the next waits in the
        // listen backlog until one ends.
        let slots = Arc::new(Semaphore::new(self.inner.config.max_connections));
        loop {
            if slots.available_permits() == 0 {
                self.inner.metrics.count_limit(Limit::ConnectionCap, 1);
            }
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
                    let service = TowerToHyperService::new(app.clone());
                    tokio::spawn(self.clone().serve_connection(conn, http1.clone(), graceful.watcher(), service));
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
    async fn serve_connection<S, RB>(
        self,
        conn: Connection,
        http1: hyper::server::conn::http1::Builder,
        watcher: hyper_util::server::graceful::Watcher,
        service: TowerToHyperService<S>,
    ) where
        S: HttpApp<RB>,
        RB: AnswerBody,
    {
        let _ = conn.stream.set_nodelay(true);
        let _open = self.inner.metrics.connection_opened();
        let config = &self.inner.config;
        let handshake_timeout = config.header_read_timeout;
        let answers = Arc::new(head::Answers::default());
        let service = head::watch(service, answers.clone());
        let served = match conn.tls {
            None => {
                let io = guarded(conn.stream, config, answers, &self.inner.metrics);
                watcher.watch(http1.serve_connection(io, service)).await
            }
            Some(acceptor) => {
                let Some(stream) =
                    tls::handshake(&acceptor, conn.stream, handshake_timeout, conn.closed).await
                else {
                    return;
                };
                let io = guarded(stream, config, answers, &self.inner.metrics);
                watcher.watch(http1.serve_connection(io, service)).await
            }
        };
        if let Err(e) = served {
            tracing::debug!(peer = %conn.peer, error = %e, "connection ended with an error");
        }
        drop(conn.slot);
    }
}

/// The stream hyper serves: `stream` with the write timeout, beneath the
/// head guard (spec §16.4 H0).
fn guarded<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    stream: S,
    config: &crate::Config,
    answers: Arc<head::Answers>,
    metrics: &crate::Metrics,
) -> TokioIo<head::HeadGuard<WriteTimeout<S>>> {
    let stream = WriteTimeout::new(stream, config.write_timeout)
        .counting(metrics.limit_counter(Limit::WriteTimeout));
    let guard = head::HeadGuard::new(stream, answers, config.header_read_timeout)
        .counting(metrics.limit_counter(Limit::HeaderTimeout));
    TokioIo::new(guard)
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
    /// The background purge of nodes never seen (`purge.rs`).
    purge: Option<JoinHandle<()>>,
    /// Stopped by `shutdown` (awaited) or when the handle is dropped.
    metrics: Option<scrape::MetricsListener>,
}

impl ServerHandle {
    /// The address the server listens on (with the real port when the
    /// configuration asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The address the metrics listener listens on, when
    /// [`crate::Config::metrics_listen`] names one (with the real port).
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(|m| m.addr)
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
        if let Some(purge) = self.purge.take() {
            purge.abort();
        }
        let _ = (&mut self.task).await;
        if let Some(metrics) = self.metrics.take() {
            metrics.stop().await;
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        if let Some(trim) = &self.trim {
            trim.abort();
        }
        if let Some(purge) = &self.purge {
            purge.abort();
        }
        // Dropping `stop` ends the accept loop.
    }
}

impl std::fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandle")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

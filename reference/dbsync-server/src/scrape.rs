//! The metrics listener: `GET /metrics` in the Prometheus text format on
//! an address of its own ([`crate::Config::metrics_listen`], `dbsync
//! serve --metrics ADDR`), started and stopped with the server, so the
//! metrics need not be reachable by the nodes.

use crate::limits::WriteTimeout;
use crate::metrics::CONTENT_TYPE;
use crate::{joined, Rejection, Server, ServerError};
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{ALLOW, CONTENT_TYPE as CONTENT_TYPE_HEADER};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

/// The path the metrics are served at.
pub const METRICS_PATH: &str = "/metrics";

/// At most this many scrapes at once: the listener is for a few
/// monitoring systems, not for the public.
const MAX_SCRAPE_CONNECTIONS: usize = 16;

/// A running metrics listener; dropping it stops accepting scrapes.
pub(crate) struct MetricsListener {
    pub(crate) addr: SocketAddr,
    task: JoinHandle<()>,
}

impl MetricsListener {
    /// Stops accepting scrapes; returns once the address is closed.
    pub(crate) async fn stop(mut self) {
        self.task.abort();
        let _ = (&mut self.task).await;
    }
}

impl Drop for MetricsListener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    /// The metrics as a scrape sees them, in the Prometheus text format
    /// ([`crate::metrics::CONTENT_TYPE`]): the store's gauges (latest
    /// version, registered and stale nodes) read now, then every family.
    pub async fn scrape(&self) -> Result<String, Rejection> {
        let inner = self.inner.clone();
        let census = joined(tokio::task::spawn_blocking(move || inner.engine.census()).await)?;
        self.inner.metrics.set_census(&census);
        Ok(self.inner.metrics.encode())
    }
}

/// Binds the configuration's metrics address, if it names one, and
/// serves scrapes there in the background.
pub(crate) fn start(server: &Server) -> Result<Option<MetricsListener>, ServerError> {
    let Some(addr) = server.inner.config.metrics_listen else {
        return Ok(None);
    };
    let bound = std::net::TcpListener::bind(addr)?;
    bound.set_nonblocking(true)?;
    let listener = TcpListener::from_std(bound)?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(accept_loop(server.clone(), listener));
    tracing::info!(%addr, path = METRICS_PATH, "metrics listening");
    Ok(Some(MetricsListener { addr, task }))
}

async fn accept_loop(server: Server, listener: TcpListener) {
    let config = &server.inner.config;
    let mut http1 = hyper::server::conn::http1::Builder::new();
    http1
        .timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout);
    let slots = Arc::new(Semaphore::new(MAX_SCRAPE_CONNECTIONS));
    loop {
        let slot = slots.clone().acquire_owned().await.expect("never closed");
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!(error = %e, "metrics accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let io = TokioIo::new(WriteTimeout::new(stream, config.write_timeout));
        let server = server.clone();
        let connection = http1.serve_connection(
            io,
            hyper::service::service_fn(move |req| {
                let server = server.clone();
                async move { Ok::<_, Infallible>(answer(&server, &req).await) }
            }),
        );
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "metrics connection ended with an error");
            }
            drop(slot);
        });
    }
}

fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(body.into()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        CONTENT_TYPE_HEADER,
        hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

/// `GET /metrics` (or `HEAD`): the metrics; anything else: 404 or 405.
async fn answer(server: &Server, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    if req.uri().path() != METRICS_PATH {
        return text(
            StatusCode::NOT_FOUND,
            "not found: the metrics are at /metrics\n",
        );
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut resp = text(StatusCode::METHOD_NOT_ALLOWED, "/metrics takes GET\n");
        resp.headers_mut()
            .insert(ALLOW, hyper::header::HeaderValue::from_static("GET, HEAD"));
        return resp;
    }
    match server.scrape().await {
        Ok(metrics) => {
            let mut resp = text(StatusCode::OK, metrics);
            resp.headers_mut().insert(
                CONTENT_TYPE_HEADER,
                hyper::header::HeaderValue::from_static(CONTENT_TYPE),
            );
            resp
        }
        Err(rejection) => {
            // The store's own error is logged where it happened.
            tracing::error!(code = %rejection.code, "a scrape could not read the store");
            text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the server's database could not be read\n",
            )
        }
    }
}

//! The endpoints as a tower [`Service`]: what an application's own HTTP
//! service mounts under a path prefix, beside its own routes.
//!
//! A server mounted under a prefix has the prefix in its base URL (spec
//! §16.1): a node of a server mounted at `/sync` on
//! `https://app.example.com` is given `https://app.example.com/sync`,
//! sends `POST /sync/v1/push` and signs that path, prefix included
//! (spec §8.3). Two paths therefore matter for each request:
//!
//! - the route: the request's path (as the service is given it) under
//!   the service's prefix;
//! - the path as the client sent it, which it signed and which errors
//!   name: the request's path too, unless an axum router nested the
//!   service and stripped a prefix from it (feature `axum`: axum's
//!   `OriginalUri` keeps the path as sent).
//!
//! Every request goes through [`Server::handle`]'s checks, body limits,
//! body read timeout and body-read permits included. What belongs to the
//! connection (TLS, at most `max_connections`, the header read timeout,
//! the write timeout) is the job of whatever serves the connections:
//! [`Server::serve_with`] applies all of it to an application's service.

use crate::Server;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Body;
use hyper::{Request, Response};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower_service::Service;

/// The dbsync endpoints under a path prefix, as a tower [`Service`]: made
/// by [`Server::service`]. Cheap to clone; every clone answers for the
/// same [`Server`].
///
/// It answers every request it is given: a dbsync route under the prefix
/// is served as spec §16 says; any other path (under the prefix or not)
/// is answered `not_found` (404) in the protocol's error form, its
/// `details.path` the path as the client sent it.
#[derive(Clone)]
pub struct SyncService {
    server: Server,
    prefix: Arc<str>,
}

impl SyncService {
    /// The prefix the routes are served under: empty for the root, else
    /// a path that starts with `/` and does not end with one (`/sync`).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The server answering the requests.
    pub fn server(&self) -> &Server {
        &self.server
    }
}

impl std::fmt::Debug for SyncService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncService")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl<B> Service<Request<B>> for SyncService
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: std::fmt::Display,
{
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // Always ready: requests wait for their turn inside (body-read
        // permits, the blocking pool), within their timeouts.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let service = self.clone();
        Box::pin(async move { Ok(service.server.respond(req, &service.prefix).await) })
    }
}

impl Server {
    /// The endpoints as a tower [`Service`] answering under `prefix`
    /// (`"/sync"`; `""` or `"/"` for the root, as [`Server::handle`]
    /// answers). A missing leading `/` is added and trailing ones are
    /// dropped: `"sync/"` is `"/sync"`. The prefix is compared with the
    /// request's path as the service is given it, so it must be given the
    /// path as the client sent it (percent-encoded as sent): a router that
    /// strips a prefix before calling it breaks the signatures, except
    /// axum's (`Server::router`, feature `axum`, nests `service("")`).
    ///
    /// The nodes of a server mounted at `/sync` on
    /// `https://app.example.com` are given the base URL
    /// `https://app.example.com/sync` (spec §16.1).
    ///
    /// In a hyper service of the application's own, beside its routes:
    ///
    /// ```no_run
    /// use bytes::Bytes;
    /// use http_body_util::{Either, Full};
    /// use hyper::{body::Incoming, Request, Response};
    /// use tower_service::Service;
    ///
    /// async fn app(
    ///     mut sync: dbsync_server::SyncService,
    ///     req: Request<Incoming>,
    /// ) -> Response<Either<Full<Bytes>, String>> {
    ///     if req.uri().path().starts_with("/sync/") {
    ///         let Ok(answer) = sync.call(req).await;
    ///         return answer.map(Either::Left);
    ///     }
    ///     Response::new(Either::Right("the app's own answer".into()))
    /// }
    /// ```
    pub fn service(&self, prefix: &str) -> SyncService {
        SyncService {
            server: self.clone(),
            prefix: normalize(prefix).into(),
        }
    }
}

/// `prefix` as [`SyncService`] keeps it: empty, or `/a/b` (a leading
/// `/`, no trailing one).
pub(crate) fn normalize(prefix: &str) -> String {
    let trimmed = prefix.trim_end_matches('/');
    match trimmed {
        "" => String::new(),
        p if p.starts_with('/') => p.to_owned(),
        p => format!("/{p}"),
    }
}

/// The part of `path` after `prefix` (a normalized one), when `path` is
/// under it: `/v1/push` of `/sync/v1/push` under `/sync`; `None` for
/// `/syncing/v1/push` or `/other`.
pub(crate) fn route_under<'p>(path: &'p str, prefix: &str) -> Option<&'p str> {
    let rest = path.strip_prefix(prefix)?;
    (rest.is_empty() || rest.starts_with('/')).then_some(rest)
}

/// The path of `req` as the client sent it, without the query string:
/// the one axum kept before a `nest_service` stripped its prefix, if any.
pub(crate) fn path_as_sent<B>(req: &Request<B>) -> String {
    #[cfg(feature = "axum")]
    if let Some(axum::extract::OriginalUri(uri)) = req.extensions().get() {
        return uri.path().to_owned();
    }
    req.uri().path().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_gets_one_leading_slash_and_no_trailing_one() {
        assert_eq!(normalize(""), "");
        assert_eq!(normalize("/"), "");
        assert_eq!(normalize("//"), "");
        assert_eq!(normalize("/sync"), "/sync");
        assert_eq!(normalize("sync/"), "/sync");
        assert_eq!(normalize("/api/sync//"), "/api/sync");
    }

    #[test]
    fn a_path_is_under_a_prefix_only_at_a_segment_boundary() {
        assert_eq!(route_under("/sync/v1/push", "/sync"), Some("/v1/push"));
        assert_eq!(route_under("/sync", "/sync"), Some(""));
        assert_eq!(route_under("/sync/", "/sync"), Some("/"));
        assert_eq!(route_under("/syncing/v1/push", "/sync"), None);
        assert_eq!(route_under("/v1/push", "/sync"), None);
        assert_eq!(route_under("/v1/push", ""), Some("/v1/push"));
    }
}

//! The endpoints as an axum [`Router`] (feature `axum`), to merge into an
//! application's own router.

use crate::service::normalize;
use crate::{Server, ROUTES};
use axum::Router;

impl Server {
    /// An axum router serving the dbsync endpoints under `prefix`
    /// (`"/sync"`; a missing leading `/` is added, trailing ones dropped):
    /// merge it into the application's router. Every path under the
    /// prefix is the server's (a path that is no dbsync route is answered
    /// `not_found` in the protocol's error form); every other path stays
    /// the application's.
    ///
    /// `prefix` is where the router puts the endpoints, relative to where
    /// the router itself is placed: nested in turn with `.nest("/api",
    /// ...)`, the endpoints are at `/api/sync/v1/...` and the nodes' base
    /// URL ends in `/api/sync` (spec §16.1). The path a node signed is read
    /// from axum's `OriginalUri`, which axum's outermost router records.
    ///
    /// At the root (`""` or `"/"`) it routes the five endpoints only, and
    /// leaves every other path, and the fallback, to the application.
    ///
    /// ```no_run
    /// # fn run(server: dbsync_server::Server) {
    /// use dbsync_server::axum::{routing::get, Router};
    /// let app: Router = Router::new()
    ///     .route("/health", get(|| async { "ok" }))
    ///     .merge(server.router("/sync"));
    /// // Nodes are given https://<host>/sync as their server URL.
    /// # let _ = app;
    /// # }
    /// ```
    pub fn router<S>(&self, prefix: &str) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        // axum strips the prefix before the service sees the path: the
        // service answers at its root, and reads the signed path from
        // `OriginalUri`.
        let service = self.service("");
        match normalize(prefix).as_str() {
            "" => ROUTES.iter().fold(Router::new(), |router, (path, _)| {
                router.route_service(path, service.clone())
            }),
            prefix => Router::new().nest_service(prefix, service),
        }
    }
}

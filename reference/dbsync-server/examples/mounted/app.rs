//! The application of the `mounted` example, shared with its test
//! (`tests/mounted.rs`): a notes app whose own routes and the dbsync
//! endpoints (mounted at [`SYNC_PREFIX`]) are served on one port, from
//! one SQLite file.

use dbsync_server::axum::http::{header, StatusCode};
use dbsync_server::axum::response::{IntoResponse, Response};
use dbsync_server::axum::routing::get;
use dbsync_server::axum::Router;
use dbsync_server::{Server, ServerError, ServerHandle};
use serde_json::json;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The application's table: also the synced one, so a node's database
/// is made with the same statement.
pub const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS note (
  id    INTEGER PRIMARY KEY AUTOINCREMENT,
  title TEXT NOT NULL,
  body  TEXT NOT NULL DEFAULT ''
);";

/// Where dbsync is mounted: nodes get `http(s)://HOST:PORT/sync` as their
/// server URL.
pub const SYNC_PREFIX: &str = "/sync";

/// How the app is started.
pub struct Options {
    /// The app's SQLite file (created with [`SCHEMA`] if missing).
    pub db: PathBuf,
    /// Where to listen (port 0: a free one).
    pub listen: SocketAddr,
    /// The token a node registers with.
    pub token: String,
    /// HTTPS with this certificate chain and key (PEM files).
    pub tls: Option<(PathBuf, PathBuf)>,
}

/// Opens the app's database and serves its routes beside dbsync's, until
/// the handle is shut down.
pub async fn start(options: Options) -> Result<ServerHandle, ServerError> {
    let Options {
        db,
        listen,
        token,
        tls,
    } = options;
    let path = db.clone();
    // Opening the store reads and prepares the database: blocking work.
    let server = tokio::task::spawn_blocking(move || {
        dbsync_sqlite::open(&path)
            .and_then(|conn| conn.execute_batch(SCHEMA))
            .map_err(|e| ServerError::Store(e.to_string()))?;
        let store = dbsync_sqlite::SqliteStore::open(&path, &[], Default::default())
            .map_err(|e| ServerError::Store(e.to_string()))?;
        let mut builder = Server::builder(Arc::new(store))
            .registration_token(token)
            .after_push(|node, push, answer| {
                println!(
                    "node {node} pushed {} ops: version {}",
                    push.ops.len(),
                    answer.version
                )
            });
        if let Some((cert, key)) = tls {
            builder = builder.tls(cert, key);
        }
        builder.build()
    })
    .await
    .map_err(|e| ServerError::Config(format!("opening the store failed: {e}")))??;
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let app = app(&server, db);
    server.serve_with(listener, app)
}

/// The app's routes, and dbsync's under [`SYNC_PREFIX`].
pub fn app(server: &Server, db: PathBuf) -> Router {
    Router::new()
        .route("/health", get(|| async { "ok\n" }))
        .route("/api/notes", get(move || notes(db.clone())))
        .merge(server.router(SYNC_PREFIX))
}

/// `GET /api/notes`: every note, as JSON, read from the app's database
/// (the notes nodes synced included).
async fn notes(db: PathBuf) -> Response {
    match tokio::task::spawn_blocking(move || read_notes(&db)).await {
        Ok(Ok(notes)) => (
            [(header::CONTENT_TYPE, "application/json")],
            notes.to_string(),
        )
            .into_response(),
        _ => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "could not read the notes\n",
        )
            .into_response(),
    }
}

fn read_notes(db: &Path) -> rusqlite::Result<serde_json::Value> {
    let conn = dbsync_sqlite::open(db)?;
    let mut stmt = conn.prepare("SELECT id, title, body FROM note ORDER BY id")?;
    let notes = stmt
        .query_map([], |row| {
            Ok(json!({
                "id": row.get::<_, i64>(0)?,
                "title": row.get::<_, String>(1)?,
                "body": row.get::<_, String>(2)?,
            }))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(json!(notes))
}

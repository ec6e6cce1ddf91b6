//! The server store a `--db` names: a PostgreSQL URL
//! (`postgres://USER@HOST:PORT/DB`) or a SQLite file.

use dbsync_server::Store;
use dbsync_sqlite::{SqliteStore, TableSpec};
use std::path::PathBuf;
use std::sync::Arc;

/// Where a server's database is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerDb {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL.
    Postgres(String),
}

impl ServerDb {
    /// Reads a `--db` value: a `postgres://` or `postgresql://` URL, or a path.
    pub fn parse(db: &str) -> ServerDb {
        if db.starts_with("postgres://") || db.starts_with("postgresql://") {
            ServerDb::Postgres(db.to_string())
        } else {
            ServerDb::Sqlite(PathBuf::from(db))
        }
    }

    /// How to show it: a path, or a URL without its password.
    pub fn display(&self) -> String {
        match self {
            ServerDb::Sqlite(p) => p.display().to_string(),
            ServerDb::Postgres(url) => match (url.find("://"), url.find('@')) {
                (Some(s), Some(at)) if url[s + 3..at].contains(':') => {
                    let user_end = s + 3 + url[s + 3..at].find(':').unwrap_or(0);
                    format!("{}:***{}", &url[..user_end], &url[at..])
                }
                _ => url.clone(),
            },
        }
    }
}

fn shared<S: Store + 'static>(s: S) -> Arc<dyn Store> {
    Arc::new(s)
}

/// Opens the store of `db`, tracking `specs` (every user table when
/// empty). Blocking.
pub fn open(db: &ServerDb, specs: &[TableSpec]) -> Result<Arc<dyn Store>, String> {
    match db {
        ServerDb::Sqlite(path) => SqliteStore::open(path, specs, Default::default())
            .map(shared)
            .map_err(|e| e.to_string()),
        ServerDb::Postgres(url) => {
            dbsync_postgres::PgStore::connect(url, specs, Default::default())
                .map(shared)
                .map_err(|e| e.to_string())
        }
    }
}

/// Opens a store served before, with the tables it already tracks.
/// Blocking.
pub fn open_served(db: &ServerDb) -> Result<Arc<dyn Store>, String> {
    match db {
        ServerDb::Sqlite(path) => SqliteStore::open_tracked(path, Default::default())
            .map(shared)
            .map_err(|e| e.to_string()),
        ServerDb::Postgres(url) => {
            dbsync_postgres::PgStore::connect_tracked(url, Default::default())
                .map(shared)
                .map_err(|e| e.to_string())
        }
    }
}

/// The user tables of `db` (dbsync's own left out).
pub async fn user_tables(db: &ServerDb) -> Result<Vec<String>, String> {
    match db {
        ServerDb::Sqlite(path) => crate::database::open(path)
            .and_then(|c| dbsync_sqlite::introspect::user_tables(&c))
            .map_err(|e| e.to_string()),
        ServerDb::Postgres(url) => {
            let (mut client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
                .await
                .map_err(|e| e.to_string())?;
            let connection = tokio::spawn(connection);
            let tables = match client.transaction().await {
                Ok(tx) => dbsync_postgres::catalog::user_tables(&tx).await,
                Err(e) => Err(e),
            };
            drop(client);
            let _ = connection.await;
            tables.map_err(|e| e.to_string())
        }
    }
}

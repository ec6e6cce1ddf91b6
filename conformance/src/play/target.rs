//! The server a history runs against: the reference server, started in
//! process for each history over that history's tables and page size
//! (`--reference`), or a server the runner is given the base URL of
//! (`--server URL`), which serves the kit's fixed history tables.

use crate::ddl;
use crate::history::{Case, Failure};
use crate::replica;
use dbsync_server::{Config, Server, ServerHandle, Store};
use dbsync_sqlite::{SqliteStore, StoreOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The registration token of the reference server the runner starts.
pub const REFERENCE_TOKEN: &str = "conformance-history-token";

/// Which server histories run against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerChoice {
    /// The reference server, in process, one per history.
    Reference,
    /// A running server at `base`, with `token` for registration (none:
    /// open registration).
    Url { base: String, token: Option<String> },
}

impl ServerChoice {
    /// Whether the runner gives each history its own tables (else the
    /// server serves the fixed history tables).
    pub fn generated_schemas(&self) -> bool {
        matches!(self, ServerChoice::Reference)
    }
}

/// The server of one history.
pub struct Target {
    base: String,
    token: Option<String>,
    reference: Option<Reference>,
}

/// The reference server the runner started: its process and what it
/// needs to start again on the same database.
struct Reference {
    handle: ServerHandle,
    config: Config,
    db: PathBuf,
    specs: Vec<dbsync_core::TableSpec>,
}

impl Reference {
    /// Serves the tables `specs` of `db`.
    async fn start(
        db: PathBuf,
        specs: Vec<dbsync_core::TableSpec>,
        config: Config,
    ) -> Result<Reference, Failure> {
        let store = SqliteStore::open(&db, &specs, StoreOptions::default())
            .map_err(|e| failed("opening the reference server's store")(&e))?;
        let store: Arc<dyn Store> = Arc::new(store);
        let handle = Server::bind(store, config.clone())
            .await
            .map_err(|e| failed("starting the reference server")(&e))?;
        Ok(Reference {
            handle,
            config,
            db,
            specs,
        })
    }
}

fn failed(what: &str) -> impl Fn(&dyn std::fmt::Display) -> Failure + '_ {
    move |e| Failure::new(format!("{what}: {e}"))
}

impl Target {
    /// The server for `case`: for the reference, a new database in `dir`
    /// with the case's tables and its page size.
    pub async fn start(choice: &ServerChoice, case: &Case, dir: &Path) -> Result<Target, Failure> {
        let ServerChoice::Url { base, token } = choice else {
            return Target::reference(case, dir).await;
        };
        Ok(Target {
            base: base.trim_end_matches('/').to_string(),
            token: token.clone(),
            reference: None,
        })
    }

    async fn reference(case: &Case, dir: &Path) -> Result<Target, Failure> {
        let schema = case.schema();
        let db = dir.join("server.db");
        let conn = dbsync_sqlite::open(&db).map_err(|e| failed("the server database")(&e))?;
        conn.execute_batch(&ddl::create_all_in(case.sqlite_dialect(), &schema))
            .map_err(|e| failed("the server's tables")(&e))?;
        drop(conn);
        let mut config = Config::new();
        config.registration_token = Some(REFERENCE_TOKEN.into());
        config.limits.pull_page_ops = usize::from(case.page_ops.max(1));
        // Between steps no request is in flight: a restart need not wait.
        config.shutdown_grace = Duration::from_millis(50);
        let reference = Reference::start(db, replica::specs(&schema), config).await?;
        Ok(Target {
            base: format!("http://{}", reference.handle.local_addr()),
            token: Some(REFERENCE_TOKEN.into()),
            reference: Some(reference),
        })
    }

    /// The server's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The registration token.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// Restarts the server's process, when the runner started it: `false`
    /// for a server at a URL, which the runner cannot restart.
    pub async fn restart(&mut self) -> Result<bool, Failure> {
        let Some(Reference {
            handle,
            config,
            db,
            specs,
        }) = self.reference.take()
        else {
            return Ok(false);
        };
        handle.shutdown().await;
        let reference = Reference::start(db, specs, config).await?;
        self.base = format!("http://{}", reference.handle.local_addr());
        self.reference = Some(reference);
        Ok(true)
    }

    /// Stops the server the runner started.
    pub async fn stop(mut self) {
        if let Some(reference) = self.reference.take() {
            reference.handle.shutdown().await;
        }
    }
}

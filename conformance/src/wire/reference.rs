//! The reference server, started in process on 127.0.0.1:0 over the
//! example application of spec §2.6 — in a SQLite file, or in a fresh
//! PostgreSQL database — for `dbsync-conformance server --reference` and
//! the kit's own tests.
//!
//! Its hooks follow the kit's convention (see `conformance/README.md`):
//! the register and before-push hooks refuse a request whose `app_data`
//! has `"conformance_reject": true`.

use super::run::Target;
use dbsync_core::protocol::AppData;
use dbsync_core::protocol::{PushRequest, RegisterRequest};
use dbsync_postgres::scratch::ScratchDb;
use dbsync_server::{Config, Hooks, RegisterDecision, Server, ServerHandle, Store};
use std::sync::Arc;

pub use dbsync_server::example::{
    tables as example_tables, APP_SQL as EXAMPLE_APP_SQL,
    APP_SQL_POSTGRES as EXAMPLE_APP_SQL_POSTGRES,
};

/// The store the reference server runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum StoreKind {
    /// A SQLite file in a temporary folder.
    #[default]
    Sqlite,
    /// A fresh database on the PostgreSQL of `DBSYNC_TEST_POSTGRES`.
    Postgres,
}

/// What the reference's database lives in; dropped with it (only ever
/// held, never read).
#[allow(dead_code, reason = "held for its Drop, which removes the database")]
enum Holder {
    Folder(tempfile::TempDir),
    Database(ScratchDb),
}

/// The example application in a fresh database of `kind`, and its store.
fn example_store(kind: StoreKind) -> Result<(Holder, Arc<dyn Store>), String> {
    match kind {
        StoreKind::Sqlite => {
            let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
            let db = dir.path().join("server.db");
            let conn = dbsync_sqlite::open(&db).map_err(|e| e.to_string())?;
            conn.execute_batch(EXAMPLE_APP_SQL)
                .map_err(|e| e.to_string())?;
            let store =
                dbsync_sqlite::SqliteStore::open(&db, &example_tables(), Default::default())
                    .map_err(|e| e.to_string())?;
            Ok((Holder::Folder(dir), Arc::new(store)))
        }
        StoreKind::Postgres => {
            let db = ScratchDb::create("dbsync_conformance")?;
            db.execute(dbsync_postgres::DOMAINS_SQL)?;
            db.execute(EXAMPLE_APP_SQL_POSTGRES)?;
            let store =
                dbsync_postgres::PgStore::connect(&db.url(), &example_tables(), Default::default())
                    .map_err(|e| e.to_string())?;
            Ok((Holder::Database(db), Arc::new(store)))
        }
    }
}

/// The registration token of the in-process server.
pub const TOKEN: &str = "conformance-kit-token";

fn asks_for_refusal(app_data: &Option<AppData>) -> bool {
    app_data
        .as_ref()
        .and_then(|a| a.get("conformance_reject"))
        .and_then(|v| v.as_bool())
        == Some(true)
}

/// A running reference server and what the runner needs to drive it.
pub struct Reference {
    pub handle: ServerHandle,
    pub target: Target,
    _holder: Holder,
}

impl Reference {
    /// Starts the server over a fresh SQLite database.
    pub async fn start() -> Result<Reference, String> {
        Reference::start_on(StoreKind::Sqlite).await
    }

    /// Starts the server over a fresh database of `kind`.
    pub async fn start_on(kind: StoreKind) -> Result<Reference, String> {
        let (holder, store) = tokio::task::spawn_blocking(move || example_store(kind))
            .await
            .map_err(|e| e.to_string())??;
        let mut config = Config::new();
        config.registration_token = Some(TOKEN.into());
        config.hooks = Hooks {
            register: Some(Arc::new(|r: &RegisterRequest| {
                if asks_for_refusal(&r.app_data) {
                    Err("the conformance kit asked for a refusal".into())
                } else {
                    Ok(RegisterDecision::default())
                }
            })),
            before_push: Some(Arc::new(|_node: u64, r: &PushRequest| {
                if asks_for_refusal(&r.app_data) {
                    Err("the conformance kit asked for a refusal".into())
                } else {
                    Ok(())
                }
            })),
            after_push: None,
        };
        let handle = Server::bind(store, config)
            .await
            .map_err(|e| e.to_string())?;
        let target = Target {
            base: format!("http://{}", handle.local_addr()),
            token: Some(TOKEN.into()),
            capabilities: ["hooks", "trim", "token_registration"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            control: Some(handle.server().clone()),
        };
        Ok(Reference {
            handle,
            target,
            _holder: holder,
        })
    }

    pub async fn stop(self) {
        self.handle.shutdown().await;
    }
}

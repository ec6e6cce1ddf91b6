//! The reference server, started in process on 127.0.0.1:0 over the
//! example application of spec §2.6 — in a SQLite file, or in a fresh
//! PostgreSQL database — for `dbsync-conformance server --reference` and
//! the kit's own tests.
//!
//! Its hooks follow the kit's convention (see `conformance/README.md`):
//! the register and before-push hooks refuse a request whose `app_data`
//! has `"conformance_reject": true`.
//!
//! A *scoped* reference (spec §19) runs the same application with the
//! kit's scopes file, `conformance/scopes/example.json`, registration by
//! token and no register hook (so a register request's `user` is the
//! node's user, §9.1): the server the vectors requiring `scopes` play on.

use super::run::{DirectWrites, Target};
use dbsync_core::protocol::AppData;
use dbsync_core::protocol::{PushRequest, RegisterRequest};
use dbsync_postgres::scratch::ScratchDb;
use dbsync_server::{Config, Hooks, RegisterDecision, Scopes, Server, ServerHandle, Store};
use std::path::PathBuf;
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

/// The kit's scopes file for the example application (spec §19.2): a
/// person belongs to the user whose id is its `name`, a visit to its
/// person's user; every node reads cities and holidays and may write
/// cities.
pub const EXAMPLE_SCOPES: &str = include_str!("../../scopes/example.json");

/// Where [`EXAMPLE_SCOPES`] lives in the source tree, for `dbsync serve
/// --scopes`.
pub fn example_scopes_path() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/scopes/example.json"))
}

/// What the reference's database lives in; dropped with it.
enum Holder {
    /// The temporary folder (held for its Drop, which removes it) and the
    /// SQLite file in it.
    Folder(
        #[allow(dead_code, reason = "held for its Drop")] tempfile::TempDir,
        PathBuf,
    ),
    Database(ScratchDb),
}

impl Holder {
    /// Runs `sql` on the server's database as any other program would:
    /// a direct write (spec §6.1), sealed into a version by the next
    /// request that seals.
    fn execute(&self, sql: &str) -> Result<(), String> {
        match self {
            Holder::Folder(_, db) => dbsync_sqlite::open(db)
                .map_err(|e| e.to_string())?
                .execute_batch(sql)
                .map_err(|e| e.to_string()),
            Holder::Database(db) => db.execute(sql),
        }
    }
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
            Ok((Holder::Folder(dir, db), Arc::new(store)))
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
    holder: Arc<Holder>,
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
        Reference::bind(
            holder,
            store,
            config,
            &["hooks", "trim", "token_registration"],
        )
        .await
    }

    /// Starts a scoped server (spec §19) over a fresh SQLite database.
    pub async fn start_scoped() -> Result<Reference, String> {
        Reference::start_scoped_on(StoreKind::Sqlite).await
    }

    /// Starts a scoped server (spec §19) over a fresh database of `kind`:
    /// the example application with [`EXAMPLE_SCOPES`], registration by
    /// [`TOKEN`] and no hooks, so that a register request names its node's
    /// user (§9.1).
    pub async fn start_scoped_on(kind: StoreKind) -> Result<Reference, String> {
        let (holder, store) = tokio::task::spawn_blocking(move || example_store(kind))
            .await
            .map_err(|e| e.to_string())??;
        let scopes = Scopes::parse(EXAMPLE_SCOPES, store.schema())
            .map_err(|e| format!("scopes file {}: {e}", example_scopes_path().display()))?;
        let mut config = Config::new();
        config.registration_token = Some(TOKEN.into());
        config.scopes = Some(Arc::new(scopes));
        Reference::bind(
            holder,
            store,
            config,
            &["scopes", "trim", "token_registration"],
        )
        .await
    }

    async fn bind(
        holder: Holder,
        store: Arc<dyn Store>,
        config: Config,
        capabilities: &[&str],
    ) -> Result<Reference, String> {
        let handle = Server::bind(store, config)
            .await
            .map_err(|e| e.to_string())?;
        let target = Target {
            base: format!("http://{}", handle.local_addr()),
            token: Some(TOKEN.into()),
            capabilities: capabilities.iter().map(|s| s.to_string()).collect(),
            control: Some(handle.server().clone()),
        };
        Ok(Reference {
            handle,
            target,
            holder: Arc::new(holder),
        })
    }

    /// Writes to the server's database directly (the control `sql` of a
    /// wire vector, capability `direct_writes`).
    pub fn direct_writes(&self) -> DirectWrites {
        let holder = self.holder.clone();
        Arc::new(move |sql: &str| holder.execute(sql))
    }

    pub async fn stop(self) {
        self.handle.shutdown().await;
    }
}

//! # dbsync-postgres
//!
//! The server's store over PostgreSQL: [`PgStore`] implements the
//! engine's [`Store`], so any number of stateless server processes can
//! serve one database behind a load balancer. Everything a process would
//! otherwise keep — nonces, push records, node records, the cursor key —
//! lives in the database.
//!
//! - [`catalog`]: the synced tables read from PostgreSQL's catalogue,
//!   with the rules of spec §2;
//! - [`types`]: PostgreSQL's types as dbsync's (spec §2.5);
//! - [`meta`]: dbsync's own tables and the capture triggers (§6.1);
//! - [`sql`]: each table's statements;
//! - [`tx`]: the store's transactions;
//! - `oplog`: how ops are kept;
//! - `scope`: the scope index of partial sync (§19.4);
//! - [`scratch`]: throw-away databases for tests and examples.
//!
//! Architecture invariant: versions are assigned under a row lock
//! (`dbsync_state` row `history`, `SELECT … FOR UPDATE`) held until the
//! push commits, so versions are assigned in one linear order and become
//! visible in that order; the reads of a page or a query run in one
//! `REPEATABLE READ` snapshot and never wait for a push (a first pull
//! page that finds direct writes to seal, and the first repair page, take
//! the lock before their reads).
//!
//! Every method blocks on a runtime the store owns: call it from a
//! blocking context (the server calls the engine from
//! `tokio::task::spawn_blocking`).

pub mod catalog;
pub mod meta;
mod oplog;
mod scope;
pub mod scratch;
pub mod sql;
pub mod tx;
pub mod types;

pub use catalog::TableRefused;
pub use meta::DOMAINS_SQL;

use dbsync_core::{Schema, TableSpec};
use dbsync_engine::store::{ReadTx, Store, StoreFault, StoreResult, WriteTx};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use sql::TableSql;
use std::collections::HashMap;
use std::future::Future;
use std::str::FromStr;
use tokio_postgres::NoTls;

/// Why a store could not open.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    /// A table breaks a rule of spec §2.
    #[error(transparent)]
    Refused(#[from] TableRefused),
    /// The URL is not a PostgreSQL connection string.
    #[error("not a PostgreSQL URL: {0}")]
    Url(String),
    /// PostgreSQL failed or could not be reached.
    #[error("postgres: {0}")]
    Postgres(String),
}

impl From<catalog::CatalogError> for PgError {
    fn from(e: catalog::CatalogError) -> PgError {
        match e {
            catalog::CatalogError::Refused(r) => PgError::Refused(r),
            catalog::CatalogError::Postgres(e) => PgError::Postgres(e.to_string()),
        }
    }
}

/// Options of a PostgreSQL store.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// The most connections the process holds at once.
    pub pool_size: usize,
}

impl Default for PgOptions {
    fn default() -> PgOptions {
        PgOptions { pool_size: 16 }
    }
}

/// A server database in PostgreSQL.
pub struct PgStore {
    runtime: Option<tokio::runtime::Runtime>,
    pool: Pool,
    schema: Schema,
    tables: HashMap<String, TableSql>,
    table_ids: HashMap<String, i32>,
    table_names: HashMap<i32, String>,
}

impl PgStore {
    /// Connects to `url` (`postgres://user@host:port/db`), tracks `specs`
    /// (every user table of the current schema when empty) with capture
    /// for direct writes, and creates dbsync's tables if missing.
    pub fn connect(url: &str, specs: &[TableSpec], options: PgOptions) -> Result<PgStore, PgError> {
        PgStore::open(url, options, Some(specs))
    }

    /// Connects to a database served before, with the tables (and
    /// directions) it tracks: for tools that work on a server's database.
    pub fn connect_tracked(url: &str, options: PgOptions) -> Result<PgStore, PgError> {
        PgStore::open(url, options, None)
    }

    /// Connects and tracks `specs`, or the tables tracked before (`None`).
    fn open(
        url: &str,
        options: PgOptions,
        specs: Option<&[TableSpec]>,
    ) -> Result<PgStore, PgError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("dbsync-postgres")
            .enable_all()
            .build()
            .map_err(|e| PgError::Postgres(e.to_string()))?;
        let pool = pool(url, &options)?;
        let (tables, ids) = runtime.block_on(async {
            let mut client = pool
                .get()
                .await
                .map_err(|e| PgError::Postgres(e.to_string()))?;
            let specs = match specs {
                Some(specs) => specs.to_vec(),
                None => served_specs(&client).await?,
            };
            let tables = meta::track(&mut client, &specs).await?;
            let ids = meta::table_ids(&client)
                .await
                .map_err(|e| PgError::Postgres(e.to_string()))?;
            Ok::<_, PgError>((tables, ids))
        })?;
        Ok(PgStore {
            schema: Schema::new(tables.iter().map(|t| t.schema.clone()).collect()),
            tables: tables
                .into_iter()
                .map(|t| (t.schema.name.clone(), TableSql::new(t)))
                .collect(),
            table_ids: ids.iter().map(|(id, n)| (n.clone(), *id)).collect(),
            table_names: ids.into_iter().collect(),
            runtime: Some(runtime),
            pool,
        })
    }

    /// Runs `f` to completion on the store's runtime.
    pub(crate) fn block<F: Future>(&self, f: F) -> F::Output {
        self.runtime
            .as_ref()
            .expect("the runtime lives as long as the store")
            .block_on(f)
    }

    pub(crate) fn table(&self, name: &str) -> StoreResult<&TableSql> {
        self.tables
            .get(name)
            .ok_or_else(|| StoreFault(format!("table {name} is not tracked")))
    }

    fn begin(&self, begin: &str) -> StoreResult<tx::PgTx<'_>> {
        let client = self.block(self.pool.get()).map_err(StoreFault::of)?;
        self.block(client.batch_execute(begin))
            .map_err(StoreFault::of)?;
        Ok(tx::PgTx::new(self, client))
    }
}

/// The connection pool of `url`.
fn pool(url: &str, options: &PgOptions) -> Result<Pool, PgError> {
    let config = tokio_postgres::Config::from_str(url).map_err(|e| PgError::Url(e.to_string()))?;
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(options.pool_size.max(1))
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .build()
        .map_err(|e| PgError::Postgres(e.to_string()))
}

/// The tables a database served before tracks; refused when none.
async fn served_specs(client: &tokio_postgres::Client) -> Result<Vec<TableSpec>, PgError> {
    let specs = meta::tracked_specs(client).await?;
    if specs.is_empty() {
        return Err(PgError::Postgres(
            "this database tracks no table: serve it first".into(),
        ));
    }
    Ok(specs)
}

impl Drop for PgStore {
    fn drop(&mut self) {
        // A store may be dropped inside another runtime: never block here.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl Store for PgStore {
    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn read(&self) -> StoreResult<Box<dyn ReadTx + '_>> {
        Ok(Box::new(self.begin(
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        )?))
    }

    fn write(&self) -> StoreResult<Box<dyn WriteTx + '_>> {
        Ok(Box::new(
            self.begin("BEGIN ISOLATION LEVEL READ COMMITTED")?,
        ))
    }
}

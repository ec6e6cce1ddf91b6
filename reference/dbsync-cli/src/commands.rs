//! The node-side commands.

use crate::existing::{self, ExistingRowsArg};
use crate::exit;
use crate::store::ServerDb;
use crate::NodeArgs;
use dbsync_client::{CaCert, ClientError, Node, OpenOptions, PushOutcome, RepairOptions, Timeouts};
use dbsync_core::{ColumnType, Direction, Value};
use dbsync_sqlite::{track, Role, StoreError, TableSpec};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::OnceLock;
use std::time::Duration;

/// The `--busy-timeout` every command opens its database with.
static BUSY_TIMEOUT: OnceLock<Duration> = OnceLock::new();

/// Sets the busy timeout of every database the commands open (once).
pub fn set_busy_timeout(timeout: Duration) {
    let _ = BUSY_TIMEOUT.set(timeout);
}

fn busy_timeout() -> Duration {
    BUSY_TIMEOUT
        .get()
        .copied()
        .unwrap_or(dbsync_sqlite::DEFAULT_BUSY_TIMEOUT)
}

/// Opens a tracked node database with the busy timeout.
fn open_tracked(db: &Path) -> Result<Node, ClientError> {
    Node::open_tracked_with(
        db,
        &OpenOptions::default().with_busy_timeout(busy_timeout()),
    )
}

/// Opens a database with the busy timeout.
fn open_db(db: &Path) -> rusqlite::Result<rusqlite::Connection> {
    dbsync_sqlite::open_with_busy_timeout(db, busy_timeout())
}

fn local_failure(what: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {what}");
    ExitCode::from(exit::FAILURE)
}

/// A failure of the local store: busy has its own exit code.
fn store_failure(e: StoreError) -> ExitCode {
    if e.is_busy() {
        return exit::report(&ClientError::DatabaseBusy);
    }
    local_failure(e)
}

fn open(args: &NodeArgs) -> Result<Node, ClientError> {
    let mut node = open_tracked(&args.db)?.with_timeouts(args.timeouts.timeouts());
    if let Some(url) = &args.server {
        node = node.with_server(url);
    }
    if let Some(bar) = crate::progress::bar() {
        node = node.with_progress(bar);
    }
    Ok(node)
}

fn role(db: &Path) -> Option<String> {
    let conn = rusqlite::Connection::open(db).ok()?;
    conn.busy_timeout(busy_timeout()).ok()?;
    conn.query_row(
        "SELECT value FROM dbsync_state WHERE key = 'role'",
        [],
        |r| r.get(0),
    )
    .ok()
}

pub fn track(
    db: PathBuf,
    both: Vec<String>,
    push_only: Vec<String>,
    pull_only: Vec<String>,
    existing_rows: Option<ExistingRowsArg>,
) -> ExitCode {
    let mut specs: Vec<TableSpec> = both.iter().map(|n| TableSpec::both(n)).collect();
    specs.extend(push_only.iter().map(|n| TableSpec {
        name: n.clone(),
        direction: Direction::PushOnly,
    }));
    specs.extend(pull_only.iter().map(|n| TableSpec {
        name: n.clone(),
        direction: Direction::PullOnly,
    }));
    let result = open_db(&db)
        .map_err(dbsync_sqlite::StoreError::from)
        .and_then(|mut conn| {
            let role = if role(&db).as_deref() == Some("server") {
                Role::Server
            } else {
                Role::Node
            };
            let options = existing::track_options(existing_rows);
            let schema = track::track_with(&mut conn, &specs, role, &options)?;
            if role == Role::Node {
                conn.execute_batch(dbsync_sqlite::node::NODE_SQL)?;
            }
            Ok(schema)
        });
    match result {
        Ok(schema) => {
            for t in &schema.tables {
                println!("tracking {} ({})", t.name, t.direction.name());
            }
            println!("schema fingerprint {}", schema.fingerprint());
            ExitCode::SUCCESS
        }
        Err(StoreError::ExistingRows(refused)) => existing::refused(&refused),
        Err(e) => store_failure(e),
    }
}

pub fn untrack(db: PathBuf, tables: Vec<String>) -> ExitCode {
    match open_db(&db)
        .map_err(dbsync_sqlite::StoreError::from)
        .and_then(|mut c| track::untrack(&mut c, &tables))
    {
        Ok(()) => {
            println!(
                "untracked {}",
                if tables.is_empty() {
                    "every table".to_string()
                } else {
                    tables.join(", ")
                }
            );
            ExitCode::SUCCESS
        }
        Err(e) => store_failure(e),
    }
}

pub async fn register(
    db: PathBuf,
    server: String,
    token: Option<String>,
    ca_cert: Option<PathBuf>,
    timeouts: Timeouts,
) -> ExitCode {
    let ca = match ca_cert.as_deref().map(CaCert::from_pem_file).transpose() {
        Ok(ca) => ca,
        Err(e) => return exit::report(&e),
    };
    let node = match open_tracked(&db) {
        Ok(n) => n.with_timeouts(timeouts),
        Err(e) => return exit::report(&e),
    };
    let node = match ca {
        Some(ca) => node.with_ca_cert(ca),
        None => node,
    };
    match node.register(&server, token.as_deref()).await {
        Ok(r) => {
            println!("registered as node {} with {server}", r.node_id);
            if r.latest_version > 0 {
                println!("the server is at version {}: run `dbsync repair --db {}` to start from its data", r.latest_version, db.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => exit::report(&e),
    }
}

pub async fn push(args: NodeArgs) -> ExitCode {
    let node = match open(&args) {
        Ok(n) => n,
        Err(e) => return exit::report(&e),
    };
    match node.push().await {
        Ok(PushOutcome::NothingToPush) => {
            println!("nothing to push");
            ExitCode::SUCCESS
        }
        Ok(PushOutcome::Pushed {
            version,
            ops,
            duplicate,
        }) => {
            let again = if duplicate {
                " (already applied: a retry)"
            } else {
                ""
            };
            println!("pushed {ops} ops as version {version}{again}");
            ExitCode::SUCCESS
        }
        Err(e) => exit::report(&e),
    }
}

pub async fn pull(args: NodeArgs) -> ExitCode {
    let node = match open(&args) {
        Ok(n) => n,
        Err(e) => return exit::report(&e),
    };
    match node.pull().await {
        Ok(r) => {
            println!(
                "merged {} ops; now at version {}; {} conflict(s) resolved",
                r.ops_merged,
                r.version,
                r.conflicts.len()
            );
            ExitCode::SUCCESS
        }
        Err(e) => exit::report(&e),
    }
}

pub async fn sync(args: NodeArgs) -> ExitCode {
    let node = match open(&args) {
        Ok(n) => n,
        Err(e) => return exit::report(&e),
    };
    match node.sync().await {
        Ok(r) => {
            println!(
                "synced: pushed {} ops, pulled {} time(s) ({} ops merged, {} conflict(s)); now at version {}",
                r.pushed_ops, r.pulls, r.merged_ops, r.conflicts, r.version
            );
            ExitCode::SUCCESS
        }
        Err(e) => exit::report(&e),
    }
}

pub async fn repair(args: NodeArgs, discard_local_changes: bool) -> ExitCode {
    let node = match open(&args) {
        Ok(n) => n,
        Err(e) => return exit::report(&e),
    };
    let options = RepairOptions {
        discard_local_changes,
    };
    match node.repair_with(options).await {
        Ok(r) => {
            println!(
                "repaired: the synced tables now equal the server's at version {}",
                r.version
            );
            existing::print_discarded(&r.discarded);
            ExitCode::SUCCESS
        }
        Err(e) => exit::report(&e),
    }
}

/// Parses `COLUMN=VALUE` with the column's type from the schema.
fn filter(node: &Node, table: &str, text: &str) -> Result<(String, Value), String> {
    let (col, raw) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not COLUMN=VALUE"))?;
    let (schema, _) = node.schema();
    let t = schema
        .table(table)
        .ok_or_else(|| format!("table {table:?} is not synced"))?;
    if raw == "null" {
        return Ok((col.into(), Value::Null));
    }
    let ty = if col == t.primary_key {
        ColumnType::Integer
    } else {
        t.column(col).map_or(ColumnType::Text, |c| c.ty)
    };
    let value = match ty {
        ColumnType::Integer => Value::Integer(
            raw.parse()
                .map_err(|_| format!("{col} is an integer column; {raw:?} is not an integer"))?,
        ),
        ColumnType::Real => Value::Real(
            raw.parse()
                .map_err(|_| format!("{col} is a real column; {raw:?} is not a number"))?,
        ),
        ColumnType::Blob => {
            return Err(format!("{col} is a blob column: filter on another column"))
        }
        _ => Value::Text(raw.into()),
    };
    Ok((col.into(), value))
}

pub async fn query(
    args: NodeArgs,
    table: String,
    filters: Vec<String>,
    limit: Option<u32>,
) -> ExitCode {
    let node = match open(&args) {
        Ok(n) => n,
        Err(e) => return exit::report(&e),
    };
    let mut map = BTreeMap::new();
    for f in &filters {
        match filter(&node, &table, f) {
            Ok((c, v)) => {
                map.insert(c, v);
            }
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(exit::USAGE);
            }
        }
    }
    match node.query(&table, map, limit).await {
        Ok(r) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&r.rows).expect("serializable")
            );
            if r.truncated {
                eprintln!("(more rows matched than the limit; raise --limit)");
            }
            ExitCode::SUCCESS
        }
        Err(e) => exit::report(&e),
    }
}

pub async fn status(db: PathBuf, json: bool) -> ExitCode {
    let node = match open_tracked(&db) {
        Ok(n) => n,
        Err(e) => return exit::report(&e),
    };
    match node.status().await {
        Ok(s) if json => {
            println!(
                "{}",
                serde_json::to_string_pretty(&s).expect("serializable")
            );
            ExitCode::SUCCESS
        }
        Ok(s) => {
            match s.node_id {
                Some(id) => println!("node {id} of {}", s.server_url.as_deref().unwrap_or("?")),
                None => println!("not registered"),
            }
            println!("last version {}", s.last_version);
            println!("pending ops {}", s.pending_ops);
            if s.repair_owed {
                println!("repair owed: the existing rows were tracked as a copy of the server's; run `dbsync repair`");
            }
            if let Some(p) = &s.outstanding_push {
                println!(
                    "outstanding push {p} (sent, answer not yet seen: the next push retries it)"
                );
            }
            println!("tables {}", s.tables.join(", "));
            println!("schema fingerprint {}", s.schema_fingerprint);
            ExitCode::SUCCESS
        }
        Err(e) => exit::report(&e),
    }
}

pub async fn conflicts(db: PathBuf, json: bool) -> ExitCode {
    let node = match open_tracked(&db) {
        Ok(n) => n,
        Err(e) => return exit::report(&e),
    };
    match node.conflicts().await {
        Ok(log) if json => {
            let entries: Vec<_> = log
                .iter()
                .map(|c| serde_json::json!({"id": c.id, "recorded_at": c.recorded_at, "version": c.version, "entry": c.entry}))
                .collect();
            println!(
                "{}",
                serde_json::to_string_pretty(&entries).expect("serializable")
            );
            ExitCode::SUCCESS
        }
        Ok(log) => {
            if log.is_empty() {
                println!("no conflicts");
            }
            for c in log {
                println!("{}", crate::demo::describe(&c.entry));
            }
            ExitCode::SUCCESS
        }
        Err(e) => exit::report(&e),
    }
}

pub async fn trim(db: String, stale_after_days: u64) -> ExitCode {
    let db = ServerDb::parse(&db);
    let is_server = match &db {
        ServerDb::Postgres(_) => true,
        ServerDb::Sqlite(path) => role(path).as_deref() == Some("server"),
    };
    if is_server {
        let opened = tokio::task::spawn_blocking(move || {
            let store = crate::store::open_served(&db)?;
            dbsync_server::Server::open(store, dbsync_server::Config::new())
                .map_err(|e| e.to_string())
        });
        let server = match opened.await.unwrap_or_else(|e| Err(e.to_string())) {
            Ok(s) => s,
            Err(e) => return local_failure(e),
        };
        match server
            .trim(dbsync_server::unix_now(), stale_after_days * 86_400)
            .await
        {
            Ok(r) => {
                println!(
                    "trimmed through version {}: {} version(s) dropped, {} node(s) now stale",
                    r.trimmed_through, r.versions_dropped, r.nodes_marked_stale
                );
                ExitCode::SUCCESS
            }
            Err(r) => local_failure(r.message),
        }
    } else {
        let ServerDb::Sqlite(db) = db else {
            unreachable!("a PostgreSQL database is a server's")
        };
        match open_db(&db).and_then(|c| dbsync_sqlite::node::trim(&c)) {
            Ok(n) => {
                println!("dropped {n} pushed op(s); pending ops kept");
                ExitCode::SUCCESS
            }
            Err(e) => store_failure(e.into()),
        }
    }
}

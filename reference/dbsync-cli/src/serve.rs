//! `dbsync serve`.

use crate::args::{duration, TableArgs};
use crate::output::Output;
use crate::store::ServerDb;
use clap::Args;
use dbsync_server::{Config, RegisterRate, Scopes, Server, ServerHandle, Store};
use serde_json::json;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// The file `dbsync serve` uses without `--db`, created with the demo's
/// tables when it does not exist.
pub const DEFAULT_DB: &str = "dbsync-server.db";

#[derive(Args)]
#[command(group(clap::ArgGroup::new("registration").required(true).args(["registration_token", "open_registration"])))]
pub struct ServeArgs {
    /// The database to serve: an existing SQLite file, or a PostgreSQL URL
    /// `postgres://USER@HOST:PORT/DB` (default: ./dbsync-server.db,
    /// created with the demo's tables when missing).
    #[arg(long)]
    db: Option<String>,
    /// Where to listen; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Serve Prometheus metrics (`GET /metrics`) on this address of their
    /// own, for monitoring only [default: not served].
    #[arg(long, value_name = "ADDR")]
    metrics: Option<SocketAddr>,
    /// The format of the log lines on stderr (what to log: DBSYNC_LOG).
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Serve HTTPS with this certificate chain (a PEM file, the server's
    /// certificate first); needs --tls-key.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (a PEM file).
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    #[command(flatten)]
    tables: TableArgs,
    /// The token nodes must present to register.
    #[arg(long)]
    registration_token: Option<String>,
    /// Partial sync: the scope rules (a JSON file, spec §19.2) saying
    /// which rows each node reads and writes; checked against the served
    /// tables at start [default: every node reads every row].
    #[arg(long, value_name = "FILE")]
    scopes: Option<PathBuf>,
    /// Let any node register without a token.
    #[arg(long)]
    open_registration: bool,
    /// Under --open-registration, accept at most N registrations per
    /// DURATION (`60/1m`, `5/1s`), in bursts of up to N; more get 429
    /// `rate_limited`. `none`: no limit [default: 60/1m].
    #[arg(long, value_name = "N/DURATION|none", value_parser = register_rate)]
    register_rate: Option<RegisterRateArg>,
    /// Purge nodes that never made a request this long after registering
    /// (`7d`, `12h`), or `never` [default: 7d].
    #[arg(long, value_name = "DURATION|never", value_parser = purge_after)]
    purge_unused_after: Option<PurgeAfterArg>,
    /// At most N ops in a pull page and N rows in a repair page
    /// [default: 10000].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    page_size: Option<u32>,
    /// A node unseen this long stops holding back trim and must repair
    /// (`30d`, `12h`, `90m`, `45s`) [default: 30d].
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    stale_after: Option<Duration>,
    /// Trim the history this often (`1h`, `1d`) with --stale-after
    /// [default: never; `dbsync trim` trims by hand].
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    trim_every: Option<Duration>,
    /// The clock-skew window of request timestamps, in seconds; nonces
    /// are remembered for twice as long (spec §8.4).
    #[arg(long, value_name = "SECS", default_value_t = dbsync_core::auth::DEFAULT_SKEW_SECONDS,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    clock_skew: u64,
    /// At most this many connections at once; more wait in the backlog.
    #[arg(long, value_name = "N", default_value_t = dbsync_server::config::DEFAULT_MAX_CONNECTIONS,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1_000_000))]
    max_connections: usize,
    /// At most this many request bodies read at once (each up to 16 MiB).
    #[arg(long, value_name = "N", default_value_t = dbsync_server::config::DEFAULT_MAX_BODY_READS,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=100_000))]
    max_body_reads: usize,
    /// At most this many requests handled at once (database work and
    /// building the answer); the others wait.
    #[arg(long, value_name = "N", default_value_t = dbsync_server::config::DEFAULT_MAX_HANDLING,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=10_000))]
    max_handling: usize,
    /// At most this many MiB of page answers (pull, repair, query) held at
    /// once, built or being sent; the next waits.
    #[arg(long, value_name = "MIB", default_value_t = (dbsync_server::config::DEFAULT_ANSWER_BUDGET >> 20) as u64,
          value_parser = clap::value_parser!(u64).range(1..=1 << 20))]
    answer_budget: u64,
    /// A repair or pull page stops at about this many bytes (it is never
    /// empty) [default: 1048576].
    #[arg(long, value_name = "BYTES", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1024..=1 << 30))]
    page_bytes: Option<usize>,
    /// Close a connection whose client reads nothing of its answer for
    /// this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = dbsync_server::config::DEFAULT_WRITE_TIMEOUT.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..=3_600))]
    write_timeout: u64,
}

/// `--register-rate`: a rate, or no limit.
#[derive(Debug, Clone, Copy)]
struct RegisterRateArg(Option<RegisterRate>);

/// `N/DURATION` (`60/1m`), or `none`.
fn register_rate(text: &str) -> Result<RegisterRateArg, String> {
    if text == "none" {
        return Ok(RegisterRateArg(None));
    }
    let bad = || format!("{text:?}: expected N/DURATION (60/1m, 5/1s) or none");
    let (count, per) = text.split_once('/').ok_or_else(bad)?;
    let count: u32 = count.parse().ok().filter(|&n| n > 0).ok_or_else(bad)?;
    let per = duration(per)?;
    Ok(RegisterRateArg(Some(RegisterRate { count, per })))
}

/// `--purge-unused-after`: a duration, or never.
#[derive(Debug, Clone, Copy)]
struct PurgeAfterArg(Option<Duration>);

/// A duration of at least a second, or `never`.
fn purge_after(text: &str) -> Result<PurgeAfterArg, String> {
    if text == "never" {
        return Ok(PurgeAfterArg(None));
    }
    match duration(text)? {
        d if d < Duration::from_secs(1) => Err(format!("{text:?}: at least 1s")),
        d => Ok(PurgeAfterArg(Some(d))),
    }
}

/// The format of the log lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One line of text per event.
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target` and the
    /// event's `fields`.
    Json,
}

/// The database to serve: `--db` (a SQLite file must exist), or the
/// default file, created with the demo's tables when missing.
fn server_db(out: Output, db: Option<&str>) -> Result<ServerDb, ExitCode> {
    match db.map(ServerDb::parse) {
        Some(ServerDb::Sqlite(path)) if !path.is_file() => {
            let problem = crate::args::existing_db(&path.display().to_string()).err();
            Err(out.usage(problem.unwrap_or_default()))
        }
        Some(db) => Ok(db),
        None => {
            let db = PathBuf::from(DEFAULT_DB);
            if !db.exists() {
                if let Err(e) = rusqlite::Connection::open(&db)
                    .and_then(|c| c.execute_batch(crate::demo::SCHEMA))
                {
                    return Err(out.local_failure(format!("cannot create {DEFAULT_DB}: {e}")));
                }
            }
            Ok(ServerDb::Sqlite(db))
        }
    }
}

/// Opens the store of `db`, tracking the tables `tables` names.
async fn open_store(db: &ServerDb, tables: &TableArgs) -> Result<Arc<dyn Store>, String> {
    let user_tables = if tables.needs_user_tables() {
        crate::store::user_tables(db).await?
    } else {
        Vec::new()
    };
    let specs = tables.specs(&user_tables)?;
    let db = db.clone();
    tokio::task::spawn_blocking(move || crate::store::open(&db, &specs))
        .await
        .unwrap_or_else(|e| Err(e.to_string()))
}

/// The server's configuration from the flags.
fn config(args: ServeArgs) -> Config {
    let mut config = Config::new();
    config.listen = args.listen;
    config.metrics_listen = args.metrics;
    config.tls_cert = args.tls_cert;
    config.tls_key = args.tls_key;
    config.registration_token = args.registration_token;
    config.open_registration = args.open_registration;
    if let Some(RegisterRateArg(rate)) = args.register_rate {
        config.register_rate = rate;
    }
    if let Some(PurgeAfterArg(after)) = args.purge_unused_after {
        config.purge_unused_after = after;
    }
    if let Some(n) = args.page_size {
        config.limits.pull_page_ops = n as usize;
        config.limits.repair_page_rows = n as usize;
    }
    if let Some(d) = args.stale_after {
        config.stale_after = d;
    }
    config.trim_interval = args.trim_every;
    config.skew_window = std::time::Duration::from_secs(args.clock_skew);
    config.max_connections = args.max_connections;
    config.max_body_reads = args.max_body_reads;
    config.write_timeout = std::time::Duration::from_secs(args.write_timeout);
    config.max_handling = args.max_handling;
    config.answer_budget = (args.answer_budget as usize) << 20;
    if let Some(n) = args.page_bytes {
        config.limits.page_bytes = n;
    }
    config
}

/// Says where the server listens: the first line of stdout (`listening
/// on URL`, or one line of JSON), then what it serves on stderr.
fn announce(out: Output, handle: &ServerHandle, db: &ServerDb, config: &Config) {
    let scheme = if config.tls_cert.is_some() {
        "https"
    } else {
        "http"
    };
    let url = format!("{scheme}://{}", handle.local_addr());
    let metrics = handle
        .metrics_addr()
        .map(|addr| format!("http://{addr}{}", dbsync_server::METRICS_PATH));
    let server = handle.server();
    if out.json {
        let tables: Vec<_> = server
            .schema()
            .tables
            .iter()
            .map(|t| json!({"name": t.name, "direction": t.direction.name()}))
            .collect();
        println!(
            "{}",
            json!({
                "listening": url,
                "db": db.display(),
                "tables": tables,
                "fingerprint": server.fingerprint(),
                "page_size": config.limits.pull_page_ops,
                "stale_after_seconds": config.stale_after.as_secs(),
                "metrics": metrics,
            })
        );
    } else {
        println!("listening on {url}");
    }
    let _ = std::io::stdout().flush();
    eprintln!(
        "serving {} ({} tables, fingerprint {}); Ctrl-C stops",
        db.display(),
        server.schema().tables.len(),
        server.fingerprint()
    );
    if let Some(metrics) = metrics {
        eprintln!("metrics on {metrics}");
    }
}

/// The scope rules in `file`, checked against the served tables.
pub(crate) fn read_scopes(
    file: &std::path::Path,
    store: &dyn Store,
) -> Result<Arc<Scopes>, String> {
    let shown = file.display();
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read scopes file {shown}: {e}"))?;
    Scopes::parse(&text, store.schema())
        .map(Arc::new)
        .map_err(|e| format!("scopes file {shown}: {e}"))
}

/// Serves until Ctrl-C.
pub async fn run(out: Output, args: ServeArgs) -> ExitCode {
    let db = match server_db(out, args.db.as_deref()) {
        Ok(db) => db,
        Err(code) => return code,
    };
    let store = match open_store(&db, &args.tables).await {
        Ok(s) => s,
        Err(e) => return out.local_failure(e),
    };
    let scopes = match args.scopes.as_deref().map(|f| read_scopes(f, &*store)) {
        None => None,
        Some(Ok(s)) => Some(s),
        Some(Err(e)) => return out.usage(e),
    };
    let mut config = config(args);
    config.scopes = scopes;
    let shown = config.clone();
    let handle = match Server::bind(store, config).await {
        Ok(h) => h,
        Err(e) => return out.local_failure(e),
    };
    announce(out, &handle, &db, &shown);
    let _ = tokio::signal::ctrl_c().await;
    handle.shutdown().await;
    ExitCode::SUCCESS
}

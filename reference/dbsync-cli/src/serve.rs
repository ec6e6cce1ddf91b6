//! `dbsync serve`.

use crate::exit;
use crate::store::ServerDb;
use clap::Args;
use dbsync_core::Direction;
use dbsync_server::{Config, Server};
use dbsync_sqlite::TableSpec;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

/// The file `dbsync serve` uses without `--db`, created with the demo's
/// tables when it does not exist.
pub const DEFAULT_DB: &str = "dbsync-server.db";

#[derive(Args)]
#[command(group(clap::ArgGroup::new("registration").required(true).args(["registration_token", "open_registration"])))]
pub struct ServeArgs {
    /// The database to serve: a SQLite file, or a PostgreSQL URL
    /// `postgres://USER@HOST:PORT/DB` (default: ./dbsync-server.db,
    /// created with the demo's tables when missing).
    #[arg(long)]
    db: Option<String>,
    /// Where to listen; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Serve HTTPS with this certificate chain (a PEM file, the server's
    /// certificate first); needs --tls-key.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (a PEM file).
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Tables to sync both ways (default: every user table).
    #[arg(long, value_delimiter = ',')]
    tables: Vec<String>,
    #[arg(long, value_delimiter = ',')]
    push_only: Vec<String>,
    #[arg(long, value_delimiter = ',')]
    pull_only: Vec<String>,
    /// The token nodes must present to register.
    #[arg(long)]
    registration_token: Option<String>,
    /// Let any node register without a token.
    #[arg(long)]
    open_registration: bool,
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
    /// Close a connection whose client reads nothing of its answer for
    /// this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = dbsync_server::config::DEFAULT_WRITE_TIMEOUT.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..=3_600))]
    write_timeout: u64,
}

pub async fn run(args: ServeArgs) -> ExitCode {
    let db = match args.db {
        Some(db) => ServerDb::parse(&db),
        None => {
            let db = PathBuf::from(DEFAULT_DB);
            if !db.exists() {
                if let Err(e) = rusqlite::Connection::open(&db)
                    .and_then(|c| c.execute_batch(crate::demo::SCHEMA))
                {
                    eprintln!("error: cannot create {DEFAULT_DB}: {e}");
                    return ExitCode::from(exit::FAILURE);
                }
            }
            ServerDb::Sqlite(db)
        }
    };
    let mut tables: Vec<TableSpec> = args.tables.iter().map(|n| TableSpec::both(n)).collect();
    tables.extend(args.push_only.iter().map(|n| TableSpec {
        name: n.clone(),
        direction: Direction::PushOnly,
    }));
    tables.extend(args.pull_only.iter().map(|n| TableSpec {
        name: n.clone(),
        direction: Direction::PullOnly,
    }));
    let opening = (db.clone(), tables);
    let opened = tokio::task::spawn_blocking(move || crate::store::open(&opening.0, &opening.1));
    let store = match opened.await.unwrap_or_else(|e| Err(e.to_string())) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(exit::FAILURE);
        }
    };
    let mut config = Config::new();
    config.listen = args.listen;
    let scheme = if args.tls_cert.is_some() {
        "https"
    } else {
        "http"
    };
    config.tls_cert = args.tls_cert;
    config.tls_key = args.tls_key;
    config.registration_token = args.registration_token;
    config.open_registration = args.open_registration;
    config.skew_window = std::time::Duration::from_secs(args.clock_skew);
    config.max_connections = args.max_connections;
    config.max_body_reads = args.max_body_reads;
    config.write_timeout = std::time::Duration::from_secs(args.write_timeout);
    let handle = match Server::bind(store, config).await {
        Ok(h) => h,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(exit::FAILURE);
        }
    };
    println!("listening on {scheme}://{}", handle.local_addr());
    let _ = std::io::stdout().flush();
    eprintln!(
        "serving {} ({} tables, fingerprint {}); Ctrl-C stops",
        db.display(),
        handle.server().schema().tables.len(),
        handle.server().fingerprint()
    );
    let _ = tokio::signal::ctrl_c().await;
    handle.shutdown().await;
    ExitCode::SUCCESS
}

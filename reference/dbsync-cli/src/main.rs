//! `dbsync`: serve a SQLite database, or sync one with a server.

mod commands;
mod demo;
mod existing;
mod exit;
mod progress;
mod serve;
mod store;

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "dbsync",
    version,
    about = "Offline-first sync of SQLite databases with one server (protocol 1.0)",
    after_help = exit::TABLE
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// How long a command waits for the application's write transaction
    /// on the database before it gives up (exit code 8).
    #[arg(long, global = true, value_name = "SECONDS", default_value_t = 30.0)]
    busy_timeout: f64,
}

/// The node database a command works on.
#[derive(Args, Clone)]
pub struct NodeArgs {
    /// The application's SQLite database.
    #[arg(long)]
    pub db: PathBuf,
    /// The server's base URL (overrides the one stored at registration).
    #[arg(long)]
    pub server: Option<String>,
    #[command(flatten)]
    pub timeouts: TimeoutArgs,
}

/// How long a request may take (a request that runs out of time fails
/// with exit code 5; retrying is safe).
#[derive(Args, Clone, Copy)]
pub struct TimeoutArgs {
    /// Seconds to open the connection [default: 10].
    #[arg(long, value_name = "SECS", value_parser = seconds)]
    pub connect_timeout: Option<std::time::Duration>,
    /// Seconds of silence while waiting for the server's answer [default: 30].
    #[arg(long, value_name = "SECS", value_parser = seconds)]
    pub read_timeout: Option<std::time::Duration>,
    /// Seconds for a whole request, answer included [default: 60].
    #[arg(long, value_name = "SECS", value_parser = seconds)]
    pub timeout: Option<std::time::Duration>,
}

impl TimeoutArgs {
    /// The client's timeouts: the defaults, with what was given.
    pub fn timeouts(self) -> dbsync_client::Timeouts {
        let d = dbsync_client::Timeouts::default();
        dbsync_client::Timeouts {
            connect: self.connect_timeout.unwrap_or(d.connect),
            read: self.read_timeout.unwrap_or(d.read),
            request: self.timeout.unwrap_or(d.request),
        }
    }
}

/// A positive number of seconds (fractions allowed).
fn seconds(text: &str) -> Result<std::time::Duration, String> {
    match text.parse::<f64>() {
        Ok(s) if s > 0.0 && s <= 86_400.0 => Ok(std::time::Duration::from_secs_f64(s)),
        _ => Err(format!(
            "{text:?} is not a number of seconds from 0 to 86400"
        )),
    }
}

#[derive(Subcommand)]
enum Command {
    /// Serve the synced tables of a SQLite or PostgreSQL database over
    /// HTTP or HTTPS.
    Serve(serve::ServeArgs),
    /// Track tables: install the capture triggers (idempotent).
    Track {
        #[arg(long)]
        db: PathBuf,
        /// Tables to sync both ways (default: every user table).
        #[arg(long, value_delimiter = ',')]
        tables: Vec<String>,
        /// Tables nodes push but never pull.
        #[arg(long, value_delimiter = ',')]
        push_only: Vec<String>,
        /// Tables nodes pull but never write.
        #[arg(long, value_delimiter = ',')]
        pull_only: Vec<String>,
        /// What rows a table already holds when a node first tracks it are:
        /// `push` (this node's own work: recorded as pending inserts, sent
        /// with the next push) or `replace` (a copy of the server's data:
        /// the next repair replaces them). Required when such a table holds
        /// rows.
        #[arg(long, alias = "existing", value_enum, value_name = "push|replace")]
        existing_rows: Option<existing::ExistingRowsArg>,
    },
    /// Stop tracking tables (default: all); their data stays.
    Untrack {
        #[arg(long)]
        db: PathBuf,
        #[arg(long, value_delimiter = ',')]
        tables: Vec<String>,
    },
    /// Register this database with a server and store the credentials in it.
    Register {
        #[arg(long)]
        db: PathBuf,
        #[arg(long)]
        server: String,
        /// The server's registration token.
        #[arg(long)]
        token: Option<String>,
        /// Trust this CA (a PEM file) for an https:// server, besides the
        /// system's root certificates; stored with the credentials.
        #[arg(long, value_name = "FILE")]
        ca_cert: Option<PathBuf>,
        #[command(flatten)]
        timeouts: TimeoutArgs,
    },
    /// Push the pending ops.
    Push(NodeArgs),
    /// Pull the server's new versions and merge them.
    Pull(NodeArgs),
    /// Push; pull and push again when the server has moved on.
    Sync(NodeArgs),
    /// Replace the synced tables with the server's snapshot. Refuses when
    /// that would discard local work nobody has pushed.
    Repair {
        #[command(flatten)]
        node: NodeArgs,
        /// Discard the local work the repair replaces (pending ops, rows
        /// never synced) instead of refusing; what was discarded is
        /// reported and kept in the conflict log.
        #[arg(long)]
        discard_local_changes: bool,
    },
    /// Read rows of a synced table from the server (as JSON).
    Query {
        #[command(flatten)]
        node: NodeArgs,
        #[arg(long)]
        table: String,
        /// An equality filter COLUMN=VALUE (repeatable; VALUE `null` is NULL).
        #[arg(long = "where", value_name = "COLUMN=VALUE")]
        filters: Vec<String>,
        #[arg(long)]
        limit: Option<u32>,
    },
    /// The node id, server, last version and pending ops.
    Status {
        #[arg(long)]
        db: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// The conflict log: every resolution the merges applied.
    Conflicts {
        #[arg(long)]
        db: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Drop history nobody needs: on a server, versions every live node
    /// holds; on a node, ops already pushed.
    Trim {
        /// A node's SQLite file, or a server's database (a SQLite file or
        /// a PostgreSQL URL).
        #[arg(long)]
        db: String,
        /// (server) Days after which an unseen node stops holding back trim.
        #[arg(long, default_value_t = 30)]
        stale_after_days: u64,
    },
    /// Start a server and two nodes in a temporary folder, make conflicting
    /// offline edits, sync, and show what each rule did.
    Demo,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("DBSYNC_LOG"))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match std::time::Duration::try_from_secs_f64(cli.busy_timeout) {
        Ok(timeout) => commands::set_busy_timeout(timeout),
        Err(_) => {
            eprintln!(
                "error: --busy-timeout takes a number of seconds, not {}",
                cli.busy_timeout
            );
            return ExitCode::from(exit::USAGE);
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => serve::run(args).await,
            Command::Track {
                db,
                tables,
                push_only,
                pull_only,
                existing_rows,
            } => commands::track(db, tables, push_only, pull_only, existing_rows),
            Command::Untrack { db, tables } => commands::untrack(db, tables),
            Command::Register {
                db,
                server,
                token,
                ca_cert,
                timeouts,
            } => commands::register(db, server, token, ca_cert, timeouts.timeouts()).await,
            Command::Push(n) => commands::push(n).await,
            Command::Pull(n) => commands::pull(n).await,
            Command::Sync(n) => commands::sync(n).await,
            Command::Repair {
                node,
                discard_local_changes,
            } => commands::repair(node, discard_local_changes).await,
            Command::Query {
                node,
                table,
                filters,
                limit,
            } => commands::query(node, table, filters, limit).await,
            Command::Status { db, json } => commands::status(db, json).await,
            Command::Conflicts { db, json } => commands::conflicts(db, json).await,
            Command::Trim {
                db,
                stale_after_days,
            } => commands::trim(db, stale_after_days).await,
            Command::Demo => demo::run().await,
        }
    })
}

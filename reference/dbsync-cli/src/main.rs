//! `dbsync`: serve a SQLite or PostgreSQL database, or sync a SQLite
//! database with a server.

mod args;
mod database;
mod demo;
mod existing;
mod exit;
mod inspect;
mod nodes;
mod output;
mod procedures;
mod progress;
mod query;
mod resolve;
mod serve;
mod store;
mod track;
mod trim;

use args::{DbArgs, NodeArgs};
use clap::{Parser, Subcommand};
use output::Output;
use std::process::ExitCode;

/// The environment `dbsync` reads, for `--help` (before the exit codes).
const ENVIRONMENT: &str = "Environment:
  DBSYNC_LOG  what to log on stderr: a level (error, warn, info, debug, trace)
              or a filter such as `dbsync_server=debug,info` (default: nothing)";

#[derive(Parser)]
#[command(
    name = "dbsync",
    version,
    about = "Offline-first sync of SQLite databases with one server (protocol 1.0)",
    after_help = format!("{ENVIRONMENT}\n\n{}", exit::TABLE)
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// How long a command waits for the application's write transaction
    /// on the database before it gives up (exit code 8).
    #[arg(long, global = true, value_name = "SECONDS", default_value_t = 30.0)]
    busy_timeout: f64,
    /// Print the report as JSON on stdout, and a failure as the error body
    /// of spec §17.1 on stderr.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the synced tables of a SQLite or PostgreSQL database over HTTP or HTTPS.
    Serve(Box<serve::ServeArgs>),
    /// Track tables: install the capture triggers (idempotent).
    Track(track::TrackArgs),
    /// Check, without changing anything, that tables can sync as they are; name every one that cannot, with what to change.
    Check(track::CheckArgs),
    /// Stop tracking tables (default: all); their data stays.
    Untrack(track::UntrackArgs),
    /// Register this database with a server and store the credentials in it.
    Register(procedures::RegisterArgs),
    /// Push the pending ops.
    Push(NodeArgs),
    /// Pull the server's new versions and merge them.
    Pull(procedures::MergeArgs),
    /// Push; pull and push again when the server has moved on.
    Sync(procedures::MergeArgs),
    /// Replace the synced tables with the server's snapshot. Refuses when
    /// that would discard local work nobody has pushed.
    Repair(procedures::RepairArgs),
    /// Read rows of a synced table from the server (as JSON).
    Query(query::QueryArgs),
    /// The node id, server, last version and pending ops.
    Status(DbArgs),
    /// The conflict log, most recent first: every resolution the merges applied.
    Conflicts(DbArgs),
    /// Settle a unique collision a pull stopped on: rename the local row
    /// holding the values, or drop it when the server never had it.
    Resolve(resolve::ResolveArgs),
    /// List, revoke or purge the nodes a server registered.
    Nodes(nodes::NodesArgs),
    /// Drop history nobody needs: on a server, versions every live node holds; on a node, ops already pushed.
    Trim(trim::TrimArgs),
    /// Start a server and two nodes in a temporary folder, make conflicting offline edits, sync, and show what each rule did.
    Demo(demo::DemoArgs),
}

async fn run(out: Output, command: Command) -> ExitCode {
    match command {
        Command::Serve(a) => serve::run(out, *a).await,
        Command::Track(a) => track::track(out, a),
        Command::Check(a) => track::check(out, a),
        Command::Untrack(a) => track::untrack(out, a),
        Command::Register(a) => procedures::register(out, a).await,
        Command::Push(a) => procedures::push(out, a).await,
        Command::Pull(a) => procedures::pull(out, a).await,
        Command::Sync(a) => procedures::sync(out, a).await,
        Command::Repair(a) => procedures::repair(out, a).await,
        Command::Query(a) => query::query(out, a).await,
        Command::Status(a) => inspect::status(out, a).await,
        Command::Conflicts(a) => inspect::conflicts(out, a).await,
        Command::Resolve(a) => resolve::resolve(out, a).await,
        Command::Trim(a) => trim::trim(out, a).await,
        Command::Nodes(a) => nodes::run(out, a).await,
        Command::Demo(a) => demo::run(out, a).await,
    }
}

/// Logs on stderr what `DBSYNC_LOG` asks for, in `format`.
fn init_logging(format: serve::LogFormat) {
    let logs = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("DBSYNC_LOG"))
        .with_writer(std::io::stderr);
    match format {
        serve::LogFormat::Text => logs.init(),
        serve::LogFormat::Json => logs.json().init(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(match &cli.command {
        Command::Serve(a) => a.log_format,
        _ => serve::LogFormat::Text,
    });
    let out = Output { json: cli.json };
    match std::time::Duration::try_from_secs_f64(cli.busy_timeout) {
        Ok(timeout) => database::set_busy_timeout(timeout),
        Err(_) => {
            return out.usage(format!(
                "--busy-timeout takes a number of seconds, not {}",
                cli.busy_timeout
            ))
        }
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(run(out, cli.command))
}

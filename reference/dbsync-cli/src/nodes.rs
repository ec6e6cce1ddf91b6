//! `dbsync nodes list|revoke|purge|claims`: an operator's view of the
//! nodes a server registered, the way to forget some (spec §9.7), and
//! their claims (§19.1, §19.11).

use crate::args::duration;
use crate::exit;
use crate::output::Output;
use crate::store::ServerDb;
use clap::{Args, Subcommand};
use dbsync_core::ErrorCode;
use dbsync_server::{rfc3339, ClaimChange, NodeRecord, Server};
use serde_json::{json, Value};
use std::process::ExitCode;
use std::time::Duration;

/// What `dbsync nodes` is given.
#[derive(Args)]
pub struct NodesArgs {
    #[command(subcommand)]
    command: NodesCommand,
}

#[derive(Subcommand)]
enum NodesCommand {
    /// Every registered node: id, user, registered, last seen, known version, state.
    List(ServerDbArgs),
    /// Forget nodes: their requests get `unknown_node` and they stop holding back trim.
    /// All or nothing: an id that is not registered changes nothing (exit 2).
    Revoke(RevokeArgs),
    /// Forget the nodes that never made a request this long after registering.
    Purge(PurgeArgs),
    /// Set a node's claims (partial sync): its next pull drops the rows of
    /// the claims it lost and brings those of the claims it gained.
    Claims(ClaimsArgs),
}

#[derive(Args)]
struct ClaimsArgs {
    #[command(flatten)]
    db: ServerDbArgs,
    /// The scope rules the server runs with (`dbsync serve --scopes`).
    #[arg(long, value_name = "FILE")]
    scopes: std::path::PathBuf,
    /// The node.
    #[arg(long, value_name = "NODE_ID")]
    node: u64,
    /// Its claims, all of them (none: it loses every claim).
    #[arg(long = "claim", value_name = "CLAIM")]
    claims: Vec<String>,
}

/// The server database a `nodes` command works on.
#[derive(Args)]
struct ServerDbArgs {
    /// The server's database: an existing SQLite file, or a PostgreSQL
    /// URL `postgres://USER@HOST:PORT/DB`.
    #[arg(long)]
    db: String,
}

#[derive(Args)]
struct RevokeArgs {
    #[command(flatten)]
    db: ServerDbArgs,
    /// The ids of the nodes to revoke.
    #[arg(required = true, value_name = "NODE_ID")]
    node_ids: Vec<u64>,
}

#[derive(Args)]
struct PurgeArgs {
    #[command(flatten)]
    db: ServerDbArgs,
    /// Purge the nodes registered longer ago than this (`7d`, `12h`) that
    /// never made a request.
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    never_seen_for: Duration,
}

/// What a `nodes` command did.
enum Outcome {
    Listed(Vec<NodeRecord>),
    Revoked(Vec<u64>),
    Purged(Vec<NodeRecord>),
    Claimed(u64, ClaimChange),
}

/// Runs a `dbsync nodes` command.
pub async fn run(out: Output, args: NodesArgs) -> ExitCode {
    let db = match &args.command {
        NodesCommand::List(a) => &a.db,
        NodesCommand::Revoke(a) => &a.db.db,
        NodesCommand::Purge(a) => &a.db.db,
        NodesCommand::Claims(a) => &a.db.db,
    };
    let scopes = match &args.command {
        NodesCommand::Claims(a) => Some(a.scopes.clone()),
        _ => None,
    };
    let server = match open(out, db, scopes).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    let now = dbsync_server::unix_now();
    let done = tokio::task::spawn_blocking(move || {
        let engine = server.engine();
        match args.command {
            NodesCommand::List(_) => engine.nodes().map(Outcome::Listed),
            NodesCommand::Revoke(a) => engine.revoke(&a.node_ids).map(Outcome::Revoked),
            NodesCommand::Purge(a) => engine
                .purge_unseen(now, a.never_seen_for.as_secs())
                .map(Outcome::Purged),
            NodesCommand::Claims(a) => engine
                .set_claims(a.node, &a.claims, now)
                .map(|c| Outcome::Claimed(a.node, c)),
        }
    })
    .await;
    match done {
        Err(e) => out.local_failure(e),
        Ok(Err(r)) if r.code == ErrorCode::UnknownNode => {
            out.coded_failure(r.code, r.message, exit::USAGE)
        }
        Ok(Err(r)) => out.local_failure(r.message),
        Ok(Ok(Outcome::Listed(nodes))) => report_nodes(out, "registered", &nodes, now),
        Ok(Ok(Outcome::Purged(nodes))) => report_nodes(out, "purged", &nodes, now),
        Ok(Ok(Outcome::Revoked(ids))) => report_revoked(out, &ids),
        Ok(Ok(Outcome::Claimed(node, change))) => report_claims(out, node, &change),
    }
}

fn report_claims(out: Output, node: u64, c: &ClaimChange) -> ExitCode {
    let report = json!({"node_id": node, "version": c.version, "moved_in": c.moved_in, "moved_out": c.moved_out});
    out.done(report, || {
        format!(
            "node {node}: its next pull brings {} row(s) and removes {} (version {})",
            c.moved_in,
            c.moved_out,
            c.version
                .map_or("none: no row changed hands".into(), |v| v.to_string())
        )
    })
}

/// Opens the server database `db` names, which must have been served,
/// with the scope rules in `scopes` when given.
async fn open(
    out: Output,
    db: &str,
    scopes: Option<std::path::PathBuf>,
) -> Result<Server, ExitCode> {
    let db = ServerDb::parse(db);
    if let ServerDb::Sqlite(path) = &db {
        if !path.is_file() {
            let problem = crate::args::existing_db(&path.display().to_string()).err();
            return Err(out.usage(problem.unwrap_or_default()));
        }
        if crate::database::role(path).as_deref() != Some("server") {
            return Err(out.usage(format!(
                "{} is not a server's database: `dbsync serve` it first",
                path.display()
            )));
        }
    }
    let opened = tokio::task::spawn_blocking(move || {
        let store = crate::store::open_served(&db)?;
        let mut config = dbsync_server::Config::new();
        if let Some(file) = scopes {
            config.scopes = Some(crate::serve::read_scopes(&file, &*store)?);
        }
        Server::open(store, config).map_err(|e| e.to_string())
    });
    opened
        .await
        .unwrap_or_else(|e| Err(e.to_string()))
        .map_err(|e| out.local_failure(e))
}

/// What a person reads of a node's state.
fn state(n: &NodeRecord) -> &'static str {
    match (n.stale, n.seen) {
        (true, _) => "stale",
        (false, false) => "never seen",
        (false, true) => "live",
    }
}

fn node_json(n: &NodeRecord) -> Value {
    json!({
        "node_id": n.node_id,
        "user_id": n.user_id,
        "registered_at": rfc3339(n.registered_at),
        "last_seen": rfc3339(n.last_seen),
        "known_version": n.known_version,
        "stale": n.stale,
        "seen": n.seen,
        "claims": n.claims.iter().map(|c| &c.name).collect::<Vec<_>>(),
    })
}

/// Prints nodes (`what`: registered or purged): one line each, or a
/// JSON list under the key `what`.
fn report_nodes(out: Output, what: &str, nodes: &[NodeRecord], now: u64) -> ExitCode {
    let list: Vec<Value> = nodes.iter().map(node_json).collect();
    out.done(json!({ what: list }), || {
        let mut text = format!("{} node(s) {what}", nodes.len());
        for n in nodes {
            text.push_str(&format!(
                "\n{:>6}  user {:<16}  registered {}  last seen {} ({} s ago)  version {:>6}  {}",
                n.node_id,
                n.user_id.as_deref().unwrap_or("-"),
                rfc3339(n.registered_at),
                rfc3339(n.last_seen),
                now.saturating_sub(n.last_seen),
                n.known_version,
                state(n),
            ));
        }
        text
    })
}

fn report_revoked(out: Output, ids: &[u64]) -> ExitCode {
    out.done(json!({ "revoked": ids }), || {
        let list: Vec<String> = ids.iter().map(u64::to_string).collect();
        format!("revoked {} node(s): {}", ids.len(), list.join(", "))
    })
}

//! The commands that talk to the server: register, push, pull, sync and
//! repair.

use crate::args::{existing_db, NodeArgs, TimeoutArgs};
use crate::database;
use crate::existing;
use crate::output::Output;
use crate::resolve::{fail_merge, PolicyArg};
use clap::Args;
use dbsync_client::{CaCert, ClientError, Node, PushOutcome, RepairOptions};
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;

/// Opens the tracked node database of `args`, with its server override,
/// timeouts and (on a terminal, without `--json`) a progress bar.
pub fn open(out: Output, args: &NodeArgs) -> Result<Node, ClientError> {
    let mut node = database::open_tracked(&args.db)?.with_timeouts(args.timeouts.timeouts());
    if let Some(url) = &args.server {
        node = node.with_server(url);
    }
    if let Some(bar) = crate::progress::bar().filter(|_| !out.json) {
        node = node.with_progress(bar);
    }
    Ok(node)
}

/// What `dbsync register` is given.
#[derive(Args)]
pub struct RegisterArgs {
    /// The application's SQLite database (it must exist).
    #[arg(long, value_parser = existing_db)]
    pub db: PathBuf,
    /// The server's base URL (http:// or https://).
    #[arg(long)]
    pub server: String,
    /// The server's registration token.
    #[arg(long)]
    pub token: Option<String>,
    /// The application user this node is for (spec §19.1): on a server
    /// with scopes it receives that user's rows. Needs --token, unless
    /// the server's register hook decides.
    #[arg(long, value_name = "ID")]
    pub user: Option<String>,
    /// Trust this CA (a PEM file) for an https:// server, besides the
    /// system's root certificates; stored with the credentials.
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
    /// The resolution policy later pulls and syncs merge under, stored
    /// in the database [default: node_wins, or the one stored before].
    #[arg(long, value_enum)]
    pub policy: Option<PolicyArg>,
    #[command(flatten)]
    pub timeouts: TimeoutArgs,
}

/// What `dbsync pull` and `dbsync sync` are given.
#[derive(Args)]
pub struct MergeArgs {
    #[command(flatten)]
    pub node: NodeArgs,
    /// The resolution policy of this merge, instead of the one stored
    /// with `register --policy` (node_wins when none was).
    #[arg(long, value_enum)]
    pub policy: Option<PolicyArg>,
}

/// [`open`], under the policy `args` names, if any.
fn open_merging(out: Output, args: &MergeArgs) -> Result<Node, ClientError> {
    let node = open(out, &args.node)?;
    Ok(match args.policy {
        Some(p) => node.with_policy(p.spec().policy()),
        None => node,
    })
}

/// Registers the database with a server and stores the credentials in it.
pub async fn register(out: Output, r: RegisterArgs) -> ExitCode {
    let registered = async {
        let ca = r
            .ca_cert
            .as_deref()
            .map(CaCert::from_pem_file)
            .transpose()?;
        let mut node = database::open_tracked(&r.db)?.with_timeouts(r.timeouts.timeouts());
        if let Some(ca) = ca {
            node = node.with_ca_cert(ca);
        }
        let resp = node
            .register_as(&r.server, r.token.as_deref(), r.user.as_deref())
            .await?;
        if let Some(p) = r.policy {
            node.store_policy(p.spec()).await?;
        }
        Ok::<_, ClientError>(resp)
    };
    match registered.await {
        Ok(resp) => out.done(
            json!({"node_id": resp.node_id, "server": r.server, "latest_version": resp.latest_version}),
            || {
                let mut text = format!("registered as node {} with {}", resp.node_id, r.server);
                if resp.latest_version > 0 {
                    text.push_str(&format!(
                        "\nthe server is at version {}: run `dbsync repair --db {}` to start from its data",
                        resp.latest_version,
                        r.db.display()
                    ));
                }
                text
            },
        ),
        Err(e) => out.fail(&e),
    }
}

/// Pushes the pending ops.
pub async fn push(out: Output, args: NodeArgs) -> ExitCode {
    let pushed = match open(out, &args) {
        Ok(node) => node.push().await,
        Err(e) => Err(e),
    };
    match pushed {
        Ok(PushOutcome::NothingToPush) => out.done(json!({"pushed": false, "ops": 0}), || {
            "nothing to push".into()
        }),
        Ok(PushOutcome::Pushed {
            version,
            ops,
            duplicate,
        }) => out.done(
            json!({"pushed": true, "ops": ops, "version": version, "duplicate": duplicate}),
            || {
                let again = if duplicate {
                    " (already applied: a retry)"
                } else {
                    ""
                };
                format!("pushed {ops} ops as version {version}{again}")
            },
        ),
        Err(e) => out.fail(&e),
    }
}

/// Pulls the server's new versions and merges them.
pub async fn pull(out: Output, args: MergeArgs) -> ExitCode {
    let pulled = match open_merging(out, &args) {
        Ok(node) => node.pull().await,
        Err(e) => Err(e),
    };
    match pulled {
        Ok(r) => out.done(
            json!({"ops_merged": r.ops_merged, "version": r.version, "conflicts": r.conflicts.len()}),
            || {
                format!(
                    "merged {} ops; now at version {}; {} conflict(s) resolved",
                    r.ops_merged,
                    r.version,
                    r.conflicts.len()
                )
            },
        ),
        Err(e) => fail_merge(out, &e, &args.node.db),
    }
}

/// Pushes; pulls and pushes again when the server has moved on.
pub async fn sync(out: Output, args: MergeArgs) -> ExitCode {
    let synced = match open_merging(out, &args) {
        Ok(node) => node.sync().await,
        Err(e) => Err(e),
    };
    match synced {
        Ok(r) => out.done(
            json!({
                "pushed_ops": r.pushed_ops,
                "pulls": r.pulls,
                "merged_ops": r.merged_ops,
                "conflicts": r.conflicts,
                "version": r.version,
            }),
            || format!(
                "synced: pushed {} ops, pulled {} time(s) ({} ops merged, {} conflict(s)); now at version {}",
                r.pushed_ops, r.pulls, r.merged_ops, r.conflicts, r.version
            ),
        ),
        Err(e) => fail_merge(out, &e, &args.node.db),
    }
}

/// Replaces the synced tables with the server's snapshot.
/// What `dbsync repair` is given.
#[derive(Args)]
pub struct RepairArgs {
    #[command(flatten)]
    pub node: NodeArgs,
    /// Discard the local work the repair replaces (pending ops, rows
    /// never synced) instead of refusing; what was discarded is
    /// reported and kept in the conflict log.
    #[arg(long)]
    pub discard_local_changes: bool,
}

pub async fn repair(out: Output, args: RepairArgs) -> ExitCode {
    let options = RepairOptions {
        discard_local_changes: args.discard_local_changes,
    };
    let repaired = match open(out, &args.node) {
        Ok(node) => node.repair_with(options).await,
        Err(e) => Err(e),
    };
    match repaired {
        Ok(r) => {
            let discarded = existing::describe_discarded(&r.discarded);
            out.done(
                json!({"version": r.version, "discarded": discarded}),
                || {
                    let mut text = format!(
                        "repaired: the synced tables now equal the server's at version {}",
                        r.version
                    );
                    if let Some(d) = &discarded {
                        text.push_str(&format!(
                            "\ndiscarded local work: {d} (see `dbsync conflicts`)"
                        ));
                    }
                    text
                },
            )
        }
        Err(e) => out.fail(&e),
    }
}

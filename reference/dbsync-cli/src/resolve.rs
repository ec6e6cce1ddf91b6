//! Choosing how conflicts end: `--policy` on pull and sync (stored with
//! `register`), and `dbsync resolve`, which settles a unique collision by
//! changing the local row that holds the values (spec §12.2.4).

use crate::args::DbArgs;
use crate::database;
use crate::output::Output;
use clap::{Args, ValueEnum};
use dbsync_client::{ClientError, Resolution, Resolved, RowId, SpecPolicy, UniqueCollision, Value};
use serde_json::json;
use std::path::Path;
use std::process::ExitCode;

/// The resolution policies of spec §12.4.
#[derive(Clone, Copy, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum PolicyArg {
    /// The node's work wins; nothing is lost (§12.4.1).
    NodeWins,
    /// The server's state wins where the two disagree (§12.4.2).
    ServerWins,
}

impl PolicyArg {
    /// The client's policy.
    pub fn spec(self) -> SpecPolicy {
        match self {
            PolicyArg::NodeWins => SpecPolicy::NodeWins,
            PolicyArg::ServerWins => SpecPolicy::ServerWins,
        }
    }
}

/// What `dbsync resolve` is given.
#[derive(Args)]
pub struct ResolveArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// The table of the collision.
    #[arg(long)]
    pub table: String,
    /// The local row that holds the values: the collision's
    /// `holder_row_id`.
    #[arg(long, value_name = "ID", value_parser = row_id)]
    pub row_id: RowId,
    #[command(flatten)]
    pub how: HowArgs,
}

/// The two ways a node settles a collision.
#[derive(Args)]
#[group(required = true, multiple = false)]
pub struct HowArgs {
    /// Delete the local row, which the server never had, and take the
    /// server's at the next pull.
    #[arg(long)]
    pub keep_remote: bool,
    /// Give the local row other values (repeat for each column of the
    /// constraint); the next push sends them.
    #[arg(long, value_name = "COLUMN=VALUE", value_parser = assignment)]
    pub rename: Vec<(String, String)>,
}

/// A row id: an integer, or text.
fn row_id(text: &str) -> Result<RowId, String> {
    match text.parse::<i64>() {
        Ok(n) => Ok(RowId::Int(n)),
        Err(_) => RowId::text(text).ok_or_else(|| format!("{text:?} is not a row id")),
    }
}

fn assignment(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((column, value)) if !column.is_empty() => Ok((column.into(), value.into())),
        _ => Err(format!("{text:?} is not COLUMN=VALUE")),
    }
}

/// Settles the collision and says what changed.
pub async fn resolve(out: Output, r: ResolveArgs) -> ExitCode {
    let how = if r.how.keep_remote {
        Resolution::KeepRemote
    } else {
        Resolution::Rename(
            r.how
                .rename
                .iter()
                .map(|(c, v)| (c.clone(), Value::Text(v.clone())))
                .collect(),
        )
    };
    let resolved = match database::open_tracked(&r.db.db) {
        Ok(node) => node.resolve(&r.table, r.row_id, how).await,
        Err(e) => Err(e),
    };
    let (table, id) = (&r.table, r.row_id);
    match resolved {
        Ok(Resolved::Renamed { before, after }) => out.done(
            json!({"resolved": "renamed", "table": table, "row_id": id, "before": before.values, "after": after.values}),
            || {
                let changed = after.values.iter().filter(|(c, v)| before.values.get(*c) != Some(v));
                let changed: Vec<String> = changed
                    .map(|(c, v)| format!("{c} {} -> {}", json!(before.values.get(c)), json!(v)))
                    .collect();
                format!(
                    "renamed {table} row {id}: {}; sync to send it",
                    changed.join(", ")
                )
            },
        ),
        Ok(Resolved::Dropped(row)) => out.done(
            json!({"resolved": "dropped", "table": table, "row_id": id, "values": row.values}),
            || {
                format!(
                    "deleted {table} row {id} {}, which the server never had; sync to take the server's row",
                    json!(row.values)
                )
            },
        ),
        Err(e) => out.fail(&e),
    }
}

/// Prints `e`; after unique collisions, also the commands that settle
/// each of them.
pub fn fail_merge(out: Output, e: &ClientError, db: &Path) -> ExitCode {
    let code = out.fail(e);
    if let (false, ClientError::UniqueCollisions(c)) = (out.json, e) {
        for c in c {
            eprintln!("{}", suggestion(c, db));
        }
    }
    code
}

fn suggestion(c: &UniqueCollision, db: &Path) -> String {
    let base = format!(
        "dbsync resolve --db {} --table {} --row-id {}",
        db.display(),
        c.table,
        c.holder_row_id
    );
    let column = c.columns.first().map_or("COLUMN", String::as_str);
    format!(
        "  settle it: {base} --rename {column}=NEW_VALUE\n         or: {base} --keep-remote   (when the local row was never pushed)"
    )
}
